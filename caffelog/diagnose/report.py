"""Findings as text (terminal), JSON (machines) and Markdown (issues, notebooks)."""
from __future__ import annotations

import json

from caffelog.diagnose.durations import elapsed
from caffelog.diagnose.findings import Finding
from caffelog.printable import clean
from caffelog.tables.caffe_log import LogSummary

JSON_SCHEMA_VERSION = 2


def _where(f: Finding) -> str:
    parts = []
    if f.iteration is not None:
        span = f"{f.iteration}" if f.last_iteration in (None, f.iteration) else f"{f.iteration}-{f.last_iteration}"
        parts.append(f"iter {span}")
    if f.line is not None:
        parts.append(f"line {f.line}")
    if f.time is not None:
        parts.append(f"{elapsed(f.time)} into the run")
    return ", ".join(parts) or "whole run"


def finding_lines(f: Finding) -> list[str]:
    """One finding as the text report prints it."""
    est = " [estimate]" if f.estimated else ""
    out = [f"{f.severity.upper():7} {f.rule:18} {_where(f)}{est}", f"        {clean(f.message)}"]
    out += [f"        - {clean(ev)}" for ev in f.evidence]
    if f.advice:
        out.append(f"        fix: {clean(f.advice)}")
    return out


def render_text(log: LogSummary, findings: list[Finding], verbose: bool = False) -> str:
    """Causes first, a short paragraph each with their findings folded by rule; every finding
    with its own fix after them when verbose. A healthy run says so in one line."""
    causes = getattr(findings, "causes", [])
    counts = {s: sum(c.severity == s for c in causes) for s in ("error", "warning", "info")}
    if not counts["error"] and not counts["warning"]:
        info = f" ({counts['info']} info)" if counts["info"] else ""
        lines = [f"{clean(log.source)}: healthy: no errors or warnings{info}"]
    else:
        tally = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
        lines = [f"{clean(log.source)}: {len(causes)} cause{'s' if len(causes) != 1 else ''} ({tally}) "
                 f"from {len(findings)} finding{'s' if len(findings) != 1 else ''}"]
    frozen = getattr(findings, "frozen", [])
    if frozen:
        lines.append(f"frozen (lr_mult 0, not trained on purpose): {clean(', '.join(frozen))}")
    for cause in causes:
        lines.extend(cause_lines(cause, findings))
    if verbose and findings:
        lines.append("")
        lines.append("every finding:")
        for f in findings:
            lines.extend(finding_lines(f))
    for w in log.warnings:
        lines.append(f"note: {clean(w)}")
    return "\n".join(lines)


def cause_lines(cause, findings: list[Finding]) -> list[str]:
    """One cause: headline, its findings folded by rule, the fix and the settings to change."""
    where = _where(Finding(rule="", severity="", message="", iteration=cause.iteration, line=cause.line,
                           time=cause.time))
    out = [f"{cause.severity.upper():7} {cause.id:18} {where}", f"        {clean(cause.headline)}"]
    members = [findings[i] for i in cause.findings]
    if len(members) > 1:
        by_rule: dict[str, list[Finding]] = {}
        for f in members:
            by_rule.setdefault(f.rule, []).append(f)
        for rule, fs in by_rule.items():
            out.append(f"        - {rule}: {clean(_fold(fs))}")
    if cause.advice:
        out.append(f"        fix: {clean(cause.advice)}")
    if cause.settings:
        out.append(f"        settings: {clean(', '.join(cause.settings))}")
    return out


def _fold(fs: list[Finding]) -> str:
    """'ip1-ip3: every param diff is exactly 0 ...' for several per-layer findings of one rule."""
    first = min(fs, key=lambda f: f.line if f.line is not None else 1 << 62)
    if len(fs) == 1:
        return first.message + (" [estimate]" if first.estimated else "")
    from caffelog.diagnose.causes import by_start
    return f"{len(fs)} findings ({by_start(fs)}); first (line {first.line}): {first.message}"


def to_dict(log: LogSummary, findings: list[Finding]) -> dict:
    """Stable schema: {schema, source, lines, skipped, warnings, frozen, causes, findings}."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "source": log.source,
        "lines": log.n_lines,
        "skipped": log.skipped.count,
        "warnings": log.warnings,
        "frozen": getattr(findings, "frozen", []),
        "causes": [c.to_dict() for c in getattr(findings, "causes", [])],
        "findings": [f.to_dict() for f in findings],
    }


def to_json(log: LogSummary, findings: list[Finding]) -> str:
    return json.dumps(to_dict(log, findings), indent=2)


def render_concise(log: LogSummary, findings: list[Finding]) -> str:
    """One line per finding, `path:line: rule severity message`, as ruff and flake8 print them:
    editors open the line, grep and sort work on it."""
    return "\n".join(f"{clean(log.source)}:{'' if f.line is None else f'{f.line}:'} {f.rule} {f.severity} "
                     f"{clean(f.message)}" for f in findings)


GITHUB_LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def _github_escape(text: str, in_property: bool = False) -> str:
    out = clean(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return out.replace(":", "%3A").replace(",", "%2C") if in_property else out


def render_github(log: LogSummary, findings: list[Finding]) -> str:
    """GitHub Actions workflow commands: each finding an annotation on its log line."""
    lines = []
    for f in findings:
        props = [f"file={_github_escape(log.source, True)}"] + ([f"line={f.line}"] if f.line is not None else [])
        props.append(f"title={_github_escape(f.rule, True)}")
        lines.append(f"::{GITHUB_LEVELS[f.severity]} {','.join(props)}::{_github_escape(f.message)}")
    return "\n".join(lines)


def md_escape(text) -> str:
    """Escape Markdown/HTML-significant characters in data (layer names, messages)."""
    out = clean(text)
    for ch in "\\`*_[]<>|":
        out = out.replace(ch, "\\" + ch)
    return out


def render_markdown(log: LogSummary, findings: list[Finding]) -> str:
    lines = [f"# caffelog diagnosis of {md_escape(log.source)}", ""]
    causes = getattr(findings, "causes", [])
    if causes:
        lines += ["## Causes", ""]
        for c in causes:
            when = "" if c.time is None else f", {elapsed(c.time)} into the run"
            lines.append(f"- **{c.severity}** `{c.id}` (iteration {c.iteration}, line {c.line}{when}): "
                         f"{md_escape(c.headline)}"
                         + (f"; change: {md_escape(', '.join(c.settings))}" if c.settings else ""))
        lines += ["", "## Findings", ""]
    if not findings:
        lines.append("No problems found.")
    else:
        lines += ["| severity | rule | iteration | line | time | layer | finding |",
                  "|---|---|---|---|---|---|---|"]
        for f in findings:
            it = "" if f.iteration is None else (str(f.iteration) if f.last_iteration in (None, f.iteration)
                                                  else f"{f.iteration}-{f.last_iteration}")
            lines.append(f"| {f.severity} | {f.rule} | {it} | {'' if f.line is None else f.line} | "
                         f"{'' if f.time is None else elapsed(f.time)} | {md_escape(f.layer or '')} | "
                         f"{md_escape(f.message)}"
                         + (" *(estimate)*" if f.estimated else "") + " |")
        lines += ["", "## What to do", ""]
        for advice in dict.fromkeys(c.advice for c in causes if c.advice) if causes else ():
            lines.append(f"- {md_escape(advice)}")
    for w in log.warnings:
        lines += ["", f"> note: {md_escape(w)}"]
    return "\n".join(lines) + "\n"


RENDERERS = {"text": render_text, "json": to_json, "markdown": render_markdown, "concise": render_concise,
             "github": render_github}
