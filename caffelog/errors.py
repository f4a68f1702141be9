"""The errors caffelog raises for things the user can fix: the CLI prints one line and exits 2."""
from __future__ import annotations


class LogInputError(Exception):
    """Input that cannot be read as a log at all (missing, a directory, binary, empty...)."""


class UsageError(Exception):
    """A request that cannot be met: unknown table, format, layer... (exit status 2)."""


class OutputExistsError(UsageError):
    """An output file is already there and --force was not given."""


def message(exc: Exception) -> str:
    """The one line the user reads for an error: `path: reason` for a system error."""
    if isinstance(exc, OSError):
        return f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}"
    return str(exc)
