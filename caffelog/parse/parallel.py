"""Both cores on one big plain file: byte-range chunks parsed in parallel, stitched in order.

Each chunk starts right after a newline, so every line lands whole in exactly one chunk and the
line numbers add up. A worker keeps the stateless records (per-blob values, totals) as arrays and
only *records* the stateful ones (events, protobuf dumps, net construction); the main process
replays those in file order, so attribution and the net tables are exactly what one process
would build (a test compares them).

Two ways to use it: `parse_records_parallel` splits the file in one range per process (the tables
in memory, read_log), `parsed_ranges` hands out ranges of RANGE_BYTES in file order as workers
finish them, a few ahead at most (a stream: diagnose and parse -o, in bounded memory, while the
main process builds tables and runs the rules).
"""
from __future__ import annotations

import io
import multiprocessing as mp
import os
import signal
import tempfile
from collections import deque
from collections.abc import Iterator

import numpy as np

from caffelog.interrupt import raise_if_interrupted
from caffelog.parse import kinds
from caffelog.parse.columns import BlobColumns
from caffelog.parse.kinds import BLOB_KINDS, SOLVER_COLUMN_KINDS
from caffelog.parse.line_parser import LineParser
from caffelog.parse.records import RecordSink
from caffelog.source.chunks import GZIP_MAGIC, ReadStats, read_chunks, skip_line

MIN_BYTES = 8 << 20  # below this, starting a worker costs more than it saves
RANGE_BYTES = 8 << 20  # a streamed file's ranges: ~100,000 blob rows, ~2 MB to send back
AHEAD = 4  # ranges per worker parsed ahead of the reader: enough to keep both cores busy
SHARED_MEMORY = "/dev/shm"  # a tmpfs on Linux: files there never touch a disk


class _RangeReader(io.RawIOBase):
    """The bytes [start, end) of a file, as a raw stream."""

    def __init__(self, path: str, start: int, end: int):
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._f.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        n = self._f.readinto(view)
        self._left -= n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


class RecordingSink(RecordSink):
    """Keeps per-blob values and totals; records every other record for replay, in order."""

    def __init__(self, keys=None) -> None:
        super().__init__(keys)
        self.replay: list[tuple] = []

    def emit(self, kind: str, fields: dict, line: int) -> None:
        if kind in BLOB_KINDS or kind in SOLVER_COLUMN_KINDS or kind in (kinds.UPDATE_OWNED, kinds.ALL_PARAMS):
            super().emit(kind, fields, line)
        else:
            self.replay.append((kind, fields, line))


