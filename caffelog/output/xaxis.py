"""What a figure's x axis counts: iterations (the default) or wall-clock time.

The tables' `time` is seconds since the row's segment began. On a time axis a resumed log's
segments follow each other (segment k starts where segment k-1's last row was), so a run reads as
one stretch of training time with the resume points marked, and the unit follows the span:
seconds, minutes or hours.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from caffelog.errors import UsageError
from caffelog.tables.caffe_log import CaffeLog

X_AXES = ("iteration", "time")
_UNITS = ((120.0, 1.0, "s"), (2 * 3600.0, 60.0, "min"), (np.inf, 3600.0, "h"))


@dataclass
class XAxis:
    """Iterations, or time in `unit` (`scale` seconds each) with each log's segment offsets."""

    kind: str = "iteration"
    scale: float = 1.0
    unit: str = ""
    offsets: list[dict[int, float]] = field(default_factory=list)  # per log: segment -> seconds

    @property
    def label(self) -> str:
        if self.kind == "iteration":
            return "iteration"
        resumed = any(len(segments) > 1 for segments in self.offsets)
        return f"wall-clock time since the run started ({self.unit}){'; segments end to end' if resumed else ''}"

    def values(self, rows: pd.DataFrame, log_index: int = 0) -> np.ndarray:
        """The x of each row."""
        if self.kind == "iteration":
            return rows["iteration"].to_numpy(dtype=float)
        offset = rows["segment"].map(self.offsets[log_index]).to_numpy(dtype=float)
        return (rows["time"].to_numpy(dtype=float) + offset) / self.scale

    def at_start(self, rows: pd.DataFrame, segment: int, log_index: int = 0) -> float:
        """Where a segment begins on this axis."""
        if self.kind == "iteration":
            return float(rows.loc[rows["segment"] == segment, "iteration"].min())
        return self.offsets[log_index][segment] / self.scale

    def describe(self, x: float) -> str:
        """A position in words: `iteration 120`, `1.5 h`."""
        return f"iteration {x:g}" if self.kind == "iteration" else f"{x:.3g} {self.unit}"


def x_axis(logs: Sequence[CaffeLog], kind: str = "iteration") -> XAxis:
    """The axis for these logs; UsageError where time is asked of a log without timestamps."""
    if kind not in X_AXES:
        raise UsageError(f"--x {kind}: choose one of {', '.join(X_AXES)}")
    if kind == "iteration":
        return XAxis()
    offsets, span = [], 0.0
    for log in logs:
        ends = _segment_ends(log)
        if ends.empty:
            raise UsageError(f"{log.source}: no line has a timestamp, so --x time cannot be drawn")
        starts = ends.shift(1, fill_value=0.0).cumsum()
        offsets.append({int(seg): float(at) for seg, at in starts.items()})
        span = max(span, float(ends.sum()))
    scale, unit = next((scale, unit) for limit, scale, unit in _UNITS if span < limit)
    return XAxis("time", scale, unit, offsets)


def _segment_ends(log: CaffeLog) -> pd.Series:
    """Each segment's last time (seconds since it began), over every table."""
    parts = [df.groupby("segment")["time"].max() for df in (log.scalars, log.totals, log.blobs)
             if "time" in df and len(df)]
    if not parts:
        return pd.Series(dtype=float)
    return pd.concat(parts, axis=1).max(axis=1).dropna().sort_index()
