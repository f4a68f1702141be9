"""Where log text comes from: paths, gzip, stdin, open files, iterables of lines.

Everything is streamed in chunks of whole lines (bytes: the parser decodes only the lines it
must), so a 10 GB log never sits in memory. Bad UTF-8 is replaced when a line is decoded (a
flipped byte must not cost the rest of the log), and universal newlines turn CRLF and lone CR
into line ends.
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
from typing import IO

from caffelog.errors import LogInputError

Source = str | os.PathLike | IO | Iterable[str]

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 4 << 20
# No Caffe line comes near this. A longer line is read up to here (and then skipped by the
# parser as damaged); the rest of it is passed over in pieces, so a 1 GB line costs no 1 GB.
MAX_LINE_BYTES = 1 << 20


@dataclass
class ReadStats:
    """What the reader saw, so callers can say what was lost."""

    bytes_read: int = 0
    truncated_gzip: bool = False


def describe(source: Source) -> str:
    """A short name for messages and plot titles."""
    if isinstance(source, (str, os.PathLike)):
        return "<stdin>" if str(source) == "-" else os.fspath(source)
    return getattr(source, "name", None) or "<lines>"


def file_path(source: Source) -> Path | None:
    """The path of a source named by path ('-' is stdin, not a file)."""
    return Path(source) if isinstance(source, (str, os.PathLike)) and str(source) != "-" else None


def open_binary(source: Source) -> IO:
    """Open a path ('-' for stdin) or a file object as a byte stream, gzip undone; a text file
    object is returned as it is."""
    if isinstance(source, (str, os.PathLike)):
        if str(source) == "-":
            return _wrap_binary(sys.stdin.buffer)
        path = Path(source)
        if not path.exists():
            raise LogInputError(f"{path}: no such file")
        if path.is_dir():
            raise LogInputError(f"{path}: is a directory, not a log file")
        try:
            raw = open(path, "rb")  # noqa: SIM115 - the caller closes the stream
        except OSError as exc:
            raise LogInputError(f"{path}: cannot open ({exc.strerror})") from None
        return _wrap_binary(raw)
    if isinstance(source, io.TextIOBase):
        return source  # type: ignore[return-value]  # read_chunks encodes what it reads
    if hasattr(source, "read"):
        return _wrap_binary(source)  # type: ignore[arg-type]  # a binary file object
    raise TypeError(f"cannot read a log from {type(source).__name__}")


class GunzipSalvage(io.RawIOBase):
    """gzip decompression that hands out everything up to a cut or corruption, then stops.

    gzip.GzipFile raises on a file cut short before returning the data it already has; a log
    analyzer must give the user the part that was written. `damaged` tells whether it stopped early.
    """

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._out = b""
        self.damaged = False
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out and not self._done:
            self._fill()
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _fill(self) -> None:
        data = self._raw.read(1 << 16)
        try:
            if not data:
                self._done = True
                self.damaged = not self._z.eof
                return
            self._out += self._z.decompress(data)
            while self._z.eof and self._z.unused_data:  # concatenated gzip members
                rest = self._z.unused_data
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._out += self._z.decompress(rest)
        except zlib.error:
            self._done = self.damaged = True

    def close(self) -> None:
        self._raw.close()
        super().close()


def _wrap_binary(raw: IO[bytes]) -> IO[bytes]:
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[type-var]
    head = buffered.peek(2)[:2]
    return io.BufferedReader(GunzipSalvage(buffered), 1 << 20) if head == GZIP_MAGIC else buffered


def _gzip_damaged(stream: IO) -> bool:
    raw = getattr(getattr(stream, "buffer", stream), "raw", None)
    return isinstance(raw, GunzipSalvage) and raw.damaged


def normalize_newlines(chunk: bytes) -> bytes:
    """CRLF and lone CR become LF, as Python's universal newlines would read them."""
    if b"\r" in chunk:
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return chunk


def iter_chunks(source: Source, stats: ReadStats | None = None,
                size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Yield the input as UTF-8 byte chunks of whole lines with LF line ends, in order.

    This is what the parser eats: bytes, so the common lines never become Python strings.
    CRLF and lone CR turn into LF (universal newlines); bad bytes stay as they are and are
    replaced when a line is decoded.
    """
    stats = stats if stats is not None else ReadStats()
    if not isinstance(source, (str, os.PathLike)) and not hasattr(source, "read"):
        for group in _line_groups(source):
            text = "".join(line if line.endswith("\n") else line + "\n" for line in group)
            yield normalize_newlines(text.encode("utf-8", "replace"))
        return
    stream = open_binary(source)
    try:
        yield from read_chunks(stream, stats, size, describe(source))
    finally:
        if stream is not sys.stdin and not isinstance(source, io.TextIOBase):
            stream.close()


def read_chunks(stream: IO, stats: ReadStats, size: int = CHUNK_BYTES,
                name: str = "<stream>") -> Iterator[bytes]:
    """The chunks of an open byte (or text) stream; see iter_chunks."""
    text = isinstance(stream, io.TextIOBase)
    while True:
        try:
            chunk = stream.read(size)
            if chunk:
                chunk = _finish_last_line(stream, chunk, stats)
        except (EOFError, zlib.error, gzip.BadGzipFile):
            stats.truncated_gzip = True
            return
        except OSError as exc:
            raise LogInputError(f"{name}: read error ({exc})") from None
        if not chunk:
            stats.truncated_gzip |= _gzip_damaged(stream)
            return
        if text:
            chunk = chunk.encode("utf-8", "replace")
        stats.bytes_read += len(chunk)
        yield normalize_newlines(chunk)


def _finish_last_line(stream: IO, chunk, stats: ReadStats):
    """chunk plus the rest of its last line, of which at most MAX_LINE_BYTES are kept."""
    newline = "\n" if isinstance(chunk, str) else b"\n"
    if chunk.endswith(newline):
        return chunk
    rest = stream.readline(MAX_LINE_BYTES)
    chunk += rest
    if len(rest) < MAX_LINE_BYTES or rest.endswith(newline):
        return chunk
    stats.bytes_read += skip_line(stream)  # an overlong line: pass over the rest
    return chunk + newline


def skip_line(f: IO) -> int:
    """Move f past the next newline (or to its end) without holding the line in memory; returns
    how much it passed over."""
    passed = 0
    while piece := f.readline(MAX_LINE_BYTES):
        passed += len(piece)
        if piece.endswith(b"\n" if isinstance(piece, bytes) else "\n"):
            break
    return passed


def _line_groups(lines: Iterable[str]) -> Iterator[list[str]]:
    """The lines of an iterable in lists of 65,536, decoded if they are bytes."""
    group: list[str] = []
    for line in lines:
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        group.append(line)
        if len(group) >= 65536:
            yield group
            group = []
    if group:
        yield group
