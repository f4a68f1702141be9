"""Every engine gives the same tables (pandas' `all_parsers` fixture, here `engine`).

`make test` runs the engine tests on a few real logs chosen to cover the log language (test
phases, iter_size, shared params, a resumed start, gzip); `make test-long` on every real log.
"""
from __future__ import annotations

import gzip

import pandas as pd
import pytest
from conftest import ENGINE_LOGS, LONG, REAL_LOGS, parsed

import caffelog
from caffelog import api, engines
from caffelog.parse.parallel import chunk_bounds, parse_records_parallel
from caffelog.tables import windows
from caffelog.tables.caffe_log import build_log
from caffelog.tables.parquet import write_tables


def same(a: caffelog.CaffeLog, b: caffelog.CaffeLog) -> None:
    for name in a.TABLES:  # assert_frame_equal treats NaN == NaN: a NaN must stay a NaN
        pd.testing.assert_frame_equal(a.table(name), b.table(name), check_categorical=False)
    assert a.solvers == b.solvers and a.skipped.lines == b.skipped.lines
    assert a.n_lines == b.n_lines and a.warnings == b.warnings and a.crashed == b.crashed


@pytest.fixture(params=engines.ENGINES)
def engine(request, tmp_path, monkeypatch):
    """Each engine in turn, forced; tiny windows and chunks so the windowed ones really cut."""
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(windows, "WINDOW_ROWS", 500)
    monkeypatch.setattr("caffelog.source.chunks.CHUNK_BYTES", 1 << 16)
    monkeypatch.setattr("caffelog.parse.parallel.MIN_BYTES", 0)  # parallel even on a small log
    monkeypatch.setattr("caffelog.parse.parallel.RANGE_BYTES", 1 << 16)  # and a stream in many ranges
    return request.param


@pytest.mark.parametrize("name", ENGINE_LOGS)
def test_every_engine_gives_the_tables(engine, name):
    path = REAL_LOGS[name]
    if engine == "follow" and path.suffix == ".gz":
        with pytest.raises(caffelog.LogInputError, match="does not grow"):
            caffelog.read_log(path, engine=engine)
        return
    got = caffelog.read_log(path, engine=engine, workers=2)
    same(parsed(name), got)
    if engine == "cache":  # and a second look, from the entry the first one wrote
        same(parsed(name), caffelog.read_log(path, engine=engine))


@pytest.mark.parametrize("name", ENGINE_LOGS)
def test_every_engine_gives_the_windows(engine, name):
    """read_windows (what diagnose reads) hands out the rows of the tables, in order. (memory
    and parallel hand out slices of their tables: `make test-long` checks them too.)"""
    if not LONG and engine in ("memory", "parallel"):
        pytest.skip("slices of the tables of test_every_engine_gives_the_tables")
    if engine == "follow" and REAL_LOGS[name].suffix == ".gz":
        return  # refused, as test_every_engine_gives_the_tables shows
    reading = engines.read_windows(REAL_LOGS[name], engine=engine)
    parts = list(reading.windows())
    log = parsed(name)
    for i, table in enumerate(("blobs", "totals", "scalars")):
        got = pd.concat([p[i] for p in parts], ignore_index=True)
        pd.testing.assert_frame_equal(log.table(table), got, check_categorical=False, check_dtype=False)
    summary = reading.summary()
    assert (summary.n_lines, summary.warnings, summary.skipped.lines) == (log.n_lines, log.warnings, log.skipped.lines)
    assert list(reading.net()["layer"]) == list(log.net["layer"]) and reading.solvers() == log.solvers


def test_the_choice_follows_the_request(tmp_path, monkeypatch):
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path))
    path = REAL_LOGS["dead_relu"]
    assert engines.choose(path) == "memory" and engines.choose(path, windows=True) == "stream"
    monkeypatch.setattr("caffelog.parse.parallel.MIN_BYTES", 0)
    assert engines.choose(path, workers=2) == "parallel" and engines.choose(path, workers=1) == "memory"
    assert engines.choose(str(REAL_LOGS["long_run_head"]), workers=2) == "memory"  # gzip: one stream
    assert engines.choose(path, use_cache=True) != "cache"
    caffelog.read_log(path, use_cache=True)  # fills the cache
    assert engines.choose(path, use_cache=True) == "cache" and engines.choose(path) != "cache"
    with pytest.raises(caffelog.UsageError, match="engines are"):
        caffelog.read_log(path, engine="spark")


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_equals_single_with_more_workers(workers):
    path = REAL_LOGS["iter_size_shared"]
    single = caffelog.read_log(path, workers=1)
    sink, n = parse_records_parallel(str(path), workers)
    same(single, build_log(sink, n, single.source))


def test_chunks_start_at_line_starts():
    path = REAL_LOGS["nan_explode"]
    data = path.read_bytes()
    bounds = chunk_bounds(str(path), 7)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(data)
    assert all(data[a - 1:a] == b"\n" for a, _ in bounds[1:])


def test_gzip_and_lines_equal_the_file(tmp_path):
    path = REAL_LOGS["iter_size_shared"]
    gz = tmp_path / "t.log.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    plain = caffelog.read_log(path)
    for other in (caffelog.read_log(gz), caffelog.read_log(path.read_text().splitlines()),
                  caffelog.read_log(open(path, "rb"))):  # noqa: SIM115 - read_log reads a file object
        for name in plain.TABLES:
            pd.testing.assert_frame_equal(plain.table(name), other.table(name), check_categorical=False)


