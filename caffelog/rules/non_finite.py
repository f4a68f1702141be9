"""non-finite: the first nan/inf in execution order, and how it got there."""
from __future__ import annotations

import numpy as np

from .base import Context, Rule, as_int, finite, fmt_value


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

    def check(self, ctx: Context):
        b = ctx.log.blobs
        bad = b[~np.isfinite(b["value"].to_numpy())]
        totals = ctx.log.totals
        tbad = totals[~np.isfinite(totals[["l1_data", "l1_diff", "l2_data", "l2_diff"]]).all(axis=1)]
        s = ctx.log.scalars
        sbad = s[(s["name"] != "iter_per_s") & ~np.isfinite(s["value"].to_numpy())]
        if bad.empty and tbad.empty and sbad.empty:
            return []
        if len(bad):
            return [self._from_blob(ctx, bad.iloc[0], bad)]
        row = (tbad if len(tbad) and (sbad.empty or tbad["line"].iloc[0] < sbad["line"].iloc[0])
               else sbad).iloc[0]
        what = "All-net-params norms" if "l1_data" in row else f"{row['name']}"
        return [self.finding(
            f"first non-finite value: {what} at iteration {row['iteration']} (line {row['line']}); "
            "the log has no per-layer debug values before it", segment=int(row["segment"]),
            iteration=as_int(row["iteration"]), phase="train", line=int(row["line"]),
            advice=_advice(ctx, diverged=None))]

    def _from_blob(self, ctx: Context, r, bad):
        diverged, trend = self._trend(ctx, r)
        evidence = [trend]
        for label, sel in (("first non-finite backward diff", bad["direction"] == "backward"),
                           ("first non-finite param data", (bad["role"] == "param") & (bad["quantity"] == "data")),
                           ("first non-finite update", bad["direction"] == "update")):
            hit = bad[sel.to_numpy()]
            if len(hit):
                h = hit.iloc[0]
                evidence.append(f"{label}: iteration {h['iteration']}, {h['layer']} {h['role']} "
                                f"{h['blob']} {h['quantity']} = {fmt_value(h['value'])} (line {h['line']})")
        loss = ctx.loss[~np.isfinite(ctx.loss["value"].to_numpy())]
        if len(loss):
            evidence.append(f"first non-finite loss: iteration {loss['iteration'].iloc[0]} "
                            f"(line {loss['line'].iloc[0]})")
        where = f"{r['phase']} {r['direction']}, layer {r['layer']}, {r['role']} blob {r['blob']} {r['quantity']}"
        return self.finding(
            f"first non-finite value: {fmt_value(r['value'])} at iteration {r['iteration']}, {where} "
            f"(line {r['line']})", advice=_advice(ctx, diverged), segment=int(r["segment"]),
            iteration=as_int(r["iteration"]), last_iteration=as_int(r["iteration"]), phase=r["phase"],
            direction=r["direction"], layer=r["layer"], blob=r["blob"], quantity=r["quantity"],
            value=float(r["value"]), line=int(r["line"]), evidence=evidence)

    def _trend(self, ctx: Context, r) -> tuple[bool | None, str]:
        """Did values grow over the iterations before the first non-finite one?"""
        b = ctx.log.blobs
        before = ctx.train_where(((b["segment"] == r["segment"]) & (b["line"] < r["line"])).to_numpy())
        peak = finite(before["value"]).groupby(before["iteration"]).max().dropna()
        if len(peak) < 2:
            return None, "too few iterations before it to tell divergence from a numerical fault"
        recent = peak.iloc[-int(self.t["lookback"]):]
        start = peak.iloc[0]
        growth = recent.iloc[-1] / start if start > 0 else np.inf
        if growth >= self.t["growth"]:
            return True, (f"values were growing before it: the largest per-layer value went from "
                          f"{fmt_value(start)} (iteration {peak.index[0]}) to {fmt_value(recent.iloc[-1])} "
                          f"(iteration {recent.index[-1]}): divergence")
        return False, (f"values were calm right up to it (largest per-layer value {fmt_value(recent.max())} "
                       f"over the last {len(recent)} iterations): a numerical fault, not divergence")


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

