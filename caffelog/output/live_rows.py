"""`parse --follow`: the blobs rows of a growing log as CSV on stdout, once attributed."""
from __future__ import annotations

import sys

import click

from caffelog import engines
from caffelog.source.tail import RESTARTED


def stream_rows(path: str, poll: float, idle_timeout: float | None) -> None:
    """Blob rows as CSV on stdout, each printed once its iteration is known (a row whose
    iteration could only be inferred from `display` is not printed)."""
    header = True
    for update in engines.follow(path, poll, idle_timeout):
        if update.restarted:
            click.echo(RESTARTED.format(path=path), err=True)
        if update.tables is None:
            continue
        blobs = update.tables[0]
        ready = blobs[~blobs["inferred"].to_numpy(bool) & blobs["iteration"].notna().to_numpy()]
        if len(ready):
            ready.to_csv(sys.stdout, index=False, header=header)
            sys.stdout.flush()
            header = False
