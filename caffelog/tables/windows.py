"""A log's tables in windows: stretches of rows in log order, handed out as the log streams.

A window is what `caffelog parse -o DIR` writes as Parquet row groups and what the rules fold
(`caffelog diagnose`), so a 10 GB log never has its 100 million rows in memory at once.

Rows are handed out once their attribution is final: everything before the last
`Iteration N ..., loss` line seen (train rows there already know their iteration; test rows
know theirs from the `Testing net` line before them). The rest waits for the next window; solver
events older than that line are turned into scalars and forgotten, so memory does not grow with
the log. Concatenated, the windows equal what read_log() builds (a test compares them on every
real log, cut into many windows).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from caffelog.parse import kinds, parallel
from caffelog.parse.feed import RecordFeed
from caffelog.parse.records import RecordSink
from caffelog.source import chunks
from caffelog.source.chunks import ReadStats, Source, describe, iter_chunks
from caffelog.tables import build as tables
from caffelog.tables.caffe_log import CaffeLog, crashed, warnings_for

Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]  # blobs, totals, scalars of one window

WINDOW_ROWS = 250_000  # blobs rows per window: ~6 MB of pending records, ~40 MB while it builds


class TableStream:
    """A log's blobs, totals and scalars tables in windows, in log order, as the log streams;
    after the last window: the net table, solver settings, skipped lines and warnings.

    Rows are handed out once their attribution is final: everything before the last
    `Iteration N ..., loss` line seen. The rest waits for the next window.
    """

    def __init__(self, source: Source, window_rows: int | None = None,
                 progress: Callable[[int], None] | None = None, chunk_bytes: int | None = None,
                 workers: int = 1, range_bytes: int | None = None):
        """workers > 1: a big plain file is parsed in byte ranges of range_bytes by that many
        worker processes while this one builds the tables (and its caller uses them)."""
        self.source, self.progress = source, progress
        self.window_rows = window_rows or WINDOW_ROWS
        self.chunk_bytes = chunk_bytes or chunks.CHUNK_BYTES
        self.workers, self.range_bytes = workers, range_bytes or parallel.RANGE_BYTES
        self.records = RecordFeed(describe(source))
        self.sink = self.records.sink
        self.stats, self.inferred = ReadStats(), 0
        self.rows = {"blobs": 0, "totals": 0, "scalars": 0}

    @property
    def n_lines(self) -> int:
        return self.records.n_lines

    def windows(self) -> Iterator[Tables]:
        """(blobs, totals, scalars) of each stretch of the log; the last one may be empty."""
        for size in self._read():
            if self.progress:
                self.progress(size)
            if len(self.sink.blobs) >= self.window_rows and self.has_final_rows():
                yield self.take(final=False)
        self.records.check_understood()
        yield self.take(final=True)

    def _read(self) -> Iterator[int]:
        """Read the log into the records, saying how many bytes each step read: by worker
        processes a range at a time where that pays (a big plain file), else chunk by chunk."""
        if parallel.usable(self.source, self.workers):
            path = os.fspath(self.source)  # type: ignore[arg-type]  # a path: usable() said so
            for result, size in parallel.parsed_ranges(path, self.workers, self.range_bytes):
                self.records.absorb(result)
                self.records.give_up_if_foreign()
                yield size
            return
        for chunk in iter_chunks(self.source, self.stats, self.chunk_bytes):
            self.feed(chunk)
            yield len(chunk)

    def feed(self, chunk: bytes) -> None:
        """Parse a chunk of whole lines (a follower feeds what the file grew by)."""
        self.records.feed(chunk)
        self.records.give_up_if_foreign()

    def has_final_rows(self) -> bool:
        """True once some rows are final: a `Iteration N ..., loss` line has been read."""
        return len(self.sink.solver.loss_line) > 0

    def understood(self) -> bool:
        return self.records.understood()

    def finished(self) -> bool:
        """The run reported its end: `Optimization Done.` or a crash trace."""
        ends = (kinds.OPTIMIZATION_DONE, kinds.CRASH_LINE)
        return any(kind in ends for _, kind, _ in self.sink.events[-50:])

    def take(self, final: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The rows whose attribution is final (final=True: every row left), as tables."""
        sink = self.sink
        lines, keys, values = sink.blob_columns(consume=True)
        total_lines = sink.totals.lines()
        if final:
            n_final, n_final_totals, last = len(lines), len(total_lines), None
        else:
            last = sink.solver.loss_line[-1]
            n_final = int(np.searchsorted(lines, last))
            n_final_totals = int(np.searchsorted(total_lines, last))
        lo = min(int(lines[0]) if len(lines) else 1 << 62, total_lines[0] if len(total_lines) else 1 << 62)
        hi = max(int(lines[n_final - 1]) if n_final else 0, total_lines[n_final_totals - 1] if n_final_totals else 0)
        timeline = tables.timeline_of(sink, tables.solver_settings(sink.dumps), span=(lo, hi))
        blobs = tables.blobs_frame(lines[:n_final], keys[:n_final], values[:n_final], sink.blob_keys, timeline)
        self.inferred += int(blobs["inferred"].sum())
        sink.blobs.keep_from(lines[n_final:], keys[n_final:], values[n_final:])
        totals = tables.totals_frame(sink.totals[:n_final_totals], timeline)
        sink.totals = sink.totals[n_final_totals:]
        scalars = self._take_scalars(last)
        if last is not None:
            sink.clock.drop_before(last)  # the rows left start at `last`
        for name, df in (("blobs", blobs), ("totals", totals), ("scalars", scalars)):
            self.rows[name] += len(df)
        return blobs, totals, scalars

    def _take_scalars(self, upto: int | None) -> pd.DataFrame:
        """The scalars of lines before `upto`; the events only they needed are forgotten."""
        sink = self.sink
        keep = (kinds.SOLVER_PARAMS, kinds.CRASH_LINE, kinds.OPTIMIZATION_DONE)  # segments, end of run
        view = RecordSink()
        view.dumps, view.clock = sink.dumps, sink.clock
        if upto is None:
            view.solver, view.events = sink.solver, sink.events
        else:  # the kept start-ups of earlier flushes are < upto too: segments stay right
            view.solver = sink.solver.split_before(upto)
            view.events = [e for e in sink.events if e[0] < upto]
            sink.events = [e for e in sink.events if e[0] >= upto or e[1] in keep]
        timeline = tables.timeline_of(view, tables.solver_settings(sink.dumps))
        return tables.build_scalars(view, timeline)

    # what is known once every window is out
    def net(self) -> pd.DataFrame:
        return tables.build_net(self.sink)

    def solvers(self) -> list[dict]:
        return tables.solver_settings(self.sink.dumps)

    def skipped(self) -> tables.Skipped:
        sink = self.sink
        return tables.Skipped(sink.skipped_count, sink.skipped_lines.tolist(), dict(sink.skipped_reasons))

    def crashed(self) -> bool:
        return crashed(self.sink)

    def warnings(self) -> list[str]:
        return warnings_for(self.rows["blobs"], self.rows["totals"], self.rows["scalars"],
                            self.inferred, self.skipped(), self.stats)


