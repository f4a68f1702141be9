"""A log's tables in windows as it streams, for `caffelog parse -o DIR` (Parquet row groups)
and `caffelog diagnose` (rules fold each window): a 10 GB log never has its 100 million rows in
memory at once.

Rows are written once their attribution is final: everything before the last
`Iteration N ..., loss` line seen (train rows there already know their iteration; test rows
know theirs from the `Testing net` line before them). The rest waits for the next window; solver
events older than the cut are written as scalars and forgotten, so memory does not grow with the
log. The net table and solver.json are written last. The files equal what read_log() builds (a
test compares them on every real log, cut into many flushes).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import tables
from .export import OutputExistsError
from .log import CaffeLog, check_understood, give_up_if_foreign, warnings_for
from .parser import LineParser
from .reader import CHUNK_BYTES, ReadStats, Source, describe, iter_chunks
from .records import RecordSink

FLUSH_ROWS = 250_000  # ~6 MB of pending records, ~40 MB while a window builds its tables
DICTIONARY = {"phase", "direction", "layer", "role", "blob", "quantity", "source", "name"}


@dataclass
class _TableWriter:
    """One Parquet file written in row groups under a temporary name, renamed when complete."""

    path: Path
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    rows: int = 0
    tmp: Path = field(init=False)

    def __post_init__(self) -> None:
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")

    def write(self, df: pd.DataFrame) -> None:
        if self.writer is None:
            schema = pa.Schema.from_pandas(df, preserve_index=False)
            for i, f in enumerate(schema):
                if f.name in DICTIONARY:  # categories grow as the log goes on: one schema for all
                    schema = schema.set(i, pa.field(f.name, pa.dictionary(pa.int32(), pa.string())))
            self.schema, self.writer = schema, pq.ParquetWriter(self.tmp, schema)
        self.writer.write_table(pa.Table.from_pandas(df, schema=self.schema, preserve_index=False),
                                row_group_size=FLUSH_ROWS)
        self.rows += len(df)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            os.replace(self.tmp, self.path)

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.tmp.unlink(missing_ok=True)


class TableStream:
    """A log's blobs, totals and scalars tables in windows, in log order, as the log streams;
    after the last window: the net table, solver settings, skipped lines and warnings.

    Rows are handed out once their attribution is final: everything before the last
    `Iteration N ..., loss` line seen. The rest waits for the next window.
    """

    def __init__(self, source: Source, flush_rows: int | None = None, progress=None,
                 chunk_bytes: int | None = None):
        self.source, self.progress = source, progress
        self.flush_rows, self.chunk_bytes = flush_rows or FLUSH_ROWS, chunk_bytes or CHUNK_BYTES
        self.sink = RecordSink()
        self.parser = LineParser(self.sink)
        self.stats, self.n_lines, self.inferred = ReadStats(), 0, 0
        self.rows = {"blobs": 0, "totals": 0, "scalars": 0}

    def windows(self) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
        """(blobs, totals, scalars) of each stretch of the log; the last one may be empty."""
        for chunk in iter_chunks(self.source, self.stats, self.chunk_bytes):
            self.feed(chunk)
            if self.progress:
                self.progress(len(chunk))
            if len(self.sink.blobs) >= self.flush_rows and self.can_cut():
                yield self.cut(final=False)
        self.check_understood()
        yield self.cut(final=True)

    def feed(self, chunk: bytes) -> None:
        """Parse a chunk of whole lines (a follower feeds what the file grew by)."""
        self.n_lines += self.parser.feed_chunk(chunk, self.n_lines + 1)
        give_up_if_foreign(self.sink, self.n_lines, describe(self.source))

    def can_cut(self) -> bool:
        """True once some rows are final: a `Iteration N ..., loss` line has been read."""
        return len(self.sink.solver.loss_line) > 0

    def understood(self) -> bool:
        return self.n_lines > len(self.sink.skipped_lines)

    def check_understood(self) -> None:
        check_understood(self.sink, self.n_lines, describe(self.source))

    def cut(self, final: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The rows whose attribution is final (final=True: every row left), as tables."""
        sink = self.sink
        lines, keys, values = sink.blob_columns(consume=True)
        total_lines = sink.totals.lines()
        if final:
            cut, total_cut, last = len(lines), len(total_lines), None
        else:
            last = sink.solver.loss_line[-1]
            cut = int(np.searchsorted(lines, last))
            total_cut = int(np.searchsorted(total_lines, last))
        lo = min(int(lines[0]) if len(lines) else 1 << 62, total_lines[0] if len(total_lines) else 1 << 62)
        hi = max(int(lines[cut - 1]) if cut else 0, total_lines[total_cut - 1] if total_cut else 0)
        timeline = tables.timeline_of(sink, tables.solver_settings(sink.dumps), window=(lo, hi))
        blobs = tables.blobs_frame(lines[:cut], keys[:cut], values[:cut], sink.blob_keys, timeline)
        self.inferred += int(blobs["inferred"].sum())
        sink.blobs.keep_from(lines[cut:], keys[cut:], values[cut:])
        totals = tables.totals_frame(sink.totals[:total_cut], timeline)
        sink.totals = sink.totals[total_cut:]
        scalars = self._cut_scalars(last)
        for name, df in (("blobs", blobs), ("totals", totals), ("scalars", scalars)):
            self.rows[name] += len(df)
        return blobs, totals, scalars

    def _cut_scalars(self, upto: int | None) -> pd.DataFrame:
        """The scalars of lines before `upto`; the events only they needed are forgotten."""
        sink = self.sink
        keep = ("solver_params", "crash_line", "optimization_done")  # segments, end of run
        view = RecordSink()
        view.dumps = sink.dumps
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
        return tables.Skipped(len(sink.skipped_lines), sink.skipped_lines.tolist(), dict(sink.skipped_reasons))

    def crashed(self) -> bool:
        return any(kind == "crash_line" for _, kind, _ in self.sink.events)

    def warnings(self) -> list[str]:
        return warnings_for(self.rows["blobs"], self.rows["totals"], self.rows["scalars"],
                            self.inferred, self.skipped(), self.stats)


