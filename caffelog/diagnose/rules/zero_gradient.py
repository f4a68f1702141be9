"""zero-gradient: learnable layers whose every param diff is exactly 0."""
from __future__ import annotations

import numpy as np
import pandas as pd

from caffelog.diagnose.accumulate import LayerSpans
from caffelog.diagnose.context import Context, Window
from caffelog.diagnose.findings import where
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import as_int


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
        keys = [p["layer"], p["segment"], p["iteration"]]
        g = pd.DataFrame({"nonzero": (p["value"] != 0).to_numpy(), "line": p["line"].to_numpy(),
                          "time": p["time"].to_numpy(), "blob": p["blob"].astype(str).to_numpy()},
                         index=p.index).groupby(keys, observed=True, sort=False)
        per = pd.DataFrame({"nonzero": g["nonzero"].any(), "line": g["line"].min(), "time": g["time"].min(),
                            "blob": g["blob"].first()})
        for layer, rows in per.groupby(level=0, observed=True, sort=False):
            self.iterations.setdefault(str(layer), _ZeroRun()).add(rows)

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


class _ZeroRun:
    """Per layer: how many iterations, whether all had only zero param diffs, how many of the
    last ones in a row did, and where that trailing run starts (segment, iteration, its row, blob)."""

    __slots__ = ("n", "all_zero", "trailing", "start")

    def __init__(self) -> None:
        self.n, self.all_zero, self.trailing = 0, True, 0
        self.start: tuple = (0, None, {"line": 0}, "0")

    def add(self, per_iteration: pd.DataFrame) -> None:
        zero = ~per_iteration["nonzero"].to_numpy()
        if not len(zero):
            return
        self.n += len(zero)
        self.all_zero &= bool(zero.all())
        nonzero_at = np.flatnonzero(~zero)
        first_of_run = 0 if not len(nonzero_at) else int(nonzero_at[-1]) + 1
        if len(nonzero_at):
            self.trailing = 0
        if first_of_run < len(zero) and self.trailing == 0:
            _, segment, iteration = per_iteration.index[first_of_run]
            self.start = (segment, iteration, per_iteration.iloc[first_of_run],
                          per_iteration["blob"].iloc[first_of_run])
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
