"""Lines -> records, with the lark grammar as the only definition of the language.

Parsing every line with lark would run at about 1 MB/s. Instead each distinct line *shape* is
parsed once and remembered in two caches, and a chunk of lines goes three ways:

* by head (~95% of a debug_info log): scan.cut() splits every line of the chunk into head and
  value at once; a head such as ``    [Forward] Layer conv1, top blob conv1 data:`` that lark
  parsed before (the head cache) makes its lines rows without any per-line Python.
* by template: the other lines' messages are split into template and numbers; lark's token
  positions told, the first time, which number feeds which field (the template cache), so
  ``Iteration 7, lr = 0.01`` and ``Iteration 8, lr = 0.005`` share one parse. The frequent
  stateless kinds (loss, lr, net outputs, totals) are cut by numpy (templates.py) and stored a
  column at a time; the rest are split by one regex pass over the chunk's leftover lines.
* by lark: a new shape, parsed by lark (which also fills both caches).

A shape whose fields cannot be told apart from its slots (a layer called ``fc-1e5``...) is parsed
by lark line by line: correct, only slower. Lines lark rejects are counted as skipped.
"""
from __future__ import annotations

import re
from itertools import accumulate

import lark
import numpy as np

from caffelog.parse import clock, scan
from caffelog.parse.grammar import LINE, load_grammar, terminal_regex
from caffelog.parse.kinds import COLUMNAR_KINDS
from caffelog.parse.records import RecordSink
from caffelog.parse.shape import (
    PER_LINE,
    UNPARSED,
    Shape,
    converter,
    flatten,
    named_tokens,
    trailing_value_only,
)
from caffelog.parse.solver_lines import SolverLineColumns
from caffelog.parse.templates import TemplateCutter

# A Caffe line is never this long; longer ones are skipped as damaged without being parsed,
# which keeps the time linear for hostile input.
MAX_PARSED = 1 << 16
# distinct new heads per chunk worth a trial parse (a log shows a few hundred in all)
LEARN_PER_CHUNK = 256
LEARN_SINGLE_PER_CHUNK = 16  # of the heads seen on one line of the chunk only
MAX_TEMPLATES = 100_000  # the template caches stop growing here (hostile input)
UNKNOWN = -2
CUT_LINES = 1 << 18  # the most lines one vectorised cut holds (a debug_info chunk has ~40,000)
MAX_HEADS = 1_000_000  # the head cache stops growing here (hostile input)
REPAIRED_PREFIX = "I0101 00:00:00.000000 0 repaired:0] "  # a GLOG_PREFIX for a damaged one


