"""Records: each parsed line turned into rows of plain columns (kinds.py names the kinds).

No attribution happens here: a row only knows its line number. Which iteration, phase and batch it belongs to
is decided later from the event rows (see attribution.py).
"""
from __future__ import annotations

from array import array

import numpy as np

from caffelog.parse import kinds
from caffelog.parse.clock import LineClock
from caffelog.parse.columns import BlobColumns, Interner, SolverColumns, TotalsRows
from caffelog.parse.kinds import BLOB_KINDS, EVENT_KINDS, SOLVER_COLUMN_KINDS
from caffelog.parse.protodump import LayerBuild, ProtoDump

# Skipped lines are counted without limit, but only the first this many are listed: a log of
# 20 million blank or junk lines must not hold 20 million line numbers.
KEPT_SKIPPED = 10_000


class RecordSink:
    """Column builders for every record kind. Parsers append; tables.py reads."""

    BLOB_KINDS = BLOB_KINDS

    def __init__(self, keys: Interner | None = None) -> None:
        self.blobs = BlobColumns()
        # blob keys (direction, layer, role, blob, quantity); a parser's head cache holds their
        # ids, so a parser handed a new sink hands it its old keys too
        self._keys = keys if keys is not None else Interner()
        self.totals = TotalsRows()
        self.clock = LineClock()  # the time of each line, for every kind of row
        self.events: list[tuple] = []  # (line, kind, fields) of the rarer events
        self.solver = SolverColumns()
        self.dumps: list[ProtoDump] = []
        self.layers: list[LayerBuild] = []
        self.shared_params: list[dict] = []
        self.skipped_lines = array("q")  # the first KEPT_SKIPPED of them: junk must not cost memory
        self.skipped_count = 0
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
    def keys(self) -> Interner:
        return self._keys

    @property
    def blob_keys(self) -> list[tuple[str, str, str, str, str]]:
        return self._keys.values

    def add_blob_chunk(self, lines, keys, values) -> None:
        """The head cache's rows of one chunk (in line order); also commits the others'."""
        self.blobs.commit(lines, keys, values)

    def blob_columns(self, consume: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lines, keys, values) of every per-blob row, in line order (see BlobColumns)."""
        return self.blobs.columns(consume)

    def add_columns(self, kind: str, lines: list[int], fields: dict[str, list],
                    skipped: list[int]) -> None:
        """Many lines of one stateless kind (solver lines, totals) at once, in line order."""
        for line in skipped:
            self.skip(line, "unknown")
        if kind == kinds.ALL_PARAMS:
            self.totals.add_columns(lines, *(fields[name] for name in TotalsRows.NAMES))
        elif kind in SOLVER_COLUMN_KINDS:
            self.solver.add_columns(kind, lines, fields)

    def end_dump(self) -> None:
        """A glog line ends a protobuf dump (as emit does for every line it is given)."""
        self._dump = None

    def skip(self, line: int, reason: str) -> None:
        self.skip_many([line], reason)

    def skip_many(self, lines, reason: str) -> None:
        """Skipped lines (in line order) for one reason."""
        self.add_skipped(lines, {reason: len(lines)})

    def add_skipped(self, lines, reasons: dict[str, int]) -> None:
        """Count skipped lines by reason; list the numbers of the first KEPT_SKIPPED. `lines` may
        hold only the first of them (a parallel worker's list)."""
        room = KEPT_SKIPPED - len(self.skipped_lines)
        if room > 0:
            self.skipped_lines.extend(int(n) for n in lines[:room])
        for reason, count in reasons.items():
            self.skipped_count += count
            self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + count

    # -- everything the grammar recognises ----------------------------------------------------
    def emit(self, kind: str, fields: dict, line: int) -> None:
        if kind.startswith("proto_"):
            if self._dump is not None and not self._dump.add(kind, fields):
                self.skip(line, "nested too deep")
            return
        self._dump = None  # any glog line ends a protobuf dump
        if kind in BLOB_KINDS:
            self.blobs.add(line, self.blob_key_of(kind, fields), fields.get("mean", fields["value"]))
        elif kind == kinds.UPDATE_OWNED:
            for quantity in ("data", "diff"):
                key = ("update", fields["layer"], "param", fields["blob"], quantity)
                self.blobs.add(line, self.blob_key_of_tuple(key), fields[quantity])
        elif kind == kinds.ALL_PARAMS:
            self.totals.append((line, *(fields[name] for name in TotalsRows.NAMES)))
        elif kind == kinds.SOLVER_PARAMS:
            self.segment += 1
            if self.segment > 0:
                self.clock.mark_segment(line)
            self._net_index.clear()
            self._dump = ProtoDump("solver", line)
            self.dumps.append(self._dump)
            self.events.append((line, kind, fields))
        elif kind == kinds.NET_PARAMS:
            self._dump = ProtoDump("net", line, net=self._net)
            self.dumps.append(self._dump)
        elif kind in SOLVER_COLUMN_KINDS:
            self.solver.add_columns(kind, [line], {k: [v] for k, v in fields.items()})
        elif kind in EVENT_KINDS:
            self.events.append((line, kind, fields))
        else:
            self._net_line(kind, fields, line)

    def _net_line(self, kind: str, fields: dict, line: int) -> None:
        if kind == kinds.TRAIN_NET_FILE:
            self._net = "train"
        elif kind == kinds.TEST_NET_FILE:
            self._net = f"test#{fields.get('test_net', 0)}"
        elif kind == kinds.CREATING_LAYER:
            index = self._net_index.get(self._net, 0)
            self._net_index[self._net] = index + 1
            self._layer = LayerBuild(max(self.segment, 0), self._net, index, fields["layer"], line)
            self.layers.append(self._layer)
        elif self._layer is None:
            return
        elif kind == kinds.LAYER_BOTTOM:
            self._layer.bottoms.append(fields["blob"])
        elif kind == kinds.LAYER_TOP:
            self._layer.tops.append(fields["blob"])
        elif kind == kinds.TOP_SHAPE:
            dims = [v for k, v in sorted(fields.items(), key=lambda kv: int(kv[0]))]
            self._layer.top_shapes.append(tuple(dims[:-1]))
            self._layer.top_counts.append(dims[-1])
        elif kind == kinds.LOSS_WEIGHT:
            self._layer.loss_weight = fields["weight"]
        elif kind == kinds.NEEDS_BACKWARD:
            self._set_needs_backward(fields)
        elif kind == kinds.SHARING:
            self.shared_params.append(dict(fields, net=self._net, layer=self._layer.layer))

    def _set_needs_backward(self, fields: dict) -> None:
        for layer in reversed(self.layers):
            if layer.net != self._net or layer.segment != max(self.segment, 0):
                break
            if layer.layer == fields["layer"]:
                layer.needs_backward = fields["need"].strip() == "needs"
                return
