"""The library's verbs, each a short path through the pipeline (the CLI calls only these).

    import caffelog
    log = caffelog.read_log("train.log")          # tables in memory (a CaffeLog)
    findings = caffelog.diagnose("train.log")      # or diagnose(log)
"""
from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from caffelog.diagnose.diagnosis import diagnose as diagnose_log
from caffelog.diagnose.diagnosis import diagnose_windows
from caffelog.diagnose.findings import Findings
from caffelog.diagnose.settings import Settings
from caffelog.engines import Progress, open_stream, read_log, read_windows
from caffelog.runs import pool
from caffelog.runs.facts import RunFacts
from caffelog.runs.pool import Failed
from caffelog.runs.summary import RunRow
from caffelog.source.chunks import Source
from caffelog.tables import cache
from caffelog.tables.caffe_log import CaffeLog, LogSummary
from caffelog.tables.parquet import write_tables as write_stream
from caffelog.tables.windows import StreamSummary, Tables

__all__ = ["diagnose", "diagnose_runs", "diagnose_source", "export", "load", "read_log", "report", "write_tables"]


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
    summary, findings, _ = _diagnose_streamed(source, settings, use_cache, progress, with_facts=False)
    return summary, findings


def _diagnose_streamed(source: Source, settings: Settings | None, use_cache: bool, progress: bool,
                       with_facts: bool) -> tuple[StreamSummary, Findings, RunFacts | None]:
    from caffelog.diagnose.diagnosis import Diagnosis
    Diagnosis(settings)  # a settings error comes before a long parse
    with _progress(source, progress) as update:
        for engine in (None, "stream"):
            reading = read_windows(source, update, use_cache=use_cache, engine=engine)
            facts = RunFacts() if with_facts else None
            try:
                found = diagnose_windows(_observed(reading.windows(), facts), reading.net, reading.solvers, settings)
                break
            except Exception:
                if reading.engine != "cache":
                    raise
                _drop_cache_entry(source)  # damaged past its first row group: read the log itself
    return reading.summary(), found, facts


def _observed(windows: Iterable[Tables], facts: RunFacts | None) -> Iterator[Tables]:
    for window in windows:
        if facts is not None:
            facts.observe(*window)
        yield window


@dataclass
class RunDiagnosis:
    """What one log of many came to: what `diagnose` says of it, and its headline numbers."""

    source: str
    summary: StreamSummary
    findings: Findings
    facts: RunFacts
    fail_on: str

    def row(self, label: str) -> RunRow:
        return RunRow.of(label, self.findings, self.facts)


def _diagnose_one(source: str, cli: Settings, use_cache: bool) -> RunDiagnosis:
    """One run of many, in a worker: its own settings file merged under the command line's."""
    from caffelog.diagnose.settings import load_settings
    settings = load_settings(source).merged(cli)
    summary, findings, facts = _diagnose_streamed(source, settings, use_cache, False, with_facts=True)
    assert facts is not None
    return RunDiagnosis(source, summary, findings, facts, settings.fail_on or "error")


def diagnose_runs(sources: list[str], cli: Settings | None = None, use_cache: bool = True,
                  workers: int | None = None, scheduler: str | None = None,
                  on_done: Callable[[int, int, str], None] | None = None) -> list[RunDiagnosis | Failed]:
    """Diagnose many logs, one worker each (a local process pool, or a Dask cluster when
    `scheduler` names one); each log's result, or why it could not be read, in input order."""
    results: list[RunDiagnosis | Failed] = [Failed(s, "not run") for s in sources]
    job = partial(_diagnose_one, cli=cli or Settings(), use_cache=use_cache)
    for k, result in pool.each(job, sources, workers, scheduler, on_done):
        results[k] = result
    return results


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
        return write_stream(open_stream(source, update), directory, force=force)


