"""A comparison of runs as text: differences, headline numbers side by side, where the curves
part, each run's causes. The first run is the reference the others are held against."""
from __future__ import annotations

from dataclasses import dataclass

from caffelog.diagnose.findings import Findings
from caffelog.printable import clean
from caffelog.runs.compare import Comparison
from caffelog.runs.facts import RunFacts
from caffelog.runs.summary import COLUMNS, RunRow


@dataclass
class ComparedRun:
    label: str
    findings: Findings
    facts: RunFacts


def render_comparison(runs: list[ComparedRun], comparisons: list[Comparison], tolerance: float) -> str:
    ref = runs[0]
    out = []
    for run, c in zip(runs[1:], comparisons):
        out.append(f"{clean(ref.label)} vs {clean(run.label)}")
        out += _differences("solver", c.solver, ref.label, run.label)
        out += _differences("net", c.net, ref.label, run.label)
        if c.first_parting is None:
            out.append(f"  curves: no shared series parts by more than {tolerance:g} (relative)")
        else:
            p = c.first_parting
            out.append(f"  curves part at iteration {p.iteration}: {clean(p.layer)} {p.series} "
                       f"{p.a:.4g} vs {p.b:.4g} (lines {p.line_a} and {p.line_b}; tolerance {tolerance:g})")
            for q in c.partings[1:8]:
                out.append(f"    then {clean(q.layer)} at iteration {q.iteration} ({q.a:.4g} vs {q.b:.4g})")
            if len(c.partings) > 8:
                out.append(f"    and {len(c.partings) - 8} more layers")
        out.append("")
    out.append(_side_by_side(runs))
    for run in runs:
        causes = getattr(run.findings, "causes", [])
        out.append(f"\n{clean(run.label)}: " + ("healthy" if not causes else f"{len(causes)} causes"))
        out += [f"  {c.severity.upper():7} {c.id:18} {clean(c.headline)}" for c in causes]
    return "\n".join(out)


def _differences(where: str, diffs, a: str, b: str) -> list[str]:
    if not diffs:
        return [f"  {where}: the same"]
    out = [f"  {where}: {len(diffs)} differences ({clean(a)} | {clean(b)})"]
    out += [f"    {clean(d.name):28} {_value(d.a):>16} | {_value(d.b)}" for d in diffs]
    return out


def _value(v) -> str:
    return "(none)" if v is None else clean(v)


def _side_by_side(runs: list[ComparedRun]) -> str:
    """The summary columns as rows, one column per run."""
    cells = [RunRow.of(r.label, r.findings, r.facts).cells() for r in runs]
    table = [[name] + [c[k] for c in cells] for k, name in enumerate(COLUMNS)]
    widths = [max(len(row[k]) for row in table) for k in range(len(table[0]))]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in table)
