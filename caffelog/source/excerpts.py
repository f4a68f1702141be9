"""The log's own lines around given line numbers: the evidence a report shows beside a finding.

One pass over the chunks the parser reads (the same newline rules, so line N here is line N
there); only the wanted lines become strings. A pipe cannot be read twice, so it has none.
"""
from __future__ import annotations

import numpy as np

from caffelog.source.chunks import Source, file_path, iter_chunks

MAX_CHARS = 400  # a line longer than this is cut: evidence is for reading


def excerpts(source: Source, lines: list[int], context: int = 3) -> dict[int, list[tuple[int, str]]]:
    """For each wanted line number (1-based): the lines from N-context to N+context, numbered."""
    if not lines or file_path(source) is None:
        return {}
    wanted = np.unique(np.concatenate([np.arange(max(1, n - context), n + context + 1) for n in lines]))
    text = _read(source, wanted)
    return {n: [(k, text[k]) for k in range(max(1, n - context), n + context + 1) if k in text] for n in lines}


def _read(source: Source, wanted: np.ndarray) -> dict[int, str]:
    found: dict[int, str] = {}
    first = 1  # the number of the chunk's first line
    for chunk in iter_chunks(source):
        ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
        last = first + len(ends) - 1
        lo, hi = np.searchsorted(wanted, [first, last + 1])
        for n in wanted[lo:hi]:
            k = int(n) - first
            start = 0 if k == 0 else int(ends[k - 1]) + 1
            found[int(n)] = chunk[start:int(ends[k])][:MAX_CHARS * 4].decode("utf-8", "replace")[:MAX_CHARS]
        first = last + 1
        if first > wanted[-1]:
            break
    return found
