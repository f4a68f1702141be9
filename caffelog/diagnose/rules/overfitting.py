"""overfitting: the test loss rising well above its best while the train loss keeps falling."""
from __future__ import annotations

import numpy as np
import pandas as pd

from caffelog.diagnose.context import Context
from caffelog.diagnose.findings import where
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import as_int, fmt_value


class Overfitting(Rule):
    """Test net #0's loss: the median of its last `last_tests` tests is `rise` above its best
    (e.g. 1.5x), at least `min_after` tests after the best, while the train loss over the same
    stretch fell (median of the displays after the best below the median of those before it).

    It names the iteration of the best test loss: the snapshot to keep. Info, since the run
    still generalises; a warning when test accuracy fell too (by `accuracy_drop` or more).
    Why: the net memorises the training set; more iterations make it worse.
    Fix: stop (or snapshot) near the best iteration, raise weight_decay, add data or Dropout.
    """

    id = "overfitting"
    severity = "info"
    thresholds = {"rise": 0.5, "last_tests": 3, "min_after": 3, "accuracy_drop": 0.02}

    def check(self, ctx: Context):
        loss, accuracy = _test_series(ctx.tests)
        if len(loss) < self.threshold["min_after"] + 2:
            return []
        values = loss["value"].to_numpy("float64")
        best_at = int(np.nanargmin(values)) if np.isfinite(values).any() else None
        if best_at is None or len(values) - 1 - best_at < self.threshold["min_after"]:
            return []
        best, late = values[best_at], float(np.nanmedian(values[-int(self.threshold["last_tests"]):]))
        if not (best > 0 and late >= (1 + self.threshold["rise"]) * best):
            return []
        best_row = loss.iloc[best_at]
        best_it = as_int(best_row["iteration"])
        if not _train_fell_after(ctx.loss, best_it):
            return []
        evidence = [f"test loss {fmt_value(values[0])} at iteration {as_int(loss['iteration'].iloc[0])}, best "
                    f"{fmt_value(best)} at {best_it}, last {fmt_value(values[-1])} at "
                    f"{as_int(loss['iteration'].iloc[-1])}"]
        severity = "info"
        if len(accuracy):
            at_best = accuracy[(accuracy["iteration"] == best_it).fillna(False).to_numpy()]["value"]
            late_acc = float(np.nanmedian(accuracy["value"].to_numpy("float64")[-int(self.threshold["last_tests"]):]))
            if len(at_best):
                drop = float(at_best.iloc[0]) - late_acc
                evidence.append(f"test accuracy {fmt_value(float(at_best.iloc[0]))} at the best loss, "
                                f"{fmt_value(late_acc)} at the end")
                if drop >= self.threshold["accuracy_drop"]:
                    severity = "warning"
        return [self.finding(
            f"test loss rose from its best {fmt_value(best)} (iteration {best_it}) to {fmt_value(late)} "
            f"(median of the last {int(self.threshold['last_tests'])} tests) while the train loss kept falling: "
            "overfitting",
            severity=severity, advice=f"keep the snapshot nearest iteration {best_it} (snapshot interval); "
            f"weight_decay is {ctx.knob('weight_decay', 0)}: raise it, add data or Dropout",
            settings=["weight_decay", "max_iter"], segment=int(best_row["segment"]), iteration=best_it,
            last_iteration=as_int(loss["iteration"].iloc[-1]), phase="test", value=late, threshold=best,
            **where(best_row), evidence=evidence)]


def _test_series(tests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the first loss output of test net 0, its first accuracy output), one row per test."""
    net0 = tests[(tests["test_net"].fillna(0) == 0).to_numpy()]
    losses = net0[net0["weighted"].notna().to_numpy()]
    unweighted = net0["weighted"].isna().to_numpy()
    accuracies = net0[unweighted & net0["name"].astype(str).str.contains("acc", case=False).to_numpy()]
    pick = lambda df: df[(df["name"] == df["name"].iloc[0]).to_numpy()] if len(df) else df  # noqa: E731
    return pick(losses), pick(accuracies)


def _train_fell_after(train: pd.DataFrame, best_it) -> bool:
    values = train["value"].to_numpy("float64")
    after = (train["iteration"] > best_it).fillna(False).to_numpy()
    before, later = values[~after & np.isfinite(values)], values[after & np.isfinite(values)]
    return bool(len(before) and len(later) and np.median(later) < np.median(before))