def export(source: Source, output: str, table: str = "blobs", force: bool = False, use_cache: bool = True,
           on_read: Callable[[LogSummary], None] | None = None) -> list[str]:
    """Write a log's tables to `output` and return the files written: a directory gets every
    table as Parquet (streamed, bounded memory); a .parquet/.csv/.json file or '-' (CSV on
    stdout) gets one table. on_read hears what the parse found (warnings, skipped lines):
    before a file is written, after a directory is."""
    from caffelog.output.export import check_table_target, is_directory, write_table
    _refuse_to_overwrite_the_input(source, output)
    if is_directory(output):
        result = write_tables(source, output, force=force, progress=True)
        if on_read:
            on_read(result)
        return [str(path) for path in result.written]
    check_table_target(output, force)  # before the parse, not after it
    parsed = load(source, use_cache=use_cache, progress=output != "-")
    if on_read:
        on_read(parsed)
    write_table(parsed.table(table), output, force=force)
    return [] if output == "-" else [output]


def report(sources: list[Source | CaffeLog], output: str | None = None, labels: list[str] | None = None,
           static: bool = False, force: bool = False, use_cache: bool = True, progress: bool = False,
           on_read: Callable[[LogSummary], None] | None = None) -> str:
    """One HTML page for the logs (several: one page comparing them), their diagnosis as
    `diagnose` gives it (each log's own caffelog.toml/pyproject settings); a source may be a
    log already read (a CaffeLog). Returns its path:
    `output`, or a name made from the runs that no file has yet."""
    from caffelog.diagnose.settings import load_settings
    from caffelog.output.export import check_text_target, save_text, unused_name
    from caffelog.output.plot import default_name, run_labels
    from caffelog.pages.content import Run
    from caffelog.pages.page import render
    if labels and len(labels) != len(sources):
        from caffelog.errors import UsageError
        raise UsageError(f"{len(labels)} --label for {len(sources)} logs: give one per log")
    if output is not None:
        for source in sources:
            _refuse_to_overwrite_the_input(source.source if isinstance(source, CaffeLog) else source, output)
        check_text_target(output, force)  # before the parse, not after it
    logs = [s if isinstance(s, CaffeLog) else load(s, use_cache=use_cache, progress=progress) for s in sources]
    for log in logs:
        if on_read:
            on_read(log)
    names = list(labels or run_labels([log.source for log in logs]))
    settings = [load_settings(s.source if isinstance(s, CaffeLog) else s if isinstance(s, str) else None)
                for s in sources]
    runs = [Run(log, diagnose_log(log, s), name) for log, s, name in zip(logs, settings, names)]
    images = None
    if static:
        from caffelog.pages.static import images as draw
        images = draw(runs)
    target = output or unused_name(default_name(names, "report")[:-len(".png")] + ".html")
    save_text(render(runs, images), target, force=force)
    return target


@dataclass
class DatasetResult:
    """What `parse LOG... -o DIR` did: the runs it (re)wrote, those already there, the failures."""

    directory: Path
    written: list[str]
    unchanged: list[str]
    failed: list[Failed]


def write_dataset(sources: list[str], directory: str | Path, labels: list[str] | None = None,
                  workers: int | None = None, scheduler: str | None = None,
                  on_done: Callable[[int, int, str], None] | None = None, every: bool = False) -> DatasetResult:
    """Every log's tables as one hive-partitioned Parquet dataset (caffelog/runs/dataset.py);
    logs already in it, unchanged, are not parsed again (unless `every`). Each worker writes its
    own partitions."""
    from caffelog.runs import dataset
    out = Path(directory)
    created = not out.exists()
    dataset.check_directory(out)
    try:
        return _write_dataset(sources, out, labels, workers, scheduler, on_done, every)
    except BaseException:
        if created:  # a dataset that could not be made leaves no folder behind (a full disk)
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        with contextlib.suppress(OSError):
            (out / dataset.STAGING).rmdir()  # the workers' staging folder, once empty


