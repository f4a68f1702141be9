"""How a log is read: the one module that chooses an engine, from what the caller asks for.

Five engines give the same tables (tests/test_engines.py runs the table tests on each):

========  ==================================================  ==================================
engine    how                                                 chosen when
========  ==================================================  ==================================
cache     the Parquet tables of an earlier parse               use_cache, a regular file seen before
memory    one process, every row in memory                     tables asked for, otherwise
parallel  a big plain file's byte ranges on 2 processes,       tables asked for, a plain file of
          stitched in line order                               8 MB or more
stream    windows of final rows as the log streams (a big     windows asked for (diagnose, parse -o)
          plain file: 8 MB ranges parsed on 2 processes)
follow    windows as a growing file grows                      follow() (--follow)
========  ==================================================  ==================================

`read_log` gives the tables in memory (a CaffeLog), `read_windows` a window at a time in bounded
memory, `follow` as a file grows. Every caller (the CLI, the library) goes through these three.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pandas as pd

from caffelog.errors import UsageError
from caffelog.parse import parallel
from caffelog.parse.feed import RecordFeed
from caffelog.source import tail
from caffelog.source.chunks import ReadStats, Source, describe, iter_chunks
from caffelog.tables import cache
from caffelog.tables.build import CATEGORICAL
from caffelog.tables.caffe_log import CaffeLog, build_log
from caffelog.tables.windows import StreamSummary, Tables, TableStream, windows_of, with_last

ENGINES = ("cache", "memory", "parallel", "stream", "follow")
Progress = Callable[[int], None] | None  # told the bytes read, chunk by chunk


def default_workers() -> int:
    """Processes for a big plain file: CAFFELOG_WORKERS, else the CPUs this process may use, at
    most 2 (a third process gains nothing measurable: the stitching is serial). CAFFELOG_WORKERS
    is held to 1..the CPUs: more processes than cores only cost memory and file handles (300 ran
    out of them)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    env = os.environ.get("CAFFELOG_WORKERS", "").strip()
    if env.isdigit():
        return max(1, min(int(env), cpus))
    return min(cpus, 2)


def choose(source: Source, windows: bool = False, use_cache: bool = False,
           workers: int | None = None) -> str:
    """The engine for this source and request (see the table above)."""
    if use_cache and cache.is_complete(cache.entry_of(source)):
        return "cache"
    if windows:
        return "stream"
    return "parallel" if parallel.usable(source, _workers(workers)) else "memory"


def _workers(workers: int | None) -> int:
    return default_workers() if workers is None else workers


def _check(engine: str) -> None:
    if engine not in ENGINES:
        raise UsageError(f"no engine {engine!r}; engines are {', '.join(ENGINES)}")


# -- the tables in memory ------------------------------------------------------------------
def read_log(source: Source, progress: Progress = None, workers: int | None = None,
             use_cache: bool = False, layers: list[str] | None = None,
             engine: str | None = None) -> CaffeLog:
    """Parse a Caffe log: a path (plain or .gz), '-' for stdin, a file object, or lines.

    A large plain file is parsed by `workers` processes (default: up to 2 CPUs); the tables are
    identical whichever engine reads them. use_cache: serve a second look from the cache (and
    fill it on the first); `layers` (names or shell patterns) then limits the blobs rows read
    from it. Raises LogInputError when there is nothing Caffe-like to read.
    """
    engine = engine or choose(source, use_cache=use_cache, workers=workers)
    _check(engine)
    if engine == "cache":
        log = _from_cache(source, layers)
        if log is not None:
            return log
        engine = choose(source, workers=workers)
    log = _READERS[engine](source, progress, _workers(workers))
    entry = cache.entry_of(source) if use_cache else None
    if entry is not None:
        with contextlib.suppress(OSError):  # a read-only or full cache dir must not stop the parse
            cache.save_entry(log, entry)
    return log


