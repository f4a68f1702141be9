"""Wall-clock time of each line, read from its prefix, and kept per line for the tables.

glog writes `I1122 17:34:56.638778` (no year: glog <= 0.5, almost every Caffe log) or
`I20261122 17:34:56.638778` (glog >= 0.6); Caffe inside other programs writes spdlog's
`[2018-06-18 13:41:47.462]` or the Python logger's `INFO - 16:42:11 - ` (no date at all). The parts
are the grammar's terminals (GLOG_DATE, CLOCK_TIME, ISO_DATE, ...); this module only says what they
mean. A line without them has no time (NaN): nothing is invented.

Without a year, a date is placed in a leap year's calendar and a step back of more than half a year
is a new year (Dec 31 -> Jan 1 is one day whether or not the year was a leap year); without a date,
a step back of more than half a day is a midnight. The one thing a year-less log cannot tell is
whether Feb 29 existed: a run going from Feb 28 to Mar 1 of a common year counts one day too many.
"""
from __future__ import annotations

import re
from array import array
from functools import lru_cache

import numpy as np

from caffelog.parse.grammar import load_grammar, terminal_regex

DAY = 86400.0
# what a line's time is measured against, and after how long it wraps
NONE, ABSOLUTE, YEARLESS, DATELESS = 0, 1, 2, 3
PERIOD = np.array([np.inf, np.inf, 366 * DAY, DAY])
# days before each month (1-based) in a leap year: a year-less date's day of the year
_LEAP_DAYS_BEFORE = np.array([0, 0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335], np.int64)
_SEVERITY = np.zeros(256, bool)
_SEVERITY[list(b"IWEF")] = True
_MAYBE_TIMED = np.zeros(256, bool)  # first bytes of the other prefixes (spdlog, Python logger)
_MAYBE_TIMED[list(b"IWEF[")] = True