@dataclass
class StreamSummary:
    """What a streamed parse reports (the tables themselves went to disk or to the rules)."""

    source: str
    n_lines: int
    rows: dict[str, int]
    warnings: list[str]
    skipped: tables.Skipped
    written: list[Path] = field(default_factory=list)

    @classmethod
    def of(cls, s: TableStream, written: list[Path] | None = None) -> StreamSummary:
        return cls(describe(s.source), s.n_lines, dict(s.rows), s.warnings(), s.skipped(), written or [])


def windows_of(log: CaffeLog, rows: int | None = None) -> Iterator[Tables]:
    """A parsed log's tables in windows of `rows` blobs rows (with the totals and scalars of the
    same lines): slices, not copies, so a consumer's working copies stay the size of a window."""
    rows = rows or WINDOW_ROWS
    b, t, s = log.blobs, log.totals, log.scalars
    lines = b["line"].to_numpy()
    if not all((np.diff(df["line"].to_numpy()) >= 0).all() for df in (b, t, s)):
        yield b, t, s  # not in line order (built by hand?): one window
        return
    start_t = start_s = 0
    for start in range(0, max(len(b), 1), rows):
        piece = b.iloc[start:start + rows]
        last = start + rows >= len(b)
        upto = int(lines[min(start + rows, len(b)) - 1]) if len(b) else 0
        end_t = len(t) if last else int(np.searchsorted(t["line"].to_numpy(), upto, side="right"))
        end_s = len(s) if last else int(np.searchsorted(s["line"].to_numpy(), upto, side="right"))
        yield piece, t.iloc[start_t:end_t], s.iloc[start_s:end_s]
        start_t, start_s = end_t, end_s


T = TypeVar("T")


def with_last(items: Iterable[T]) -> Iterator[tuple[T, bool]]:
    """(item, is_last) for each item of an iterator, one item ahead."""
    it = iter(items)
    try:
        prev = next(it)
    except StopIteration:
        return
    for item in it:
        yield prev, False
        prev = item
    yield prev, True
