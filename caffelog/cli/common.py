"""What every command shares: one error policy, the common options, reading a log for a command.

Exit status: 0 success; 1 a diagnosis finding reached --fail-on; 2 bad input or usage.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import TYPE_CHECKING

import click

from caffelog.errors import LogInputError, UsageError, message
from caffelog.interrupt import install, raise_if_interrupted, restore
from caffelog.printable import clean

if TYPE_CHECKING:
    from caffelog.runs.inputs import Inputs
    from caffelog.tables.caffe_log import CaffeLog, LogSummary

# CaffeLog.TABLES, spelled out so that --help needs no pandas (tests/test_cli.py checks it)
TABLES = ("blobs", "totals", "scalars", "net")

EXIT_FINDINGS, EXIT_BAD_INPUT = 1, 2


def _fail(message: str) -> None:
    click.echo(f"caffelog: error: {clean(message)}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def friendly_errors(func):
    """One clear line on stderr and exit 2 for bad input; never a traceback for it."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        previous = install()
        try:
            result = func(*args, **kwargs)
            raise_if_interrupted()  # a Ctrl-C that a finaliser swallowed
            return result
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
            _fail(message(exc))
        finally:
            restore(previous)
    return wrapper


def load(path: str, use_cache: bool = True, quiet: bool = False,
         layers: list[str] | None = None) -> CaffeLog:
    """Read a log, with a progress bar on a terminal and the parse cache unless disabled
    (from the cache, only the blobs rows of `layers` if given)."""
    from caffelog.api import load as load_log
    return load_log(path, use_cache=use_cache, progress=not quiet, layers=layers)


def warn(log: LogSummary, show_skipped: bool = False) -> None:
    for warning in log.warnings:
        click.echo(f"caffelog: warning: {clean(warning)}", err=True)
    if show_skipped and log.skipped.count:
        more = log.skipped.count - len(log.skipped.lines)
        click.echo("skipped lines: " + " ".join(map(str, log.skipped.lines))
                   + (f" and {more} more (only the first {len(log.skipped.lines)} are listed)" if more else ""),
                   err=True)


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


LOGS_ARG = click.argument("logs", nargs=-1, required=True, type=click.Path(allow_dash=True))
WORKERS = click.option("--workers", type=click.IntRange(1, 64), metavar="N",
                       help="Processes for several logs, one log each  [default: the CPUs, at most 2]")
SCHEDULER = click.option("--scheduler", metavar="ADDRESS",
                         help="Run the logs on a Dask cluster (tcp://host:8786) instead of local processes; "
                              "needs caffelog[dask].")


def expand_logs(arguments: tuple[str, ...]) -> Inputs:
    """The logs that LOGS names (directories searched, quoted globs expanded); what named
    nothing is one line on stderr; nothing at all is bad input."""
    from caffelog.runs.inputs import expand
    inputs = expand(list(arguments))
    if not inputs.logs and len(inputs.problems) == 1:
        raise UsageError(inputs.problems[0])
    for problem in inputs.problems:
        click.echo(f"caffelog: error: {clean(problem)}", err=True)
    if not inputs.logs:
        raise UsageError("no log to read")
    return inputs


def one_log(arguments: tuple[str, ...]) -> bool:
    """True when LOGS is one path that is not a directory: the one-log output, as before."""
    return len(arguments) == 1 and not os.path.isdir(arguments[0]) and (
        arguments[0] == "-" or os.path.lexists(arguments[0]) or not set("*?[") & set(arguments[0]))


def progress_lines(done: int, total: int, source: str) -> None:
    """`[3/40] runs/a/train.log` on stderr as each log of many finishes, when it is a terminal."""
    if sys.stderr.isatty():
        click.echo(f"[{done}/{total}] {clean(source)}", err=True)


def load_each(logs: list[str], labels: list[str] | None, use_cache: bool,
              layers: list[str] | None = None) -> tuple[list[CaffeLog], list[str] | None]:
    """Read every log (one a time, in memory: a picture or a page needs the tables); of many, a
    log that cannot be read is one line on stderr and the rest go on. With labels, the labels
    of the logs that were read."""
    if labels and len(labels) != len(logs):
        raise UsageError(f"{len(labels)} --label for {len(logs)} logs: give one per log")
    if len(logs) == 1:
        return [load(logs[0], use_cache=use_cache, layers=layers)], labels
    parsed, kept = [], []
    for k, path in enumerate(logs):
        try:
            parsed.append(load(path, use_cache=use_cache, layers=layers))
            kept.append(k)
        except (LogInputError, OSError) as exc:
            click.echo(f"caffelog: error: {clean(message(exc))}", err=True)
    if not parsed:
        raise UsageError(f"none of the {len(logs)} logs could be read")
    return parsed, [labels[k] for k in kept] if labels else None



def reading_options(command):
    """The options of the commands that read logs as parse and diagnose do: --follow's pace,
    the cache, skipped lines, and where many logs run."""
    for option in (SCHEDULER, WORKERS, SHOW_SKIPPED, NO_CACHE, IDLE_TIMEOUT, POLL):
        command = option(command)
    return command
