#!/usr/bin/env python3
"""Headless-Chromium screenshots of the report pages shown in the README.

    .venv/bin/python docs/screenshots.py      # needs /usr/bin/chromium; long_run from ../shared

Each page is written by `caffelog report`, opened at 1280 px wide, every layer panel drawn, then
photographed at the sections named in SHOTS (the top: identity and diagnosis; `scalars`: loss, lr,
test outputs and the heatmaps; `layers`: the first per-layer curves).
"""
from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
LOGS = {"nan_explode": Path("sample_logs/nan_explode/train.log"),  # relative: the page names it so
        "dead_relu": Path("sample_logs/dead_relu/train.log"),
        "long_run": ROOT.parent / "shared" / "real_logs" / "long_run" / "train.log.gz"}
SHOTS = {"nan_explode": ["top", "layers"], "dead_relu": ["heatmaps"], "long_run": ["scalars", "heatmaps"]}


def main() -> None:
    from conftest import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as name, sync_playwright() as pw:
        tmp = Path(name)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for label, log in LOGS.items():
            if log.suffix == ".gz":  # a plain copy, so that the page names train.log
                plain = tmp / label / "train.log"
                plain.parent.mkdir()
                with gzip.open(log) as src, open(plain, "wb") as out:
                    shutil.copyfileobj(src, out)
                log = plain
            page = tmp / f"{label}.html"
            subprocess.run([sys.executable, "-m", "caffelog.cli", "report", str(log), "-o", str(page)],
                           check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
            tab = browser.new_page(viewport={"width": 1280, "height": 1000})
            tab.goto(page.as_uri())
            tab.wait_for_function("document.body.dataset.ready === '1'")
            for section in SHOTS[label]:
                if section != "top":
                    tab.evaluate("id => document.getElementById(id).scrollIntoView()", section)
                    tab.wait_for_timeout(300)  # the lazy layer charts draw as they come into view
                name = f"docs/report_{label}_{section}.png"
                tab.screenshot(path=str(ROOT / name))
                print(name)
            tab.close()
        browser.close()


if __name__ == "__main__":
    main()
