"""Damaged and hostile logs: no crash, nothing good lost, linear time, names stay data."""
from __future__ import annotations

import ast
import functools
import gzip
import io
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import LONG, REAL_LOGS, parsed
from damage import DAMAGES, check_nothing_good_lost, damage, damage_numbered, parse_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import caffelog
from caffelog.diagnose.diagnosis import diagnose
from caffelog.diagnose.report import render_markdown, render_text

SMALL = ["iter_size_shared", "dead_relu", "healthy_conv_legacy2015", "nan_explode"]


@settings(max_examples=100 if LONG else 10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(SMALL), seed=st.integers(0, 2**32 - 1),
       kinds=st.lists(st.sampled_from(sorted(DAMAGES)), min_size=1, max_size=3, unique=True),
       count=st.integers(1, 20))
def test_damage_never_crashes_and_keeps_every_intact_record(name, seed, kinds, count):
    original = REAL_LOGS[name].read_bytes()
    data, hit, numbers = damage_numbered(original, seed, kinds, count)
    got = check_nothing_good_lost(parsed(name), original, data, hit, numbers)
    diagnose(got)  # rules cope with whatever survived


@pytest.mark.parametrize("cut", [0.13, 0.5, 0.9, 0.999])
def test_truncated_anywhere(cut):
    data = REAL_LOGS["nan_explode"].read_bytes()
    n = int(len(data) * cut)
    log = parse_bytes(data[:n])
    clean = caffelog.read_log(REAL_LOGS["nan_explode"])
    complete = data[:n].count(b"\n")
    kept = clean.blobs[clean.blobs["line"] <= complete]
    assert list(log.blobs["line"][: len(kept)]) == list(kept["line"])


def test_truncated_inside_the_protobuf_dump():
    data = REAL_LOGS["healthy_conv"].read_bytes()
    head = data[: data.index(b"base_lr: 0.01") + 9]  # ends in "base_lr: 0"
    log = parse_bytes(head)
    assert log.solver.get("test_interval") == 20 and log.blobs.empty


def test_lone_cr_and_crlf_parse_like_lf():
    data = REAL_LOGS["iter_size_shared"].read_bytes()
    lf = parse_bytes(data)
    for variant in (data.replace(b"\n", b"\r\n"), data.replace(b"\n", b"\r")):
        other = parse_bytes(variant)
        pd.testing.assert_frame_equal(lf.blobs, other.blobs, check_categorical=False)


def test_interleaved_logs_keep_every_record():
    a = REAL_LOGS["dead_relu"].read_bytes().splitlines(keepends=True)
    b = REAL_LOGS["iter_size_shared"].read_bytes().splitlines(keepends=True)
    mixed = [x for pair in zip(a, b) for x in pair] + a[len(b):] + b[len(a):]
    log = parse_bytes(b"".join(mixed))
    total = sum(len(caffelog.read_log(REAL_LOGS[name]).blobs) for name in ("dead_relu", "iter_size_shared"))
    assert len(log.blobs) == total
    render_text(log, diagnose(log))


def test_ten_megabyte_line_is_skipped_and_counted():
    data = REAL_LOGS["dead_relu"].read_bytes().splitlines(keepends=True)
    data.insert(300, b"I1122 17:38:56.000000 11777 net.cpp:593]     [Forward] Layer " + b"x" * (10 << 20) + b"\n")
    log = parse_bytes(b"".join(data))
    assert log.skipped.lines == [301] and len(log.blobs) == len(caffelog.read_log(REAL_LOGS["dead_relu"]).blobs)


