"""Run the rules over a parsed log: selection, thresholds, configuration, ordering."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .causes import group
from .findings import SEVERITY_RANK, Finding, Findings
from .log import CaffeLog
from .reader import UsageError
from .rules import RULES
from .rules.base import Context, Facts, Window


@dataclass
class Settings:
    """Which rules run and with what thresholds; from config files and the command line."""

    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    fail_on: str = "error"

    def merged(self, other: "Settings") -> "Settings":
        """other (the command line) wins over self (the config file)."""
        thresholds = {k: dict(v) for k, v in self.thresholds.items()}
        for rule, values in other.thresholds.items():
            thresholds.setdefault(rule, {}).update(values)
        return Settings(other.select or self.select, self.ignore + other.ignore, thresholds,
                        other.fail_on or self.fail_on)


def parse_threshold(text: str) -> tuple[str, str, float]:
    """'exploding.value=1e9' -> ('exploding', 'value', 1e9)."""
    try:
        key, value = text.split("=", 1)
        rule, name = key.strip().rsplit(".", 1)
        return rule, name, float(value)
    except ValueError:
        raise UsageError(f"--threshold {text!r}: expected RULE.NAME=NUMBER, "
                         "e.g. exploding.value=1e9") from None


def load_settings(log_path: str | None) -> Settings:
    """[tool.caffelog] in a pyproject.toml, or a caffelog.toml, next to the log."""
    if not log_path or log_path == "-":
        return Settings()
    folder = Path(log_path).resolve().parent
    for name, table in (("caffelog.toml", None), ("pyproject.toml", ("tool", "caffelog"))):
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: {exc}") from None
        for key in table or ():
            data = data.get(key, {})
        if data:
            return _settings_from(data, path)
    return Settings()


def _settings_from(data: dict, path: Path) -> Settings:
    thresholds: dict[str, dict[str, float]] = {}
    for rule, values in (data.get("thresholds") or {}).items():
        if not isinstance(values, dict):
            raise UsageError(f"{path}: thresholds.{rule} must be a table of NAME = NUMBER")
        thresholds[rule] = {k: float(v) for k, v in values.items()}
    return Settings(list(data.get("select", [])), list(data.get("ignore", [])), thresholds,
                    data.get("fail-on", data.get("fail_on", "error")))


HOLD_MAX = 4_000_000  # rows of one iteration that may wait for the rest of it
WINDOW_ROWS = 250_000  # blobs rows diagnose() hands the rules at once


class Diagnosis:
    """The chosen rules fed window by window: `observe` each stretch of the tables as the log
    is read (in any cut, in log order), then `findings` once it is all read.

    Rules may group rows by iteration inside a window, so the rows of the last iteration of
    each window wait for the next one; memory holds the rules' accumulators and one iteration.
    """

    def __init__(self, settings: Settings | None = None):
        settings = settings or Settings()
        for rule_id in [*settings.select, *settings.ignore, *settings.thresholds]:
            if rule_id not in RULES:
                raise UsageError(f"unknown rule {rule_id!r}; rules are {', '.join(RULES)}")
        chosen = [r for r in RULES if (not settings.select or r in settings.select)
                  and r not in settings.ignore]
        try:
            self.rules = [RULES[r](settings.thresholds.get(r)) for r in chosen]
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
        self.facts = Facts()
        self.held: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None
        self.held_key: tuple | None = None

    def observe(self, blobs: pd.DataFrame, totals: pd.DataFrame, scalars: pd.DataFrame) -> None:
        tables = (blobs, totals, scalars)
        if self.held is not None:  # the held iteration's rows, and its rest at this window's head
            heads = [_run_length(t, self.held_key, from_end=False) for t in tables]
            held = tuple(_concat(h, t.iloc[:n]) for h, t, n in zip(self.held, tables, heads))
            tables = tuple(t.iloc[n:] for t, n in zip(tables, heads))
            if any(len(t) for t in tables) or len(held[0]) > HOLD_MAX:
                self._fold(*held)
                self.held = None
            else:
                self.held = held
                return
        ready, self.held, self.held_key = _split_last_iteration(*tables)
        self._fold(*ready)

    def findings(self, net: pd.DataFrame, solver: dict | None, final: bool = True) -> Findings:
        """All findings, the first non-finite value first, then by severity and log line, with
        their causes. final=False (a log still growing): leave out the iteration still waiting
        for its rest, and let more windows come."""
        if final and self.held is not None:
            self._fold(*self.held)
            self.held = None
        ctx = Context(net, solver, self.facts)
        found = sorted((f for rule in self.rules for f in rule.check(ctx)), key=_order)
        return Findings(found, group(found, ctx), ctx.roles.frozen)

    def _fold(self, blobs: pd.DataFrame, totals: pd.DataFrame, scalars: pd.DataFrame) -> None:
        if not (len(blobs) or len(scalars) or len(totals)):
            return
        w = Window(blobs, scalars, totals)
        self.facts.observe(w)
        for rule in self.rules:
            rule.observe(w)


def diagnose(log: CaffeLog, settings: Settings | None = None) -> Findings:
    """All findings of a parsed log, the first non-finite value first, then by severity and line."""
    d = Diagnosis(settings)
    for window in windows_of(log):
        d.observe(*window)
    return d.findings(log.net, log.solver)


def windows_of(log: CaffeLog, rows: int = WINDOW_ROWS):
    """The tables in windows of `rows` blobs rows (with the totals and scalars of the same
    lines): slices, not copies, so the rules' working copies stay the size of a window."""
    b, t, s = log.blobs, log.totals, log.scalars
    lines = b["line"].to_numpy()
    if not all((np.diff(df["line"].to_numpy()) >= 0).all() for df in (b, t, s)):
        yield b, t, s  # not in line order (built by hand?): one window
        return
    start_t = start_s = 0
    for start in range(0, max(len(b), 1), rows):
        piece = b.iloc[start:start + rows]
        last = start + rows >= len(b)
        upto = None if last else int(lines[start + rows - 1])
        end_t = len(t) if last else int(np.searchsorted(t["line"].to_numpy(), upto, side="right"))
        end_s = len(s) if last else int(np.searchsorted(s["line"].to_numpy(), upto, side="right"))
        yield piece, t.iloc[start_t:end_t], s.iloc[start_s:end_s]
        start_t, start_s = end_t, end_s


