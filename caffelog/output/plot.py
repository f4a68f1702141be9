"""Semilog per-layer curves (and, re-exported, the heatmap and the scalars panels).

Every function returns a matplotlib Figure, so notebooks can show or restyle it. Values that
a log axis cannot show (0, nan, inf) are never dropped: zeros sit on the bottom edge, nan/inf on
the top edge, each with its own marker and legend entry, and the first non-finite iteration
gets a vertical line.
"""
from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from caffelog.errors import UsageError
from caffelog.output.axes import (
    NONFINITE_COLOR,
    SMOOTH_ABOVE,
    Y_LABEL,
    ZERO_COLOR,
    envelope,
    legend,
    log_scale,
    rolling_median,
)
from caffelog.output.heatmap import heatmap_matrix, plot_heatmap
from caffelog.output.scalars import plot_scalars
from caffelog.tables.caffe_log import CaffeLog

__all__ = ["Selection", "default_name", "default_selection", "heatmap_matrix", "plot_heatmap",
           "plot_scalars", "plot_series", "resolve_layers", "select", "show"]


@dataclass
class Selection:
    """Which per-layer series to draw; None means any."""

    layers: list[str] = field(default_factory=list)  # names or shell patterns (conv*)
    quantity: str | None = None
    phase: str | None = "train"
    direction: str | None = None
    role: str | None = None
    blob: str | None = None
    segment: int | None = None

    def describe(self) -> str:
        parts = [",".join(self.layers) if self.layers else "all layers"]
        parts += [v for v in (self.phase, self.direction, self.role, self.blob, self.quantity) if v]
        return " ".join(parts)


def select(log: CaffeLog, sel: Selection) -> pd.DataFrame:
    """The blob rows the selection names, one value per (series, segment, iteration).

    Several batches of one iteration (iter_size passes, test batches) are averaged; a NaN in
    any of them stays NaN.
    """
    b = log.blobs
    mask = np.ones(len(b), dtype=bool)
    for column in ("quantity", "phase", "direction", "role", "blob"):
        value = getattr(sel, column)
        if value is not None:
            mask &= (b[column] == value).to_numpy()
    if sel.segment is not None:
        mask &= (b["segment"] == sel.segment).to_numpy()
    if sel.layers:
        wanted = resolve_layers(log, sel.layers)
        mask &= b["layer"].isin(wanted).to_numpy()
    rows = b[mask]
    keys = ["layer", "direction", "role", "blob", "quantity", "segment", "iteration"]
    grouped = rows.groupby(keys, observed=True, sort=False)
    out = grouped.agg(value=("value", "mean"), line=("line", "min")).reset_index()
    has_nan = rows["value"].isna().groupby([rows[k] for k in keys], observed=True, sort=False).any()
    out.loc[has_nan.to_numpy(), "value"] = np.nan
    # labels and net order per series, not per row: a long run has ~100,000 rows here
    series = out.groupby(["layer", "role", "blob", "quantity"], observed=True, sort=False).ngroup()
    names = out.drop_duplicates(["layer", "role", "blob", "quantity"])
    labels = [f"{name} / {r} {bl} / {q}" for name, r, bl, q in
              zip(names["layer"], names["role"], names["blob"], names["quantity"])]
    unique = list(dict.fromkeys(labels))  # odd names could make two series' labels equal
    position = {label: i for i, label in enumerate(unique)}
    label_code = np.array([position[label] for label in labels], dtype=np.int64)
    out["label"] = pd.Categorical.from_codes(label_code[series.to_numpy()], categories=unique)
    rank = {layer: i for i, layer in enumerate(b["layer"].unique())}  # first appearance: net order
    out["order"] = np.array([rank[layer] for layer in names["layer"]])[series.to_numpy()]
    out = out.sort_values(["order", "direction", "role", "blob", "quantity", "segment", "iteration"],
                          kind="stable")
    return out.drop(columns="order")


