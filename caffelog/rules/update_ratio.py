"""update-ratio: how big each weight update is next to the weights."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Context, Rule, fmt_value

ADAPTIVE = {"Adam", "RMSProp", "AdaGrad", "AdaDelta"}


class UpdateRatio(Rule):
    """The update:parameter ratio |step| / |weights| per layer, whose healthy value is about
    1e-3 (DL4J's guidance; flagged outside [`low`, `high`] over the median of the run).

    Exact where the log has legacy [Update] lines (their diff is the final step). Otherwise it is
    estimated for SGD and Nesterov as lr x mean|diff| / mean|data| / (1 - momentum), the
    steady-state momentum step; measured on the healthy_conv run, that estimate reads 2-3.5x the
    exact ratio (gradients are noisy, momentum never fully builds up), so estimates are only
    flagged beyond `estimate_tolerance` x the range. Adaptive solvers (Adam, RMSProp, AdaGrad,
    AdaDelta) scale each step by gradient history the log does not show: no estimate is made.
    Fix: too small, the layer barely moves: raise base_lr or its lr_mult; too large, it thrashes:
    lower them.
    """

    id = "update-ratio"
    severity = "warning"
    thresholds = {"low": 1e-4, "high": 1e-2, "estimate_tolerance": 3.0}

    def check(self, ctx: Context):
        up = ctx.log.blobs[ctx.log.blobs["direction"] == "update"]
        if len(up):
            return self._flag(ctx, self._exact(up), estimated=False)
        if ctx.solver_type in ADAPTIVE:
            return [self.finding(
                f"update:param ratio not estimated: solver {ctx.solver_type} scales each step by "
                "its gradient history, which the log does not show", severity="info")]
        if ctx.weight_diffs.empty or ctx.lr.empty:
            return []
        return self._flag(ctx, self._estimate(ctx), estimated=True)

    def _exact(self, up: pd.DataFrame) -> pd.DataFrame:
        first = up.groupby(["segment", "iteration", "layer"], observed=True, sort=False)["blob"].transform("first")
        w = up[up["blob"] == first]
        wide = w.pivot_table(index=["segment", "iteration", "layer"], columns="quantity",
                             values="value", observed=True)
        lines = w.groupby(["segment", "iteration", "layer"], observed=True)["line"].min()
        return pd.DataFrame({"ratio": wide["diff"] / wide["data"], "line": lines}).reset_index()

    def _estimate(self, ctx: Context) -> pd.DataFrame:
        diff = ctx.weight_diffs.groupby(["segment", "iteration", "layer"], observed=True).agg(
            diff=("value", "mean"), line=("line", "min"))
        data = ctx.weight_data.groupby(["segment", "iteration", "layer"], observed=True)["value"].mean()
        df = diff.join(data.rename("data"), how="inner").reset_index()
        lr = ctx.lr.reindex(pd.MultiIndex.from_arrays([df["segment"], df["iteration"]])).to_numpy()
        try:
            momentum = float(ctx.knob("momentum", 0.0) or 0.0)
        except (TypeError, ValueError):
            momentum = 0.0
        df["ratio"] = lr * df["diff"] / df["data"] / (1 - momentum if momentum < 1 else 1)
        return df

    def _flag(self, ctx: Context, df: pd.DataFrame, estimated: bool):
        df = df[np.isfinite(df["ratio"].to_numpy())]
        tol = self.t["estimate_tolerance"] if estimated else 1.0
        low, high = self.t["low"] / tol, self.t["high"] * tol
        out = []
        label = "estimated " if estimated else ""
        for layer in ctx.learnable or list(dict.fromkeys(df["layer"].astype(str))):
            rows = df[df["layer"] == layer]
            if rows.empty:
                continue
            med = float(rows["ratio"].median())
            if low <= med <= high or med == 0:
                continue  # exactly 0 is zero-gradient's finding
            side = "below" if med < low else "above"
            out.append(self.episode(
                f"{layer}: {label}update:param ratio {fmt_value(med)} (median over {len(rows)} iterations) "
                f"is {side} the healthy range [{fmt_value(low)}, {fmt_value(high)}]", rows,
                advice=_advice(ctx, side, layer), direction="update" if not estimated else "backward",
                layer=layer, blob="0", value=med, threshold=low if side == "below" else high,
                estimated=estimated))
        return out


def _advice(ctx: Context, side: str, layer: str) -> str:
    lr = ctx.knob("base_lr")
    if side == "below":
        return (f"{layer} barely moves: raise its lr_mult, or base_lr ({lr}) if every layer is low; "
                "check for vanishing gradients")
    return f"{layer} moves too fast: lower base_lr ({lr}) or its lr_mult"
