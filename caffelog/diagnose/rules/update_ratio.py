"""update-ratio: how big each weight update is next to the weights."""
from __future__ import annotations

import numpy as np
import pandas as pd

from caffelog.diagnose.accumulate import LayerSpans
from caffelog.diagnose.context import Context, Window
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import as_float, fmt_value

ADAPTIVE = {"Adam", "RMSProp", "AdaGrad", "AdaDelta"}


class UpdateRatio(Rule):
    """The update:parameter ratio |step| / |weights| per layer, whose healthy value is about
    1e-3 (DL4J's guidance; flagged outside [`low`, `high`] over the median of the run).

    Exact where the log has legacy [Update] lines (their diff is the final step). Otherwise it is
    estimated for SGD and Nesterov as lr x mean|diff| / mean|data| / (1 - momentum), the
    steady-state momentum step, times the printed clip scale where clip_gradients cut the
    gradient; measured on the healthy_conv run, that estimate reads 2-3.5x the exact ratio
    (gradients are noisy, momentum never fully builds up), so estimates are only reported
    beyond `estimate_tolerance` x the range, and as info: an estimate is evidence for other
    findings, never a verdict alone. An exact ratio is a warning when it is `far` x outside
    the range, else info. Adaptive solvers (Adam, RMSProp, AdaGrad,
    AdaDelta) scale each step by gradient history the log does not show: no estimate is made.
    Medians over the run are exact up to 65,536 values per layer; beyond, they are taken over
    every k-th value of the run (at most 65,536), so a 10 GB log is diagnosed in bounded memory.
    Fix: too small, the layer barely moves: raise base_lr or its lr_mult; too large, it thrashes:
    lower them.
    """

    id = "update-ratio"
    severity = "warning"
    positive = frozenset({"estimate_tolerance", "far"})
    thresholds = {"low": 1e-4, "high": 1e-2, "estimate_tolerance": 3.0, "far": 10.0}

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.exact = LayerSpans(sample=True)  # from [Update] lines, where the log has them
        self.estimate = LayerSpans(sample=True)  # from diffs, weights, lr and momentum
        self.saw_update = self.have_weight_diffs = self.have_lr = False

    def observe(self, w: Window) -> None:
        up = w.blobs[(w.blobs["direction"] == "update").to_numpy()]
        if len(up):
            self.saw_update = True
            self.exact.add(_finite(self._exact(up)))
        elif not self.saw_update:
            self.have_weight_diffs |= len(w.weight_diffs) > 0
            self.have_lr |= len(w.lr) > 0
            if len(w.weight_diffs) and len(w.lr):
                self.estimate.add(_finite(self._estimate(w)))

    def check(self, ctx: Context):
        if self.saw_update:
            return self._flag(ctx, self.exact, estimated=False)
        if ctx.solver_type in ADAPTIVE:
            return [self.finding(
                f"update:param ratio not estimated: solver {ctx.solver_type} scales each step by "
                "its gradient history, which the log does not show", severity="info")]
        if not (self.have_weight_diffs and self.have_lr):
            return []
        momentum = _momentum(ctx)  # the estimates left it out: the solver dump may come late
        return self._flag(ctx, self.estimate, estimated=True, scale=1 - momentum if momentum < 1 else 1)

    def _exact(self, up: pd.DataFrame) -> pd.DataFrame:
        first = up.groupby(["segment", "iteration", "layer"], observed=True, sort=False)["blob"].transform("first")
        w = up[up["blob"] == first]
        wide = w.pivot_table(index=["segment", "iteration", "layer"], columns="quantity",
                             values="value", observed=True).reindex(columns=["data", "diff"])
        first_rows = w.groupby(["segment", "iteration", "layer"], observed=True)[["line", "time"]].min()
        return pd.DataFrame({"value": wide["diff"] / wide["data"], "line": first_rows["line"],
                             "time": first_rows["time"]}).reset_index()

    def _estimate(self, w: Window) -> pd.DataFrame:
        """lr x mean|diff| / mean|data| per layer and iteration; momentum is applied in check
        (the solver settings may come after the first windows)."""
        diff = w.weight_diffs.groupby(["segment", "iteration", "layer"], observed=True).agg(
            diff=("value", "mean"), line=("line", "min"), time=("time", "min"))
        data = w.weight_data.groupby(["segment", "iteration", "layer"], observed=True)["value"].mean()
        df = diff.join(data.rename("data"), how="inner").reset_index()
        at = pd.MultiIndex.from_arrays([df["segment"], df["iteration"]])
        lr = w.lr.reindex(at).to_numpy()
        clip = w.clip_scale.reindex(at).fillna(1.0).to_numpy()
        df["value"] = lr * clip * df["diff"] / df["data"]
        return df

    def _flag(self, ctx: Context, ratios: LayerSpans, estimated: bool, scale: float = 1.0):
        tol = self.threshold["estimate_tolerance"] if estimated else 1.0
        low, high = self.threshold["low"] / tol, self.threshold["high"] * tol
        out = []
        label = "estimated " if estimated else ""
        for layer in ctx.learnable or list(ratios):
            if layer not in ratios:
                continue
            med = ratios.median(layer, scale)
            if low <= med <= high or med == 0:
                continue  # exactly 0 is zero-gradient's finding
            side = "below" if med < low else "above"
            far = med < low / self.threshold["far"] or med > high * self.threshold["far"]
            out.append(self.episode(
                f"{layer}: {label}update:param ratio {fmt_value(med)} (median over {ratios[layer].n} iterations) "
                f"is {side} the healthy range [{fmt_value(low)}, {fmt_value(high)}]", ratios[layer],
                advice=_advice(ctx, side, layer), direction="update" if not estimated else "backward",
                layer=layer, blob="0", value=med, threshold=low if side == "below" else high,
                estimated=estimated, severity="warning" if far and not estimated else "info",
                settings=["base_lr", "lr_mult"]))
        return out


def _finite(df: pd.DataFrame) -> pd.DataFrame:
    return df[np.isfinite(df["value"].to_numpy())]


def _momentum(ctx: Context) -> float:
    return as_float(ctx.knob("momentum"), 0.0)


def _advice(ctx: Context, side: str, layer: str) -> str:
    lr = ctx.knob("base_lr")
    if side == "below":
        return (f"{layer} barely moves: raise its lr_mult, or base_lr ({lr}) if every layer is low; "
                "check for vanishing gradients")
    return f"{layer} moves too fast: lower base_lr ({lr}) or its lr_mult"
