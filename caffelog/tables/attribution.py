"""Which segment, iteration, phase and batch each value belongs to.

Caffe prints a train iteration's debug lines *before* the `Iteration N ... loss` line that names
them, test lines between `Iteration N, Testing net (#k)` and that test's outputs, and legacy
[Update] lines after `Iteration N, lr`. So every row is placed by the solver lines around it:
the events. Rows only carry their line number; the events are few (a handful per iteration), so
all of this is a few numpy searchsorted calls over the rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from caffelog.parse import kinds
from caffelog.parse.clock import LineClock

TRAIN, TEST_START, TEST_END = 0, 1, 2
_TEST_END_KINDS = {kinds.TEST_LOSS, kinds.TEST_SCORE, kinds.TEST_INTERRUPTED}


@dataclass
class Timeline:
    """The events of a log as sorted arrays."""

    segment_lines: np.ndarray      # line of each `Initializing solver` (a start-up)
    loss_lines: np.ndarray         # `Iteration N ..., loss =` lines
    loss_iters: np.ndarray
    lr_lines: np.ndarray           # `Iteration N, lr =` lines
    lr_iters: np.ndarray
    marker_lines: np.ndarray       # phase markers: train / test start / test end
    marker_codes: np.ndarray
    marker_iters: np.ndarray
    marker_nets: np.ndarray
    display: list[int]             # solver `display` per segment (1 when unknown)
    clock: LineClock | None = None  # the time of each line, where the log has one

    def segment_of(self, lines: np.ndarray) -> np.ndarray:
        seg = np.searchsorted(self.segment_lines, lines, side="right").astype(np.int32)
        seg -= 1
        return np.maximum(seg, 0, out=seg)

    def seconds(self, lines: np.ndarray, segments: np.ndarray) -> np.ndarray:
        """Seconds since each row's segment began (NaN where the log has no time)."""
        if self.clock is None:
            return np.full(len(lines), np.nan)
        return self.clock.since_start(lines, segments)

    def __post_init__(self) -> None:
        self.loss_segments = self.segment_of(self.loss_lines)
        self.lr_segments = self.segment_of(self.lr_lines)


def build_timeline(events: list[tuple], solver, displays: list[int],
                   span: tuple[int, int] | None = None) -> Timeline:
    """Sort the solver events into the arrays the row attribution needs.

    events holds the rare events as (line, kind, fields); solver (records.SolverColumns) the
    per-iteration loss, lr and net-output lines as columns. With span=(lo, hi) only the events
    that can place rows of lines lo..hi are kept (with one neighbour each side), so a streamed
    10 GB log does not rebuild millions of markers at every flush."""
    generic, seg = [], []
    for line, kind, fields in events:
        if kind == kinds.SOLVER_PARAMS:
            seg.append(line)
            generic.append((line, TRAIN, -1, -1))
        elif kind == kinds.TESTING:
            generic.append((line, TEST_START, fields["iteration"], fields["test_net"]))
        elif kind in _TEST_END_KINDS:
            generic.append((line, TEST_END, -1, -1))
    g = np.array(generic, dtype=np.int64).reshape(-1, 4)
    if span is not None:
        a, b = _span(g[:, 0], span)
        g = np.concatenate([g[g[:, 0] == s_] for s_ in seg] + [g[a:b]]) if seg else g[a:b]
        g = g[np.unique(g[:, 0], return_index=True)[1]]
    loss = _columns(solver.loss_line, (solver.loss_iter,), span)
    lr = _columns(solver.lr_line, (solver.lr_iter,), span)
    out = _columns(solver.out_line, (solver.out_test,), span)
    lines = np.concatenate([g[:, 0], loss[0], lr[0], out[0]])
    codes = np.concatenate([g[:, 1], np.full(len(loss[0]) + len(lr[0]), TRAIN),
                            np.where(out[1].astype(bool), TEST_END, TRAIN)])
    pad = np.full(len(lines) - len(g), -1)
    iters, nets = np.concatenate([g[:, 2], pad]), np.concatenate([g[:, 3], pad])
    order = np.argsort(lines, kind="stable")
    return Timeline(np.array(seg, dtype=np.int64), loss[0], loss[1], lr[0], lr[1], lines[order],
                    codes[order], iters[order], nets[order], displays or [1])


