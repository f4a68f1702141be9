"""Shared arithmetic of the loss rules: the train loss in stretches, each with its median.

A stretch is ~`window` (the rules' threshold of that name) of the run's displayed losses."""
from __future__ import annotations

import numpy as np
import pandas as pd


def stretches(loss: pd.DataFrame, size_fraction: float, min_size: int = 3) -> pd.DataFrame:
    """Finite train losses in stretches of ~size_fraction of the run; median, first row, last row."""
    finite = loss[np.isfinite(loss["value"].to_numpy())]
    if len(finite) < 2 * min_size:
        return pd.DataFrame(columns=["median", "iteration", "line", "time", "last_iteration", "n"])
    size = max(min_size, int(len(finite) * size_fraction))
    group = np.arange(len(finite)) // size
    g = finite.groupby(group)
    time = finite["time"].to_numpy()[::size] if "time" in finite else np.nan  # each stretch's first row
    out = pd.DataFrame({"median": g["value"].median(), "iteration": g["iteration"].first(),
                        "line": g["line"].first(), "time": time, "last_iteration": g["iteration"].last(),
                        "n": g.size()})
    return out[out["n"] >= min_size]
