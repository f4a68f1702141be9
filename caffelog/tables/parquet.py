"""Tables as Parquet files, written a window at a time (`caffelog parse -o DIR`, the cache).

Each file is written under a temporary name and renamed when complete, so a reader never sees
half a table.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from caffelog.errors import OutputExistsError, UsageError
from caffelog.staging import publish, stage_beside
from caffelog.tables.build import CATEGORICAL_NAMES
from caffelog.tables.caffe_log import CaffeLog
from caffelog.tables.windows import WINDOW_ROWS, StreamSummary, TableStream, with_last


@dataclass
class TableWriter:
    """One Parquet file written in row groups under a temporary name, renamed when complete."""

    path: Path
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    rows: int = 0
    tmp: Path = field(init=False)

    def __post_init__(self) -> None:
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")

    def write(self, df: pd.DataFrame) -> None:
        if self.writer is None:
            schema = pa.Schema.from_pandas(df, preserve_index=False)
            for i, f in enumerate(schema):
                if f.name in CATEGORICAL_NAMES:  # categories grow as the log goes on: one schema for all
                    schema = schema.set(i, pa.field(f.name, pa.dictionary(pa.int32(), pa.string())))
            # dictionaries for the categorical columns only (lines, values and times are all
            # distinct) and no statistics (nothing prunes row groups by them): 40% less time
            coded = [f.name for f in schema if f.name in CATEGORICAL_NAMES]
            self.schema, self.writer = schema, pq.ParquetWriter(self.tmp, schema, use_dictionary=coded,
                                                                write_statistics=False)
        # a window is one row group (up to twice the usual size): a reader folds it at once
        self.writer.write_table(pa.Table.from_pandas(df, schema=self.schema, preserve_index=False),
                                row_group_size=max(WINDOW_ROWS, min(len(df), 2 * WINDOW_ROWS)))
        self.rows += len(df)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            os.replace(self.tmp, self.path)

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.tmp.unlink(missing_ok=True)


class TableFiles:
    """The blobs, totals and scalars windows of a TableStream written into a directory."""

    NAMES = ("blobs", "totals", "scalars")

    def __init__(self, directory: Path):
        self.writers = {name: TableWriter(directory / f"{name}.parquet") for name in self.NAMES}

    def write(self, blobs: pd.DataFrame, totals: pd.DataFrame, scalars: pd.DataFrame,
              final: bool = False) -> None:
        for name, df in zip(self.NAMES, (blobs, totals, scalars)):
            writer = self.writers[name]
            if len(df) or (final and writer.writer is None):  # an empty table still gets a file
                writer.write(df)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()

    def abandon(self) -> None:
        for writer in self.writers.values():
            writer.abandon()


def write_tables(stream: TableStream, directory: str | Path, force: bool = False) -> StreamSummary:
    """Write every table of a streamed log into directory as it streams: at most a window of
    rows in memory. The tables are built in a private directory beside it and published at the
    end (caffelog.staging.publish): a kill or a full disk leaves the old output as it was."""
    out = Path(directory)
    if out.is_symlink() and out.is_dir():
        out = Path(os.path.realpath(out))  # the folder the user named, not the link to it
    names = [f"{t}.parquet" for t in CaffeLog.TABLES] + ["solver.json"]
    if not force and out.is_dir() and (existing := [n for n in names if (out / n).exists()]):
        raise OutputExistsError(f"{out / existing[0]} exists (use --force to overwrite)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = stage_beside(out)
    except OSError as exc:
        raise UsageError(f"{out}: cannot make this directory ({exc.strerror})") from None
    try:
        net = _write_all(stream, stage)
        publish(stage, out, names)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the tables ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    result = StreamSummary.of(stream, [out / name for name in names])
    result.rows["net"] = len(net)
    return result


def _write_all(stream: TableStream, folder: Path) -> pd.DataFrame:
    """Every table of the stream into folder (the net table and solver.json last); the net table."""
    files = TableFiles(folder)
    try:
        for window, last in with_last(stream.windows()):
            files.write(*window, final=last)
        net = stream.net()
        net.to_parquet(folder / "net.parquet", index=False)
        (folder / "solver.json").write_text(json.dumps(stream.solvers(), indent=2, default=str))
        files.close()
    except BaseException:
        files.abandon()
        raise
    return net
