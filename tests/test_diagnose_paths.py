"""Rules fold the tables window by window: any cut of a log gives the findings of the whole."""
from __future__ import annotations

import functools
import random

import numpy as np
import pytest
from conftest import ALL_LOGS, CUT_LOGS, ENGINE_LOGS, LONG, REAL_LOGS, parsed
from test_engines import same

from caffelog import api
from caffelog.diagnose.accumulate import EvenSample
from caffelog.diagnose.diagnosis import Diagnosis, diagnose
from caffelog.diagnose.rules import RULES
from caffelog.diagnose.settings import Settings
from caffelog.tables import windows

# thresholds that make every rule speak on these logs, so that each rule's folding is checked
LOUD = Settings(thresholds={
    "update-ratio": {"high": 1e-3, "low": 1e-2}, "vanishing": {"ratio": 0.5},
    "tanh-saturation": {"level": 0.1}, "dead-activation": {"min_run": 1, "floor": 0.5},
    "exploding": {"value": 1.0, "norm_growth": 1.5}, "zero-gradient": {"min_run": 1},
    "loss-plateau": {"drop": 0.9}, "loss-divergence": {"factor": 1.01, "undone": 0.0},
    "weight-collapse": {"orders": 0.01}, "overfitting": {"rise": 0.0, "min_after": 1},
    "loss-at-chance": {"tolerance": 10.0, "min_displays": 1, "min_fraction": 0.0}})


@functools.cache
def loud(name):
    return [f.to_dict() for f in diagnose(parsed(name), LOUD)]


def diagnose_in_windows(log, settings, cuts):
    d = Diagnosis(settings)
    edges = [0, *sorted(cuts), 1 << 62]
    for lo, hi in zip(edges, edges[1:]):
        d.observe(*(t[((t["line"] >= lo) & (t["line"] < hi)).to_numpy()]
                    for t in (log.blobs, log.totals, log.scalars)))
    return d.findings(log.net, log.solver)


@pytest.mark.parametrize("name", CUT_LOGS)
def test_any_cut_gives_the_findings_of_the_whole(name):
    log = parsed(name)
    whole = loud(name)
    rng = random.Random(name)
    for n_cuts in (3, 40):  # windows longer and shorter than one iteration
        cuts = rng.sample(range(1, log.n_lines + 1), min(n_cuts, log.n_lines))
        assert [f.to_dict() for f in diagnose_in_windows(log, LOUD, cuts)] == whole


def test_the_loud_settings_wake_every_rule_the_real_logs_can_show():
    woken = {f["rule"] for name in ALL_LOGS for f in loud(name)}
    assert woken == set(RULES)


def test_even_sample_is_exact_below_its_size_and_even_above():
    values = np.arange(1000, dtype=float)
    small = EvenSample(size=1000)
    for part in np.array_split(values, 7):
        small.add(part)
    assert np.array_equal(small.values(), values) and small.median() == np.median(values)

    big = EvenSample(size=100)
    for part in np.array_split(np.r_[values, np.nan], 13):
        big.add(part)
    kept = big.values()
    assert len(kept) <= 100 and big.stride == 16
    assert np.array_equal(kept, values[::16])  # every 16th value of the whole run, NaN skipped
    assert abs(big.median() - np.median(values)) <= 8


@pytest.mark.parametrize("name", ENGINE_LOGS if LONG else ["iter_size_shared", "nan_explode"])
def test_streamed_and_cached_diagnoses_equal_the_tables(name, tmp_path, monkeypatch):
    """`caffelog diagnose` streams the log through the rules (in many small windows here) and
    into the cache, then reads the cache a batch at a time: the findings of every path equal
    diagnose(read_log(...)), and the entry the stream wrote holds read_log's tables."""
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path))
    window = max(500, len(parsed(name).blobs) // 10)  # rows per window and row group; some shorter than an iteration
    monkeypatch.setattr(windows, "WINDOW_ROWS", window)
    monkeypatch.setattr("caffelog.source.chunks.CHUNK_BYTES", 1 << 14)
    path = REAL_LOGS[name]
    want = loud(name)
    summaries = []
    for use_cache in (False, True, True):  # streamed, streamed into the cache, from the cache
        summary, found = api.diagnose_source(path, LOUD, use_cache=use_cache)
        assert [f.to_dict() for f in found] == want
        summaries.append(summary)
    log = parsed(name)
    for s in summaries:
        assert (s.n_lines, s.warnings, s.skipped.lines) == (log.n_lines, log.warnings, log.skipped.lines)
        assert s.rows["blobs"] == len(log.blobs) and s.rows["scalars"] == len(log.scalars)
    same(log, api.load(path))


def test_a_damaged_cache_entry_is_diagnosed_from_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path))
    path = REAL_LOGS["dead_relu"]
    _, first = api.diagnose_source(path, use_cache=True)
    (blobs,) = tmp_path.glob("*/blobs.parquet")
    blobs.write_bytes(b"not parquet")
    _, again = api.diagnose_source(path, use_cache=True)
    assert again == first and len(list(tmp_path.glob("*/blobs.parquet"))) == 1
