"""Lines -> records, with the lark grammar as the only definition of the language.

Parsing every line with lark would run at about 1 MB/s. Instead each distinct line *shape* is
parsed once and remembered:

* level 1 (the hot path, ~95% of a debug_info log): a per-blob line minus its trailing number,
  e.g. ``    [Forward] Layer conv1, top blob conv1 data:``. A hit costs a dict lookup and a float().
* level 2: the message with every number replaced by a slot; lark's token positions tell which
  slot feeds which field, so ``Iteration 7, lr = 0.01`` and ``Iteration 8, lr = 0.005`` share one
  parse.

A shape whose fields cannot be told apart from its slots (a layer called ``fc-1e5``...) is parsed
by lark line by line: correct, only slower. Lines lark rejects are counted as skipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import lark
import numpy as np

from .records import FIELD_NAMES, RecordSink

_GRAMMAR_NAME = "caffe.lark"
# A Caffe line is never this long; longer ones are skipped as damaged without being parsed,
# which keeps the time linear for hostile input.
MAX_PARSED = 1 << 16


def grammar_path() -> Path:
    """The grammar file: inside the installed package, or grammars/ in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammars" / _GRAMMAR_NAME, here.parent / "grammars" / _GRAMMAR_NAME):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{_GRAMMAR_NAME} not found next to {here}")


@lru_cache(maxsize=1)
def load_grammar() -> lark.Lark:
    """The LALR parser for one log line (built once per process)."""
    return lark.Lark(grammar_path().read_text(), parser="lalr", lexer="contextual",
                     propagate_positions=False, maybe_placeholders=False)


def _terminal_regex(parser: lark.Lark, name: str) -> str:
    return parser.get_terminal(name).pattern.to_regexp()


@dataclass
class Shape:
    """One parsed line shape: its record kind, constant fields, and fields fed by slots."""

    kind: str
    consts: dict[str, object]
    slots: list[tuple[str, int, type]] = field(default_factory=list)
    names_only: bool = False  # every non-trailing slot feeds a name: safe for level 1

    def fields(self, values: list[str]) -> dict[str, object]:
        out = dict(self.consts)
        for name, index, convert in self.slots:
            out[name] = convert(values[index])
        return out


UNPARSED = Shape("unparsed", {})
PER_LINE = Shape("per_line", {})


