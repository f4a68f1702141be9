"""Records -> tidy pandas DataFrames: blobs, totals, scalars, net, solver.

Long format, one value per row, categoricals for the repeated strings, so that
``log.blobs.query("layer == 'fc1'")`` and ``groupby`` work the way pandas users expect.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .attribution import TEST_START, Timeline, batch_index, build_timeline, place_rows
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
    return blobs_frame(*sink.blob_columns(), sink.blob_keys, t)


def blobs_frame(lines: np.ndarray, keys: np.ndarray, values: np.ndarray, blob_keys: list[tuple],
                t: Timeline) -> pd.DataFrame:
    """The blobs table of these rows (in line order), placed on the timeline."""
    key_table = pd.DataFrame(blob_keys, columns=["direction", "layer", "role", "blob", "quantity"])
    is_update = (key_table["direction"].to_numpy() == "update")[keys] if len(keys) else np.zeros(0, bool)
    p = place_rows(t, lines, is_update)
    change = changes(p.segment, p.iteration, p.test, p.test_net, is_update)
    is_forward = (key_table["direction"].to_numpy() == "forward")[keys] if len(keys) else np.zeros(0, bool)
    kind = p.test.astype(np.int8) * 2 + is_update
    del is_update
    batch = batch_index(change, keys, is_forward, kind)
    del change, is_forward, kind
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
    return pd.DataFrame(frame, columns=BLOB_COLUMNS, copy=False)


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
    return totals_frame(sink.totals, t)


def totals_frame(totals: list[tuple], t: Timeline) -> pd.DataFrame:
    """The totals table of these All-net-params rows (line, l1_data, l1_diff, l2_data, l2_diff)."""
    arr = np.array(totals, dtype=np.float64).reshape(-1, 5)
    lines = arr[:, 0].astype(np.int64)
    p = place_rows(t, lines)
    batch = batch_index(changes(p.segment, p.iteration), np.zeros(len(lines), np.int64))
    return pd.DataFrame({
        "segment": p.segment, "iteration": _int_or_na(p.iteration), "batch": batch,
        "l1_data": arr[:, 1], "l1_diff": arr[:, 2], "l2_data": arr[:, 3], "l2_diff": arr[:, 4],
        "line": lines, "inferred": p.inferred,
    }, columns=TOTAL_COLUMNS)


def build_scalars(sink: RecordSink, t: Timeline) -> pd.DataFrame:
    """One row per solver number, placed by the same rules as the blob rows: train outputs and
    clipping take the iteration of the `Iteration N` line before them (same segment), test
    outputs that of the `Testing net` line before them."""
    c = sink.solver
    frames = []

    def add(lines, iters, test_nets, phase, source, names, values, weighted=None, sub=0):
        lines = np.asarray(lines, dtype=np.int64)
        n = len(lines)
        frames.append(pd.DataFrame({
            "segment": t.segment_of(lines), "iteration": np.asarray(iters, dtype=np.int64),
            "phase": np.full(n, phase), "test_net": np.broadcast_to(np.asarray(test_nets, np.int64), n),
            "source": np.full(n, source), "name": np.broadcast_to(np.asarray(names, dtype=object), n),
            "value": np.asarray(values, dtype=np.float64),
            "weighted": np.full(n, np.nan) if weighted is None else np.asarray(weighted, np.float64),
            "line": lines, "_sub": sub}))

    anchors = _Anchors(t, c)
    add(c.loss_line, c.loss_iter, -1, "train", "iteration", "loss", c.loss_value)
    speed = np.asarray(c.loss_speed, dtype=np.float64)
    has = ~np.isnan(speed) if len(speed) else np.zeros(0, bool)
    add(np.asarray(c.loss_line, np.int64)[has], np.asarray(c.loss_iter, np.int64)[has], -1, "train",
        "iteration", "iter_per_s", speed[has], sub=1)
    add(c.lr_line, c.lr_iter, -1, "train", "iteration", "lr", c.lr_value)
    out_lines = np.asarray(c.out_line, dtype=np.int64)
    test = np.asarray(c.out_test, dtype=bool)
    names = np.asarray(c.names + [""], dtype=object)[np.asarray(c.out_name, dtype=np.int64)] \
        if len(out_lines) else np.zeros(0, object)
    values, weighted = np.asarray(c.out_value, np.float64), np.asarray(c.out_weighted, np.float64)
    tr = ~test
    add(out_lines[tr], anchors.train(out_lines[tr]), -1, "train", "output", names[tr], values[tr], weighted[tr])
    ti, tn = anchors.test(out_lines[test])
    add(out_lines[test], ti, tn, "test", "output", names[test], values[test], weighted[test])
    for line, kind, f in sink.events:
        if kind in ("test_loss", "test_score"):
            ti, tn = anchors.test(np.array([line]))
            name = "test_loss" if kind == "test_loss" else f"score#{f['index']}"
            add([line], ti, tn, "test", "test" if kind == "test_loss" else "output", name, [f["value"]])
        elif kind == "clipping":
            it = anchors.train(np.array([line]))
            add([line], it, -1, "train", "clipping", "clip_norm", [f["l2_norm"]])
            add([line], it, -1, "train", "clipping", "clip_scale", [f["scale"]], sub=1)
        elif kind == "multistep":
            add([line], [f["iteration"]], -1, "train", "multistep", "lr_step", [float(f["step"])])
    df = pd.concat(frames, ignore_index=True).sort_values(["line", "_sub"], kind="stable")
    df = df.drop(columns="_sub").reset_index(drop=True)
    df["segment"] = df["segment"].astype(np.int32)
    df["iteration"] = _int_or_na(df["iteration"].to_numpy(np.int64))
    df["test_net"] = _int_or_na(df["test_net"].to_numpy(np.int64))
    df["phase"] = pd.Categorical(df["phase"], dtype=PHASES)
    df["source"] = df["source"].astype("category")
    df["name"] = df["name"].astype(str).astype("category")
    return df[SCALAR_COLUMNS]


class _Anchors:
    """The solver lines that give a scalar its iteration."""

    def __init__(self, t: Timeline, c):
        lines = np.concatenate([np.asarray(c.loss_line, np.int64), np.asarray(c.lr_line, np.int64)])
        iters = np.concatenate([np.asarray(c.loss_iter, np.int64), np.asarray(c.lr_iter, np.int64)])
        order = np.argsort(lines, kind="stable")
        self.t, self.lines, self.iters = t, lines[order], iters[order]
        start = t.marker_codes == TEST_START
        self.test_lines, self.test_iters = t.marker_lines[start], t.marker_iters[start]
        self.test_nets = t.marker_nets[start]

    def train(self, lines: np.ndarray) -> np.ndarray:
        """Iteration of the `Iteration N` line before each line, in the same segment, else -1."""
        j = np.searchsorted(self.lines, lines) - 1
        ok = j >= 0
        jc = np.maximum(j, 0)
        if len(self.lines):
            ok &= self.t.segment_of(self.lines[jc]) == self.t.segment_of(lines)
            return np.where(ok, self.iters[jc], -1)
        return np.full(len(lines), -1)

    def test(self, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        j = np.searchsorted(self.test_lines, lines) - 1
        if not len(self.test_lines):
            return np.full(len(lines), -1), np.full(len(lines), -1)
        jc = np.maximum(j, 0)
        return np.where(j >= 0, self.test_iters[jc], -1), np.where(j >= 0, self.test_nets[jc], -1)


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
    return build_timeline(sink.events, sink.solver, displays)


def _positive_int(value, default: int) -> int:
    """A solver setting as a positive int; a damaged or repeated one falls back to default."""
    if isinstance(value, list):
        value = value[-1] if value else None
    try:
        n = int(value)
    except (TypeError, ValueError):
        return default
    return n if n > 0 else default
