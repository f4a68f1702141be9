"""Records: what each grammar rule means, collected as columns.

The grammar names line kinds (its rule names) and orders their tokens; this module gives the
tokens their field names and turns each parsed line into rows of plain columns. No attribution
happens here: a row only knows its line number. Which iteration, phase and batch it belongs to
is decided later from the event rows (see attribution.py).
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

# token path (position among the rule's own tokens, or "subrule.position") -> field name
FIELD_NAMES: dict[str, dict[str, str]] = {
    "forward_top": {"0": "layer", "1": "blob", "2": "value", "mean_part.0": "mean"},
    "forward_param": {"0": "layer", "1": "blob", "2": "value", "mean_part.0": "mean"},
    "forward_input": {"0": "blob", "1": "value", "mean_part.0": "mean"},
    "backward_bottom": {"0": "layer", "1": "blob", "2": "value", "mean_part.0": "mean"},
    "backward_param": {"0": "layer", "1": "blob", "2": "value", "mean_part.0": "mean"},
    "update_owned": {"0": "layer", "1": "blob", "2": "data", "3": "diff"},
    "update_shared": {"0": "layer", "1": "blob", "2": "owner", "3": "owner_param", "4": "value"},
    "all_params": {"0": "l1_data", "1": "l1_diff", "2": "l2_data", "3": "l2_diff"},
    "iteration_loss": {"0": "iteration", "1": "value", "speed.0": "iter_per_s",
                       "speed.1": "seconds", "speed.2": "display"},
    "iteration_lr": {"0": "iteration", "1": "value"},
    "net_output": {"0": "phase", "1": "index", "2": "name", "3": "value",
                   "weighted.0": "weight", "weighted.1": "weighted"},
    "testing": {"0": "iteration", "1": "test_net"},
    "test_loss": {"0": "value"},
    "test_score": {"0": "index", "1": "value"},
    "clipping": {"0": "l2_norm", "1": "threshold", "2": "scale"},
    "multistep": {"0": "iteration", "1": "step"},
    "snapshot": {"0": "what", "1": "path"},
    "resuming": {"0": "path"},
    "restoring": {"0": "path"},
    "solving": {"0": "net_name"},
    "lr_policy": {"0": "policy"},
    "test_net_file": {"0": "test_net", "1": "source"},
    "train_net_file": {"0": "source"},
    "creating_layer": {"0": "layer"},
    "layer_bottom": {"0": "layer", "1": "blob"},
    "layer_top": {"0": "layer", "1": "blob", "2": "in_place"},
    "top_shape": {},  # positional ints: dims..., count
    "sharing": {"0": "param", "1": "owner", "2": "index"},
    "loss_weight": {"0": "weight"},
    "needs_backward": {"0": "layer", "1": "need"},
    "proto_field": {"0": "key", "1": "value"},
    "proto_open": {"0": "key"},
}

# blob kind -> (direction, role, quantity)
BLOB_KINDS: dict[str, tuple[str, str, str]] = {
    "forward_top": ("forward", "top", "data"),
    "forward_param": ("forward", "param", "data"),
    "forward_input": ("forward", "top", "data"),
    "backward_bottom": ("backward", "bottom", "diff"),
    "backward_param": ("backward", "param", "diff"),
    "update_shared": ("update", "param", "diff"),
}

# the rarer kinds that mark a place in the log (attribution reads them); the frequent solver
# lines (loss, lr, net outputs) go to SolverColumns instead
EVENT_KINDS = frozenset({
    "testing", "test_loss", "test_score",
    "clipping", "multistep", "snapshot", "resuming", "restoring", "optimization_done",
    "stopped_early", "test_interrupted", "solving", "lr_policy", "solver_params",
    "crash_line",
})


@dataclass
class ProtoDump:
    """One `Initializing solver/net from parameters:` dump, as nested dicts of lists."""

    what: str  # "solver" or "net"
    line: int
    net: str | None = None
    root: dict = field(default_factory=dict)
    stack: list = field(default_factory=list)

    def add(self, kind: str, fields: dict) -> None:
        node = self.stack[-1] if self.stack else self.root
        if kind == "proto_field":
            node.setdefault(fields["key"], []).append(_proto_scalar(fields["value"]))
        elif kind == "proto_open":
            child: dict = {}
            node.setdefault(fields["key"], []).append(child)
            self.stack.append(child)
        elif kind == "proto_close" and self.stack:
            self.stack.pop()


def _proto_scalar(text: str):
    if text.startswith('"'):
        return text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text  # an enum such as CPU or MAX


@dataclass
class LayerBuild:
    """What the net-construction lines say about one layer."""

    segment: int
    net: str
    index: int
    layer: str
    line: int
    bottoms: list = field(default_factory=list)
    tops: list = field(default_factory=list)
    top_shapes: list = field(default_factory=list)
    top_counts: list = field(default_factory=list)
    loss_weight: float | None = None
    needs_backward: bool | None = None


class Interner:
    """Small integer ids for repeated values (names, blob keys), in order of first appearance."""

    def __init__(self) -> None:
        self.values: list = []
        self._ids: dict = {}

    def id(self, value) -> int:
        index = self._ids.get(value)
        if index is None:
            index = self._ids[value] = len(self.values)
            self.values.append(value)
        return index


class SolverColumns:
    """The solver lines of every displayed iteration (`Iteration N ..., loss`, `Iteration N, lr`,
    `Train/Test net output #k`) as columns: millions of them in a long log, so no dict per line."""

    def __init__(self) -> None:
        self.loss_line, self.loss_iter = array("q"), array("q")
        self.loss_value, self.loss_speed = array("d"), array("d")
        self.lr_line, self.lr_iter, self.lr_value = array("q"), array("q"), array("d")
        self.out_line, self.out_test, self.out_name = array("q"), array("b"), array("q")
        self.out_value, self.out_weighted = array("d"), array("d")
        self._names = Interner()

    def add_columns(self, kind: str, lines: list[int], f: dict[str, list]) -> None:
        """Lines of one kind (loss, lr or net output), in line order: field -> values."""
        missing = [NAN] * len(lines)
        if kind == "iteration_loss":
            self.loss_line.extend(lines)
            self.loss_iter.extend(f["iteration"])
            self.loss_value.extend(f["value"])
            self.loss_speed.extend(f.get("iter_per_s", missing))
        elif kind == "iteration_lr":
            self.lr_line.extend(lines)
            self.lr_iter.extend(f["iteration"])
            self.lr_value.extend(f["value"])
        else:
            self.out_line.extend(lines)
            self.out_test.extend(phase == "Test" for phase in f["phase"])
            self.out_name.extend(map(self.name_id, f["name"]))
            self.out_value.extend(f["value"])
            self.out_weighted.extend(f.get("weighted", missing))

    @property
    def names(self) -> list[str]:
        return self._names.values

    def name_id(self, name: str) -> int:
        return self._names.id(name)

    def split_before(self, line: int) -> "SolverColumns":
        """Move the entries of lines before `line` into a new SolverColumns (returned); keep the
        rest. Streaming writes the head and holds only what later rows still need."""
        from bisect import bisect_left
        head = SolverColumns()
        head._names = self._names
        for line_col, cols in (("loss_line", ("loss_iter", "loss_value", "loss_speed")),
                               ("lr_line", ("lr_iter", "lr_value")),
                               ("out_line", ("out_test", "out_name", "out_value", "out_weighted"))):
            k = bisect_left(getattr(self, line_col), line)
            for name in (line_col, *cols):
                column = getattr(self, name)
                setattr(head, name, column[:k])
                setattr(self, name, column[k:])
        return head

    def extend(self, other: "SolverColumns", offset: int) -> None:
        """Append another chunk's columns, its lines shifted by offset (parallel stitching)."""
        self.loss_line.extend(x + offset for x in other.loss_line)
        self.loss_iter.extend(other.loss_iter)
        self.loss_value.extend(other.loss_value)
        self.loss_speed.extend(other.loss_speed)
        self.lr_line.extend(x + offset for x in other.lr_line)
        self.lr_iter.extend(other.lr_iter)
        self.lr_value.extend(other.lr_value)
        self.out_line.extend(x + offset for x in other.out_line)
        self.out_test.extend(other.out_test)
        self.out_name.extend(self.name_id(other.names[i]) for i in other.out_name)
        self.out_value.extend(other.out_value)
        self.out_weighted.extend(other.out_weighted)


