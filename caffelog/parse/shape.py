"""A line shape: what lark made of one line, reusable for every line of the same template.

A shape says which record kind a template is, its constant fields, and which number slot of the
line feeds which field, so ``Iteration 7, lr = 0.01`` and ``Iteration 8, lr = 0.005`` share one
lark parse.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import lark

from caffelog.parse.kinds import FIELD_NAMES

MAX_INT_DIGITS = 18  # an INT field longer than this is damage, not an iteration


@dataclass
class Shape:
    """One parsed line shape: its record kind, constant fields, and fields fed by slots."""

    kind: str
    consts: dict[str, object]
    slots: list[tuple[str, int, type]] = field(default_factory=list)
    names_only: bool = False  # every non-trailing slot feeds a name: safe for the head cache

    def fields(self, values: list[str]) -> dict[str, object]:
        out = dict(self.consts)
        for name, index, convert in self.slots:
            out[name] = convert(values[index])
        return out


UNPARSED = Shape("unparsed", {})
PER_LINE = Shape("per_line", {})


def trailing_value_only(slots, parts) -> bool:
    """True when the line's last token is its only number and every other slot is a name."""
    if not slots or parts[-1] != "":
        return False
    last = len(slots) - 1
    return all(index == last if convert is not str else index != last
               for _, index, convert in slots)


def flatten(tree: lark.Tree):
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


def named_tokens(kind: str, tokens):
    names = FIELD_NAMES.get(kind, {})
    for path, tok in tokens:
        yield names.get(path, path), tok


def int_field(text: str) -> int:
    """An INT field (iteration, index, shape): a damaged 30-digit run is not a number."""
    if len(text) > MAX_INT_DIGITS:
        raise ValueError(f"integer too long: {text[:20]}...")
    return int(text)


def converter(tok: lark.Token):
    if tok.type == "NUMBER":
        return float
    if tok.type == "INT":
        return int_field
    return str
