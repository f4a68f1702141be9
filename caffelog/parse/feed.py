"""The one parse loop: chunks of lines in, records into a sink, lines counted.

Every engine (one process, each worker of the parallel one, the stream, a follower) feeds its
chunks through a RecordFeed, so line numbers and the "is this a Caffe log?" checks are the same
everywhere.
"""
from __future__ import annotations

from caffelog.errors import LogInputError
from caffelog.interrupt import raise_if_interrupted
from caffelog.parse import parallel
from caffelog.parse.line_parser import LineParser
from caffelog.parse.records import RecordSink

# After this many lines with nothing recognised, the input is not a Caffe log.
GIVE_UP_AFTER = 20_000


class RecordFeed:
    """A LineParser and the RecordSink it fills, with the count of lines fed so far."""

    def __init__(self, name: str, sink: RecordSink | None = None):
        self.name = name
        self.sink = sink if sink is not None else RecordSink()
        self.parser = LineParser(self.sink)
        self.n_lines = 0

    def feed(self, chunk: bytes) -> int:
        """Parse a chunk of whole lines (LF ends); returns how many lines it held."""
        raise_if_interrupted()
        n = self.parser.feed_chunk(chunk, self.n_lines + 1)
        self.n_lines += n
        return n

    def absorb(self, result: tuple) -> int:
        """Take in the records of the next byte range, parsed by a worker (parallel.parsed_ranges);
        returns how many lines it held."""
        raise_if_interrupted()
        n = parallel.absorb(self.sink, result, self.n_lines)
        self.n_lines += n
        return n

    def understood(self) -> bool:
        """Whether any line fed so far was understood."""
        return self.n_lines > self.sink.skipped_count

    def give_up_if_foreign(self) -> None:
        give_up_if_foreign(self.sink, self.n_lines, self.name)

    def check_understood(self) -> None:
        check_understood(self.sink, self.n_lines, self.name)


def give_up_if_foreign(sink: RecordSink, n_lines: int, name: str) -> None:
    """Stop early on a big input of which nothing was understood: it is not a Caffe log."""
    if n_lines >= GIVE_UP_AFTER and sink.skipped_count >= n_lines:
        raise LogInputError(f"{name}: not a Caffe log (no line of the first {n_lines} was understood)")


def check_understood(sink: RecordSink, n_lines: int, name: str) -> None:
    """LogInputError for an empty input or one of which no line was understood."""
    if n_lines == 0:
        raise LogInputError(f"{name}: empty input")
    if sink.skipped_count >= n_lines:
        raise LogInputError(f"{name}: not a Caffe log (no line was understood)")
