"""Where log text comes from: paths, gzip, stdin, open files, iterables of lines.

Everything is streamed in batches of lines so a 10 GB log never sits in memory. Text is decoded
as UTF-8 with bad bytes replaced (a flipped byte must not cost the rest of the log), and
universal newlines turn CRLF and lone CR into line ends.
"""
from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Union

Source = Union[str, os.PathLike, IO, Iterable[str]]

GZIP_MAGIC = b"\x1f\x8b"
BATCH_BYTES = 1 << 20
# A Caffe line is never this long; longer ones are counted as skipped without being parsed,
# which keeps the time linear for hostile input.
MAX_LINE = 1 << 16


class LogInputError(Exception):
    """Input that cannot be read as a log at all (missing, a directory, binary, empty...)."""


class UsageError(Exception):
    """A request that cannot be met: unknown table, format, layer... (exit status 2)."""


@dataclass
class ReadStats:
    """What the reader saw, so callers can say what was lost."""

    bytes_read: int = 0
    truncated_gzip: bool = False
    nul_lines: int = 0


def describe(source: Source) -> str:
    """A short name for messages and plot titles."""
    if isinstance(source, (str, os.PathLike)):
        return "<stdin>" if str(source) == "-" else os.fspath(source)
    return getattr(source, "name", None) or "<lines>"


def open_text(source: Source) -> IO[str]:
    """Open a path ('-' for stdin), a binary or text file object as a text stream."""
    if isinstance(source, (str, os.PathLike)):
        if str(source) == "-":
            return _wrap_binary(sys.stdin.buffer)
        path = Path(source)
        if not path.exists():
            raise LogInputError(f"{path}: no such file")
        if path.is_dir():
            raise LogInputError(f"{path}: is a directory, not a log file")
        try:
            raw = open(path, "rb")
        except OSError as exc:
            raise LogInputError(f"{path}: cannot open ({exc.strerror})") from None
        return _wrap_binary(raw)
    if isinstance(source, io.TextIOBase):
        return source
    if hasattr(source, "read"):
        return _wrap_binary(source)
    raise TypeError(f"cannot read a log from {type(source).__name__}")


def _wrap_binary(raw: IO[bytes]) -> IO[str]:
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
    head = buffered.peek(2)[:2]
    stream: IO[bytes] = gzip.GzipFile(fileobj=buffered) if head == GZIP_MAGIC else buffered
    return io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)


def iter_batches(source: Source, stats: ReadStats | None = None) -> Iterator[list[str]]:
    """Yield lists of lines (each ending in '\\n' except maybe the last) in input order."""
    stats = stats if stats is not None else ReadStats()
    if not isinstance(source, (str, os.PathLike)) and not hasattr(source, "read"):
        yield from _batches_of_iterable(source)
        return
    stream = open_text(source)
    try:
        while True:
            try:
                batch = stream.readlines(BATCH_BYTES)
            except (EOFError, zlib.error, gzip.BadGzipFile):
                stats.truncated_gzip = True
                return
            except OSError as exc:
                raise LogInputError(f"{describe(source)}: read error ({exc})") from None
            if not batch:
                return
            stats.bytes_read += sum(map(len, batch))
            yield batch
    finally:
        if stream is not sys.stdin and not isinstance(source, io.TextIOBase):
            stream.close()


def _batches_of_iterable(lines: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        batch.append(line)
        if len(batch) >= 65536:
            yield batch
            batch = []
    if batch:
        yield batch
