"""Semilog per-layer curves (and, re-exported, the heatmap and the scalars panels).

Every function returns a matplotlib Figure, so notebooks can show or restyle it. Values that
a log axis cannot show (0, nan, inf) are never dropped: zeros sit on the bottom edge, nan/inf on
the top edge, each with its own marker and legend entry, and the first non-finite iteration
gets a vertical line.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from caffelog.errors import UsageError
from caffelog.output.axes import (
    LINE_STYLES,
    NONFINITE_COLOR,
    SMOOTH_ABOVE,
    Y_LABEL,
    ZERO_COLOR,
    envelope,
    figure_of,
    legend,
    log_scale,
    mark_resumes,
    plain_text,
    rolling_median,
)
from caffelog.output.heatmap import heatmap_matrix, plot_heatmap
from caffelog.output.scalars import plot_scalars
from caffelog.output.selection import Selection, resolve_layers, select
from caffelog.output.xaxis import X_AXES, XAxis, x_axis
from caffelog.tables.caffe_log import CaffeLog

__all__ = ["X_AXES", "Selection", "XAxis", "conflict", "default_name", "default_selection", "heatmap_matrix",
           "plot_heatmap", "plot_scalars", "plot_series", "resolve_layers", "run_labels", "select", "show",
           "x_axis"]

# what each picture can be asked for; anything else given with it is refused, never ignored
SERIES_OPTIONS = {"layers", "quantity", "phase", "direction", "role", "blob", "segment", "smooth", "x"}
HEATMAP_OPTIONS = {"layers", "quantity", "segment"}
SCALARS_OPTIONS = {"segment", "smooth", "x"}


def conflict(given: set[str], heatmap: bool = False, scalars: bool = False) -> str | None:
    """Why a combination of plot options cannot be drawn as asked (None: it can). `given` names
    the options the user set (layers, quantity, phase, direction, role, blob, segment, smooth, x)."""
    if heatmap and scalars:
        return "--heatmap and --scalars are two pictures: ask for one"
    mode, allowed = (("--heatmap", HEATMAP_OPTIONS) if heatmap else ("--scalars", SCALARS_OPTIONS) if scalars
                     else ("the curves", SERIES_OPTIONS))
    extra = sorted(given - allowed)
    if extra:
        flags = ", ".join("--layer" if name == "layers" else f"--{name}" for name in extra)
        return f"{mode} cannot use {flags}"
    return None


def run_labels(sources: Sequence[str]) -> list[str]:
    """Short distinct names for runs: the shortest path suffix that tells them apart, without
    the parts they share (`a/dead_relu/train.log`, `a/nan_explode/train.log` -> dead_relu,
    nan_explode; with one log per folder, the file names are left out); one run: its folder and
    file name."""
    parts = [_path_parts(source) for source in sources]
    if len(parts) == 1:
        return ["/".join(parts[0][-2:])]
    folders = [p[:-1] for p in parts]
    if all(folders) and len({tuple(f) for f in folders}) == len(folders):
        parts = folders  # one log per folder (runs/<name>/train.log): the folders tell them apart
    while all(len(p) > 1 for p in parts) and len({p[-1] for p in parts}) == 1:
        parts = [p[:-1] for p in parts]  # the shared trailing part (train.log) says nothing
    for k in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-k:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return ["/".join(p) for p in parts]


def _path_parts(source: str) -> list[str]:
    parts = [p for p in os.path.normpath(source).split(os.sep) if p not in ("", ".")]
    return parts or [source]


def _edges(values: np.ndarray) -> tuple[float, float]:
    pos = values[np.isfinite(values) & (values > 0)]
    if not len(pos):
        return 1e-3, 1e3
    lo, hi = pos.min(), pos.max()
    return lo / 10 ** 0.6, hi * 10 ** 0.6


@plain_text
def plot_series(logs: list[CaffeLog], sel: Selection, max_legend: int = 30, labels: Sequence[str] | None = None,
                smooth: int | None = None, ax: Axes | None = None, x: str = "iteration") -> Figure:
    """One semilog line per series; with several logs, one colour per series and a line style per
    log. A resumed log's later segments are marked where they start. smooth: the rolling-median
    window (default: 1/200 of a series longer than 500 points). ax: draw into these Axes.
    x: "iteration" or "time" (wall-clock, from the log's timestamps)."""
    names = list(labels) if labels is not None else run_labels([log.source for log in logs])
    frames = [select(log, sel) for log in logs]
    values = np.concatenate([f["value"].to_numpy() for f in frames]) if frames else np.zeros(0)
    if not len(values):
        hint = ("the log has no per-layer debug values (try --scalars)"
                if all(log.blobs.empty for log in logs) else "try another --layer/--quantity/--phase")
        raise UsageError(f"nothing to plot for {sel.describe()}: {hint}")
    lo, hi = _edges(values)
    xaxis = x_axis(logs, x)
    n_series = sum(f["label"].nunique() for f in frames)
    # each series gets its own row in the edge bands, so zeros of one do not hide another's
    stagger = min(0.1, 0.5 / max(n_series, 1))
    own = ax is None
    if ax is None:
        fig = Figure(figsize=(11, 6))
        ax = fig.add_subplot()
    else:
        fig = figure_of(ax)
    log_scale(ax)
    colors: dict[str, str] = {}
    zero_drawn = nonfinite_drawn = False
    first_bad = None
    k = -1
    for i, frame in enumerate(frames):
        for label, series in frame.groupby("label", sort=False):
            k += 1
            name = label if len(logs) == 1 else f"{label} [{names[i]}]"
            color = colors.setdefault(label, f"C{len(colors) % 10}")
            for segment, seg in series.groupby("segment"):
                style = LINE_STYLES[(int(segment) if len(logs) == 1 else i) % len(LINE_STYLES)]
                xs, y = xaxis.values(seg, i), seg["value"].to_numpy()
                shown = np.where(np.isfinite(y) & (y > 0), y, np.nan)
                window = smooth if smooth is not None else (len(xs) // 200 if len(xs) > SMOOTH_ABOVE else 0)
                if window <= 1:
                    ax.plot(xs, shown, style, color=color, lw=1.2, label=name, marker=".", ms=3)
                else:  # raw values faint behind a rolling median, so long noisy runs stay readable
                    ax.plot(*envelope(xs, shown), style, color=color, lw=0.5, alpha=0.25)
                    median = rolling_median(shown, window)
                    step = max(1, len(xs) // 1500)  # a smooth line needs no more points than pixels
                    ax.plot(xs[::step], median[::step], style, color=color,
                            lw=1.6, label=f"{name} (rolling median of {max(window, 3)})" if name else None)
                name = None
                zero, bad = y == 0, ~np.isfinite(y)
                if zero.any():
                    ax.scatter(xs[zero], np.full(zero.sum(), lo * 10 ** (stagger * k)), marker="v", s=28,
                               color=color,
                               edgecolors=ZERO_COLOR, zorder=3, clip_on=False)
                    zero_drawn = True
                if bad.any():
                    ax.scatter(xs[bad], np.full(bad.sum(), hi / 10 ** (stagger * k)), marker="X", s=40,
                               color=color, edgecolors=NONFINITE_COLOR,
                               zorder=3, clip_on=False)
                    nonfinite_drawn = True
                    xb = xs[bad].min()
                    first_bad = xb if first_bad is None else min(first_bad, xb)
    ax.set_ylim(lo, hi)
    for i, (frame, name) in enumerate(zip(frames, names)):
        mark_resumes([ax], frame, f" [{name}]" if len(logs) > 1 else "", xaxis, i)
    if not (np.isfinite(values) & (values > 0)).any():
        ax.text(0.5, 0.5, "no positive finite value to draw:\nevery selected value is 0 or nan/inf",
                transform=ax.transAxes, ha="center", va="center", fontsize=11, color="0.3")
    if first_bad is not None:
        ax.axvline(first_bad, color=NONFINITE_COLOR, ls="--", lw=1,
                   label=f"first nan/inf ({xaxis.describe(first_bad)})")
    if zero_drawn:
        ax.scatter([], [], marker="v", color="white", edgecolors=ZERO_COLOR,
                   label="exactly 0 (bottom band, in the series' colour)")
    if nonfinite_drawn:
        ax.scatter([], [], marker="X", color="white", edgecolors=NONFINITE_COLOR,
                   label="nan / inf (top band, in the series' colour)")
    outside = legend(ax, max_legend)
    if own and outside:
        fig.set_layout_engine("constrained")  # make room for the legend beside the axes
    elif own:
        fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.09)  # a fifth faster to draw
    ax.set_xlabel(xaxis.label)
    ax.set_ylabel(Y_LABEL)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(f"{', '.join(names)}\n{sel.describe()}", fontsize=10, y=1.0, loc="left")
    return fig


def default_selection(layers: list[str], quantity: str | None = None, phase: str | None = "train",
                      direction: str | None = None, role: str | None = None, blob: str | None = None,
                      segment: int | None = None) -> tuple[Selection, str]:
    """The selection a plot asked for, and a short name for it (for the output file). Nothing
    named: the classic picture, every layer's weight gradients (param blob 0 diffs)."""
    sel = Selection(list(layers), quantity, phase, direction, role, blob, segment)
    if not layers and not any((quantity, direction, role, blob)):
        sel.quantity, sel.role, sel.blob = "diff", "param", "0"
        return sel, "weight-diffs"
    return sel, "-".join(layers) or sel.describe()


def default_name(labels: Sequence[str], what: str) -> str:
    """The runs' labels + the picture: dead_relu_weight-diffs.png. Runs in different folders get
    different names, so plotting each run of a sweep in one place never collides."""
    stem = "+".join(re.sub(r"\.(log|txt)(\.gz)?$|\.gz$", "", label) for label in labels)[:80]
    safe = re.sub(r"[^A-Za-z0-9_.+-]+", "_", f"{stem}_{what}").strip("_.-") or "plot"
    return f"{safe}.png"


def show(fig: Figure) -> None:
    """Open the figure in a window (pyplot adopts it); a clear error where there is no display."""
    import os
    import sys
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UsageError("--show needs a display (DISPLAY is not set); write a file with -o instead")
    import matplotlib.pyplot as plt
    holder = plt.figure()
    manager = holder.canvas.manager
    assert manager is not None  # pyplot figures have one
    manager.canvas.figure = fig
    fig.set_canvas(manager.canvas)
    plt.show()
