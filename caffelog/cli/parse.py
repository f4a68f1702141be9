"""`caffelog parse`: a log's summary or its tables; many logs as one dataset."""
from __future__ import annotations

import click

from caffelog.cli.common import (
    LOGS_ARG,
    TABLES,
    UsageError,
    clean,
    expand_logs,
    friendly_errors,
    load,
    load_each,
    one_log,
    progress_lines,
    reading_options,
    warn,
)


@click.command()
@LOGS_ARG
@click.option("-o", "--output", metavar="PATH",
              help="Directory (every table as Parquet; several logs: one dataset), a .parquet/.csv/.json "
                   "file, or - for CSV on stdout.")
@click.option("--table", type=click.Choice(TABLES), default="blobs", show_default=True,
              help="Which table to write when OUTPUT is a file or -.")
@click.option("--label", "labels", multiple=True, metavar="NAME",
              help="A run's name in the dataset, one per log in order  [default: the shortest distinct part "
                   "of the paths]")
@click.option("--force", is_flag=True,
              help="Overwrite existing output files (a dataset: parse every log again, changed or not).")
@click.option("--follow", is_flag=True,
              help="Keep reading LOG as it grows; stream the blobs table as CSV rows once attributed.")
@reading_options
@friendly_errors
def parse(logs: tuple[str, ...], output: str | None, table: str, labels: tuple[str, ...], force: bool, follow: bool,
          poll: float, idle_timeout: float | None, no_cache: bool, show_skipped: bool, workers: int | None,
          scheduler: str | None) -> None:
    """Parse LOGS (plain, .gz, or - for stdin) and summarise them or write their tables.

    \b
      caffelog parse train.log               # summary
      caffelog parse train.log -o run/       # every table as Parquet in run/
      caffelog parse train.log -o blobs.csv --table blobs
      zcat train.log.gz | caffelog parse - -o -
      caffelog parse runs/ -o sweep/         # every log under runs/ as one dataset:
                                             # sweep/table=blobs/run=<label>/part-0.parquet, ...

    A second run over a dataset parses only the logs that are new or changed.
    """
    if one_log(logs) and not scheduler:
        _one(logs[0], output, table, force, follow, poll, idle_timeout, no_cache, show_skipped, labels)
        return
    if follow or show_skipped:
        raise UsageError(f"{'--follow' if follow else '--show-skipped'} reads one log: give one path")
    inputs = expand_logs(logs)
    if output is None:
        for parsed in load_each(inputs.logs, None, not no_cache)[0]:
            warn(parsed, show_skipped)
            from caffelog.output.summary import summarize
            click.echo(summarize(parsed) + "\n")
        return
    from caffelog.output.export import is_directory
    if not is_directory(output):
        raise UsageError(f"{len(inputs.logs)} logs make one dataset: give a directory for -o, not {output}")
    from caffelog.api import write_dataset
    result = write_dataset(inputs.logs, output, list(labels) or None, workers, scheduler, progress_lines,
                           every=force)
    for failure in result.failed:
        click.echo(f"caffelog: error: {clean(failure.message)}", err=True)
    click.echo(f"{clean(str(result.directory))}: {len(result.written)} runs parsed, "
               f"{len(result.unchanged)} unchanged, {len(result.failed)} failed")
    if not result.written and not result.unchanged:
        raise UsageError("no log could be read")


def _one(log: str, output: str | None, table: str, force: bool, follow: bool, poll: float,
         idle_timeout: float | None, no_cache: bool, show_skipped: bool, labels: tuple[str, ...]) -> None:
    """One log: its summary, its tables in a directory or a file, or its rows as it grows."""
    from caffelog.output.summary import summarize
    if labels:
        raise UsageError("--label names runs in a dataset (several logs, or a directory of them)")
    if follow:
        from caffelog.output.live_rows import stream_rows
        stream_rows(log, poll, idle_timeout)
        return
    if output is None:
        parsed = load(log, use_cache=not no_cache)
        warn(parsed, show_skipped)
        click.echo(summarize(parsed))
        return
    from caffelog.api import export
    for path in export(log, output, table, force=force, use_cache=not no_cache,
                       on_read=lambda summary: warn(summary, show_skipped)):
        click.echo(path)
