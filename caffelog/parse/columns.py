"""Growing columns for the frequent records: per-blob values, totals and solver lines.

A long log has millions of these rows; a dict or tuple per row would cost ten times the memory,
so each kind is kept as flat typed arrays that grow in place.
"""
from __future__ import annotations

from array import array

import numpy as np

from caffelog.parse import kinds

NAN = float("nan")


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
        if kind == kinds.ITERATION_LOSS:
            self.loss_line.extend(lines)
            self.loss_iter.extend(f["iteration"])
            self.loss_value.extend(f["value"])
            self.loss_speed.extend(f.get("iter_per_s", missing))
        elif kind == kinds.ITERATION_LR:
            self.lr_line.extend(lines)
            self.lr_iter.extend(f["iteration"])
            self.lr_value.extend(f["value"])
        else:
            self.out_line.extend(lines)
            tests = {phase: phase == "Test" for phase in set(f["phase"])}
            self.out_test.extend(map(tests.__getitem__, f["phase"]))
            ids = {name: self.name_id(name) for name in dict.fromkeys(f["name"])}
            self.out_name.extend(map(ids.__getitem__, f["name"]))
            self.out_value.extend(f["value"])
            self.out_weighted.extend(f.get("weighted", missing))

    @property
    def names(self) -> list[str]:
        return self._names.values

    def name_id(self, name: str) -> int:
        return self._names.id(name)

    def split_before(self, line: int) -> SolverColumns:
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

    def extend(self, other: SolverColumns, offset: int) -> None:
        """Append another chunk's columns, its lines shifted by offset (parallel stitching)."""
        for name in ("loss_line", "lr_line", "out_line"):
            getattr(self, name).frombytes((np.frombuffer(getattr(other, name), np.int64) + offset).tobytes())
        for name in ("loss_iter", "loss_value", "loss_speed", "lr_iter", "lr_value", "out_test",
                     "out_value", "out_weighted"):
            getattr(self, name).extend(getattr(other, name))
        ids = np.array([self.name_id(name) for name in other.names], np.int64)
        if len(other.out_name):
            self.out_name.frombytes(ids[np.frombuffer(other.out_name, np.int64)].tobytes())


class TotalsRows:
    """All-net-params rows (line, l1_data, l1_diff, l2_data, l2_diff): five floats a row in one
    flat array, a tenth of the memory of a tuple per row."""

    WIDTH = 5
    NAMES = ("l1_data", "l1_diff", "l2_data", "l2_diff")  # the fields after the line

    def __init__(self, flat: array | None = None) -> None:
        self.flat = array("d") if flat is None else flat

    def add_columns(self, lines: list[int], *values: list[float]) -> None:
        """Rows given a column at a time."""
        self.flat.frombytes(np.column_stack([lines, *values]).astype(np.float64).tobytes())

    def __len__(self) -> int:
        return len(self.flat) // self.WIDTH

    def append(self, row) -> None:
        self.flat.extend(row)

    def extend(self, other: TotalsRows, line_offset: int = 0) -> None:
        """Append another chunk's rows, their lines shifted by line_offset."""
        rows = other.array()
        if not len(rows):  # a chunk with no All-net-params line: nothing to add
            return
        rows[:, 0] += line_offset
        self.flat.frombytes(rows.tobytes())

    def array(self):
        """The rows as an (n, 5) float array (a copy)."""
        return np.array(self.flat, dtype=np.float64).reshape(-1, self.WIDTH)

    def lines(self):
        return self.array()[:, 0].astype(np.int64)

    def __getitem__(self, rows: slice) -> TotalsRows:
        start, stop, _ = rows.indices(len(self))
        return TotalsRows(self.flat[start * self.WIDTH:stop * self.WIDTH])


class BlobColumns:
    """Every per-blob row as three growing columns (line, key id, value), always in line order.

    array.array grows in place (realloc), so a long parse never holds its rows twice nor leaves
    a trail of freed chunks behind. Rows parsed one by one (the slow path) wait in `pending`
    until the head-cache rows of their chunk are committed, and both are merged in line order then.
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
            column.frombytes(np.ascontiguousarray(data, dtype).data.cast("B"))  # no copy

    def columns(self, consume: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lines, keys, values) as numpy arrays. consume=True hands the memory over without a
        copy and leaves these columns empty."""
        self.commit(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0))
        arrays = (np.frombuffer(self.line, np.int64), np.frombuffer(self.key, np.int32),
                  np.frombuffer(self.value, np.float64))
        if not consume:
            return arrays[0].copy(), arrays[1].copy(), arrays[2].copy()
        self.line, self.key, self.value = array("q"), array("i"), array("d")
        return arrays

    def keep_from(self, lines, keys, values) -> None:
        """Start over with just these rows (what a streamed flush has not written yet)."""
        self.line, self.key, self.value = array("q"), array("i"), array("d")
        self.commit(lines, keys, values)