class LineParser:
    """Feeds lines through the shape caches into a RecordSink."""

    def __init__(self, sink: RecordSink):
        self.sink = sink
        self.lark = load_grammar()
        prefix = _terminal_regex(self.lark, "PREFIX")
        number = _terminal_regex(self.lark, "NUMBER")
        self._prefix_re = re.compile(prefix)
        # a number is a slot only where it is a token of its own (conv1 keeps its 1)
        self._slot_re = re.compile(rf"(?<![\w.\-])({number})")
        self._level1: dict[str, int] = {}
        self._level2: dict[tuple[bool, str], Shape] = {}
        self._level2_glog: dict[str, Shape] = {}
        self.lark_calls = 0

    # -- the hot path -----------------------------------------------------------------------
    def feed(self, lines: list[str], first_line: int) -> None:
        """Parse lines numbered first_line, first_line + 1, ... (1-based).

        Whole-batch list comprehensions and one numpy float conversion do the level-1 lookups:
        half the cost of a per-line loop. Misses go through the slow path one by one.
        """
        get = self._level1.get
        parts = [line[line.find("] ") + 2:].rpartition(" ") for line in lines]
        keys = [get(head) for head, _, _ in parts]
        hits = [i for i, key in enumerate(keys) if key is not None]
        values = [parts[i][2] for i in hits]
        try:
            numbers = np.array(values, dtype=np.float64)
        except ValueError:  # a damaged number somewhere in the batch: sort the lines out one by one
            hits, numbers = self._salvage(hits, values)
        hit_set = set(hits) if len(hits) != len(lines) else None
        if hit_set is not None:
            slow = self._slow
            for i, line in enumerate(lines):
                if i not in hit_set:
                    slow(line, first_line + i)
        if hits:
            self.sink.add_blob_chunk(np.array(hits, dtype=np.int64) + first_line,
                                     np.array([keys[i] for i in hits], dtype=np.int64), numbers)

    @staticmethod
    def _salvage(hits: list[int], values: list[str]) -> tuple[list[int], np.ndarray]:
        kept, numbers = [], []
        for i, text in zip(hits, values):
            try:
                numbers.append(float(np.float64(text)))
            except ValueError:
                continue  # left out of hits: the slow path will skip and count it
            kept.append(i)
        return kept, np.array(numbers, dtype=np.float64)

    # -- everything else ------------------------------------------------------------------
    def _slow(self, line: str, n: int) -> None:
        cut = line.find("] ")
        if cut > 0 and len(line) <= MAX_PARSED and "\x00" not in line:
            # level 2 for glog lines whose template was compiled before (solver lines, totals)
            msg = line[cut + 2:].rstrip("\r\n")
            parts = self._slot_re.split(msg)
            shape = self._level2_glog.get("\x00".join(parts[0::2]))
            if shape is not None:
                try:
                    fields = shape.fields(parts[1::2])
                except (ValueError, IndexError):
                    self.sink.skip(n, "unknown")
                    return
                self.sink.emit(shape.kind, fields, n)
                if shape.names_only and shape.kind in self.sink.BLOB_KINDS:
                    self._register_level1(msg, shape.kind, fields)  # e.g. `param blob 1` after `0`
                return
        self._slowest(line, n)

    def _slowest(self, line: str, n: int) -> None:
        line = line.rstrip("\r\n")
        if len(line) > MAX_PARSED or not line.strip() or "\x00" in line:
            self.sink.skip(n, "empty" if not line.strip() else "damaged")
            return
        prefix = self._prefix_re.match(line)
        msg = line[prefix.end():] if prefix else line
        parts = self._slot_re.split(msg)
        values = parts[1::2]
        key = (prefix is not None, "\x00".join(parts[0::2]))
        shape = self._level2.get(key)
        if shape is None:
            shape = self._compile(line, prefix.end() if prefix else 0, msg, parts)
            if shape is not UNPARSED or len(self._level2) < 100_000:
                self._level2[key] = shape
            if (shape is not UNPARSED and shape is not PER_LINE and prefix is not None
                    and line.find("] ") + 2 == prefix.end()):
                self._level2_glog[key[1]] = shape  # same message start as the fast split
        if shape is PER_LINE:
            shape = self._shape_for_line(line)
        if shape is UNPARSED:
            self.sink.skip(n, "unknown")
            return
        try:
            fields = shape.fields(values)
        except (ValueError, IndexError):
            self.sink.skip(n, "unknown")
            return
        self.sink.emit(shape.kind, fields, n)
        if shape.names_only and prefix is not None and shape.kind in self.sink.BLOB_KINDS:
            self._register_level1(msg, shape.kind, fields)

    def _register_level1(self, msg: str, kind: str, fields: dict) -> None:
        head = msg.rpartition(" ")[0]
        if "\n" not in head and len(self._level1) < 1_000_000:
            self._level1[head] = self.sink.blob_key_of(kind, fields)

    def _parse_tree(self, line: str):
        self.lark_calls += 1
        try:
            return self.lark.parse(line)
        except lark.exceptions.LarkError:
            return None

    def _shape_for_line(self, line: str) -> Shape:
        """A shape valid for this one line only: every field constant."""
        tree = self._parse_tree(line)
        if tree is None:
            return UNPARSED
        kind, tokens = _flatten(tree)
        try:
            return Shape(kind, {name: _convert(tok)(str(tok)) for name, tok in _named(kind, tokens)})
        except ValueError:
            return UNPARSED

    def _compile(self, line: str, offset: int, msg: str, parts: list[str]) -> Shape:
        """Parse one line with lark and work out which slot feeds which field."""
        tree = self._parse_tree(line)
        if tree is None:
            return UNPARSED
        kind, tokens = _flatten(tree)
        spans, pos = [], offset
        for i, part in enumerate(parts):
            if i % 2:
                spans.append((pos, pos + len(part)))
            pos += len(part)
        slot_of = {span: i for i, span in enumerate(spans)}
        consts, slots = {}, []
        for name, tok in _named(kind, tokens):
            span = (tok.start_pos, tok.end_pos)
            if span in slot_of:
                slots.append((name, slot_of[span], _convert(tok)))
            elif any(s < span[1] and span[0] < e for s, e in spans):
                return PER_LINE  # a field straddles a number: no shape can describe it
            else:
                try:
                    consts[name] = _convert(tok)(str(tok))
                except ValueError:
                    return UNPARSED
        if len(slots) != len(spans):
            return PER_LINE  # a number inside constant text: only this exact text matches
        return Shape(kind, consts, slots, _trailing_value_only(slots, parts))

def _trailing_value_only(slots, parts) -> bool:
    """True when the line's last token is its only number and every other slot is a name."""
    if not slots or parts[-1] != "":
        return False
    last = len(slots) - 1
    return all(index == last if convert is not str else index != last
               for _, index, convert in slots)


def _flatten(tree: lark.Tree):
    """The record kind (rule name) and its tokens as (path, token) in order."""
    node = tree.children[0]  # glog_line | header_line | proto_line | crash_line
    if node.data == "glog_line":
        node = node.children[1]
    elif node.data == "proto_line":
        node = node.children[0]
    kind = str(node.data) if isinstance(node, lark.Tree) else "unknown"
    tokens: list[tuple[str, lark.Token]] = []

    def walk(t: lark.Tree, path: str):
        index = 0
        for child in t.children:
            if isinstance(child, lark.Tree):
                walk(child, str(child.data))
            else:
                tokens.append((f"{path}.{index}" if path else str(index), child))
                index += 1

    if isinstance(node, lark.Tree):
        walk(node, "")
    return kind, tokens


def _named(kind: str, tokens):
    names = FIELD_NAMES.get(kind, {})
    for path, tok in tokens:
        yield names.get(path, path), tok


def _count(text: str) -> int:
    """An INT field (iteration, index, shape): a damaged 30-digit run is not a number."""
    if len(text) > 18:
        raise ValueError(f"integer too long: {text[:20]}...")
    return int(text)


def _convert(tok: lark.Token):
    if tok.type == "NUMBER":
        return float
    if tok.type == "INT":
        return _count
    return str
