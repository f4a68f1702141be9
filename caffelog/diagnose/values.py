"""Small readers of the numbers and settings the rules quote: one meaning each, used everywhere."""
from __future__ import annotations

import numpy as np
import pandas as pd


def last_value(value, default=None):
    """A prototxt field repeated in a damaged dump (a list) takes its last value."""
    if isinstance(value, list):
        return value[-1] if value else default
    return default if value is None else value


def as_list(value) -> list:
    """A repeatable prototxt field (stepvalue, param) as a list, whether printed once or more."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def as_float(value, default: float = 0.0) -> float:
    """A prototxt number that may be damaged, repeated (a list) or missing."""
    try:
        return float(last_value(value, default))
    except (TypeError, ValueError, OverflowError):
        return default


def as_int(v) -> int | None:
    """An iteration from a nullable column: None where it is missing."""
    return None if v is None or pd.isna(v) else int(v)


def fmt_value(v) -> str:
    """A number as Caffe prints it (%g), nan/inf spelled out."""
    return f"{v:g}" if np.isfinite(v) else ("nan" if np.isnan(v) else ("inf" if v > 0 else "-inf"))


def layer_param_block(params: dict) -> dict:
    """The layer's `*_param { ... }` block (inner_product_param, convolution_param, ...)."""
    for key, value in params.items():
        if key.endswith("_param") and isinstance(value, dict):
            return value
    return {}


def filler(params: dict, which: str) -> dict:
    """The layer's weight_filler or bias_filler block ({} when it has none)."""
    block = layer_param_block(params).get(which)
    return block if isinstance(block, dict) else {}
