"""Two runs side by side: what differs in the solver and the net, the headline numbers, and the
first iteration where their curves part (per layer, beyond a relative tolerance).

For "same net, two learning rates: where did one go wrong": the solver lines name the setting,
the parting iteration says when it began to matter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from caffelog.tables.caffe_log import CaffeLog

SERIES = ["phase", "test_net", "direction", "layer", "role", "blob", "quantity"]
DEFAULT_TOLERANCE = 0.5  # relative: |a - b| > 0.5 * max(|a|, |b|); nan/inf against a number always parts


@dataclass
class Difference:
    """One field that differs: where it is (solver or net), its name, the two values."""

    where: str
    name: str
    a: object
    b: object


@dataclass
class Parting:
    """The first iteration at which one series of the two runs differs beyond the tolerance."""

    layer: str
    series: str
    iteration: int
    a: float
    b: float
    line_a: int
    line_b: int


@dataclass
class Comparison:
    solver: list[Difference] = field(default_factory=list)
    net: list[Difference] = field(default_factory=list)
    partings: list[Parting] = field(default_factory=list)  # the first per layer, earliest first

    @property
    def first_parting(self) -> Parting | None:
        return self.partings[0] if self.partings else None


def flatten(settings: dict, prefix: str = "") -> dict[str, object]:
    """Nested solver settings as dotted names: {'train_state.level': 0, ...}."""
    out: dict[str, object] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def solver_differences(a: dict, b: dict) -> list[Difference]:
    fa, fb = flatten(a), flatten(b)
    return [Difference("solver", k, fa.get(k), fb.get(k)) for k in sorted(fa.keys() | fb.keys())
            if fa.get(k) != fb.get(k)]


def net_differences(a: pd.DataFrame, b: pd.DataFrame) -> list[Difference]:
    """Layers only in one run, and a layer's type or top shapes where both have it (train net)."""
    def layers(net: pd.DataFrame) -> dict[str, dict]:
        train = net[(net["net"] == "train") & (net["segment"] == 0)] if len(net) else net
        return {str(r["layer"]): {"type": str(r["type"]), "top_shapes": _shapes(r["top_shapes"])}
                for _, r in train.iterrows()}
    la, lb = layers(a), layers(b)
    out = [Difference("net", name, la.get(name, {}).get("type"), lb.get(name, {}).get("type"))
           for name in list(la) + [n for n in lb if n not in la] if (name in la) != (name in lb)]
    for name in (n for n in la if n in lb):
        out += [Difference("net", f"{name}.{k}", la[name][k], lb[name][k]) for k in ("type", "top_shapes")
                if la[name][k] != lb[name][k]]
    return out


def _shapes(value) -> str:
    return ", ".join("x".join(str(int(d)) for d in shape) for shape in value) if value is not None else ""


def partings(a: CaffeLog, b: CaffeLog, tolerance: float = DEFAULT_TOLERANCE) -> list[Parting]:
    """Per layer, the first iteration where a series of the train net differs beyond tolerance."""
    cols = SERIES + ["iteration", "value", "line"]
    xa, xb = (_first_per_iteration(log.blobs[log.blobs["phase"] == "train"][cols]) for log in (a, b))
    both = xa.merge(xb, on=SERIES + ["iteration"], suffixes=("_a", "_b"))
    if not len(both):
        return []
    va, vb = both["value_a"].to_numpy(float), both["value_b"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        apart = np.abs(va - vb) > tolerance * np.maximum(np.abs(va), np.abs(vb))
    finite_a, finite_b = np.isfinite(va), np.isfinite(vb)
    apart = np.where(finite_a & finite_b, apart, finite_a != finite_b)
    hits = both[apart].sort_values(["iteration", "line_a"])
    out = []
    for layer, rows in hits.groupby("layer", observed=True, sort=False):
        r = rows.iloc[0]
        series = f"{r['direction']} {r['role']} {r['blob']} {r['quantity']}"
        out.append(Parting(str(layer), series, int(r["iteration"]), float(r["value_a"]), float(r["value_b"]),
                           int(r["line_a"]), int(r["line_b"])))
    return sorted(out, key=lambda p: (p.iteration, p.line_a))


def _first_per_iteration(blobs: pd.DataFrame) -> pd.DataFrame:
    """One value per series and iteration (the first: iter_size and resumed runs repeat them)."""
    blobs = blobs.dropna(subset=["iteration"]).astype(dict.fromkeys(SERIES, "object"))
    return blobs.drop_duplicates(SERIES + ["iteration"], keep="first")


def compare(a: CaffeLog, b: CaffeLog, tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    if not (math.isfinite(tolerance) and tolerance > 0):
        from caffelog.errors import UsageError
        raise UsageError(f"tolerance {tolerance!r}: expected a finite number above 0")
    return Comparison(solver_differences(a.solver, b.solver), net_differences(a.net, b.net),
                      partings(a, b, tolerance))