class LineParser:
    """Feeds lines through the shape caches into a RecordSink."""

    def __init__(self, sink: RecordSink):
        self.sink = sink
        self.lark = load_grammar()
        prefix = terminal_regex(self.lark, "PREFIX")
        number = terminal_regex(self.lark, "NUMBER")
        self._prefix_re = re.compile(prefix)
        # a number is a slot only where it is a token of its own (conv1 keeps its 1)
        self._slot_re = re.compile(rf"(?=[-.0-9ni])(?<![\w.\-])({number})")
        self._by_head: dict[bytes, int] = {}
        self._by_template: dict[tuple[bool, str], Shape] = {}
        self._by_glog_template: dict[str, Shape] = {}
        self._templates = TemplateCutter(number)
        self._not_columnar: set[str] = set()  # templates learnt once that the cut cannot serve
        self.lark_calls = 0

    # -- by head -----------------------------------------------------------------------
    def feed_chunk(self, chunk: bytes, first_line: int) -> int:
        """Parse a chunk of complete lines (LF ends) whose first line is number first_line
        (1-based); returns how many lines it held. A chunk of very many short lines (a flood of
        blank lines) is cut in pieces of CUT_LINES lines: the per-line arrays of one cut cost
        ~100 bytes a line, and that must not grow with the junk."""
        newlines = np.flatnonzero(np.frombuffer(chunk, np.uint8) == scan.NEWLINE)
        if len(newlines) <= CUT_LINES:
            return self._feed_piece(chunk, first_line, newlines)
        ends = newlines[CUT_LINES - 1::CUT_LINES] + 1
        n, start = 0, 0
        for end in [*ends.tolist(), len(chunk)]:
            if end > start:
                n += self._feed_piece(chunk[start:end], first_line + n)
            start = end
        return n

    def _feed_piece(self, chunk: bytes, first_line: int, newlines: np.ndarray | None = None) -> int:
        """feed_chunk for at most CUT_LINES lines (newlines: where they end, if known).

        scan.cut() splits every line into head and value at once; each distinct head is looked up
        in the head-cache cache once, and the hits become rows without a Python string per line.
        The rest go through the template cache (_parse_missed), in order.
        """
        cut = scan.cut(chunk, newlines)
        n = len(cut.ends)
        self.sink.clock.extend(*clock.line_times(cut.buffer, cut.starts))
        lookup = self._lookup(cut.heads)
        if (lookup == UNKNOWN).any():
            lookup = self._learn_heads(chunk, cut, lookup)
        keys = lookup[cut.head_codes]
        hits = np.flatnonzero(keys >= 0)
        values, valid = scan.numbers(cut.buffer, cut.value_starts[hits], cut.ends[hits])
        hits, keys, values = hits[valid], keys[hits][valid], values[valid]
        if len(hits) < n:
            missed = cut.ends > cut.starts  # empty lines are counted, never made strings
            if not missed.all():
                self.sink.skip_many(np.flatnonzero(~missed) + first_line, "empty")
            missed[hits] = False
            batch = SolverLineColumns()
            rows = self._serve_templates(chunk, cut, np.flatnonzero(missed), first_line, batch)
            texts = [chunk[a:b].decode("utf-8", "replace")
                     for a, b in zip(cut.starts[rows].tolist(), cut.ends[rows].tolist())]
            self._parse_missed(texts, (rows + first_line).tolist(), batch)
        self.sink.add_blob_chunk(hits + first_line, keys, values)  # also the slow path's rows
        return n

    def _learn_heads(self, chunk: bytes, cut: scan.Cut, lookup: np.ndarray) -> np.ndarray:
        """Teach the head cache the heads this chunk shows for the first time, from their first line,
        so that the rest of the chunk is served by it too. A head whose line is understood but
        cannot be served (a solver line such as `Train net output #0:`) is remembered as -1."""
        codes, first, counts = np.unique(cut.head_codes, return_index=True, return_counts=True)
        new = np.flatnonzero(lookup[:-1] == UNKNOWN)
        # a head on one line only is most often a solver line's (its iteration in it): such heads
        # are learnt only a few at a time, blob heads (repeated every iteration) first
        repeated = np.isin(new, codes[counts > 1])
        unknown = {*new[repeated][:LEARN_PER_CHUNK].tolist(),
                   *new[~repeated][:LEARN_SINGLE_PER_CHUNK].tolist()}
        for code, i in zip(codes.tolist(), first.tolist()):
            if code not in unknown:
                continue
            line = chunk[cut.starts[i]:cut.ends[i]].decode("utf-8", "replace")
            if not self._learn(line) and len(self._by_head) < MAX_HEADS:
                self._by_head[cut.heads[code]] = -1
        return self._lookup(cut.heads)

    def _lookup(self, heads: list[bytes]) -> np.ndarray:
        """Level-1 key of each head (-1: not served, UNKNOWN: never seen), plus -1 for `no head`."""
        get = self._by_head.get
        return np.array([get(head, UNKNOWN) for head in heads] + [-1], np.int32)

    # -- by template: lines of a template seen before ---------------------------------------
    def _serve_templates(self, chunk: bytes, cut: scan.Cut, rows: np.ndarray, first_line: int,
                         batch: SolverLineColumns) -> np.ndarray:
        """Serve the missed lines of known columnar templates (solver lines) from the template cut,
        a column at a time; returns the rows left for _parse_missed. A template seen on two or more
        lines of the chunk but not yet known is learnt from its first line."""
        starts, ends, messages = cut.starts[rows], cut.ends[rows], cut.message_starts[rows]
        fits = (messages > starts + 2) & (ends - starts <= MAX_PARSED)
        if not self._templates.enabled or not fits.any():
            return rows
        found = self._templates.cut(cut.buffer, rows[fits], messages[fits], ends[fits])
        served = np.zeros(len(found.rows), bool)
        learnt = 0
        for code, members in found.group_rows().items():
            template = found.templates[code]
            shape = self._by_glog_template.get(template)
            if (shape is None and len(members) > 1 and learnt < LEARN_PER_CHUNK
                    and template not in self._not_columnar):
                learnt += 1
                i = found.rows[members[0]]
                self._understand(chunk[cut.starts[i]:cut.ends[i]].decode("utf-8", "replace"))
                shape = self._by_glog_template.get(template)
                if shape is None and len(self._not_columnar) < MAX_TEMPLATES:
                    self._not_columnar.add(template)  # not a shape the template cut serves
            if shape is not None and shape.kind in COLUMNAR_KINDS:
                lines = found.rows[members] + first_line
                served[members] = batch.add_template(shape, lines, found.numbers, found.first[members])
        return np.setdiff1d(rows, found.rows[served], assume_unique=True)

    def _parse_missed(self, texts: list[str], numbers: list[int], batch: SolverLineColumns) -> None:
        """The lines the head cache and the template cut missed, in order. One regex pass over all
        their messages at once gives each line's template and numbers; a known template gives
        fields without lark, and the frequent solver kinds are stored a column at a time
        (SolverLineColumns), with those the template cut served."""
        shapes: list[Shape | None] = []
        if texts:
            messages = [text.partition("] ")[2] for text in texts]
            joined = "\n".join(messages)
            if "\x00" in joined:  # NUL would be taken for a slot: such lines go the slow way
                joined = "\n".join(m if "\x00" not in m else "" for m in messages)
            parts = self._slot_re.split(joined)
            templates = "\x00".join(parts[0::2]).split("\n")
            offsets = list(accumulate((t.count("\x00") for t in templates), initial=0))
            get = self._by_glog_template.get
            shapes = [get(t) if len(x) <= MAX_PARSED and not x.startswith("] ") else None
                      for t, x in zip(templates, texts)]
            batch.add_rows(parts[1::2], offsets, numbers, shapes)
        columnar = [shape is not None and shape.kind in COLUMNAR_KINDS for shape in shapes]
        # columnar lines before line i, served or not: a dump ends at each (as emit would end it)
        served_lines = batch.served_lines
        served = [*np.searchsorted(served_lines, numbers).tolist(), len(served_lines)]
        before = [a + b for a, b in zip(accumulate(columnar, initial=0), served)]
        done = 0
        for i in [i for i, c in enumerate(columnar) if not c]:
            if before[i] > done:
                self.sink.end_dump()
            done = before[i]
            self._parse_missed_line(texts[i], shapes[i], batch.slots_of(i), numbers[i], batch)
        if before[-1] > done:
            self.sink.end_dump()
        batch.store(self.sink)

    def _parse_missed_line(self, text: str, shape: Shape | None, values: list[str], n: int,
                  batch: SolverLineColumns) -> None:
        got = self._fields(shape, values, True) if shape is not None else self._understand(text)
        if isinstance(got, str):
            self.sink.skip(n, got)
            return
        shape, fields, registrable = got
        if shape.kind in COLUMNAR_KINDS:  # the first line of its template: keep the line order
            batch.add_fields(shape.kind, fields, n)
            return
        self.sink.emit(shape.kind, fields, n)
        if registrable:
            self._register_head(text, shape.kind, fields)

    # -- everything else ------------------------------------------------------------------
    def _learn(self, line: str) -> bool:
        """Parse a line only to teach the head cache its head (the first of its kind in a chunk).
        False when the line was understood but the head cache cannot serve its kind."""
        got = self._understand(line)
        if isinstance(got, str):
            return True  # a damaged first line says nothing about the head: ask again later
        if got[2]:
            self._register_head(line, got[0].kind, got[1])
        return got[2]

    def _understand(self, line: str) -> tuple[Shape, dict, bool] | str:
        """(shape, fields, whether the head cache may serve lines with this head) or why it is skipped."""
        cut = line.find("] ")
        if cut > 0 and len(line) <= MAX_PARSED and "\x00" not in line[cut + 2:]:
            # the template cache for glog lines whose template was compiled before (solver lines, totals)
            parts = self._slot_re.split(line[cut + 2:])
            shape = self._by_glog_template.get("\x00".join(parts[0::2]))
            if shape is not None:
                return self._fields(shape, parts[1::2], True)
        return self._understand_slowly(line)

    def _understand_slowly(self, line: str) -> tuple[Shape, dict, bool] | str:
        got = self._parse_line(line)
        cut = line.find("] ")
        if (isinstance(got, str) and got != "empty" and cut > 0 and "\x00" not in line[cut + 2:]
                and not self._prefix_re.match(line)):
            # a damaged glog prefix before an intact message: the message decides, as it does
            # where a cache serves the line, so every path keeps or skips the same lines
            return self._parse_line(REPAIRED_PREFIX + line[cut + 2:])
        return got

    def _parse_line(self, line: str) -> tuple[Shape, dict, bool] | str:
        if len(line) > MAX_PARSED or not line.strip() or "\x00" in line:
            return "empty" if not line.strip() else "damaged"
        prefix = self._prefix_re.match(line)
        msg = line[prefix.end():] if prefix else line
        parts = self._slot_re.split(msg)
        key = (prefix is not None, "\x00".join(parts[0::2]))
        # the fast split (scan.cut) starts the message at the first `] `: only then may the head cache
        # serve this shape
        glog = prefix is not None and line.find("] ") + 2 == prefix.end()
        shape = self._by_template.get(key)
        if shape is None:
            shape = self._compile(line, prefix.end() if prefix else 0, msg, parts)
            if shape is not UNPARSED or len(self._by_template) < MAX_TEMPLATES:
                self._by_template[key] = shape
            if shape is not UNPARSED and shape is not PER_LINE and glog:
                self._by_glog_template[key[1]] = shape
        if shape is PER_LINE:
            shape = self._shape_for_line(line)
        if shape is UNPARSED:
            return "unknown"
        return self._fields(shape, parts[1::2], glog)

    def _fields(self, shape: Shape, values: list[str], glog: bool) -> tuple[Shape, dict, bool] | str:
        try:
            fields = shape.fields(values)
        except (ValueError, IndexError):
            return "unknown"
        return shape, fields, glog and shape.names_only and shape.kind in self.sink.BLOB_KINDS

    def _register_head(self, line: str, kind: str, fields: dict) -> None:
        """Serve later lines with this line's head (all but the trailing value) from the head cache.
        Only for lines whose prefix ends at the first `] `, where scan.cut() splits them too."""
        head = scan.message_head(line)
        if head is not None and len(self._by_head) < MAX_HEADS:
            self._by_head[head.encode("utf-8")] = self.sink.blob_key_of(kind, fields)

    def _parse_tree(self, line: str):
        self.lark_calls += 1
        try:
            return self.lark.parse(line, start=LINE)
        except lark.exceptions.LarkError:
            return None

    def _shape_for_line(self, line: str) -> Shape:
        """A shape valid for this one line only: every field constant."""
        tree = self._parse_tree(line)
        if tree is None:
            return UNPARSED
        kind, tokens = flatten(tree)
        try:
            return Shape(kind, {name: converter(tok)(str(tok)) for name, tok in named_tokens(kind, tokens)})
        except ValueError:
            return UNPARSED

    def _compile(self, line: str, offset: int, msg: str, parts: list[str]) -> Shape:
        """Parse one line with lark and work out which slot feeds which field."""
        tree = self._parse_tree(line)
        if tree is None:
            return UNPARSED
        kind, tokens = flatten(tree)
        spans, pos = [], offset
        for i, part in enumerate(parts):
            if i % 2:
                spans.append((pos, pos + len(part)))
            pos += len(part)
        slot_of = {span: i for i, span in enumerate(spans)}
        consts, slots = {}, []
        for name, tok in named_tokens(kind, tokens):
            span = (tok.start_pos, tok.end_pos)
            if span in slot_of:
                slots.append((name, slot_of[span], converter(tok)))
            elif any(s < span[1] and span[0] < e for s, e in spans):
                return PER_LINE  # a field straddles a number: no shape can describe it
            else:
                try:
                    consts[name] = converter(tok)(str(tok))
                except ValueError:
                    return UNPARSED
        if len(slots) != len(spans):
            return PER_LINE  # a number inside constant text: only this exact text matches
        return Shape(kind, consts, slots, trailing_value_only(slots, parts))

