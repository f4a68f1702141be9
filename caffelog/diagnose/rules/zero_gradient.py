"""zero-gradient: learnable layers whose every param diff is exactly 0."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from caffelog.diagnose.accumulate import LayerSpans
from caffelog.diagnose.context import Context, Window
from caffelog.diagnose.findings import where
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import as_int
from caffelog.tables.build import changes


class ZeroGradient(Rule):
    """A learnable layer whose param diffs are exactly 0 in every displayed iteration, or in
    every one from some iteration to the end (at least `min_run` in a row): its weights do not
    change, it does not learn.

    Never for statistics-only blobs (BatchNorm's running mean and variance: 0 by design) nor
    for frozen layers (lr_mult 0: Caffe prints no gradient for them at all).
    Why: usually what is above it is dead (ReLUs stuck at 0) or propagate_down / lr_mult cut
    it off. It is an error when no learnable layer learns.
    Fix: the activations above the layer (see dead-activation), the fillers (bias_filler,
    weight_filler), and lr_mult / propagate_down in the net prototxt.
    """

    id = "zero-gradient"
    severity = "warning"
    thresholds = {"min_run": 10}

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.rows = LayerSpans()
        self.iterations: dict[str, _ZeroRun] = {}

    def observe(self, w: Window) -> None:
        p = w.backward_params
        if p.empty:
            return
        self.rows.add(p)
        # windows hold whole iterations, so each (layer, iteration) is decided in one window
        for layer, per in _per_layer_iteration(p):
            self.iterations.setdefault(layer, _ZeroRun()).add(per)

    def check(self, ctx: Context):
        if not self.rows:
            return []
        learnable = [name for name in ctx.learnable
                     if not ctx.roles.statistics_only(name) and name not in ctx.roles.frozen]
        dead = []
        for layer in learnable:
            run = self.iterations.get(layer)
            if run is not None and run.n and (run.all_zero or run.trailing >= self.threshold["min_run"]):
                dead.append((layer, run))
        if not dead:
            return []
        severity = "error" if len(dead) == len(learnable) else "warning"
        return [self._finding(ctx, layer, run, severity, len(learnable)) for layer, run in dead]

    def _finding(self, ctx: Context, layer: str, run: _ZeroRun, severity: str, n_learnable: int):
        span = (f"every displayed iteration ({run.n})" if run.all_zero else
                f"every displayed iteration from {run.start[1]} on ({run.trailing} of {run.n})")
        segment, iteration, at, blob = run.start
        advice, settings = _advice(ctx, layer)
        return self.finding(
            f"{layer}: every param diff is exactly 0 in {span}: the layer does not learn",
            severity=severity, advice=advice, settings=settings, segment=int(segment),
            iteration=as_int(iteration), last_iteration=as_int(self.rows[layer].last_iteration), **where(at),
            phase="train", direction="backward", layer=layer, blob=blob, quantity="diff", value=0.0,
            evidence=[f"{n_learnable} learnable layers (BatchNorm statistics and frozen layers not counted)"])


@dataclass
class _Iterations:
    """One layer's (segment, iteration) groups of param diff rows, in log order: whether any
    diff was nonzero, the first row's line and time (the earliest known), the first blob."""

    segment: np.ndarray
    iteration: np.ndarray
    nonzero: np.ndarray
    line: np.ndarray
    time: np.ndarray
    blob: list[str]


def _per_layer_iteration(p: pd.DataFrame) -> Iterator[tuple[str, _Iterations]]:
    """Group p's rows by (layer, segment, iteration), rows without an iteration left out; the
    layers and each layer's groups in the order they first appear. Two pandas group-bys did
    this; numpy takes 4% off a whole diagnose's instructions (benchmarks/ab_instructions.py)."""
    known = ~p["iteration"].isna().to_numpy()
    layer = p["layer"].cat.codes.to_numpy()[known]
    segment = p["segment"].to_numpy()[known]
    iteration = p["iteration"].to_numpy(np.int64, na_value=0)[known]
    if not len(layer):
        return
    order = np.lexsort((iteration, segment, layer))  # stable: a group's first row comes first
    starts = np.flatnonzero(changes(layer[order], segment[order], iteration[order]))
    first = order[starts]  # each group's first row
    nonzero = np.logical_or.reduceat((p["value"].to_numpy()[known] != 0)[order], starts)
    line = np.minimum.reduceat(p["line"].to_numpy()[known][order], starts)
    time = np.fmin.reduceat(p["time"].to_numpy(np.float64)[known][order], starts)  # NaN: no time
    blobs = p["blob"].cat.categories.to_numpy()[p["blob"].cat.codes.to_numpy()[known][first]]
    appearance = np.argsort(first, kind="stable")  # the groups in the order they first appear
    group_layer, group_segment, group_iteration = layer[first], segment[first], iteration[first]
    _, layer_first = np.unique(group_layer[appearance], return_index=True)
    names = p["layer"].cat.categories
    for code in group_layer[appearance][np.sort(layer_first)].tolist():
        mine = appearance[group_layer[appearance] == code]
        yield str(names[code]), _Iterations(group_segment[mine], group_iteration[mine], nonzero[mine],
                                            line[mine], time[mine], [str(b) for b in blobs[mine]])


class _ZeroRun:
    """Per layer: how many iterations, whether all had only zero param diffs, how many of the
    last ones in a row did, and where that trailing run starts (segment, iteration, its row, blob)."""

    __slots__ = ("n", "all_zero", "trailing", "start")

    def __init__(self) -> None:
        self.n, self.all_zero, self.trailing = 0, True, 0
        self.start: tuple = (0, None, {"line": 0}, "0")

    def add(self, per: _Iterations) -> None:
        zero = ~per.nonzero
        if not len(zero):
            return
        self.n += len(zero)
        self.all_zero &= bool(zero.all())
        nonzero_at = np.flatnonzero(~zero)
        first_of_run = 0 if not len(nonzero_at) else int(nonzero_at[-1]) + 1
        if len(nonzero_at):
            self.trailing = 0
        if first_of_run < len(zero) and self.trailing == 0:
            k = first_of_run
            self.start = (int(per.segment[k]), int(per.iteration[k]),
                          {"line": int(per.line[k]), "time": float(per.time[k])}, per.blob[k])
        self.trailing += len(zero) - first_of_run


def _advice(ctx: Context, layer: str) -> tuple[str, list[str]]:
    bias = ctx.roles.negative_bias(layer)
    if bias is not None:
        return (f"{layer} uses bias_filler constant {bias}: with ReLU above it every unit starts dead; use 0 "
                "or a small positive value", ["bias_filler"])
    above = [name for name in ctx.roles.aliases_of(layer) if ctx.roles.types.get(name) in ("ReLU", "PReLU", "ELU")]
    if above:
        return (f"{', '.join(above)} above it passes no gradient when its units are dead (see dead-activation); "
                "else check lr_mult and propagate_down", [])
    return "check the activations above it (dead ReLUs), lr_mult and propagate_down", ["lr_mult"]
