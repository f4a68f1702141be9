"""The rule registry: every rule module, in the order a report lists them."""
from __future__ import annotations

from .base import Context, Rule
from .dead_activation import DeadActivation
from .exploding import Exploding
from .gradient_clipping import GradientClipping
from .loss_at_chance import LossAtChance
from .loss_divergence import LossDivergence
from .loss_plateau import LossPlateau
from .non_finite import NonFinite
from .overfitting import Overfitting
from .softmax_underflow import SoftmaxUnderflow
from .tanh_saturation import TanhSaturation
from .update_ratio import UpdateRatio
from .vanishing import Vanishing
from .weight_collapse import WeightCollapse
from .zero_gradient import ZeroGradient

RULES: dict[str, type[Rule]] = {r.id: r for r in (
    NonFinite, Exploding, ZeroGradient, Vanishing, DeadActivation, WeightCollapse, UpdateRatio,
    TanhSaturation, LossDivergence, LossAtChance, LossPlateau, Overfitting, SoftmaxUnderflow,
    GradientClipping)}

__all__ = ["RULES", "Context", "Rule"]
