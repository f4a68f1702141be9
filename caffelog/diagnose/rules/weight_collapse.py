"""weight-collapse: learnable weights shrinking by orders of magnitude."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from caffelog.diagnose.accumulate import layer_codes
from caffelog.diagnose.context import Context, Window
from caffelog.diagnose.findings import where
from caffelog.diagnose.rule import Rule, layer_span
from caffelog.diagnose.rules.update_ratio import ADAPTIVE
from caffelog.diagnose.values import as_float, as_int, fmt_value


class WeightCollapse(Rule):
    """A layer's weights (mean |param blob 0 data|) at the end `orders` orders of magnitude (or
    more) below their first displayed value: the net is being shrunk to nothing.

    For SGD and Nesterov, weight decay alone multiplies the weights by (1 - lr x weight_decay)
    per step, about exp(-weight_decay x decay_mult x sum(lr) / (1 - momentum)) over the run;
    when that predicted shrink accounts for at least half of the observed one (in orders of
    magnitude), weight_decay is named as the cause, with the numbers.
    Why: tiny weights give tiny activations and gradients (it looks like vanishing) and a loss
    at chance. Frozen layers and BatchNorm statistics are not judged.
    Fix: weight_decay 1e-4 to 5e-4 is usual; lower it (or decay_mult on the layer).
    """

    id = "weight-collapse"
    severity = "warning"
    thresholds = {"orders": 2.0}

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.first: dict[str, pd.Series] = {}
        self.last: dict[str, pd.Series] = {}

    def observe(self, w: Window) -> None:
        data = w.weight_data
        if not len(data):
            return
        codes, names = layer_codes(data["layer"])
        values = data["value"].to_numpy()
        for code in pd.unique(codes):
            at = np.flatnonzero((codes == code) & np.isfinite(values))
            if code < 0 or not len(at):
                continue
            name = str(names[code])
            self.first.setdefault(name, data.iloc[at[0]])
            self.last[name] = data.iloc[at[-1]]

    def check(self, ctx: Context):
        shrunk = []
        for layer in ctx.learnable:
            if layer in ctx.roles.frozen or ctx.roles.statistics_only(layer) or layer not in self.first:
                continue
            a, b = self.first[layer], self.last[layer]
            shrink = 10 ** -self.threshold["orders"]
            if a["segment"] == b["segment"] and a["value"] > 0 and b["value"] <= a["value"] * shrink:
                shrunk.append((layer, a, b))
        names = [name for name, _, _ in shrunk]
        return [self._finding(ctx, layer, a, b, names) for layer, a, b in shrunk]

    def _finding(self, ctx: Context, layer: str, a: pd.Series, b: pd.Series, names: list[str]):
        observed = math.log10(a["value"] / b["value"]) if b["value"] > 0 else math.inf
        predicted = self._predicted_orders(ctx, layer, a, b)
        evidence = [f"weights shrank in {layer_span(names)}"]
        if predicted is not None:
            evidence.append(f"weight decay alone predicts {predicted:.3g} orders of magnitude over iterations "
                            f"{as_int(a['iteration'])}-{as_int(b['iteration'])} (observed {observed:.3g})")
        blamed = predicted is not None and predicted >= 0.5 * observed
        wd = ctx.knob("weight_decay", 0)
        advice = (f"weight_decay is {wd} (x lr {fmt_value(ctx.schedule.at(int(a['segment']), a['iteration']))}, "
                  "momentum): it explains the shrink; use 1e-4 to 5e-4" if blamed else
                  f"weight_decay is {wd}; check lr_mult/decay_mult and what drives the weights to 0")
        return self.finding(
            f"{layer}: weights (mean |param blob 0 data|) shrank from {fmt_value(a['value'])} (iteration "
            f"{as_int(a['iteration'])}) to {fmt_value(b['value'])} (iteration {as_int(b['iteration'])}): "
            f"{observed:.3g} orders of magnitude", advice=advice,
            settings=["weight_decay"] if blamed else ["weight_decay", "decay_mult"], segment=int(a["segment"]),
            iteration=as_int(a["iteration"]), last_iteration=as_int(b["iteration"]), phase="train",
            direction="forward", layer=layer, blob=str(a["blob"]), quantity="data", value=float(b["value"]),
            threshold=self.threshold["orders"], **where(a), evidence=evidence,
            cause="weight-decay" if blamed else "weight-collapse")

    def _predicted_orders(self, ctx: Context, layer: str, a: pd.Series, b: pd.Series) -> float | None:
        if ctx.solver_type in ADAPTIVE:
            return None
        wd = as_float(ctx.knob("weight_decay"), 0.0)
        momentum = min(as_float(ctx.knob("momentum"), 0.0), 0.999)
        specs = ctx.roles.params(layer).get("param")
        spec = (specs[0] if isinstance(specs, list) and specs else specs) if specs else {}
        decay_mult = as_float(spec.get("decay_mult"), 1.0) if isinstance(spec, dict) else 1.0
        total_lr = ctx.schedule.integral(int(a["segment"]), as_int(a["iteration"]), as_int(b["iteration"]))
        if not (wd > 0 and np.isfinite(total_lr)):
            return None
        return wd * decay_mult * total_lr / (1 - momentum) / math.log(10)
