"""The solver's scalars over iterations: train loss, learning rate, test outputs."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from caffelog.output.axes import NONFINITE_COLOR, SMOOTH_ABOVE, envelope, log_scale, rolling_median
from caffelog.tables.caffe_log import CaffeLog


def plot_scalars(logs: list[CaffeLog]) -> Figure:
    """Train loss, learning rate and each test output over iterations."""
    fig = Figure(figsize=(11, 7), layout="constrained")
    ax_loss, ax_lr, ax_test = fig.subplots(3, 1, sharex=True)
    for i, log in enumerate(logs):
        s = log.scalars
        tag = "" if len(logs) == 1 else f" [{log.source}]"
        loss = s[(s["source"] == "iteration") & (s["name"] == "loss")]
        _scalar_line(ax_loss, loss, f"train loss{tag}", f"C{i}")
        lr = s[s["name"] == "lr"]
        ax_lr.plot(lr["iteration"].to_numpy(float), lr["value"], color=f"C{i}", label=f"lr{tag}")
        test = s[(s["phase"] == "test")]
        for j, (name, rows) in enumerate(test.groupby("name", observed=True)):
            _scalar_line(ax_test, rows, f"test {name}{tag}", f"C{(i * 3 + j + 1) % 10}", marker="o")
    log_scale(ax_loss)
    ax_loss.set_ylabel("loss (log)")
    ax_lr.set_ylabel("learning rate")
    ax_test.set_ylabel("test outputs")
    ax_test.set_xlabel("iteration")
    for ax in (ax_loss, ax_lr, ax_test):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper right")  # "best" scans every point: seconds on long runs
    ax_loss.set_title(", ".join(log.source for log in logs), fontsize=10)
    return fig


def _scalar_line(ax, rows: pd.DataFrame, label: str, color: str, marker=None) -> None:
    x, y = rows["iteration"].to_numpy(float), rows["value"].to_numpy(float)
    shown = np.where(np.isfinite(y), y, np.nan)
    if len(x) <= SMOOTH_ABOVE:
        ax.plot(x, shown, color=color, label=label, marker=marker, ms=3)
    else:  # the raw loss of a long run is a solid band: show it faint under a rolling median
        ax.plot(*envelope(x, shown), color=color, lw=0.5, alpha=0.25)
        step = max(1, len(x) // 1500)
        ax.plot(x[::step], rolling_median(shown, len(x) // 200)[::step], color=color, lw=1.6,
                label=f"{label} (rolling median)")
    bad = ~np.isfinite(y)
    if bad.any():
        top = np.nanmax(np.where(np.isfinite(y), y, np.nan)) if np.isfinite(y).any() else 1
        ax.scatter(x[bad], np.full(bad.sum(), top), marker="X", color=NONFINITE_COLOR,
                   label=f"{label}: nan/inf ({bad.sum()})", zorder=3)
