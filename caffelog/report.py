"""Findings as text (terminal), JSON (machines) and Markdown (issues, notebooks)."""
from __future__ import annotations

import json

from .findings import Finding
from .log import CaffeLog

JSON_SCHEMA_VERSION = 1


def _where(f: Finding) -> str:
    parts = []
    if f.iteration is not None:
        span = f"{f.iteration}" if f.last_iteration in (None, f.iteration) else f"{f.iteration}-{f.last_iteration}"
        parts.append(f"iter {span}")
    if f.line is not None:
        parts.append(f"line {f.line}")
    return ", ".join(parts) or "whole run"


def _clean(text) -> str:
    """Names are data: strip control characters so a name cannot rewrite the terminal."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text))


def finding_lines(f: Finding) -> list[str]:
    """One finding as the text report prints it."""
    est = " [estimate]" if f.estimated else ""
    out = [f"{f.severity.upper():7} {f.rule:18} {_where(f)}{est}", f"        {_clean(f.message)}"]
    out += [f"        - {_clean(ev)}" for ev in f.evidence]
    if f.advice:
        out.append(f"        fix: {_clean(f.advice)}")
    return out


def render_text(log: CaffeLog, findings: list[Finding]) -> str:
    head = f"{_clean(log.source)}: {len(findings)} finding{'s' if len(findings) != 1 else ''}"
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
    head += " (" + ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n) + ")" if findings else ""
    lines = [head]
    for f in findings:
        lines.extend(finding_lines(f))
    if not findings:
        lines.append("no problems found")
    for w in log.warnings:
        lines.append(f"note: {_clean(w)}")
    return "\n".join(lines)


def to_json(log: CaffeLog, findings: list[Finding]) -> str:
    """Stable schema: {schema, source, lines, skipped, findings: [Finding fields...]}."""
    return json.dumps({
        "schema": JSON_SCHEMA_VERSION,
        "source": log.source,
        "lines": log.n_lines,
        "skipped": log.skipped.count,
        "warnings": log.warnings,
        "findings": [f.to_dict() for f in findings],
    }, indent=2)


def _md(text) -> str:
    """Escape Markdown/HTML-significant characters in data (layer names, messages)."""
    out = _clean(text)
    for ch in "\\`*_[]<>|":
        out = out.replace(ch, "\\" + ch)
    return out


def render_markdown(log: CaffeLog, findings: list[Finding]) -> str:
    lines = [f"# caffelog diagnosis of {_md(log.source)}", ""]
    if not findings:
        lines.append("No problems found.")
    else:
        lines += ["| severity | rule | iteration | line | layer | finding |",
                  "|---|---|---|---|---|---|"]
        for f in findings:
            it = "" if f.iteration is None else (str(f.iteration) if f.last_iteration in (None, f.iteration)
                                                  else f"{f.iteration}-{f.last_iteration}")
            lines.append(f"| {f.severity} | {f.rule} | {it} | {'' if f.line is None else f.line} | "
                         f"{_md(f.layer or '')} | {_md(f.message)}"
                         + (" *(estimate)*" if f.estimated else "") + " |")
        lines += ["", "## What to do", ""]
        for f in findings:
            if f.advice:
                lines.append(f"- **{f.rule}**{' ' + _md(f.layer) if f.layer else ''}: {_md(f.advice)}")
    for w in log.warnings:
        lines += ["", f"> note: {_md(w)}"]
    return "\n".join(lines) + "\n"


RENDERERS = {"text": render_text, "json": to_json, "markdown": render_markdown}
