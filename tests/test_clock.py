"""The `time` column: seconds since the segment began, read from each line's prefix.

The ground truth is in each run's NOTES.md (computed with awk, never with caffelog): new_year_run
and midnight_run are real runs whose wall clock was set just before a new year / a midnight with
libfaketime, in glog's year-less and year-ful prefixes."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
from conftest import ALL_LOGS, SAMPLES, parsed

import caffelog
from caffelog.parse import clock, scan

CLOCK_LOGS = {
    "new_year_run": SAMPLES / "new_year_run" / "train.log",
    "new_year_run_default_prefix": SAMPLES / "new_year_run" / "train_glog_default_prefix.log",
    "midnight_run": SAMPLES / "midnight_run" / "train.log",
}

# (log, line, seconds since line 1) from the NOTES.md of each run (clockat.sh)
AWK_SECONDS = [
    ("new_year_run", 2903, 0.789417), ("new_year_run", 2904, 0.796439), ("new_year_run", 5946, 1.841378),
    ("new_year_run_default_prefix", 3086, 0.794972), ("new_year_run_default_prefix", 3087, 0.795298),
    ("new_year_run_default_prefix", 5946, 1.626333),
    ("midnight_run", 4039, 0.793836), ("midnight_run", 4040, 0.799362), ("midnight_run", 5946, 1.266912),
]
LAST_LINE_SECONDS = {"new_year_run": 1.872601, "new_year_run_default_prefix": 1.647043, "midnight_run": 1.286747}


@pytest.fixture(scope="module")
def clock_logs():
    return {name: caffelog.read_log(path) for name, path in CLOCK_LOGS.items()}


def _time_at(log, line: int) -> float:
    for table in (log.blobs, log.totals, log.scalars):
        hit = table.loc[table["line"] == line, "time"]
        if len(hit):
            return float(hit.iloc[0])
    raise AssertionError(f"no row at line {line}")


@pytest.mark.parametrize(("name", "line", "seconds"), AWK_SECONDS)
def test_time_across_a_new_year_and_a_midnight_is_what_awk_reads(clock_logs, name, line, seconds):
    assert _time_at(clock_logs[name], line) == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize("name", sorted(CLOCK_LOGS))
def test_time_never_jumps_back_at_the_date_change(clock_logs, name):
    log = clock_logs[name]
    rows = np.concatenate([t[["line", "time"]].to_numpy() for t in (log.blobs, log.totals, log.scalars)])
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    steps = np.diff(rows[:, 1])
    assert not np.isnan(rows[:, 1]).any()
    assert steps.min() >= 0 and steps.max() < 0.1  # a few ms per line, never a day or a year
    assert rows[-1, 1] <= LAST_LINE_SECONDS[name]


def test_a_resumed_segment_counts_from_its_own_start_up():
    """resumed_run NOTES.md (clockat.sh): segment 1 starts at its solver dump, line 1872; the
    `Iteration 40, loss` line 3242 is 0.160066 s after it; segment 0's last row (line 1868) is
    0.276209 s after line 1."""
    log = parsed("resumed_run")
    s = log.scalars
    final = s[(s["line"] == 3242) & (s["name"] == "loss")]
    assert float(final["time"].iloc[0]) == pytest.approx(0.160066, abs=1e-6)
    assert float(s.loc[s["segment"] == 0, "time"].max()) == pytest.approx(0.276209, abs=1e-6)  # line 1868


@pytest.mark.parametrize("name", ["healthy_conv", "healthy_conv_legacy2015", "vanishing_tanh_error", "nan_explode"])
def test_every_row_of_a_real_log_has_its_time(name):
    log = parsed(name)
    for table in (log.blobs, log.totals, log.scalars):
        assert table["time"].notna().all() and (table["time"] >= 0).all()


def _lines(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("name", sorted(set(ALL_LOGS) | set(CLOCK_LOGS)))
def test_the_fast_reading_agrees_with_the_grammar_patterns_on_every_line(name):
    """clock.line_times reads the classic layouts a chunk at a time; _one_line reads a prefix with
    the patterns built from the grammar's terminals. They must agree on every line of every log."""
    path = CLOCK_LOGS.get(name) or ALL_LOGS[name]
    data = _lines(path)[: 4 << 20]
    data = data[: data.rfind(b"\n") + 1]
    cut = scan.cut(data)
    seconds, form = clock.line_times(cut.buffer, cut.starts)
    for i in range(0, len(cut.starts), 7):
        head = data[cut.starts[i]:cut.starts[i] + 40].decode("latin-1")
        expected = clock._one_line(head)
        assert form[i] == expected[1], head
        assert seconds[i] == pytest.approx(expected[0], abs=1e-6, nan_ok=True), head


# prefixes quoted in shared/caffe/FORMAT.md (Appendix C): Caffe inside other programs
@pytest.mark.parametrize(("prefix", "seconds", "form"), [
    ("I0515 10:00:00.123456 231762 net.cpp:1453] ", (31 + 29 + 31 + 30 + 14) * 86400 + 36000.123456, clock.YEARLESS),
    ("I1109 ...]     [Backward] Layer", np.nan, clock.NONE),  # elided by a person: no time
    ("[2018-06-18 13:41:47.462] [caffe] [info] ", 1529329307.462, clock.ABSOLUTE),
    ("INFO - 16:42:11 -     [Backward]", 16 * 3600 + 42 * 60 + 11, clock.DATELESS),
    ("    base_lr: 0.01", np.nan, clock.NONE),
])
def test_each_prefix_form_tells_its_time(prefix, seconds, form):
    cut = scan.cut((prefix + "\n").encode())
    got, forms = clock.line_times(cut.buffer, cut.starts)
    assert forms[0] == form
    assert got[0] == pytest.approx(seconds, abs=1e-6, nan_ok=True)


def test_a_dateless_clock_wraps_at_midnight_and_a_yearless_one_at_new_year():
    c = clock.LineClock()
    day, year = clock.DAY, 366 * clock.DAY
    c.extend(np.array([day - 1.5, 0.5, np.nan, 2.0]), np.array([clock.DATELESS, clock.DATELESS, clock.NONE,
                                                                clock.DATELESS], np.int8))
    assert list(c.since_start(np.arange(1, 5), np.zeros(4))) == [0.0, 2.0, pytest.approx(np.nan, nan_ok=True), 3.5]
    c = clock.LineClock()
    c.extend(np.array([year - 1.0]), np.array([clock.YEARLESS], np.int8))  # Dec 31 23:59:59
    c.extend(np.array([1.0]), np.array([clock.YEARLESS], np.int8))  # Jan 1 00:00:01, the next chunk
    assert list(c.since_start(np.array([1, 2]), np.zeros(2))) == [0.0, 2.0]


def test_a_log_without_timestamps_has_no_time_invented():
    log = caffelog.read_log([
        "I1109 ...]     [Forward] Layer conv1, top blob conv1 data: 0.5",
        "I1109 ...] Iteration 3, loss = 1.5",
    ])
    assert log.blobs["time"].isna().all() and log.scalars["time"].isna().all()
