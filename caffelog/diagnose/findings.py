"""What a diagnosis rule reports: one Finding per (rule, layer) episode."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass
class Finding:
    """A problem found in the tables, with where it is and what to do about it.

    ``iteration``/``last_iteration`` bound the episode; ``line`` is the log line of the first
    piece of evidence, so the user can open the log there and check, and ``time`` how long the
    run (its segment) had been going at that line. ``settings`` names the
    solver/net fields the advice blames; ``cause`` is the id of the Cause it was grouped under.
    """

    rule: str
    severity: str
    message: str
    advice: str = ""
    segment: int | None = None
    iteration: int | None = None
    last_iteration: int | None = None
    phase: str | None = None
    direction: str | None = None
    layer: str | None = None
    blob: str | None = None
    quantity: str | None = None
    value: float | None = None
    threshold: float | None = None
    line: int | None = None
    time: float | None = None  # seconds since the segment began, at `line` (None: no timestamps)
    estimated: bool = False
    evidence: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)
    cause: str | None = None

    def to_dict(self) -> dict:
        """JSON-safe: non-finite values as the strings Caffe prints ('nan', 'inf')."""
        out = asdict(self)
        for key in ("value", "threshold"):
            v = out[key]
            if isinstance(v, float) and not math.isfinite(v):
                out[key] = "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return out


def where(row) -> dict:
    """The line of a row (a Series or a named tuple of a table), and its time where the log has one:
    the place a finding points to."""
    get: Callable[[str], Any] = row.get if hasattr(row, "get") else lambda key: getattr(row, key, None)
    time = get("time")
    ok = time is not None and not pd.isna(time)  # NaN or NA: the line had no timestamp
    return {"line": int(get("line")), "time": float(time) if ok else None}


class Findings(list):
    """A diagnosis: its findings (a list, worst first) with the causes that group them and the
    frozen layers (trained by nobody, on purpose), which a healthy report still names."""

    def __init__(self, findings=(), causes=None, frozen=None):
        super().__init__(findings)
        self.causes: list = list(causes or [])
        self.frozen: list[str] = list(frozen or [])

    def to_frame(self):
        """One row per finding (pandas), for notebooks."""
        import pandas as pd
        return pd.DataFrame([f.to_dict() for f in self], columns=list(Finding.__dataclass_fields__))

    def _repr_html_(self) -> str:
        """Jupyter: one row per finding, worst first, every name escaped."""
        from caffelog.diagnose.durations import elapsed
        from caffelog.tables.html_table import html_table
        if not self:
            return "<p>healthy: no findings</p>"
        rows = [[f.severity, f.rule, f.layer or "", _span(f), "" if f.line is None else f.line,
                 "" if f.time is None else elapsed(f.time), f.message, f.advice] for f in self]
        return html_table(["severity", "rule", "layer", "iteration", "line", "time", "finding", "fix"], rows,
                          f"{len(self)} findings, {len(self.causes)} causes")


def _span(f: Finding) -> str:
    if f.iteration is None:
        return ""
    return str(f.iteration) if f.last_iteration in (None, f.iteration) else f"{f.iteration}-{f.last_iteration}"
