"""Text from a log made safe to show: names are data and must not rewrite a terminal."""
from __future__ import annotations


def clean(text: object, keep: str = "") -> str:
    """The text with every unprintable character (C0/C1 controls, ANSI escapes, bidi overrides
    such as U+202E) shown as an escape one can read (`\\x1b`), never as its effect; the
    characters in `keep` (a picture's line breaks) stay."""
    return "".join(ch if ch.isprintable() or ch in keep else _escape(ch) for ch in str(text))


def _escape(ch: str) -> str:
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
