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


# The damages below change how many lines there are: an element of `lines` may then hold no line
# (cut or dropped) or several (lines inserted after it). damage() numbers the lines again.
LOSS = b", loss = "
KINDS_TO_DROP = [LOSS, b", lr = ", b"[Backward]", b"[Forward]", b"All net params", b"Iteration ",
                 b"Test net output", b"Train net output"]


def truncate(lines: list[bytes], rng: random.Random, count: int = 1) -> set[int]:
    """Cut the log (a killed run), half the time before its first loss line, maybe mid-line."""
    first_loss = next((i for i, line in enumerate(lines) if LOSS in line), len(lines))
    cut = rng.randrange(1, max(first_loss, 2)) if rng.random() < 0.5 else rng.randrange(1, len(lines))
    hit = set(range(cut, len(lines)))
    for i in hit:
        lines[i] = b""
    if rng.random() < 0.5 and len(lines[cut - 1]) > 2:  # the last line written in part
        lines[cut - 1] = lines[cut - 1][:rng.randrange(1, len(lines[cut - 1]) - 1)]
        hit.add(cut - 1)
    return hit


def drop_kind(lines: list[bytes], rng: random.Random, count: int = 1) -> set[int]:
    """Every line of one kind left out (a build or a setting that never prints it)."""
    marker = rng.choice(KINDS_TO_DROP)
    hit = {i for i, line in enumerate(lines) if marker in line}
    for i in hit:
        lines[i] = b""
    return hit


def deep_nesting(lines: list[bytes], rng: random.Random, count: int = 1) -> set[int]:
    """A protobuf dump nested hundreds deep after a random line (no intact line is touched)."""
    depth = rng.randint(50, 600)
    i = rng.randrange(len(lines))
    lines[i] = _ended(lines[i]) + b"layer {\n" * depth + b"  name: \"x\"\n" + b"}\n" * depth
    return set()


def huge_numbers(lines: list[bytes], rng: random.Random, count: int) -> set[int]:
    """Numbers no float or int holds, in place of numbers of random lines."""
    import re
    huge = [b"1e400", b"-1e400", b"9223372036854775808", b"1" * 400, b"-0e-99999", b"1e-400"]
    hit = set()
    for _ in range(count):
        i = rng.randrange(len(lines))
        found = list(re.finditer(rb"(?<![\w.])\d+(\.\d+)?(e[-+]?\d+)?", lines[i]))
        if found:
            m = rng.choice(found)
            lines[i] = lines[i][:m.start()] + rng.choice(huge) + lines[i][m.end():]
            hit.add(i)
    return hit


def blank_flood(lines: list[bytes], rng: random.Random, count: int = 1) -> set[int]:
    """Thousands of blank (or whitespace) lines after a random line."""
    i = rng.randrange(len(lines))
    lines[i] = _ended(lines[i]) + rng.choice([b"\n", b" \n", b"\r\n"]) * rng.randint(1_000, 50_000)
    return set()


def _ended(line: bytes) -> bytes:
    return line if line.endswith(b"\n") or not line else line + b"\n"


DAMAGES = {"flip": flip_bytes, "nul": insert_nuls, "utf8": invalid_utf8, "crlf": crlf, "long": long_line,
           "truncate": truncate, "drop": drop_kind, "nest": deep_nesting, "huge": huge_numbers,
           "blanks": blank_flood}


def damage(data: bytes, seed: int, kinds: list[str], count: int = 5) -> tuple[bytes, set[int]]:
    """Apply some damages; returns the bytes and the 0-based damaged lines of the original."""
    data, hit, _ = damage_numbered(data, seed, kinds, count)
    return data, hit


def damage_numbered(data: bytes, seed: int, kinds: list[str],
                    count: int = 5) -> tuple[bytes, set[int], list[int]]:
    """damage(), plus the 1-based line number each original line has in the damaged bytes."""
    rng = random.Random(seed)
    lines = data.splitlines(keepends=True)
    hit: set[int] = set()
    for kind in kinds:
        hit |= DAMAGES[kind](lines, rng, count)
    last = max((i for i, line in enumerate(lines) if line), default=0)
    lines = [_ended(line) if i < last else line for i, line in enumerate(lines)]  # bytes put in a cut line
    numbers, n = [], 1
    for line in lines:
        numbers.append(n)
        n += line.count(b"\n") + line.count(b"\r") - line.count(b"\r\n")
        n += not line.endswith((b"\n", b"\r")) and bool(line)  # a last line without its newline
    return b"".join(lines), hit, numbers


RECORD = ["direction", "layer", "role", "blob", "quantity", "line"]
PLACE = ["segment", "iteration", "phase", "test_net", "batch"]
# lines that decide attribution: damage to one of them may move rows, by design
DECIDING = (b"Iteration ", b"net output", b"Testing net", b"Initializing solver", b"Test loss",
            b"Test score", b"display:")


def parse_bytes(data: bytes) -> caffelog.CaffeLog:
    return caffelog.read_log(io.BytesIO(data))


def check_nothing_good_lost(clean: caffelog.CaffeLog, original: bytes, data: bytes,
                            damaged: set[int], numbers: list[int] | None = None) -> caffelog.CaffeLog:
    """Every row of an intact line comes out as in the clean log (at its line's new number when
    lines were added or removed); attribution too unless a deciding line was damaged. Raises
    AssertionError otherwise; returns the damaged parse."""
    got = parse_bytes(data)
    before = original.splitlines()
    numbers = numbers if numbers is not None else list(range(1, len(before) + 1))
    after = data.splitlines() if len(numbers) == len(data.splitlines()) else None
    deciding_hit = any(m in before[i] or (after is not None and m in after[i]) for i in damaged for m in DECIDING)
    deciding_hit |= len(set(numbers)) < len(numbers) or bool(damaged and max(damaged) == len(before) - 1)
    want = clean.blobs[~clean.blobs["line"].isin([i + 1 for i in damaged])].reset_index(drop=True)
    moved = np.asarray(numbers)[want["line"].to_numpy() - 1]
    have = got.blobs[got.blobs["line"].isin(moved)].reset_index(drop=True)
    assert len(have) == len(want), f"{len(want) - len(have)} intact rows lost"
    assert list(have["line"]) == list(moved), "rows at other lines"
    for col in RECORD[:-1] + ([] if deciding_hit else PLACE):
        assert list(want[col].astype(str)) == list(have[col].astype(str)), col
    assert np.array_equal(want["value"].to_numpy(), have["value"].to_numpy(), equal_nan=True)
    return got
