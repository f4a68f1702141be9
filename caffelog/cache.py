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

import pandas as pd

from . import __version__
from .log import CaffeLog, read_log
from .parser import grammar_path
from .reader import describe
from .tables import Skipped

LIST_COLUMNS = ("bottoms", "tops", "top_shapes", "top_counts")
CATEGORICAL = {"blobs": ("phase", "direction", "layer", "role", "blob", "quantity"),
               "scalars": ("phase", "source", "name")}
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
    path = Path(source) if isinstance(source, (str, os.PathLike)) and str(source) != "-" else None
    cacheable = use_cache and path is not None and path.is_file()
    entry = cache_dir() / cache_key(path) if cacheable else None
    if entry is not None and (entry / "meta.json").is_file():
        try:
            log = load_entry(entry, layers)
            log.source = describe(source)  # the name this caller used, not the first one's
            return log
        except Exception:  # a damaged cache entry is re-parsed, never fatal
            shutil.rmtree(entry, ignore_errors=True)
    log = _read_with_progress(source, path, progress)
    if entry is not None:
        try:
            save_entry(log, entry)
        except OSError:
            pass  # a read-only or full cache dir must not stop the parse
    return log


def _read_with_progress(source, path: Path | None, progress: bool) -> CaffeLog:
    if not progress:
        return read_log(source)
    with progress_bar(source) as update:
        return read_log(source, progress=update)


@contextlib.contextmanager
def progress_bar(source):
    """A progress callback (bytes read) drawing a bar on stderr for a big file on a terminal;
    None otherwise, so pipes and logs stay clean."""
    path = Path(source) if isinstance(source, (str, os.PathLike)) and str(source) != "-" else None
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
        log.table(name).to_parquet(tmp / f"{name}.parquet", index=False)
    meta = {"source": log.source, "solver": log.solver, "solvers": log.solvers,
            "skipped": {"count": log.skipped.count, "lines": log.skipped.lines,
                        "reasons": log.skipped.reasons},
            "n_lines": log.n_lines, "warnings": log.warnings, "crashed": log.crashed}
    (tmp / "meta.json").write_text(json.dumps(meta, default=str))
    try:
        os.replace(tmp, entry)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def load_entry(entry: Path, layers: list[str] | None = None) -> CaffeLog:
    meta = json.loads((entry / "meta.json").read_text())
    frames = {name: pd.read_parquet(entry / f"{name}.parquet") for name in CaffeLog.TABLES
              if not (layers and name == "blobs")}
    if layers:
        frames["blobs"] = _read_layers(entry / "blobs.parquet", layers)
    for col in LIST_COLUMNS:
        frames["net"][col] = frames["net"][col].map(_as_list)
    for name, cols in CATEGORICAL.items():  # an empty categorical comes back as object
        for col in cols:
            if frames[name][col].dtype != "category":
                frames[name][col] = frames[name][col].astype("category")
    return CaffeLog(source=meta["source"], solver=meta["solver"], solvers=meta["solvers"],
                    skipped=Skipped(**meta["skipped"]), n_lines=meta["n_lines"],
                    warnings=meta["warnings"], crashed=meta["crashed"], **frames)


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
