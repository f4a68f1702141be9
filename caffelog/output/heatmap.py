"""Layers x iterations as one picture: log colour, with zero and nan/inf cells in their own."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from caffelog.errors import UsageError
from caffelog.tables.caffe_log import CaffeLog


def heatmap_matrix(log: CaffeLog, quantity: str = "data") -> pd.DataFrame:
    """Layers (net order) x iterations: forward top data, or backward weight (param 0) diffs.

    A cell is the largest value of that layer in that iteration; +inf if any of its values is
    nan or inf (so a NaN is never hidden), NaN where the log has no value at all.
    """
    b = log.blobs
    if quantity == "data":
        rows = b[(b["phase"] == "train") & (b["direction"] == "forward") & (b["role"] == "top")]
    else:
        rows = b[(b["phase"] == "train") & (b["direction"] == "backward") & (b["role"] == "param")
                 & (b["blob"] == "0")]
    if rows.empty:
        raise UsageError(f"no train {quantity} values to draw in {log.source}")
    order = [str(name) for name in rows["layer"].unique()]
    bad = ~np.isfinite(rows["value"].to_numpy())
    value = rows["value"].where(~bad, np.inf)
    cell = value.groupby([rows["layer"], rows["iteration"]], observed=True).max()
    matrix = cell.unstack("iteration")
    matrix.index = matrix.index.astype(str)
    return matrix.reindex(order)


def plot_heatmap(log: CaffeLog, quantity: str = "data") -> Figure:
    """log10 of the values, with zero and non-finite cells in their own colours."""
    from matplotlib.patches import Patch
    m = heatmap_matrix(log, quantity)
    values = m.to_numpy(dtype=float)
    finite_pos = np.isfinite(values) & (values > 0)
    logv = np.where(finite_pos, np.log10(np.where(finite_pos, values, 1)), np.nan)
    special = np.where(values == 0, 0.0, np.where(np.isinf(values), 1.0, np.nan))
    fig = Figure(figsize=(12, max(3, 0.35 * len(m) + 1.8)), layout="constrained")
    ax = fig.add_subplot()
    iters = m.columns.to_numpy(dtype=float)
    step = np.median(np.diff(iters)) if len(iters) > 1 else 1
    extent = (iters.min() - step / 2, iters.max() + step / 2, len(m) - 0.5, -0.5)
    im = ax.imshow(np.ma.masked_invalid(logv), aspect="auto", interpolation="nearest",
                   cmap="viridis", extent=extent)
    ax.imshow(np.ma.masked_invalid(special), aspect="auto", interpolation="nearest",
              cmap=ListedColormap(["#000000", "#ff00ff"]), vmin=0, vmax=1, extent=extent)
    ax.set_yticks(range(len(m)), m.index, fontsize=8)
    ax.set_xlabel("iteration")
    what = "forward top data" if quantity == "data" else "backward weight diff (param blob 0)"
    ax.set_title(f"{log.source}\nlog10 mean |{quantity}| per element: {what}", fontsize=10)
    cbar = fig.colorbar(im, ax=ax, pad=0.01)
    cbar.set_label("log10 value")
    ax.legend(handles=[Patch(color="#000000", label="exactly 0"), Patch(color="#ff00ff", label="nan / inf")],
              loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, ncols=2)
    return fig