@pytest.mark.parametrize("name", ENGINE_LOGS)
def test_streamed_parquet_equals_the_tables(name, tmp_path, monkeypatch):
    """parse -o DIR writes row groups as the log streams; with a tiny window every real log is
    cut into many pieces, and the files still equal read_log's tables."""
    taken = []
    original = windows.TableStream.take
    monkeypatch.setattr(windows.TableStream, "take",
                        lambda self, final: (taken.append(final), original(self, final))[1])
    stream = windows.TableStream(REAL_LOGS[name], window_rows=500, chunk_bytes=1 << 18)
    result = write_tables(stream, tmp_path)
    log = parsed(name)
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
        assert taken.count(False) >= (3 if name == "long_run_head" else 1)


@pytest.mark.parametrize("name", ENGINE_LOGS)
def test_windowed_attribution_equals_one_window(name, monkeypatch):
    """place_rows and batch_index work in windows of rows to bound memory; windows of a few
    dozen rows (boundaries everywhere: inside test phases, iter_size passes, resumed segments)
    give the same tables as one window over the whole log."""
    from caffelog.tables import attribution

    def with_window(function, rows):
        return lambda *args, **kw: function(*args, **{**kw, "rows_at_once": rows})

    tables = {}
    for window in (37, 1 << 40):
        monkeypatch.setattr("caffelog.tables.build.place_rows", with_window(attribution.place_rows, window))
        monkeypatch.setattr("caffelog.tables.build.batch_index", with_window(attribution.batch_index, window))
        tables[window] = caffelog.read_log(REAL_LOGS[name], workers=1)
    same(tables[37], tables[1 << 40])


def test_cached_layers_are_the_rows_of_those_layers(tmp_path, monkeypatch):
    """`plot --layer` reads only that layer's rows from the cache: exactly the full table's rows
    of the matching layers, in order, with every layer still a category; a pattern that matches
    nothing reads everything (the error then lists every layer)."""
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path))
    path = REAL_LOGS["dead_relu"]
    full = api.load(path)
    part = api.load(path, layers=["ip*", "relu1"])
    b = full.blobs
    want = b[b["layer"].astype(str).str.match(r"ip|relu1$")].reset_index(drop=True)
    assert 0 < len(part.blobs) < len(b)
    pd.testing.assert_frame_equal(part.blobs, want)
    assert list(part.blobs["layer"].cat.categories) == list(b["layer"].cat.categories)
    pd.testing.assert_frame_equal(part.scalars, full.scalars)
    assert len(api.load(path, layers=["nope"]).blobs) == len(b)


def test_parallel_without_room_in_shared_memory(monkeypatch, tmp_path):
    """Where /dev/shm is missing or full (containers), the worker's rows come through the pipe."""
    monkeypatch.setattr("caffelog.parse.parallel.SHARED_MEMORY", str(tmp_path / "missing"))
    path = REAL_LOGS["nan_explode"]
    single = caffelog.read_log(path, workers=1)
    sink, n = parse_records_parallel(str(path), 2)
    same(single, build_log(sink, n, single.source))


def test_streaming_loses_no_row_flushed_before_the_first_loss_line(tmp_path):
    """A flush due before any `Iteration N, loss` line (tiny chunks: the first test phase) must
    keep the rows it cannot place yet."""
    write_tables(windows.TableStream(REAL_LOGS["dead_relu"], window_rows=1, chunk_bytes=1 << 12), tmp_path)
    got = pd.read_parquet(tmp_path / "blobs.parquet")
    want = caffelog.read_log(REAL_LOGS["dead_relu"]).blobs
    pd.testing.assert_frame_equal(want.reset_index(drop=True), got, check_categorical=False,
                                  check_dtype=False)


def test_crlf_lines_from_an_iterable_equal_the_file():
    path = REAL_LOGS["dead_relu"]
    lines = [line.rstrip("\n") + "\r\n" for line in path.read_text().splitlines()]
    same(caffelog.read_log(path), caffelog.read_log(lines))


def _flooded(tmp_path):
    """healthy_conv with a flood of blank lines, junk lines and a 3 MB line without a break
    in the middle: bigger than the reader's MAX_LINE_BYTES, smaller than the test's time."""
    lines = REAL_LOGS["healthy_conv"].read_bytes().splitlines(keepends=True)
    cut = len(lines) // 2
    flood = b"\n" * 300_000 + b"junk\n" * 20_000 + b"x" * (3 << 20) + b"\n"
    path = tmp_path / "flooded.log"
    path.write_bytes(b"".join(lines[:cut]) + flood + b"".join(lines[cut:]))
    return path, cut


def test_every_engine_counts_a_flood_and_an_overlong_line_and_keeps_the_rest(engine, tmp_path, monkeypatch):
    """Issue 17 case 4: blank and junk lines are counted (only the first KEPT_SKIPPED listed), a
    line over MAX_LINE_BYTES is one damaged line (read no further than the limit), and every
    record around them is kept with its own line number."""
    from caffelog.parse import records
    monkeypatch.setattr(records, "KEPT_SKIPPED", 1000)
    path, cut = _flooded(tmp_path)
    if engine == "follow":
        monkeypatch.setattr("caffelog.source.chunks.CHUNK_BYTES", 1 << 20)
    log = caffelog.read_log(path, engine=engine, workers=2)
    assert log.skipped.reasons == {"empty": 300_000, "unknown": 20_000, "damaged": 1}
    assert log.skipped.count == 320_001 and log.skipped.lines == list(range(cut + 1, cut + 1001))
    original, moved = parsed("healthy_conv"), 320_001
    expect = original.blobs.assign(line=original.blobs["line"].where(original.blobs["line"] <= cut,
                                                                     original.blobs["line"] + moved))
    pd.testing.assert_frame_equal(log.blobs, expect, check_categorical=False)
    assert log.n_lines == original.n_lines + moved
