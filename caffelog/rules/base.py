"""The shape of a rule, and the views of the tables that several rules share."""
from __future__ import annotations

import json
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd

from ..findings import Finding
from .accumulate import Span, layer_codes


class Rule:
    """A rule reads the tables (never the log text) and returns findings.

    The tables come as windows of whole iterations: `observe` folds each window into the
    rule's accumulators (a few numbers per layer), `check` turns them into findings once the
    log is read, with the net and solver settings at hand. So a rule never holds the rows and
    a 10 GB log is diagnosed in bounded memory.

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

    def observe(self, w: "Window") -> None:
        """Fold one window of the tables into this rule's state (default: nothing to keep)."""

    def check(self, ctx: "Context") -> list[Finding]:
        raise NotImplementedError

    def finding(self, message: str, **kw) -> Finding:
        kw.setdefault("severity", self.severity)
        return Finding(rule=self.id, message=message, **kw)

    def episode(self, message: str, span: Span, first: pd.Series | None = None,
                **kw) -> Finding:
        """A finding over the rows of `span` (in log order): it starts at `first` (default: the
        span's first row) and ends at its last row's iteration; where-fields come from the
        first row."""
        first = span.first if first is None else first
        kw.setdefault("segment", int(first["segment"]))
        kw.setdefault("iteration", as_int(first["iteration"]))
        kw.setdefault("last_iteration", as_int(span.last_iteration))
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


class Window:
    """A stretch of the blobs, scalars and totals tables holding whole iterations, with the
    views of it that several rules share, each computed once."""

    def __init__(self, blobs: pd.DataFrame, scalars: pd.DataFrame, totals: pd.DataFrame):
        self.blobs, self.scalars, self.totals = blobs, scalars, totals

    @cached_property
    def _train_mask(self) -> np.ndarray:
        b = self.blobs
        return ((b["phase"] == "train") & (b["direction"] != "update")).to_numpy()

    def train_where(self, mask: np.ndarray | None = None, **equal: str) -> pd.DataFrame:
        """The train forward/backward rows where each named column equals its value and `mask`
        (over the window's blobs) holds: a copy of only the rows a rule looks at."""
        b = self.blobs
        keep = self._train_mask.copy()
        for column, value in equal.items():
            keep &= (b[column] == value).to_numpy()
        if mask is not None:
            keep &= mask
        return b[keep]

    @cached_property
    def values(self) -> np.ndarray:
        return self.blobs["value"].to_numpy()

    @cached_property
    def forward_tops(self) -> pd.DataFrame:
        return self.train_where(direction="forward", role="top")

    @cached_property
    def backward_params(self) -> pd.DataFrame:
        return self.train_where(direction="backward", role="param")

    @cached_property
    def weight_diffs(self) -> pd.DataFrame:
        """Backward diff of each learnable layer's first param blob (the weights), per pass."""
        p = self.backward_params
        return p[(p["blob"] == "0").to_numpy()]

    @cached_property
    def weight_data(self) -> pd.DataFrame:
        """Forward data of each layer's first param blob (named params print their name)."""
        p = self.train_where(direction="forward", role="param")
        return p.groupby(["segment", "iteration", "batch", "layer"], observed=True, sort=False).head(1)

    @cached_property
    def loss(self) -> pd.DataFrame:
        """The solver's train loss (the `Iteration N ..., loss =` lines)."""
        s = self.scalars
        return s[((s["source"] == "iteration") & (s["name"] == "loss")).to_numpy()]

    @cached_property
    def lr(self) -> pd.Series:
        s = self.scalars
        lr = s[(s["name"] == "lr").to_numpy()]
        return lr.drop_duplicates(["segment", "iteration"], keep="last").set_index(
            ["segment", "iteration"])["value"]


class Facts:
    """What the checks need to know about the whole log's blobs: the train layers in order of
    first appearance, the learnable ones, and the train loss series (32 bytes an iteration)."""

    def __init__(self) -> None:
        self.train_layers: dict[str, None] = {}
        self.weight_layers: set[str] = set()
        self._loss: list[pd.DataFrame] = []

    def observe(self, w: Window) -> None:
        self.train_layers.update(dict.fromkeys(_layers_in_order(w.blobs["layer"], w._train_mask)))
        self.weight_layers.update(_layers_in_order(w.weight_diffs["layer"]))
        if len(w.loss):
            self._loss.append(w.loss[["segment", "iteration", "line", "value"]])

    @property
    def loss(self) -> pd.DataFrame:
        if len(self._loss) > 1:  # one frame from here on, until the next window
            self._loss = [pd.concat(self._loss, ignore_index=True)]
        if not self._loss:
            return pd.DataFrame({"segment": pd.Series(dtype="int32"), "iteration": pd.Series(dtype="Int64"),
                                 "line": pd.Series(dtype="int64"), "value": pd.Series(dtype="float64")})
        return self._loss[0]


def _layers_in_order(layer: pd.Series, mask: np.ndarray | None = None) -> list[str]:
    """The distinct layer names of a layer column (where mask holds), in order of first appearance."""
    codes, names = layer_codes(layer)
    codes = pd.unique(codes if mask is None else codes[mask])
    return [str(names[c]) for c in codes if c >= 0]


class Context:
    """What every check may read once the log is read: the net, the solver settings and the
    Facts gathered from the windows."""

    def __init__(self, net: pd.DataFrame, solver: dict | None, facts: Facts):
        self.net_table = net
        self.solver = solver or {}
        self.facts = facts

    @cached_property
    def net(self) -> pd.DataFrame:
        n = self.net_table
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
        return order + [l for l in self.facts.train_layers if l not in seen]

    @cached_property
    def learnable(self) -> list[str]:
        """Learnable layers in net order: those with param diffs in the backward pass."""
        return [l for l in self.layer_order if l in self.facts.weight_layers]

    @property
    def loss(self) -> pd.DataFrame:
        return self.facts.loss

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
