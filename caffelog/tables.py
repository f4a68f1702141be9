"""Records -> tidy pandas DataFrames: blobs, totals, scalars, net, solver.

Long format, one value per row, categoricals for the repeated strings, so that
``log.blobs.query("layer == 'fc1'")`` and ``groupby`` work the way pandas users expect.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .attribution import Timeline, batch_index, build_timeline, place_rows
from .records import RecordSink

BLOB_COLUMNS = ["segment", "iteration", "phase", "test_net", "batch", "direction", "layer",
                "role", "blob", "quantity", "value", "line", "inferred"]
TOTAL_COLUMNS = ["segment", "iteration", "batch", "l1_data", "l1_diff", "l2_data", "l2_diff",
                 "line", "inferred"]
SCALAR_COLUMNS = ["segment", "iteration", "phase", "test_net", "source", "name", "value", "weighted",
                  "line"]
NET_COLUMNS = ["segment", "net", "index", "layer", "type", "bottoms", "tops", "top_shapes",
               "top_counts", "loss_weight", "needs_backward", "params", "line"]

PHASES = pd.CategoricalDtype(["train", "test"])
DIRECTIONS = pd.CategoricalDtype(["forward", "backward", "update"])
ROLES = pd.CategoricalDtype(["top", "bottom", "param"])
QUANTITIES = pd.CategoricalDtype(["data", "diff"])


@dataclass
class Skipped:
    """Lines the grammar did not understand: how many, which, and why."""

    count: int = 0
    lines: list[int] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.count:
            return "no lines skipped"
        why = ", ".join(f"{n} {r}" for r, n in sorted(self.reasons.items()))
        first = ", ".join(map(str, self.lines[:5])) + (" ..." if self.count > 5 else "")
        return f"{self.count} lines skipped ({why}); first at line {first}"


def _int_or_na(a: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(a.astype(np.int64, copy=False), a < 0)


def solver_settings(dumps) -> list[dict]:
    """Each start-up's solver dump as a flat dict (single values unwrapped from lists)."""
    out = []
    for dump in dumps:
        if dump.what == "solver":
            out.append(_unwrap(dump.root))
    return out


def _unwrap(node):
    if isinstance(node, dict):
        return {k: _unwrap(v[0]) if len(v) == 1 else [_unwrap(x) for x in v] for k, v in node.items()}
    return node


def build_blobs(sink: RecordSink, t: Timeline) -> pd.DataFrame:
    lines, keys, values = sink.blob_columns()
    key_table = pd.DataFrame(sink.blob_keys, columns=["direction", "layer", "role", "blob", "quantity"])
    is_update = (key_table["direction"].to_numpy() == "update")[keys] if len(keys) else np.zeros(0, bool)
    p = place_rows(t, lines, is_update)
    change = changes(p.segment, p.iteration, p.test, p.test_net, is_update)
    is_forward = (key_table["direction"].to_numpy() == "forward")[keys] if len(keys) else np.zeros(0, bool)
    kind = p.test.astype(np.int8) * 2 + is_update
    batch = batch_index(change, keys, is_forward, kind)
    del change, is_update
    frame = {
        "segment": p.segment,
        "iteration": _int_or_na(p.iteration),
        "phase": pd.Categorical.from_codes(p.test.view(np.int8), dtype=PHASES),
        "test_net": _int_or_na(p.test_net),
        "batch": batch,
    }
    for col, dtype in (("direction", DIRECTIONS), ("layer", None), ("role", ROLES),
                       ("blob", None), ("quantity", QUANTITIES)):
        frame[col] = _categorical_from_keys(key_table[col], keys, dtype)
    del keys
    frame["value"] = values
    frame["line"] = lines
    frame["inferred"] = p.inferred
    return pd.DataFrame(frame, columns=BLOB_COLUMNS)


def changes(*columns: np.ndarray) -> np.ndarray:
    """True where a row differs from the previous one in any column (and at row 0)."""
    n = len(columns[0])
    change = np.ones(n, dtype=bool)
    if n > 1:
        change[1:] = False
        for col in columns:
            change[1:] |= col[1:] != col[:-1]
    return change


def _categorical_from_keys(column: pd.Series, keys: np.ndarray, dtype) -> pd.Categorical:
    if dtype is None:
        dtype = pd.CategoricalDtype(pd.unique(column.to_numpy()))
    codes_per_key = pd.Categorical(column, dtype=dtype).codes
    codes = codes_per_key[keys] if len(keys) else np.zeros(0, np.int8)
    return pd.Categorical.from_codes(codes, dtype=dtype)


