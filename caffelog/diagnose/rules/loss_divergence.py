"""loss-divergence: the train loss rising well above its best."""
from __future__ import annotations

from caffelog.diagnose.context import Context
from caffelog.diagnose.findings import where
from caffelog.diagnose.loss_trend import stretches
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import as_int, fmt_value


class LossDivergence(Rule):
    """The train loss (windowed median) rising to `factor` x its lowest earlier window, and
    undoing at least `undone` (a fraction) of what it had gained from the first window to that
    best one: so the noise of a loss near 0 (0.016 -> 0.06) is not called divergence.

    Why: a loss that climbs is diverging: the learning rate is too high for this net, or the
    gradients explode (see exploding). NaN losses are the non-finite rule's.
    Fix: lower base_lr, use a decaying lr_policy (step, multistep, inv), set clip_gradients.
    """

    id = "loss-divergence"
    severity = "error"
    fractions = frozenset({"window"})
    thresholds = {"factor": 2.0, "window": 0.1, "undone": 0.5}

    def check(self, ctx: Context):
        w = stretches(ctx.loss, self.threshold["window"])
        best = None
        start = w["median"].iloc[0] if len(w) else 0.0
        for _, row in w.iterrows():
            if best is not None and best["median"] > 0 and row["median"] >= self.threshold["factor"] * best["median"] \
                    and row["median"] - best["median"] >= self.threshold["undone"] * (start - best["median"]):
                at = as_int(row["last_iteration"])
                return [self.finding(
                    f"train loss rose to {fmt_value(row['median'])} (median of iterations "
                    f"{as_int(row['iteration'])}-{as_int(row['last_iteration'])}) from {fmt_value(best['median'])} "
                    f"(iterations {as_int(best['iteration'])}-{as_int(best['last_iteration'])})",
                    advice=f"{ctx.lr_words(0, at)}: lower it, or set clip_gradients",
                    settings=ctx.step_settings(0, at),
                    iteration=as_int(row["iteration"]), last_iteration=as_int(row["last_iteration"]),
                    phase="train", value=float(row["median"]), threshold=self.threshold["factor"],
                    **where(row), cause=ctx.divergence_cause(0, at))]
            if best is None or row["median"] < best["median"]:
                best = row
        return []
