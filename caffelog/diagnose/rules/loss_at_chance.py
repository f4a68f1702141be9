"""loss-at-chance: a classifier's loss sitting at ln K, the loss of a net that learns nothing."""
from __future__ import annotations

import numpy as np

from caffelog.diagnose.context import Context
from caffelog.diagnose.findings import where
from caffelog.diagnose.loss_trend import stretches
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import as_int, fmt_value


class LossAtChance(Rule):
    """The train loss (windowed medians) at ln K for the run's last stretch, K being the
    classifier's number of outputs feeding SoftmaxWithLoss (from the net table): uniform
    predictions, the net has learned nothing there. Either from the start (the labels carry no
    information, or nothing trains) or after an early drop (the run learned, then lost it).

    A stretch counts when every window median in it lies within `tolerance` (relative) of ln K
    and it holds at least `min_displays` displayed iterations and `min_fraction` of the run;
    test accuracy near 1/K is quoted as evidence when the log has it. A net whose last tests
    score `learned` x 1/K or more has learned something, whatever its loss: a short run whose
    loss is still falling through ln K is not stuck there (sample_logs/resumed_run).
    Why: the clearest sign that a run is useless, whatever the gradients look like.
    Fix: from the start with healthy gradients: the data and labels (shuffled? matching the
    inputs?); after a drop: what changed then (an lr step, dead units: see the other findings).
    """

    id = "loss-at-chance"
    severity = "warning"
    fractions = frozenset({"window"})
    thresholds = {"tolerance": 0.1, "min_displays": 20, "min_fraction": 0.25, "window": 0.05, "learned": 1.5}

    def check(self, ctx: Context):
        chance, k = ctx.roles.chance_loss, ctx.roles.classes
        loss = ctx.loss
        if chance is None or k is None or len(loss) < self.threshold["min_displays"]:
            return []
        w = stretches(loss, self.threshold["window"])
        if len(w) < 2:
            return []
        near = (np.abs(w["median"].to_numpy() - chance) <= self.threshold["tolerance"] * chance)
        far = np.flatnonzero(~near)
        start = int(far[-1]) + 1 if len(far) else 0
        stretch = w.iloc[start:]
        displays = int(stretch["n"].sum()) if len(stretch) else 0
        if displays < self.threshold["min_displays"] or displays < self.threshold["min_fraction"] * len(loss):
            return []
        first = stretch.iloc[0]
        recent = _test_accuracies(ctx, as_int(first["iteration"]))[-2:]
        if len(recent) and float(np.mean(recent)) >= self.threshold["learned"] / k:
            return []  # the tests score well above chance: the net predicts, it is not uniform
        earlier = w.iloc[:start]
        if start == 0:
            when = "from the start"
        else:
            best = earlier["median"].min()
            when = f"from iteration {as_int(first['iteration'])} on"
            if best < (1 - self.threshold["tolerance"]) * chance:
                when += f", after falling to {fmt_value(best)}"
        evidence = [f"K = {k} from the classifier's output shape; ln {k} = {chance:.4g}"]
        accuracy = _test_accuracy(ctx, as_int(first["iteration"]))
        if accuracy is not None:
            evidence.append(f"test accuracy over the same stretch: median {accuracy:.3g} (chance 1/{k} = {1 / k:.3g})")
        return [self.finding(
            f"train loss at chance level ln {k} = {chance:.4g} {when}: median {fmt_value(stretch['median'].median())} "
            f"over {displays} displayed iterations "
            f"({as_int(first['iteration'])}-{as_int(stretch['last_iteration'].iloc[-1])}): "
            "the net predicts uniformly, it has learned nothing",
            advice=("gradients and lr decide nothing here if they look healthy: check that the labels match the "
                    "inputs (source lists, shuffling)") if start == 0 else
                   "see what changed before it (an lr step, dead or saturated units) in the other findings",
            iteration=as_int(first["iteration"]), last_iteration=as_int(stretch["last_iteration"].iloc[-1]),
            phase="train", value=float(stretch["median"].median()), threshold=chance, **where(first),
            evidence=evidence, cause="no-learning" if start == 0 else "loss-at-chance")]


def _test_accuracy(ctx: Context, since) -> float | None:
    """Median test accuracy of test net 0 from iteration `since` on (None: no accuracy output)."""
    values = _test_accuracies(ctx, since)
    return float(np.median(values)) if len(values) else None


def _test_accuracies(ctx: Context, since) -> np.ndarray:
    """The finite test accuracies of test net 0 from iteration `since` on, in log order."""
    tests = ctx.tests
    acc = tests[(tests["name"].astype(str).str.contains("acc", case=False) & tests["weighted"].isna()
                 & (tests["test_net"].fillna(0) == 0)).to_numpy()]
    if since is not None:
        acc = acc[(acc["iteration"] >= since).fillna(False).to_numpy()]
    values = acc["value"].to_numpy("float64")
    return values[np.isfinite(values)]