def build_totals(sink: RecordSink, t: Timeline) -> pd.DataFrame:
    arr = np.array(sink.totals, dtype=np.float64).reshape(-1, 5)
    lines = arr[:, 0].astype(np.int64)
    p = place_rows(t, lines)
    batch = batch_index(changes(p.segment, p.iteration), np.zeros(len(lines), np.int64))
    return pd.DataFrame({
        "segment": p.segment, "iteration": _int_or_na(p.iteration), "batch": batch,
        "l1_data": arr[:, 1], "l1_diff": arr[:, 2], "l2_data": arr[:, 3], "l2_diff": arr[:, 4],
        "line": lines, "inferred": p.inferred,
    }, columns=TOTAL_COLUMNS)


def build_scalars(events: list[tuple], t: Timeline) -> pd.DataFrame:
    """One row per solver number, placed by the same rules as the blob rows."""
    rows = []
    iteration, test = -1, (-1, -1)
    seg = -1
    for line, kind, f in events:
        if kind == "solver_params":
            seg += 1
            iteration = -1
            continue
        s = max(seg, 0)
        if kind == "iteration_loss":
            iteration = f["iteration"]
            rows.append((s, iteration, "train", -1, "iteration", "loss", f["value"], np.nan, line))
            if "iter_per_s" in f:
                rows.append((s, iteration, "train", -1, "iteration", "iter_per_s", f["iter_per_s"], np.nan,
                             line))
        elif kind == "iteration_lr":
            iteration = f["iteration"]
            rows.append((s, iteration, "train", -1, "iteration", "lr", f["value"], np.nan, line))
        elif kind == "testing":
            test = (f["iteration"], f["test_net"])
        elif kind == "net_output" and f["phase"] == "Test":
            rows.append((s, test[0], "test", test[1], "output", f["name"], f["value"],
                         f.get("weighted", np.nan), line))
        elif kind == "net_output":
            rows.append((s, iteration, "train", -1, "output", f["name"], f["value"],
                         f.get("weighted", np.nan), line))
        elif kind == "test_loss":
            rows.append((s, test[0], "test", test[1], "test", "test_loss", f["value"], np.nan, line))
        elif kind == "test_score":
            rows.append((s, test[0], "test", test[1], "output", f"score#{f['index']}", f["value"], np.nan,
                         line))
        elif kind == "clipping":
            rows.append((s, iteration, "train", -1, "clipping", "clip_norm", f["l2_norm"], np.nan, line))
            rows.append((s, iteration, "train", -1, "clipping", "clip_scale", f["scale"], np.nan, line))
        elif kind == "multistep":
            rows.append((s, f["iteration"], "train", -1, "multistep", "lr_step", float(f["step"]), np.nan,
                         line))
    df = pd.DataFrame(rows, columns=SCALAR_COLUMNS)
    df["segment"] = df["segment"].astype(np.int32)
    df["iteration"] = _int_or_na(df["iteration"].to_numpy(np.int64))
    df["test_net"] = _int_or_na(df["test_net"].to_numpy(np.int64))
    df["phase"] = pd.Categorical(df["phase"], dtype=PHASES)
    df["source"] = df["source"].astype("category")
    df["name"] = df["name"].astype("category")
    df["value"] = df["value"].astype(np.float64)
    df["weighted"] = df["weighted"].astype(np.float64)
    df["line"] = df["line"].astype(np.int64)
    return df


def build_net(sink: RecordSink) -> pd.DataFrame:
    """Layers as constructed, with their type from the net dump (Caffe-inserted splits: Split)."""
    dumped: dict[tuple[int, str], dict[str, dict]] = {}
    seg = -1
    for dump in sink.dumps:
        if dump.what == "solver":
            seg += 1
        else:
            dumped[(max(seg, 0), dump.net)] = {
                layer.get("name", [""])[0]: _unwrap(layer)
                for layer in dump.root.get("layer", []) + dump.root.get("layers", [])}
    rows = []
    for b in sink.layers:
        proto = dumped.get((b.segment, b.net), {}).get(b.layer, {})
        kind = proto.get("type")
        if isinstance(kind, list):  # a damaged dump repeating the field: the last one wins
            kind = kind[-1] if kind else None
        kind = str(kind) if kind else ("Split" if b.layer.endswith("_split") else None)
        rows.append((b.segment, b.net, b.index, b.layer, kind, b.bottoms, b.tops, b.top_shapes,
                     b.top_counts, b.loss_weight, b.needs_backward, json.dumps(proto), b.line))
    df = pd.DataFrame(rows, columns=NET_COLUMNS)
    df["segment"] = df["segment"].astype(np.int32)
    df["loss_weight"] = df["loss_weight"].astype(np.float64)
    return df


def timeline_of(sink: RecordSink, solvers: list[dict]) -> Timeline:
    displays = [_positive_int(s.get("display"), 1) for s in solvers]
    return build_timeline(sink.events, displays)


def _positive_int(value, default: int) -> int:
    """A solver setting as a positive int; a damaged or repeated one falls back to default."""
    if isinstance(value, list):
        value = value[-1] if value else None
    try:
        n = int(value)
    except (TypeError, ValueError):
        return default
    return n if n > 0 else default