def _write_dataset(sources: list[str], out: Path, labels: list[str] | None, workers: int | None,
                   scheduler: str | None, on_done: Callable[[int, int, str], None] | None,
                   every: bool) -> DatasetResult:
    from caffelog.runs import dataset
    known = dataset.known_runs(out)
    names = list(labels) if labels else _stable_labels(sources, known)
    if len(set(names)) != len(names):
        from caffelog.errors import UsageError
        raise UsageError("two runs with one label: give each --label once")
    todo = [(s, n) for s, n in zip(sources, names) if every or not dataset.unchanged(known, s, n, out)]
    done = [n for s, n in zip(sources, names) if (s, n) not in todo]
    rows, failed = [], []
    for _, result in pool.each(_WriteRun(dict(todo), str(out)), [s for s, _ in todo], workers, scheduler, on_done):
        if isinstance(result, Failed):
            failed.append(result)
        else:
            rows.append(result.row)
    if rows or not (out / "table=runs").exists():
        dataset.write_runs_table(out, known, rows)
    return DatasetResult(out, [r["label"] for r in rows], done, failed)


@dataclass
class _WriteRun:
    """write_run for a worker: which label each source gets, and where the dataset is."""

    labels: dict[str, str]
    directory: str

    def __call__(self, source: str):
        from caffelog.runs.dataset import write_run
        return write_run(source, self.labels[source], self.directory)


def _stable_labels(sources: list[str], known) -> list[str]:
    """Labels that do not move when logs are added: a log the dataset holds keeps its label."""
    import os

    from caffelog.output.plot import run_labels
    by_path = dict(zip(known["path"], known["label"]))
    fresh = run_labels(list(known["path"]) + [os.path.realpath(s) for s in sources])[len(known):] \
        if len(known) else run_labels(sources)
    taken = set(known["label"])
    out = []
    for source, label in zip(sources, fresh):
        old = by_path.get(os.path.realpath(source))
        out.append(old if old is not None else label if label not in taken else os.path.realpath(source))
    return out


def compare(sources: list[Source | CaffeLog], labels: list[str] | None = None, tolerance: float | None = None,
            use_cache: bool = True) -> str:
    """The comparison of runs as `caffelog compare` prints it (the first run is the reference)."""
    from caffelog.diagnose.settings import load_settings
    from caffelog.output.plot import run_labels
    from caffelog.runs.compare import DEFAULT_TOLERANCE
    from caffelog.runs.compare import compare as compare_logs
    from caffelog.runs.compare_report import ComparedRun, render_comparison
    from caffelog.tables.windows import windows_of
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    logs = [s if isinstance(s, CaffeLog) else load(s, use_cache=use_cache) for s in sources]
    names = list(labels or run_labels([log.source for log in logs]))
    runs = []
    for log, name in zip(logs, names):
        facts = RunFacts()
        for window in windows_of(log):
            facts.observe(*window)
        runs.append(ComparedRun(name, diagnose_log(log, load_settings(log.source)), facts))
    comparisons = [compare_logs(logs[0], other, tol) for other in logs[1:]]
    return render_comparison(runs, comparisons, tol)


@dataclass
class _WriteEvents:
    """The TensorBoard export of one log, in a worker: read it, write its folder of events."""

    folders: dict[str, str]
    use_cache: bool

    def __call__(self, source: str) -> tuple[int, int]:
        from caffelog.runs.tensorboard import write
        return write(read_log(source, use_cache=self.use_cache), self.folders[source])


def export_tensorboard(sources: list[str], directory: str | Path, labels: list[str] | None = None,
                       use_cache: bool = True, workers: int | None = None, scheduler: str | None = None,
                       on_done: Callable[[int, int, str], None] | None = None
                       ) -> tuple[dict[str, tuple[int, int]], list[Failed]]:
    """Each log's tables as TensorBoard event files in `directory/<label>/`; per label, the values
    written and those with no iteration (left out); and the logs that failed."""
    from caffelog.output.plot import run_labels
    from caffelog.runs.tensorboard import write  # noqa: F401  (a missing extra fails before any work)
    names = list(labels or run_labels(sources))
    folders = {s: str(Path(directory, *[p for p in Path(n).parts if p not in ("..", "/")]))
               for s, n in zip(sources, names)}
    created = not Path(directory).exists()
    written, failed = {}, []
    for k, result in pool.each(_WriteEvents(folders, use_cache), sources, workers, scheduler, on_done):
        if isinstance(result, Failed):
            failed.append(result)
        else:
            written[names[k]] = result
    if created and not written:  # every run failed (a full disk): no folder left behind
        with contextlib.suppress(OSError):
            Path(directory).rmdir()
    return written, failed
