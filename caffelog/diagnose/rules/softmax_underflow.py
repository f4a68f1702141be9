"""softmax-underflow: losses at multiples of 87.3365 / batch."""
from __future__ import annotations

import numpy as np

from caffelog.diagnose.accumulate import Span
from caffelog.diagnose.context import Context
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import as_int, fmt_value

FLT_MIN_LOG = 87.3365  # -ln(FLT_MIN): SoftmaxWithLoss clamps each probability at FLT_MIN


class SoftmaxUnderflow(Rule):
    """SoftmaxWithLoss values that are exact multiples of 87.3365 / batch size.

    SoftmaxWithLoss clamps each sample's probability at FLT_MIN, so a sample whose true-class
    probability underflowed contributes exactly -ln(FLT_MIN) = 87.3365; k such samples in a batch
    of B give k/B x 87.3365 (65.5024 = 24/32 x 87.3365). Why: the logits are huge; the net has
    effectively diverged even while the loss still looks finite.
    Fix: lower base_lr, set clip_gradients, check the inputs' scale.
    """

    id = "softmax-underflow"
    event = True
    severity = "warning"
    positive = frozenset({"min_count"})
    thresholds = {"tolerance": 0.002, "min_count": 2}

    def check(self, ctx: Context):
        if "SoftmaxWithLoss" not in ctx.layer_types.values():
            return []
        batch = self._batch(ctx)
        if not batch:
            return []
        loss = ctx.loss[np.isfinite(ctx.loss["value"].to_numpy())]
        k = loss["value"].to_numpy() * batch / FLT_MIN_LOG
        hit = (np.abs(k - np.round(k)) < self.threshold["tolerance"] * np.maximum(k, 1)) & (np.round(k) >= 1)
        rows = loss[hit]
        if len(rows) < self.threshold["min_count"]:
            return []
        first = rows.iloc[0]
        return [self.episode(
            f"{len(rows)} train losses are multiples of 87.3365/{batch} (first {fmt_value(first['value'])} "
            f"= {int(round(first['value'] * batch / FLT_MIN_LOG))}/{batch} x 87.3365 at iteration "
            f"{as_int(first['iteration'])}): softmax probabilities underflowed", Span.of(rows),
            advice=f"the logits are huge: {ctx.lr_words(int(first['segment']), as_int(first['iteration']))}; "
                   "lower it or set clip_gradients",
            settings=ctx.step_settings(int(first["segment"]), as_int(first["iteration"])),
            layer=self._loss_layer(ctx), value=float(first["value"]), threshold=FLT_MIN_LOG / batch,
            cause=ctx.divergence_cause(int(first["segment"]), as_int(first["iteration"])))]

    def _batch(self, ctx: Context) -> int | None:
        net = ctx.net
        for shapes in net["top_shapes"]:
            if shapes and shapes[0]:
                return int(shapes[0][0])
        return None

    def _loss_layer(self, ctx: Context) -> str | None:
        return next((name for name, t in ctx.layer_types.items() if t == "SoftmaxWithLoss"), None)
