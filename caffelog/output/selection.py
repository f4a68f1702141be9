"""Which per-layer series a picture shows: the selection, its rows, layer names and patterns."""
from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from caffelog.errors import UsageError
from caffelog.tables.caffe_log import CaffeLog


@dataclass
class Selection:
    """Which per-layer series to draw; None means any."""

    layers: list[str] = field(default_factory=list)  # names or shell patterns (conv*)
    quantity: str | None = None
    phase: str | None = "train"
    direction: str | None = None
    role: str | None = None
    blob: str | None = None
    segment: int | None = None

    def describe(self) -> str:
        parts = [",".join(self.layers) if self.layers else "all layers"]
        parts += [v for v in (self.phase, self.direction, self.role, self.blob, self.quantity) if v]
        return " ".join(parts)


def select(log: CaffeLog, sel: Selection) -> pd.DataFrame:
    """The blob rows the selection names, one value per (series, segment, iteration).

    Several batches of one iteration (iter_size passes, test batches) are averaged; a NaN in
    any of them stays NaN.
    """
    b = log.blobs
    mask = np.ones(len(b), dtype=bool)
    for column in ("quantity", "phase", "direction", "role", "blob"):
        value = getattr(sel, column)
        if value is not None:
            mask &= (b[column] == value).to_numpy()
    if sel.segment is not None:
        mask &= (b["segment"] == sel.segment).to_numpy()
    if sel.layers:
        wanted = resolve_layers(log, sel.layers)
        mask &= b["layer"].isin(wanted).to_numpy()
    rows = b[mask].assign(net=b["test_net"][mask].fillna(-1).astype(int))  # each test net its own series
    keys = ["layer", "net", "direction", "role", "blob", "quantity", "segment", "iteration"]
    grouped = rows.groupby(keys, observed=True, sort=False)
    out = grouped.agg(value=("value", "mean"), line=("line", "min"), time=("time", "min")).reset_index()
    has_nan = rows["value"].isna().groupby([rows[k] for k in keys], observed=True, sort=False).any()
    out.loc[has_nan.to_numpy(), "value"] = np.nan
    # labels and net order per series, not per row: a long run has ~100,000 rows here
    series = out.groupby(["layer", "net", "role", "blob", "quantity"], observed=True, sort=False).ngroup()
    names = out.drop_duplicates(["layer", "net", "role", "blob", "quantity"])
    several_nets = out["net"].nunique() > 1
    labels = [f"{name}{f' [test#{net}]' if several_nets else ''} / {r} {bl} / {q}" for name, net, r, bl, q in
              zip(names["layer"], names["net"], names["role"], names["blob"], names["quantity"])]
    unique = list(dict.fromkeys(labels))  # odd names could make two series' labels equal
    position = {label: i for i, label in enumerate(unique)}
    label_code = np.array([position[label] for label in labels], dtype=np.int64)
    out["label"] = pd.Categorical.from_codes(label_code[series.to_numpy()], categories=unique)
    rank = {layer: i for i, layer in enumerate(b["layer"].unique())}  # first appearance: net order
    out["order"] = np.array([rank[layer] for layer in names["layer"]])[series.to_numpy()]
    out = out.sort_values(["order", "net", "direction", "role", "blob", "quantity", "segment", "iteration"],
                          kind="stable")
    return out.drop(columns=["order"])  # net: -1 the train net, k test net #k


def resolve_layers(log: CaffeLog, patterns: list[str]) -> list[str]:
    """Layer names matching names or patterns; a UsageError names the close matches."""
    known = [str(name) for name in log.blobs["layer"].unique()]
    found = []
    for pattern in patterns:
        hits = [name for name in known if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            close = difflib.get_close_matches(pattern, known, n=5, cutoff=0.5)
            rest = [name for name in known if name not in close]
            raise UsageError(f"no layer {pattern!r} in {log.source}; layers: "
                             + ", ".join(close + rest))
        found += hits
    return found
