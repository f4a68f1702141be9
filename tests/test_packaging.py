"""A non-editable install finds its grammar: build the wheel and run caffelog from it alone."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_the_grammar_and_parses_from_it(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("caffelog-*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert "caffelog/grammars/caffe.lark" in z.namelist()
        z.extractall(tmp_path / "site")
    code = ("import caffelog, caffelog.parse.grammar as p, sys; "
            "assert str(p.grammar_path()).startswith(sys.argv[1]), p.grammar_path(); "
            "print(len(caffelog.read_log(sys.argv[2]).blobs))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site"),
                          str(ROOT / "sample_logs" / "dead_relu" / "train.log")],
                         cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1973"


def test_wheel_carries_the_report_page_and_its_chart_library(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("caffelog-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "site")
    for asset in ("vendor/uPlot.iife.min.js", "vendor/uPlot.min.css", "vendor/uPlot.LICENSE",
                  "templates/report.html.j2", "templates/report.js", "templates/report.css"):
        assert f"caffelog/pages/{asset}" in names
    code = ("import caffelog, sys; caffelog.report([sys.argv[1]], 'r.html'); "
            "import caffelog.pages.page as p; assert p.__file__.startswith(sys.argv[2]); "
            "print(open(sys.argv[2] + '/caffelog/pages/vendor/uPlot.iife.min.js').read() in open('r.html').read())")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "sample_logs" / "dead_relu" / "train.log"),
                          str(tmp_path / "site")], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"  # the library inlined, from the installed package