@pytest.mark.parametrize("unit", ["1", " ", "[", "[Forward] Layer ", "] ", ", top blob ", "e+1", "nan"])
def test_time_is_linear_in_line_length(unit):
    prefix = "I1122 17:34:56.669032  1567 net.cpp:593]     [Forward] Layer "

    def cost(size: int) -> float:
        line = prefix + (unit * (size // len(unit) + 1))[:size] + " data: 1\n"
        best = math.inf
        for _ in range(3):
            start = time.process_time()
            caffelog.read_log([line] * 4 + [prefix + "ok, top blob ok data: 1\n"])
            best = min(best, time.process_time() - start)
        return best

    small, large = cost(16_000), cost(32_000)
    assert large < 3 * small + 0.01  # doubling the input at most ~doubles the time


def test_gzip_cut_short_is_a_warning(tmp_path):
    gz = gzip.compress(REAL_LOGS["dead_relu"].read_bytes())
    path = tmp_path / "t.log.gz"
    path.write_bytes(gz[: len(gz) // 2])
    r = subprocess.run([sys.executable, "-m", "caffelog.cli", "parse", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and "gzip stream ends early" in r.stderr and "Traceback" not in r.stderr


def test_stdin_closed_early_and_damage_warnings():
    data = REAL_LOGS["nan_explode"].read_bytes()
    damaged = data[:50_000] + b"\x00\x00garbage\xff\n" + data[50_000:120_000]
    r = subprocess.run([sys.executable, "-m", "caffelog.cli", "parse", "-", "--show-skipped"],
                       input=damaged, capture_output=True)
    err = r.stderr.decode()
    assert r.returncode == 0 and " skipped (" in err and "skipped lines:" in err
    assert "Traceback" not in err


def test_crash_trace_is_recognised_not_skipped():
    log = caffelog.read_log(REAL_LOGS["nan_explode"])
    assert log.crashed and log.skipped.count == 0


NAMES = ["<script>alert(1)</script>", 'a "quoted" name', "comma,name", "back\\nslash", "ünïcødé層",
         "with space", "123", "1e5", "nan", "-inf", "|pipe|*star*_under_"]


def test_names_survive_every_format(tmp_path):
    lines = [f"I1122 17:34:56.669032  1567 net.cpp:593]     [Forward] Layer {n}, top blob {n} data: {i}\n"
             for i, n in enumerate(NAMES)]
    lines.append("I1122 17:34:56.669032  1567 solver.cpp:239] Iteration 0 (1 iter/s, 1s/1 iters), loss = 1\n")
    log = caffelog.read_log(lines)
    assert list(log.blobs["layer"]) == NAMES and list(log.blobs["blob"]) == NAMES
    log.blobs.to_csv(tmp_path / "b.csv", index=False)
    log.blobs.to_parquet(tmp_path / "b.parquet")
    log.blobs.to_json(tmp_path / "b.json", orient="records", lines=True)
    csv = pd.read_csv(tmp_path / "b.csv", dtype={"layer": str, "blob": str}, keep_default_na=False)
    assert list(csv["layer"]) == NAMES
    assert list(pd.read_parquet(tmp_path / "b.parquet")["layer"]) == NAMES
    js = [json.loads(line) for line in (tmp_path / "b.json").read_text().splitlines()]
    assert [j["layer"] for j in js] == NAMES


def test_names_are_escaped_where_rendered():
    evil = "<img src=x onerror=alert(1)>|**x**"
    lines = [f"I1122 17:34:56.669032  1567 net.cpp:593]     [Forward] Layer {evil}, top blob b data: inf\n",
             "I1122 17:34:56.669032  1567 solver.cpp:239] Iteration 0 (1 iter/s, 1s/1 iters), loss = 1\n"]
    log = caffelog.read_log(lines)
    f = diagnose(log)
    md = render_markdown(log, f)
    assert evil not in md
    assert r"\<img src=x onerror=alert(1)\>\|\*\*x\*\*" in md
    ctrl = caffelog.read_log([lines[0].replace(evil, "a\x1b[31mred"), lines[1]])
    assert "\x1b" not in render_text(ctrl, diagnose(ctrl))


def _corpus():
    path = Path(__file__).parent / "corpus" / "fuzz_failures.txt"
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, seed, rest = line.split(" ", 2)
            kinds, count = rest.rsplit(" ", 1)
            yield name, int(seed), ast.literal_eval(kinds), int(count)


@pytest.mark.parametrize("name,seed,kinds,count", list(_corpus()))
def test_fuzz_corpus(name, seed, kinds, count):
    """Cases the fuzz campaign once broke: a pass's first line lost, repeated dump fields..."""
    path = Path(__file__).parent.parent / "sample_logs" / name
    original = path.read_bytes()
    data, hit, numbers = damage_numbered(original, seed, kinds, count)
    diagnose(check_nothing_good_lost(_original(path), original, data, hit, numbers))


@functools.cache
def _original(path: Path) -> caffelog.CaffeLog:
    return caffelog.read_log(path)


@settings(max_examples=40 if LONG else 6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["dead_relu", "nan_explode", "healthy_conv_legacy2015"]),
       seed=st.integers(0, 2**32 - 1), kinds=st.sets(st.sampled_from(["flip", "nul", "utf8"]), min_size=1))
def test_a_damaged_line_is_kept_or_skipped_whatever_the_chunking(name, seed, kinds):
    """Whether a damaged line is understood must not depend on which lines the shape caches
    saw before it: cut into 4 kB chunks, the log gives the tables of one chunk (a damaged
    prefix before an intact message is kept everywhere)."""
    from test_engines import same

    from caffelog.parse.feed import RecordFeed
    from caffelog.source.chunks import iter_chunks
    from caffelog.tables.caffe_log import build_log

    data, _ = damage(REAL_LOGS[name].read_bytes(), seed, sorted(kinds), 40)
    logs = []
    for chunk_bytes in (1 << 22, 1 << 12):
        records = RecordFeed("damaged")
        for chunk in iter_chunks(io.BytesIO(data), None, chunk_bytes):
            records.feed(chunk)
        logs.append(build_log(records.sink, records.n_lines, records.name))
    same(*logs)
