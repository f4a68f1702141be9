"""zero-gradient: learnable layers whose every param diff is exactly 0."""
from __future__ import annotations

import numpy as np

from .accumulate import LayerSpans
from .base import Context, Rule, Window, as_float, layer_param_block, layer_span


class ZeroGradient(Rule):
    """A learnable layer whose param diffs are exactly 0 in every displayed iteration (or in the
    last `min_run` of them): its weights never change, it does not learn.

    Why: usually everything above it is dead (ReLUs stuck at 0, a zero-initialised layer feeding
    it) or propagate_down / lr_mult 0 cut it off. It is an error when no learnable layer learns.
    Fix: look at the activations feeding the layer (see dead-activation), the fillers
    (bias_filler, weight_filler), and lr_mult / propagate_down in the net prototxt.
    """

    id = "zero-gradient"
    severity = "warning"
    thresholds = {"min_run": 10}

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.rows = LayerSpans()
        self.zeros = LayerSpans()  # for each layer's first zero param diff
        self.iterations: dict[str, _ZeroRun] = {}

    def observe(self, w: Window) -> None:
        p = w.backward_params
        if p.empty:
            return
        self.rows.add(p)
        self.zeros.add(p[(p["value"] == 0).to_numpy()])
        # windows hold whole iterations, so each (layer, iteration) is decided in one window
        nonzero = (p["value"] != 0).groupby([p["layer"], p["segment"], p["iteration"]],
                                           observed=True).any()
        for layer, flags in nonzero.groupby(level=0, observed=True):
            self.iterations.setdefault(str(layer), _ZeroRun()).add(~flags.to_numpy())

    def check(self, ctx: Context):
        if not self.rows:
            return []
        dead = []
        for layer in ctx.learnable:
            run = self.iterations.get(layer)
            if run is None:
                continue  # its param diffs have no iteration to judge them by
            if run.all_zero or run.trailing >= self.t["min_run"]:
                dead.append((layer, run))
        if not dead:
            return []
        severity = "error" if len(dead) == len(ctx.learnable) else "warning"
        out = []
        names = [d[0] for d in dead]
        for layer, run in dead:
            span = "every displayed iteration" if run.all_zero else f"the last {run.trailing} displayed iterations"
            out.append(self.episode(
                f"{layer}: every param diff is exactly 0 in {span} "
                f"({run.n} iterations): the layer does not learn", self.rows[layer],
                first=self.zeros[layer].first, severity=severity, advice=_advice(ctx, layer),
                layer=layer, value=0.0,
                evidence=[f"layers with zero gradients: {layer_span(names)} "
                          f"of {len(ctx.learnable)} learnable"]))
        return out


class _ZeroRun:
    """Per layer: how many iterations, whether all had only zero param diffs, and how many of
    the last ones in a row did."""

    __slots__ = ("n", "all_zero", "trailing")

    def __init__(self) -> None:
        self.n, self.all_zero, self.trailing = 0, True, 0

    def add(self, zero: np.ndarray) -> None:
        if not len(zero):
            return
        self.n += len(zero)
        self.all_zero &= bool(zero.all())
        nonzero_at = np.flatnonzero(~zero)
        self.trailing = self.trailing + len(zero) if not len(nonzero_at) else len(zero) - 1 - int(nonzero_at[-1])


def _advice(ctx: Context, layer: str) -> str:
    params = ctx.layer_params(layer)
    inner = layer_param_block(params)
    bias = inner.get("bias_filler") if isinstance(inner.get("bias_filler"), dict) else {}
    hints = []
    if bias.get("type") == "constant" and as_float(bias.get("value")) < 0:
        hints.append(f"{layer} uses bias_filler constant {bias.get('value')}: with ReLU above it "
                     "every unit starts dead; use 0 or a small positive value")
    hints.append("check the activations feeding it (dead ReLUs), lr_mult and propagate_down")
    return "; ".join(hints)
