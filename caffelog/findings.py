"""What a diagnosis rule reports: one Finding per (rule, layer) episode."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass
class Finding:
    """A problem found in the tables, with where it is and what to do about it.

    ``iteration``/``last_iteration`` bound the episode; ``line`` is the log line of the first
    piece of evidence, so the user can open the log there and check.
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
    estimated: bool = False
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe: non-finite values as the strings Caffe prints ('nan', 'inf')."""
        out = asdict(self)
        for key in ("value", "threshold"):
            v = out[key]
            if isinstance(v, float) and not math.isfinite(v):
                out[key] = "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return out
