"""The grammar of a Caffe log line (grammars/caffe.lark), loaded once per process.

The .lark file is the single definition of the log language: the parser learns every line
shape from it, and record kinds are its rule names (kinds.py). Building the LALR tables takes
~0.15 s, a tenth of a small command's time: the built parser is kept in the user's cache
directory, under the grammar's digest and lark's version, and built again when either changes.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import lark

from caffelog.user_cache import cache_dir

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
    """The LALR parser for one log line (once per process, built once per grammar). Parse with
    start=LINE."""
    built = cache_dir() / f"grammar-{grammar_digest()[:16]}-lark{lark.__version__}.pickle"
    with contextlib.suppress(Exception), open(built, "rb") as f:  # absent or damaged: build it again
        return lark.Lark.load(f)
    parser = lark.Lark(grammar_path().read_text(), parser="lalr", lexer="contextual",
                       start=[LINE, CLOCK_PARTS], propagate_positions=False, maybe_placeholders=False)
    with contextlib.suppress(OSError):  # a read-only or full cache only costs the build next time
        _save(parser, built)
    return parser


def _save(parser: lark.Lark, path: Path) -> None:
    """Write the built parser under a unique temporary name, then rename it into place: a reader
    sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            parser.save(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@lru_cache(maxsize=1)
def grammar_digest() -> str:
    """The grammar text's SHA-256: part of every cache key (a changed grammar, a new parse)."""
    return hashlib.sha256(grammar_path().read_bytes()).hexdigest()


def terminal_regex(parser: lark.Lark, name: str) -> str:
    """A terminal's regular expression, so that fast paths split text as the grammar does."""
    return parser.get_terminal(name).pattern.to_regexp()
