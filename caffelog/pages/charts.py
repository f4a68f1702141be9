"""Curves as a page carries them: one x grid per chart, values as base64 typed arrays.

uPlot draws series that share one x array, so a chart's curves are placed on the union of their
iterations (a curve is empty where it has no value: `line` 0). A long chart is cut to a budget of
slots without losing what matters: each bin of iterations keeps, per curve, its smallest and its
largest value as they were logged (a nan/inf counts as the largest, so a spike, a zero or a nan is
never averaged away), with the iteration and the log line each came from, for the hover.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

MAX_SLOTS = 2000  # points per curve at most: two per bin, the min and the max


@dataclass
class Curve:
    """One line on a chart: a run's values over iterations, in iteration order."""

    label: str
    run: int  # which log of the page (its colour)
    kind: str  # what it is, for the line style: "weights diff", "top data", "test#0 loss"...
    iteration: np.ndarray
    value: np.ndarray
    line: np.ndarray


def b64(array: np.ndarray, dtype: str) -> str:
    """Little-endian bytes of array as dtype, base64: what the page's JS reads into a typed array."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode()


def chart(curves: list[Curve], max_slots: int = MAX_SLOTS) -> dict:
    """The JSON of one chart: x slots (iterations) and per curve y, its iteration and its line."""
    grid = np.unique(np.concatenate([c.iteration.astype(np.float64) for c in curves])) if curves else np.empty(0)
    binned = len(grid) > max_slots
    if binned:
        bins = max_slots // 2
        bin_of = np.arange(len(grid)) * bins // len(grid)
        starts = np.r_[0, np.flatnonzero(np.diff(bin_of)) + 1]
        ends = np.r_[starts[1:], len(grid)] - 1
        slots = np.column_stack([grid[starts], grid[ends]]).ravel()
    else:
        slots = grid
    out = []
    for c in curves:
        pos = np.searchsorted(grid, c.iteration.astype(np.float64))
        y = np.full(len(slots), np.nan)
        it = np.full(len(slots), np.nan)
        line = np.zeros(len(slots), dtype=np.uint32)
        if binned:
            _extremes(bin_of[pos], c, y, it, line)
        else:
            y[pos], it[pos], line[pos] = c.value, c.iteration, c.line
        out.append({"label": c.label, "run": c.run, "kind": c.kind, "y": b64(y, "f4"),
                    "it": b64(it, "f8") if binned else None, "line": b64(line, "u4")})
    return {"x": b64(slots, "f8"), "binned": binned, "n": int(len(slots)), "curves": out}


def _extremes(bin_id: np.ndarray, c: Curve, y: np.ndarray, it: np.ndarray, line: np.ndarray) -> None:
    """Fill slots 2k (the bin's smallest value) and 2k+1 (its largest: nan/inf first)."""
    value = np.asarray(c.value, dtype=np.float64)
    bad = ~np.isfinite(value)
    low_key = np.where(bad, np.inf, value)
    high_key = np.where(bad, -np.inf, -value)
    for slot_offset, key in ((0, low_key), (1, high_key)):
        order = np.lexsort((key, bin_id))
        first = np.r_[True, bin_id[order][1:] != bin_id[order][:-1]]
        pick = order[first]
        slot = 2 * bin_id[pick] + slot_offset
        y[slot], it[slot], line[slot] = value[pick], c.iteration[pick], c.line[pick]
