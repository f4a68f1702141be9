"""Each rule on its own pass and fail cases (tests/rule_cases.toml): real logs, whole or cut."""
from __future__ import annotations

import gzip
import tomllib
from pathlib import Path

import pytest
from conftest import ALL_LOGS, SAMPLES, parsed

import caffelog
from caffelog.diagnose.diagnosis import diagnose
from caffelog.diagnose.rules import RULES
from caffelog.diagnose.settings import Settings

CASES = tomllib.loads((Path(__file__).parent / "rule_cases.toml").read_text())
LOGS = {**ALL_LOGS, "long_run_solver_lines": SAMPLES / "long_run" / "solver_lines.log.gz"}
RANK = {"error": 0, "warning": 1, "info": 2, "none": 3}


def _cases():
    for rule, cases in CASES.items():
        for n, case in enumerate(cases):
            kind = "fails" if case["fires"] else "passes"
            yield pytest.param(rule, case, id=f"{rule}-{kind}-{case['log']}{'-head' if 'head' in case else ''}-{n}")


def _log(case: dict) -> caffelog.CaffeLog:
    if "head" not in case and case["log"] in ALL_LOGS:
        return parsed(case["log"])
    path = LOGS[case["log"]]
    text = (gzip.open if path.suffix == ".gz" else open)(path, "rt").read()
    lines = text.splitlines(True)[:case.get("head", 1 << 62)]
    return caffelog.read_log(lines)


@pytest.mark.parametrize(("rule", "case"), list(_cases()))
def test_rule_case(rule, case):
    found = diagnose(_log(case), Settings(select=[rule], thresholds={rule: case.get("thresholds", {})}))
    assert {f.rule for f in found} <= {rule}
    if case["fires"]:
        hits = [f for f in found if all(getattr(f, k) == v for k, v in case.get("where", {}).items())]
        assert hits, [f.to_dict() for f in found]
        words = " ".join([hits[0].message, hits[0].advice, *hits[0].evidence])
        assert [w for w in case.get("says", []) if w not in words] == []
    else:
        worst = case.get("max_severity", "info")
        assert [f.message for f in found if RANK[f.severity] < RANK[worst]] == []


def test_every_rule_has_a_failing_and_a_passing_case():
    assert set(CASES) == set(RULES)
    for rule, cases in CASES.items():
        assert {c["fires"] for c in cases} == {True, False}, rule
