"""read_log(): text in, a CaffeLog of tidy tables out."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from . import tables
from .parser import LineParser
from .reader import LogInputError, ReadStats, Source, UsageError, describe, iter_chunks
from .records import RecordSink

NO_DEBUG_INFO = "no debug_info lines found: set `debug_info: true` in solver.prototxt"
# After this many lines with nothing recognised, the input is not a Caffe log.
GIVE_UP_AFTER = 20_000


@dataclass
class CaffeLog:
    """Everything caffelog read from one log. Values in ``blobs`` are Caffe's mean absolute
    value per element (asum / count), not norms; ``totals`` holds the true L1/L2 norms."""

    source: str
    blobs: pd.DataFrame
    totals: pd.DataFrame
    scalars: pd.DataFrame
    net: pd.DataFrame
    solver: dict
    solvers: list[dict]
    skipped: tables.Skipped
    n_lines: int
    warnings: list[str] = field(default_factory=list)
    crashed: bool = False

    TABLES = ("blobs", "totals", "scalars", "net")

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.TABLES:
            raise UsageError(f"no table {name!r}; tables are {', '.join(self.TABLES)}")
        return getattr(self, name)

    def __repr__(self) -> str:
        return (f"<CaffeLog {self.source}: {len(self.blobs)} blob values, {len(self.totals)} "
                f"totals, {len(self.scalars)} scalars, {self.net['layer'].nunique()} layers, "
                f"{self.skipped.count} lines skipped>")


def parse_records(source: Source, progress: Callable[[int], None] | None = None,
                  stats: ReadStats | None = None) -> tuple[RecordSink, int]:
    """Stream the source through the grammar into a RecordSink; returns it and the line count."""
    sink = RecordSink()
    parser = LineParser(sink)
    n = 0
    for chunk in iter_chunks(source, stats):
        n += parser.feed_chunk(chunk, n + 1)
        if progress:
            progress(len(chunk))
        give_up_if_foreign(sink, n, describe(source))
    return sink, n


def give_up_if_foreign(sink: RecordSink, n: int, name: str) -> None:
    """Stop early on a big input of which nothing was understood: it is not a Caffe log."""
    if n >= GIVE_UP_AFTER and len(sink.skipped_lines) >= n:
        raise LogInputError(f"{name}: not a Caffe log (no line of the first {n} was understood)")


def check_understood(sink: RecordSink, n: int, name: str) -> None:
    """LogInputError for an empty input or one of which no line was understood."""
    if n == 0:
        raise LogInputError(f"{name}: empty input")
    if len(sink.skipped_lines) >= n:
        raise LogInputError(f"{name}: not a Caffe log (no line was understood)")


def read_log(source: Source, progress: Callable[[int], None] | None = None,
             workers: int | None = None) -> CaffeLog:
    """Parse a Caffe log: a path (plain or .gz), '-' for stdin, a file object, or lines.

    A large plain file is parsed by `workers` processes (default: up to 2 CPUs); the tables are
    identical either way. Raises LogInputError when there is nothing Caffe-like to read.
    """
    from . import parallel
    workers = default_workers() if workers is None else workers
    stats = ReadStats()
    if parallel.usable(source, workers):
        sink, n = parallel.parse_records_parallel(source, workers, progress)
    else:
        sink, n = parse_records(source, progress, stats)
    return build_log(sink, n, describe(source), stats, consume=True)


def default_workers() -> int:
    env = os.environ.get("CAFFELOG_WORKERS")
    if env and env.isdigit():
        return int(env)
    return min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 2)


def build_log(sink: RecordSink, n: int, name: str, stats: ReadStats | None = None,
              consume: bool = False) -> CaffeLog:
    """Turn parsed records into the tables. consume=True moves the per-blob rows into the
    blobs table without a copy (the sink is done with afterwards)."""
    check_understood(sink, n, name)
    solvers = tables.solver_settings(sink.dumps)
    timeline = tables.timeline_of(sink, solvers)
    skipped = tables.Skipped(len(sink.skipped_lines), sink.skipped_lines.tolist(),
                             dict(sink.skipped_reasons))
    log = CaffeLog(
        source=name,
        blobs=tables.build_blobs(sink, timeline, consume),
        totals=tables.build_totals(sink, timeline),
        scalars=tables.build_scalars(sink, timeline),
        net=tables.build_net(sink),
        solver=solvers[0] if solvers else {},
        solvers=solvers,
        skipped=skipped,
        n_lines=n,
        crashed=any(kind == "crash_line" for _, kind, _ in sink.events),
    )
    log.warnings.extend(_warnings(log, stats))
    return log


def _warnings(log: CaffeLog, stats: ReadStats | None) -> list[str]:
    return warnings_for(len(log.blobs), len(log.totals), len(log.scalars),
                        int(log.blobs["inferred"].sum()), log.skipped, stats)


def warnings_for(n_blobs: int, n_totals: int, n_scalars: int, inferred: int,
                 skipped: tables.Skipped, stats: ReadStats | None) -> list[str]:
    """What the user must know about a parse: missing debug_info, skipped lines, a cut gzip..."""
    out = []
    if not n_blobs and not n_totals:
        out.append(NO_DEBUG_INFO)
    elif not n_blobs and not n_scalars:
        out.append("only `All net params` lines: this looks like glog's ERROR or WARNING file; "
                   "the per-layer values and iterations are in the INFO file (caffe.INFO)")
    if skipped.count:
        out.append(str(skipped))
    if stats is not None and stats.truncated_gzip:
        out.append("the gzip stream ends early (file cut short); read what was there")
    if inferred:
        out.append(f"{inferred} values after the last `Iteration` line (run killed?): "
                   "iteration inferred from `display`")
    return out
