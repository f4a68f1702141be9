"""How right is `caffelog diagnose` on every real run we have? Expected vs found, per run.

Each run folder in sample_logs/ holds an expected.json written from its NOTES.md (the ground
truth verified with grep/awk): the causes it must report (id, severity, settings, rules), the
findings (rule plus any of line/iteration/layer/direction/severity), what it must not report
(absent_rules: no warning or error of that rule; absent_causes: no such cause) and, for a
healthy run, no warning or error at all. `logs` names the folder's logs (default train.log);
`shared_logs` names logs under ../shared/real_logs/, diagnosed when that folder is there.

    python benchmarks/diagnosis_corpus.py            # the table; exit 1 on any miss or false alarm
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
SHARED = ROOT.parent / "shared" / "real_logs"
BAD = ("error", "warning")


@dataclass
class Row:
    run: str
    expected: int = 0
    found: int = 0
    missed: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)


def runs(include_shared: bool = True) -> list[tuple[str, Path, dict]]:
    """(name, log path, expectation) for every log an expected.json names."""
    out = []
    for spec in sorted(SAMPLES.glob("*/expected.json")):
        expected = json.loads(spec.read_text())
        for log in expected.get("logs", ["train.log"]):
            name = spec.parent.name + ("" if log == "train.log" else f"/{log}")
            out.append((name, spec.parent / log, expected))
        for log in expected.get("shared_logs", []) if include_shared and SHARED.is_dir() else []:
            path = SHARED / log
            if path.is_file():
                out.append((f"{log} (shared)", path, {"healthy": True} if "pretrain" in log else expected))
    return out


def judge(name: str, findings, expected: dict) -> Row:
    """Compare one diagnosis (a caffelog Findings list) with its expectation."""
    row = Row(name)
    causes = findings.causes
    bad_causes = [c for c in causes if c.severity in BAD]
    for want in expected.get("causes", []):
        row.expected += 1
        if any(_cause_matches(c, want, findings) for c in causes):
            row.found += 1
        else:
            row.missed.append(f"cause {want['id']}")
    for want in expected.get("findings", []):
        row.expected += 1
        if any(all(_field(f, k) == v for k, v in want.items()) for f in findings):
            row.found += 1
        else:
            row.missed.append("finding " + ", ".join(f"{k}={v}" for k, v in want.items()))
    if expected.get("frozen"):
        row.expected += 1
        if set(expected["frozen"]) <= set(findings.frozen):
            row.found += 1
        else:
            row.missed.append(f"frozen {expected['frozen']}")
    wanted = {c["id"] for c in expected.get("causes", [])}
    for c in bad_causes:
        if expected.get("healthy") or c.id not in wanted or c.id in expected.get("absent_causes", []):
            row.false_alarms.append(f"{c.severity} {c.id}")
    for f in findings:
        if f.severity in BAD and f.rule in expected.get("absent_rules", []):
            row.false_alarms.append(f"{f.severity} {f.rule} {f.layer or ''}".strip())
    return row


def _cause_matches(cause, want: dict, findings) -> bool:
    rules = {findings[i].rule for i in cause.findings}
    return (cause.id == want["id"] and cause.severity == want.get("severity", cause.severity)
            and set(want.get("settings", [])) <= set(cause.settings) and set(want.get("rules", [])) <= rules
            and all(getattr(cause, k) == want[k] for k in ("iteration", "line") if k in want))


def _field(finding, key: str):
    return getattr(finding, key, None)


def diagnose_path(path: Path):
    from caffelog.api import diagnose_source
    _, findings = diagnose_source(str(path))
    return findings


def main() -> int:
    rows = [judge(name, diagnose_path(path), expected) for name, path, expected in runs()]
    width = max(len(r.run) for r in rows)
    print(f"{'run':{width}}  expected  found  missed  false alarms")
    for r in rows:
        print(f"{r.run:{width}}  {r.expected:8}  {r.found:5}  {len(r.missed):6}  {len(r.false_alarms):12}"
              + ("".join(f"\n{'':{width}}    missed: {m}" for m in r.missed))
              + ("".join(f"\n{'':{width}}    false alarm: {a}" for a in r.false_alarms)))
    total = Row("total", sum(r.expected for r in rows), sum(r.found for r in rows))
    misses, alarms = sum(len(r.missed) for r in rows), sum(len(r.false_alarms) for r in rows)
    print(f"{'total':{width}}  {total.expected:8}  {total.found:5}  {misses:6}  {alarms:12}   ({len(rows)} logs)")
    return 1 if misses or alarms else 0


if __name__ == "__main__":
    sys.exit(main())
