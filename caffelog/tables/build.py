"""Records -> tidy pandas DataFrames: blobs, totals, scalars, net, solver.

Long format, one value per row, categoricals for the repeated strings, so that
``log.blobs.query("layer == 'fc1'")`` and ``groupby`` work the way pandas users expect.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from caffelog.parse import kinds
from caffelog.parse.columns import TotalsRows
from caffelog.parse.records import RecordSink
from caffelog.tables.attribution import TEST_START, Timeline, batch_index, build_timeline, place_rows

BLOB_COLUMNS = ["segment", "iteration", "phase", "test_net", "batch", "direction", "layer",
                "role", "blob", "quantity", "value", "line", "time", "inferred"]
TOTAL_COLUMNS = ["segment", "iteration", "batch", "l1_data", "l1_diff", "l2_data", "l2_diff",
                 "line", "time", "inferred"]
SCALAR_COLUMNS = ["segment", "iteration", "phase", "test_net", "source", "name", "value", "weighted",
                  "line", "time"]
NET_COLUMNS = ["segment", "net", "index", "layer", "type", "bottoms", "tops", "top_shapes",
               "top_counts", "loss_weight", "needs_backward", "params", "line"]

# the columns stored as categories (and as dictionaries in Parquet); net's columns of lists
CATEGORICAL = {"blobs": ("phase", "direction", "layer", "role", "blob", "quantity"),
               "scalars": ("phase", "source", "name")}
CATEGORICAL_NAMES = frozenset(name for names in CATEGORICAL.values() for name in names)
LIST_COLUMNS = ("bottoms", "tops", "top_shapes", "top_counts")

PHASES = pd.CategoricalDtype(["train", "test"])
DIRECTIONS = pd.CategoricalDtype(["forward", "backward", "update"])
ROLES = pd.CategoricalDtype(["top", "bottom", "param"])
QUANTITIES = pd.CategoricalDtype(["data", "diff"])


@dataclass
class Skipped:
    """Lines the grammar did not understand: how many, which (the first KEPT_SKIPPED), and why."""

    count: int = 0
    lines: list[int] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.count:
            return "no lines skipped"
        why = ", ".join(f"{n} {r}" for r, n in sorted(self.reasons.items()))
        first = ", ".join(map(str, self.lines[:5])) + (" ..." if self.count > 5 else "")
        lines = "line" if self.count == 1 else "lines"
        return f"{self.count} {lines} skipped ({why}); first at line {first}"


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


def build_blobs(sink: RecordSink, t: Timeline, consume: bool = False) -> pd.DataFrame:
    """The blobs table; consume=True hands the sink's rows over to it without a copy."""
    return blobs_frame(*sink.blob_columns(consume), sink.blob_keys, t)


def blobs_frame(lines: np.ndarray, keys: np.ndarray, values: np.ndarray, blob_keys: list[tuple],
                t: Timeline) -> pd.DataFrame:
    """The blobs table of these rows (in line order), placed on the timeline."""
    key_table = pd.DataFrame(blob_keys, columns=["direction", "layer", "role", "blob", "quantity"])
    is_update = (key_table["direction"].to_numpy() == "update")[keys] if len(keys) else np.zeros(0, bool)
    p = place_rows(t, lines, is_update)
    change = changes(p.segment, p.iteration, p.test, p.test_net, is_update)
    is_forward = (key_table["direction"].to_numpy() == "forward")[keys] if len(keys) else np.zeros(0, bool)
    kind = p.test.astype(np.int8) * 2 + is_update
    batch = batch_index(change, keys, is_forward, kind)
    batch[is_update] = 0  # Net::Update prints once per iteration, whatever iter_size is
    del change, is_forward, kind, is_update
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
    frame["time"] = t.seconds(lines, p.segment)
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


