"""caffelog: Caffe training logs (debug_info) as tidy tables, diagnoses and plots.

    import caffelog
    log = caffelog.read_log("train.log")      # also .gz, '-', a file object, or lines
    log.blobs, log.totals, log.scalars, log.net, log.solver, log.skipped

The names below load on first use, so `caffelog --help` does not wait for pandas.
"""
from .reader import LogInputError

__version__ = "0.1.0"
__all__ = ["CaffeLog", "LogInputError", "read_log", "__version__"]


def __getattr__(name: str):
    if name in ("CaffeLog", "read_log"):
        from . import log
        return getattr(log, name)
    raise AttributeError(f"module 'caffelog' has no attribute {name!r}")
