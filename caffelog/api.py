"""The library's verbs, each a short path through the pipeline (the CLI calls only these).

    import caffelog
    log = caffelog.read_log("train.log")          # tables in memory (a CaffeLog)
    findings = caffelog.diagnose("train.log")      # or diagnose(log)
"""
from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from caffelog.diagnose.diagnosis import diagnose as diagnose_log
from caffelog.diagnose.diagnosis import diagnose_windows
from caffelog.diagnose.findings import Findings
from caffelog.diagnose.settings import Settings
from caffelog.engines import Progress, read_log, read_windows
from caffelog.source.chunks import Source
from caffelog.tables import cache
from caffelog.tables.caffe_log import CaffeLog, LogSummary
from caffelog.tables.parquet import write_tables as write_stream
from caffelog.tables.windows import StreamSummary, TableStream

__all__ = ["diagnose", "diagnose_source", "export", "load", "read_log", "report", "write_tables"]


@contextlib.contextmanager
def _progress(source: Source, show: bool) -> Iterator[Progress]:
    if not show:
        yield None
        return
    from caffelog.output.progress import progress_bar
    with progress_bar(source) as update:
        yield update


def load(source: Source, use_cache: bool = True, progress: bool = False,
         layers: list[str] | None = None) -> CaffeLog:
    """read_log as the CLI wants it: the cache in front, a progress bar on a terminal."""
    with _progress(source, progress) as update:
        return read_log(source, update, use_cache=use_cache, layers=layers)


def diagnose(source: Source | CaffeLog, settings: Settings | None = None,
             use_cache: bool = False) -> Findings:
    """The findings of a log, parsed (a CaffeLog) or not (read a window at a time)."""
    if isinstance(source, CaffeLog):
        return diagnose_log(source, settings)
    return diagnose_source(source, settings, use_cache)[1]


def diagnose_source(source: Source, settings: Settings | None = None, use_cache: bool = False,
                    progress: bool = False) -> tuple[StreamSummary, Findings]:
    """Diagnose a log in bounded memory: from the cache's Parquet files a row group at a time
    when they are there, else streaming the log through the rules (and into the cache)."""
    from caffelog.diagnose.diagnosis import Diagnosis
    Diagnosis(settings)  # a settings error comes before a long parse
    with _progress(source, progress) as update:
        reading = read_windows(source, update, use_cache=use_cache)
        try:
            found = diagnose_windows(reading.windows(), reading.net, reading.solvers, settings)
        except Exception:
            if reading.engine != "cache":
                raise
            _drop_cache_entry(source)  # damaged past its first row group: read the log itself
            reading = read_windows(source, update, use_cache=use_cache, engine="stream")
            found = diagnose_windows(reading.windows(), reading.net, reading.solvers, settings)
    return reading.summary(), found


def _refuse_to_overwrite_the_input(source: Source, output: str) -> None:
    from caffelog.errors import UsageError
    from caffelog.source.chunks import file_path
    path = file_path(source)
    if path is not None and output != "-" and path.exists() and Path(output).exists() \
            and path.resolve() == Path(output).resolve():
        raise UsageError(f"{output} is the log being read: write the tables somewhere else")


def _drop_cache_entry(source: Source) -> None:
    entry = cache.entry_of(source)
    if entry is not None:
        shutil.rmtree(entry, ignore_errors=True)


def write_tables(source: Source, directory: str | Path, force: bool = False,
                 progress: bool = False) -> StreamSummary:
    """Every table of a log as Parquet files in directory, written as the log streams."""
    with _progress(source, progress) as update:
        return write_stream(TableStream(source, progress=update), directory, force=force)


def export(source: Source, output: str, table: str = "blobs", force: bool = False, use_cache: bool = True,
           on_read: Callable[[LogSummary], None] | None = None) -> list[str]:
    """Write a log's tables to `output` and return the files written: a directory gets every
    table as Parquet (streamed, bounded memory); a .parquet/.csv/.json file or '-' (CSV on
    stdout) gets one table. on_read hears what the parse found (warnings, skipped lines):
    before a file is written, after a directory is."""
    from caffelog.output.export import is_directory, write_table
    _refuse_to_overwrite_the_input(source, output)
    if is_directory(output):
        result = write_tables(source, output, force=force, progress=True)
        if on_read:
            on_read(result)
        return [str(path) for path in result.written]
    parsed = load(source, use_cache=use_cache, progress=output != "-")
    if on_read:
        on_read(parsed)
    write_table(parsed.table(table), output, force=force)
    return [] if output == "-" else [output]


def report(sources: list[Source], output: str | None = None, labels: list[str] | None = None,
           static: bool = False, force: bool = False, use_cache: bool = True, progress: bool = False,
           on_read: Callable[[LogSummary], None] | None = None) -> str:
    """One HTML page for the logs (several: one page comparing them), their diagnosis as
    `diagnose` gives it (each log's own caffelog.toml/pyproject settings). Returns its path:
    `output`, or a name made from the runs that no file has yet."""
    from caffelog.diagnose.settings import load_settings
    from caffelog.output.export import save_text, unused_name
    from caffelog.output.plot import default_name, run_labels
    from caffelog.pages.content import Run
    from caffelog.pages.page import render
    if labels and len(labels) != len(sources):
        from caffelog.errors import UsageError
        raise UsageError(f"{len(labels)} --label for {len(sources)} logs: give one per log")
    if output is not None:
        for source in sources:
            _refuse_to_overwrite_the_input(source, output)
    logs = [load(source, use_cache=use_cache, progress=progress) for source in sources]
    for log in logs:
        if on_read:
            on_read(log)
    names = list(labels or run_labels([log.source for log in logs]))
    settings = [load_settings(source if isinstance(source, str) else None) for source in sources]
    runs = [Run(log, diagnose_log(log, s), name) for log, s, name in zip(logs, settings, names)]
    images = None
    if static:
        from caffelog.pages.static import images as draw
        images = draw(runs)
    target = output or unused_name(default_name(names, "report")[:-len(".png")] + ".html")
    save_text(render(runs, images), target, force=force)
    return target