def totals_frame(totals: TotalsRows, t: Timeline) -> pd.DataFrame:
    """The totals table of these All-net-params rows (line, l1_data, l1_diff, l2_data, l2_diff)."""
    arr = totals.array()
    lines = arr[:, 0].astype(np.int64)
    p = place_rows(t, lines)
    batch = batch_index(changes(p.segment, p.iteration), np.zeros(len(lines), np.int64))
    return pd.DataFrame({
        "segment": p.segment, "iteration": _int_or_na(p.iteration), "batch": batch,
        "l1_data": arr[:, 1], "l1_diff": arr[:, 2], "l2_data": arr[:, 3], "l2_diff": arr[:, 4],
        "line": lines, "time": t.seconds(lines, p.segment), "inferred": p.inferred,
    }, columns=TOTAL_COLUMNS)


SOURCES = ["iteration", "output", "test", "clipping", "multistep"]


def build_scalars(sink: RecordSink, t: Timeline) -> pd.DataFrame:
    """One row per solver number, placed by the same rules as the blob rows: train outputs and
    clipping take the iteration of the `Iteration N` line before them (same segment), test
    outputs that of the `Testing net` line before them. Built as columns of codes: a long log
    has millions of these rows."""
    c = sink.solver
    names = list(c.names)
    name_ids = {name: i for i, name in enumerate(names)}
    parts: list[tuple] = []

    def name_id(name: str) -> int:
        if name not in name_ids:
            name_ids[name] = len(names)
            names.append(name)
        return name_ids[name]

    def add(lines, iters, test_nets, test, source, name, values, weighted=None, sub=0):
        lines = np.asarray(lines, dtype=np.int64)
        n = len(lines)
        codes = np.full(n, name_id(name)) if isinstance(name, str) else np.asarray(name, np.int64)
        parts.append((lines, np.broadcast_to(np.asarray(iters, np.int64), n),
                      np.broadcast_to(np.asarray(test_nets, np.int64), n), np.full(n, test, np.int8),
                      np.full(n, SOURCES.index(source), np.int8), codes,
                      np.asarray(values, np.float64),
                      np.full(n, np.nan) if weighted is None else np.asarray(weighted, np.float64),
                      np.full(n, sub, np.int8)))

    anchors = _Anchors(t, c)
    loss_lines, loss_iters = np.asarray(c.loss_line, np.int64), np.asarray(c.loss_iter, np.int64)
    add(loss_lines, loss_iters, -1, 0, "iteration", "loss", c.loss_value)
    speed = np.asarray(c.loss_speed, dtype=np.float64)
    has = ~np.isnan(speed)
    add(loss_lines[has], loss_iters[has], -1, 0, "iteration", "iter_per_s", speed[has], sub=1)
    add(c.lr_line, c.lr_iter, -1, 0, "iteration", "lr", c.lr_value)
    out_lines, out_names = np.asarray(c.out_line, np.int64), np.asarray(c.out_name, np.int64)
    test = np.asarray(c.out_test, dtype=bool)
    values, weighted = np.asarray(c.out_value, np.float64), np.asarray(c.out_weighted, np.float64)
    train = ~test
    add(out_lines[train], anchors.train(out_lines[train]), -1, 0, "output", out_names[train],
        values[train], weighted[train])
    ti, tn = anchors.test(out_lines[test])
    add(out_lines[test], ti, tn, 1, "output", out_names[test], values[test], weighted[test])
    _add_rare_scalars(sink.events, anchors, add, name_id)
    columns = [np.concatenate(col) for col in zip(*parts)]
    parts.clear()
    order = np.lexsort((columns[8], columns[0]))
    for i in range(8):  # one column at a time: a long log has millions of these rows
        columns[i] = columns[i][order]
    line, iteration, test_net, phase, source, name, value, weight = columns[:8]
    del columns
    segment = t.segment_of(line)
    return pd.DataFrame({
        "segment": segment, "iteration": _int_or_na(iteration),
        "phase": pd.Categorical.from_codes(phase, dtype=PHASES), "test_net": _int_or_na(test_net),
        "source": pd.Categorical.from_codes(source, dtype=pd.CategoricalDtype(SOURCES)),
        "name": _used_categories(name, names), "value": value, "weighted": weight, "line": line,
        "time": t.seconds(line, segment),
    }, columns=SCALAR_COLUMNS)


