"""`caffelog compare`: what differs between runs, and where their curves part."""
from __future__ import annotations

import click

from caffelog.cli.common import LOGS_ARG, NO_CACHE, UsageError, expand_logs, friendly_errors, load_each, warn


@click.command()
@LOGS_ARG
@click.option("--label", "labels", multiple=True, metavar="NAME", help="A run's name, one per log in order.")
@click.option("--tolerance", type=click.FloatRange(min=0, min_open=True, max=1e6), default=None, metavar="R",
              help="Curves part where two values differ by more than R times the larger  [default: 0.5]")
@NO_CACHE
@friendly_errors
def compare(logs, labels, tolerance, no_cache) -> None:
    """Compare runs with the first: solver and net field by field, headline numbers side by side,
    the first iteration where their curves part, and each run's causes.

    \b
      caffelog compare lr0.01/train.log lr20/train.log
    """
    from caffelog.api import compare as compare_runs
    parsed, kept = load_each(expand_logs(logs).logs, list(labels), not no_cache)
    if len(parsed) < 2:
        raise UsageError("compare needs two logs or more")
    for one in parsed:
        warn(one)
    click.echo(compare_runs(list(parsed), kept, tolerance))
