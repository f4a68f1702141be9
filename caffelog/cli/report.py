"""`caffelog report`: one self-contained HTML page of one or many runs."""
from __future__ import annotations

import click

from caffelog.cli.common import LOGS_ARG, NO_CACHE, expand_logs, friendly_errors, load_each, warn


@click.command()
@LOGS_ARG
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
    """One self-contained HTML page of LOGS (several, or a directory: one page comparing them):
    the diagnosis with the log lines behind it, loss, lr
    and test outputs, a layers x iterations heatmap, every layer's curves, the net and the solver.

    \b
      caffelog report train.log                       # -> train_report.html
      caffelog report a/train.log b/train.log -o ab.html   # one page comparing two runs
      caffelog report train.log --static              # PNG pictures, no JavaScript

    Offline: uPlot and the data are inside the page. Hover: value and log line; drag: zoom.
    """
    from caffelog.api import report as write_report
    from caffelog.output.export import check_text_target
    if output:
        check_text_target(output, force)  # before the parse, not after it
    parsed, kept = load_each(expand_logs(logs).logs, list(labels), not no_cache)
    click.echo(write_report(list(parsed), output, kept or None, static=static, force=force, on_read=warn))
