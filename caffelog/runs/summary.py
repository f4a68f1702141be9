"""A sweep at a glance: one row per run, worst first, as `caffelog diagnose LOG...` prints it."""
from __future__ import annotations

import math
from dataclasses import dataclass

from caffelog.diagnose.durations import elapsed
from caffelog.diagnose.findings import SEVERITY_RANK, Findings
from caffelog.printable import clean
from caffelog.runs.facts import RunFacts

COLUMNS = ("run", "worst", "headline cause", "first nan/inf", "train loss best / final", "best test",
           "iterations", "wall-clock")
HEADLINE_WIDTH = 48


@dataclass
class RunRow:
    """One run of the summary; `worst` is 'error', 'warning', 'info', 'healthy' or 'unreadable'."""

    run: str
    worst: str
    cause: str = ""
    first_non_finite: int | None = None
    best_loss: float | None = None
    final_loss: float | None = None
    test_metric: str | None = None
    best_test: float | None = None
    iterations: str = ""
    seconds: float | None = None

    @classmethod
    def of(cls, run: str, findings: Findings, facts: RunFacts) -> RunRow:
        causes = getattr(findings, "causes", [])
        worst = min((f.severity for f in findings), key=SEVERITY_RANK.__getitem__, default="healthy")
        if worst == "info":
            worst = "healthy"  # info only: nothing to fix, as the text report says
        nan = next((f.iteration for f in findings if f.rule == "non-finite"), None)
        head = f"{causes[0].id}: {causes[0].headline}" if causes and causes[0].severity != "info" else ""
        its = "" if facts.first_iteration is None else f"{facts.first_iteration}-{facts.last_iteration}"
        return cls(run, worst, head, nan, facts.best_loss, facts.final_loss, facts.test_metric, facts.best_test,
                   its + (f" ({facts.segments} segments)" if facts.segments > 1 else ""), facts.seconds)

    def cells(self) -> list[str]:
        head = clean(self.cause)
        if len(head) > HEADLINE_WIDTH:
            head = head[:HEADLINE_WIDTH - 1] + "…"
        loss = "" if self.final_loss is None else f"{_num(self.best_loss)} / {_num(self.final_loss)}"
        test = "" if self.best_test is None else f"{clean(self.test_metric)} {_num(self.best_test)}"
        return [clean(self.run), self.worst, head, "" if self.first_non_finite is None else str(self.first_non_finite),
                loss, test, self.iterations, "" if self.seconds is None else elapsed(self.seconds)]

    def to_dict(self) -> dict:
        return {key: (str(v) if isinstance(v, float) and not math.isfinite(v) else v)
                for key, v in self.__dict__.items()}


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def render_summary(rows: list[RunRow]) -> str:
    """The rows worst first (then by name) as an aligned text table."""
    order = {"unreadable": -1, "healthy": 3, **SEVERITY_RANK}
    table = [list(COLUMNS)] + [r.cells() for r in sorted(rows, key=lambda r: (order[r.worst], r.run))]
    widths = [max(len(row[k]) for row in table) for k in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)
