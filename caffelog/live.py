"""What the CLI does with a growing log: print new findings, or stream new rows."""
from __future__ import annotations

import json
import sys

import click

from .diagnose import Settings, diagnose, worst_reaches
from .findings import SEVERITY_RANK, Finding
from .follow import follow
from .log import CaffeLog
from .report import finding_lines


def _identity(f: Finding) -> tuple:
    return (f.rule, f.layer, f.blob, f.segment, f.line)


def diagnose_live(path: str, settings: Settings, fmt: str, fail_fast: bool, poll: float,
                  idle_timeout: float | None) -> bool:
    """Print each finding once, when it first appears; True if one reached --fail-on."""
    seen: set[tuple] = set()
    reached = False
    fail_on = settings.fail_on or "error"

    def on_update(log: CaffeLog, restarted: bool) -> bool:
        nonlocal reached
        if restarted:
            seen.clear()
            click.echo(f"caffelog: {path} was truncated or replaced: reading it from the top", err=True)
        for f in diagnose(log, settings):
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

    follow(path, on_update, poll, idle_timeout)
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
