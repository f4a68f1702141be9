"""loss-plateau: a train loss that never fell."""
from __future__ import annotations

import math

from caffelog.diagnose.context import Context
from caffelog.diagnose.findings import where
from caffelog.diagnose.loss_trend import stretches
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import as_int, fmt_value


class LossPlateau(Rule):
    """The train loss never falls `drop` (default 5%) below its first window's median.

    Why: the net is not learning at all: dead units, vanishing gradients, a learning rate far
    too low, or labels that do not match the data. A loss stuck at ln(k) is chance level for k
    balanced classes (0.693 = ln 2).
    Fix: see the other findings for the cause; check the data and labels, then lr and init.
    """

    id = "loss-plateau"
    severity = "warning"
    fractions = frozenset({"window"})
    thresholds = {"drop": 0.05, "window": 0.1}

    def check(self, ctx: Context):
        w = stretches(ctx.loss, self.threshold["window"])
        if len(w) < 2:
            return []
        first = w.iloc[0]
        best = w["median"].iloc[1:].min()
        if first["median"] <= 0 or best < (1 - self.threshold["drop"]) * first["median"]:
            return []
        chance = ""
        k = math.exp(first["median"])
        if abs(k - round(k)) < 0.05 and round(k) >= 2:
            chance = f" (= ln {round(k)}: chance level for {round(k)} classes)"
        last = w.iloc[-1]
        return [self.finding(
            f"train loss never fell {self.threshold['drop']:.0%} below its start: {fmt_value(first['median'])} "
            f"at the start, best window {fmt_value(best)}{chance}, over iterations "
            f"{as_int(first['iteration'])}-{as_int(last['last_iteration'])}",
            advice="the net is not learning: see the other findings (dead or saturated units, "
                   f"vanishing gradients); base_lr is {ctx.knob('base_lr')}; check data and labels",
            iteration=as_int(first["iteration"]), last_iteration=as_int(last["last_iteration"]),
            phase="train", value=float(best), threshold=self.threshold["drop"], **where(first))]