def resolve_layers(log: CaffeLog, patterns: list[str]) -> list[str]:
    """Layer names matching names or patterns; a UsageError names the close matches."""
    known = [str(name) for name in log.blobs["layer"].unique()]
    found = []
    for pattern in patterns:
        hits = [name for name in known if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            close = difflib.get_close_matches(pattern, known, n=5, cutoff=0.5)
            rest = [name for name in known if name not in close]
            raise UsageError(f"no layer {pattern!r} in {log.source}; layers: "
                             + ", ".join(close + rest))
        found += hits
    return found


def _edges(values: np.ndarray) -> tuple[float, float]:
    pos = values[np.isfinite(values) & (values > 0)]
    if not len(pos):
        return 1e-3, 1e3
    lo, hi = pos.min(), pos.max()
    return lo / 10 ** 0.6, hi * 10 ** 0.6


def plot_series(logs: list[CaffeLog], sel: Selection, max_legend: int = 30) -> Figure:
    """One semilog line per series; with several logs, one colour per series and a line style per log."""
    frames = [select(log, sel) for log in logs]
    values = np.concatenate([f["value"].to_numpy() for f in frames]) if frames else np.zeros(0)
    if not len(values):
        hint = ("the log has no per-layer debug values (try --scalars)"
                if all(log.blobs.empty for log in logs) else "try another --layer/--quantity/--phase")
        raise UsageError(f"nothing to plot for {sel.describe()}: {hint}")
    lo, hi = _edges(values)
    n_series = sum(f["label"].nunique() for f in frames)
    # each series gets its own row in the edge bands, so zeros of one do not hide another's
    stagger = min(0.1, 0.5 / max(n_series, 1))
    fig = Figure(figsize=(11, 6))
    ax = fig.add_subplot()
    log_scale(ax)
    styles = ["-", "--", ":", "-."]
    colors: dict[str, str] = {}
    zero_drawn = nonfinite_drawn = False
    first_bad = None
    k = -1
    for i, (log, frame) in enumerate(zip(logs, frames)):
        for label, series in frame.groupby("label", sort=False):
            k += 1
            name = label if len(logs) == 1 else f"{label} [{log.source}]"
            color = colors.setdefault(label, f"C{len(colors) % 10}")
            for _, seg in series.groupby("segment"):
                x, y = seg["iteration"].to_numpy(dtype=float), seg["value"].to_numpy()
                shown = np.where(np.isfinite(y) & (y > 0), y, np.nan)
                if len(x) <= SMOOTH_ABOVE:
                    ax.plot(x, shown, styles[i % 4], color=color, lw=1.2, label=name, marker=".", ms=3)
                else:  # raw values faint behind a rolling median, so long noisy runs stay readable
                    ax.plot(*envelope(x, shown), styles[i % 4], color=color, lw=0.5, alpha=0.25)
                    smooth = rolling_median(shown, len(x) // 200)
                    step = max(1, len(x) // 1500)  # a smooth line needs no more points than pixels
                    ax.plot(x[::step], smooth[::step], styles[i % 4], color=color,
                            lw=1.6, label=f"{name} (rolling median)" if name else None)
                name = None
                zero, bad = y == 0, ~np.isfinite(y)
                if zero.any():
                    ax.scatter(x[zero], np.full(zero.sum(), lo * 10 ** (stagger * k)), marker="v", s=28,
                               color=color,
                               edgecolors=ZERO_COLOR, zorder=3, clip_on=False)
                    zero_drawn = True
                if bad.any():
                    ax.scatter(x[bad], np.full(bad.sum(), hi / 10 ** (stagger * k)), marker="X", s=40,
                               color=NONFINITE_COLOR,
                               zorder=3, clip_on=False)
                    nonfinite_drawn = True
                    xb = x[bad].min()
                    first_bad = xb if first_bad is None else min(first_bad, xb)
    ax.set_ylim(lo, hi)
    if not (np.isfinite(values) & (values > 0)).any():
        ax.text(0.5, 0.5, "no positive finite value to draw:\nevery selected value is 0 or nan/inf",
                transform=ax.transAxes, ha="center", va="center", fontsize=11, color="0.3")
    if first_bad is not None:
        ax.axvline(first_bad, color=NONFINITE_COLOR, ls="--", lw=1, label=f"first nan/inf (iteration {first_bad:g})")
    if zero_drawn:
        ax.scatter([], [], marker="v", color="white", edgecolors=ZERO_COLOR, label="exactly 0 (bottom band)")
    if nonfinite_drawn:
        ax.scatter([], [], marker="X", color=NONFINITE_COLOR, label="nan / inf (top band)")
    if legend(ax, max_legend):
        fig.set_layout_engine("constrained")  # make room for the legend beside the axes
    else:
        fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.09)  # a fifth faster to draw
    ax.set_xlabel("iteration")
    ax.set_ylabel(Y_LABEL)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(f"{', '.join(log.source for log in logs)}\n{sel.describe()}", fontsize=10, y=1.0)
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


def default_name(source: str, what: str) -> str:
    """train.log + 'fc1' -> train_fc1.png: named after the log and the selection."""
    import os
    import re
    stem = os.path.basename(source)
    for ext in (".gz", ".log", ".txt"):
        stem = stem[: -len(ext)] if stem.endswith(ext) else stem
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", what).strip("-") or "plot"
    return f"{stem or 'log'}_{safe}.png"


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
