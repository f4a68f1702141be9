"""A progress bar for long parses: on stderr, for a big file, only on a terminal."""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from caffelog.source.chunks import Source, file_path

BIG_FILE = 32 << 20  # below this a parse is over before a bar would help


@contextlib.contextmanager
def progress_bar(source: Source) -> Iterator[Callable[[int], None] | None]:
    """A progress callback (bytes read) drawing a bar on stderr for a big file on a terminal;
    None otherwise, so pipes and logs stay clean."""
    path = file_path(source)
    big = path is not None and path.is_file() and path.stat().st_size > BIG_FILE
    if path is None or not (big and sys.stderr.isatty()):
        yield None
        return
    import click
    with click.progressbar(length=path.stat().st_size, label=f"parsing {path.name}",
                           file=sys.stderr) as bar:
        yield bar.update
