"""The grammar of a Caffe log line (grammars/caffe.lark), loaded once per process.

The .lark file is the single definition of the log language: the parser learns every line
shape from it, and record kinds are its rule names (kinds.py).
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import lark

GRAMMAR_NAME = "caffe.lark"
LINE, CLOCK_PARTS = "start", "clock_parts"  # the start symbols: a log line; the parts of its clock


def grammar_path() -> Path:
    """The grammar file: inside the installed package, or grammars/ in a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "grammars" / GRAMMAR_NAME, package.parent / "grammars" / GRAMMAR_NAME):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{GRAMMAR_NAME} not found next to {package}")


@lru_cache(maxsize=1)
def load_grammar() -> lark.Lark:
    """The LALR parser for one log line (built once per process). Parse with start=LINE."""
    return lark.Lark(grammar_path().read_text(), parser="lalr", lexer="contextual", start=[LINE, CLOCK_PARTS],
                     propagate_positions=False, maybe_placeholders=False)


@lru_cache(maxsize=1)
def grammar_digest() -> str:
    """The grammar text's SHA-256: part of every cache key (a changed grammar, a new parse)."""
    return hashlib.sha256(grammar_path().read_bytes()).hexdigest()


def terminal_regex(parser: lark.Lark, name: str) -> str:
    """A terminal's regular expression, so that fast paths split text as the grammar does."""
    return parser.get_terminal(name).pattern.to_regexp()
