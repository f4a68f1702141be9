"""`caffelog report` without a browser: what the page holds, how it packs curves, what it escapes.
(tests/test_report_browser.py opens the pages in Chromium.)"""
from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from conftest import ROOT, SAMPLES, diagnosed, log_line, parsed

import caffelog
from caffelog.output.selection import Selection, select
from caffelog.pages.charts import Curve, chart
from caffelog.pages.content import Run
from caffelog.pages.page import render, script_json

VENDOR = ROOT / "caffelog" / "pages" / "vendor"


def decoded(spec: dict, key: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec[key]), dtype=np.dtype(dtype).newbyteorder("<"))


def page_of(name: str, label: str | None = None) -> str:
    return render([Run(parsed(name), diagnosed(name), label or name)])


class Text(HTMLParser):
    """The page as a reader sees it without scripts: its text, and the script blocks apart."""

    def __init__(self):
        super().__init__()
        self.text, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        if tag == "script":
            self.scripts.append(dict(attrs))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if not self._in_script:
            self.text.append(data)


def read_page(html: str) -> Text:
    reader = Text()
    reader.feed(html)
    return reader


# ---- packing curves --------------------------------------------------------------------------

def test_a_short_chart_keeps_every_value_with_its_line():
    rows = select(parsed("nan_explode"), Selection(["conv1"], "diff", "train", "backward", "param", "0"))
    c = Curve("w", 0, "weights diff", rows["iteration"].to_numpy(float), rows["value"].to_numpy(float),
              rows["line"].to_numpy())
    spec = chart([c])
    assert not spec["binned"]
    xs, curve = decoded(spec, "x", "f8"), spec["curves"][0]
    y, line = decoded(curve, "y", "f4"), decoded(curve, "line", "u4")
    assert list(xs) == list(rows["iteration"])
    assert list(line) == list(rows["line"])
    np.testing.assert_array_equal(y, rows["value"].to_numpy(np.float32))  # nan where the log says nan
    assert np.isnan(y).sum() == rows["value"].isna().sum() > 0


def test_a_long_chart_keeps_each_bins_extremes_as_logged():
    rng = np.random.default_rng(0)
    n = 10_000
    iteration = np.arange(n, dtype=float)
    value = rng.lognormal(size=n)
    value[1234], value[5000], value[7777] = np.nan, 0.0, 1e30
    line = np.arange(n) * 7 + 100
    spec = chart([Curve("c", 0, "k", iteration, value, line)], max_slots=400)
    assert spec["binned"] and spec["n"] == 400
    curve = spec["curves"][0]
    y, it, ln = decoded(curve, "y", "f4"), decoded(curve, "it", "f8"), decoded(curve, "line", "u4")
    assert np.isnan(y).sum() == 1 and it[np.isnan(y)][0] == 1234      # the nan is the largest of its bin
    assert 0 in y and it[y == 0][0] == 5000                            # the zero, the smallest of its bin
    assert np.float32(1e30) in y
    picked = it.astype(int)
    np.testing.assert_array_equal(ln, line[picked])                    # each point's own log line
    np.testing.assert_array_equal(y[~np.isnan(y)], value[picked][~np.isnan(y)].astype(np.float32))
    bins = np.arange(n) * 200 // n
    for k in (0, 57, 199):
        inside = value[bins == k]
        finite = inside[np.isfinite(inside)]
        assert y[2 * k] == np.float32(finite.min())
        assert np.isnan(y[2 * k + 1]) if np.isnan(inside).any() else y[2 * k + 1] == np.float32(finite.max())


def test_curves_on_one_chart_share_the_union_of_their_iterations():
    a = Curve("a", 0, "k", np.array([0.0, 2, 4]), np.array([1.0, 2, 3]), np.array([10, 20, 30]))
    b = Curve("b", 1, "k", np.array([1.0, 2]), np.array([5.0, 6]), np.array([11, 21]))
    spec = chart([a, b])
    assert list(decoded(spec, "x", "f8")) == [0, 1, 2, 4]
    assert list(decoded(spec["curves"][1], "line", "u4")) == [0, 11, 21, 0]  # 0: no value there


# ---- what the page says ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["nan_explode", "dead_relu", "healthy_conv"])
def test_the_page_shows_the_diagnosis_that_diagnose_gives(name):
    html = page_of(name)
    text = " ".join(read_page(html).text)
    findings = diagnosed(name)
    for f in findings:
        assert " ".join(f.message.split()) in " ".join(text.split())
    for c in findings.causes:
        assert " ".join(c.headline.split()) in " ".join(text.split())
    if not findings.causes:
        assert "healthy: no errors or warnings" in text


