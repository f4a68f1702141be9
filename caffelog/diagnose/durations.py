"""Durations as people say them, for every report of a run's wall-clock time."""
from __future__ import annotations


def elapsed(seconds: float) -> str:
    """A duration as people say it: `0.84 s`, `42 s`, `13 min 5 s`, `2 h 13 min`, `3 d 4 h`."""
    if seconds < 10:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
