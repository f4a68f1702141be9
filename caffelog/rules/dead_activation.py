"""dead-activation: ReLU layers whose output is 0 throughout the run."""
from __future__ import annotations

from .accumulate import LayerSpans
from .base import Context, Rule, Window, as_float, layer_param_block, layer_span


class DeadActivation(Rule):
    """ReLU (and PReLU/ELU) top data that is exactly 0, or below `floor`, in every displayed
    iteration: every unit is dead, nothing passes forward and no gradient flows back.

    Uses the layer type from the net dump, so only activation layers are judged; healthy ReLUs
    (some units alive) are never flagged. It is an error when a dead layer is the only path
    from the input to the loss (its output is the sole non-label input of the next layer).
    Fix: a large negative bias_filler or a too-high learning rate kills ReLUs: use
    bias_filler 0 (or small positive), xavier/msra weights, a lower base_lr, or LeakyReLU
    (relu_param { negative_slope: 0.01 }).
    """

    id = "dead-activation"
    severity = "warning"
    thresholds = {"floor": 1e-12, "fraction": 1.0}

    TYPES = ("ReLU", "PReLU", "ELU")

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.tops = LayerSpans()  # every layer's top data: the layer types come with the net
        self.low: dict[str, int] = {}

    def observe(self, w: Window) -> None:
        tops = w.forward_tops
        self.tops.add(tops)
        low = tops[(tops["value"] <= self.t["floor"]).to_numpy()]
        for layer, n in low.groupby("layer", observed=True, sort=False).size().items():
            self.low[str(layer)] = self.low.get(str(layer), 0) + int(n)

    def check(self, ctx: Context):
        relus = [l for l in ctx.layer_order if ctx.layer_types.get(l) in self.TYPES]
        dead = [(layer, self.tops[layer]) for layer in relus if layer in self.tops
                and self.low.get(layer, 0) / self.tops[layer].n >= self.t["fraction"]]
        if not dead:
            return []
        names = [l for l, _ in dead]
        severity = "error" if any(self._cuts_path(ctx, l) for l in names) else "warning"
        out = []
        for layer, span in dead:
            out.append(self.episode(
                f"{layer} ({ctx.layer_types[layer]}): top {span.first['blob']} is 0 in all "
                f"{span.n} displayed forward passes: every unit is dead", span,
                severity=severity, advice=_advice(ctx, layer), layer=layer,
                value=span.max, threshold=self.t["floor"],
                evidence=[f"dead activation layers: {layer_span(names)}"]))
        return out

    def _cuts_path(self, ctx: Context, layer: str) -> bool:
        """True when the dead output is the only data input of some later layer."""
        net = ctx.net
        row = net[net["layer"] == layer]
        if row.empty:
            return True  # no net table: assume a plain chain
        top = row["tops"].iloc[0][0] if len(row["tops"].iloc[0]) else None
        after = net[net["index"] > row["index"].iloc[0]]
        for bottoms in after["bottoms"]:
            data = [b for b in bottoms if "label" not in b]
            if data == [top]:
                return True
        return False


def _advice(ctx: Context, layer: str) -> str:
    net = ctx.net
    row = net[net["layer"] == layer]
    feeder = None
    if len(row) and row["bottoms"].iloc[0]:
        src = row["bottoms"].iloc[0][0]
        producers = net[net["tops"].map(lambda tops: src in tops) & (net["index"] < row["index"].iloc[0])]
        if len(producers):
            feeder = producers["layer"].iloc[0]
    hints = []
    if feeder:
        params = ctx.layer_params(feeder)
        inner = layer_param_block(params)
        bias = inner.get("bias_filler") if isinstance(inner.get("bias_filler"), dict) else {}
        if bias.get("type") == "constant" and as_float(bias.get("value")) < 0:
            hints.append(f"{feeder} (feeding {layer}) uses bias_filler constant {bias.get('value')}: "
                         "use 0 or a small positive value")
    lr = ctx.knob("base_lr")
    hints.append(f"if the init is fine, base_lr {lr} may be killing units; or use LeakyReLU"
                 if lr is not None else "or use LeakyReLU")
    return "; ".join(hints)
