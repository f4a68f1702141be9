"""gradient-clipping: how often and how hard clip_gradients cut the gradient."""
from __future__ import annotations

from .base import Context, Rule, fmt_value


class GradientClipping(Rule):
    """`Gradient clipping: scaling down gradients` lines: how many and by how much.

    Why: occasional clipping is what clip_gradients is for; clipping at nearly every iteration
    means the threshold, not the learning rate, sets the step size.
    Fix: if clipping is constant, lower base_lr or raise clip_gradients deliberately.
    """

    id = "gradient-clipping"
    severity = "info"
    thresholds = {}

    def check(self, ctx: Context):
        s = ctx.log.scalars
        scale = s[s["name"] == "clip_scale"]
        if scale.empty:
            return []
        return [self.episode(
            f"gradients were clipped {len(scale)} times (clip_gradients "
            f"{ctx.knob('clip_gradients')}); median scale factor {fmt_value(scale['value'].median())}, "
            f"smallest {fmt_value(scale['value'].min())}", scale,
            advice="constant clipping means the threshold sets the step: consider a lower base_lr",
            value=float(scale["value"].median()))]
