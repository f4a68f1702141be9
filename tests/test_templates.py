"""templates.py, the numpy template cut, against the line parser's slot regex.

The template cut serves a solver line when its template equals one lark compiled from a line
split by the slot regex, so on every ASCII message the two must find the same slots.
"""
from __future__ import annotations

import gzip

import numpy as np
import pytest
from conftest import ALL_LOGS
from hypothesis import given, settings
from hypothesis import strategies as st

from caffelog.parse import scan
from caffelog.parse.grammar import load_grammar, terminal_regex
from caffelog.parse.line_parser import LineParser
from caffelog.parse.records import RecordSink
from caffelog.parse.templates import TemplateCutter

SLOT_RE = LineParser(RecordSink())._slot_re
CUTTER = TemplateCutter(terminal_regex(load_grammar(), "NUMBER"))

PIECES = st.sampled_from(["1", "23", "-", ".", "e", "+", "nan", "inf", "n", "i", "a", "f", " ",
                          ",", "(", ")", "_", "x", "s/", "=", ": ", "-nan", "1e-05", "0.5",
                          "Iteration ", "\t", "\r", "é", "\x00"])
MESSAGES = st.lists(st.lists(PIECES, max_size=14).map("".join), min_size=1, max_size=12)


def _python_split(message: str) -> tuple[str, list[str]]:
    parts = SLOT_RE.split(message)
    return "\x00".join(parts[0::2]), parts[1::2]


def _numpy_split(messages: list[str]) -> dict[int, tuple[str, list[str]]]:
    chunk = "".join(f"I0101 00:00:00.000000 1 x.cpp:1] {m}\n" for m in messages).encode()
    cut = scan.cut(chunk)
    rows = np.arange(len(messages))
    found = CUTTER.cut(cut.buffer, rows, cut.message_starts, cut.ends)
    numbers = found.numbers.to_pylist()
    last = [*found.first[1:].tolist(), len(numbers)]
    return {int(row): (found.templates[code], numbers[a:b])
            for row, code, a, b in zip(found.rows, found.codes, found.first.tolist(), last)}


def test_the_cut_implements_the_grammars_number():
    assert CUTTER.enabled
    assert not TemplateCutter(r"-?[0-9]+").enabled


@settings(max_examples=400, deadline=None)
@given(MESSAGES)
def test_the_numpy_cut_is_the_slot_regex(messages):
    got = _numpy_split(messages)
    for i, message in enumerate(messages):
        if message.isascii() and "\x00" not in message:
            assert got[i] == _python_split(message), message
        else:
            assert i not in got, message  # left to the Python way


@pytest.mark.parametrize("name", sorted(ALL_LOGS))
def test_the_cut_of_real_lines(name):
    path = ALL_LOGS[name]
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", errors="replace") as f:
        messages = [line.rstrip("\n").partition("] ")[2] for line in f if "] " in line]
    got = _numpy_split(messages)
    assert len(got) > 0.9 * len(messages) > 10
    assert all(got[i] == _python_split(m) for i, m in enumerate(messages) if i in got)