def _add_rare_scalars(events: list[tuple], anchors: _Anchors, add, name_id) -> None:
    """Test loss/score, clipping and multistep lines: gathered per kind, added as columns."""
    rows: dict[str, list] = {"test": [], "clip": [], "step": []}
    for line, kind, f in events:
        if kind == kinds.TEST_LOSS:
            rows["test"].append((line, "test", name_id("test_loss"), f["value"]))
        elif kind == kinds.TEST_SCORE:
            rows["test"].append((line, "output", name_id(f"score#{f['index']}"), f["value"]))
        elif kind == kinds.CLIPPING:
            rows["clip"].append((line, f["l2_norm"], f["scale"]))
        elif kind == kinds.MULTISTEP:
            rows["step"].append((line, f["iteration"], float(f["step"])))
    for source in ("test", "output"):
        sel = [r for r in rows["test"] if r[1] == source]
        if sel:
            lines = np.array([r[0] for r in sel], np.int64)
            ti, tn = anchors.test(lines)
            add(lines, ti, tn, 1, source, [r[2] for r in sel], [r[3] for r in sel])
    if rows["clip"]:
        lines = np.array([r[0] for r in rows["clip"]], np.int64)
        it = anchors.train(lines)
        add(lines, it, -1, 0, "clipping", "clip_norm", [r[1] for r in rows["clip"]])
        add(lines, it, -1, 0, "clipping", "clip_scale", [r[2] for r in rows["clip"]], sub=1)
    if rows["step"]:
        add([r[0] for r in rows["step"]], [r[1] for r in rows["step"]], -1, 0, "multistep", "lr_step",
            [r[2] for r in rows["step"]])


def _used_categories(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """A categorical of the names that occur, in order of first appearance."""
    used, first = np.unique(codes, return_index=True)
    used = used[np.argsort(first)]
    remap = np.full(len(names) + 1, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return pd.Categorical.from_codes(remap[codes], categories=[names[i] for i in used])


class _Anchors:
    """The solver lines that give a scalar its iteration."""

    def __init__(self, t: Timeline, c):
        lines = np.concatenate([np.asarray(c.loss_line, np.int64), np.asarray(c.lr_line, np.int64)])
        iters = np.concatenate([np.asarray(c.loss_iter, np.int64), np.asarray(c.lr_iter, np.int64)])
        order = np.argsort(lines, kind="stable")
        self.timeline, self.lines, self.iters = t, lines[order], iters[order]
        start = t.marker_codes == TEST_START
        self.test_lines, self.test_iters = t.marker_lines[start], t.marker_iters[start]
        self.test_nets = t.marker_nets[start]

    def train(self, lines: np.ndarray) -> np.ndarray:
        """Iteration of the `Iteration N` line before each line, in the same segment, else -1."""
        j = np.searchsorted(self.lines, lines) - 1
        ok = j >= 0
        jc = np.maximum(j, 0)
        if len(self.lines):
            ok &= self.timeline.segment_of(self.lines[jc]) == self.timeline.segment_of(lines)
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
            dumped[(max(seg, 0), dump.net or "train")] = {
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


def timeline_of(sink: RecordSink, solvers: list[dict], span: tuple[int, int] | None = None) -> Timeline:
    displays = [_positive_int(s.get("display"), 1) for s in solvers]
    timeline = build_timeline(sink.events, sink.solver, displays, span)
    timeline.clock = sink.clock
    return timeline


INT32_MAX = 2 ** 31 - 1  # caffe.proto declares display (and every count) int32


def _positive_int(value, default: int) -> int:
    """A solver setting as a positive int32; a damaged, repeated or impossible one (1e400, 2^63-1:
    no Caffe could print it) falls back to default."""
    if isinstance(value, list):
        value = value[-1] if value else None
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return n if 0 < n <= INT32_MAX else default
