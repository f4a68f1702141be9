"""The `caffelog` command: thin click wrappers around the library.

Exit status: 0 success; 1 a diagnosis finding reached --fail-on; 2 bad input or usage.
"""
from __future__ import annotations

import functools
import gc
import os
import sys
from typing import TYPE_CHECKING

import click

from caffelog.errors import LogInputError, UsageError
from caffelog.version import __version__

if TYPE_CHECKING:
    from caffelog.tables.caffe_log import CaffeLog, LogSummary

# CaffeLog.TABLES, spelled out so that --help needs no pandas (tests/test_cli.py checks it)
TABLES = ("blobs", "totals", "scalars", "net")

EXIT_FINDINGS, EXIT_BAD_INPUT = 1, 2


def _fail(message: str) -> None:
    click.echo(f"caffelog: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def friendly_errors(func):
    """One clear line on stderr and exit 2 for bad input; never a traceback for it."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (LogInputError, UsageError) as exc:
            _fail(str(exc))
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)  # reader went away (| head): not an error
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            click.echo("caffelog: interrupted", err=True)
            sys.exit(130)
        except OSError as exc:  # the last net: a system error is one line too, never a traceback
            _fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}")
    return wrapper


def load(path: str, use_cache: bool = True, quiet: bool = False,
         layers: list[str] | None = None) -> CaffeLog:
    """Read a log, with a progress bar on a terminal and the parse cache unless disabled
    (from the cache, only the blobs rows of `layers` if given)."""
    from caffelog.api import load as load_log
    return load_log(path, use_cache=use_cache, progress=not quiet, layers=layers)


def _warn(log: LogSummary, show_skipped: bool = False) -> None:
    for warning in log.warnings:
        click.echo(f"caffelog: warning: {warning}", err=True)
    if show_skipped and log.skipped.count:
        click.echo("skipped lines: " + " ".join(map(str, log.skipped.lines)), err=True)


LOG_ARG = click.argument("log", type=click.Path(dir_okay=True, allow_dash=True))
NO_CACHE = click.option("--no-cache", is_flag=True, help="Parse again even if a cached parse exists.")


class Seconds(click.ParamType):
    """A duration: a finite number of seconds above 0 (nan, inf, 0 and negatives are refused)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not 0 < seconds < 1e9:  # False for nan too
            self.fail(f"{value!r} is not a duration above 0 seconds", param, ctx)
        return seconds


POLL = click.option("--poll", type=Seconds(), default=1.0, show_default=True,
                    help="With --follow: seconds between reads.")
IDLE_TIMEOUT = click.option("--idle-timeout", type=Seconds(), default=None,
                            help="With --follow: stop after this many seconds without new lines.")
SHOW_SKIPPED = click.option("--show-skipped", is_flag=True, help="List the line numbers that were skipped.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="caffelog")
def main() -> None:
    """Turn Caffe training logs (debug_info: true) into tidy tables, diagnoses and plots.

    Per-blob values in Caffe's debug lines are the MEAN ABSOLUTE VALUE per element
    (asum/count), not norms; only the `All net params` line gives true L1/L2 norms.
    """


@main.command()
@LOG_ARG
@click.option("-o", "--output", metavar="PATH",
              help="Directory (every table as Parquet), a .parquet/.csv/.json file, or - for CSV on stdout.")
@click.option("--table", type=click.Choice(TABLES), default="blobs", show_default=True,
              help="Which table to write when OUTPUT is a file or -.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.option("--follow", is_flag=True,
              help="Keep reading LOG as it grows; stream the blobs table as CSV rows once attributed.")
@POLL
@IDLE_TIMEOUT
@NO_CACHE
@SHOW_SKIPPED
@friendly_errors
def parse(log: str, output: str | None, table: str, force: bool, follow: bool, poll: float,
          idle_timeout: float | None, no_cache: bool, show_skipped: bool) -> None:
    """Parse LOG (plain, .gz, or - for stdin) and summarise it or write its tables.

    \b
      caffelog parse train.log               # summary
      caffelog parse train.log -o run/       # every table as Parquet in run/
      caffelog parse train.log -o blobs.csv --table blobs
      zcat train.log.gz | caffelog parse - -o -
    """
    from caffelog.output.summary import summarize
    if follow:
        from caffelog.output.live_rows import stream_rows
        stream_rows(log, poll, idle_timeout)
        return
    if output is None:
        parsed = load(log, use_cache=not no_cache)
        _warn(parsed, show_skipped)
        click.echo(summarize(parsed))
        return
    from caffelog.api import export
    for path in export(log, output, table, force=force, use_cache=not no_cache,
                       on_read=lambda summary: _warn(summary, show_skipped)):
        click.echo(path)


@main.command()
@LOG_ARG
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Report format.")
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
@POLL
@IDLE_TIMEOUT
@NO_CACHE
@SHOW_SKIPPED
@friendly_errors
def diagnose(log: str, fmt: str, select, ignore, threshold, fail_on, verbose, follow, fail_fast, poll,
             idle_timeout, no_cache, show_skipped) -> None:
    """Find what went wrong in LOG, and why: causes first (first NaN, divergence, an lr step,
    dead ReLUs, saturation, weight decay, a loss at chance), each with the settings to change.

    Settings may also come from [tool.caffelog] in a pyproject.toml, or a caffelog.toml,
    next to LOG (select, ignore, fail-on, [thresholds.RULE] NAME = VALUE).
    Exit status: 0 nothing reached --fail-on, 1 something did, 2 bad input or usage.
    """
    from caffelog.diagnose.diagnosis import worst_reaches
    from caffelog.diagnose.report import RENDERERS, render_text
    from caffelog.diagnose.settings import Settings, load_settings, parse_threshold
    cli = Settings(list(select), list(ignore), {}, fail_on)
    for text in threshold:
        rule, name, value = parse_threshold(text)
        cli.thresholds.setdefault(rule, {})[name] = value
    settings = load_settings(log).merged(cli)
    if follow:
        from caffelog.diagnose.live import diagnose_live
        worst = diagnose_live(log, settings, fmt, fail_fast, poll, idle_timeout)
        sys.exit(EXIT_FINDINGS if worst else 0)
    from caffelog.api import diagnose_source
    summary, findings = diagnose_source(log, settings, use_cache=not no_cache, progress=fmt == "text")
    if show_skipped and summary.skipped.count:
        click.echo("skipped lines: " + " ".join(map(str, summary.skipped.lines)), err=True)
    click.echo(render_text(summary, findings, verbose) if fmt == "text" else RENDERERS[fmt](summary, findings))
    sys.exit(EXIT_FINDINGS if worst_reaches(findings, settings.fail_on or "error") else 0)


@main.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--layer", "layers", multiple=True, metavar="NAME",
              help="Layer name or shell pattern ('conv*'); repeatable.")
@click.option("--quantity", type=click.Choice(["data", "diff"]), help="Only data or only diff values.")
@click.option("--phase", type=click.Choice(["train", "test"]), default="train", show_default=True)
@click.option("--direction", type=click.Choice(["forward", "backward", "update"]))
@click.option("--role", type=click.Choice(["top", "bottom", "param"]))
@click.option("--blob", help="Blob name, or param index as printed (0 = weights, 1 = bias).")
@click.option("--segment", type=int, help="Only this segment of a resumed log (default: all).")
@click.option("--heatmap", is_flag=True,
              help="Layers x iterations, log10 colour (with --quantity data|diff, --layer, --segment).")
@click.option("--scalars", is_flag=True, help="Loss, learning rate and test outputs over iterations.")
@click.option("--label", "labels", multiple=True, metavar="NAME",
              help="A run's name in legends and titles, one per LOG in order  [default: the shortest distinct "
                   "part of the paths]")
@click.option("--smooth", type=click.IntRange(min=1), metavar="N",
              help="Rolling-median window for the curves (1: raw values)  [default: 1/200 of a long series]")
@click.option("--x", "x", type=click.Choice(["iteration", "time"]), default="iteration", show_default=True,
              help="What the x axis counts: iterations, or wall-clock time from the log's timestamps.")
@click.option("-o", "--output", metavar="FILE", help="Output file; .png, .svg or .pdf  [default: named after the runs]")
@click.option("--show", is_flag=True, help="Open a window instead of writing a file (needs a display).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@NO_CACHE
@friendly_errors
def plot(logs, layers, quantity, phase, direction, role, blob, segment, heatmap, scalars, labels, smooth,
         x, output, show, force, no_cache) -> None:
    """Semilog per-layer curves of LOGS (several logs share the axes).

    \b
      caffelog plot train.log --layer fc1            # every series of fc1
      caffelog plot train.log --quantity diff        # weight diffs of all layers
      caffelog plot train.log --heatmap              # layers x iterations
      caffelog plot train.log --scalars              # loss, lr, test outputs
      caffelog plot train.log --scalars --x time     # ... over wall-clock time
      caffelog plot run1.log run2.log --layer fc1 -o fc1.svg

    Zeros are drawn on the bottom edge and nan/inf on the top edge: nothing is hidden. A resumed
    log's segments are drawn apart, with the resume point marked. Options a picture cannot use
    are refused (exit 2), never ignored.
    """
    from caffelog.output import plot as plots
    ctx = click.get_current_context()
    given = {name for name in ("layers", "quantity", "phase", "direction", "role", "blob", "segment", "smooth", "x")
             if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT}
    problem = plots.conflict(given, heatmap, scalars)
    if problem is None and labels and len(labels) != len(logs):
        problem = f"{len(labels)} --label for {len(logs)} logs: give one per log"
    if problem is None and show and output:
        problem = "--show opens a window; -o writes a file: ask for one"
    if problem:
        raise UsageError(problem)
    series_of = list(layers) if layers and not scalars else None
    parsed = [load(p, use_cache=not no_cache, layers=series_of) for p in logs]
    for one in parsed:
        _warn(one)
    names = list(labels) or plots.run_labels([one.source for one in parsed])
    if heatmap:
        fig = plots.plot_heatmap(parsed, quantity or "data", segment, list(layers) or None, names)
        what = f"heatmap-{quantity or 'data'}"
    elif scalars:
        fig, what = plots.plot_scalars(parsed, segment, names, smooth, x=x), "scalars"
    else:
        sel, what = plots.default_selection(list(layers), quantity, phase, direction, role, blob, segment)
        fig = plots.plot_series(parsed, sel, labels=names, smooth=smooth, x=x)
    if x == "time":
        what += "-by-time"
    if show:
        plots.show(fig)
        return
    target = output or plots.default_name(names, what)
    from caffelog.output.export import save_figure
    save_figure(fig, target, force=force)
    click.echo(target)


@main.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("-o", "--output", metavar="FILE",
              help="The page to write  [default: named after the runs, never over an existing file]")
@click.option("--label", "labels", multiple=True, metavar="NAME",
              help="A run's name on the page, one per LOG in order  [default: the shortest distinct part of the paths]")
@click.option("--static", is_flag=True,
              help="Pictures as PNG images and no script at all (for places that forbid scripts).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@NO_CACHE
@friendly_errors
def report(logs, output, labels, static, force, no_cache) -> None:
    """One self-contained HTML page of LOGS: the diagnosis with the log lines behind it, loss, lr
    and test outputs, a layers x iterations heatmap, every layer's curves, the net and the solver.

    \b
      caffelog report train.log                       # -> train_report.html
      caffelog report a/train.log b/train.log -o ab.html   # one page comparing two runs
      caffelog report train.log --static              # PNG pictures, no JavaScript

    Offline: uPlot and the data are inside the page. Hover: value and log line; drag: zoom.
    """
    from caffelog.api import report as write_report
    click.echo(write_report(list(logs), output, list(labels) or None, static=static, force=force,
                            use_cache=not no_cache, progress=True, on_read=_warn))


@main.command("rules")
@friendly_errors
def list_rules() -> None:
    """List the diagnosis rules with what they detect and their thresholds."""
    import inspect

    from caffelog.diagnose.rules import RULES
    for rule in RULES.values():
        defaults = ", ".join(f"{k}={v:g}" for k, v in rule.thresholds.items()) or "no thresholds"
        click.echo(f"{rule.id} ({rule.severity}; {defaults})")
        for line in (inspect.getdoc(rule) or "").splitlines():
            click.echo(f"    {line}")
        click.echo()


@main.group()
def cache() -> None:
    """Manage the cache of parsed tables (a second look at a log is instant)."""


@cache.command("clear")
@friendly_errors
def cache_clear() -> None:
    """Remove every cached parse."""
    from caffelog.tables.cache import cache_dir, clear
    click.echo(f"removed {clear()} cached parses from {cache_dir()}")


def entry() -> None:
    """The console script: main(), then leave without tearing the interpreter down.

    Freeing a million-row table and matplotlib's state at exit costs ~0.2 s that nobody waits
    for; every output is written and closed by then, so only the buffered streams need a flush.
    The cyclic collector runs less often: imports and a figure make ~10^6 objects it would
    otherwise walk many times over (a tenth of a second).
    """
    gc.set_threshold(100_000, 50, 1000)
    code: str | int | None
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a closed pipe: the reader went away
        pass
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    entry()
