"""A second look is instant: parsed tables cached as Parquet in the user's cache directory.

The key is the log's absolute path, size and mtime, caffelog's version and the grammar's text,
so an edited log, a new caffelog or a changed grammar never serves stale tables. stdin and file
objects are never cached. ``CAFFELOG_CACHE_DIR`` moves the cache (tests use it).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import __version__
from .findings import Finding
from .log import CaffeLog, read_log
from .parser import grammar_path
from .reader import describe
from .tables import Skipped

if TYPE_CHECKING:  # stream imports pyarrow: only a diagnosis pays for it
    from .stream import StreamedLog, TableFiles, TableStream

LIST_COLUMNS = ("bottoms", "tops", "top_shapes", "top_counts")
CATEGORICAL = {"blobs": ("phase", "direction", "layer", "role", "blob", "quantity"),
               "scalars": ("phase", "source", "name")}
ROW_GROUP_ROWS = 250_000  # rows per Parquet row group in the cache: what a diagnosis reads at once
# bump when the tables change shape, so old cache entries are never read
SCHEMA = 3


def cache_dir() -> Path:
    env = os.environ.get("CAFFELOG_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("caffelog"))


def cache_key(path: Path) -> str:
    st = path.stat()
    grammar = hashlib.sha256(grammar_path().read_bytes()).hexdigest()
    ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{__version__}|{SCHEMA}|{grammar}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def read_log_cached(source, use_cache: bool = True, progress: bool = False,
                    layers: list[str] | None = None) -> CaffeLog:
    """read_log with the cache in front when source is a regular file.

    layers (names or shell patterns): when the tables come from the cache, read only the blobs
    rows of these layers; a plot of one layer of a long log need not load them all. The other
    tables are whole, and a parse from the log itself always gives every row."""
    entry = _entry_of(source, use_cache)
    if entry is not None and (entry / "meta.json").is_file():
        try:
            log = load_entry(entry, layers)
            log.source = describe(source)  # the name this caller used, not the first one's
            return log
        except Exception:  # a damaged cache entry is re-parsed, never fatal
            shutil.rmtree(entry, ignore_errors=True)
    log = _read_with_progress(source, progress)
    if entry is not None:
        try:
            save_entry(log, entry)
        except OSError:
            pass  # a read-only or full cache dir must not stop the parse
    return log


def _file_path(source) -> Path | None:
    """The path of a source named by path ('-' is stdin, not a file)."""
    return Path(source) if isinstance(source, (str, os.PathLike)) and str(source) != "-" else None


def _entry_of(source, use_cache: bool) -> Path | None:
    """Where the cache keeps this source's tables: regular files only (not stdin or objects)."""
    path = _file_path(source)
    if not (use_cache and path is not None and path.is_file()):
        return None
    return cache_dir() / cache_key(path)


def diagnose_cached(source, settings=None, use_cache: bool = True,
                    progress: bool = False) -> tuple[StreamedLog, list[Finding]]:
    """Diagnose a log in bounded memory: from the cache's Parquet files a row group at a time
    when they are there, else streaming the log through the rules (and into the cache)."""
    from .diagnose import Diagnosis
    from .stream import TableStream
    diagnosis = Diagnosis(settings)  # a settings error comes before a long parse
    entry = _entry_of(source, use_cache)
    if entry is not None and (entry / "meta.json").is_file():
        try:
            summary, net, solver = _fold_entry(entry, diagnosis)
            summary.source = describe(source)
            return summary, diagnosis.findings(net, solver)
        except Exception:  # a damaged cache entry is re-parsed, never fatal
            shutil.rmtree(entry, ignore_errors=True)
            diagnosis = Diagnosis(settings)
    with progress_bar(source) if progress else contextlib.nullcontext() as update:
        summary, net, solver = _fold_stream(TableStream(source, progress=update), diagnosis, entry)
    return summary, diagnosis.findings(net, solver)


