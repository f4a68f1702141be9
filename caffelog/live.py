"""What the CLI does with a growing log: print new findings, or stream new rows."""
from __future__ import annotations

import json
import sys

import click

from .diagnose import Diagnosis, Settings, worst_reaches
from .findings import SEVERITY_RANK, Finding
from .follow import finished, follow, follow_chunks
from .log import CaffeLog
from .report import finding_lines
from .stream import TableStream


def _identity(f: Finding) -> tuple:
    return (f.rule, f.layer, f.blob, f.segment, f.line)


def diagnose_live(path: str, settings: Settings, fmt: str, fail_fast: bool, poll: float,
                  idle_timeout: float | None) -> bool:
    """Print each finding once, when it first appears; True if one reached --fail-on.

    The log's new rows go through the rules as they arrive (a window per poll), so each poll
    costs what the log grew by, and memory stays bounded however long the run."""
    seen: set[tuple] = set()
    reached = stopped = False
    fail_on = settings.fail_on or "error"
    stream, diagnosis = TableStream(path), Diagnosis(settings)

    def report(final: bool) -> bool:
        """Print the new findings; False when --fail-fast met an error."""
        nonlocal reached
        if final or stream.can_cut():
            diagnosis.observe(*stream.cut(final=final))
        solvers = stream.solvers()
        for f in diagnosis.findings(stream.net(), solvers[0] if solvers else {}, final=final):
            if _identity(f) in seen:
                continue
            seen.add(_identity(f))
            if fmt == "json":
                click.echo(json.dumps(f.to_dict()))
            else:
                click.echo("\n".join(finding_lines(f)))
            sys.stdout.flush()
            reached |= worst_reaches([f], fail_on)
            if fail_fast and SEVERITY_RANK[f.severity] == 0:
                return False
        return True

    def on_chunk(chunk: bytes, restarted: bool) -> bool:
        nonlocal stream, diagnosis, stopped
        if restarted:
            seen.clear()
            stream, diagnosis = TableStream(path), Diagnosis(settings)
            click.echo(f"caffelog: {path} was truncated or replaced: reading it from the top", err=True)
        stream.feed(chunk)
        if not stream.understood():
            return True
        done = finished(stream.sink)
        stopped = not report(final=done) or done
        return not stopped

    follow_chunks(path, on_chunk, poll, idle_timeout)
    if not stopped and stream.understood():  # idle: the rows after the last loss line too
        report(final=True)
    return reached


def stream_rows(path: str, poll: float, idle_timeout: float | None) -> None:
    """Blob rows as CSV on stdout, each printed once its iteration is known."""
    printed_upto = 0
    header = True

    def on_update(log: CaffeLog, restarted: bool) -> bool:
        nonlocal printed_upto, header
        if restarted:
            printed_upto = 0
            click.echo(f"caffelog: {path} was truncated or replaced: reading it from the top", err=True)
        b = log.blobs
        ready = b[(b["line"] > printed_upto) & ~b["inferred"] & b["iteration"].notna()]
        if len(ready):
            ready.to_csv(sys.stdout, index=False, header=header)
            sys.stdout.flush()
            header = False
            printed_upto = int(ready["line"].max())
        return True

    follow(path, on_update, poll, idle_timeout)
