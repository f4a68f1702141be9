"""non-finite: the first nan/inf in execution order, and how it got there."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Context, Rule, Window, as_int, fmt_value


class NonFinite(Rule):
    """The first nan, -nan or inf in the log, in the order Caffe computed it.

    Why: once one value is NaN, the next update spreads it to every weight and the run is lost;
    the first one names the layer where the arithmetic broke. If values grew over the preceding
    iterations, the run diverged (learning rate too high, no clipping); if they were calm right
    up to it, a numerical fault hit (log(0), division by zero, a bad input sample).
    Fix: lower base_lr or set clip_gradients for divergence; for a fault, check that layer's
    inputs and its loss (e.g. use SoftmaxWithLoss rather than Softmax + log).
    """

    id = "non-finite"
    severity = "error"
    thresholds = {"growth": 100.0, "lookback": 5}

    EVIDENCE = ("first non-finite backward diff", "first non-finite param data", "first non-finite update")

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.first: pd.Series | None = None  # the first non-finite blob row
        self.firsts: dict[str, pd.Series] = {}  # the first of each EVIDENCE kind
        self.other: pd.Series | None = None  # the first non-finite totals or scalars row
        self.trend = _PeakTrend(int(self.t["lookback"]))
        self.diverged: bool | None = None
        self.trend_text = ""

    def observe(self, w: Window) -> None:
        b = w.blobs
        bad = b[~np.isfinite(w.values)]
        if self.first is None:
            self._watch_trend(w, bad)
        if len(bad) and len(self.firsts) < len(self.EVIDENCE):
            for label, sel in zip(self.EVIDENCE, (
                    bad["direction"] == "backward",
                    (bad["role"] == "param") & (bad["quantity"] == "data"),
                    bad["direction"] == "update")):
                hit = bad[sel.to_numpy()]
                if label not in self.firsts and len(hit):
                    self.firsts[label] = hit.iloc[0]
        if self.other is None:
            self.other = _first_other(w)

    def _watch_trend(self, w: Window, bad: pd.DataFrame) -> None:
        """Peak values per iteration, up to the first non-finite row, in its segment."""
        b = w.blobs
        keep = w._train_mask & np.isfinite(w.values)
        if len(bad):
            self.first = r = bad.iloc[0]
            keep &= ((b["segment"] == r["segment"]) & (b["line"] < r["line"])).to_numpy()
        self.trend.add(b["segment"].to_numpy()[keep], b["iteration"].to_numpy("float64", na_value=np.nan)[keep],
                       w.values[keep])
        if len(bad):
            self.diverged, self.trend_text = self._trend(r)

    def check(self, ctx: Context):
        if self.first is not None:
            return [self._from_blob(ctx, self.first)]
        if self.other is None:
            return []
        row = self.other
        what = "All-net-params norms" if "l1_data" in row else f"{row['name']}"
        return [self.finding(
            f"first non-finite value: {what} at iteration {row['iteration']} (line {row['line']}); "
            "the log has no per-layer debug values before it", segment=int(row["segment"]),
            iteration=as_int(row["iteration"]), phase="train", line=int(row["line"]),
            advice=_advice(ctx, diverged=None))]

    def _from_blob(self, ctx: Context, r):
        evidence = [self.trend_text]
        for label in self.EVIDENCE:
            if label in self.firsts:
                h = self.firsts[label]
                evidence.append(f"{label}: iteration {h['iteration']}, {h['layer']} {h['role']} "
                                f"{h['blob']} {h['quantity']} = {fmt_value(h['value'])} (line {h['line']})")
        loss = ctx.loss[~np.isfinite(ctx.loss["value"].to_numpy())]
        if len(loss):
            evidence.append(f"first non-finite loss: iteration {loss['iteration'].iloc[0]} "
                            f"(line {loss['line'].iloc[0]})")
        where = f"{r['phase']} {r['direction']}, layer {r['layer']}, {r['role']} blob {r['blob']} {r['quantity']}"
        return self.finding(
            f"first non-finite value: {fmt_value(r['value'])} at iteration {r['iteration']}, {where} "
            f"(line {r['line']})", advice=_advice(ctx, self.diverged), segment=int(r["segment"]),
            iteration=as_int(r["iteration"]), last_iteration=as_int(r["iteration"]), phase=r["phase"],
            direction=r["direction"], layer=r["layer"], blob=r["blob"], quantity=r["quantity"],
            value=float(r["value"]), line=int(r["line"]), evidence=evidence)

    def _trend(self, r) -> tuple[bool | None, str]:
        """Did values grow over the iterations before the first non-finite one?"""
        peak = self.trend.peaks(r["segment"])
        if peak is None:
            return None, "too few iterations before it to tell divergence from a numerical fault"
        start, recent = peak.iloc[0], peak.iloc[-int(self.t["lookback"]):]
        growth = recent.iloc[-1] / start if start > 0 else np.inf
        if growth >= self.t["growth"]:
            return True, (f"values were growing before it: the largest per-layer value went from "
                          f"{fmt_value(start)} (iteration {peak.index[0]}) to {fmt_value(recent.iloc[-1])} "
                          f"(iteration {recent.index[-1]}): divergence")
        return False, (f"values were calm right up to it (largest per-layer value {fmt_value(recent.max())} "
                       f"over the last {len(recent)} iterations): a numerical fault, not divergence")


def _first_other(w: Window) -> pd.Series | None:
    """The first non-finite All-net-params or solver row of the window (by line)."""
    totals, s = w.totals, w.scalars
    tbad = totals[~np.isfinite(totals[["l1_data", "l1_diff", "l2_data", "l2_diff"]]).all(axis=1)]
    sbad = s[((s["name"] != "iter_per_s") & ~np.isfinite(s["value"])).to_numpy()]
    if tbad.empty and sbad.empty:
        return None
    return (tbad if len(tbad) and (sbad.empty or tbad["line"].iloc[0] < sbad["line"].iloc[0])
            else sbad).iloc[0]


class _PeakTrend:
    """The largest finite train value of each iteration of the current segment, kept for the
    first iteration and the last `lookback` ones only: all the trend needs."""

    def __init__(self, lookback: int):
        self.lookback = lookback
        self.segment = None
        self.peak = pd.Series(dtype="float64")
        self.distinct = 0

    def add(self, segments: np.ndarray, iterations: np.ndarray, values: np.ndarray) -> None:
        for segment in pd.unique(segments):  # in log order: a new segment starts afresh
            if segment != self.segment:
                self.segment, self.peak, self.distinct = segment, pd.Series(dtype="float64"), 0
            part = segments == segment
            window = pd.Series(values[part]).groupby(iterations[part]).max().dropna()
            peak = pd.concat([self.peak, window]).groupby(level=0).max()
            self.distinct = max(self.distinct, len(peak))
            self.peak = peak.iloc[[0, *range(max(1, len(peak) - self.lookback), len(peak))]]

    def peaks(self, segment) -> pd.Series | None:
        """First iteration's peak, then the last `lookback` ones'; None if under 2 iterations."""
        if segment != self.segment or self.distinct < 2:
            return None
        peak = self.peak.copy()
        peak.index = peak.index.astype("int64")
        return peak


def _advice(ctx: Context, diverged: bool | None) -> str:
    lr, policy = ctx.knob("base_lr"), ctx.knob("lr_policy", "fixed")
    clip = ctx.knob("clip_gradients")
    if diverged is False:
        return ("look at this layer's inputs and operation (log of 0, division, a bad sample); "
                "a lower learning rate will not fix a numerical fault")
    parts = [f"base_lr is {lr} with lr_policy {policy}: try 10x lower" if lr is not None
             else "lower base_lr"]
    parts.append(f"clip_gradients is {clip}: lower it" if clip else "or set clip_gradients (e.g. 10)")
    return "; ".join(parts)