def _from_cache(source: Source, layers: list[str] | None) -> CaffeLog | None:
    """The cached tables of source (None when there are none, or they are damaged: a damaged
    entry is removed and the log parsed again, never fatal)."""
    entry = _filled_entry(source)
    if entry is None:
        return None
    try:
        log = cache.load_entry(entry, layers)
    except Exception:  # noqa: BLE001 - whatever is wrong with the entry, the log is still there
        shutil.rmtree(entry, ignore_errors=True)
        return None
    log.source = describe(source)  # the name this caller used, not the first one's
    return log


def _filled_entry(source: Source):
    """The cache entry of a file, parsed into it first if the cache engine was asked for by
    name and has none yet (None: not a file, so never cached)."""
    entry = cache.entry_of(source)
    if entry is not None and not cache.is_complete(entry):
        cache.save_entry(_read_in_process(source, None, 1), entry)
    return entry


def _read_in_process(source: Source, progress: Progress, workers: int) -> CaffeLog:
    stats = ReadStats()
    records = RecordFeed(describe(source))
    for chunk in iter_chunks(source, stats):
        records.feed(chunk)
        if progress:
            progress(len(chunk))
        records.give_up_if_foreign()
    return build_log(records.sink, records.n_lines, records.name, stats, consume=True)


def _read_in_parallel(source: Source, progress: Progress, workers: int) -> CaffeLog:
    if not parallel.usable(source, workers):
        return _read_in_process(source, progress, workers)
    sink, n = parallel.parse_records_parallel(os.fspath(source), max(workers, 2), progress)  # type: ignore[arg-type]
    return build_log(sink, n, describe(source), ReadStats(), consume=True)


def _read_streamed(source: Source, progress: Progress, workers: int) -> CaffeLog:
    """The stream's windows put together (what read_windows hands out, in one piece)."""
    return _joined(open_stream(source, progress, workers))


def _read_followed(source: Source, progress: Progress, workers: int) -> CaffeLog:
    """What a follower has read once the file stops growing."""
    if not isinstance(source, (str, os.PathLike)):
        raise UsageError("only a file can be followed")
    parts: list[Tables] = []
    stream = None
    for update in follow(os.fspath(source), poll=0.0, idle_timeout=0.0):
        stream = update.stream
        if update.restarted:
            parts.clear()
        if update.tables is not None:
            parts.append(update.tables)
    if stream is None:
        stream = TableStream(source)
        stream.records.check_understood()
    return _assembled(stream, parts)


def _joined(stream: TableStream) -> CaffeLog:
    return _assembled(stream, list(stream.windows()))


def _assembled(stream: TableStream, parts: list[Tables]) -> CaffeLog:
    blobs, totals, scalars = (_concat([p[i] for p in parts], name)
                              for i, name in enumerate(("blobs", "totals", "scalars")))
    solvers = stream.solvers()
    return CaffeLog(source=describe(stream.source), blobs=blobs, totals=totals, scalars=scalars,
                    net=stream.net(), solver=solvers[0] if solvers else {}, solvers=solvers,
                    skipped=stream.skipped(), n_lines=stream.n_lines, warnings=stream.warnings(),
                    crashed=stream.crashed())


def _concat(frames: list[pd.DataFrame], table: str) -> pd.DataFrame:
    """Windows of one table as one frame; categorical columns stay categorical."""
    frames = [f for f in frames if len(f)] or frames[-1:]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    out = pd.concat(frames, ignore_index=True)
    for column in CATEGORICAL.get(table, ()):
        out[column] = pd.api.types.union_categoricals([f[column] for f in frames])
    return out


_READERS = {"memory": _read_in_process, "parallel": _read_in_parallel,
            "stream": _read_streamed, "follow": _read_followed}


# -- the tables a window at a time ---------------------------------------------------------
@dataclass
class Reading:
    """A log being read a window at a time: iterate `windows()` once, then ask the rest."""

    engine: str
    source: Source
    windows: Callable[[], Iterator[Tables]]
    net: Callable[[], pd.DataFrame]
    solvers: Callable[[], list[dict]]
    summary: Callable[[], StreamSummary]


