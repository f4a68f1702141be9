"""zero-gradient: learnable layers whose every param diff is exactly 0."""
from __future__ import annotations

from .base import Context, Rule, as_float, layer_param_block, layer_span


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

    def check(self, ctx: Context):
        p = ctx.train_where(direction="backward", role="param")
        if p.empty:
            return []
        nonzero = (p["value"] != 0).groupby([p["layer"], p["segment"], p["iteration"]],
                                           observed=True).any()
        per_iter = ~nonzero
        dead = []
        for layer in ctx.learnable:
            zero = per_iter.loc[layer]
            run = _trailing_true(zero.to_list())
            if zero.all() or run >= self.t["min_run"]:
                dead.append((layer, zero, run))
        if not dead:
            return []
        severity = "error" if len(dead) == len(ctx.learnable) else "warning"
        out = []
        names = [d[0] for d in dead]
        for layer, zero, run in dead:
            rows = p[p["layer"] == layer]
            first_zero = rows[rows["value"] == 0].iloc[0]
            span = "every displayed iteration" if zero.all() else f"the last {run} displayed iterations"
            out.append(self.episode(
                f"{layer}: every param diff is exactly 0 in {span} "
                f"({len(zero)} iterations): the layer does not learn", rows, first=first_zero,
                severity=severity, advice=_advice(ctx, layer), layer=layer, value=0.0,
                evidence=[f"layers with zero gradients: {layer_span(names)} "
                          f"of {len(ctx.learnable)} learnable"]))
        return out


def _trailing_true(flags: list[bool]) -> int:
    n = 0
    for flag in reversed(flags):
        if not flag:
            break
        n += 1
    return n


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
