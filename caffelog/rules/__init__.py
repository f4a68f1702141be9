"""The rule registry: every rule module, in the order a report lists them."""
from __future__ import annotations

from .base import Context, Rule
from .dead_activation import DeadActivation
from .exploding import Exploding
from .gradient_clipping import GradientClipping
from .loss_divergence import LossDivergence
from .loss_plateau import LossPlateau
from .non_finite import NonFinite
from .softmax_underflow import SoftmaxUnderflow
from .tanh_saturation import TanhSaturation
from .update_ratio import UpdateRatio
from .vanishing import Vanishing
from .zero_gradient import ZeroGradient

RULES: dict[str, type[Rule]] = {r.id: r for r in (
    NonFinite, Exploding, ZeroGradient, Vanishing, DeadActivation, UpdateRatio, TanhSaturation,
    LossDivergence, LossPlateau, SoftmaxUnderflow, GradientClipping)}

__all__ = ["RULES", "Context", "Rule"]
