"""non-finite: the first nan/inf in execution order, and how it got there."""
from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

from caffelog.diagnose.accumulate import EvenSample
from caffelog.diagnose.context import Context, Window
from caffelog.diagnose.findings import where
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import as_int, fmt_value, layer_param_block

BIG = 1e8  # a per-layer mean |x| this large is not calm (exploding's default too)


class NonFinite(Rule):
    """The first nan, -nan or inf in the log, in the order Caffe computed it: per-layer debug
    lines, the All-net-params norms, the loss and the test outputs alike.

    Why: once one value is NaN, the next update spreads it to every weight and the run is lost;
    the first one names the layer where the arithmetic broke. It is divergence when values
    grew before it (the peak of the last `lookback` iterations is `growth` x the run's own
    median peak, or past 1e8) or the lr in force had just been raised; a numerical fault when
    they were calm. A NaN born in a backward pass while every forward value was finite comes
    from a singular derivative (sqrt or pow < 1 at 0, log at 0, a division by ~0).
    Fix: divergence: a lower lr (the one in force: base_lr, or the schedule that raised it) or
    clip_gradients; a fault: that layer's operation and inputs, not the lr.
    """

    id = "non-finite"
    event = True
    severity = "error"
    thresholds = {"growth": 10.0, "lookback": 5}

    EVIDENCE = ("first non-finite backward diff", "first non-finite param data", "first non-finite update")

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.first: pd.Series | None = None  # the first non-finite blob row
        self.firsts: dict[str, pd.Series] = {}  # the first of each EVIDENCE kind
        self.other: pd.Series | None = None  # the first non-finite totals or scalars row
        self.trend = _PeakTrend(int(self.threshold["lookback"]))

    def observe(self, w: Window) -> None:
        bad = w.blobs[~np.isfinite(w.values)]
        if self.first is None and self.other is None:
            self.other = _first_other(w)
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

    def _watch_trend(self, w: Window, bad: pd.DataFrame) -> None:
        """Peak values per iteration, up to the first non-finite row (blob or not), in its segment."""
        b = w.blobs
        keep = w._train_mask & np.isfinite(w.values)
        stop = None
        if len(bad):
            self.first = bad.iloc[0]
            stop = self.first
        if self.other is not None and (stop is None or self.other["line"] < stop["line"]):
            stop = self.other
        if stop is not None:
            keep &= ((b["segment"] == stop["segment"]) & (b["line"] < stop["line"])).to_numpy()
        self.trend.add(b["segment"].to_numpy()[keep], b["iteration"].to_numpy("float64", na_value=np.nan)[keep],
                       w.values[keep])

    def check(self, ctx: Context):
        blob_first = self.first is not None and (self.other is None or self.first["line"] < self.other["line"])
        if blob_first:
            return [self._from_blob(ctx, self.first)]
        if self.other is None:
            return []
        return [self._from_other(ctx, self.other)]

    def _judge(self, ctx: Context, r: pd.Series) -> tuple[bool | None, str]:
        """(diverged?, why): growth against the run's own history, and the lr in force."""
        segment, iteration = int(r["segment"]), as_int(r["iteration"])
        rise = ctx.schedule.rise_before(segment, iteration)
        trend = self.trend.of(segment)
        if rise is not None:
            return True, f"{ctx.schedule.describe(rise)} before it: divergence"
        if trend is None:
            return None, "too few iterations before it to tell divergence from a numerical fault"
        median, recent, at = trend
        if recent >= BIG or recent >= self.threshold["growth"] * median:
            return True, (f"values were growing before it: the largest per-layer value reached "
                          f"{fmt_value(recent)} (iteration {at}), {recent / median:.3g}x the run's median "
                          f"peak {fmt_value(median)}: divergence")
        return False, (f"values were calm right up to it (largest per-layer value {fmt_value(recent)} over the "
                       f"last {int(self.threshold['lookback'])} iterations, run median {fmt_value(median)}): "
                       "a numerical fault, not divergence")

    def _from_blob(self, ctx: Context, r: pd.Series):
        diverged, why = self._judge(ctx, r)
        evidence = [why]
        for label in self.EVIDENCE:
            if label in self.firsts:
                h = self.firsts[label]
                evidence.append(f"{label}: iteration {h['iteration']}, {h['layer']} {h['role']} "
                                f"{h['blob']} {h['quantity']} = {fmt_value(h['value'])} (line {h['line']})")
        loss = ctx.loss[~np.isfinite(ctx.loss["value"].to_numpy())]
        if len(loss):
            evidence.append(f"first non-finite loss: iteration {loss['iteration'].iloc[0]} "
                            f"(line {loss['line'].iloc[0]})")
        place = f"{r['phase']} {r['direction']}, layer {r['layer']}, {r['role']} blob {r['blob']} {r['quantity']}"
        message = (f"first non-finite value: {fmt_value(r['value'])} at iteration {r['iteration']}, "
                   f"{place} (line {r['line']})")
        backward_born = r["direction"] == "backward" and diverged is not True
        if backward_born:
            layer = _describe_layer(ctx, str(r["layer"]))
            message += f": born in the backward pass of {layer}, every forward value finite"
            advice, settings = _singular_advice(ctx, str(r["layer"]))
        else:
            advice, settings = _advice(ctx, diverged, r)
        cause = "numerical-fault" if backward_born or diverged is False else (
            ctx.divergence_cause(int(r["segment"]), as_int(r["iteration"])) if diverged else "non-finite")
        return self.finding(
            message, advice=advice, settings=settings, segment=int(r["segment"]),
            iteration=as_int(r["iteration"]), last_iteration=as_int(r["iteration"]), phase=r["phase"],
            direction=r["direction"], layer=r["layer"], blob=r["blob"], quantity=r["quantity"],
            value=float(r["value"]), **where(r), evidence=evidence, cause=cause)

    def _from_other(self, ctx: Context, row: pd.Series):
        diverged, why = self._judge(ctx, row)
        what = "All-net-params norms" if "l1_data" in row else f"{row['name']}"
        advice, settings = _advice(ctx, diverged, row)
        return self.finding(
            f"first non-finite value: {what} at iteration {row['iteration']} (line {row['line']}), "
            "before any per-layer value turned non-finite", segment=int(row["segment"]),
            iteration=as_int(row["iteration"]), phase=str(row.get("phase", "train") or "train"),
            **where(row), advice=advice, settings=settings, evidence=[why],
            cause="numerical-fault" if diverged is False else (
                ctx.divergence_cause(int(row["segment"]), as_int(row["iteration"])) if diverged else "non-finite"))