SOLVER_COLUMN_KINDS = frozenset({"iteration_loss", "iteration_lr", "net_output"})
NAN = float("nan")


class TotalsRows:
    """All-net-params rows (line, l1_data, l1_diff, l2_data, l2_diff): five floats a row in one
    flat array, a tenth of the memory of a tuple per row."""

    WIDTH = 5

    def __init__(self, flat: array | None = None) -> None:
        self.flat = array("d") if flat is None else flat

    def __len__(self) -> int:
        return len(self.flat) // self.WIDTH

    def append(self, row) -> None:
        self.flat.extend(row)

    def extend(self, other: "TotalsRows", line_offset: int = 0) -> None:
        """Append another chunk's rows, their lines shifted by line_offset."""
        rows = other.array()
        rows[:, 0] += line_offset
        self.flat.frombytes(memoryview(rows).cast("B"))

    def array(self):
        """The rows as an (n, 5) float array (a copy)."""
        return np.array(self.flat, dtype=np.float64).reshape(-1, self.WIDTH)

    def lines(self):
        return self.array()[:, 0].astype(np.int64)

    def __getitem__(self, rows: slice) -> "TotalsRows":
        start, stop, _ = rows.indices(len(self))
        return TotalsRows(self.flat[start * self.WIDTH:stop * self.WIDTH])


