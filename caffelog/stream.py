"""`caffelog parse -o DIR` in bounded memory: tables written as Parquet row groups as the log
streams, so a 10 GB log never has its 100 million rows in memory at once.

Rows are written once their attribution is final: everything before the last
`Iteration N ..., loss` line seen (train rows there already know their iteration; test rows
know theirs from the `Testing net` line before them). The rest waits for the next flush; solver
events older than the cut are written as scalars and forgotten, so memory does not grow with the
log. The net table and solver.json are written last. The files equal what read_log() builds (a
test compares them on every real log, cut into many flushes).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import tables
from .export import OutputExistsError
from .log import CaffeLog, warnings_for
from .parser import LineParser
from .reader import CHUNK_BYTES, LogInputError, ReadStats, Source, describe, iter_chunks
from .records import RecordSink

FLUSH_ROWS = 1_000_000  # ~25 MB of pending records, ~150 MB while a flush builds its tables
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
        self.writer.write_table(pa.Table.from_pandas(df, schema=self.schema, preserve_index=False))
        self.rows += len(df)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            os.replace(self.tmp, self.path)

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.tmp.unlink(missing_ok=True)


class _Streamer:
    def __init__(self, directory: Path):
        self.sink = RecordSink()
        self.parser = LineParser(self.sink)
        self.blobs = _TableWriter(directory / "blobs.parquet")
        self.totals = _TableWriter(directory / "totals.parquet")
        self.scalars = _TableWriter(directory / "scalars.parquet")
        self.inferred = 0

    def flush(self, final: bool) -> None:
        sink = self.sink
        if not final and not len(sink.solver.loss_line):
            return
        lines, keys, values = sink.blob_columns(consume=True)
        total_lines = sink.totals.lines()
        if final:
            cut, total_cut = len(lines), len(total_lines)
        else:
            last = sink.solver.loss_line[-1]
            cut = int(np.searchsorted(lines, last))
            total_cut = int(np.searchsorted(total_lines, last))
        lo = min(int(lines[0]) if len(lines) else 1 << 62, total_lines[0] if len(total_lines) else 1 << 62)
        hi = max(int(lines[cut - 1]) if cut else 0, total_lines[total_cut - 1] if total_cut else 0)
        timeline = tables.timeline_of(sink, tables.solver_settings(sink.dumps), window=(lo, hi))
        head = tables.blobs_frame(lines[:cut], keys[:cut], values[:cut], sink.blob_keys, timeline)
        self.inferred += int(head["inferred"].sum())
        if len(head) or (final and self.blobs.writer is None):
            self.blobs.write(head)
        sink.blobs.keep_from(lines[cut:], keys[cut:], values[cut:])
        totals = tables.totals_frame(sink.totals[:total_cut], timeline)
        if len(totals) or (final and self.totals.writer is None):
            self.totals.write(totals)
        sink.totals = sink.totals[total_cut:]
        self._flush_scalars(None if final else last)

    def _flush_scalars(self, upto: int | None) -> None:
        """Write the scalars of lines before `upto` and forget the events only they needed."""
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
        scalars = tables.build_scalars(view, timeline)
        if len(scalars) or (upto is None and self.scalars.writer is None):
            self.scalars.write(scalars)

    def pending(self) -> int:
        return len(self.sink.blobs)


@dataclass
class StreamedLog:
    """What a streamed parse reports: the small tables and the warnings (blobs and totals are
    on disk only)."""

    source: str
    n_lines: int
    rows: dict[str, int]
    warnings: list[str]
    written: list[Path]


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
    s = _Streamer(out)
    stats, n = ReadStats(), 0
    try:
        for chunk in iter_chunks(source, stats, chunk_bytes):
            n += s.parser.feed_chunk(chunk, n + 1)
            if progress:
                progress(len(chunk))
            if s.pending() >= flush_rows:
                s.flush(final=False)
        if n == 0:
            raise LogInputError(f"{describe(source)}: empty input")
        if len(s.sink.skipped_lines) == n:
            raise LogInputError(f"{describe(source)}: not a Caffe log (no line was understood)")
        s.flush(final=True)
        sink = s.sink
        solvers = tables.solver_settings(sink.dumps)
        net = tables.build_net(sink)
        tmp = out / ".net.parquet.partial"
        net.to_parquet(tmp, index=False)
        os.replace(tmp, out / "net.parquet")
        (out / "solver.json").write_text(json.dumps(solvers, indent=2, default=str))
        for writer in (s.blobs, s.totals, s.scalars):
            writer.close()
    except BaseException:
        for writer in (s.blobs, s.totals, s.scalars):
            writer.abandon()
        raise
    skipped = tables.Skipped(len(sink.skipped_lines), sink.skipped_lines.tolist(),
                             dict(sink.skipped_reasons))
    rows = {"blobs": s.blobs.rows, "totals": s.totals.rows, "scalars": s.scalars.rows, "net": len(net)}
    warnings = warnings_for(rows["blobs"], rows["totals"], rows["scalars"], s.inferred, skipped, stats)
    return StreamedLog(describe(source), n, rows, warnings, [out / name for name in names])
