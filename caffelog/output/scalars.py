"""The solver's scalars over iterations: train loss, learning rate, test outputs.

Each segment of a resumed log is its own line (its iterations may repeat the previous one's),
with the resume point marked; each test net is its own series; lr is on a log axis, where 0.01
and 20 both read; the loss panel marks chance level (ln K) when the net tells K.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from caffelog.output.axes import (
    LINE_STYLES,
    NONFINITE_COLOR,
    SMOOTH_ABOVE,
    envelope,
    figure_of,
    log_scale,
    mark_resumes,
    plain_text,
    rolling_median,
)
from caffelog.output.xaxis import x_axis
from caffelog.tables.caffe_log import CaffeLog
from caffelog.tables.net_facts import chance_loss, train_net


@plain_text
def plot_scalars(logs: list[CaffeLog], segment: int | None = None, labels: Sequence[str] | None = None,
                 smooth: int | None = None, axes: Sequence[Axes] | None = None, x: str = "iteration") -> Figure:
    """Train loss, learning rate and each test net's outputs over iterations (x="time": over
    wall-clock time): one colour per log, one line style per segment. `axes`: three Axes to draw
    into (else a new Figure)."""
    if axes is None:
        fig = Figure(figsize=(11, 7), layout="constrained")
        ax_loss, ax_lr, ax_test = fig.subplots(3, 1, sharex=True)
    else:
        ax_loss, ax_lr, ax_test = axes
        fig = figure_of(ax_loss)
    labels = list(labels) if labels is not None else [log.source for log in logs]
    xaxis = x_axis(logs, x)
    for i, (log, label) in enumerate(zip(logs, labels)):
        s = log.scalars
        if segment is not None:
            s = s[(s["segment"] == segment).to_numpy()]
        tag = "" if len(logs) == 1 else f" [{label}]"
        color = f"C{i % 10}"
        for seg, rows in s.groupby("segment", sort=True):
            style = LINE_STYLES[int(seg) % len(LINE_STYLES)]
            part = "" if s["segment"].nunique() == 1 else f" (segment {int(seg)})"
            loss = rows[((rows["source"] == "iteration") & (rows["name"] == "loss")).to_numpy()]
            _scalar_line(ax_loss, xaxis.values(loss, i), loss, f"train loss{tag}{part}", color, style, smooth=smooth)
            lr = rows[(rows["name"] == "lr").to_numpy()]
            lr_x = xaxis.values(lr, i)
            ax_lr.plot(lr_x, lr["value"].to_numpy(float), style, color=color,
                       label=f"lr{tag}{part}", drawstyle="steps-post")
            _mark_lr_steps(ax_lr, lr_x, lr, color)
            test = rows[(rows["phase"] == "test").to_numpy()]
            for j, ((net, name), outputs) in enumerate(test.groupby(["test_net", "name"], observed=True)):
                _scalar_line(ax_test, xaxis.values(outputs, i), outputs, f"test#{int(net)} {name}{tag}{part}",
                             f"C{(i * 3 + j + 1) % 10}", style, marker="o", smooth=smooth)
        mark_resumes((ax_loss, ax_lr, ax_test), s, x=xaxis, log_index=i)
        chance = chance_loss(train_net(log.net))
        if chance is not None:
            ax_loss.axhline(chance, color=color, ls="-.", lw=0.9, alpha=0.7,
                            label=f"chance ln {round(math.exp(chance))} = {chance:.3g}{tag}")
    log_scale(ax_loss)
    log_scale(ax_lr)
    ax_loss.set_ylabel("loss (log)")
    ax_lr.set_ylabel("learning rate (log)")
    ax_test.set_ylabel("test outputs")
    ax_test.set_xlabel(xaxis.label)
    for ax in (ax_loss, ax_lr, ax_test):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # beside the data, never over it
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax_loss.set_title(", ".join(labels), fontsize=10, loc="left")
    return fig


def _mark_lr_steps(ax: Axes, x: np.ndarray, lr: pd.DataFrame, color: str) -> None:
    """A small marker where the learning rate changes."""
    values = lr["value"].to_numpy(float)
    if len(values) < 2:
        return
    changed = np.flatnonzero(values[1:] != values[:-1]) + 1
    if len(changed):
        ax.scatter(x[changed], values[changed], marker="|", s=120,
                   color=color, zorder=3)


def _scalar_line(ax: Axes, x: np.ndarray, rows: pd.DataFrame, label: str, color: str, style: str = "-",
                 marker=None, smooth: int | None = None) -> None:
    y = rows["value"].to_numpy(float)
    shown = np.where(np.isfinite(y), y, np.nan)
    window = smooth if smooth is not None else (len(x) // 200 if len(x) > SMOOTH_ABOVE else 0)
    if window <= 1:
        ax.plot(x, shown, style, color=color, label=label, marker=marker, ms=3)
    else:  # the raw loss of a long run is a solid band: show it faint under a rolling median
        ax.plot(*envelope(x, shown), style, color=color, lw=0.5, alpha=0.25)
        step = max(1, len(x) // 1500)
        ax.plot(x[::step], rolling_median(shown, window)[::step], style, color=color, lw=1.6,
                label=f"{label} (rolling median of {max(window, 3)})")
    bad = ~np.isfinite(y)
    if bad.any():
        top = np.nanmax(np.where(np.isfinite(y), y, np.nan)) if np.isfinite(y).any() else 1
        ax.scatter(x[bad], np.full(bad.sum(), top), marker="X", color=color, edgecolors=NONFINITE_COLOR,
                   label=f"{label}: nan/inf ({bad.sum()})", zorder=3)
