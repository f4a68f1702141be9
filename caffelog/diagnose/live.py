"""`diagnose --follow`: print each finding once, when it first appears in a growing log."""
from __future__ import annotations

import json
import sys

import click

from caffelog import engines
from caffelog.diagnose.diagnosis import Diagnosis, worst_reaches
from caffelog.diagnose.findings import SEVERITY_RANK, Finding
from caffelog.diagnose.report import RENDERERS, finding_lines
from caffelog.diagnose.settings import Settings
from caffelog.source.tail import RESTARTED


def _identity(f: Finding) -> tuple:
    return (f.rule, f.layer, f.blob, f.segment, f.line)


def diagnose_live(path: str, settings: Settings, fmt: str, fail_fast: bool, poll: float,
                  idle_timeout: float | None) -> bool:
    """Print each finding once, when it first appears; True if one reached --fail-on.

    The log's new rows go through the rules as they arrive (a window per poll), so each poll
    costs what the log grew by, and memory stays bounded however long the run."""
    seen: set[tuple] = set()
    reached = False
    fail_on = settings.fail_on or "error"
    diagnosis = Diagnosis(settings)  # a settings error comes before the first read
    for update in engines.follow(path, poll, idle_timeout):
        if update.restarted:
            seen.clear()
            diagnosis = Diagnosis(settings)
            click.echo(RESTARTED.format(path=path), err=True)
        if not update.stream.understood():
            continue
        if update.tables is not None:
            diagnosis.observe(*update.tables)
        solvers = update.stream.solvers()
        for f in diagnosis.findings(update.stream.net(), solvers[0] if solvers else {},
                                    final=update.final):
            if _identity(f) in seen:
                continue
            seen.add(_identity(f))
            click.echo(_shown(f, fmt, path))
            sys.stdout.flush()
            reached |= worst_reaches([f], fail_on)
            if fail_fast and SEVERITY_RANK[f.severity] == 0:
                return reached
    return reached


class _Named:
    """Just enough of a log summary for the one-line renderers: its name."""

    def __init__(self, source: str):
        self.source = source


def _shown(f: Finding, fmt: str, source: str) -> str:
    """One finding as --format asks: a JSON line, a concise or GitHub line, or the text lines."""
    if fmt == "json":
        return json.dumps(f.to_dict())
    if fmt in ("concise", "github"):
        return RENDERERS[fmt](_Named(source), [f])  # type: ignore[arg-type]
    return "\n".join(finding_lines(f))
