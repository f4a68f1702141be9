"""Layers x iterations as one picture: log colour, with zero and nan/inf cells in their own.

Columns are (segment, iteration) in run order, so a resumed run's repeated iterations stand side
by side instead of merging; a long run is binned to at most `max_columns` columns (the median of
each bin, and a bin holding a nan/inf or an exact zero shows it, so neither is ever averaged away).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from caffelog.errors import UsageError
from caffelog.output.axes import figure_of, plain_text
from caffelog.output.selection import resolve_layers
from caffelog.tables.caffe_log import CaffeLog

MAX_COLUMNS = 1000
MAX_ROWS = 150  # layers drawn one per row; more are folded into groups of consecutive layers
ZERO_CELL, BAD_CELL = "#000000", "#ff00ff"


def heatmap_matrix(log: CaffeLog, quantity: str = "data", segment: int | None = None,
                   layers: list[str] | None = None, max_columns: int = MAX_COLUMNS,
                   max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """Layers (net order) x (segment, iteration): forward top data, or backward weight (param 0)
    diffs. A cell is the largest value of that layer in that iteration; +inf if any of its values
    is nan or inf, NaN where the log has no value. Binned columns are named by their first
    (segment, iteration); beyond max_rows layers, rows are groups of consecutive layers
    (attrs["layers_per_row"])."""
    b = log.blobs
    train = (b["phase"] == "train").to_numpy()
    if quantity == "data":
        mask = train & (b["direction"] == "forward").to_numpy() & (b["role"] == "top").to_numpy()
    else:
        mask = (train & (b["direction"] == "backward").to_numpy() & (b["role"] == "param").to_numpy()
                & (b["blob"] == "0").to_numpy())
    if segment is not None:
        mask &= (b["segment"] == segment).to_numpy()
    if layers:
        mask &= b["layer"].isin(resolve_layers(log, layers)).to_numpy()
    rows = b[mask]
    if rows.empty:
        raise UsageError(f"no train {quantity} values to draw in {log.source}"
                         + (f" (segment {segment})" if segment is not None else ""))
    order = [str(name) for name in rows["layer"].unique()]
    value = rows["value"].where(np.isfinite(rows["value"].to_numpy()), np.inf)
    cell = value.groupby([rows["layer"], rows["segment"], rows["iteration"]], observed=True).max()
    matrix = cell.unstack(["segment", "iteration"]).sort_index(axis=1)
    matrix.index = matrix.index.astype(str)
    return _folded(_binned(matrix.reindex(order), max_columns), max_rows)


def _summary(block: np.ndarray, axis: int) -> np.ndarray:
    """What a bin of cells shows: +inf if any is nan/inf, else 0 if any is exactly 0, else the
    median of those with a value (NaN: none has one)."""
    with warnings.catch_warnings():  # a bin with no value at all is NaN: that is the answer
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(np.where(np.isinf(block), np.nan, block), axis=axis)
    median = np.where((block == 0).any(axis=axis), 0.0, median)
    return np.where(np.isinf(block).any(axis=axis), np.inf, median)


def _folded(matrix: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    """At most max_rows rows: groups of consecutive layers (net order), named `first … last (n
    layers)`. A net of 10,000 layers must not become a picture 385,000 pixels tall."""
    n = len(matrix)
    if n <= max_rows:
        return matrix
    height = -(-n // max_rows)
    values = matrix.to_numpy(dtype=float)
    names = list(matrix.index)
    groups = range(0, n, height)
    out = np.vstack([_summary(values[a:a + height], axis=0) for a in groups])
    index = [f"{names[a]} … {names[min(a + height, n) - 1]} ({min(a + height, n) - a} layers)" for a in groups]
    folded = pd.DataFrame(out, index=pd.Index(index, name=matrix.index.name), columns=matrix.columns)
    folded.attrs = {**matrix.attrs, "layers_per_row": height, "layers": n}
    return folded


def _binned(matrix: pd.DataFrame, max_columns: int) -> pd.DataFrame:
    """At most max_columns columns, bins of consecutive iterations within one segment."""
    n = matrix.shape[1]
    if n <= max_columns:
        return matrix
    width = -(-n // max_columns)
    segments = matrix.columns.get_level_values("segment").to_numpy()
    starts = np.r_[0, np.flatnonzero(segments[1:] != segments[:-1]) + 1]
    bin_id = np.empty(n, dtype=np.int64)
    next_id = 0
    for a, b in zip(starts, np.r_[starts[1:], n]):  # bins never straddle a resume
        bin_id[a:b] = np.arange(b - a) // width + next_id
        next_id = int(bin_id[b - 1]) + 1
    values = matrix.to_numpy(dtype=float)
    out = np.empty((len(matrix), bin_id[-1] + 1))
    for k in range(out.shape[1]):
        out[:, k] = _summary(values[:, bin_id == k], axis=1)
    first = np.r_[0, np.flatnonzero(bin_id[1:] != bin_id[:-1]) + 1]
    binned = pd.DataFrame(out, index=matrix.index, columns=matrix.columns[first])
    binned.attrs["bin_width"] = width
    return binned


@plain_text
def plot_heatmap(logs: CaffeLog | Sequence[CaffeLog], quantity: str = "data", segment: int | None = None,
                 layers: list[str] | None = None, labels: Sequence[str] | None = None,
                 max_columns: int = MAX_COLUMNS, axes: Sequence[Axes] | None = None) -> Figure:
    """log10 of the values, zero and non-finite cells in their own colours; one panel per log."""
    runs = [logs] if isinstance(logs, CaffeLog) else list(logs)
    labels = list(labels) if labels is not None else [log.source for log in runs]
    matrices = [heatmap_matrix(log, quantity, segment, layers, max_columns) for log in runs]
    if axes is None:
        height = sum(max(2.2, 0.3 * len(m) + 1.4) for m in matrices)
        fig = Figure(figsize=(12, max(3.0, height)), layout="constrained")
        axes = list(np.atleast_1d(fig.subplots(len(runs), 1, squeeze=False)[:, 0]))
    else:
        fig = figure_of(axes[0])
    im = None
    for ax, m, label in zip(axes, matrices, labels):
        im = _panel(ax, m, label, quantity)
    if im is not None:
        cbar = fig.colorbar(im, ax=list(axes), pad=0.01)
        cbar.set_label("log10 value")
    from matplotlib.patches import Patch
    axes[0].legend(handles=[Patch(color=ZERO_CELL, label="exactly 0"), Patch(color=BAD_CELL, label="nan / inf")],
                   loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, ncols=2)
    return fig


def _panel(ax: Axes, m: pd.DataFrame, label: str, quantity: str):
    values = m.to_numpy(dtype=float)
    finite_pos = np.isfinite(values) & (values > 0)
    logv = np.where(finite_pos, np.log10(np.where(finite_pos, values, 1)), np.nan)
    special = np.where(values == 0, 0.0, np.where(np.isinf(values), 1.0, np.nan))
    extent = (-0.5, m.shape[1] - 0.5, len(m) - 0.5, -0.5)
    im = ax.imshow(np.ma.masked_invalid(logv), aspect="auto", interpolation="nearest", cmap="viridis",
                   extent=extent)
    ax.imshow(np.ma.masked_invalid(special), aspect="auto", interpolation="nearest",
              cmap=ListedColormap([ZERO_CELL, BAD_CELL]), vmin=0, vmax=1, extent=extent)
    ax.set_yticks(range(len(m)), list(m.index), fontsize=8)
    segments = m.columns.get_level_values("segment").to_numpy()
    iterations = m.columns.get_level_values("iteration").to_numpy(dtype=float)
    ticks = np.unique(np.linspace(0, m.shape[1] - 1, min(10, m.shape[1])).round().astype(int))
    ax.set_xticks(ticks, [f"{iterations[t]:g}" for t in ticks], fontsize=8)
    for at in np.flatnonzero(segments[1:] != segments[:-1]) + 1:  # a resumed run: segments side by side
        ax.axvline(at - 0.5, color="white", lw=2)
        ax.text(at - 0.5, -0.6, f" segment {segments[at]}", fontsize=8, va="bottom", color="0.3")
    width = m.attrs.get("bin_width")
    ax.set_xlabel(f"iteration (bins of {width} iterations with values: median; any 0 or nan/inf shown)"
                  if width else "iteration")
    what = "forward top data" if quantity == "data" else "backward weight diff (param blob 0)"
    ax.set_title(f"{label}: log10 mean |{quantity}| per element, {what}", fontsize=10, loc="left")
    if m.attrs.get("layers_per_row"):
        ax.set_ylabel(f"{m.attrs['layers']} layers, {m.attrs['layers_per_row']} a row "
                      "(median; any 0 or nan/inf shown)", fontsize=8)
    return im
