"""Semilog per-layer curves, a layers x iterations heatmap, and the solver's scalars.

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
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from .log import CaffeLog
from .reader import UsageError

Y_LABEL = "mean |value| per element (log scale)"
ZERO_COLOR, NONFINITE_COLOR = "#1f77b4", "#d62728"
SMOOTH_ABOVE = 500  # points per series beyond which a rolling median is drawn over faint raw values


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
    labels = [f"{l} / {r} {bl} / {q}" for l, r, bl, q in
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
    known = [str(l) for l in log.blobs["layer"].unique()]
    found = []
    for pattern in patterns:
        hits = [l for l in known if fnmatch.fnmatchcase(l, pattern)]
        if not hits:
            close = difflib.get_close_matches(pattern, known, n=5, cutoff=0.5)
            rest = [l for l in known if l not in close]
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
    _log_scale(ax)
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
                    ax.plot(*_envelope(x, shown), styles[i % 4], color=color, lw=0.5, alpha=0.25)
                    smooth = _rolling_median(shown, len(x) // 200)
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
    if _legend(ax, max_legend):
        fig.set_layout_engine("constrained")  # make room for the legend beside the axes
    else:
        fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.09)  # a fifth faster to draw
    ax.set_xlabel("iteration")
    ax.set_ylabel(Y_LABEL)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(f"{', '.join(l.source for l in logs)}\n{sel.describe()}", fontsize=10, y=1.0)
    return fig


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def _log_scale(ax) -> None:
    """A log y axis labelled 10\u207b\u00b3 in plain text: matplotlib's default labels go through its
    TeX-like parser, a tenth of a second of every plot."""
    from matplotlib.ticker import FuncFormatter, LogFormatter
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))  # labelled on a short range


def _power_of_ten(value: float, _pos=None) -> str:
    if value <= 0 or not np.isfinite(value):
        return ""
    exponent = np.log10(value)
    if abs(exponent - round(exponent)) > 1e-9:
        return f"{value:g}"
    return "10" + str(int(round(exponent))).translate(_SUPERSCRIPT)


def _rolling_median(y: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(y).rolling(max(window, 3), center=True, min_periods=1).median().to_numpy()


def _envelope(x: np.ndarray, y: np.ndarray, bins: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """At most 2 x bins points that draw the same picture: each bin's min and max, in order.

    A 18,000-iteration line has more points than the figure has pixels; drawing all of them
    costs seconds and shows nothing more. Spikes survive (they are a bin's max).
    """
    n = len(x)
    if n <= 2 * bins:
        return x, y
    k = -(-n // bins)
    pad = (-n) % k
    yy = np.concatenate([y, np.full(pad, np.nan)]).reshape(-1, k)
    base = np.arange(0, n + pad, k)
    lo = base + np.argmin(np.where(np.isnan(yy), np.inf, yy), axis=1)
    hi = base + np.argmax(np.where(np.isnan(yy), -np.inf, yy), axis=1)
    idx = np.unique(np.minimum(np.concatenate([lo, hi]), n - 1))
    return x[idx], y[idx]


def _legend(ax, max_legend: int) -> bool:
    """Draw the legend; True when it sits outside the axes (many series)."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return False
    if len(handles) > 8:
        shown = list(zip(handles, labels))
        if len(shown) > max_legend:  # keep the markers' entries, say how many were cut
            extra = [h for h in shown if "edge" in h[1] or "first" in h[1]]
            shown = [h for h in shown if h not in extra][:max_legend - len(extra)] + extra
            ax.set_title(ax.get_title() + f" (legend shows {max_legend} of {len(handles)})")
        ax.legend(*zip(*shown), loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
        return True
    ax.legend(fontsize=8, loc="upper right")  # "best" scans every point: seconds on long runs
    return False


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
    order = [str(l) for l in rows["layer"].unique()]
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
    _log_scale(ax_loss)
    ax_loss.set_ylabel("loss (log)")
    ax_lr.set_ylabel("learning rate")
    ax_test.set_ylabel("test outputs")
    ax_test.set_xlabel("iteration")
    for ax in (ax_loss, ax_lr, ax_test):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper right")  # "best" scans every point: seconds on long runs
    ax_loss.set_title(", ".join(l.source for l in logs), fontsize=10)
    return fig


def _scalar_line(ax, rows: pd.DataFrame, label: str, color: str, marker=None) -> None:
    x, y = rows["iteration"].to_numpy(float), rows["value"].to_numpy(float)
    shown = np.where(np.isfinite(y), y, np.nan)
    if len(x) <= SMOOTH_ABOVE:
        ax.plot(x, shown, color=color, label=label, marker=marker, ms=3)
    else:  # the raw loss of a long run is a solid band: show it faint under a rolling median
        ax.plot(*_envelope(x, shown), color=color, lw=0.5, alpha=0.25)
        step = max(1, len(x) // 1500)
        ax.plot(x[::step], _rolling_median(shown, len(x) // 200)[::step], color=color, lw=1.6,
                label=f"{label} (rolling median)")
    bad = ~np.isfinite(y)
    if bad.any():
        top = np.nanmax(np.where(np.isfinite(y), y, np.nan)) if np.isfinite(y).any() else 1
        ax.scatter(x[bad], np.full(bad.sum(), top), marker="X", color=NONFINITE_COLOR,
                   label=f"{label}: nan/inf ({bad.sum()})", zorder=3)


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
    manager.canvas.figure = fig
    fig.set_canvas(manager.canvas)
    plt.show()
