"""The learning rate in force at each iteration: the log's lr lines, placed by the solver's policy.

Caffe prints the lr of every displayed iteration (and a `MultiStep Status` line at each
multistep step), but a step can fall between two displays; the policy (step/multistep with
stepsize/stepvalue) says where. Advice must name the lr that was in force when things went
wrong, not base_lr: a schedule with gamma > 1 can multiply it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from caffelog.diagnose.findings import where
from caffelog.diagnose.values import as_float, as_list, fmt_value, last_value

JUMP = 2.0  # consecutive displayed lrs this far apart are a step, not a smooth decay (inv, poly)


@dataclass(frozen=True)
class LrChange:
    """A step of the lr: `before` up to iteration-1, `after` from `iteration` on."""

    segment: int
    iteration: int
    before: float
    after: float
    line: int | None
    time: float | None = None

    @property
    def factor(self) -> float:
        return self.after / self.before if self.before else float("inf")

    @property
    def rose(self) -> bool:
        return self.after > self.before


class LrSchedule:
    """Printed lrs (one per displayed iteration) and the solver's policy, per segment."""

    def __init__(self, lr: pd.DataFrame, steps: pd.DataFrame, solver: dict):
        self.lr = lr.sort_values(["segment", "iteration", "line"], kind="stable") if len(lr) else lr
        self.steps = steps
        self.solver = solver
        self.policy = str(last_value(solver.get("lr_policy")) or "fixed")
        self.base_lr = as_float(solver.get("base_lr"), float("nan"))
        self.changes = self._changes()

    def at(self, segment: int, iteration) -> float:
        """The lr in force at an iteration: the last one printed at or before it (base_lr
        before the first lr line, nan when neither is known)."""
        rows = self.lr[(self.lr["segment"] == segment).to_numpy()] if len(self.lr) else self.lr
        if iteration is None or not len(rows):
            return self.base_lr
        its = rows["iteration"].to_numpy("float64", na_value=np.nan)
        i = int(np.searchsorted(its, float(iteration), side="right")) - 1
        return float(rows["value"].iloc[i]) if i >= 0 else self.base_lr

    def rise_before(self, segment: int, iteration) -> LrChange | None:
        """The last lr increase at or before `iteration` in its segment."""
        rises = [c for c in self.changes if c.segment == segment and c.rose
                 and (iteration is None or c.iteration <= iteration)]
        return rises[-1] if rises else None

    def settings(self) -> list[str]:
        """The solver fields that place the steps of this policy."""
        return {"step": ["lr_policy", "gamma", "stepsize"],
                "multistep": ["lr_policy", "gamma", "stepvalue"]}.get(self.policy, ["lr_policy", "gamma"])

    def describe(self, change: LrChange) -> str:
        """'lr rose from 0.01 to 30 (3000x) at iteration 151 (multistep, gamma 3000, stepvalue 151)'."""
        verb = "rose" if change.rose else "fell"
        ratio = change.factor if change.rose else 1 / change.factor
        knobs = [self.policy]
        gamma = last_value(self.solver.get("gamma"))
        if gamma is not None:
            knobs.append(f"gamma {gamma}")
        if self.policy == "multistep" and self.solver.get("stepvalue") is not None:
            knobs.append("stepvalue " + ", ".join(str(v) for v in as_list(self.solver["stepvalue"])))
        elif self.policy == "step" and self.solver.get("stepsize") is not None:
            knobs.append(f"stepsize {last_value(self.solver['stepsize'])}")
        return (f"lr {verb} from {fmt_value(change.before)} to {fmt_value(change.after)} ({ratio:.3g}x) "
                f"at iteration {change.iteration} ({', '.join(knobs)})")

    def integral(self, segment: int, start, end) -> float:
        """Sum of the lr over iterations start..end-1, the printed lr taken as a step function."""
        rows = self.lr[(self.lr["segment"] == segment).to_numpy()] if len(self.lr) else self.lr
        if not len(rows) or start is None or end is None or end <= start:
            return float("nan")
        its = rows["iteration"].to_numpy("float64", na_value=np.nan)
        vals = rows["value"].to_numpy("float64")
        edges = np.clip(np.r_[its, np.inf], start, end)
        widths = np.diff(edges)
        first = float(np.clip(its[0], start, end)) - start  # before the first lr line: that lr too
        return float(np.nansum(widths * vals) + first * vals[0])

    def _changes(self) -> list[LrChange]:
        out: list[LrChange] = []
        if not len(self.lr):
            return out
        for segment, rows in self.lr.groupby("segment", sort=False):
            rows = rows.drop_duplicates("iteration", keep="last")
            its = rows["iteration"].to_numpy("float64", na_value=np.nan)
            vals = rows["value"].to_numpy("float64")
            for i in range(1, len(rows)):
                a, b = vals[i - 1], vals[i]
                if not (a > 0 and b > 0) or max(a, b) / min(a, b) < JUMP:
                    continue
                at = self._step_between(its[i - 1], its[i])
                place = self._step_row(int(segment), at) or where(rows.iloc[i])
                out.append(LrChange(int(segment), int(at), float(a), float(b), place["line"], place["time"]))
        return out

    def _step_between(self, after: float, upto: float) -> int:
        """The policy's step iteration in (after, upto], else upto."""
        if self.policy == "multistep":
            points = [as_float(v, float("nan")) for v in as_list(self.solver.get("stepvalue"))]
        elif self.policy == "step":
            size = as_float(last_value(self.solver.get("stepsize")), 0.0)
            points = [size * k for k in range(int(after // size) + 1, int(upto // size) + 1)] if size > 0 else []
        else:
            points = []
        inside = [p for p in points if after < p <= upto]
        return int(inside[0]) if inside else int(upto)

    def _step_row(self, segment: int, iteration: int) -> dict | None:
        """Line and time of the solver's `MultiStep Status` line of that step, if it printed one."""
        s = self.steps
        if not len(s):
            return None
        hit = s[((s["segment"] == segment) & (s["iteration"] == iteration)).fillna(False).to_numpy()]
        return where(hit.iloc[0]) if len(hit) else None

