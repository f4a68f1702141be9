"""dead-activation: ReLU layers whose output is 0 throughout the run, or from some iteration on."""
from __future__ import annotations

import numpy as np
import pandas as pd

from caffelog.diagnose.accumulate import layer_codes
from caffelog.diagnose.context import Context, Window
from caffelog.diagnose.findings import where
from caffelog.diagnose.rule import Rule, layer_span
from caffelog.diagnose.values import as_int, fmt_value


class DeadActivation(Rule):
    """ReLU (and PReLU/ELU) top data that is exactly 0, or below `floor`, in every displayed
    iteration, or in every one from some iteration to the end (at least `min_run` displays in
    a row): every unit is dead, nothing passes forward and no gradient flows back.

    Uses the layer type from the net dump, so only activation layers are judged; healthy ReLUs
    (some units alive) are never flagged. It is an error when a dead layer is the only path
    from the input to the loss (its output is the sole non-label input of the next layer).
    For a layer that died mid-run it says when it was last alive and what changed before
    (an lr step).
    Fix: a large negative bias_filler or a too-high learning rate kills ReLUs: use
    bias_filler 0 (or small positive), xavier/msra weights, a lower lr (or a schedule that does
    not raise it), or LeakyReLU (relu_param { negative_slope: 0.01 }).
    """

    id = "dead-activation"
    severity = "warning"
    thresholds = {"floor": 1e-12, "min_run": 5}

    TYPES = ("ReLU", "PReLU", "ELU")

    def __init__(self, overrides=None):
        super().__init__(overrides)
        self.trails: dict[str, _Trail] = {}  # every layer's top data: the layer types come with the net

    def observe(self, w: Window) -> None:
        tops = w.forward_tops
        if not len(tops):
            return
        codes, names = layer_codes(tops["layer"])
        low = (tops["value"] <= self.threshold["floor"]).to_numpy()
        for code in pd.unique(codes):
            if code < 0:
                continue
            at = np.flatnonzero(codes == code)
            self.trails.setdefault(str(names[code]), _Trail()).add(tops, at, low[at])

    def check(self, ctx: Context):
        relus = [name for name in ctx.layer_order if ctx.roles.types.get(name) in self.TYPES]
        dead = [(layer, self.trails[layer]) for layer in relus if layer in self.trails
                and self.trails[layer].dead(int(self.threshold["min_run"]))]
        if not dead:
            return []
        names = [name for name, _ in dead]
        severity = "error" if any(self._cuts_path(ctx, name) for name in names) else "warning"
        return [self._finding(ctx, layer, trail, severity, names) for layer, trail in dead]

    def _finding(self, ctx: Context, layer: str, trail: _Trail, severity: str, names: list[str]):
        first = trail.run_first
        assert first is not None  # a dead trail has a run
        kind = ctx.roles.types[layer]
        if trail.last_alive is None:
            what = f"is 0 in all {trail.n} displayed forward passes"
        else:
            alive = trail.last_alive
            what = (f"is 0 from iteration {first['iteration']} to the end ({trail.run_n} displayed forward passes; "
                    f"last alive at iteration {alive['iteration']}, {fmt_value(alive['value'])})")
        advice, settings = _advice(ctx, layer, first)
        cause = {"bias_filler": "dead-init", "base_lr": "dead-units"}.get(settings[0], "lr-increase")
        return self.finding(
            f"{layer} ({kind}): top {first['blob']} {what}: every unit is dead", severity=severity,
            advice=advice, settings=settings, segment=int(first["segment"]),
            iteration=as_int(first["iteration"]), last_iteration=as_int(trail.last_iteration),
            **where(first), phase="train", direction="forward", layer=layer, blob=first["blob"],
            quantity="data", value=trail.run_max, threshold=self.threshold["floor"],
            evidence=[f"dead activation layers: {layer_span(names)}"], cause=cause)

    def _cuts_path(self, ctx: Context, layer: str) -> bool:
        """True when the dead output is the only data input of some later layer."""
        net = ctx.net
        row = net[net["layer"] == layer]
        if row.empty:
            return True  # no net table: assume a plain chain
        top = row["tops"].iloc[0][0] if len(row["tops"].iloc[0]) else None
        after = net[net["index"] > row["index"].iloc[0]]
        for bottoms in after["bottoms"]:
            data = [b for b in bottoms if "label" not in b]
            if data == [top]:
                return True
        return False


class _Trail:
    """One layer's top values in log order: how many, and the trailing run of dead ones
    (its first row and length, the last live row before it)."""

    __slots__ = ("n", "run_n", "run_first", "run_max", "last_alive", "last_iteration")

    def __init__(self) -> None:
        self.n = self.run_n = 0
        self.run_first: pd.Series | None = None
        self.run_max = 0.0
        self.last_alive: pd.Series | None = None
        self.last_iteration = None

    def add(self, rows: pd.DataFrame, at: np.ndarray, low: np.ndarray) -> None:
        self.n += len(at)
        self.last_iteration = rows["iteration"].iloc[at[-1]]
        alive = np.flatnonzero(~low)
        if len(alive):
            self.last_alive = rows.iloc[at[alive[-1]]]
            self.run_n, self.run_first, self.run_max = 0, None, 0.0
            at = at[alive[-1] + 1:]
        if len(at):
            if self.run_first is None:
                self.run_first = rows.iloc[at[0]]
            self.run_n += len(at)
            self.run_max = max(self.run_max, float(np.nanmax(rows["value"].to_numpy()[at])))

    def dead(self, min_run: int) -> bool:
        """Dead throughout, or for the last min_run displays or more."""
        return self.run_n > 0 and (self.last_alive is None or self.run_n >= min_run)


def _advice(ctx: Context, layer: str, first: pd.Series) -> tuple[str, list[str]]:
    """What killed it: a negative bias_filler in the layer feeding it, or an lr step before it."""
    feeder = ctx.roles.feeder(layer)
    bias = ctx.roles.negative_bias(feeder) if feeder else None
    if bias is not None:
        return (f"{feeder} (feeding {layer}) uses bias_filler constant {bias}: use 0 or a small positive value",
                ["bias_filler"])
    segment, iteration = int(first["segment"]), as_int(first["iteration"])
    rise = ctx.schedule.rise_before(segment, iteration)
    if rise is not None:
        return (f"the {ctx.schedule.describe(rise)} before it: the large updates pushed the inputs of "
                f"{layer} negative for every sample; keep the lr lower or use LeakyReLU", ctx.schedule.settings())
    return (f"{ctx.lr_words(segment, iteration)}: a lower lr keeps units alive; or use LeakyReLU",
            ["base_lr"])
