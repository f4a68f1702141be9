"""loss-divergence: the train loss rising well above its best."""
from __future__ import annotations

from .base import Context, Rule, as_int, fmt_value
from .loss_trend import windows


class LossDivergence(Rule):
    """The train loss (windowed median) rising to `factor` x its lowest earlier window.

    Why: a loss that climbs is diverging: the learning rate is too high for this net, or the
    gradients explode (see exploding). NaN losses are the non-finite rule's.
    Fix: lower base_lr, use a decaying lr_policy (step, multistep, inv), set clip_gradients.
    """

    id = "loss-divergence"
    severity = "error"
    thresholds = {"factor": 2.0, "window": 0.1}

    def check(self, ctx: Context):
        w = windows(ctx.loss, self.t["window"])
        best = None
        for _, row in w.iterrows():
            if best is not None and best["median"] > 0 and row["median"] >= self.t["factor"] * best["median"]:
                lr, policy = ctx.knob("base_lr"), ctx.knob("lr_policy", "fixed")
                return [self.finding(
                    f"train loss rose to {fmt_value(row['median'])} (median of iterations "
                    f"{as_int(row['iteration'])}-{as_int(row['last_iteration'])}) from {fmt_value(best['median'])} "
                    f"(iterations {as_int(best['iteration'])}-{as_int(best['last_iteration'])})",
                    advice=f"base_lr is {lr} with lr_policy {policy}: lower it, or set clip_gradients",
                    iteration=as_int(row["iteration"]), last_iteration=as_int(row["last_iteration"]),
                    phase="train", value=float(row["median"]), threshold=self.t["factor"],
                    line=int(row["line"]))]
            if best is None or row["median"] < best["median"]:
                best = row
        return []