def read_windows(source: Source, progress: Progress = None, use_cache: bool = False,
                 engine: str | None = None) -> Reading:
    """The log's tables in windows, in log order, in bounded memory (from the cache when
    use_cache and it has them; a streamed read fills the cache on the way when use_cache)."""
    engine = engine or choose(source, windows=True, use_cache=use_cache)
    _check(engine)
    if engine == "cache":
        reading = _cached_windows(source)
        if reading is not None:
            return reading
        engine = "stream"
    if engine in ("memory", "parallel", "follow"):
        log = read_log(source, progress, engine=engine)
        return Reading(engine, source, lambda: windows_of(log), lambda: log.net,
                       lambda: log.solvers, lambda: _summary_of(log))
    return _streamed_windows(source, progress, cache.entry_of(source) if use_cache else None)


def _cached_windows(source: Source) -> Reading | None:
    entry = _filled_entry(source)
    if entry is None:
        return None
    try:
        stored = cache.EntryWindows(entry)
    except Exception:  # noqa: BLE001 - a damaged entry is parsed again, never fatal
        shutil.rmtree(entry, ignore_errors=True)
        return None

    def summary() -> StreamSummary:
        s = stored.summary()
        s.source = describe(source)
        return s

    return Reading("cache", source, stored.windows, stored.net, stored.solvers, summary)


def open_stream(source: Source, progress: Progress = None, workers: int | None = None) -> TableStream:
    """A log's tables in windows as it streams; a big plain file is parsed by `workers`
    processes (default: up to 2 CPUs) while this one builds the tables and uses them."""
    return TableStream(source, progress=progress, workers=_workers(workers))


def _streamed_windows(source: Source, progress: Progress, entry) -> Reading:
    stream = open_stream(source, progress)

    def windows() -> Iterator[Tables]:
        writer = cache.EntryWriter(entry) if entry is not None else None
        try:
            for window, last in with_last(stream.windows()):
                if writer is not None:
                    writer.write(window, final=last)
                yield window
            if writer is not None:
                writer.publish(stream.net(), stream.solvers(), StreamSummary.of(stream),
                               stream.crashed())
        finally:
            if writer is not None:
                writer.discard()

    return Reading("stream", source, windows, stream.net, stream.solvers,
                   lambda: StreamSummary.of(stream))


def _summary_of(log: CaffeLog) -> StreamSummary:
    rows = {name: len(log.table(name)) for name in ("blobs", "totals", "scalars")}
    return StreamSummary(log.source, log.n_lines, rows, log.warnings, log.skipped)


# -- the tables as a file grows --------------------------------------------------------------
@dataclass
class Update:
    """What a followed log grew by: the rows that became final (None: none yet), the stream
    (net and solver settings so far), whether the file started over, whether the run ended."""

    tables: Tables | None
    stream: TableStream
    restarted: bool
    final: bool


def follow(path: str, poll: float = 1.0, idle_timeout: float | None = None) -> Iterator[Update]:
    """Updates as `path` grows, until the run reports its end (`Optimization Done.` or a crash),
    the caller stops iterating, or idle_timeout seconds pass without growth (then a last update
    hands out every row left). Memory stays bounded: each update costs what the file grew by."""
    stream = TableStream(path)
    for chunk, restarted in tail.grown_chunks(path, poll, idle_timeout):
        if restarted:
            stream = TableStream(path)
        stream.feed(chunk)
        if not stream.understood():
            if restarted:
                yield Update(None, stream, True, False)
            continue
        done = stream.finished()
        tables = stream.take(final=done) if done or stream.has_final_rows() else None
        yield Update(tables, stream, restarted, done)
        if done:
            return
    if stream.understood():
        yield Update(stream.take(final=True), stream, False, True)
