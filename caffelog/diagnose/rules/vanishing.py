"""vanishing: hidden layers whose weight gradients are tiny next to the output layer's."""
from __future__ import annotations

import numpy as np

from caffelog.diagnose.accumulate import LayerSpans
from caffelog.diagnose.context import Context, Window
from caffelog.diagnose.rule import Rule, layer_span
from caffelog.diagnose.values import fmt_value, layer_param_block


class Vanishing(Rule):
    """Learnable layers whose mean |weight diff| is sustainedly far below the last learnable
    layer's (the output layer), or below an absolute floor.

    Caffe prints mean |diff| per element; in healthy nets measured here (healthy_conv, long_run,
    iter_size_shared) every layer stays within 5x of the output layer (ratio >= 0.2). A ratio
    under `ratio` (default 0.02, i.e. 50x smaller) over the median of the run means the layer
    barely learns: gradients vanish on the way down (saturated tanh/sigmoid, bad init).
    Layers with exactly zero diffs are left to zero-gradient.
    Medians over the run are exact up to 65,536 values per layer; beyond, they are taken over
    every k-th value of the run (at most 65,536), so a 10 GB log is diagnosed in bounded memory.
    Fix: xavier/msra weight_filler instead of uniform/gaussian with a large range, ReLU instead
    of tanh/sigmoid, BatchNorm, or a per-layer lr_mult.
    """

    id = "vanishing"
    severity = "warning"
    thresholds = {"ratio": 0.02, "floor": 1e-7}

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.diffs = LayerSpans(sample=True)

    def observe(self, w: Window) -> None:
        d = w.weight_diffs
        self.diffs.add(d[np.isfinite(d["value"].to_numpy())])

    def check(self, ctx: Context):
        if not self.diffs or len(ctx.learnable) < 2:
            return []
        reference_layer = ctx.learnable[-1]
        reference = self.diffs.median(reference_layer)
        weak = []
        for layer in ctx.learnable[:-1]:
            m = self.diffs.median(layer)
            if not np.isfinite(m) or m == 0:
                continue
            ratio = m / reference if reference > 0 else np.inf
            if ratio < self.threshold["ratio"] or m < self.threshold["floor"]:
                weak.append((layer, m, ratio))
        if not weak:
            return []
        names = [name for name, _, _ in weak]
        out = []
        for layer, m, ratio in weak:
            out.append(self.episode(
                f"{layer}: median mean |weight diff| {fmt_value(m)} is {1 / ratio:.0f}x smaller than "
                f"{reference_layer}'s ({fmt_value(reference)}): barely learning", self.diffs[layer],
                advice=_advice(ctx, names), settings=_settings(ctx, names), layer=layer, value=float(m),
                threshold=self.threshold["ratio"],
                evidence=[f"barely learning: {layer_span(names)}"]))
        return out


def _settings(ctx: Context, layers: list[str]) -> list[str]:
    return ["weight_filler"] if "weight_filler" in _advice(ctx, layers) else ["lr_mult"]


def _advice(ctx: Context, layers: list[str]) -> str:
    fillers = set()
    for layer in layers:
        params = ctx.layer_params(layer)
        inner = layer_param_block(params)
        wf = inner.get("weight_filler")
        if not isinstance(wf, dict):
            wf = {}
        if wf.get("type") in ("uniform", "gaussian", "constant"):
            detail = (f"uniform [{wf.get('min', 0)}, {wf.get('max', 1)}]" if wf["type"] == "uniform"
                      else f"{wf['type']} {wf.get('std', wf.get('value', ''))}".strip())
            fillers.add(detail)
    types = {ctx.layer_types.get(name, "") for name in ctx.layer_order}
    hint = []
    if fillers:
        hint.append(f"weight_filler {', '.join(sorted(fillers))} on {layer_span(layers)}: try xavier")
    if types & {"TanH", "Sigmoid"}:
        hint.append("saturating TanH/Sigmoid activations: try ReLU or BatchNorm")
    hint.append("a per-layer lr_mult can lift these layers meanwhile")
    return "; ".join(hint)
