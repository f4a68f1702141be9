#!/usr/bin/env python3
"""The report page of the real 122 MB long_run log: how long it takes to write, how big it is, how
fast it opens in headless Chromium, each beside a baseline measured in the same run.

    python benchmarks/bench_report.py             # needs ../shared and /usr/bin/chromium
    python benchmarks/bench_report.py --repeat 5

Rows: `caffelog report` against `caffelog diagnose` on the same log (both from a cold cache, then
both from a warm one); the page's size; its load in the browser (navigation start to the page's
script done: scalars and heatmaps drawn) against a page holding only the inlined uPlot library,
and the time to draw every layer panel by scrolling through them. Times are the fastest of
--repeat runs. This is the only code besides bench_parse.py that reads ../shared.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LONG_RUN = ROOT.parent / "shared" / "real_logs" / "long_run" / "train.log.gz"
sys.path.insert(0, str(ROOT / "tests"))


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def cli_rows(log: Path, tmp: Path, repeat: int) -> tuple[list[tuple[str, float]], Path]:
    exe = [sys.executable, "-m", "caffelog.cli"]
    page = tmp / "long_run.html"
    rows = []
    for warm in (False, True):
        env = {**os.environ, "CAFFELOG_CACHE_DIR": str(tmp / "cache")}
        best_report = best_diagnose = float("inf")
        for _ in range(repeat):
            if not warm:
                shutil.rmtree(tmp / "cache", ignore_errors=True)
            best_diagnose = min(best_diagnose, timed([*exe, "diagnose", "--fail-on", "never", str(log)], env))
            if not warm:
                shutil.rmtree(tmp / "cache", ignore_errors=True)
            best_report = min(best_report, timed([*exe, "report", str(log), "-o", str(page), "--force"], env))
        cache = "warm cache" if warm else "cold cache"
        rows += [(f"diagnose ({cache})", best_diagnose), (f"report ({cache})", best_report)]
    return rows, page


def load_times(page: Path, tmp: Path, repeat: int) -> dict[str, float]:
    from conftest import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright
    library = (ROOT / "caffelog" / "pages" / "vendor" / "uPlot.iife.min.js").read_text()
    blank = tmp / "library_only.html"
    blank.write_text(f"<!doctype html><body><script>{library}</script>"
                     "<script>document.body.dataset.ready='1'</script></body>")
    best = {"library only": float("inf"), "report ready": float("inf"), "every layer drawn": float("inf")}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeat):
            for name, path in (("library only", blank), ("report ready", page)):
                tab = browser.new_page(viewport={"width": 1280, "height": 900})
                start = time.perf_counter()
                tab.goto(path.as_uri())
                tab.wait_for_function("document.body && document.body.dataset.ready === '1'", timeout=60_000)
                best[name] = min(best[name], time.perf_counter() - start)
                if name == "report ready":
                    start = time.perf_counter()
                    panels = tab.locator(".panel")
                    for k in range(panels.count()):
                        panels.nth(k).scroll_into_view_if_needed()
                    tab.wait_for_function("document.querySelectorAll('.chart[data-layer]:not([data-drawn])')"
                                          ".length === 0")
                    best["every layer drawn"] = min(best["every layer drawn"], time.perf_counter() - start)
                tab.close()
        browser.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not LONG_RUN.exists():
        sys.exit(f"no {LONG_RUN}: this benchmark reads the shared long_run log")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        log = tmp / "long_run.log"
        with gzip.open(LONG_RUN) as src, open(log, "wb") as out:
            shutil.copyfileobj(src, out)
        print(f"long_run: {log.stat().st_size / 1e6:.0f} MB, {args.repeat} runs each, fastest shown\n")
        rows, page = cli_rows(log, tmp, args.repeat)
        print(f"{'command':28} {'seconds':>8} {'x diagnose':>11}")
        for k, (label, seconds) in enumerate(rows):
            base = rows[k - k % 2][1]  # the diagnose row of the same cache state
            print(f"{label:28} {seconds:8.2f} {seconds / base:11.2f}")
        print(f"\npage: {page.stat().st_size / 1e6:.1f} MB")
        loads = load_times(page, tmp, args.repeat)
        base = loads["library only"]
        print(f"\n{'in headless Chromium':28} {'seconds':>8} {'x library':>11}")
        for label, seconds in loads.items():
            print(f"{label:28} {seconds:8.2f} {seconds / base:11.2f}")


if __name__ == "__main__":
    main()
