"""What a report page holds, as plain data: built from the tables and the findings, drawn by
the template (text, autoescaped) and the page's script (charts, from the JSON block).

Everything here comes from a CaffeLog and its Findings; the only other read is the evidence:
the log's own lines around each finding's line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from caffelog.diagnose.durations import elapsed
from caffelog.diagnose.findings import Findings
from caffelog.errors import UsageError
from caffelog.output.heatmap import heatmap_matrix
from caffelog.output.selection import Selection, select
from caffelog.pages.charts import Curve, b64, chart
from caffelog.source.excerpts import excerpts
from caffelog.tables.caffe_log import CaffeLog
from caffelog.tables.net_facts import chance_loss, train_net
from caffelog.version import __version__

MAX_VALUES = 600_000  # curve values on one page at most (~10 MB with their lines and iterations)


@dataclass
class Run:
    """One log of the page: its tables, its diagnosis and its short name."""

    log: CaffeLog
    findings: Findings
    label: str


def page(runs: list[Run], evidence: bool = True) -> dict:
    """The whole page: per-run sections (identity, diagnosis, net, solver) and the shared charts."""
    layers = layer_order(runs)
    series = [_layer_rows(run.log) for run in runs]
    slots = _slot_budget(series)
    return {
        "title": "caffelog report: " + ", ".join(run.label for run in runs),
        "version": __version__,
        "runs": [_run_section(i, run, {name: k for k, name in enumerate(layers)}, evidence)
                 for i, run in enumerate(runs)],
        "layers": [_layer_panel(k, name, runs, series, slots) for k, name in enumerate(layers)],
        "scalars": _scalar_charts(runs),
        "heatmaps": [hm for i, run in enumerate(runs) for hm in _heatmaps(i, run)],
    }


def layer_order(runs: list[Run]) -> list[str]:
    """Every layer with values, in net order (the first run's first), each once."""
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(str(name) for name in run.log.blobs["layer"].unique()))
    return list(names)


def _layer_rows(log: CaffeLog) -> pd.DataFrame:
    rows = select(log, Selection(phase=None))
    return rows.assign(layer=rows["layer"].astype(str))


