"""A sweep as one dataset: every run's tables as hive partitions, `DIR/table=<t>/run=<label>/`.

pandas, pyarrow.dataset, DuckDB and Spark read `DIR/table=blobs` as one table with a `run`
column (the label, from the folder name: URI-escaped there, so any label is a folder). The
`table=runs` table holds one row per run: label, path, size, mtime, the solver settings and what
its parse found. A second `parse LOG... -o DIR` parses only the logs that are new or changed
(by size, mtime and inode), each run's partitions replaced as a whole (built aside, then
renamed into place).
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from caffelog.errors import UsageError
from caffelog.tables.caffe_log import CaffeLog
from caffelog.tables.parquet import write_tables
from caffelog.tables.windows import TableStream

RUNS = "runs"
STAGING = ".staging"
# the solver fields that get a column of their own in the runs table (all are in `solver` as JSON)
SOLVER_COLUMNS = ("type", "base_lr", "lr_policy", "gamma", "stepsize", "power", "momentum", "weight_decay",
                  "max_iter", "iter_size", "clip_gradients", "batch_size")


def partition(directory: Path, table: str, label: str | None = None) -> Path:
    """The folder of one table (and one run's part of it)."""
    folder = directory / f"table={table}"
    return folder if label is None else folder / f"run={quote(label, safe='')}"


def file_facts(path: str) -> dict:
    """What says a log changed: its size, mtime (ns) and inode (a `cp` or an in-place rewrite)."""
    st = os.stat(path)
    return {"path": os.path.realpath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def known_runs(directory: Path) -> pd.DataFrame:
    """The runs table of an existing dataset (empty when there is none)."""
    path = partition(directory, RUNS) / "runs.parquet"
    empty = pd.DataFrame(columns=["label", "path", "size", "mtime_ns", "inode"])
    return pd.read_parquet(path) if path.exists() else empty


def unchanged(known: pd.DataFrame, path: str, label: str, directory: Path) -> bool:
    """True when the dataset already holds this very log under this label, every table of it."""
    rows = known[(known["label"] == label) & (known["path"] == os.path.realpath(path))]
    if not len(rows):
        return False
    now, then = file_facts(path), rows.iloc[-1]
    same = all(now[k] == then[k] for k in ("size", "mtime_ns", "inode"))
    return same and all((partition(directory, t, label) / "part-0.parquet").exists() for t in CaffeLog.TABLES)


@dataclass
class WrittenRun:
    """What a worker sends back of one log it wrote: its row of the runs table."""

    row: dict


def write_run(source: str, label: str, directory: str) -> WrittenRun:
    """Parse one log into its partitions of the dataset (run in a worker: it writes its own
    files and sends back one row). Built in a staging folder, then renamed into place."""
    out = Path(directory)
    facts = file_facts(source)
    stage = out / STAGING / f"{quote(label, safe='')}-{uuid.uuid4().hex}"
    try:
        summary = write_tables(TableStream(source), stage)
        for table in CaffeLog.TABLES:
            _publish(stage / f"{table}.parquet", partition(out, table, label))
        solvers = json.loads((stage / "solver.json").read_text())
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    solver = solvers[0] if solvers else {}
    row = {"label": label, **facts, "lines": summary.n_lines, "skipped": summary.skipped.count,
           "warnings": len(summary.warnings), **{f"rows_{t}": n for t, n in summary.rows.items()},
           "segments": len(solvers), "solver": json.dumps(solvers, default=str)}
    row.update({f"solver_{k}": _scalar(solver.get(k)) for k in SOLVER_COLUMNS})
    return WrittenRun(row)


def _scalar(value) -> str | None:
    """A solver value as text (one column type whatever the runs hold); None when unset."""
    return None if value is None else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _publish(file: Path, folder: Path) -> None:
    """Put one table file in its partition folder, replacing what was there in one rename."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    fresh = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}")
    fresh.mkdir()
    os.replace(file, fresh / "part-0.parquet")
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old.{uuid.uuid4().hex}")
        os.replace(folder, old)
    os.replace(fresh, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_runs_table(directory: Path, known: pd.DataFrame, rows: list[dict]) -> Path:
    """The runs table: the rows just written, and the earlier rows of runs not written again."""
    fresh = pd.DataFrame(rows)
    keep = known[~known["label"].isin(fresh["label"])] if len(fresh) else known
    table = pd.concat([keep, fresh], ignore_index=True) if len(keep) else fresh
    if "label" not in table:  # no run at all: an empty table still says what a row holds
        table = pd.DataFrame({"label": pd.Series(dtype=str)})
    folder = partition(directory, RUNS)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".runs.parquet.{uuid.uuid4().hex}"
    try:
        table.sort_values("label").to_parquet(tmp, index=False)
        os.replace(tmp, folder / "runs.parquet")
    finally:
        tmp.unlink(missing_ok=True)
    return folder / "runs.parquet"


def check_directory(directory: Path) -> None:
    """The dataset's folder: made if missing; an existing one must be a dataset or empty."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file: several logs make a dataset directory")
    if directory.is_dir() and any(directory.iterdir()) and not partition(directory, RUNS).exists() \
            and not any(directory.glob("table=*")):
        raise UsageError(f"{directory} holds other files: give an empty or new directory, or an earlier dataset")
    directory.mkdir(parents=True, exist_ok=True)