def chunk_bounds(path: str, parts: int) -> list[tuple[int, int]]:
    """parts byte ranges that each start at a line start."""
    size = os.path.getsize(path)
    return _bounds(path, size, [size * k // parts for k in range(1, parts)])


def range_bounds(path: str, range_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of about range_bytes that each start at a line start."""
    size = os.path.getsize(path)
    return _bounds(path, size, list(range(range_bytes, size, range_bytes)))


def _bounds(path: str, size: int, positions: list[int]) -> list[tuple[int, int]]:
    cuts = [0]
    with open(path, "rb") as f:
        for position in positions:
            f.seek(max(position, cuts[-1]))
            skip_line(f)
            cuts.append(min(f.tell(), size))
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


_WARM: LineParser | None = None  # a worker's parser, kept from range to range


def _warm_parser() -> LineParser:
    """This process's parser with a new sink: its head and template caches stay warm from range
    to range (a cold start costs a few hundred lark parses a range)."""
    global _WARM
    if _WARM is None:
        _WARM = LineParser(RecordingSink())
    else:
        _WARM.sink = RecordingSink(_WARM.sink.keys)
    return _WARM


def _parse_warm_range(path: str, start: int, end: int):
    """A stream's range, in a worker; its rows come back through the pipe (a file in shared
    memory could outlive an interrupted stream)."""
    return _parse_range(path, start, end, parser=_warm_parser(), hand_over=False)


def _parse_range(path: str, start: int, end: int, progress=None, in_process: bool = False,
                 parser: LineParser | None = None, hand_over: bool = True):
    """Parse bytes [start, end) of path. The per-blob rows come back as numpy arrays from a
    worker, or as the BlobColumns themselves in the main process (no copy to stitch)."""
    parser = parser or LineParser(RecordingSink())
    sink = parser.sink
    assert isinstance(sink, RecordingSink)
    n = 0
    with io.BufferedReader(_RangeReader(path, start, end)) as stream:
        for chunk in read_chunks(stream, ReadStats()):
            raise_if_interrupted()
            n += parser.feed_chunk(chunk, n + 1)
            if progress:
                progress(len(chunk))
    blobs: object = sink.blobs
    if not in_process:
        columns = sink.blob_columns(consume=True)
        blobs = _hand_over(columns) if hand_over else columns
    return (n, blobs, sink.blob_keys, sink.totals, sink.solver, sink.clock, sink.replay,
            sink.skipped_lines.tolist(), sink.skipped_reasons)


def _hand_over(columns):
    """Write a worker's per-blob columns to a file in shared memory: sending 12 MB through the
    pool's pipe costs 50 ms, this costs 5. Where no tmpfs has room (a container's /dev/shm is
    often 64 MB) the columns go through the pipe after all."""
    size = sum(c.nbytes for c in columns)
    try:
        room = os.statvfs(SHARED_MEMORY)
        if room.f_bavail * room.f_frsize < 2 * size + (64 << 20):
            return columns
        fd, path = tempfile.mkstemp(prefix="caffelog-", dir=SHARED_MEMORY)
    except OSError:
        return columns
    try:
        with os.fdopen(fd, "wb") as f:
            for column in columns:
                f.write(np.ascontiguousarray(column).data.cast("B"))
    except OSError:
        os.unlink(path)
        return columns
    return path, len(columns[0])


def _take_over(handed, piece: int = 1 << 20):
    """The columns _hand_over wrote, `piece` rows at a time (so taking them over never holds
    them twice); the file is removed."""
    if not _is_file(handed):  # they came through the pipe
        yield handed
        return
    path, n = handed
    try:
        with open(path, "rb") as f:
            for start in range(0, n, piece):
                count = min(piece, n - start)
                yield tuple(_read_at(f, base + start * dtype.itemsize, dtype, count)
                            for base, dtype in ((0, np.dtype(np.int64)), (8 * n, np.dtype(np.int32)),
                                                (12 * n, np.dtype(np.float64))))
    finally:
        os.unlink(path)


def _is_file(handed) -> bool:
    """Whether _hand_over wrote a file ((path, rows)) rather than passing the columns."""
    return isinstance(handed[0], str)


def _read_at(f, offset: int, dtype: np.dtype, count: int) -> np.ndarray:
    f.seek(offset)
    return np.fromfile(f, dtype, count)


def usable(path, workers: int) -> bool:
    """Parallel parsing pays off for a large, plain (not gzip) regular file."""
    if workers < 2 or not isinstance(path, (str, os.PathLike)) or str(path) == "-":
        return False
    try:
        if not os.path.isfile(path) or os.path.getsize(path) < MIN_BYTES:
            return False
        with open(path, "rb") as f:
            return f.read(2) != GZIP_MAGIC
    except OSError:
        return False


def _pool(ctx, workers: int):
    """A pool whose workers leave Ctrl-C to this process. SIGINT is blocked while the pool forks
    them (and in its threads, which fork replacements): a Ctrl-C in the moment between a fork
    and the worker's initializer would otherwise stop the new worker with a traceback."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return ctx.Pool(workers, initializer=_ignore_interrupts)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a Ctrl-C meanwhile arrives now


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def parse_records_parallel(path: str, workers: int = 2, progress=None) -> tuple[RecordSink, int]:
    """Parse a plain file with `workers` processes; the same RecordSink one process would fill.

    progress, if given, hears the main process's share scaled up to the whole file."""
    path = os.fspath(path)
    bounds = chunk_bounds(path, workers)
    scaled = (lambda k: progress(k * len(bounds))) if progress else None
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    # workers leave Ctrl-C to this process, which stops them (leaving the pool terminates it):
    # no worker traceback, no wait for a worker to finish its range
    with _pool(ctx, len(bounds) - 1) as pool:
        pending = [pool.apply_async(_parse_range, (path, a, b)) for a, b in bounds[1:]]
        results = [_parse_range(path, *bounds[0], scaled, in_process=True)]
        results += [p.get() for p in pending]
    try:
        return _stitch(results)
    finally:  # interrupted halfway: leave no file behind in /dev/shm
        for handed in [r[1] for r in results[1:]]:
            if _is_file(handed) and os.path.exists(handed[0]):
                os.unlink(handed[0])


def parsed_ranges(path: str, workers: int, range_bytes: int = RANGE_BYTES) -> Iterator[tuple[tuple, int]]:
    """(a range's records, its size in bytes) for each range of path in file order, parsed by
    `workers` processes, at most AHEAD per worker waiting: memory stays bounded however fast
    the reader is. Put each into a sink with `absorb`. Leaving the loop stops the workers."""
    bounds = range_bounds(path, range_bytes)
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with _pool(ctx, workers) as pool:
        pending: deque = deque()
        for a, b in bounds:
            pending.append((pool.apply_async(_parse_warm_range, (path, a, b)), b - a))
            if len(pending) >= AHEAD * workers:
                done, size = pending.popleft()
                yield done.get(), size
        while pending:
            done, size = pending.popleft()
            yield done.get(), size


def absorb(sink: RecordSink, result: tuple, offset: int) -> int:
    """Put a range's records into sink, its lines numbered after the first `offset` lines
    (the records of earlier ranges must be in already); returns its number of lines."""
    n, blobs, key_table, totals, solver, clock, replay, skipped, reasons = result
    remap = np.array([sink.blob_key_of_tuple(k) for k in key_table], dtype=np.int32)
    if isinstance(blobs, BlobColumns):  # the first range, parsed here: adopt its rows
        assert offset == 0 and (remap == np.arange(len(remap))).all()
        sink.blobs = blobs
    else:
        for lines, keys, values in _take_over(blobs):
            sink.add_blob_chunk(lines + offset, remap[keys] if len(remap) else keys, values)
    sink.totals.extend(totals, offset)
    sink.solver.extend(solver, offset)
    sink.clock.extend_from(clock)
    for kind, fields, line in replay:
        sink.emit(kind, fields, line + offset)
    sink.add_skipped([line + offset for line in skipped], reasons)
    return n


def _stitch(results) -> tuple[RecordSink, int]:
    sink = RecordSink()
    offset = 0
    for result in results:
        offset += absorb(sink, result, offset)
    return sink, offset
