"""The rule registry: every rule module, in the order a report lists them."""
from __future__ import annotations

from caffelog.diagnose.context import Context
from caffelog.diagnose.rule import Rule
from caffelog.diagnose.rules.dead_activation import DeadActivation
from caffelog.diagnose.rules.exploding import Exploding
from caffelog.diagnose.rules.gradient_clipping import GradientClipping
from caffelog.diagnose.rules.loss_at_chance import LossAtChance
from caffelog.diagnose.rules.loss_divergence import LossDivergence
from caffelog.diagnose.rules.loss_plateau import LossPlateau
from caffelog.diagnose.rules.non_finite import NonFinite
from caffelog.diagnose.rules.overfitting import Overfitting
from caffelog.diagnose.rules.softmax_underflow import SoftmaxUnderflow
from caffelog.diagnose.rules.tanh_saturation import TanhSaturation
from caffelog.diagnose.rules.update_ratio import UpdateRatio
from caffelog.diagnose.rules.vanishing import Vanishing
from caffelog.diagnose.rules.weight_collapse import WeightCollapse
from caffelog.diagnose.rules.zero_gradient import ZeroGradient

RULES: dict[str, type[Rule]] = {r.id: r for r in (
    NonFinite, Exploding, ZeroGradient, Vanishing, DeadActivation, WeightCollapse, UpdateRatio,
    TanhSaturation, LossDivergence, LossAtChance, LossPlateau, Overfitting, SoftmaxUnderflow,
    GradientClipping)}

__all__ = ["RULES", "Context", "Rule"]
