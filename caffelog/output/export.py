"""Writing tables: Parquet, CSV or JSON, atomically, never over an existing file unasked."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from caffelog.errors import OutputExistsError, UsageError
from caffelog.printable import clean
from caffelog.staging import give_usual_mode

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".json": "json",
           ".jsonl": "json"}
FIGURE_FORMATS = (".png", ".svg", ".pdf")


def is_directory(output: str) -> bool:
    """Whether an -o target names a directory: an existing one, a trailing slash, or a name
    without an extension ('-' is stdout)."""
    if output != "-" and os.path.exists(output) and not os.path.isdir(output) and not os.path.splitext(output)[1]:
        from caffelog.errors import UsageError
        raise UsageError(f"{output} exists and is not a directory: give a directory, or a file ending in "
                         ".csv, .parquet or .json")
    return output != "-" and (output.endswith(os.sep) or os.path.isdir(output)
                              or not os.path.splitext(output)[1])


def write_table(df: pd.DataFrame, target: str, fmt: str | None = None, force: bool = False) -> None:
    """Write one table to a path ('-' is stdout, CSV unless fmt says otherwise)."""
    if target == "-":
        _write(df, sys.stdout, fmt or "csv")
        return
    fmt = fmt or _table_format(target)
    _atomic(Path(target), force, lambda tmp: _write(df, tmp, fmt))


def _table_format(target: str) -> str:
    fmt = FORMATS.get(Path(target).suffix.lower())
    if fmt is None:
        raise UsageError(f"{target}: unknown output format (use .parquet, .csv or .json)")
    return fmt


# Each check_*_target refuses at once what writing would refuse only after the work (a parse, a
# drawing): a bad name, a file already there. Writing checks again: the file may appear meanwhile.
def check_table_target(target: str, force: bool = False) -> None:
    if target != "-":
        _table_format(target)
        _check_place(Path(target), force)


def check_figure_target(target: str, force: bool = False) -> None:
    _figure_format(target)
    _check_place(Path(target), force)


def _figure_format(target: str) -> str:
    suffix = Path(target).suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise UsageError(f"{target}: plots are written as {', '.join(FIGURE_FORMATS)}")
    return suffix[1:]


def check_text_target(target: str, force: bool = False) -> None:
    _check_place(Path(target), force)


def _check_place(path: Path, force: bool) -> Path:
    """The folder path is written in, once it is sure that it may be."""
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists (use --force to overwrite)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{path}: no such directory: {folder}")
    return folder


def _atomic(path: Path, force: bool, write) -> None:
    """Write through a temporary file beside path, renamed over it when complete: a failed or
    interrupted write leaves nothing behind. Failures to write are one UsageError line."""
    folder = _check_place(path, force)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write in {folder} ({exc.strerror})") from None
    os.close(fd)
    try:
        write(Path(tmp))
        give_usual_mode(tmp, 0o666)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(OSError):  # a cleanup error must not mask the first one
            os.unlink(tmp)


def _write(df: pd.DataFrame, target, fmt: str) -> None:
    if fmt == "parquet":
        df.to_parquet(target, index=False)
    elif fmt == "csv":  # text a person may `cat`: names from the log with their controls escaped
        _printable_names(df).to_csv(target, index=False)
    elif fmt == "json":
        df.to_json(target, orient="records", lines=True)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def _printable_names(df: pd.DataFrame) -> pd.DataFrame:
    """The table with control characters in its text columns shown as escapes (categories are
    cleaned once each, not per row). Parquet keeps the names exactly as logged."""
    out = df
    for col in df.columns:
        column = df[col]
        if isinstance(column.dtype, pd.CategoricalDtype):
            cats = column.cat.categories
            if any(isinstance(c, str) and clean(c) != c for c in cats):
                cleaned = [clean(c) for c in cats]
                if len(set(cleaned)) == len(cleaned):
                    out = out.assign(**{col: column.cat.rename_categories(cleaned)})
                else:  # two names that differ only in their controls: plain strings
                    out = out.assign(**{col: column.astype(object).map(clean)})
        elif column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            out = out.assign(**{col: column.map(lambda v: clean(v) if isinstance(v, str) else v)})
    return out



def save_figure(fig, target: str, force: bool = False) -> None:
    """Write a matplotlib Figure atomically; the format comes from the file name."""
    fmt = _figure_format(target)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    # zlib level 1: a fifth of the encoding time for a slightly bigger file
    extra = {"pil_kwargs": {"compress_level": 1}} if fmt == "png" else {}
    _atomic(Path(target), force, lambda tmp: fig.savefig(tmp, format=fmt, dpi=110, **extra))


def save_text(text: str, target: str, force: bool = False) -> None:
    """Write a text file (a report page) atomically, UTF-8."""
    _atomic(Path(target), force, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def unused_name(name: str) -> str:
    """name, or name-2, name-3... before its extension: the first that does not exist yet, so a
    default output name never lands on an earlier file."""
    stem, ext = os.path.splitext(name)
    k = 1
    while os.path.lexists(name):
        k += 1
        name = f"{stem}-{k}{ext}"
    return name
