"""The template cut: the lines the head cache missed, split into template and numbers by numpy.

Solver lines (`Iteration 7, lr = 0.01`, the loss, net outputs, All net params) are ~6% of a
debug_info log, yet as Python strings split by a Python regex they cost as much as the other
94%. This cut finds the number slots of all of a chunk's messages at once, with array
arithmetic: each message's template (each slot as NUL, the line parser's template-cache key) and
its numbers' byte ranges. A slot is what the line parser's slot regex finds, a NUMBER that is a
token of its own; on ASCII text the two agree (tests/test_templates.py checks them against each
other), so only ASCII messages are cut here and the others go the Python way.

NUMBER is the grammar's terminal, matched here by its structure: sign, nan | inf | digits with
an optional point and exponent. A grammar whose NUMBER differs turns this cut off
(TemplateCutter.enabled), and every line goes the Python way: slower, still right.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from caffelog.parse.scan import NEWLINE, POOL

# the NUMBER terminal this cut implements (grammars/caffe.lark, as lark writes it)
NUMBER = r"-?(?:nan|inf|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?)"
_LOWEST, _HIGHEST = 0x01, 0x7F  # the bytes a message cut here may hold (ASCII without NUL)


def _byte_set(chars: bytes) -> np.ndarray:
    table = np.zeros(256, bool)
    table[list(chars)] = True
    return table


_DIGIT = _byte_set(b"0123456789")
_WORD = _byte_set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")  # no slot after these
_START = _byte_set(b"-.0123456789ni")  # the slot regex's lookahead


@dataclass
class TemplateCut:
    """The template and numbers of the messages of some lines of a chunk."""

    rows: np.ndarray  # the lines cut (indices among the chunk's lines), in order
    codes: np.ndarray  # each row's template, an index into templates
    templates: list[str]  # the distinct templates, numbers as NUL
    numbers: pa.Array  # the text of every number of these rows, in order
    first: np.ndarray  # index in numbers of each row's first number (its j-th: first + j)

    def group_rows(self) -> dict[int, np.ndarray]:
        """The positions (in rows) of each template's rows, in line order."""
        order = np.argsort(self.codes, kind="stable")
        bounds = np.searchsorted(self.codes[order], np.arange(len(self.templates) + 1))
        return {code: order[bounds[code]:bounds[code + 1]] for code in range(len(self.templates))}


class TemplateCutter:
    """Cuts messages into template and numbers, for the grammar's NUMBER (see the module doc)."""

    def __init__(self, number_regex: str) -> None:
        self.enabled = number_regex == NUMBER

    def cut(self, buffer: np.ndarray, rows: np.ndarray, message_starts: np.ndarray,
            ends: np.ndarray) -> TemplateCut:
        """Cut the messages buffer[message_starts:ends] of the given rows; a message holding a
        byte outside ASCII (or NUL, the slot mark) is left out of the result's rows. Only for an
        enabled cutter."""
        text, offsets = _joined(buffer, message_starts, ends)
        outside = (text < _LOWEST) | (text > _HIGHEST)
        if outside.any():
            total = np.concatenate([[0], np.cumsum(outside)])
            clean = total[offsets[1:]] == total[offsets[:-1]]
            rows, message_starts, ends = rows[clean], message_starts[clean], ends[clean]
            text, offsets = _joined(buffer, message_starts, ends)
        starts, stops = slots(text)
        templates, numbers = _templates(text, offsets, starts, stops), _ranges_array(text, starts, stops)
        encoded = pc.dictionary_encode(templates, memory_pool=POOL)
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        first = np.searchsorted(starts, offsets[:-1])
        return TemplateCut(rows, codes, encoded.dictionary.to_pylist(), numbers, first)


def slots(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of every slot in text (messages, each after a newline): where the slot regex
    `(?=[-.0-9ni])(?<![\\w.\\-])NUMBER` matches, scanning left to right."""
    padded = np.concatenate([text, np.zeros(4, np.uint8)])  # room to look past the end
    digits = _run_lengths(_DIGIT[padded])
    at = np.flatnonzero(_START[text] & ~_WORD[np.concatenate([[NEWLINE], text[:-1]])])
    s = at + (padded[at] == ord("-"))  # after the sign
    word = padded[s].astype(np.uint32) << 16 | padded[s + 1].astype(np.uint32) << 8 | padded[s + 2]
    named = (word == _three(b"nan")) | (word == _three(b"inf"))
    whole = digits[s]
    point = np.where(whole > 0, s + whole, s)  # where a `.` may stand
    has_point = padded[point] == ord(".")
    fraction = np.where(has_point, digits[point + 1], 0)
    numeric = (whole > 0) | (has_point & (fraction > 0))
    end = np.where(has_point, point + 1 + fraction, point)
    sign = (padded[end] == ord("e")) & np.isin(padded[end + 1], list(b"+-"))
    exponent = digits[end + 1 + sign]
    end = np.where((padded[end] == ord("e")) & (exponent > 0), end + 1 + sign + exponent, end)
    end = np.where(named, s + 3, end)
    found = named | numeric
    at, end = at[found], end[found]
    # a slot cannot start inside the one before (`1e+5`: the 5 after the `+`)
    reach = np.maximum.accumulate(end)
    inside = np.zeros(len(at), bool)
    inside[1:] = at[1:] < reach[:-1]
    return at[~inside], end[~inside]


def _three(chars: bytes) -> int:
    return chars[0] << 16 | chars[1] << 8 | chars[2]


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """For each position, how many True values start there in a row."""
    n = len(mask)
    index = np.arange(n)
    next_false = np.where(~mask, index, n)
    next_false = np.minimum.accumulate(next_false[::-1])[::-1]
    return next_false - index


def _joined(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The byte ranges [starts, ends) of buffer, each after a newline, and where each newline is
    (one more: the end)."""
    text, offsets = _gather(buffer, starts - 1, ends)  # a message starts after `] `: room for it
    text[offsets[:-1]] = NEWLINE
    return text, offsets


def _templates(text: np.ndarray, offsets: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> pa.Array:
    """Each message with each of its slots replaced by one NUL."""
    depth = np.zeros(len(text) + 1, np.int64)
    np.add.at(depth, starts + 1, 1)
    np.add.at(depth, stops, -1)
    kept = np.cumsum(depth)[:-1] == 0  # outside every slot, or its first byte
    marked = text.copy()
    marked[starts] = 0
    out = marked[kept]
    newlines = (np.cumsum(kept) - 1)[offsets[:-1]]  # where each message's newline landed
    return _ranges_array(out, newlines + 1, np.append(newlines[1:], len(out)))


def _ranges_array(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """data[starts[i]:ends[i]] for each i as an arrow string array."""
    text, offsets = _gather(data, starts, ends)
    return pa.Array.from_buffers(pa.string(), len(starts), [
        None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(text)])


def _gather(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The byte ranges [starts, ends) of data side by side, and where each begins (one more: the end)."""
    lengths = ends - starts
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return data[np.arange(offsets[-1]) - np.repeat(offsets[:-1] - starts, lengths)], offsets
