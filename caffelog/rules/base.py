"""The shape of a rule, and the views of the tables that several rules share."""
from __future__ import annotations

import json
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd

from ..findings import Finding
from .accumulate import Span, layer_codes
from .net_roles import NetRoles
from .schedule import LrSchedule
from .values import as_float, as_int, fmt_value, last_value, layer_param_block

__all__ = ["Context", "Facts", "Rule", "Window", "as_float", "as_int", "finite", "fmt_value",
           "layer_param_block", "layer_span"]


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
    def forward_params(self) -> pd.DataFrame:
        return self.train_where(direction="forward", role="param")

    @cached_property
    def weight_data(self) -> pd.DataFrame:
        """Forward data of each layer's first param blob (named params print their name)."""
        p = self.forward_params
        return p.groupby(["segment", "iteration", "batch", "layer"], observed=True, sort=False).head(1)

    @cached_property
    def loss(self) -> pd.DataFrame:
        """The solver's train loss (the `Iteration N ..., loss =` lines)."""
        s = self.scalars
        return s[((s["source"] == "iteration") & (s["name"] == "loss")).to_numpy()]

    @cached_property
    def lr(self) -> pd.Series:
        return self._per_iteration("lr")

    @cached_property
    def clip_scale(self) -> pd.Series:
        """The factor clip_gradients scaled the gradient by, where it did."""
        return self._per_iteration("clip_scale")

    def _per_iteration(self, name: str) -> pd.Series:
        s = self.scalars
        rows = s[(s["name"] == name).to_numpy()]
        return rows.drop_duplicates(["segment", "iteration"], keep="last").set_index(
            ["segment", "iteration"])["value"]


class Facts:
    """What the checks need to know about the whole log: the train layers in order of first
    appearance, which print weights and gradients, and the short series of the solver lines
    (train loss, lr, lr steps, test outputs: a few dozen bytes per displayed iteration)."""

    SERIES = ("loss", "lr", "steps", "tests")

    def __init__(self) -> None:
        self.train_layers: dict[str, None] = {}
        self.weight_layers: set[str] = set()
        self.param_layers: set[str] = set()  # forward param data printed
        self.backward_layers: set[str] = set()  # backward param diffs printed
        self._series: dict[str, list[pd.DataFrame]] = {name: [] for name in self.SERIES}

    def observe(self, w: Window) -> None:
        self.train_layers.update(dict.fromkeys(_layers_in_order(w.blobs["layer"], w._train_mask)))
        self.weight_layers.update(_layers_in_order(w.weight_diffs["layer"]))
        self.backward_layers.update(_layers_in_order(w.backward_params["layer"]))
        self.param_layers.update(_layers_in_order(w.forward_params["layer"]))
        s = w.scalars
        for name, rows in (("loss", w.loss), ("lr", s[(s["name"] == "lr").to_numpy()]),
                           ("steps", s[(s["name"] == "lr_step").to_numpy()]),
                           ("tests", s[((s["phase"] == "test") & (s["source"] == "output")).to_numpy()])):
            if len(rows):
                self._series[name].append(rows[["segment", "iteration", "line", "value", "name", "test_net",
                                                "weighted"]])

    def series(self, name: str) -> pd.DataFrame:
        """One of SERIES as one frame (glued once, until the next window)."""
        parts = self._series[name]
        if len(parts) > 1:
            self._series[name] = parts = [pd.concat(parts, ignore_index=True)]
        if not parts:
            return pd.DataFrame({"segment": pd.Series(dtype="int32"), "iteration": pd.Series(dtype="Int64"),
                                 "line": pd.Series(dtype="int64"), "value": pd.Series(dtype="float64"),
                                 "name": pd.Series(dtype="object"), "test_net": pd.Series(dtype="Int64"),
                                 "weighted": pd.Series(dtype="float64")})
        return parts[0]

    @property
    def loss(self) -> pd.DataFrame:
        return self.series("loss")


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
        return last_value(self.solver.get(name), default)

    @cached_property
    def schedule(self) -> LrSchedule:
        return LrSchedule(self.facts.series("lr"), self.facts.series("steps"), self.solver)

    @cached_property
    def roles(self) -> NetRoles:
        return NetRoles(self.net, self.facts.param_layers, self.facts.backward_layers)

    @property
    def tests(self) -> pd.DataFrame:
        """Test net outputs (accuracy, loss, ...) of every test."""
        return self.facts.series("tests")

    def lr_words(self, segment: int = 0, iteration=None) -> str:
        """The lr in force, as advice quotes it: 'base_lr is 20 with lr_policy fixed', or the
        step that raised it."""
        rise = self.schedule.rise_before(segment, iteration)
        if rise is not None:
            return self.schedule.describe(rise)
        lr = self.knob("base_lr")
        return f"base_lr is {lr} with lr_policy {self.knob('lr_policy', 'fixed')}" if lr is not None else "the lr"

    def clip_words(self) -> str:
        """What to do with clip_gradients, as advice says it."""
        clip = self.knob("clip_gradients")
        return f"clip_gradients is {clip}: lower it" if clip else "set clip_gradients (e.g. 10)"

    def divergence_cause(self, segment: int = 0, iteration=None) -> str:
        """'lr-increase' when an lr step raised the lr before `iteration`, else 'divergence'."""
        return "lr-increase" if self.schedule.rise_before(segment, iteration) is not None else "divergence"

    def lr_settings(self, segment: int = 0, iteration=None) -> list[str]:
        """The solver fields behind the lr in force: base_lr, or the schedule that raised it."""
        if self.schedule.rise_before(segment, iteration) is not None:
            return self.schedule.settings()
        return ["base_lr"]


def finite(values: pd.Series) -> pd.Series:
    return values[np.isfinite(values.to_numpy())]
