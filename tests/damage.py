"""Ways real logs get damaged, as pure functions of (lines, random), shared by the property
tests and the longer fuzz campaign (benchmarks/fuzz_robustness.py)."""
from __future__ import annotations

import random

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


def insert_nuls(lines: list[bytes], rng: random.Random, count: int) -> set[int]:
    hit = set()
    for _ in range(count):
        i = rng.randrange(len(lines))
        j = rng.randrange(max(len(lines[i]) - 1, 1))
        lines[i] = lines[i][:j] + b"\x00" * rng.randint(1, 4) + lines[i][j:]
        hit.add(i)
    return hit


def invalid_utf8(lines: list[bytes], rng: random.Random, count: int) -> set[int]:
    hit = set()
    for _ in range(count):
        i = rng.randrange(len(lines))
        j = rng.randrange(max(len(lines[i]) - 1, 1))
        lines[i] = lines[i][:j] + rng.choice([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xf0\x9f"]) + lines[i][j:]
        hit.add(i)
    return hit


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
