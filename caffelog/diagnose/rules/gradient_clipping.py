"""gradient-clipping: how often and how hard clip_gradients cut the gradient."""
from __future__ import annotations

import numpy as np

from caffelog.diagnose.accumulate import EvenSample, Span
from caffelog.diagnose.context import Context, Window
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.values import fmt_value


class GradientClipping(Rule):
    """`Gradient clipping: scaling down gradients` lines: how many and by how much.

    Why: occasional clipping is what clip_gradients is for; clipping at nearly every iteration
    means the threshold, not the learning rate, sets the step size.
    Fix: if clipping is constant, lower base_lr or raise clip_gradients deliberately.
    """

    id = "gradient-clipping"
    severity = "info"
    thresholds = {}

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.scales, self.sample, self.smallest = Span(), EvenSample(), float("nan")

    def observe(self, w: Window) -> None:
        s = w.scalars
        scale = s[(s["name"] == "clip_scale").to_numpy()]
        self.scales.add(scale)
        self.sample.add(scale["value"].to_numpy())
        self.smallest = float(np.fmin(self.smallest, scale["value"].min()))

    def check(self, ctx: Context):
        if not self.scales:
            return []
        return [self.episode(
            f"gradients were clipped {self.scales.n} times (clip_gradients "
            f"{ctx.knob('clip_gradients')}); median scale factor {fmt_value(self.sample.median())}, "
            f"smallest {fmt_value(self.smallest)}", self.scales,
            advice="constant clipping means the threshold sets the step: consider a lower base_lr",
            settings=["clip_gradients"],
            value=self.sample.median())]