def _span(lines: np.ndarray, span: tuple[int, int]) -> tuple[int, int]:
    lo, hi = span
    return max(int(np.searchsorted(lines, lo)) - 1, 0), int(np.searchsorted(lines, hi, "right")) + 1


def _ints(column) -> np.ndarray:
    return np.asarray(column, dtype=np.int64)


def _columns(lines_column, others, span) -> list[np.ndarray]:
    """Copies of an event column family (line column first), sliced to the span if any."""
    lines = _ints(lines_column)
    a, b = _span(lines, span) if span is not None else (0, len(lines))
    return [lines[a:b]] + [_ints(c)[a:b] for c in others]


@dataclass
class Placement:
    """Where rows belong. iteration is -1 where the log cannot tell (inferred is then True
    only if a guess was possible)."""

    segment: np.ndarray
    iteration: np.ndarray
    test: np.ndarray
    test_net: np.ndarray
    inferred: np.ndarray

    FIELDS = ("segment", "iteration", "test", "test_net", "inferred")


def place_rows(t: Timeline, lines: np.ndarray, is_update: np.ndarray | None = None,
               rows_at_once: int = 1 << 18) -> Placement:
    """Attribute rows (given by line number) to segment, iteration and phase.

    Done `rows_at_once` rows at a time: the searches' temporaries stay small however long the log."""
    n = len(lines)
    if n <= rows_at_once:
        return _place(t, lines, is_update)
    out = None
    for i in range(0, n, rows_at_once):
        part = _place(t, lines[i:i + rows_at_once], None if is_update is None else is_update[i:i + rows_at_once])
        if out is None:
            out = Placement(*(np.empty(n, getattr(part, f).dtype) for f in Placement.FIELDS))
        for f in Placement.FIELDS:
            getattr(out, f)[i:i + rows_at_once] = getattr(part, f)
    assert out is not None
    return out


def _place(t: Timeline, lines: np.ndarray, is_update: np.ndarray | None) -> Placement:
    n = len(lines)
    segment = t.segment_of(lines)
    iteration = np.full(n, -1, dtype=np.int64)
    test_net = np.full(n, -1, dtype=np.int64)
    test = np.zeros(n, dtype=bool)
    if len(t.marker_lines):  # phase: the last marker before the row decides
        m = np.searchsorted(t.marker_lines, lines)
        m -= 1
        has = m >= 0
        np.maximum(m, 0, out=m)
        test = has & (t.marker_codes[m] == TEST_START)
        iteration[test] = t.marker_iters[m[test]]
        test_net[test] = t.marker_nets[m[test]]
        del m, has
    train = ~test
    placed = np.zeros(n, dtype=bool)
    if len(t.loss_lines):  # train forward/backward: the next `Iteration N ..., loss` line
        nxt = np.searchsorted(t.loss_lines, lines)
        ok = train & (nxt < len(t.loss_lines))
        np.minimum(nxt, len(t.loss_lines) - 1, out=nxt)
        ok &= t.loss_segments[nxt] == segment
        iteration[ok] = t.loss_iters[nxt[ok]]
        placed = ok
        del nxt
    if is_update is not None and is_update.any():  # [Update]: the previous `Iteration N, lr` line
        up = np.zeros(n, dtype=bool)
        if len(t.lr_lines):
            prev = np.searchsorted(t.lr_lines, lines) - 1
            up = train & is_update & (prev >= 0)
            np.maximum(prev, 0, out=prev)
            up &= t.lr_segments[prev] == segment
            iteration[up] = t.lr_iters[prev[up]]
        placed = np.where(is_update, up, placed)
    inferred = train & ~placed
    if inferred.any():
        iteration[inferred] = _infer_iterations(t, lines[inferred], segment[inferred])
    return Placement(segment, iteration, test, test_net, inferred & (iteration >= 0))