def _fold_stream(stream: TableStream, diagnosis, entry: Path | None):
    """Feed the stream's windows to the diagnosis and, when entry is given, into a new cache
    entry (written under a temporary name, renamed when complete; a cache dir that cannot be
    written to only means no entry)."""
    from .stream import StreamedLog, with_last
    tmp = entry.with_name(entry.name + f".tmp{os.getpid()}") if entry is not None else None
    files = _open_files(tmp)
    try:
        for (blobs, totals, scalars), last in with_last(stream.windows()):
            diagnosis.observe(blobs, totals, scalars)
            if files is not None:
                try:
                    files.write(blobs, totals, scalars, final=last)
                except OSError:
                    files.abandon()
                    files = None
        net, solvers = stream.net(), stream.solvers()
        summary = StreamedLog.of(stream)
        if files is not None:
            with contextlib.suppress(OSError):
                files.close()
                net.to_parquet(tmp / "net.parquet", index=False)
                _write_meta(tmp, summary.source, solvers, summary.skipped, summary.n_lines,
                            summary.warnings, stream.crashed())
                _publish(tmp, entry)
    finally:
        if tmp is not None and tmp.exists():
            if files is not None:
                files.abandon()
            shutil.rmtree(tmp, ignore_errors=True)
    return summary, net, solvers[0] if solvers else {}


def _open_files(tmp: Path | None) -> TableFiles | None:
    from .stream import TableFiles
    if tmp is None:
        return None
    try:
        tmp.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return TableFiles(tmp)


def _fold_entry(entry: Path, diagnosis):
    """Fold a cache entry's tables into the diagnosis, a batch of blobs rows at a time with the
    totals and scalars rows up to the same line."""
    import pyarrow.parquet as pq

    from .stream import StreamedLog
    meta = json.loads((entry / "meta.json").read_text())
    net = _read_net(entry)
    totals, scalars = (_LineAligned(entry / f"{name}.parquet") for name in ("totals", "scalars"))
    blobs_file = pq.ParquetFile(entry / "blobs.parquet")
    for blobs in _row_groups(blobs_file):
        blobs = _categorical(blobs, "blobs")
        upto = int(blobs["line"].iloc[-1]) if len(blobs) else None
        if upto is not None:
            diagnosis.observe(blobs, totals.upto(upto), _categorical(scalars.upto(upto), "scalars"))
    diagnosis.observe(blobs_file.schema_arrow.empty_table().to_pandas(), totals.upto(None),
                      _categorical(scalars.upto(None), "scalars"))
    rows = {"blobs": blobs_file.metadata.num_rows, "totals": totals.rows, "scalars": scalars.rows}
    summary = StreamedLog(meta["source"], meta["n_lines"], rows, meta["warnings"],
                          Skipped(**meta["skipped"]))
    return summary, net, meta["solver"]


def _row_groups(file) -> Iterator[pd.DataFrame]:
    """A Parquet file a row group at a time (iter_batches buffers far more: 2x the peak)."""
    for i in range(file.num_row_groups):
        yield file.read_row_group(i).to_pandas()


class _LineAligned:
    """A Parquet table sorted by line, read a batch at a time up to a given line."""

    def __init__(self, path: Path):
        import pyarrow.parquet as pq
        file = pq.ParquetFile(path)
        self.batches = _row_groups(file)
        self.buffer = file.schema_arrow.empty_table().to_pandas()
        self.rows = file.metadata.num_rows

    def upto(self, line: int | None) -> pd.DataFrame:
        """The rows not handed out yet whose line is <= `line` (None: all the rest)."""
        parts = [self.buffer]
        while line is None or not len(parts[-1]) or parts[-1]["line"].iloc[-1] <= line:
            batch = next(self.batches, None)
            if batch is None:
                break
            parts.append(batch)
        rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        n = len(rows) if line is None else int(np.searchsorted(rows["line"].to_numpy(), line, side="right"))
        self.buffer = rows.iloc[n:]
        return rows.iloc[:n]


def _read_with_progress(source, progress: bool) -> CaffeLog:
    if not progress:
        return read_log(source)
    with progress_bar(source) as update:
        return read_log(source, progress=update)


