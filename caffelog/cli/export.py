"""`caffelog export`: runs in another tool's format (TensorBoard event files)."""
from __future__ import annotations

import click

from caffelog.cli.common import (
    LOGS_ARG,
    NO_CACHE,
    SCHEDULER,
    WORKERS,
    UsageError,
    clean,
    expand_logs,
    friendly_errors,
    progress_lines,
)


@click.command()
@LOGS_ARG
@click.option("--tensorboard", "directory", metavar="DIR", required=True,
              help="Write TensorBoard event files, one folder per run (DIR/<label>/).")
@click.option("--label", "labels", multiple=True, metavar="NAME", help="A run's folder name, one per log in order.")
@NO_CACHE
@WORKERS
@SCHEDULER
@friendly_errors
def export(logs, directory, labels, no_cache, workers, scheduler) -> None:
    """Export LOGS for TensorBoard: tags `<quantity>/<layer>/<blob>` (diff/conv1/weights), loss,
    lr and test outputs, the solver settings as hparams (needs caffelog[tensorboard]).

    \b
      caffelog export --tensorboard tb/ runs/
      tensorboard --logdir tb/
    """
    from caffelog.api import export_tensorboard
    found = expand_logs(logs).logs
    if labels and len(labels) != len(found):
        raise UsageError(f"{len(labels)} --label for {len(found)} logs: give one per log")
    written, failed = export_tensorboard(found, directory, list(labels) or None, not no_cache, workers,
                                         scheduler, progress_lines)
    for failure in failed:
        click.echo(f"caffelog: error: {clean(failure.message)}", err=True)
    for label, (count, left_out) in written.items():
        unplaced = f" ({left_out:,} with no iteration left out)" if left_out else ""
        click.echo(f"{clean(label)}: {count:,} values{unplaced}")
    if not written:
        raise UsageError("no log could be read")
