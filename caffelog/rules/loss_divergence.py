"""loss-divergence: the train loss rising well above its best."""
from __future__ import annotations

from .base import Context, Rule
from .loss_trend import windows
from .non_finite import _fmt, _int


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
                    f"train loss rose to {_fmt(row['median'])} (median of iterations "
                    f"{_int(row['iteration'])}-{_int(row['last_iteration'])}) from {_fmt(best['median'])} "
                    f"(iterations {_int(best['iteration'])}-{_int(best['last_iteration'])})",
                    advice=f"base_lr is {lr} with lr_policy {policy}: lower it, or set clip_gradients",
                    iteration=_int(row["iteration"]), last_iteration=_int(row["last_iteration"]),
                    phase="train", value=float(row["median"]), threshold=self.t["factor"],
                    line=int(row["line"]))]
            if best is None or row["median"] < best["median"]:
                best = row
        return []
