"""caffelog: Caffe training logs (debug_info) as tidy tables, diagnoses and plots.

    import caffelog
    log = caffelog.read_log("train.log")      # also .gz, '-', a file object, or lines
    log.blobs, log.totals, log.scalars, log.net, log.solver, log.skipped
    from caffelog.diagnose import diagnose
    diagnose(log)                               # findings, grouped into causes
    caffelog.report(["train.log"], "train.html")  # one self-contained HTML page

The names below load on first use, so `caffelog --help` does not wait for pandas.
"""
from caffelog.errors import LogInputError, UsageError
from caffelog.version import __version__

__all__ = ["CaffeLog", "LogInputError", "UsageError", "read_log", "report", "__version__"]


def __getattr__(name: str):
    if name == "CaffeLog":
        from caffelog.tables.caffe_log import CaffeLog
        return CaffeLog
    if name == "read_log":
        from caffelog.engines import read_log
        return read_log
    if name == "report":
        from caffelog.api import report
        return report
    raise AttributeError(f"module 'caffelog' has no attribute {name!r}")
