"""Which files the user meant: paths, quoted globs and directories searched for Caffe logs."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

# what a Caffe log is called: `caffe train 2>&1 | tee train.log`, gzipped, or glog's own files
LOG_PATTERNS = ("*.log", "*.log.gz", "*.INFO*")
GLOB_CHARS = frozenset("*?[")


@dataclass
class Inputs:
    """The logs to read, in the order given (a directory's in name order), and the arguments
    that named none (each said why)."""

    logs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def single(self) -> bool:
        """One plain path (or -): the commands keep their one-log output for it."""
        return len(self.logs) == 1 and not self.problems


def expand(arguments: list[str]) -> Inputs:
    """Every log the arguments name, each once: a file or `-` as it is, a directory searched
    (recursively) for LOG_PATTERNS, a glob the shell left quoted expanded here."""
    found, seen = Inputs(), set()
    for arg in arguments:
        for path, problem in _expand_one(arg):
            if problem:
                found.problems.append(problem)
                continue
            key = path if path == "-" else os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                found.logs.append(path)
    return found


def _expand_one(arg: str) -> list[tuple[str, str | None]]:
    if arg == "-":
        return [(arg, None)]
    if os.path.isdir(arg):
        logs = find_logs(Path(arg))
        return [(p, None) for p in logs] or [(arg, f"{arg}: no Caffe logs in it ({', '.join(LOG_PATTERNS)})")]
    if os.path.lexists(arg) or not GLOB_CHARS & set(arg):
        return [(arg, None)]  # a missing plain path is reported by whoever reads it, as for one log
    matches = sorted(glob.glob(arg, recursive=True))
    out: list[tuple[str, str | None]] = []
    for match in matches:
        out += [(p, None) for p in find_logs(Path(match))] if os.path.isdir(match) else [(match, None)]
    return out or [(arg, f"{arg}: matches no file")]


def find_logs(directory: Path) -> list[str]:
    """The Caffe logs under a directory, by name, in path order; hidden folders are skipped."""
    out = set()
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if any(Path(name).match(pattern) for pattern in LOG_PATTERNS):
                out.add(os.path.join(root, name))
    return sorted(out)
