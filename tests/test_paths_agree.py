"""Single-process, parallel and cached parses give the same tables on every real log."""
from __future__ import annotations

import gzip

import pandas as pd
import pytest

import caffelog
from caffelog.cache import read_log_cached
from caffelog.log import build_log
from caffelog.parallel import chunk_bounds, parse_records_parallel
from conftest import REAL_LOGS


def same(a: caffelog.CaffeLog, b: caffelog.CaffeLog) -> None:
    for name in a.TABLES:  # assert_frame_equal treats NaN == NaN: a NaN must stay a NaN
        pd.testing.assert_frame_equal(a.table(name), b.table(name), check_categorical=False)
    assert a.solvers == b.solvers and a.skipped.lines == b.skipped.lines
    assert a.n_lines == b.n_lines and a.warnings == b.warnings


PLAIN = [k for k, p in REAL_LOGS.items() if not str(p).endswith(".gz")]


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_equals_single(name, workers):
    path = REAL_LOGS[name]
    single = caffelog.read_log(path, workers=1)
    sink, n = parse_records_parallel(str(path), workers)
    same(single, build_log(sink, n, single.source))


def test_chunks_start_at_line_starts():
    path = REAL_LOGS["nan_explode"]
    data = path.read_bytes()
    bounds = chunk_bounds(str(path), 7)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(data)
    assert all(data[a - 1:a] == b"\n" for a, _ in bounds[1:])


@pytest.mark.parametrize("name", list(REAL_LOGS))
def test_cached_equals_fresh(name, tmp_path, monkeypatch):
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path))
    fresh = read_log_cached(REAL_LOGS[name], use_cache=False)
    read_log_cached(REAL_LOGS[name])  # fills the cache
    same(fresh, read_log_cached(REAL_LOGS[name]))


def test_gzip_and_lines_equal_the_file(tmp_path):
    path = REAL_LOGS["iter_size_shared"]
    gz = tmp_path / "t.log.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    plain = caffelog.read_log(path)
    for other in (caffelog.read_log(gz), caffelog.read_log(path.read_text().splitlines()),
                  caffelog.read_log(open(path, "rb"))):
        for name in plain.TABLES:
            pd.testing.assert_frame_equal(plain.table(name), other.table(name), check_categorical=False)


@pytest.mark.parametrize("name", list(REAL_LOGS))
def test_streamed_parquet_equals_the_tables(name, tmp_path):
    """parse -o DIR writes row groups as the log streams; with a tiny flush size every real log
    is cut into many pieces, and the files still equal read_log's tables."""
    from caffelog import stream

    flushes = []
    original = stream.TableStream.cut
    monkey = lambda self, final: (flushes.append(final), original(self, final))[1]
    stream.TableStream.cut = monkey
    try:
        result = stream.write_tables(REAL_LOGS[name], str(tmp_path), flush_rows=500,
                                     chunk_bytes=1 << 18)
    finally:
        stream.TableStream.cut = original
    log = caffelog.read_log(REAL_LOGS[name])
    for table in log.TABLES:
        got = pd.read_parquet(tmp_path / f"{table}.parquet")
        want = log.table(table)
        if table == "net":
            assert list(got["layer"]) == list(want["layer"])
            continue
        pd.testing.assert_frame_equal(want.reset_index(drop=True), got, check_categorical=False,
                                      check_dtype=False)
    assert result.warnings == log.warnings and result.n_lines == log.n_lines
    if len(log.blobs) > 500:  # it really streamed (checked after each 256 kB chunk)
        assert flushes.count(False) >= (3 if name == "long_run_head" else 1)


@pytest.mark.parametrize("name", list(REAL_LOGS))
def test_windowed_attribution_equals_one_window(name, monkeypatch):
    """place_rows and batch_index work in windows of rows to bound memory; windows of a few
    dozen rows (boundaries everywhere: inside test phases, iter_size passes, resumed segments)
    give the same tables as one window over the whole log."""
    from caffelog import attribution

    def with_window(function, window):
        return lambda *args, **kw: function(*args, **{**kw, "window": window})

    tables = {}
    for window in (37, 1 << 40):
        monkeypatch.setattr("caffelog.tables.place_rows", with_window(attribution.place_rows, window))
        monkeypatch.setattr("caffelog.tables.batch_index", with_window(attribution.batch_index, window))
        tables[window] = caffelog.read_log(REAL_LOGS[name], workers=1)
    same(tables[37], tables[1 << 40])


def test_cached_layers_are_the_rows_of_those_layers(tmp_path, monkeypatch):
    """`plot --layer` reads only that layer's rows from the cache: exactly the full table's rows
    of the matching layers, in order, with every layer still a category; a pattern that matches
    nothing reads everything (the error then lists every layer)."""
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path))
    path = REAL_LOGS["dead_relu"]
    full = read_log_cached(path)
    part = read_log_cached(path, layers=["ip*", "relu1"])
    b = full.blobs
    want = b[b["layer"].astype(str).str.match(r"ip|relu1$")].reset_index(drop=True)
    assert 0 < len(part.blobs) < len(b)
    pd.testing.assert_frame_equal(part.blobs, want)
    assert list(part.blobs["layer"].cat.categories) == list(b["layer"].cat.categories)
    pd.testing.assert_frame_equal(part.scalars, full.scalars)
    assert len(read_log_cached(path, layers=["nope"]).blobs) == len(b)


def test_parallel_without_room_in_shared_memory(monkeypatch, tmp_path):
    """Where /dev/shm is missing or full (containers), the worker's rows come through the pipe."""
    monkeypatch.setattr("caffelog.parallel.SHARED_MEMORY", str(tmp_path / "missing"))
    path = REAL_LOGS["nan_explode"]
    single = caffelog.read_log(path, workers=1)
    sink, n = parse_records_parallel(str(path), 2)
    same(single, build_log(sink, n, single.source))


def test_streaming_loses_no_row_flushed_before_the_first_loss_line(tmp_path):
    """A flush due before any `Iteration N, loss` line (tiny chunks: the first test phase) must
    keep the rows it cannot place yet."""
    from caffelog import stream

    stream.write_tables(REAL_LOGS["dead_relu"], str(tmp_path), flush_rows=1, chunk_bytes=1 << 12)
    got = pd.read_parquet(tmp_path / "blobs.parquet")
    want = caffelog.read_log(REAL_LOGS["dead_relu"]).blobs
    pd.testing.assert_frame_equal(want.reset_index(drop=True), got, check_categorical=False,
                                  check_dtype=False)


def test_crlf_lines_from_an_iterable_equal_the_file():
    path = REAL_LOGS["dead_relu"]
    lines = [line.rstrip("\n") + "\r\n" for line in path.read_text().splitlines()]
    same(caffelog.read_log(path), caffelog.read_log(lines))