@contextlib.contextmanager
def progress_bar(source):
    """A progress callback (bytes read) drawing a bar on stderr for a big file on a terminal;
    None otherwise, so pipes and logs stay clean."""
    path = _file_path(source)
    big = path is not None and path.is_file() and path.stat().st_size > (32 << 20)
    if not (big and sys.stderr.isatty()):
        yield None
        return
    import click
    with click.progressbar(length=path.stat().st_size, label=f"parsing {path.name}",
                           file=sys.stderr) as bar:
        yield bar.update


def save_entry(log: CaffeLog, entry: Path) -> None:
    tmp = entry.with_name(entry.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in log.TABLES:
        log.table(name).to_parquet(tmp / f"{name}.parquet", index=False, row_group_size=ROW_GROUP_ROWS)
    _write_meta(tmp, log.source, log.solvers, log.skipped, log.n_lines, log.warnings, log.crashed)
    _publish(tmp, entry)


def _write_meta(folder: Path, source: str, solvers: list[dict], skipped: Skipped, n_lines: int,
                warnings: list[str], crashed: bool) -> None:
    meta = {"source": source, "solver": solvers[0] if solvers else {}, "solvers": solvers,
            "skipped": {"count": skipped.count, "lines": skipped.lines, "reasons": skipped.reasons},
            "n_lines": n_lines, "warnings": warnings, "crashed": crashed}
    (folder / "meta.json").write_text(json.dumps(meta, default=str))


def _publish(tmp: Path, entry: Path) -> None:
    """A complete entry appears at once, or not at all (another process may have won)."""
    try:
        os.replace(tmp, entry)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def load_entry(entry: Path, layers: list[str] | None = None) -> CaffeLog:
    meta = json.loads((entry / "meta.json").read_text())
    frames = {name: pd.read_parquet(entry / f"{name}.parquet") for name in ("totals", "scalars")}
    frames["net"] = _read_net(entry)
    frames["blobs"] = (_read_layers(entry / "blobs.parquet", layers) if layers
                       else pd.read_parquet(entry / "blobs.parquet"))
    for name in CATEGORICAL:
        frames[name] = _categorical(frames[name], name)
    return CaffeLog(source=meta["source"], solver=meta["solver"], solvers=meta["solvers"],
                    skipped=Skipped(**meta["skipped"]), n_lines=meta["n_lines"],
                    warnings=meta["warnings"], crashed=meta["crashed"], **frames)


def _read_net(entry: Path) -> pd.DataFrame:
    net = pd.read_parquet(entry / "net.parquet")
    for col in LIST_COLUMNS:
        net[col] = net[col].map(_as_list)
    return net


def _categorical(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """An empty categorical comes back from Parquet as object: make it a category again."""
    for col in CATEGORICAL[table]:
        if df[col].dtype != "category":
            df[col] = df[col].astype("category")
    return df


def _read_layers(path: Path, patterns: list[str]) -> pd.DataFrame:
    """The blobs rows of the layers matching patterns (all rows if none match, so that the
    caller's 'no such layer' message can list them all). Row order and categories are kept."""
    import fnmatch

    import pyarrow.parquet as pq
    column = pq.read_table(path, columns=["layer"]).column("layer")
    names = {str(name) for chunk in column.chunks if hasattr(chunk, "dictionary")
             for name in chunk.dictionary.to_pylist()}
    wanted = sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))
    if not wanted:
        return pd.read_parquet(path)
    return pd.read_parquet(path, filters=[("layer", "in", wanted)]).reset_index(drop=True)


def _as_list(value):
    if value is None:
        return []
    return [tuple(v) if hasattr(v, "__len__") and not isinstance(v, str) else v for v in value]


def clear() -> int:
    """Remove every cache entry; returns how many."""
    root = cache_dir()
    if not root.is_dir():
        return 0
    entries = [p for p in root.iterdir() if p.is_dir()]
    for p in entries:
        shutil.rmtree(p, ignore_errors=True)
    return len(entries)
