"""tanh-saturation: TanH units pinned at +-1."""
from __future__ import annotations

from .base import Context, Rule, as_float, fmt_value, layer_param_block, layer_span


class TanhSaturation(Rule):
    """TanH layers whose mean |output| is >= `level` (default 0.9) over the median of the run:
    most units sit at +-1, where tanh' = 1 - tanh^2 is close to 0, so gradients die there.

    Why: saturation is the usual cause of vanishing gradients in deep tanh nets.
    Fix: smaller or zero-mean initial weights (xavier instead of uniform [0, 1]), normalised
    inputs, BatchNorm, or ReLU.
    """

    id = "tanh-saturation"
    severity = "warning"
    thresholds = {"level": 0.9}

    def check(self, ctx: Context):
        layers = [l for l in ctx.layer_order if ctx.layer_types.get(l) == "TanH"]
        tops = ctx.train_where(direction="forward", role="top", layers=layers)
        hot = []
        for layer in layers:
            rows = tops[tops["layer"] == layer]
            if len(rows) and rows["value"].median() >= self.t["level"]:
                hot.append((layer, rows))
        names = [l for l, _ in hot]
        out = []
        for layer, rows in hot:
            out.append(self.episode(
                f"{layer}: mean |tanh output| {fmt_value(rows['value'].median())} (median over "
                f"{len(rows)} iterations) >= {self.t['level']:g}: units saturated at +-1", rows,
                advice=_advice(ctx, names), layer=layer, value=float(rows["value"].median()),
                threshold=self.t["level"], evidence=[f"saturated: {layer_span(names)}"]))
        return out


def _advice(ctx: Context, layers: list[str]) -> str:
    fillers = set()
    for layer in ctx.layer_order:
        params = ctx.layer_params(layer)
        inner = layer_param_block(params)
        wf = inner.get("weight_filler") if isinstance(inner.get("weight_filler"), dict) else {}
        if wf.get("type") == "uniform" and as_float(wf.get("min")) >= 0:
            fillers.add(f"uniform [{wf.get('min', 0)}, {wf.get('max', 1)}]")
    if fillers:
        return (f"weight_filler {', '.join(sorted(fillers))} (all positive) drives the tanh layers into "
                "saturation: try xavier")
    return "use xavier weights, normalise the inputs, or add BatchNorm"
