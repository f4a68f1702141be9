"""The diagnosis corpus (benchmarks/diagnosis_corpus.py) on the runs in sample_logs/: every
cause and finding each expected.json asks for, no false alarm; and reports a person can read."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import ALL_LOGS, diagnosed, parsed

from caffelog.diagnose.diagnosis import diagnose
from caffelog.diagnose.report import render_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import diagnosis_corpus as corpus  # noqa: E402

RUNS = corpus.runs(include_shared=False)
BY_PATH = {path.resolve(): name for name, path in ALL_LOGS.items()}


@pytest.mark.parametrize(("name", "path", "expected"), RUNS, ids=[r[0] for r in RUNS])
def test_corpus_run_has_every_expectation_and_no_false_alarm(name, path, expected):
    key = BY_PATH.get(path.resolve())
    findings = diagnosed(key) if key else corpus.diagnose_path(path)
    row = corpus.judge(name, findings, expected)
    assert (row.missed, row.false_alarms) == ([], [])
    assert row.found == row.expected


def test_the_judge_sees_a_miss_and_a_false_alarm():
    findings = diagnose(parsed("nan_explode"))
    row = corpus.judge("x", findings, {"healthy": True, "causes": [{"id": "dead-init"}]})
    assert row.missed == ["cause dead-init"] and row.false_alarms == ["error divergence"]


def test_nan_explode_reads_as_one_short_cause():
    log = parsed("nan_explode")
    text = render_text(log, diagnose(log))
    assert len(text.splitlines()) <= 25
    assert text.splitlines()[1].startswith("ERROR   divergence")
    assert "settings: base_lr" in text


@pytest.mark.parametrize("name", sorted(ALL_LOGS))
def test_no_fix_text_is_repeated_verbatim(name):
    fixes = [line.strip() for line in render_text(parsed(name), diagnosed(name)).splitlines()
             if line.strip().startswith("fix:")]
    assert len(fixes) == len(set(fixes))


def test_healthy_run_says_so_in_one_line_and_names_frozen_layers():
    log = parsed("frozen_finetune")
    lines = render_text(log, diagnose(log)).splitlines()
    assert lines[0].endswith("healthy: no errors or warnings")
    assert lines[1] == "frozen (lr_mult 0, not trained on purpose): conv1, conv2"
