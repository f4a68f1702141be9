"""tanh-saturation: TanH units pinned at +-1."""
from __future__ import annotations

from caffelog.diagnose.accumulate import LayerSpans
from caffelog.diagnose.context import Context, Window
from caffelog.diagnose.rule import Rule, layer_span
from caffelog.diagnose.values import as_float, fmt_value, layer_param_block


class TanhSaturation(Rule):
    """TanH layers whose mean |output| is >= `level` (default 0.9) over the median of the run:
    most units sit at +-1, where tanh' = 1 - tanh^2 is close to 0, so gradients die there.

    Why: saturation is the usual cause of vanishing gradients in deep tanh nets.
    Medians over the run are exact up to 65,536 values per layer; beyond, they are taken over
    every k-th value of the run (at most 65,536), so a 10 GB log is diagnosed in bounded memory.
    Fix: smaller or zero-mean initial weights (xavier instead of uniform [0, 1]), normalised
    inputs, BatchNorm, or ReLU.
    """

    id = "tanh-saturation"
    severity = "warning"
    thresholds = {"level": 0.9}

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.tops = LayerSpans(sample=True)  # every layer's: the layer types come with the net

    def observe(self, w: Window) -> None:
        self.tops.add(w.forward_tops)

    def check(self, ctx: Context):
        layers = [name for name in ctx.layer_order if ctx.layer_types.get(name) == "TanH"]
        hot = [(layer, self.tops[layer], self.tops.median(layer)) for layer in layers
               if layer in self.tops and self.tops.median(layer) >= self.threshold["level"]]
        names = [name for name, _, _ in hot]
        out = []
        for layer, span, median in hot:
            out.append(self.episode(
                f"{layer}: mean |tanh output| {fmt_value(median)} (median over "
                f"{span.n} iterations) >= {self.threshold['level']:g}: units saturated at +-1", span,
                advice=_advice(ctx, names), settings=["weight_filler"], layer=layer, value=median,
                threshold=self.threshold["level"], evidence=[f"saturated: {layer_span(names)}"], cause="saturation"))
        return out


def _advice(ctx: Context, layers: list[str]) -> str:
    fillers = set()
    for layer in ctx.layer_order:
        params = ctx.layer_params(layer)
        inner = layer_param_block(params)
        wf = inner.get("weight_filler")
        if not isinstance(wf, dict):
            wf = {}
        if wf.get("type") == "uniform" and as_float(wf.get("min")) >= 0:
            fillers.add(f"uniform [{wf.get('min', 0)}, {wf.get('max', 1)}]")
    if fillers:
        return (f"weight_filler {', '.join(sorted(fillers))} (all positive) drives the tanh layers into "
                "saturation: try xavier")
    return "use xavier weights, normalise the inputs, or add BatchNorm"
