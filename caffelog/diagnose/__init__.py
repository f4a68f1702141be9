"""Diagnosis: rules fold a log's tables window by window into findings, grouped into causes.

    from caffelog.diagnose import diagnose, Settings
    findings = diagnose(caffelog.read_log("train.log"))
"""
from caffelog.diagnose.diagnosis import Diagnosis, diagnose, diagnose_windows, worst_reaches
from caffelog.diagnose.settings import Settings, load_settings, parse_threshold

__all__ = ["Diagnosis", "Settings", "diagnose", "diagnose_windows", "load_settings",
           "parse_threshold", "worst_reaches"]
