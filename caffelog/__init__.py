"""caffelog: Caffe training logs (debug_info) as tidy tables, diagnoses and plots.

    import caffelog
    log = caffelog.read_log("train.log")      # also .gz, '-', a file object, or lines
    log.blobs, log.totals, log.scalars, log.net, log.solver, log.skipped
"""
from .log import CaffeLog, read_log
from .reader import LogInputError

__version__ = "0.1.0"
__all__ = ["CaffeLog", "LogInputError", "read_log", "__version__"]
