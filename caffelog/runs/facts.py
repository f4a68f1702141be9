"""The few numbers a sweep's summary shows of each run, folded from the same windows of tables
the diagnosis reads (so a run is read once, in bounded memory)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

# test outputs where higher is better; any other output (a loss) is best when lowest
HIGHER_IS_BETTER = ("accuracy", "acc", "top-1", "top-5", "top1", "top5", "map", "auc", "iou", "precision", "recall")


@dataclass
class RunFacts:
    """Headline numbers of one run: iterations, wall-clock, train loss, the best test output."""

    first_iteration: int | None = None
    last_iteration: int | None = None
    segments: int = 0
    seconds: float | None = None  # each segment's last timestamp, added up
    final_loss: float | None = None
    best_loss: float | None = None
    test_metric: str | None = None  # e.g. 'test#0 accuracy'
    best_test: float | None = None
    _segment_end: dict[int, float] = field(default_factory=dict, repr=False)
    _tests: dict[str, float] = field(default_factory=dict, repr=False)

    def observe(self, blobs: pd.DataFrame, totals: pd.DataFrame, scalars: pd.DataFrame) -> None:
        """Fold one window (the tables' rows of a stretch of lines)."""
        for table in (blobs, totals, scalars):
            self._times(table)
        if len(scalars):
            self._iterations(scalars)
            self._losses(scalars)
            self._test_outputs(scalars)

    def _times(self, table: pd.DataFrame) -> None:
        if not len(table):
            return
        ends = table.groupby("segment", observed=True)["time"].max().dropna()
        for segment, end in ends.items():
            self._segment_end[int(segment)] = max(self._segment_end.get(int(segment), -math.inf), float(end))
        self.seconds = sum(self._segment_end.values()) if self._segment_end else None

    def _iterations(self, scalars: pd.DataFrame) -> None:
        its = scalars["iteration"].dropna()
        if len(its):
            lo, hi = int(its.min()), int(its.max())
            self.first_iteration = lo if self.first_iteration is None else min(lo, self.first_iteration)
            self.last_iteration = hi if self.last_iteration is None else max(hi, self.last_iteration)
        self.segments = max(self.segments, int(scalars["segment"].max()) + 1)

    def _losses(self, scalars: pd.DataFrame) -> None:
        s = scalars
        train = s[(s["phase"] == "train") & (s["source"] == "iteration") & (s["name"] == "loss")]
        if not len(train):
            return
        self.final_loss = float(train["value"].iloc[-1])
        finite = train["value"][train["value"].map(math.isfinite)]
        if len(finite):
            low = float(finite.min())
            self.best_loss = low if self.best_loss is None else min(low, self.best_loss)

    def _test_outputs(self, scalars: pd.DataFrame) -> None:
        test = scalars[(scalars["phase"] == "test") & (scalars["source"] == "output")]
        for (net, name), values in test.groupby(["test_net", "name"], observed=True)["value"]:
            finite = values[values.map(math.isfinite)]
            if not len(finite):
                continue
            key = f"test#{net} {name}"
            best = float(finite.max() if _higher_is_better(str(name)) else finite.min())
            old = self._tests.get(key)
            self._tests[key] = best if old is None else (max if _higher_is_better(str(name)) else min)(old, best)
        if self._tests:  # the headline: an accuracy-like output of test net 0 if there is one
            keys = sorted(self._tests, key=lambda k: (not _higher_is_better(k.split(" ", 1)[1]), k))
            self.test_metric, self.best_test = keys[0], self._tests[keys[0]]


def _higher_is_better(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in HIGHER_IS_BETTER)