def _first_other(w: Window) -> pd.Series | None:
    """The first non-finite All-net-params or solver row of the window (by line)."""
    totals, s = w.totals, w.scalars
    tbad = totals[~np.isfinite(totals[["l1_data", "l1_diff", "l2_data", "l2_diff"]].to_numpy()).all(axis=1)]
    sbad = s[((s["name"] != "iter_per_s") & ~np.isfinite(s["value"])).to_numpy()]
    if tbad.empty and sbad.empty:
        return None
    return (tbad if len(tbad) and (sbad.empty or tbad["line"].iloc[0] < sbad["line"].iloc[0])
            else sbad).iloc[0]


class _PeakTrend:
    """Per segment: the largest finite train value of each iteration; the last `lookback`
    iterations kept as they are, the earlier ones in an even sample (for the run's median)."""

    def __init__(self, lookback: int):
        self.lookback = max(1, lookback)
        self.segment = None
        self.recent: deque[tuple[float, float]] = deque()  # (iteration, peak)
        self.history = EvenSample()

    def add(self, segments: np.ndarray, iterations: np.ndarray, values: np.ndarray) -> None:
        for segment in pd.unique(segments):  # in log order: a new segment starts afresh
            if segment != self.segment:
                self.segment, self.recent, self.history = segment, deque(), EvenSample()
            part = segments == segment
            peaks = pd.Series(values[part]).groupby(iterations[part], sort=False).max().dropna()
            at, peak = peaks.index.to_numpy(np.float64), peaks.to_numpy(np.float64).copy()
            if len(at) and self.recent and self.recent[-1][0] == at[0]:  # the rest of an iteration
                peak[0] = max(peak[0], self.recent.pop()[1])
            self.recent.extend(zip(at.tolist(), peak.tolist()))
            if len(self.recent) > self.lookback:  # one add for them all: 18,000 adds cost 0.2 s
                self.history.add([self.recent.popleft()[1] for _ in range(len(self.recent) - self.lookback)])

    def of(self, segment) -> tuple[float, float, int] | None:
        """(median peak of the segment's earlier iterations, the largest recent peak, its
        iteration); None under two iterations."""
        if segment != self.segment or self.history.seen + len(self.recent) < 2:
            return None
        at, recent = max(self.recent, key=lambda ip: ip[1])
        earlier = self.history.values()
        base = float(np.median(earlier)) if len(earlier) else min(p for _, p in self.recent)
        return (base if base > 0 else np.finfo(float).tiny), recent, int(at)


def _describe_layer(ctx: Context, layer: str) -> str:
    """'sqrt1 (Power, power 0.5, input ip1 from relu1)'."""
    kind = ctx.roles.types.get(layer, "")
    block = {k: v for k, v in layer_param_block(ctx.roles.params(layer)).items() if not isinstance(v, dict)}
    parts = [kind] if kind else []
    parts += [f"{k} {v}" for k, v in list(block.items())[:3]]
    feeder = ctx.roles.feeder(layer, last=True)
    if feeder:
        parts.append(f"input from {feeder} ({ctx.roles.types.get(feeder, '?')})")
    return f"{layer} ({', '.join(parts)})" if parts else layer


def _singular_advice(ctx: Context, layer: str) -> tuple[str, list[str]]:
    params = ctx.roles.params(layer)
    block_name = next((k for k, v in params.items() if k.endswith("_param") and isinstance(v, dict)), None)
    feeder = ctx.roles.feeder(layer, last=True)
    zeros = (f"; {feeder} ({ctx.roles.types.get(feeder)}) outputs exact zeros"
             if feeder and ctx.roles.types.get(feeder) in ("ReLU", "Pooling", "Dropout") else "")
    advice = (f"the derivative of {layer} is not finite at some input{zeros}: keep its input away from "
              "the singular point (a shift, a clamp, or another operation); a lower learning rate will not fix it")
    return advice, [block_name or f"{layer} type"]


def _advice(ctx: Context, diverged: bool | None, r: pd.Series) -> tuple[str, list[str]]:
    segment, iteration = int(r["segment"]), as_int(r["iteration"])
    if diverged is False:
        layer = str(r.get("layer") or "")
        return ((f"look at {layer}'s inputs and operation" if layer else "look at the inputs") +
                " (log of 0, division, a bad sample); a lower learning rate will not fix a numerical fault",
                [])
    return (f"{ctx.lr_words(segment, iteration)}: try 10x lower; {ctx.clip_words()}",
            ctx.step_settings(segment, iteration))
