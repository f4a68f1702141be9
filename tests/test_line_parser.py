"""The line parser's caches against their definition: every line parsed by lark on its own.

The parser serves most lines from caches (the head cache, the numpy template cut, the Python
template split); each is only a faster way to the records lark makes of a line. So a parser that
sends every line through lark, with no cache at all, must give the same tables on every real log.
"""
from __future__ import annotations

import pandas as pd
import pytest
from conftest import ALL_LOGS

import caffelog
from caffelog.parse import clock, scan
from caffelog.parse.feed import RecordFeed
from caffelog.parse.line_parser import MAX_PARSED, REPAIRED_PREFIX, LineParser
from caffelog.parse.shape import UNPARSED
from caffelog.source.chunks import iter_chunks
from caffelog.tables.caffe_log import build_log


class LarkLineByLine(LineParser):
    """Each line through lark, its fields read from lark's tokens: no cache, no slot."""

    def feed_chunk(self, chunk: bytes, first_line: int) -> int:
        cut = scan.cut(chunk)
        self.sink.clock.extend(*clock.line_times(cut.buffer, cut.starts))
        for i, (a, b) in enumerate(zip(cut.starts.tolist(), cut.ends.tolist())):
            got = self._by_lark(chunk[a:b].decode("utf-8", "replace"))
            if isinstance(got, str):
                self.sink.skip(first_line + i, got)
            else:
                self.sink.emit(*got, first_line + i)
        self.sink.add_blob_chunk(cut.starts[:0], cut.starts[:0], cut.starts[:0].astype(float))
        return len(cut.ends)

    def _by_lark(self, line: str) -> tuple[str, dict] | str:
        if not line.strip():
            return "empty"
        if len(line) > MAX_PARSED or "\x00" in line:
            return "damaged"
        shape = self._shape_for_line(line)
        if shape is UNPARSED and "] " in line and not self._prefix_re.match(line):
            shape = self._shape_for_line(REPAIRED_PREFIX + line.partition("] ")[2])
        return "unknown" if shape is UNPARSED else (shape.kind, dict(shape.consts))


def _read_by_lark(path) -> caffelog.CaffeLog:
    feed = RecordFeed(str(path))
    feed.parser = LarkLineByLine(feed.sink)
    for chunk in iter_chunks(path):
        feed.feed(chunk)
    return build_log(feed.sink, feed.n_lines, str(path))


@pytest.mark.parametrize("name", sorted(ALL_LOGS))
def test_the_caches_give_what_lark_gives_line_by_line(name):
    path = ALL_LOGS[name]
    want, got = _read_by_lark(path), caffelog.read_log(path, engine="memory")
    for table in ("blobs", "totals", "scalars", "net"):
        pd.testing.assert_frame_equal(getattr(got, table), getattr(want, table), obj=table)
    assert got.solvers == want.solvers
    assert got.skipped.count == want.skipped.count
    assert got.skipped.lines == want.skipped.lines