def test_evidence_is_the_logs_own_lines_around_the_finding():
    html = page_of("nan_explode")
    first = diagnosed("nan_explode")[0]
    block = re.search(rf'<span class="here"><span class="n">{first.line}</span>(.*?)</span>', html)
    assert block is not None
    import html as html_lib
    assert html_lib.unescape(block.group(1)) == log_line("nan_explode", first.line)
    for n in (first.line - 3, first.line + 3):
        assert f'<span class="n">{n}</span>' in html


def test_identity_says_segments_iterations_and_wall_clock():
    from caffelog.pages.content import identity
    facts = dict(identity(parsed("resumed_run")))
    assert facts["segments"].startswith("2 (iterations 0-30, 20-40)")  # NOTES.md: two start-ups
    assert facts["Caffe"].startswith("a build from 2016 on")
    assert "in 2 segments" in facts["wall-clock"]
    assert dict(identity(parsed("healthy_conv_legacy2015")))["Caffe"].startswith("an old build")


def test_frozen_layers_are_marked_in_the_net_table():
    html = page_of("frozen_finetune")
    frozen = diagnosed("frozen_finetune").frozen
    assert frozen
    for name in frozen:
        assert re.search(rf'<tr class="frozen"><td>{re.escape(name)} <span class="frozen">frozen</span>', html)


def test_hostile_names_are_text_and_json_cannot_close_its_script():
    nasty = '</script><script>alert(1)</script><img src=x onerror=alert(2)>"\'&\x1b[31m'
    assert "</" not in script_json({"name": nasty}) and "<" not in script_json({"name": nasty})
    html = page_of("nan_explode", label=nasty)
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html
    reader = read_page(html)
    assert [s.get("type") for s in reader.scripts] == ["application/json", None, None]  # ours, nothing else


def test_a_static_page_has_pictures_and_no_script(tmp_path):
    out = tmp_path / "r.html"
    caffelog.report([str(SAMPLES / "nan_explode" / "train.log")], str(out), static=True)
    html = out.read_text()
    assert "<script" not in html
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    n_layers = parsed("nan_explode").blobs["layer"].nunique()
    assert len(images) == 1 + 2 + n_layers  # scalars, two heatmaps, a picture per layer
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for _, data in images)


def test_several_logs_make_one_page_with_a_colour_each():
    runs = [Run(parsed(n), diagnosed(n), n) for n in ("healthy_conv", "nan_explode")]
    html = render(runs)
    assert html.count('class="run" data-run=') == 2
    for name in ("healthy_conv", "nan_explode"):
        assert f"<h3>{name}</h3>" in html


def test_the_vendored_chart_library_is_the_one_named_in_its_readme():
    digest = hashlib.sha256((VENDOR / "uPlot.iife.min.js").read_bytes()).hexdigest()
    assert digest in (VENDOR / "README.md").read_text()
    assert "MIT License" in (VENDOR / "uPlot.LICENSE").read_text()


# ---- the command ----------------------------------------------------------------------------------

def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "caffelog.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_default_names_never_land_on_an_earlier_file_and_o_needs_force(tmp_path):
    log = str(SAMPLES / "dead_relu" / "train.log")
    first = run_cli("report", log, cwd=tmp_path)
    second = run_cli("report", log, cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.strip() == "dead_relu_train_report.html"
    assert second.stdout.strip() == "dead_relu_train_report-2.html"
    again = run_cli("report", log, "-o", "dead_relu_train_report.html", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "--force" in again.stderr
    assert run_cli("report", log, "-o", "dead_relu_train_report.html", "--force", cwd=tmp_path).returncode == 0


def test_bad_inputs_are_one_line(tmp_path):
    missing = run_cli("report", str(tmp_path / "nope.log"), cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
    labels = run_cli("report", str(SAMPLES / "dead_relu" / "train.log"), "--label", "a", "--label", "b",
                     cwd=tmp_path)
    assert labels.returncode == 2 and "give one per log" in labels.stderr


def test_notebooks_get_html_tables_with_names_escaped():
    log = parsed("nan_explode")
    assert "<table" in log._repr_html_() and "blob values" in log._repr_html_()
    findings = diagnosed("nan_explode")
    html = findings._repr_html_()
    assert html.count("<tr>") == len(findings) + 1
    assert list(findings.to_frame()["rule"]) == [f.rule for f in findings]
    from caffelog.diagnose.findings import Finding, Findings
    odd = Findings([Finding("non-finite", "error", "<b>x</b>", layer="<script>")])
    assert "<script>" not in odd._repr_html_() and "&lt;script&gt;" in odd._repr_html_()
