"""What every caffelog figure shares: log axes labelled in plain text, line thinning for long
runs, legends that stay readable, and the colours of the values a log axis cannot show."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FixedFormatter, Formatter, FuncFormatter, LogLocator

from caffelog.output.xaxis import XAxis
from caffelog.printable import clean

Y_LABEL = "mean |value| per element (log scale)"
ZERO_COLOR, NONFINITE_COLOR = "#1f77b4", "#d62728"
LINE_STYLES = ["-", "--", ":", "-."]  # one per segment (one log) or per log (several)
RESUME_COLOR = "0.45"
SMOOTH_ABOVE = 500  # points per series beyond which a rolling median is drawn over faint raw values


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


SHORT_RANGE = 1.5  # decades: below this, ticks are plain numbers, major and minor alike
MEDIUM_RANGE = 3.5  # below this, plain numbers at 1, 2 and 5 of each decade; above, powers of ten


def log_scale(ax) -> None:
    """A log y axis whose labels read in one format: powers of ten (10\u207b\u00b3, plain text, not
    matplotlib's slow TeX-like labels) over a wide range; over a short one (a flat loss, an lr
    that barely moves) plain numbers on enough ticks to read the value."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], numticks=12))
    ax.yaxis.set_major_formatter(_LogLabels(major=True))
    ax.yaxis.set_minor_formatter(_LogLabels(major=False))


class _LogLabels(Formatter):
    """Tick labels chosen when the figure is drawn, from the axis range then."""

    def __init__(self, major: bool):
        self.major = major

    def __call__(self, value, pos=None) -> str:
        lo, hi = sorted(self.axis.get_view_interval()) if self.axis is not None else (1.0, 10.0)
        decades = np.log10(hi / lo) if lo > 0 else np.inf
        if decades >= MEDIUM_RANGE:
            return power_of_ten(value) if self.major else ""
        # plain numbers: every tick on a short range, else 1, 2, (3,) 5 of each decade
        mantissa = round(value / 10 ** np.floor(np.log10(value) + 1e-9), 6) if value > 0 else 0.0
        wanted = (1.0, 2.0, 3.0, 5.0) if decades < SHORT_RANGE else (1.0, 2.0, 5.0)
        return f"{value:.3g}" if decades < 0.7 or self.major or mantissa in wanted else ""


def power_of_ten(value: float, _pos=None) -> str:
    if value <= 0 or not np.isfinite(value):
        return ""
    exponent = np.log10(value)
    if abs(exponent - round(exponent)) > 1e-9:
        return f"{value:g}"
    return "10" + str(int(round(exponent))).translate(_SUPERSCRIPT)


def rolling_median(y: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(y).rolling(max(window, 3), center=True, min_periods=1).median().to_numpy()


def envelope(x: np.ndarray, y: np.ndarray, bins: int = 1000) -> tuple[np.ndarray, np.ndarray]:
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


def legend(ax, max_legend: int) -> bool:
    """Draw the legend beside the axes, never over the data; True when one was drawn."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return False
    shown = list(zip(handles, labels))
    if len(shown) > max_legend:  # keep the markers' entries, say how many were cut
        extra = [h for h in shown if "band" in h[1] or "first" in h[1] or "resumed" in h[1]]
        shown = [h for h in shown if h not in extra][:max_legend - len(extra)] + extra
        ax.set_title(ax.get_title() + f" (legend shows {max_legend} of {len(handles)})")
    ax.legend(*zip(*shown), loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7 if len(shown) > 8 else 8,
              frameon=False)
    return True


def figure_of(ax) -> Figure:
    """The top-level Figure an Axes belongs to (it may sit in a SubFigure)."""
    fig = ax.get_figure(root=True)
    if not isinstance(fig, Figure):
        raise TypeError("the axes belong to no figure")
    return fig


F = TypeVar("F", bound=Callable)


def plain_text(draw: F) -> F:
    """Draw with matplotlib's math text off: a layer or file named `fc$\\frac$` is shown as
    written, never parsed as TeX (which fails, or renders something else). Every Text made
    while drawing keeps the setting, tick labels included (they are made here, not later), and
    shows control characters as escapes (an ANSI escape in a name has no glyph, and matplotlib's
    warning about it would print it raw)."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context({"text.parse_math": False}):
            fig = draw(*args, **kwargs)
            for ax in fig.axes:  # ticks are made lazily: make them now, under this setting
                for axis in (ax.xaxis, ax.yaxis):
                    formatter = axis.get_major_formatter()
                    if isinstance(formatter, FixedFormatter):  # names as tick labels (a heatmap's rows)
                        formatter.seq = [clean(s, keep="\n") for s in formatter.seq]
                    elif isinstance(formatter, FuncFormatter):
                        formatter.func = _cleaned(formatter.func)
                    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                        tick.label1.set_parse_math(False)
                        tick.label2.set_parse_math(False)
            for text in fig.findobj(Text):  # names from the log: their control characters as escapes
                text.set_text(clean(text.get_text(), keep="\n"))
            return fig
    return wrapper  # type: ignore[return-value]


def _cleaned(func: Callable) -> Callable:
    return lambda x, pos=None: clean(func(x, pos), keep="\n")


def mark_resumes(axes, rows: pd.DataFrame, suffix: str = "", x: XAxis | None = None, log_index: int = 0) -> None:
    """A dotted vertical line where each later segment of a resumed log starts, on every Axes;
    labelled on the first."""
    x = x or XAxis()
    segments = sorted(int(s) for s in rows.loc[rows["iteration"].notna().to_numpy(), "segment"].unique())
    for segment in segments[1:]:
        at = x.at_start(rows, segment, log_index)
        for ax in axes:
            ax.axvline(at, color=RESUME_COLOR, ls=":", lw=1.2,
                       label=f"resumed at {x.describe(at)} (segment {segment}){suffix}" if ax is axes[0] else None)
