"""Ways real logs get damaged, as pure functions of (lines, random), shared by the property
tests and the longer fuzz campaign (benchmarks/fuzz_robustness.py)."""
from __future__ import annotations

import io
import random

import numpy as np

import caffelog

NEWLINES = b"\r\n"


def flip_bytes(lines: list[bytes], rng: random.Random, count: int) -> set[int]:
    """Overwrite random bytes (never with a newline), returning the damaged line indexes."""
    hit = set()
    for _ in range(count):
        i = rng.randrange(len(lines))
        line = bytearray(lines[i])
        if len(line) < 2:
            continue
        j = rng.randrange(len(line) - 1)  # keep the final newline
        b = rng.randrange(256)
        while b in NEWLINES:
            b = rng.randrange(256)
        line[j] = b
        lines[i] = bytes(line)
        hit.add(i)
    return hit


def _insert(lines: list[bytes], rng: random.Random, count: int, make) -> set[int]:
    """Insert make(rng) bytes at a random place (before the newline) of `count` random lines."""
    hit = set()
    for _ in range(count):
        i = rng.randrange(len(lines))
        j = rng.randrange(max(len(lines[i]) - 1, 1))
        lines[i] = lines[i][:j] + make(rng) + lines[i][j:]
        hit.add(i)
    return hit


def insert_nuls(lines: list[bytes], rng: random.Random, count: int) -> set[int]:
    return _insert(lines, rng, count, lambda r: b"\x00" * r.randint(1, 4))


def invalid_utf8(lines: list[bytes], rng: random.Random, count: int) -> set[int]:
    return _insert(lines, rng, count, lambda r: r.choice([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xf0\x9f"]))


def crlf(lines: list[bytes], rng: random.Random, count: int = 0) -> set[int]:
    """Windows line ends on every line: no line is damaged by this."""
    for i, line in enumerate(lines):
        if line.endswith(b"\n") and not line.endswith(b"\r\n"):
            lines[i] = line[:-1] + b"\r\n"
    return set()


def long_line(lines: list[bytes], rng: random.Random, count: int = 1, size: int = 200_000) -> set[int]:
    """Replace lines by very long garbage lines (built to make regexes and grammars backtrack)."""
    hit = set()
    patterns = [b"1", b" ", b"[", b"[Forward] Layer ", b"e+", b"] ", b", top blob ", b"nan"]
    for _ in range(count):
        i = rng.randrange(len(lines))
        unit = rng.choice(patterns)
        lines[i] = (unit * (size // len(unit) + 1))[:size] + b"\n"
        hit.add(i)
    return hit


DAMAGES = {"flip": flip_bytes, "nul": insert_nuls, "utf8": invalid_utf8, "crlf": crlf, "long": long_line}


def damage(data: bytes, seed: int, kinds: list[str], count: int = 5) -> tuple[bytes, set[int]]:
    """Apply some damages (line count unchanged); returns the bytes and 0-based damaged lines."""
    rng = random.Random(seed)
    lines = data.splitlines(keepends=True)
    hit: set[int] = set()
    for kind in kinds:
        hit |= DAMAGES[kind](lines, rng, count)
    return b"".join(lines), hit


RECORD = ["direction", "layer", "role", "blob", "quantity", "line"]
PLACE = ["segment", "iteration", "phase", "test_net", "batch"]
# lines that decide attribution: damage to one of them may move rows, by design
DECIDING = (b"Iteration ", b"net output", b"Testing net", b"Initializing solver", b"Test loss",
            b"Test score", b"display:")


def parse_bytes(data: bytes) -> caffelog.CaffeLog:
    return caffelog.read_log(io.BytesIO(data))


def check_nothing_good_lost(clean: caffelog.CaffeLog, original: bytes, data: bytes,
                            damaged: set[int]) -> caffelog.CaffeLog:
    """Every row of an intact line comes out as in the clean log; attribution too unless a
    deciding line was damaged. Raises AssertionError otherwise; returns the damaged parse."""
    got = parse_bytes(data)
    before, after = original.splitlines(), data.splitlines()
    deciding_hit = any(m in before[i] or m in after[i] for i in damaged for m in DECIDING)
    want = clean.blobs[~clean.blobs["line"].isin([i + 1 for i in damaged])].reset_index(drop=True)
    have = got.blobs[got.blobs["line"].isin(want["line"])].reset_index(drop=True)
    assert len(have) == len(want), f"{len(want) - len(have)} intact rows lost"
    for col in RECORD + ([] if deciding_hit else PLACE):
        assert list(want[col].astype(str)) == list(have[col].astype(str)), col
    assert np.array_equal(want["value"].to_numpy(), have["value"].to_numpy(), equal_nan=True)
    return got
