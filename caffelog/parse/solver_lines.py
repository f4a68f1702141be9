"""The template path's columns: solver lines of known templates, a chunk at a time.

A long log has one loss, lr, net-output and All-net-params line per displayed iteration:
hundreds of thousands. Turning each into a dict and appending it field by field costs more than
parsing it; grouping a chunk's lines by shape and converting one field of all of them at once
does not.
"""
from __future__ import annotations

from operator import itemgetter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from caffelog.parse.columns import NAN
from caffelog.parse.kinds import COLUMNAR_KINDS
from caffelog.parse.records import RecordSink
from caffelog.parse.shape import MAX_INT_DIGITS, Shape


class SolverLineColumns:
    """Lines of the stateless solver kinds from one chunk, turned into columns at the end of the
    chunk: one conversion per field instead of a dict per line.

    They come three ways: whole templates from the template cut (add_template, already columns,
    their lines in served_lines), rows of the Python split grouped by shape (add_rows: every
    number of those lines in order, line i's are slots[offsets[i]:offsets[i + 1]]), and single
    lines the slow path turned into fields (add_fields).
    """

    def __init__(self) -> None:
        self._slots: list[str] = []
        self._numbers: list[int] = []
        self._offsets = np.zeros(1, np.int64)
        self._groups: dict[int, tuple[Shape, list[int]]] = {}
        self._singles: dict[str, list[tuple[int, dict]]] = {}  # kind -> (line, fields)
        self._pieces: list[tuple[str, tuple]] = []  # (kind, (lines, fields, skipped))
        self._served: list[np.ndarray] = []  # the lines of each template add_template took

    def add_template(self, shape: Shape, lines: np.ndarray, numbers: pa.Array, first: np.ndarray) -> bool:
        """The lines of one template from the template cut: their j-th number is numbers[first + j].
        False (nothing kept) when a number does not convert: those lines go the slow way."""
        fields: dict[str, list] = {}
        try:
            for name, index, convert in shape.slots:
                fields[name] = _convert_column(convert, numbers.take(pa.array(first + index)))
        except (pa.ArrowInvalid, ValueError):
            return False
        for name, value in shape.consts.items():
            fields[name] = [value] * len(lines)
        self._pieces.append((shape.kind, (lines.tolist(), fields, [])))
        self._served.append(lines)
        return True

    @property
    def served_lines(self) -> np.ndarray:
        """The lines add_template took, in order."""
        return np.sort(np.concatenate(self._served)) if self._served else np.zeros(0, np.int64)

    def add_rows(self, slots: list[str], offsets: list[int], numbers: list[int],
                 shapes: list[Shape | None]) -> None:
        """The rows of the Python split: group the columnar ones by shape."""
        self._slots, self._numbers, self._offsets = slots, numbers, np.asarray(offsets)
        groups = self._groups
        for i, shape in enumerate(shapes):
            if shape is not None and shape.kind in COLUMNAR_KINDS:
                group = groups.get(id(shape))
                if group is None:
                    group = groups[id(shape)] = (shape, [])
                group[1].append(i)

    def slots_of(self, i: int) -> list[str]:
        """The numbers of row i of the Python split."""
        return self._slots[self._offsets[i]:self._offsets[i + 1]]

    def add_fields(self, kind: str, fields: dict, line: int) -> None:
        """A line already turned into fields (by the slow path)."""
        self._singles.setdefault(kind, []).append((line, fields))

    def store(self, sink: RecordSink) -> None:
        by_kind: dict[str, list] = {kind: [(*_as_columns(rows), [])]
                                    for kind, rows in self._singles.items()}
        for kind, piece in self._pieces:
            by_kind.setdefault(kind, []).append(piece)
        for shape, rows in self._groups.values():
            by_kind.setdefault(shape.kind, []).append(self._columns(shape, rows))
        for kind, pieces in by_kind.items():
            sink.add_columns(kind, *_merge(pieces))

    def _columns(self, shape: Shape, rows: list[int]):
        """(lines, {field: values}, skipped lines) of one shape's rows."""
        lines = _pick(self._numbers, rows)
        first = self._offsets[rows]  # each row's first slot
        try:
            fields = {name: _convert_all(convert, _pick(self._slots, (first + index).tolist()))
                      for name, index, convert in shape.slots}
        except (ValueError, IndexError):
            return self._row_by_row(shape, rows)
        for name, value in shape.consts.items():
            fields[name] = [value] * len(rows)
        return lines, fields, []

    def _row_by_row(self, shape: Shape, rows: list[int]):
        kept, bad = [], []
        for i in rows:
            try:
                kept.append((self._numbers[i],
                             shape.fields(self._slots[self._offsets[i]:self._offsets[i + 1]])))
            except (ValueError, IndexError):
                bad.append(self._numbers[i])
        return (*_as_columns(kept), bad)


def _as_columns(rows: list[tuple[int, dict]]) -> tuple[list[int], dict[str, list]]:
    """(line, fields) rows as (lines, {field: values}); a field a row lacks is NaN there."""
    names = dict.fromkeys(name for _, fields in rows for name in fields)
    return ([line for line, _ in rows],
            {name: [fields.get(name, NAN) for _, fields in rows] for name in names})


def _pick(items: list, positions: list[int]) -> list:
    """[items[p] for p in positions], in one C call."""
    if len(positions) == 1:
        return [items[positions[0]]]
    return list(itemgetter(*positions)(items)) if positions else []


def _convert_column(convert, texts: pa.Array) -> list:
    """convert applied to a column of number texts, in arrow's C loops (its float parsing is
    correctly rounded, as Python's is); raises where a text does not convert."""
    if convert is str:
        return texts.to_pylist()
    if convert is float:
        return pc.cast(texts, pa.float64()).to_numpy().tolist()
    if len(texts) and pc.max(pc.utf8_length(texts)).as_py() > MAX_INT_DIGITS:
        raise ValueError("integer too long")
    return pc.cast(texts, pa.int64()).to_numpy().tolist()


def _convert_all(convert, texts: list[str]) -> list:
    """convert (float, str or the parser's INT check) applied to every text, in C loops."""
    if convert is float or convert is str:
        return list(map(convert, texts))
    if texts and max(map(len, texts)) > MAX_INT_DIGITS:
        raise ValueError("integer too long")
    return list(map(int, texts))


def _merge(pieces):
    """Concatenate (lines, fields, skipped) pieces of one kind, in line order."""
    if len(pieces) == 1:
        return pieces[0]
    lines = [n for piece in pieces for n in piece[0]]
    order = np.argsort(np.array(lines, np.int64), kind="stable").tolist()
    names = set().union(*(piece[1] for piece in pieces))
    fields = {}
    for name in names:
        column = [v for piece in pieces
                  for v in piece[1].get(name, [NAN] * len(piece[0]))]
        fields[name] = [column[i] for i in order]
    return [lines[i] for i in order], fields, [n for piece in pieces for n in piece[2]]