def _split_last_iteration(*tables: pd.DataFrame):
    """(rows before the window's last iteration, the rows of that iteration at the end of each
    table, its key); nothing is held back past HOLD_MAX rows (a log without Iteration lines must
    not grow the wait without bound). Slices, not copies."""
    blobs = tables[0]
    if not len(blobs):
        return tables, None, None
    key = blobs["segment"].iloc[-1], blobs["iteration"].iloc[-1]
    tails = [_run_length(t, key, from_end=True) for t in tables]
    if tails[0] > HOLD_MAX:
        return tables, None, None
    return (tuple(t.iloc[:len(t) - n] for t, n in zip(tables, tails)),
            tuple(t.iloc[len(t) - n:] for t, n in zip(tables, tails)), key)


def _run_length(t: pd.DataFrame, key: tuple, from_end: bool) -> int:
    """How many rows at the end (or the start) of t belong to the iteration `key`."""
    segment, iteration = key
    it = t["iteration"]
    same = (t["segment"] == segment).to_numpy() & (
        it.isna().to_numpy() if pd.isna(iteration) else (it == iteration).fillna(False).to_numpy())
    if from_end:
        same = same[::-1]
    other = np.flatnonzero(~same)
    return int(other[0]) if len(other) else len(t)


def _concat(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    if not len(old):
        return new
    return pd.concat([old, new], ignore_index=True) if len(new) else old


def _order(f: Finding):
    return (f.rule != "non-finite", SEVERITY_RANK[f.severity], f.line if f.line is not None else 1 << 62)


def worst_reaches(findings: list[Finding], fail_on: str) -> bool:
    """True when some finding is at least as severe as fail_on ('never' never fails)."""
    if fail_on == "never":
        return False
    return any(SEVERITY_RANK[f.severity] <= SEVERITY_RANK[fail_on] for f in findings)
