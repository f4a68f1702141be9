"""The `caffelog` command: thin click wrappers around the library, one module per command.

Exit status: 0 success; 1 a diagnosis finding reached --fail-on; 2 bad input or usage.
"""
from __future__ import annotations

import gc
import os
import sys

import click

from caffelog.cli.common import TABLES
from caffelog.cli.compare import compare
from caffelog.cli.diagnose import diagnose
from caffelog.cli.export import export
from caffelog.cli.housekeeping import cache, list_rules
from caffelog.cli.parse import parse
from caffelog.cli.plot import plot
from caffelog.cli.report import report
from caffelog.version import __version__

__all__ = ["TABLES", "entry", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="caffelog")
def main() -> None:
    """Turn Caffe training logs (debug_info: true) into tidy tables, diagnoses and plots.

    Per-blob values in Caffe's debug lines are the MEAN ABSOLUTE VALUE per element
    (asum/count), not norms; only the `All net params` line gives true L1/L2 norms.
    Every command takes several logs, directories of logs and quoted globs.
    """


for command in (parse, diagnose, plot, report, compare, export, list_rules, cache):
    main.add_command(command)


def entry() -> None:
    """The console script: main(), then leave without tearing the interpreter down.

    Freeing a million-row table and matplotlib's state at exit costs ~0.2 s that nobody waits
    for; every output is written and closed by then, so only the buffered streams need a flush.
    The cyclic collector runs less often: imports and a figure make ~10^6 objects it would
    otherwise walk many times over (a tenth of a second).
    """
    gc.set_threshold(100_000, 50, 1000)
    code: str | int | None
    if sys.stdout is None or sys.stderr is None:  # started with >&- or 2>&-: say so where one can
        if sys.stderr is not None:
            print("caffelog: error: standard output is closed", file=sys.stderr)
        os._exit(2)
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
