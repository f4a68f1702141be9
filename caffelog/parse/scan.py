"""The first, vectorised cut through a chunk of log bytes, before any line becomes a Python string.

A debug_info log is ~95% lines shaped `<prefix>] <head>: <value>` whose head repeats every
iteration. numpy finds the line ends and separators of a whole chunk at once; pyarrow
dictionary-encodes the heads in place (binary_view: no copy) and converts the values. The
parser then looks up each *distinct* head once (see parser.py), so per line no Python code runs
at all. What this cut defines is only a cache key: which lines the grammar already parsed the
shape of. Lines it cannot cut go to the grammar one by one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NEWLINE, BRACKET, COLON, SPACE = 10, ord("]"), ord(":"), 32
INLINE = 12  # binary_view keeps strings up to 12 bytes inside the view itself
PAD = b"\0" * 32  # room for the widest fixed-width look at a line start (clock.py)
# arrow's own allocator would keep what it frees for arrow; malloc gives it back to numpy
POOL = pa.system_memory_pool()

# the bytes a NUMBER token can hold (grammars/caffe.lark: -?(nan|inf|digits[.digits][e±digits]));
# pyarrow's cast rejects the malformed arrangements of these, and zero is the padding
_NUMBER_BYTE = np.zeros(256, bool)
_NUMBER_BYTE[list(b"0123456789.-+enaif\0")] = True


@dataclass
class Cut:
    """Where each line of a chunk is, and the head/value split of the lines that have one."""

    starts: np.ndarray  # first byte of each line
    ends: np.ndarray  # one past its last byte (the newline excluded)
    head_codes: np.ndarray  # index into heads, or -1: no `] ... : ` split
    heads: list[bytes]  # the distinct heads, e.g. b"    [Forward] Layer fc1, top blob fc1 data:"
    value_starts: np.ndarray  # first byte of the value (meaningful where head_codes >= 0)
    buffer: np.ndarray  # the chunk's bytes, zero padded
    message_starts: np.ndarray  # first byte after the line's first `] `, or -1: none


def message_head(line: str) -> str | None:
    """The head a line is looked up by: after the first `] `, up to and including the last `:`
    followed by a space. The scalar twin of cut(), used when a head is registered."""
    msg = line.partition("] ")[2]
    colon = msg.rfind(": ")
    return msg[:colon + 1] if colon >= 0 else None


def line_bounds(buf: np.ndarray, size: int, newlines: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the lines in buf[:size] (newlines: where its newlines are, if
    known); a last line without newline counts."""
    ends = np.flatnonzero(buf[:size] == NEWLINE) if newlines is None else newlines
    if size and (not len(ends) or ends[-1] != size - 1):
        ends = np.append(ends, size)
    starts = np.empty_like(ends)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    return starts, ends


def _followed_by_space(buf: np.ndarray, size: int, byte: int) -> np.ndarray:
    pos = np.flatnonzero(buf[:size] == byte)
    return pos[buf[pos + 1] == SPACE]


def cut(chunk: bytes, newlines: np.ndarray | None = None) -> Cut:
    """Split every line of chunk (complete lines, LF only) into head and value where it can
    (newlines: where its newlines are, if known)."""
    size = len(chunk)
    buf = np.frombuffer(chunk + PAD, np.uint8)
    starts, ends = line_bounds(buf, size, newlines)
    n = len(ends)
    brackets = _followed_by_space(buf, size, BRACKET)
    colons = _followed_by_space(buf, size, COLON)
    # the first `] ` at or after the line start, the last `: ` before the line end
    first = np.searchsorted(brackets, starts)
    last = np.searchsorted(colons, ends) - 1
    if not len(brackets):
        return Cut(starts, ends, np.full(n, -1, np.int32), [], ends, buf, np.full(n, -1))
    bracket = brackets[np.minimum(first, len(brackets) - 1)]
    has_message = (first < len(brackets)) & (bracket < ends)
    message_starts = np.where(has_message, bracket + 2, -1)
    if not len(colons):
        return Cut(starts, ends, np.full(n, -1, np.int32), [], ends, buf, message_starts)
    colon = colons[np.maximum(last, 0)]
    head_start, head_end = bracket + 2, colon + 1
    ok = (has_message & (last >= 0) & (colon >= head_start)
          & (head_end - head_start > INLINE))
    codes, heads = _encode_heads(chunk, buf, head_start, np.where(ok, head_end - head_start, 0))
    codes[~ok] = -1
    return Cut(starts, ends, codes, heads, colon + 2, buf, message_starts)


def _encode_heads(chunk: bytes, buf: np.ndarray, start: np.ndarray, length: np.ndarray):
    """Dictionary-encode the byte ranges [start, start + length) of chunk without copying them."""
    n = len(start)
    views = np.zeros((n, 4), np.int32)
    views[:, 0] = length
    prefix = np.lib.stride_tricks.sliding_window_view(buf, 4)[start]
    views[:, 1] = prefix.view(np.int32)[:, 0]
    views[:, 3] = start
    views[length == 0] = 0  # empty: an inline view of nothing
    heads = pa.Array.from_buffers(pa.binary_view(), n, [None, pa.py_buffer(views),
                                                        pa.py_buffer(chunk)])
    encoded = pc.dictionary_encode(heads, memory_pool=POOL)
    indices = encoded.indices
    codes = np.frombuffer(indices.buffers()[1], np.int32, n, indices.offset * 4).copy()
    return codes, encoded.dictionary.to_pylist()


def numbers(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The floats in buf[starts:ends] and a mask of which ranges held a NUMBER at all; the values
    where the mask is False are meaningless."""
    length = ends - starts
    window = np.lib.stride_tricks.sliding_window_view(buf, INLINE)[starts].copy()
    window[np.arange(INLINE) >= length[:, None]] = 0
    valid = ((length > 0) & (length <= INLINE) & _NUMBER_BYTE[window].all(axis=1)
             & (window[:, 0] != ord("+")))
    views = np.zeros((len(starts), 4), np.int32)
    views[:, 0] = np.where(valid, length, 1)
    views[:, 1:] = window.view(np.int32)
    views[~valid, 1] = ord("0")  # an invalid range is read as "0" and masked out
    texts = pa.Array.from_buffers(pa.string_view(), len(starts), [None, pa.py_buffer(views)])
    try:
        values = pc.cast(texts, pa.float64(), memory_pool=POOL).to_numpy()
    except pa.ArrowInvalid:  # a malformed arrangement of number bytes (`1.2.3`): one by one
        values, valid = _one_by_one(texts.to_pylist(), valid)
    return values, valid


def _one_by_one(texts: list[str], valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.zeros(len(texts))
    valid = valid.copy()
    for i, text in enumerate(texts):
        try:
            values[i] = pc.cast(pa.array([text], pa.string()), pa.float64())[0].as_py()
        except pa.ArrowInvalid:
            valid[i] = False
    return values, valid
