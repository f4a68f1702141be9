"""A second look is instant: parsed tables cached as Parquet in the user's cache directory.

The key is the log's absolute path, size, mtime, ctime and inode, caffelog's version and the
grammar's text, so an edited log (even one whose size and mtime were put back), a new caffelog
or a changed grammar never serves stale tables. stdin and file
objects are never cached. ``CAFFELOG_CACHE_DIR`` moves the cache (tests use it).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from caffelog.parse.grammar import grammar_digest
from caffelog.source.chunks import file_path
from caffelog.staging import stage_beside
from caffelog.tables.build import CATEGORICAL, LIST_COLUMNS, Skipped
from caffelog.tables.caffe_log import CaffeLog
from caffelog.tables.parquet import TableFiles
from caffelog.tables.windows import WINDOW_ROWS, StreamSummary, Tables
from caffelog.user_cache import cache_dir
from caffelog.version import __version__

# bump when the tables change shape, so old cache entries are never read
SCHEMA = 4


def cache_key(path: Path) -> str:
    st = path.stat()
    grammar = grammar_digest()
    # ctime and inode too: an edit in place that keeps the size and restores the mtime, or a
    # `cp -p` over the log, changes the ctime (no user can set it) or the inode
    stamp = f"{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}|{st.st_dev}"
    ident = f"{path.resolve()}|{stamp}|{__version__}|{SCHEMA}|{grammar}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def entry_of(source) -> Path | None:
    """Where the cache keeps this source's tables: regular files only (not stdin or objects)."""
    path = file_path(source)
    if path is None or not path.is_file():
        return None
    return cache_dir() / cache_key(path)


def is_complete(entry: Path | None) -> bool:
    return entry is not None and (entry / "meta.json").is_file()


class EntryWindows:
    """A cache entry's tables a window at a time: a row group of blobs rows with the totals
    and scalars rows up to the same line (what a streamed parse would hand out)."""

    def __init__(self, entry: Path):
        import pyarrow.parquet as pq
        self.entry = entry
        self.meta = json.loads((entry / "meta.json").read_text())
        self.blobs_file = pq.ParquetFile(entry / "blobs.parquet")
        self.rows: dict[str, int] = {}

    def windows(self) -> Iterator[Tables]:
        totals, scalars = (_LineAligned(self.entry / f"{name}.parquet") for name in ("totals", "scalars"))
        for blobs in _row_groups(self.blobs_file):
            blobs = _categorical(blobs, "blobs")
            if len(blobs):
                upto = int(blobs["line"].iloc[-1])
                yield blobs, totals.upto(upto), _categorical(scalars.upto(upto), "scalars")
        yield (self.blobs_file.schema_arrow.empty_table().to_pandas(), totals.upto(None),
               _categorical(scalars.upto(None), "scalars"))
        self.rows = {"blobs": self.blobs_file.metadata.num_rows, "totals": totals.rows,
                     "scalars": scalars.rows}

    def net(self) -> pd.DataFrame:
        return _read_net(self.entry)

    def solvers(self) -> list[dict]:
        return self.meta["solvers"]

    def summary(self) -> StreamSummary:
        meta = self.meta
        return StreamSummary(meta["source"], meta["n_lines"], dict(self.rows), meta["warnings"],
                             Skipped(**meta["skipped"]))


class EntryWriter:
    """A new cache entry filled a window at a time as a log streams, published when complete
    (under a temporary name until then; a cache dir that cannot be written to means no entry)."""

    def __init__(self, entry: Path):
        self.entry = entry
        self.tmp: Path | None = None
        self.files: TableFiles | None = None
        try:
            self.tmp = _stage(entry)
            self.files = TableFiles(self.tmp)
        except OSError:
            self.files = None

    def write(self, window: Tables, final: bool) -> None:
        if self.files is None:
            return
        try:
            self.files.write(*window, final=final)
        except OSError:
            self.files.abandon()
            self.files = None

    def publish(self, net: pd.DataFrame, solvers: list[dict], summary: StreamSummary,
                crashed: bool) -> None:
        if self.files is not None and self.tmp is not None:
            with contextlib.suppress(OSError):
                self.files.close()
                net.to_parquet(self.tmp / "net.parquet", index=False)
                _write_meta(self.tmp, summary.source, solvers, summary.skipped, summary.n_lines,
                            summary.warnings, crashed)
                _publish(self.tmp, self.entry)
        self.discard()

    def discard(self) -> None:
        """Remove what is left of the temporary entry (nothing once published)."""
        if self.tmp is not None and self.tmp.exists():
            if self.files is not None:
                with contextlib.suppress(OSError):
                    self.files.abandon()
            shutil.rmtree(self.tmp, ignore_errors=True)


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


def save_entry(log: CaffeLog, entry: Path) -> None:
    """Write a parsed log's entry; a failure (a full disk) leaves nothing behind and is raised."""
    tmp = _stage(entry)
    try:
        for name in log.TABLES:
            log.table(name).to_parquet(tmp / f"{name}.parquet", index=False, row_group_size=WINDOW_ROWS)
        _write_meta(tmp, log.source, log.solvers, log.skipped, log.n_lines, log.warnings, log.crashed)
        _publish(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _stage(entry: Path) -> Path:
    """A new private directory beside the entry (a unique name: nothing planted can be followed)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    return stage_beside(entry)


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
    caller's 'no such layer' message can list them all). Row order and categories are kept.
    The whole table is read and filtered by arrow: pandas' `filters=` takes twice as long."""
    import fnmatch

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    table = pq.read_table(path)
    column = table.column("layer")
    names = {str(name) for chunk in column.chunks if hasattr(chunk, "dictionary")
             for name in chunk.dictionary.to_pylist()}
    wanted = sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))
    if wanted:
        table = table.filter(pc.is_in(column, value_set=pa.array(wanted, pa.string())))
    return table.to_pandas()


def _as_list(value) -> list:
    """A list column as the parse made it: Python lists of str, int or tuples of int (Parquet
    hands back numpy arrays of numpy ints, which print as np.int64(32) in a CSV)."""
    if value is None:
        return []
    return [tuple(_plain(x) for x in v) if hasattr(v, "__len__") and not isinstance(v, str) else _plain(v)
            for v in value]


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def clear() -> int:
    """Remove every cache entry; returns how many."""
    root = cache_dir()
    if not root.is_dir():
        return 0
    entries = [p for p in root.iterdir() if p.is_dir()]
    for p in entries:
        shutil.rmtree(p, ignore_errors=True)
    return len(entries)