class BlobColumns:
    """Every per-blob row as three growing columns (line, key id, value), always in line order.

    array.array grows in place (realloc), so a long parse never holds its rows twice nor leaves
    a trail of freed chunks behind. Rows parsed one by one (the slow path) wait in `pending`
    until the hot path commits its chunk, and both are merged in line order then.
    """

    def __init__(self) -> None:
        self.line, self.key, self.value = array("q"), array("i"), array("d")
        self.pending: list[tuple[int, int, float]] = []

    def __len__(self) -> int:
        return len(self.line) + len(self.pending)

    def add(self, line: int, key: int, value: float) -> None:
        self.pending.append((line, key, value))

    def commit(self, lines, keys, values) -> None:
        """Append a chunk of rows (numpy, in line order) after the pending ones, merged."""
        if self.pending:
            more = np.array(self.pending, dtype=np.float64).reshape(-1, 3)
            self.pending = []
            lines = np.concatenate([more[:, 0].astype(np.int64), lines])
            keys = np.concatenate([more[:, 1].astype(np.int32), keys])
            values = np.concatenate([more[:, 2], values])
            order = np.argsort(lines, kind="stable")
            lines, keys, values = lines[order], keys[order], values[order]
        if len(self.line) and len(lines) and lines[0] < self.line[-1]:
            raise ValueError("blob rows must be committed in line order")
        for column, data, dtype in ((self.line, lines, np.int64), (self.key, keys, np.int32),
                                    (self.value, values, np.float64)):
            column.frombytes(memoryview(np.ascontiguousarray(data, dtype)).cast("B"))  # no copy

    def columns(self, consume: bool = False):
        """(lines, keys, values) as numpy arrays. consume=True hands the memory over without a
        copy and leaves these columns empty."""
        self.commit(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0))
        arrays = (np.frombuffer(self.line, np.int64), np.frombuffer(self.key, np.int32),
                  np.frombuffer(self.value, np.float64))
        if not consume:
            return tuple(a.copy() for a in arrays)
        self.line, self.key, self.value = array("q"), array("i"), array("d")
        return arrays

    def keep_from(self, lines, keys, values) -> None:
        """Start over with just these rows (what a streamed flush has not written yet)."""
        self.line, self.key, self.value = array("q"), array("i"), array("d")
        self.commit(lines, keys, values)


