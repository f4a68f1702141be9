"""scan.py, the vectorised cut, against its scalar definition and the grammar's NUMBER.

The hot path serves a line from the cache when its head (cut by numpy) was registered from a
line lark parsed (cut by scan.message_head), so the two cuts must agree on every line, and a
value is taken only if it is a NUMBER as the grammar defines it.
"""
from __future__ import annotations

import math
import re

import numpy as np
from conftest import REAL_LOGS
from hypothesis import given, settings
from hypothesis import strategies as st

from caffelog.parse import scan
from caffelog.parse.grammar import load_grammar

NUMBER = re.compile(load_grammar().get_terminal("NUMBER").pattern.to_regexp())

# lines built from the pieces that matter to the cut, in any order and number
PIECES = st.sampled_from(["] ", ": ", "]", ":", " ", "data", "[Forward] ", "x", "é", "1.5",
                          "-nan", "\x00", "\t", "I1122 17:34:56.638778  1567 net.cpp:593] "])
LINES = st.lists(st.lists(PIECES, max_size=12).map("".join), min_size=1, max_size=20)


def _heads(lines: list[str]) -> list[str | None]:
    chunk = "".join(line + "\n" for line in lines).encode()
    cut = scan.cut(chunk)
    assert len(cut.ends) == len(lines)
    return [cut.heads[c].decode() if c >= 0 else None for c in cut.head_codes]


@settings(max_examples=300, deadline=None)
@given(LINES)
def test_the_vector_cut_is_the_scalar_cut(lines):
    for line, head in zip(lines, _heads(lines)):
        want = scan.message_head(line)
        if want is not None and len(want.encode()) > scan.INLINE:
            assert head == want, line
        else:
            assert head is None, line


def test_the_cut_of_real_lines():
    lines = REAL_LOGS["nan_explode"].read_text().splitlines()
    heads = _heads(lines)
    assert heads[lines.index(next(line for line in lines if "[Forward] Layer ip1, top blob ip1" in line))] \
        == "    [Forward] Layer ip1, top blob ip1 data:"
    for line, head in zip(lines, heads):
        want = scan.message_head(line)
        assert head == (want if want is not None and len(want.encode()) > scan.INLINE else None)


VALUES = st.one_of(
    st.sampled_from(["0", "-0", "1.5", "3.14903e-05", "1e+10", "-nan", "nan", "inf", "-inf",
                     "NaN", "+1", "1E5", "Infinity", "1.2.3", "", "1_0", " 1", "e5", "-", ".",
                     "5.", ".5", "1e", "0x10", "nan1", "1234567890123"]),
    st.text(alphabet="0123456789.-+eaifn", max_size=14),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda v: f"{v:g}"),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=30))
def test_numbers_are_the_grammars_numbers(texts):
    chunk = "".join(f"x] a data: {t}\n" for t in texts).encode()
    cut = scan.cut(chunk)
    starts = cut.starts + len("x] a data: ")
    values, valid = scan.numbers(cut.buffer, starts, cut.ends)
    for text, value, ok in zip(texts, values, valid):
        fits = len(text) <= scan.INLINE
        assert ok == (fits and NUMBER.fullmatch(text) is not None), text
        if ok:
            want = float(text)
            assert (math.isnan(value) and math.isnan(want)) or value == want, text


def test_line_bounds_count_a_last_line_without_newline():
    buf = np.frombuffer(b"a\nbb\nc" + scan.PAD, np.uint8)
    starts, ends = scan.line_bounds(buf, 6)
    assert starts.tolist() == [0, 2, 5] and ends.tolist() == [1, 4, 6]
