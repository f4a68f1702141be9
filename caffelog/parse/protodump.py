"""The nested protobuf text Caffe prints at start-up (solver and net parameters), and what the
net-construction lines say about each layer."""
from __future__ import annotations

from dataclasses import dataclass, field

from caffelog.parse import kinds

# Caffe's own messages nest 4-5 deep; deeper text is not a Caffe dump, and following it would
# cost a Python stack frame per level in everything that walks the tree.
MAX_DEPTH = 64


@dataclass
class ProtoDump:
    """One `Initializing solver/net from parameters:` dump, as nested dicts of lists."""

    what: str  # "solver" or "net"
    line: int
    net: str | None = None
    root: dict = field(default_factory=dict)
    stack: list = field(default_factory=list)
    too_deep: int = 0  # open blocks beyond MAX_DEPTH, whose lines are skipped

    def add(self, kind: str, fields: dict) -> bool:
        """Add a dump line; False for a line nested beyond MAX_DEPTH (not kept)."""
        if self.too_deep or (kind == kinds.PROTO_OPEN and len(self.stack) >= MAX_DEPTH):
            self.too_deep += {kinds.PROTO_OPEN: 1, kinds.PROTO_CLOSE: -1}.get(kind, 0)
            return False
        node = self.stack[-1] if self.stack else self.root
        if kind == kinds.PROTO_FIELD:
            node.setdefault(fields["key"], []).append(_proto_scalar(fields["value"]))
        elif kind == kinds.PROTO_OPEN:
            child: dict = {}
            node.setdefault(fields["key"], []).append(child)
            self.stack.append(child)
        elif kind == kinds.PROTO_CLOSE and self.stack:
            self.stack.pop()
        return True


def _proto_scalar(text: str):
    if text.startswith('"'):
        return text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text  # an enum such as CPU or MAX


@dataclass
class LayerBuild:
    """What the net-construction lines say about one layer."""

    segment: int
    net: str
    index: int
    layer: str
    line: int
    bottoms: list = field(default_factory=list)
    tops: list = field(default_factory=list)
    top_shapes: list = field(default_factory=list)
    top_counts: list = field(default_factory=list)
    loss_weight: float | None = None
    needs_backward: bool | None = None
