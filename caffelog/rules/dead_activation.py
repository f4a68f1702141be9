"""dead-activation: ReLU layers whose output is 0 throughout the run."""
from __future__ import annotations

from .base import Context, Rule, as_float, layer_param_block, layer_span


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

    def check(self, ctx: Context):
        relus = [l for l in ctx.layer_order if ctx.layer_types.get(l) in self.TYPES]
        tops = ctx.train_where(direction="forward", role="top", layers=relus)
        dead = []
        for layer in relus:
            rows = tops[tops["layer"] == layer]
            if rows.empty:
                continue
            low = rows["value"] <= self.t["floor"]
            if low.mean() >= self.t["fraction"]:
                dead.append((layer, rows))
        if not dead:
            return []
        names = [l for l, _ in dead]
        severity = "error" if any(self._cuts_path(ctx, l) for l in names) else "warning"
        out = []
        for layer, rows in dead:
            out.append(self.episode(
                f"{layer} ({ctx.layer_types[layer]}): top {rows['blob'].iloc[0]} is 0 in all "
                f"{len(rows)} displayed forward passes: every unit is dead", rows,
                severity=severity, advice=_advice(ctx, layer), layer=layer,
                value=float(rows["value"].max()), threshold=self.t["floor"],
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
