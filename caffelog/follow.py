"""Following a log that is still being written (like `tail -F`), for live diagnosis.

New complete lines go through the same parser as a whole file; a partial last line waits for
its newline. If the file shrinks (truncated) or is replaced (rotated: a new inode), reading
starts over from the top of the new content with fresh tables, and the caller is told.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from .log import CaffeLog, build_log
from .parser import LineParser
from .reader import GZIP_MAGIC, LogInputError
from .records import RecordSink
from .reader import normalize_newlines

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
                self.offset, self.pending, self.head, restarted = 0, b"", b"", True
            self.inode = st.st_ino
            chunks = []
            f.seek(self.offset)
            while data := f.read(READ_BYTES):
                chunks.append(data)
                self.offset += len(data)
        data = self.pending + b"".join(chunks)
        if len(self.head) < HEAD_BYTES and self.offset:
            with open(self.path, "rb") as f:
                self.head = f.read(min(HEAD_BYTES, self.offset))
        cut = data.rfind(b"\n") + 1  # a partial last line (or a lone CR) waits for its newline
        complete, self.pending = data[:cut], data[cut:]
        return normalize_newlines(complete), restarted


class LiveLog:
    """A parser and record sink that grow as lines arrive; tables on demand."""

    def __init__(self, name: str):
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.sink = RecordSink()
        self.parser = LineParser(self.sink)
        self.n = 0

    def add(self, chunk: bytes) -> None:
        if chunk:
            self.n += self.parser.feed_chunk(chunk, self.n + 1)

    def tables(self) -> CaffeLog | None:
        if self.n == 0 or len(self.sink.skipped_lines) == self.n:
            return None
        return build_log(self.sink, self.n, self.name)


def follow(path: str, on_update: Callable[[CaffeLog, bool], bool], poll: float = 1.0,
           idle_timeout: float | None = None) -> CaffeLog | None:
    """Call on_update(log, restarted) whenever new lines arrived; stop when it returns False,
    when the run reports `Optimization Done.`, or after idle_timeout seconds without growth."""
    live = LiveLog(path)
    log = None

    def on_chunk(chunk: bytes, restarted: bool) -> bool:
        nonlocal log
        if restarted:
            live.reset()
        live.add(chunk)
        log = live.tables()
        if log is None:
            return True
        return on_update(log, restarted) and not finished(live.sink)

    follow_chunks(path, on_chunk, poll, idle_timeout)
    return log


def follow_chunks(path: str, on_chunk: Callable[[bytes, bool], bool], poll: float = 1.0,
                  idle_timeout: float | None = None) -> None:
    """Call on_chunk(new complete lines, restarted) whenever the file grew or started over;
    stop when it returns False or after idle_timeout seconds without growth."""
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
            if not on_chunk(chunk, restarted):
                return
        elif idle_timeout is not None and time.monotonic() - last_growth > idle_timeout:
            return
        time.sleep(poll)


def finished(sink: RecordSink) -> bool:
    """The run reported its end: `Optimization Done.` or a crash trace."""
    return any(kind in ("optimization_done", "crash_line") for _, kind, _ in sink.events[-50:])
