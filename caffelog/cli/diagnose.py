"""`caffelog diagnose`: what went wrong in a log, or in each of many (a summary table first)."""
from __future__ import annotations

import json
import sys

import click

from caffelog.cli.common import (
    EXIT_FINDINGS,
    LOGS_ARG,
    UsageError,
    clean,
    expand_logs,
    friendly_errors,
    one_log,
    progress_lines,
    reading_options,
)

FORMATS = ("text", "json", "markdown", "concise", "github")


@click.command()
@LOGS_ARG
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Report format: concise is one `path:line: rule severity message` line per finding; "
                   "github, GitHub Actions annotations.")
@click.option("--select", multiple=True, metavar="RULE", help="Run only these rules (repeatable).")
@click.option("--ignore", multiple=True, metavar="RULE", help="Skip these rules (repeatable).")
@click.option("--threshold", multiple=True, metavar="RULE.NAME=VALUE",
              help="Override a rule threshold, e.g. exploding.value=1e9 (repeatable).")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info", "never"]), default=None,
              help="Exit 1 when a finding is at least this severe.  [default: error]")
@click.option("-v", "--verbose", is_flag=True, help="After the causes, list every finding with its own fix.")
@click.option("--follow", is_flag=True,
              help="Keep reading LOG (a file, a FIFO or - for a pipe) as it grows; print events (nan/inf, "
                   "explosions) as they appear and the verdicts on the run when it ends.")
@click.option("--fail-fast", is_flag=True, help="With --follow: exit 1 at the first error-level finding.")
@reading_options
@friendly_errors
def diagnose(logs, fmt, select, ignore, threshold, fail_on, verbose, follow, fail_fast, poll, idle_timeout,
             no_cache, show_skipped, workers, scheduler) -> None:
    """Find what went wrong in LOGS, and why: causes first (first NaN, divergence, an lr step,
    dead ReLUs, saturation, weight decay, a loss at chance), each with the settings to change.

    \b
      caffelog diagnose train.log
      caffelog diagnose runs/                 # every log under runs/: a summary table, then each run
      caffelog diagnose runs/ --format concise | grep non-finite

    Settings may also come from [tool.caffelog] in a pyproject.toml, or a caffelog.toml,
    next to each log (select, ignore, fail-on, [thresholds.RULE] NAME = VALUE).
    Exit status: 0 nothing reached --fail-on, 1 something did (in any run), 2 bad input or usage
    (of many logs: only when none could be read).
    """
    from caffelog.diagnose.settings import Settings, parse_threshold
    cli = Settings(list(select), list(ignore), {}, fail_on)
    for text in threshold:
        rule, name, value = parse_threshold(text)
        cli.thresholds.setdefault(rule, {})[name] = value
    if one_log(logs) and not scheduler:
        _one(logs[0], cli, fmt, verbose, follow, fail_fast, poll, idle_timeout, no_cache, show_skipped)
    if follow or show_skipped:
        raise UsageError(f"{'--follow' if follow else '--show-skipped'} reads one log: give one path")
    _many(expand_logs(logs).logs, cli, fmt, verbose, no_cache, workers, scheduler)


def _one(log, cli, fmt, verbose, follow, fail_fast, poll, idle_timeout, no_cache, show_skipped) -> None:
    from caffelog.diagnose.diagnosis import worst_reaches
    from caffelog.diagnose.report import RENDERERS, render_text
    from caffelog.diagnose.settings import load_settings
    settings = load_settings(log).merged(cli)
    if follow:
        if fmt == "markdown":
            raise UsageError("--follow prints findings as they come: --format text, json, concise or github")
        from caffelog.diagnose.live import diagnose_live
        worst = diagnose_live(log, settings, fmt, fail_fast, poll, idle_timeout)
        sys.exit(EXIT_FINDINGS if worst else 0)
    from caffelog.api import diagnose_source
    summary, findings = diagnose_source(log, settings, use_cache=not no_cache, progress=fmt == "text")
    if show_skipped and summary.skipped.count:
        click.echo("skipped lines: " + " ".join(map(str, summary.skipped.lines)), err=True)
    text = render_text(summary, findings, verbose) if fmt == "text" else RENDERERS[fmt](summary, findings)
    if text:
        click.echo(text)
    sys.exit(EXIT_FINDINGS if worst_reaches(findings, settings.fail_on or "error") else 0)


def _many(logs, cli, fmt, verbose, no_cache, workers, scheduler) -> None:
    """A summary table (text), then each run's report; exit status: the worst of the runs."""
    from caffelog.api import diagnose_runs
    from caffelog.diagnose.diagnosis import worst_reaches
    from caffelog.diagnose.report import RENDERERS, render_text, to_dict
    from caffelog.output.plot import run_labels
    from caffelog.runs.pool import Failed
    from caffelog.runs.summary import RunRow, render_summary
    results = diagnose_runs(logs, cli, use_cache=not no_cache, workers=workers, scheduler=scheduler,
                            on_done=progress_lines)
    labels = run_labels(logs)
    failed = [r for r in results if isinstance(r, Failed)]
    for failure in failed:
        click.echo(f"caffelog: error: {clean(failure.message)}", err=True)
    read = [(label, r) for label, r in zip(labels, results) if not isinstance(r, Failed)]
    if not read:
        raise UsageError(f"none of the {len(logs)} logs could be read")
    if fmt == "json":
        click.echo(json.dumps([{"run": label, **r.row(label).to_dict(), "report": to_dict(r.summary, r.findings)}
                               for label, r in read], indent=2))
    elif fmt in ("concise", "github"):
        text = "\n".join(t for _, r in read if (t := RENDERERS[fmt](r.summary, r.findings)))
        if text:
            click.echo(text)
    else:
        rows = [r.row(label) for label, r in read] + [RunRow(r.source, "unreadable") for r in failed]
        render = (lambda s, f: render_text(s, f, verbose)) if fmt == "text" else RENDERERS[fmt]
        click.echo(render_summary(rows) if fmt == "text" else _markdown_summary(rows))
        for _, r in read:
            click.echo("\n" + render(r.summary, r.findings))
    sys.exit(EXIT_FINDINGS if any(worst_reaches(r.findings, r.fail_on) for _, r in read) else 0)


def _markdown_summary(rows) -> str:
    from caffelog.diagnose.report import md_escape
    from caffelog.runs.summary import COLUMNS
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(md_escape(c) for c in row.cells()) + " |" for row in rows]
    return "\n".join(lines)
