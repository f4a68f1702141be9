"""The bytes a log file grows by while it is being written (like `tail -F`).

A partial last line waits for its newline; memory stays bounded however the file grows: a read
takes at most READ_BYTES, and a line longer than MAX_LINE_BYTES keeps only its start (the parser
skips it as damaged, as the other readers do). If the file shrinks (truncated), is rewritten or is
replaced (rotated: a new inode), reading starts over from the top and the caller is told. A pipe
(`-` for stdin, a FIFO) cannot be re-read: its bytes are taken as they come, until the writer
closes it.
"""
from __future__ import annotations

import os
import select
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from caffelog.errors import LogInputError
from caffelog.source.chunks import GZIP_MAGIC, MAX_LINE_BYTES, normalize_newlines

RESTARTED = "caffelog: {path} was truncated or replaced: reading it from the top"
READ_BYTES = 4 << 20
HEAD_BYTES = 512


@dataclass
class Tail:
    """Bytes appended to a file since the last call, cut at the last complete line."""

    path: str
    offset: int = 0
    inode: int | None = None
    pending: bytes = b""
    head: bytes = b""  # the first bytes read: if they change, the file was rewritten
    overlong: bool = False  # pending is the kept start of a line past MAX_LINE_BYTES
    behind: bool = False  # the last read stopped at READ_BYTES: more is waiting

    def read(self) -> tuple[bytes, bool]:
        """(new complete lines, restarted?) where restarted means truncated, rewritten or rotated.
        The lines come as a chunk for LineParser.feed_chunk (LF line ends)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return b"", False  # between rotation and re-creation
        restarted = False
        with open(self.path, "rb") as f:
            head = f.read(len(self.head)) if self.head else b""
            if self.inode is not None and (st.st_ino != self.inode or st.st_size < self.offset
                                           or head != self.head):
                self.offset, self.pending, self.head, self.overlong, restarted = 0, b"", b"", False, True
            self.inode = st.st_ino
            f.seek(self.offset)
            data = f.read(READ_BYTES)
        self.offset += len(data)
        self.behind = len(data) == READ_BYTES
        if len(self.head) < HEAD_BYTES and self.offset:
            with open(self.path, "rb") as f:
                self.head = f.read(min(HEAD_BYTES, self.offset))
        complete, self.pending, self.overlong = take_lines(self.pending, data, self.overlong)
        return normalize_newlines(complete), restarted


def take_lines(pending: bytes, data: bytes, overlong: bool) -> tuple[bytes, bytes, bool]:
    """(the complete lines, the partial last line, whether it is past MAX_LINE_BYTES) once data
    came after pending. Of a line past MAX_LINE_BYTES only the start is kept; the rest is passed
    over as it comes, and the kept start ends the line when its newline does."""
    done = b""
    if overlong:
        newline = data.find(b"\n")
        if newline < 0:
            return b"", pending, True
        done, pending, data = pending + b"\n", b"", data[newline + 1:]
    complete, rest = _split_partial(pending + data)
    if len(rest) > MAX_LINE_BYTES:
        return done + complete, rest[:MAX_LINE_BYTES], True
    return done + complete, rest, False


def grown_chunks(path: str, poll: float = 1.0,
                 idle_timeout: float | None = None) -> Iterator[tuple[bytes, bool]]:
    """(new complete lines, restarted?) whenever the file grew or started over, until the
    caller stops iterating or idle_timeout seconds pass without growth."""
    if path == "-":
        yield from _piped_chunks(sys.stdin.buffer.fileno(), path, poll, idle_timeout)
        return
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path):
        fd = os.open(path, os.O_RDONLY)  # a FIFO: waits for its writer, as `tail -f` does
        try:
            yield from _piped_chunks(fd, path, poll, idle_timeout)
        finally:
            os.close(fd)
        return
    if not os.path.exists(path):
        raise LogInputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise LogInputError(f"{path}: is a directory, not a log file")
    with open(path, "rb") as f:
        if f.read(2) == GZIP_MAGIC:
            raise LogInputError(f"{path}: a gzip file does not grow; parse it without --follow")
    tail = Tail(path)
    last_growth = time.monotonic()
    while True:
        chunk, restarted = tail.read()
        if chunk or restarted:
            last_growth = time.monotonic()
            yield chunk, restarted
        elif idle_timeout is not None and time.monotonic() - last_growth > idle_timeout:
            return
        if not tail.behind:
            time.sleep(poll)


def _piped_chunks(fd: int, path: str, poll: float, idle_timeout: float | None) -> Iterator[tuple[bytes, bool]]:
    """The complete lines of a pipe as they arrive, until its writer closes it or idle_timeout
    seconds pass without a byte; a last line without newline comes at the end."""
    pending, overlong, first, last_growth = b"", False, True, time.monotonic()
    while True:
        ready, _, _ = select.select([fd], [], [], poll)
        if not ready:
            if idle_timeout is not None and time.monotonic() - last_growth > idle_timeout:
                break
            continue
        data = os.read(fd, READ_BYTES)
        if not data:
            break  # the writer closed it: all of it is read
        if first and (pending + data)[:2] == GZIP_MAGIC:
            raise LogInputError(f"{path}: gzip data; decompress it into the pipe (zcat) to follow it")
        first, last_growth = False, time.monotonic()
        complete, pending, overlong = take_lines(pending, data, overlong)
        if complete:
            yield normalize_newlines(complete), False
    if pending:
        yield normalize_newlines(pending + b"\n"), False


def _split_partial(data: bytes) -> tuple[bytes, bytes]:
    """(the complete lines, the partial last line): a partial line (or a lone CR) waits for its newline."""
    cut = data.rfind(b"\n") + 1
    return data[:cut], data[cut:]
