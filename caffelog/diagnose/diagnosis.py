"""Run the rules over a log's tables, window by window: selection, thresholds, ordering."""
from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from caffelog.diagnose.causes import group
from caffelog.diagnose.context import Context, Facts, Window
from caffelog.diagnose.findings import SEVERITY_RANK, Finding, Findings
from caffelog.diagnose.rules import RULES
from caffelog.diagnose.settings import Settings
from caffelog.errors import UsageError
from caffelog.tables.caffe_log import CaffeLog
from caffelog.tables.windows import Tables, windows_of

HOLD_MAX = 4_000_000  # rows of one iteration that may wait for the rest of it


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

    def observe(self, blobs: pd.DataFrame, totals: pd.DataFrame, scalars: pd.DataFrame) -> None:
        tables = (blobs, totals, scalars)
        if self.held is not None:  # the held rows go first: one fold, not one for them alone
            tables = tuple(_concat(h, t) for h, t in zip(self.held, tables))
            self.held = None
        ready, self.held = _split_last_iteration(*tables)
        self._fold(*ready)

    def findings(self, net: pd.DataFrame, solver: dict | None, final: bool = True) -> Findings:
        """All findings, the first non-finite value first, then by severity and log line, with
        their causes. final=False (a log still growing): only the events (Rule.event) so far, without
        the iteration still waiting for its rest; the verdicts on the run come once it has ended."""
        if final and self.held is not None:
            self._fold(*self.held)
            self.held = None
        ctx = Context(net, solver, self.facts)
        found = sorted((f for rule in self.rules if final or rule.event for f in rule.check(ctx)), key=_order)
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
    return diagnose_windows(windows_of(log), log.net, lambda: log.solvers, settings)


def diagnose_windows(windows: Iterable[Tables], net: Callable[[], pd.DataFrame] | pd.DataFrame,
                     solvers: Callable[[], list[dict]], settings: Settings | None = None) -> Findings:
    """The findings of a log read a window at a time (net and solver settings are asked for
    once every window is in: a stream knows them only then)."""
    d = Diagnosis(settings)
    for window in windows:
        d.observe(*window)
    found = solvers()
    return d.findings(net() if callable(net) else net, found[0] if found else {})


def _split_last_iteration(*tables: pd.DataFrame):
    """(rows before the window's last iteration, the rows of that iteration at the end of each
    table); nothing is held back past HOLD_MAX rows (a log without Iteration lines must
    not grow the wait without bound). Slices, not copies."""
    blobs = tables[0]
    if not len(blobs):
        return tables, None
    key = blobs["segment"].iloc[-1], blobs["iteration"].iloc[-1]
    tails = [_tail_length(t, key) for t in tables]
    if tails[0] > HOLD_MAX:
        return tables, None
    return (tuple(t.iloc[:len(t) - n] for t, n in zip(tables, tails)),
            tuple(t.iloc[len(t) - n:] for t, n in zip(tables, tails)))


def _tail_length(t: pd.DataFrame, key: tuple) -> int:
    """How many rows at the end of t belong to the iteration `key`."""
    segment, iteration = key
    it = t["iteration"]
    same = (t["segment"] == segment).to_numpy() & (
        it.isna().to_numpy() if pd.isna(iteration) else (it == iteration).fillna(False).to_numpy())
    other = np.flatnonzero(~same[::-1])
    return int(other[0]) if len(other) else len(t)


def _concat(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Held rows and the next window's, categories united (a plain concat would make them objects)."""
    if not len(old):
        return new
    if not len(new):
        return old
    out = pd.concat([old, new], ignore_index=True)
    for column in old.columns:
        categorical = isinstance(old[column].dtype, pd.CategoricalDtype)
        if categorical and not isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = pd.api.types.union_categoricals([old[column], new[column]])
    return out


def _order(f: Finding):
    return (f.rule != "non-finite", SEVERITY_RANK[f.severity], f.line if f.line is not None else 1 << 62)


def worst_reaches(findings: list[Finding], fail_on: str) -> bool:
    """True when some finding is at least as severe as fail_on ('never' never fails)."""
    if fail_on == "never":
        return False
    return any(SEVERITY_RANK[f.severity] <= SEVERITY_RANK[fail_on] for f in findings)
