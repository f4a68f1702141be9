"""The template path's columns: solver lines of known templates, a chunk at a time.

A long log has one loss, lr, net-output and All-net-params line per displayed iteration:
hundreds of thousands. Turning each into a dict and appending it field by field costs more than
parsing it; grouping a chunk's lines by shape and converting one field of all of them at once
does not.
"""
from __future__ import annotations

from operator import itemgetter

import numpy as np

from caffelog.parse.columns import NAN
from caffelog.parse.records import RecordSink
from caffelog.parse.shape import MAX_INT_DIGITS, Shape


class SolverLineColumns:
    """Lines of the stateless solver kinds from one chunk, grouped by shape, turned into columns
    at the end of the chunk: one conversion per field instead of a dict per line.

    slots holds every number of the chunk's lines missed by the head cache in order; line i's are
    slots[offsets[i]:offsets[i + 1]].
    """

    def __init__(self, slots: list[str], offsets: list[int], numbers: list[int]) -> None:
        self._slots, self._numbers = slots, numbers
        self._offsets = np.asarray(offsets)
        self._groups: dict[int, tuple[Shape, list[int]]] = {}
        self._singles: dict[str, list[tuple[int, dict]]] = {}  # kind -> (line, fields)

    def add_rows(self, shapes: list[Shape | None], columnar: list[bool]) -> None:
        """Group the columnar rows by shape."""
        groups = self._groups
        for i, (shape, wanted) in enumerate(zip(shapes, columnar)):
            if wanted and shape is not None:
                group = groups.get(id(shape))
                if group is None:
                    group = groups[id(shape)] = (shape, [])
                group[1].append(i)

    def add_fields(self, kind: str, fields: dict, line: int) -> None:
        """A line already turned into fields (by the slow path)."""
        self._singles.setdefault(kind, []).append((line, fields))

    def store(self, sink: RecordSink) -> None:
        by_kind: dict[str, list] = {kind: [(*_as_columns(rows), [])]
                                    for kind, rows in self._singles.items()}
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
