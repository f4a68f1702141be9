"""The shape of a rule, and the views of the tables that several rules share."""
from __future__ import annotations

import json
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd

from ..findings import Finding
from ..log import CaffeLog


class Rule:
    """A rule reads the tables (never the log text) and returns findings.

    Subclasses set ``id`` (kebab-case), ``severity`` and ``thresholds`` (name -> default); the
    class docstring says what the rule detects, why it matters and how to fix it.
    """

    id: ClassVar[str]
    severity: ClassVar[str]
    thresholds: ClassVar[dict[str, float]] = {}

    def __init__(self, overrides: dict[str, float] | None = None):
        unknown = set(overrides or {}) - set(self.thresholds)
        if unknown:
            raise KeyError(f"rule {self.id} has no threshold {', '.join(sorted(unknown))} "
                           f"(it has: {', '.join(self.thresholds) or 'none'})")
        self.t = {**self.thresholds, **(overrides or {})}

    def check(self, ctx: "Context") -> list[Finding]:
        raise NotImplementedError

    def finding(self, message: str, **kw) -> Finding:
        kw.setdefault("severity", self.severity)
        return Finding(rule=self.id, message=message, **kw)

    def episode(self, message: str, rows: pd.DataFrame, first: pd.Series | None = None,
                **kw) -> Finding:
        """A finding over table rows (in log order): it starts at `first` (default: the first
        row) and ends at the last row's iteration; where-fields come from the first row."""
        first = rows.iloc[0] if first is None else first
        kw.setdefault("segment", int(first["segment"]))
        kw.setdefault("iteration", as_int(first["iteration"]))
        kw.setdefault("last_iteration", as_int(rows["iteration"].iloc[-1]))
        kw.setdefault("line", int(first["line"]))
        kw.setdefault("phase", "train")
        for column in ("direction", "layer", "blob", "quantity"):
            if column in first.index:
                kw.setdefault(column, first[column])
        return self.finding(message, **kw)


def layer_span(layers: list[str]) -> str:
    """'ip1-ip3' for a run of numbered names, else a comma list."""
    if len(layers) >= 3:
        stems = {name.rstrip("0123456789") for name in layers}
        nums = [name[len(next(iter(stems))):] for name in layers]
        if len(stems) == 1 and all(n.isdigit() for n in nums):
            ints = [int(n) for n in nums]
            if ints == list(range(ints[0], ints[0] + len(ints))):
                return f"{layers[0]}-{layers[-1]}"
    return ", ".join(layers)


class Context:
    """Views of one CaffeLog that rules share, computed once."""

    def __init__(self, log: CaffeLog):
        self.log = log
        self.solver = log.solver or {}

    @cached_property
    def train(self) -> pd.DataFrame:
        """Train-phase forward/backward values (no [Update] rows). A copy of most of the blobs
        table: rules use train_where() to copy only the rows they look at."""
        return self.log.blobs[self._train_mask]

    @cached_property
    def _train_mask(self) -> np.ndarray:
        b = self.log.blobs
        return ((b["phase"] == "train") & (b["direction"] != "update")).to_numpy()

    def train_where(self, mask: np.ndarray | None = None, layers: list[str] | None = None,
                    **equal: str) -> pd.DataFrame:
        """The train forward/backward rows where each named column equals its value, the layer
        is one of `layers` and `mask` (over the blobs table) holds."""
        b = self.log.blobs
        keep = self._train_mask.copy()
        for column, value in equal.items():
            keep &= (b[column] == value).to_numpy()
        if layers is not None:
            keep &= b["layer"].isin(layers).to_numpy()
        if mask is not None:
            keep &= mask
        return b[keep]

    @cached_property
    def net(self) -> pd.DataFrame:
        n = self.log.net
        return n[n["net"] == "train"].drop_duplicates("layer", keep="last")

    @cached_property
    def layer_types(self) -> dict[str, str]:
        return dict(zip(self.net["layer"], self.net["type"].fillna("")))

    def layer_params(self, layer: str) -> dict:
        row = self.net[self.net["layer"] == layer]
        return json.loads(row["params"].iloc[0]) if len(row) and row["params"].iloc[0] else {}

    @cached_property
    def layer_order(self) -> list[str]:
        order = list(self.net["layer"]) or []
        seen = set(order)
        b = self.log.blobs
        order += [str(l) for l in b["layer"][self._train_mask].unique() if str(l) not in seen]
        return order

    @cached_property
    def weight_diffs(self) -> pd.DataFrame:
        """Backward diff of each learnable layer's first param blob (the weights), per pass."""
        return self.train_where(direction="backward", role="param", blob="0")

    @cached_property
    def weight_data(self) -> pd.DataFrame:
        """Forward data of each layer's first param blob (named params print their name)."""
        p = self.train_where(direction="forward", role="param")
        return p.groupby(["segment", "iteration", "batch", "layer"], observed=True, sort=False).head(1)

    @cached_property
    def learnable(self) -> list[str]:
        """Learnable layers in net order: those with param diffs in the backward pass."""
        have = {str(layer) for layer in self.weight_diffs["layer"].unique()}
        return [l for l in self.layer_order if l in have]

    @cached_property
    def loss(self) -> pd.DataFrame:
        """The solver's train loss (the `Iteration N ..., loss =` lines)."""
        s = self.log.scalars
        return s[(s["source"] == "iteration") & (s["name"] == "loss")]

    @cached_property
    def lr(self) -> pd.Series:
        s = self.log.scalars
        lr = s[s["name"] == "lr"]
        return lr.drop_duplicates(["segment", "iteration"], keep="last").set_index(
            ["segment", "iteration"])["value"]

    @property
    def solver_type(self) -> str:
        return str(self.knob("type") or self.knob("solver_type") or "SGD")

    def knob(self, name: str, default=None):
        """A solver setting as printed; a field repeated in a damaged dump gives its last value."""
        value = self.solver.get(name, default)
        if isinstance(value, list):
            value = value[-1] if value else default
        return value


def as_float(value, default: float = 0.0) -> float:
    """A prototxt number that may be damaged, repeated (a list) or missing."""
    if isinstance(value, list):
        value = value[-1] if value else default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def layer_param_block(params: dict) -> dict:
    """The layer's `*_param { ... }` block (inner_product_param, convolution_param, ...)."""
    for key, value in params.items():
        if key.endswith("_param") and isinstance(value, dict):
            return value
    return {}


def finite(values: pd.Series) -> pd.Series:
    return values[np.isfinite(values.to_numpy())]


def fmt_value(v) -> str:
    """A number as Caffe prints it (%g), nan/inf spelled out."""
    return f"{v:g}" if np.isfinite(v) else ("nan" if np.isnan(v) else ("inf" if v > 0 else "-inf"))


def as_int(v) -> int | None:
    """An iteration from a nullable column: None where it is missing."""
    return None if v is None or pd.isna(v) else int(v)
