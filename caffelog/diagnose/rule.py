"""The shape of a rule: what it folds, what it reports, and how a finding is made."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from caffelog.diagnose.accumulate import Span
from caffelog.diagnose.findings import Finding, where
from caffelog.diagnose.values import as_int
from caffelog.errors import UsageError

if TYPE_CHECKING:
    from caffelog.diagnose.context import Context, Window


class Rule:
    """A rule reads the tables (never the log text) and returns findings.

    The tables come as windows of whole iterations: `observe` folds each window into the
    rule's accumulators (a few numbers per layer), `check` turns them into findings once the
    log is read, with the net and solver settings at hand. So a rule never holds the rows and
    a 10 GB log is diagnosed in bounded memory.

    Subclasses set ``id`` (kebab-case), ``severity`` and ``thresholds`` (name -> default); the
    class docstring says what the rule detects, why it matters and how to fix it.
    """

    id: ClassVar[str]
    severity: ClassVar[str]
    thresholds: ClassVar[dict[str, float]] = {}
    positive: ClassVar[frozenset[str]] = frozenset()  # thresholds that must be > 0 (the rest >= 0)
    fractions: ClassVar[frozenset[str]] = frozenset()  # thresholds that are a share of the run: <= 1
    counts: ClassVar[frozenset[str]] = frozenset()  # thresholds that count rows: < 2**62
    # An event (a nan, a jump) stays true whatever the log says next, so a growing log reports it at
    # once; a verdict on the run (a median, "from the start", "to the end") may change with more
    # iterations, so it waits for the run's end. Rules are verdicts unless they say otherwise.
    event: ClassVar[bool] = False

    def __init__(self, overrides: dict[str, float] | None = None):
        unknown = set(overrides or {}) - set(self.thresholds)
        if unknown:
            raise UsageError(f"rule {self.id} has no threshold {', '.join(sorted(unknown))} "
                             f"(it has: {', '.join(self.thresholds) or 'none'})")
        for name, value in (overrides or {}).items():
            self._check(name, value)
        self.threshold = {**self.thresholds, **(overrides or {})}

    def _check(self, name: str, value) -> None:
        """A threshold is a finite number, >= 0 (> 0 where the rule divides by it or counts
        with it): anything else is one clear line, not a traceback deep in a rule."""
        where = f"threshold {self.id}.{name} = {value!r}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{where}: not a number")
        if not math.isfinite(value):
            raise UsageError(f"{where}: must be a finite number")
        if value < 0 or (name in self.positive and value == 0):
            raise UsageError(f"{where}: must be {'> 0' if name in self.positive else '>= 0'}")
        if name in self.fractions and value > 1:
            raise UsageError(f"{where}: a share of the run, at most 1")
        if name in self.counts and value >= 2 ** 62:
            raise UsageError(f"{where}: too large to count with")

    def observe(self, w: Window) -> None:
        """Fold one window of the tables into this rule's state (default: nothing to keep)."""

    def check(self, ctx: Context) -> list[Finding]:
        raise NotImplementedError

    def finding(self, message: str, **kw) -> Finding:
        kw.setdefault("severity", self.severity)
        return Finding(rule=self.id, message=message, **kw)

    def episode(self, message: str, span: Span, first: pd.Series | None = None,
                **kw) -> Finding:
        """A finding over the rows of `span` (in log order): it starts at `first` (default: the
        span's first row) and ends at its last row's iteration; where-fields come from the
        first row."""
        first = span.first if first is None else first
        kw.setdefault("segment", int(first["segment"]))
        kw.setdefault("iteration", as_int(first["iteration"]))
        kw.setdefault("last_iteration", as_int(span.last_iteration))
        for key, value in where(first).items():
            kw.setdefault(key, value)
        kw.setdefault("phase", "train")
        for column in ("direction", "layer", "blob", "quantity"):
            if column in first.index:
                kw.setdefault(column, first[column])
        return self.finding(message, **kw)


def layer_span(layers: list[str]) -> str:
    """'ip1-ip3' for a run of numbered names, else a comma list."""
    if len(layers) >= 3:
        stems = {name.rstrip("0123456789") for name in layers}
        nums = [name[len(next(iter(stems))):] for name in layers]
        if len(stems) == 1 and all(n.isdigit() for n in nums):
            ints = [int(n) for n in nums]
            if ints == list(range(ints[0], ints[0] + len(ints))):
                return f"{layers[0]}-{layers[-1]}"
    return ", ".join(layers)


def finite(values: pd.Series) -> pd.Series:
    return values[np.isfinite(values.to_numpy())]
