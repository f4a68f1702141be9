"""CaffeLog: one log's tidy tables, built from the records of a whole parse."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from caffelog.errors import UsageError
from caffelog.parse import kinds
from caffelog.parse.feed import check_understood
from caffelog.parse.records import RecordSink
from caffelog.source.chunks import ReadStats
from caffelog.tables import build as tables

NO_DEBUG_INFO = "no debug_info lines found: set `debug_info: true` in solver.prototxt"


class LogSummary(Protocol):
    """What a report says of the log itself; a CaffeLog and a streamed parse's summary both
    have it (a streamed diagnosis never holds the tables)."""

    source: str
    n_lines: int
    warnings: list[str]
    skipped: tables.Skipped


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

    def _repr_html_(self) -> str:
        """Jupyter: what was read (the tables' sizes, what was skipped), names escaped."""
        from caffelog.tables.html_table import html_table
        rows = [["source", self.source], ["lines", f"{self.n_lines:,}"], ["blob values", f"{len(self.blobs):,}"],
                ["totals (L1/L2 norms)", f"{len(self.totals):,}"], ["scalars", f"{len(self.scalars):,}"],
                ["layers", self.net["layer"].nunique()], ["skipped lines", self.skipped.count]]
        return html_table(["", ""], rows + [["warning", w] for w in self.warnings], "CaffeLog")

    def __repr__(self) -> str:
        return (f"<CaffeLog {self.source}: {len(self.blobs)} blob values, {len(self.totals)} "
                f"totals, {len(self.scalars)} scalars, {self.net['layer'].nunique()} layers, "
                f"{self.skipped.count} skipped lines>")


def build_log(sink: RecordSink, n: int, name: str, stats: ReadStats | None = None,
              consume: bool = False) -> CaffeLog:
    """Turn parsed records into the tables. consume=True moves the per-blob rows into the
    blobs table without a copy (the sink is done with afterwards)."""
    check_understood(sink, n, name)
    solvers = tables.solver_settings(sink.dumps)
    timeline = tables.timeline_of(sink, solvers)
    skipped = tables.Skipped(sink.skipped_count, sink.skipped_lines.tolist(),
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
        crashed=crashed(sink),
    )
    log.warnings.extend(_warnings(log, stats))
    return log


def crashed(sink: RecordSink) -> bool:
    """Whether the log shows a crash trace (a `Check failed` and its stack)."""
    return any(kind == kinds.CRASH_LINE for _, kind, _ in sink.events)


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