def _slot_budget(series: list[pd.DataFrame]) -> int:
    """Points per curve so the page stays small: every curve full below the budget."""
    from caffelog.pages.charts import MAX_SLOTS
    n_curves = sum(len(rows.drop_duplicates(["layer", "net", "direction", "role", "blob", "quantity", "segment"]))
                   for rows in series)
    return int(max(200, min(MAX_SLOTS, MAX_VALUES // max(n_curves, 1))))


# ---- identity and diagnosis ---------------------------------------------------------------

def _run_section(i: int, run: Run, panel_of: dict[str, int], evidence: bool) -> dict:
    log, findings = run.log, run.findings
    lines = sorted({f.line for f in findings if f.line is not None} | {c.line for c in findings.causes if c.line})
    shown = excerpts(log.source, lines) if evidence else {}
    return {
        "index": i,
        "label": run.label,
        "identity": identity(log),
        "warnings": list(log.warnings),
        "frozen": list(findings.frozen),
        "causes": [_cause(c, findings, panel_of, shown) for c in findings.causes],
        "findings": [_finding(f, panel_of, shown) for f in findings],
        "net": _net_rows(log, set(findings.frozen)),
        "solver": [(key, _setting(value)) for key, value in log.solver.items()],
    }


def identity(log: CaffeLog) -> list[tuple[str, str]]:
    """What run this is: where it came from, what wrote it, how long it is."""
    out = [("source", log.source), ("lines", f"{log.n_lines:,}")]
    out.append(("Caffe", _version_hint(log)))
    starts = log.scalars.groupby("segment")["iteration"].agg(["min", "max"]) if len(log.scalars) else None
    if starts is not None and len(starts):
        parts = [f"{int(lo)}-{int(hi)}" for lo, hi in zip(starts["min"], starts["max"])]
        out.append(("segments", f"{len(starts)} (iterations {', '.join(parts)})" if len(starts) > 1
                    else "1 (not resumed)"))
        out.append(("iterations", parts[-1] if len(parts) == 1 else ", ".join(parts)))
    span = _span(log)
    if span is not None:
        out.append(("wall-clock", span))
    if log.skipped.count:
        out.append(("skipped", str(log.skipped)))
    if log.crashed:
        out.append(("ended", "with a crash trace (Check failed)"))
    return out


def _version_hint(log: CaffeLog) -> str:
    """What the log's own lines say of the Caffe that wrote it (see shared FORMAT notes)."""
    b = log.blobs
    if (b["direction"] == "update").any():
        return "an old build (2015 or earlier): it prints [Update] lines"
    if len(log.totals):
        return "a build from 2016 on: it prints `All net params` norms, no [Update] lines"
    if len(b):
        return "debug_info lines, no `All net params` norms"
    return "no debug_info lines"


def _span(log: CaffeLog) -> str | None:
    """How long the run took by its timestamps: each segment's last time, added up."""
    frames = [table[["segment", "time"]] for table in (log.blobs, log.scalars, log.totals) if len(table)]
    if not frames:
        return None
    per_segment = pd.concat(frames).groupby("segment")["time"].max().dropna()
    if per_segment.empty:
        return None
    several = f" in {len(per_segment)} segments" if len(per_segment) > 1 else ""
    return elapsed(float(per_segment.sum())) + several


def _where(iteration, last, line, time) -> str:
    parts = []
    if iteration is not None:
        parts.append(f"iter {iteration}" if last in (None, iteration) else f"iter {iteration}-{last}")
    if line is not None:
        parts.append(f"line {line}")
    if time is not None:
        parts.append(f"{elapsed(time)} into the run")
    return ", ".join(parts) or "whole run"


def _evidence(line, shown: dict) -> list[dict]:
    return [{"n": n, "text": text, "here": n == line} for n, text in shown.get(line, [])]


def _finding(f, panel_of: dict[str, int], shown: dict) -> dict:
    return {
        "rule": f.rule, "severity": f.severity, "message": f.message, "advice": f.advice,
        "where": _where(f.iteration, f.last_iteration, f.line, f.time), "layer": f.layer,
        "panel": panel_of.get(f.layer) if f.layer else None, "estimated": f.estimated,
        "evidence_notes": list(f.evidence), "excerpt": _evidence(f.line, shown), "cause": f.cause,
    }


def _cause(c, findings: Findings, panel_of: dict[str, int], shown: dict) -> dict:
    layers = [name for name in c.layers if name in panel_of]
    return {
        "id": c.id, "severity": c.severity, "headline": c.headline, "advice": c.advice,
        "settings": list(c.settings), "where": _where(c.iteration, None, c.line, c.time),
        "panel": panel_of[layers[0]] if layers else None, "layers": list(c.layers),
        "n_findings": len(c.findings), "excerpt": _evidence(c.line, shown),
    }


def _setting(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_setting(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_setting(v) for v in value)
    return str(value)


def _net_rows(log: CaffeLog, frozen: set[str]) -> list[dict]:
    net = train_net(log.net)
    return [{"layer": str(row.layer), "type": str(row.type), "bottoms": ", ".join(map(str, row.bottoms)),
             "tops": ", ".join(f"{top} {_shape(shape)}" for top, shape in zip(row.tops, row.top_shapes)),
             "frozen": str(row.layer) in frozen, "backward": bool(row.needs_backward)}
            for row in net.itertuples()]


def _shape(shape) -> str:
    return "(" + " x ".join(str(int(d)) for d in shape) + ")" if len(shape) else ""


# ---- charts -------------------------------------------------------------------------------

def _kind(direction: str, role: str, blob: str, quantity: str, net: int) -> str:
    if role == "param":
        what = {"0": "weights", "1": "bias"}.get(blob, f"param {blob}")
    else:
        what = f"{role} {blob}"
    where = "" if net < 0 else f"test#{net} "
    return f"{where}{direction} {what} {quantity}"


def _layer_panel(k: int, name: str, runs: list[Run], series: list[pd.DataFrame], slots: int) -> dict:
    curves = []
    for i, rows in enumerate(series):
        mine = rows[(rows["layer"] == name).to_numpy()]
        keys = ["net", "direction", "role", "blob", "quantity", "segment"]
        for (net, direction, role, blob, quantity, segment), part in mine.groupby(keys, observed=True, sort=False):
            kind = _kind(str(direction), str(role), str(blob), str(quantity), int(net))
            tag = f"{runs[i].label}: " if len(runs) > 1 else ""
            label = tag + kind + (f" (segment {segment})" if segment else "")
            curves.append(Curve(label, i, kind, part["iteration"].to_numpy(np.float64),
                                part["value"].to_numpy(np.float64), part["line"].to_numpy()))
    types = {str(t) for run in runs for layer, t in zip(run.log.net["layer"], run.log.net["type"]) if layer == name}
    frozen = any(name in run.findings.frozen for run in runs)
    return {"index": k, "name": name, "type": ", ".join(sorted(types)), "frozen": frozen,
            "chart": chart(curves, slots)}


def _scalar_charts(runs: list[Run]) -> list[dict]:
    """Loss (train and test losses), test outputs, learning rate: one chart each, every run on it."""
    groups: dict[str, list[Curve]] = {"loss": [], "test outputs": [], "learning rate": []}
    chance = []
    for i, run in enumerate(runs):
        tag = f"{run.label}: " if len(runs) > 1 else ""
        s = run.log.scalars
        for seg, rows in s.groupby("segment", sort=True):
            part = f" (segment {seg})" if seg else ""
            train = rows[((rows["source"] == "iteration") & (rows["name"] == "loss")).to_numpy()]
            groups["loss"].append(_scalar_curve(f"{tag}train loss{part}", i, "train loss", train))
            lr = rows[(rows["name"] == "lr").to_numpy()]
            groups["learning rate"].append(_scalar_curve(f"{tag}lr{part}", i, "lr", lr))
            test = rows[(rows["phase"] == "test").to_numpy()]
            for (net, name), out in test.groupby(["test_net", "name"], observed=True):
                where = "loss" if "loss" in str(name) else "test outputs"
                groups[where].append(_scalar_curve(f"{tag}test#{net} {name}{part}", i, f"test {name}", out))
        k = chance_loss(train_net(run.log.net))
        if k is not None:
            chance.append({"run": i, "value": k, "label": f"{tag}chance ln {round(math.exp(k))} = {k:.3g}"})
    return [{"title": title, "log": title != "test outputs", "chart": chart([c for c in curves if len(c.value)]),
             "chance": chance if title == "loss" else []}
            for title, curves in groups.items() if any(len(c.value) for c in curves)]


def _scalar_curve(label: str, run: int, kind: str, rows: pd.DataFrame) -> Curve:
    rows = rows.groupby("iteration", sort=True).agg(value=("value", "mean"), line=("line", "min")).reset_index()
    return Curve(label, run, kind, rows["iteration"].to_numpy(np.float64), rows["value"].to_numpy(np.float64),
                 rows["line"].to_numpy())


def _heatmaps(i: int, run: Run) -> list[dict]:
    out = []
    for quantity in ("data", "diff"):
        try:
            m = heatmap_matrix(run.log, quantity)
        except UsageError:  # no such values (a net without backward lines, say): no panel then
            continue
        cols = m.columns
        out.append({
            "run": i, "label": run.label, "quantity": quantity, "layers": [str(name) for name in m.index],
            "iteration": b64(cols.get_level_values("iteration").to_numpy(np.float64), "f8"),
            "segment": b64(cols.get_level_values("segment").to_numpy(np.float64), "f8"),
            "bin_width": int(m.attrs.get("bin_width", 1)), "rows": len(m), "cols": m.shape[1],
            "values": b64(m.to_numpy(np.float64), "f4"),
        })
    return out
