"""Shared fixtures: the real logs in sample_logs/, each parsed once per test session."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

import caffelog

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"

REAL_LOGS = {
    "healthy_conv": SAMPLES / "healthy_conv" / "train.log",
    "healthy_conv_default_prefix": SAMPLES / "healthy_conv" / "train_glog_default_prefix.log",
    "healthy_conv_legacy2015": SAMPLES / "healthy_conv_legacy2015" / "train.log",
    "nan_explode": SAMPLES / "nan_explode" / "train.log",
    "vanishing_tanh": SAMPLES / "vanishing_tanh" / "train.log",
    "vanishing_tanh_stderr": SAMPLES / "vanishing_tanh" / "stderr_alsologtostderr.log",
    "vanishing_tanh_error": SAMPLES / "vanishing_tanh" / "train.ERROR.log",
    "dead_relu": SAMPLES / "dead_relu" / "train.log",
    "iter_size_shared": SAMPLES / "iter_size_shared" / "train.log",
    "long_run_head": SAMPLES / "long_run" / "head40k.log.gz",
    "resumed_run": SAMPLES / "resumed_run" / "train.log",
    "two_test_nets": SAMPLES / "two_test_nets" / "train.log",
}

# runs made for the diagnosis (each folder's NOTES.md): tested by the diagnosis tests, not by
# every parser test (the parser meets nothing new in them)
DIAGNOSIS_LOGS = {name: SAMPLES / name / "train.log" for name in (
    "chance_from_start", "dead_after_step", "batchnorm_healthy", "frozen_finetune", "healthy_rmsprop",
    "nan_backward_sqrt", "lr_step_diverges", "healthy_adam_step", "weight_decay_high", "healthy_clipped")}
ALL_LOGS = {**REAL_LOGS, **DIAGNOSIS_LOGS}

# `make test-long` (CAFFELOG_LONG=1) runs the exhaustive campaigns: every real log on every
# engine, every log cut into windows, long fuzzing. `make test` runs them on a few logs that
# between them show every feature of the log language the parser meets.
LONG = os.environ.get("CAFFELOG_LONG") == "1"
long_only = __import__("pytest").mark.skipif(not LONG, reason="exhaustive: make test-long")
ENGINE_LOGS = sorted(REAL_LOGS) if LONG else [
    "iter_size_shared",         # iter_size, shared params, [Update] lines
    "healthy_conv_legacy2015",  # a 2015 build's lines
    "nan_explode",              # nan/inf, test phases, a crash
    "vanishing_tanh_error",     # glog's ERROR file: All-net-params lines only
    "resumed_run",              # two segments, iterations 20-30 in both
]
CUT_LOGS = sorted(ALL_LOGS) if LONG else ["nan_explode", "frozen_finetune"]


@functools.cache
def parsed(name: str) -> caffelog.CaffeLog:
    return caffelog.read_log(ALL_LOGS[name])


@functools.cache
def diagnosed(name: str):
    """The findings of a real log with the default settings (read-only: shared by tests)."""
    from caffelog.diagnose import diagnose
    return diagnose(parsed(name))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache from tests."""
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def log_line(name: str, number: int) -> str:
    """The text of one 1-based line of a real log (plain files only)."""
    with open(ALL_LOGS[name], encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if i == number:
                return line.rstrip("\n")
    raise IndexError(number)


# ---- a real browser for the report pages (Debian's Chromium, driven by playwright) ----------------

CHROMIUM = os.environ.get("CAFFELOG_CHROMIUM", "/usr/bin/chromium")
# .ci/run sets CAFFELOG_REQUIRE_BROWSER=1: there a missing browser fails the browser tests
REQUIRE_BROWSER = os.environ.get("CAFFELOG_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "no playwright (pip install playwright)"
    return None


def pytest_report_header(config):
    why = browser_missing()
    if why:
        verdict = "FAIL (CAFFELOG_REQUIRE_BROWSER=1)" if REQUIRE_BROWSER else "skipped"
        return f"browser tests: {verdict}: {why}"
    return f"browser tests: {CHROMIUM}"


@pytest.fixture(scope="session")
def browser():
    why = browser_missing()
    if why:
        if REQUIRE_BROWSER:
            pytest.fail(f"browser tests required but {why}")
        pytest.skip(f"browser tests: {why}")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
