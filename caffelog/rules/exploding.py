"""exploding: per-layer values past 1e8, or the total gradient norm jumping 10x and past the weights."""
from __future__ import annotations

import numpy as np

from .base import Context, Rule, as_int, fmt_value


class Exploding(Rule):
    """Activations or gradients that have blown up, before they turn into NaN.

    Caffe's per-layer numbers are mean |x| per element, so a healthy net sits between about
    1e-6 and 1e2; a layer past 1e8 (data or diff) is exploding. Independently, the All-net-params
    L2 norm of the diff growing 10x within a few displayed iterations *and* exceeding the L2 norm
    of the weights means each update is larger than the weights themselves.
    Why: this precedes the NaN by many iterations; catching it here saves the run.
    Fix: lower base_lr, set clip_gradients, check weight fillers (xavier/msra) and input scaling.
    """

    id = "exploding"
    severity = "error"
    thresholds = {"value": 1e8, "norm_growth": 10.0, "window": 5}

    def check(self, ctx: Context):
        out = []
        values = ctx.log.blobs["value"].to_numpy()
        big = ctx.train_where(np.isfinite(values) & (values >= self.t["value"]))
        for layer, rows in big.groupby("layer", observed=True, sort=False):
            first = rows.iloc[0]
            out.append(self.episode(
                f"{layer}: {first['direction']} {first['role']} {first['blob']} {first['quantity']} = "
                f"{fmt_value(first['value'])} >= {self.t['value']:g} at iteration {first['iteration']}; "
                f"{len(rows)} values past it up to iteration {rows['iteration'].iloc[-1]} "
                f"(max {fmt_value(rows['value'].max())})", rows,
                advice=_advice(ctx), layer=layer, value=float(first["value"]), threshold=self.t["value"]))
        out.sort(key=lambda f: f.line)
        norm = self._norm_jump(ctx)
        if norm is not None:
            out.append(norm)
        return out

    def _norm_jump(self, ctx: Context):
        totals = ctx.log.totals
        if totals.empty:
            return None
        last = totals.groupby(["segment", "iteration"], sort=False).tail(1)
        diff, data = last["l2_diff"].to_numpy(), last["l2_data"].to_numpy()
        window = int(self.t["window"])
        for i in range(1, len(last)):
            lo = diff[max(0, i - window):i]
            lo = lo[np.isfinite(lo) & (lo > 0)]
            if (len(lo) and np.isfinite(diff[i]) and diff[i] >= self.t["norm_growth"] * lo.min()
                    and diff[i] > data[i]):
                r = last.iloc[i]
                return self.finding(
                    f"All-net-params L2 norm of the diff jumped to {fmt_value(diff[i])} (from "
                    f"{fmt_value(lo.min())} within {window} displayed iterations), larger than the "
                    f"weights' L2 norm {fmt_value(data[i])}, at iteration {r['iteration']}",
                    advice=_advice(ctx), segment=int(r["segment"]), iteration=as_int(r["iteration"]),
                    phase="train", direction="backward", quantity="diff", value=float(diff[i]),
                    threshold=self.t["norm_growth"], line=int(r["line"]))
        return None


def _advice(ctx: Context) -> str:
    lr, clip = ctx.knob("base_lr"), ctx.knob("clip_gradients")
    policy = ctx.knob("lr_policy", "fixed")
    lr_part = f"base_lr is {lr} with lr_policy {policy}; try 10-100x lower" if lr is not None else "lower base_lr"
    clip_part = f"clip_gradients is {clip}: lower it" if clip else "set clip_gradients (e.g. 10)"
    return f"{lr_part}, or {clip_part}"