class TableFiles:
    """The blobs, totals and scalars windows of a TableStream written into a directory."""

    NAMES = ("blobs", "totals", "scalars")

    def __init__(self, directory: Path):
        self.writers = {name: _TableWriter(directory / f"{name}.parquet") for name in self.NAMES}

    def write(self, blobs: pd.DataFrame, totals: pd.DataFrame, scalars: pd.DataFrame,
              final: bool = False) -> None:
        for name, df in zip(self.NAMES, (blobs, totals, scalars)):
            writer = self.writers[name]
            if len(df) or (final and writer.writer is None):  # an empty table still gets a file
                writer.write(df)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()

    def abandon(self) -> None:
        for writer in self.writers.values():
            writer.abandon()


@dataclass
class StreamedLog:
    """What a streamed parse reports (the tables themselves went to disk or to the rules)."""

    source: str
    n_lines: int
    rows: dict[str, int]
    warnings: list[str]
    skipped: tables.Skipped
    written: list[Path] = field(default_factory=list)

    @classmethod
    def of(cls, s: TableStream, written: list[Path] | None = None) -> "StreamedLog":
        return cls(describe(s.source), s.n_lines, dict(s.rows), s.warnings(), s.skipped(), written or [])


def write_tables(source: Source, directory: str, force: bool = False,
                 flush_rows: int = FLUSH_ROWS, progress=None,
                 chunk_bytes: int = CHUNK_BYTES) -> StreamedLog:
    """Parse source and write every table into directory, holding at most about flush_rows
    per-blob rows (checked after each chunk of chunk_bytes) in memory."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"{t}.parquet" for t in CaffeLog.TABLES] + ["solver.json"]
    if not force and (existing := [n for n in names if (out / n).exists()]):
        raise OutputExistsError(f"{out / existing[0]} exists (use --force to overwrite)")
    s = TableStream(source, flush_rows, progress, chunk_bytes)
    files = TableFiles(out)
    try:
        for window, last in with_last(s.windows()):
            files.write(*window, final=last)
        net = s.net()
        tmp = out / ".net.parquet.partial"
        net.to_parquet(tmp, index=False)
        os.replace(tmp, out / "net.parquet")
        (out / "solver.json").write_text(json.dumps(s.solvers(), indent=2, default=str))
        files.close()
    except BaseException:
        files.abandon()
        raise
    result = StreamedLog.of(s, [out / name for name in names])
    result.rows["net"] = len(net)
    return result


def with_last(items):
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
