"""What rules keep between windows of the tables: a few numbers per layer, never the rows.

A rule sees the log as a sequence of windows (whole iterations each) and folds each one into
these accumulators, so a diagnosis of a 10 GB log holds a few kilobytes per layer, not its
100 million rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SAMPLE_SIZE = 1 << 16  # medians are exact up to 65,536 values per layer


class Span:
    """First row, last iteration, row count and largest value of the rows behind one finding,
    in log order: what Rule.episode needs to say where an episode starts and ends."""

    __slots__ = ("_first", "last_iteration", "n", "max")

    def __init__(self) -> None:
        self._first: pd.Series | None = None
        self.last_iteration = None
        self.n = 0
        self.max = float("nan")

    @classmethod
    def of(cls, rows: pd.DataFrame) -> Span:
        span = cls()
        span.add(rows)
        return span

    def add(self, rows: pd.DataFrame) -> None:
        if len(rows):
            values = rows["value"].to_numpy() if "value" in rows else None
            self.extend(rows, 0, len(rows) - 1, values)

    def extend(self, rows: pd.DataFrame, first: int, last: int, values: np.ndarray | None) -> None:
        """Add the rows of `rows` from position first to last (in log order) whose values
        are `values` (None: no value column)."""
        if self._first is None:
            self._first = rows.iloc[first]
        self.last_iteration = rows["iteration"].iloc[last]
        self.n += len(values) if values is not None else last - first + 1
        if values is not None and not np.isnan(values).all():
            self.max = float(np.fmax(self.max, np.nanmax(values)))  # NaN-skipping, like pandas

    @property
    def first(self) -> pd.Series:
        """The first row (a rule asks only once the span holds rows)."""
        if self._first is None:
            raise ValueError("an empty Span has no first row")
        return self._first

    def __bool__(self) -> bool:
        return self.n > 0


class EvenSample:
    """Every k-th value of a series, k doubling whenever more than `size` are kept: an evenly
    spaced sample of the whole run in bounded memory. Below `size` values it holds them all,
    so its median is exact; above, it is the median of an even sample of the run.
    NaN values are not kept (pandas' median skips them too)."""

    __slots__ = ("size", "stride", "seen", "parts", "kept")

    def __init__(self, size: int = SAMPLE_SIZE) -> None:
        self.size, self.stride, self.seen = size, 1, 0
        self.parts: list[np.ndarray] = []
        self.kept = 0

    def add(self, values) -> None:
        v = np.asarray(values, dtype=np.float64)
        v = v[~np.isnan(v)]
        start = (-self.seen) % self.stride  # keep the values whose run-wide index is a multiple of stride
        self.seen += len(v)
        picked = v[start::self.stride].copy()
        self.parts.append(picked)
        self.kept += len(picked)
        if self.kept > self.size:
            self._thin()

    def _thin(self) -> None:
        kept = np.concatenate(self.parts)
        while len(kept) > self.size:
            kept = kept[::2]
            self.stride *= 2
        self.parts, self.kept = [kept], len(kept)

    def values(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.empty(0)

    def median(self, scale: float = 1.0) -> float:
        """The median of the kept values, each divided by scale (a factor known only once the
        log is read)."""
        v = self.values()
        if scale != 1.0:
            v = v / scale
        return float(np.median(v)) if len(v) else float("nan")


class LayerSpans(dict):
    """Span (and optionally EvenSample) per layer, in order of first appearance."""

    def __init__(self, sample: bool = False) -> None:
        super().__init__()
        self.samples: dict[str, EvenSample] | None = {} if sample else None

    def add(self, rows: pd.DataFrame) -> None:
        if not len(rows):
            return
        codes, names = layer_codes(rows["layer"])
        order = np.argsort(codes, kind="stable")  # each layer's rows together, in log order
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        starts, ends = np.r_[0, bounds], np.r_[bounds, len(order)]
        values = rows["value"].to_numpy()[order]
        for start, end in sorted(zip(starts, ends), key=lambda se: order[se[0]]):
            name = str(names[codes[order[start]]])
            span = self.get(name)
            if span is None:
                span = self[name] = Span()
            span.extend(rows, order[start], order[end - 1], values[start:end])
            if self.samples is not None:
                self.samples.setdefault(name, EvenSample()).add(values[start:end])

    def median(self, layer: str, scale: float = 1.0) -> float:
        sample = (self.samples or {}).get(layer)
        return sample.median(scale) if sample is not None else float("nan")


def layer_codes(layer: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """(an integer code per row, the names the codes index) of a layer column, categorical
    (no work) or not (tables glued from windows may have lost their categories)."""
    if hasattr(layer, "cat"):
        return layer.cat.codes.to_numpy(), layer.cat.categories
    codes, names = pd.factorize(layer)
    return codes, pd.Index(names)