class _Layout:
    """A fixed-width prefix layout: `?` the severity, Y/M/D the date, h/m/s/u the time of day
    (u: microseconds), other characters themselves. Reading it is a few column operations."""

    # digit letter -> (field: year, month, day, second of the day, microsecond; place values)
    _PLACES = {"Y": (0, (1000, 100, 10, 1)), "M": (1, (10, 1)), "D": (2, (10, 1)),
               "h": (3, (36000, 3600)), "m": (3, (600, 60)), "s": (3, (10, 1)),
               "u": (4, (100000, 10000, 1000, 100, 10, 1))}

    def __init__(self, pattern: str):
        self.width = len(pattern)
        self.has_year = "Y" in pattern
        self.separators = [(i, ord(c)) for i, c in enumerate(pattern) if c in " :."]
        self.digits = [i for i, c in enumerate(pattern) if c in self._PLACES]
        self.places: list[tuple[int, int]] = []  # per digit column: (field, place value)
        seen: dict[str, int] = {}
        for i in self.digits:
            field, places = self._PLACES[pattern[i]]
            k = seen[pattern[i]] = seen.get(pattern[i], -1) + 1
            self.places.append((field, places[k]))

    def matches(self, window: np.ndarray, severity: np.ndarray) -> np.ndarray:
        """Rows of window (line starts) in this layout, by their separators (digits: read())."""
        ok = severity.copy()
        for i, byte in self.separators:
            ok &= window[:, i] == byte
        return np.flatnonzero(ok)

    def read(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(seconds, form) of rows whose separators matched; a non-digit where a digit belongs: NONE."""
        d = w[:, self.digits] - np.uint8(48)  # a byte below '0' wraps above 9
        fields = [np.zeros(len(w), np.int64) for _ in range(5)]
        for column, (field, place) in enumerate(self.places):
            fields[field] += d[:, column].astype(np.int64) * place
        year, month, day, second, micro = fields
        seconds, form = _place(year, month, day, second + micro / 1e6, self.has_year)
        bad = d.max(axis=1) > 9
        seconds[bad], form[bad] = np.nan, NONE
        return seconds, form


# the layouts glog writes: `I1122 17:34:56.638778 ` (<= 0.5) and `I20261122 17:34:56.638778 ` (>= 0.6)
_GLOG_LAYOUTS = (_Layout("?MMDD hh:mm:ss.uuuuuu "), _Layout("?YYYYMMDD hh:mm:ss.uuuuuu "))
_WIDTH = max(layout.width for layout in _GLOG_LAYOUTS)


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    """Prefix patterns with the clock parts as groups, built from the grammar's terminals."""
    g = load_grammar()

    def part(name: str) -> str:
        return terminal_regex(g, name)
    glog = re.compile(rf"{part('SEVERITY')}(?P<date>{part('GLOG_DATE')}) (?P<time>{part('CLOCK_TIME')}) ")
    spdlog = re.compile(rf"\[(?P<date>{part('ISO_DATE')}) (?P<time>{part('SPDLOG_TIME')})\] ")
    pylog = re.compile(rf"(?:INFO|WARNING|ERROR) - (?P<time>{part('PYLOG_TIME')}) - ")
    return glog, spdlog, pylog


def line_times(buf: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, form) of each line starting at `starts` in buf (zero padded by >= 26 bytes).

    seconds is since 1970 for ABSOLUTE lines, since the start of a leap year for YEARLESS ones,
    since midnight for DATELESS ones, NaN for lines without a time (form NONE). The classic glog
    layouts are read for all lines at once; other prefixes go through the grammar's patterns."""
    n = len(starts)
    seconds, form = np.full(n, np.nan), np.zeros(n, np.int8)
    if not n:
        return seconds, form
    window = np.lib.stride_tricks.sliding_window_view(buf, _WIDTH)[starts]
    severity = _SEVERITY[window[:, 0]]
    done = np.zeros(n, bool)
    for layout in _GLOG_LAYOUTS:
        rows = layout.matches(window, severity & ~done)
        if len(rows):
            seconds[rows], form[rows] = layout.read(window if len(rows) == n else window[rows])
            done[rows] = form[rows] != NONE
    for i in np.flatnonzero(~done & _MAYBE_TIMED[window[:, 0]]).tolist():
        head = bytes(buf[starts[i]:starts[i] + 48]).decode("latin-1")
        seconds[i], form[i] = _one_line(head)
    return seconds, form


def _place(y, m, day, clock, has_year: bool) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and form of dates (year unknown unless has_year) with a time of day; invalid ones NaN."""
    ok = (m >= 1) & (m <= 12) & (day >= 1) & (day <= 31) & (clock < DAY + 1)
    mm = np.clip(m, 1, 12)
    if has_year:
        seconds = _days_since_1970(y, mm, day) * DAY + clock
    else:
        seconds = (_LEAP_DAYS_BEFORE[mm] + day - 1) * DAY + clock
    seconds[~ok] = np.nan
    form = np.where(ok, ABSOLUTE if has_year else YEARLESS, NONE).astype(np.int8)
    return seconds, form


def _days_since_1970(y, m, d):
    """Days from 1970-01-01 to a proleptic Gregorian date (vectorised civil-to-days)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _one_line(head: str) -> tuple[float, int]:
    """(seconds, form) of a prefix the fast layout does not cover, by the grammar's patterns."""
    glog, spdlog, pylog = _patterns()
    for pattern in (glog, spdlog, pylog):
        match = pattern.match(head)
        if match is None:
            continue
        clock = _time_of_day(match["time"])
        date = match.groupdict().get("date")
        if clock is None:
            return np.nan, NONE
        if date is None:
            return clock, DATELESS
        digits = date.replace("-", "")
        has_year = len(digits) == 8
        y, m, d = (int(digits[:4]), int(digits[4:6]), int(digits[6:8])) if has_year else (0, *divmod(int(digits), 100))
        seconds, form = _place(np.array([y]), np.array([m]), np.array([d]), np.array([clock]), has_year)
        return float(seconds[0]), int(form[0])
    return np.nan, NONE


def _time_of_day(text: str) -> float | None:
    parts = text.split(":")
    try:
        h, m, s = int(parts[0]), int(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        return None
    if len(parts) != 3 or h > 23 or m > 59 or not 0 <= s < 61:
        return None
    return h * 3600 + m * 60 + s


class LineClock:
    """The time of every line from line `base` on (NaN where a line has none), unwrapped across
    midnights and new years, and when each segment (solver start-up) began.

    Times are kept one float per line: a row's time is then `at(its line)`, whichever record kind
    the row came from. A stream drops what it has written (drop_before), so memory stays bounded.
    """

    def __init__(self) -> None:
        self.base = 1  # the line of times[0]
        self.times, self.forms = array("d"), array("b")
        self._last, self._wrapped = np.nan, 0.0  # the last time as given; what wraps added so far
        self.segment_lines = [1]  # segment k starts at this line (segment 0: the log's first)
        self.segment_starts = [np.nan]  # and at this time (NaN until a timed line is seen)

    @property
    def end(self) -> int:
        """One past the last line this clock knows."""
        return self.base + len(self.times)

    def extend(self, seconds: np.ndarray, form: np.ndarray) -> None:
        """Append the times of the next lines (from line_times, or another clock's)."""
        seconds = np.asarray(seconds, np.float64).copy()
        timed = np.flatnonzero(~np.isnan(seconds))
        if len(timed):
            raw = seconds[timed]
            previous = np.concatenate([[raw[0] if np.isnan(self._last) else self._last], raw[:-1]])
            period = PERIOD[np.asarray(form, np.int64)[timed]]
            finite = np.isfinite(period)
            # how many midnights (new years) a step back of the clock crossed
            crossed = np.floor((previous - raw + period / 2) / np.where(finite, period, 1.0))
            wraps = np.where(finite, np.maximum(crossed, 0.0) * period, 0.0)
            offsets = self._wrapped + np.cumsum(wraps)
            seconds[timed] = raw + offsets
            self._last, self._wrapped = float(raw[-1]), float(offsets[-1])
        first = self.end
        self.times.frombytes(seconds.tobytes())
        self.forms.frombytes(np.asarray(form, np.int8).tobytes())
        self._resolve(first)

    def extend_from(self, other: LineClock) -> None:
        """Append another clock's lines (a parallel worker's range, in file order). Its times are
        unwrapped already from its first on: only the step from this clock's last time to that
        first one can wrap, so they all move by one offset."""
        seconds = np.frombuffer(other.times, np.float64)
        forms = np.frombuffer(other.forms, np.int8)
        timed = np.flatnonzero(~np.isnan(seconds))
        if not len(timed):
            self.extend(seconds, forms)
            return
        first, offset = seconds[timed[0]], self._wrapped
        period = PERIOD[int(forms[timed[0]])]
        if not np.isnan(self._last) and np.isfinite(period):
            offset += max(np.floor((self._last - first + period / 2) / period), 0.0) * period
        start = self.end
        self.times.frombytes((seconds + offset).tobytes())
        self.forms.frombytes(forms.tobytes())
        self._last, self._wrapped = other._last, offset + other._wrapped
        self._resolve(start)

    def mark_segment(self, line: int) -> None:
        """A later solver start-up (a resumed run) begins at `line`."""
        self.segment_lines.append(line)
        self.segment_starts.append(np.nan)
        self._resolve(line)

    def _resolve(self, since: int) -> None:
        """Give unresolved segment starts the first time at or after their line, among the lines
        known from `since` on."""
        for k, (line, start) in enumerate(zip(self.segment_lines, self.segment_starts)):
            if not np.isnan(start):
                continue
            lo = max(line, since) - self.base
            if lo >= len(self.times):
                continue
            known = np.frombuffer(self.times, np.float64)[max(lo, 0):]
            timed = np.flatnonzero(~np.isnan(known))
            if len(timed):
                self.segment_starts[k] = float(known[timed[0]])

    def at(self, lines: np.ndarray) -> np.ndarray:
        """The (unwrapped) time of each line; NaN for lines without one or not kept."""
        times = np.frombuffer(self.times, np.float64)
        index = np.asarray(lines, np.int64) - self.base
        inside = (index >= 0) & (index < len(times))
        out = np.full(len(index), np.nan)
        out[inside] = times[index[inside]]
        return out

    def since_start(self, lines: np.ndarray, segments: np.ndarray) -> np.ndarray:
        """Seconds since the start of each line's segment."""
        starts = np.asarray(self.segment_starts, np.float64)
        seg = np.clip(np.asarray(segments, np.int64), 0, len(starts) - 1)
        return np.round(self.at(lines) - starts[seg], 6)  # glog's microseconds, no float noise

    def drop_before(self, line: int) -> None:
        """Forget the lines before `line` (a stream has written their rows)."""
        k = min(max(line - self.base, 0), len(self.times))
        if k:
            self.times, self.forms = self.times[k:], self.forms[k:]
            self.base += k
