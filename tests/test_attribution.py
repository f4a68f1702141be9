"""Attribution on real logs, checked against what the log text says line by line.

The expectations are worked out here from the text alone (as grep would), never from caffelog:
Caffe prints a displayed train iteration's debug lines before the `Iteration N (...), loss`
line that names it, and a test's lines between `Iteration N, Testing net (#k)` and its outputs.
"""
from __future__ import annotations

import gzip
import re

import numpy as np
import pytest
from conftest import REAL_LOGS, parsed

from caffelog.parse.feed import RecordFeed
from caffelog.source.chunks import iter_chunks
from caffelog.tables import build
from caffelog.tables.attribution import place_rows

LOSS = re.compile(r"\] Iteration (\d+)(?: \([^)]*\))?, loss = ")
TESTING = re.compile(r"\] Iteration (\d+), Testing net \(#(\d+)\)")
TEST_OUTPUT = re.compile(r"\]\s+Test net output #")
BLOB = re.compile(r"\]\s+\[(Forward|Backward)\] (?!All net params)")


def expected_places(path) -> dict[int, tuple[int, bool, int]]:
    """line -> (iteration, in a test, test net) for every [Forward]/[Backward] line the text
    places: a test's lines by their `Testing net` line, train lines by the next loss line."""
    lines = path.read_text(errors="replace").splitlines()
    places: dict[int, tuple[int, bool, int]] = {}
    waiting: list[int] = []  # train lines before their loss line
    test: tuple[int, int] | None = None
    for number, text in enumerate(lines, 1):
        if m := TESTING.search(text):
            test = (int(m.group(1)), int(m.group(2)))
        elif TEST_OUTPUT.search(text):
            test = None
        elif m := LOSS.search(text):
            places.update({n: (int(m.group(1)), False, -1) for n in waiting})
            waiting = []
        elif BLOB.search(text):
            if test is not None:
                places[number] = (test[0], True, test[1])
            else:
                waiting.append(number)
    return places


@pytest.mark.parametrize("name", ["nan_explode", "iter_size_shared", "healthy_conv"])
def test_every_row_is_placed_where_the_text_puts_it(name):
    path = REAL_LOGS[name]
    records = RecordFeed(name)
    for chunk in iter_chunks(path):
        records.feed(chunk)
    sink = records.sink
    timeline = build.timeline_of(sink, build.solver_settings(sink.dumps))
    lines = np.unique(sink.blob_columns()[0])
    placed = place_rows(timeline, lines)
    want = expected_places(path)
    assert len(want) > 500 and set(want) <= set(lines.tolist())
    got = {int(n): (int(i), bool(t), int(k) if t else -1)
           for n, i, t, k in zip(lines, placed.iteration, placed.test, placed.test_net)}
    assert {n: got[n] for n in want} == want
    assert not placed.inferred[np.isin(lines, list(want))].any()


def test_rows_after_the_last_loss_line_are_inferred_from_display():
    """A log cut mid-iteration (long_run's first 40,000 lines): its last debug lines have no
    loss line after them; their iteration is the last loss line's plus `display`, and says so."""
    text = gzip.decompress(REAL_LOGS["long_run_head"].read_bytes()).decode().splitlines()
    last_loss = max(n for n, t in enumerate(text, 1) if LOSS.search(t))
    after = [n for n, t in enumerate(text, 1) if n > last_loss and BLOB.search(t)]
    assert after, "the cut log ends with debug lines after its last loss line"
    blobs = parsed("long_run_head").blobs
    rows = blobs[blobs["line"].isin(after) & (blobs["phase"] == "train")]
    display = parsed("long_run_head").solver["display"]
    last_iteration = int(LOSS.search(text[last_loss - 1]).group(1))
    assert len(rows) and rows["inferred"].all()
    assert set(rows["iteration"]) == {last_iteration + display}


def test_iter_size_passes_are_batches_in_text_order():
    """iter_size 2: each displayed iteration prints two forward/backward passes; the text's
    second `[Forward]` line of the first layer starts batch 1."""
    path = REAL_LOGS["iter_size_shared"]
    assert parsed("iter_size_shared").solver["iter_size"] == 2
    text = path.read_text().splitlines()
    blobs = parsed("iter_size_shared").blobs.set_index("line")
    first_head = None  # the pass's first line, up to its value
    seen = 0
    checked = 0
    for number, line in enumerate(text, 1):
        if TESTING.search(line):
            seen = -1 << 30  # test batches are not iter_size passes
        elif LOSS.search(line) or TEST_OUTPUT.search(line):
            seen = 0
        elif (m := re.search(r"\[Forward\] Layer .*:", line)) and seen >= 0:
            first_head = first_head or m.group(0)
            if m.group(0) == first_head:
                seen += 1
                assert int(blobs.loc[number, "batch"]) == seen - 1, number
                checked += seen == 2
    assert checked >= 8  # a second pass in each displayed iteration