class RecordSink:
    """Column builders for every record kind. Parsers append; tables.py reads."""

    BLOB_KINDS = BLOB_KINDS

    def __init__(self) -> None:
        self.blobs = BlobColumns()
        self._keys = Interner()  # blob keys (direction, layer, role, blob, quantity)
        self.totals = TotalsRows()
        self.events: list[tuple] = []  # (line, kind, fields) of the rarer events
        self.solver = SolverColumns()
        self.dumps: list[ProtoDump] = []
        self.layers: list[LayerBuild] = []
        self.shared_params: list[dict] = []
        self.skipped_lines = array("q")
        self.skipped_reasons: dict[str, int] = {}
        self.segment = -1
        self._net = "train"
        self._dump: ProtoDump | None = None
        self._layer: LayerBuild | None = None
        self._net_index: dict[str, int] = {}

    # -- per-blob values --------------------------------------------------------------------
    def blob_key_of(self, kind: str, fields: dict) -> int:
        direction, role, quantity = BLOB_KINDS[kind]
        return self.blob_key_of_tuple((direction, fields.get("layer", "(input)"), role,
                                       fields["blob"], quantity))

    def blob_key_of_tuple(self, key: tuple) -> int:
        """The id of (direction, layer, role, blob, quantity), interned."""
        return self._keys.id(key)

    @property
    def blob_keys(self) -> list[tuple[str, str, str, str, str]]:
        return self._keys.values

    def add_blob_chunk(self, lines, keys, values) -> None:
        """The hot path's rows of one chunk (in line order); also commits the slow path's."""
        self.blobs.commit(lines, keys, values)

    def blob_columns(self, consume: bool = False):
        """(lines, keys, values) of every per-blob row, in line order (see BlobColumns)."""
        return self.blobs.columns(consume)

    def add_columns(self, kind: str, lines: list[int], fields: dict[str, list],
                    skipped: list[int]) -> None:
        """Many lines of one stateless kind (solver lines, totals) at once, in line order."""
        for line in skipped:
            self.skip(line, "unknown")
        if kind == "all_params":
            for row in zip(lines, fields["l1_data"], fields["l1_diff"],
                           fields["l2_data"], fields["l2_diff"]):
                self.totals.append(row)
        elif kind in SOLVER_COLUMN_KINDS:
            self.solver.add_columns(kind, lines, fields)

    def end_dump(self) -> None:
        """A glog line ends a protobuf dump (as emit does for every line it is given)."""
        self._dump = None

    def skip(self, line: int, reason: str) -> None:
        self.skipped_lines.append(line)
        self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + 1

    # -- everything the grammar recognises ----------------------------------------------------
    def emit(self, kind: str, fields: dict, line: int) -> None:
        if kind.startswith("proto_"):
            if self._dump is not None:
                self._dump.add(kind, fields)
            return
        self._dump = None  # any glog line ends a protobuf dump
        if kind in BLOB_KINDS:
            self.blobs.add(line, self.blob_key_of(kind, fields), fields.get("mean", fields["value"]))
        elif kind == "update_owned":
            for quantity in ("data", "diff"):
                key = ("update", fields["layer"], "param", fields["blob"], quantity)
                self.blobs.add(line, self.blob_key_of_tuple(key), fields[quantity])
        elif kind == "all_params":
            self.totals.append((line, fields["l1_data"], fields["l1_diff"],
                                fields["l2_data"], fields["l2_diff"]))
        elif kind == "solver_params":
            self.segment += 1
            self._net_index.clear()
            self._dump = ProtoDump("solver", line)
            self.dumps.append(self._dump)
            self.events.append((line, kind, fields))
        elif kind == "net_params":
            self._dump = ProtoDump("net", line, net=self._net)
            self.dumps.append(self._dump)
        elif kind in SOLVER_COLUMN_KINDS:
            self.solver.add_columns(kind, [line], {k: [v] for k, v in fields.items()})
        elif kind in EVENT_KINDS:
            self.events.append((line, kind, fields))
        else:
            self._net_line(kind, fields, line)

    def _net_line(self, kind: str, fields: dict, line: int) -> None:
        if kind == "train_net_file":
            self._net = "train"
        elif kind == "test_net_file":
            self._net = f"test#{fields.get('test_net', 0)}"
        elif kind == "creating_layer":
            index = self._net_index.get(self._net, 0)
            self._net_index[self._net] = index + 1
            self._layer = LayerBuild(max(self.segment, 0), self._net, index, fields["layer"], line)
            self.layers.append(self._layer)
        elif self._layer is None:
            return
        elif kind == "layer_bottom":
            self._layer.bottoms.append(fields["blob"])
        elif kind == "layer_top":
            self._layer.tops.append(fields["blob"])
        elif kind == "top_shape":
            dims = [v for k, v in sorted(fields.items(), key=lambda kv: int(kv[0]))]
            self._layer.top_shapes.append(tuple(dims[:-1]))
            self._layer.top_counts.append(dims[-1])
        elif kind == "loss_weight":
            self._layer.loss_weight = fields["weight"]
        elif kind == "needs_backward":
            self._set_needs_backward(fields)
        elif kind == "sharing":
            self.shared_params.append(dict(fields, net=self._net, layer=self._layer.layer))

    def _set_needs_backward(self, fields: dict) -> None:
        for layer in reversed(self.layers):
            if layer.net != self._net or layer.segment != max(self.segment, 0):
                break
            if layer.layer == fields["layer"]:
                layer.needs_backward = fields["need"].strip() == "needs"
                return


__all__ = ["FIELD_NAMES", "BLOB_KINDS", "RecordSink", "ProtoDump", "LayerBuild"]
