"""exploding: per-layer values past 1e8, or the total gradient norm jumping 10x and past the weights."""
from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

from caffelog.diagnose.accumulate import LayerSpans, Span
from caffelog.diagnose.context import Context, Window
from caffelog.diagnose.findings import where
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import as_int, fmt_value


class Exploding(Rule):
    """Activations or gradients that have blown up, before they turn into NaN.

    Caffe's per-layer numbers are mean |x| per element, so a healthy net sits between about
    1e-6 and 1e2; a layer past 1e8 (data or diff) is exploding. In-place layers and Caffe's
    Split layers print their input's blob again: they are one finding with the layer that
    wrote the blob. BatchNorm's blobs are running sums, not weights, and are not judged.
    Independently, the All-net-params L2 norm of the diff growing 10x within a few displayed
    iterations *and* exceeding the L2 norm of the weights means each update is larger than the
    weights themselves.
    Why: this precedes the NaN by many iterations; catching it here saves the run.
    Fix: a lower lr (the one in force), clip_gradients, weight fillers (xavier/msra), input scaling.
    """

    id = "exploding"
    event = True
    severity = "error"
    counts = frozenset({"window"})
    thresholds = {"value": 1e8, "norm_growth": 10.0, "window": 5}

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.big = LayerSpans()
        self.recent: deque[float] = deque(maxlen=max(0, int(self.threshold["window"])))
        self.jump: pd.Series | None = None  # the All-net-params row where the diff norm jumped

    def observe(self, w: Window) -> None:
        values = w.values
        self.big.add(w.train_where(np.isfinite(values) & (values >= self.threshold["value"])))
        if self.jump is None and len(w.totals):
            self._norm_jump(w.totals)

    def _norm_jump(self, totals: pd.DataFrame) -> None:
        """The first iteration whose diff norm is norm_growth x the smallest of the `window`
        iterations before it, and larger than the weights' norm."""
        last = totals.groupby(["segment", "iteration"], sort=False).tail(1)
        diff, data = last["l2_diff"].to_numpy(), last["l2_data"].to_numpy()
        window = max(0, int(self.threshold["window"]))
        before = np.r_[np.full(window - len(self.recent), np.nan), list(self.recent), diff]
        self.recent.extend(diff)
        if window < 1 or not len(diff):
            return
        lows = np.lib.stride_tricks.sliding_window_view(before, window)[:len(diff)]
        lows = np.where(np.isfinite(lows) & (lows > 0), lows, np.inf).min(axis=1)
        with np.errstate(invalid="ignore"):
            jump = (np.isfinite(lows) & np.isfinite(diff) & (diff >= self.threshold["norm_growth"] * lows)
                    & (diff > data))
        if jump.any():
            i = int(np.argmax(jump))
            self.jump, self.jump_from = last.iloc[i], lows[i]

    def check(self, ctx: Context):
        out = [self._layer_finding(ctx, layer, span, also) for layer, span, also in self._by_blob(ctx)]
        out.sort(key=lambda f: f.line)
        if self.jump is not None:
            r, window = self.jump, int(self.threshold["window"])
            advice, settings = _advice(ctx, r)
            out.append(self.finding(
                f"All-net-params L2 norm of the diff jumped to {fmt_value(r['l2_diff'])} (from "
                f"{fmt_value(self.jump_from)} within {window} displayed iterations), larger than the "
                f"weights' L2 norm {fmt_value(r['l2_data'])}, at iteration {r['iteration']}",
                advice=advice, settings=settings, segment=int(r["segment"]), iteration=as_int(r["iteration"]),
                phase="train", direction="backward", quantity="diff", value=float(r["l2_diff"]),
                threshold=self.threshold["norm_growth"], **where(r),
                cause=ctx.divergence_cause(int(r["segment"]), as_int(r["iteration"]))))
        return out

    def _by_blob(self, ctx: Context) -> list[tuple[str, Span, list[str]]]:
        """One (first layer, its span, the other layers printing the same blob) per blob."""
        groups: dict[str, list[tuple[str, Span]]] = {}
        for layer, span in self.big.items():
            if ctx.roles.statistics_only(layer):
                continue
            groups.setdefault(ctx.roles.root.get(layer, layer), []).append((layer, span))
        out = []
        for members in groups.values():
            members.sort(key=lambda m: int(m[1].first["line"]))
            out.append((members[0][0], members[0][1], [m[0] for m in members[1:]]))
        return out

    def _layer_finding(self, ctx: Context, layer: str, span: Span, also: list[str]):
        first = span.first
        alias = f" (the same blob in {', '.join(also)})" if also else ""
        advice, settings = _advice(ctx, first)
        return self.episode(
            f"{layer}{alias}: {first['direction']} {first['role']} {first['blob']} {first['quantity']} = "
            f"{fmt_value(first['value'])} >= {self.threshold['value']:g} at iteration {first['iteration']}; "
            f"{span.n} values past it up to iteration {span.last_iteration} (max {fmt_value(span.max)})", span,
            advice=advice, settings=settings, layer=layer, value=float(first["value"]),
            threshold=self.threshold["value"],
            cause=ctx.divergence_cause(int(first["segment"]), as_int(first["iteration"])))


def _advice(ctx: Context, row: pd.Series) -> tuple[str, list[str]]:
    segment, iteration = int(row["segment"]), as_int(row["iteration"])
    return (f"{ctx.lr_words(segment, iteration)}: try 10-100x lower, or {ctx.clip_words()}",
            ctx.step_settings(segment, iteration))