def _infer_iterations(t: Timeline, lines: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Rows after the last `Iteration` line (a killed run): last iteration seen + display."""
    prev = np.searchsorted(t.loss_lines, lines) - 1
    out = np.full(len(lines), -1, dtype=np.int64)
    if not len(t.loss_lines):
        return out
    pc = np.maximum(prev, 0)
    same = (prev >= 0) & (t.loss_segments[pc] == segment)
    display = np.array([t.display[min(s, len(t.display) - 1)] for s in segment], dtype=np.int64)
    out[same] = t.loss_iters[pc[same]] + display[same]
    return out


def batch_index(block_change: np.ndarray, keys: np.ndarray, is_forward: np.ndarray | None = None,
                kind: np.ndarray | None = None, rows_at_once: int = 1 << 18) -> np.ndarray:
    """The pass index of each row inside its block.

    Rows of one block (same segment, phase, iteration, test net, update-or-not) are contiguous,
    and within one forward/backward pass every (direction, layer, role, blob, quantity) key
    occurs once, always in the same order. A first estimate starts a pass at a row that repeats a
    key of the current pass, carries the key that starts most blocks of its kind, or is a
    forward value right after a backward one (iter_size). From it each key's usual position in
    a pass is learned, and the final passes start wherever that position drops (or a key
    repeats). So iter_size k gives k train passes, test_iter k gives k test batches, and lost
    lines (damage) move no other row to another batch.

    Worked out `rows_at_once` rows at a time (ranges start at block starts, and passes never cross
    blocks), so the temporaries stay small however long the log; the two run-wide statistics
    (the key that opens most blocks, each key's usual position) are gathered first.
    """
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    kind = np.zeros(n, dtype=np.int8) if kind is None else kind
    block_first = np.flatnonzero(block_change)
    openers = _opener_keys(keys[block_first], kind[block_first])
    width = int(keys.max()) + 1
    batch = np.zeros(n, dtype=np.int32)
    positions: dict[int, int] = {}  # slot * POSITIONS + position -> count, over multi-pass rows
    pending = []
    for a, b in _block_ranges(block_first, n, rows_at_once):
        w = _BlockRange(block_change[a:b], keys[a:b], kind[a:b],
                    None if is_forward is None else is_forward[a:b], openers, width)
        if len(w.rows):
            for combo, count in zip(*np.unique(w.slot * POSITIONS + w.position, return_counts=True)):
                positions[int(combo)] = positions.get(int(combo), 0) + int(count)
            pending.append((a, b))
        else:
            batch[a:b] = w.batch(w.starts)
    usual = _usual_positions(positions)
    for a, b in pending:  # blocks of several passes: start a pass where a key's position drops
        w = _BlockRange(block_change[a:b], keys[a:b], kind[a:b],
                    None if is_forward is None else is_forward[a:b], openers, width)
        batch[a:b] = w.batch(w.final_starts(usual))
    return batch


POSITIONS = 1 << 32  # a pass is never this long: slot * POSITIONS + position is unique


def _opener_keys(first_keys: np.ndarray, first_kinds: np.ndarray) -> dict[int, int]:
    """Per block kind, the key that opens most blocks."""
    return {int(k): int(np.bincount(first_keys[first_kinds == k]).argmax())
            for k in np.unique(first_kinds)}


def _block_ranges(block_first: np.ndarray, n: int, rows_at_once: int):
    """Row ranges of about `rows_at_once` rows that start and end at block starts."""
    a = 0
    while a < n:
        i = np.searchsorted(block_first, a + rows_at_once)
        b = int(block_first[i]) if i < len(block_first) else n
        if b <= a:  # one block longer than the rows_at_once
            j = np.searchsorted(block_first, a, side="right")
            b = int(block_first[j]) if j < len(block_first) else n
        yield a, b
        a = b


def _usual_positions(counts: dict[int, int]) -> dict[int, float]:
    """Each slot's median position (NaN when seen once: damage has no say), from counts."""
    by_slot: dict[int, list[tuple[int, int]]] = {}
    for combo, count in counts.items():
        by_slot.setdefault(combo // POSITIONS, []).append((combo % POSITIONS, count))
    usual = {}
    for slot, pairs in by_slot.items():
        pairs.sort()
        values = np.repeat([p for p, _ in pairs], [c for _, c in pairs])
        usual[slot] = float(np.median(values)) if len(values) >= 2 else np.nan
    return usual


class _BlockRange:
    """One row range of batch_index: its blocks, the first estimate of pass starts, and the rows
    of its multi-pass blocks with their slot and position."""

    def __init__(self, block_change, keys, kind, is_forward, openers, width):
        self.block_change, self.kind = block_change, kind
        self.block_no = np.cumsum(block_change, dtype=np.int32) - 1
        self.block_first = np.flatnonzero(block_change)
        self.prev = _previous_same_key(self.block_no, keys)
        opener = np.zeros(len(keys), dtype=bool)
        for k, key in openers.items():
            opener |= (kind == k) & (keys == key)
        if is_forward is not None and len(keys) > 1:
            opener[1:] |= is_forward[1:] & ~is_forward[:-1]
        opener &= ~block_change
        self.starts = _pass_starts(self.prev, opener, self.block_first)
        multi = np.zeros(len(self.block_first), dtype=bool)
        multi[self.block_no[self.starts | (self.prev >= 0)]] = True
        self.rows = np.flatnonzero(multi[self.block_no])
        marks = np.flatnonzero(self.starts | block_change)  # where each pass begins
        self.position = self.rows - marks[np.searchsorted(marks, self.rows, side="right") - 1]
        self.slot = kind[self.rows].astype(np.int64) * width + keys[self.rows]

    def final_starts(self, usual: dict[int, float]) -> np.ndarray:
        rank = pd.Series([usual.get(s, np.nan) for s in self.slot.tolist()], dtype=float)
        blocks = self.block_no[self.rows]
        before = rank.groupby(blocks).ffill().groupby(blocks).shift(1)  # last known rank in block
        drop = np.zeros(len(self.block_change), dtype=bool)
        drop[self.rows] = (rank < before - 1.5).to_numpy()  # a pass boundary falls far back
        drop &= ~self.block_change
        return _pass_starts(self.prev, drop, self.block_first)  # only multi-pass rows start one

    def batch(self, starts: np.ndarray) -> np.ndarray:
        batch = np.cumsum(starts, dtype=np.int32)
        batch -= batch[self.block_first][self.block_no]
        return batch



def _previous_same_key(block_no: np.ndarray, keys: np.ndarray, rows_at_once: int = 1 << 18) -> np.ndarray:
    """For each row, the previous row of its block with the same key (-1 if none).

    Blocks never straddle a rows_at_once of about `rows_at_once` rows, so the sort's temporaries stay small
    however long the log."""
    n = len(keys)
    prev = np.full(n, -1, dtype=np.int32 if n < 2**31 else np.int64)
    width = int(keys.max()) + 1
    start = 0
    while start < n:
        end = n if start + rows_at_once >= n else int(np.searchsorted(block_no, block_no[start + rows_at_once]))
        if end <= start:  # one block longer than the rows_at_once: take it whole
            end = int(np.searchsorted(block_no, block_no[start], side="right"))
        combo = (block_no[start:end].astype(np.int64) - int(block_no[start])) * width + keys[start:end]
        order = np.argsort(combo, kind="stable")
        ranked = combo[order]
        same = ranked[1:] == ranked[:-1]
        prev[order[1:][same] + start] = order[:-1][same] + start
        start = end
    return prev


def _pass_starts(prev: np.ndarray, opener: np.ndarray, block_first: np.ndarray) -> np.ndarray:
    """Rows that open a pass: an opener, or a key already seen since the current pass began."""
    starts = np.zeros(len(prev), dtype=bool)
    candidates = np.flatnonzero((prev >= 0) | opener)
    if len(candidates):
        block_start = block_first[np.searchsorted(block_first, candidates, side="right") - 1]
        pass_start, block = -1, -1
        for i, p, b, o in zip(candidates.tolist(), prev[candidates].tolist(),
                              block_start.tolist(), opener[candidates].tolist()):
            if b != block:
                block, pass_start = b, b
            if o or p >= pass_start:
                starts[i] = True
                pass_start = i
    return starts
