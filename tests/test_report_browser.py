"""Report pages in a real browser (headless Chromium): what a person sees, clicks and hovers.

Skipped with one line in the header where no browser is installed; .ci/run installs Chromium and
sets CAFFELOG_REQUIRE_BROWSER=1, which turns that skip into a failure."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import ALL_LOGS, SAMPLES, diagnosed, parsed

import caffelog
from caffelog.diagnose import diagnose
from caffelog.output.heatmap import heatmap_matrix
from caffelog.output.selection import Selection, select
from caffelog.pages.content import Run
from caffelog.pages.page import render

# every real log in sample_logs, the clock runs included
PAGE_LOGS = {**ALL_LOGS,
             "new_year_run": SAMPLES / "new_year_run" / "train.log",
             "new_year_run_yyyymmdd": SAMPLES / "new_year_run" / "train_glog_default_prefix.log",
             "midnight_run": SAMPLES / "midnight_run" / "train.log"}
HOSTILE = "<script>alert(1)</script>"


class Opened:
    """A report open in a browser tab, with what it did: console errors, dialogs, requests."""

    def __init__(self, browser, html: str, tmp_path):
        path = tmp_path / "report.html"
        path.write_text(html, encoding="utf-8")
        self.url = path.as_uri()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=20_000)

    def draw_every_panel(self) -> None:
        """Layer charts are drawn when scrolled into view: scroll to each."""
        panels = self.page.locator(".panel")
        for k in range(panels.count()):
            panels.nth(k).scroll_into_view_if_needed()
        self.page.wait_for_function(
            "document.querySelectorAll('.chart[data-layer]').length === "
            "document.querySelectorAll('.chart[data-layer][data-drawn]').length")

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def opened(browser, tmp_path):
    pages = []

    def open_(html: str) -> Opened:
        pages.append(Opened(browser, html, tmp_path))
        return pages[-1]
    yield open_
    for p in pages:
        p.close()


def page_html(name: str, label: str | None = None) -> str:
    log = parsed(name) if name in ALL_LOGS else caffelog.read_log(PAGE_LOGS[name])
    return render([Run(log, diagnosed(name) if name in ALL_LOGS else diagnose(log), label or name)])


@pytest.mark.parametrize("name", sorted(PAGE_LOGS))
def test_every_real_logs_report_opens_with_no_error_and_draws_every_chart(name, opened):
    tab = opened(page_html(name))
    tab.draw_every_panel()
    assert tab.errors == []
    assert tab.requests == [tab.url]  # the page itself, nothing else: no CDN, no font, no beacon
    n_panels = tab.page.locator(".panel").count()
    n_scalars = tab.page.locator(".chart[data-scalars]").count()
    assert tab.page.locator(".uplot").count() + tab.page.locator(".chart:text('no values')").count() \
        == n_panels + n_scalars
    assert n_panels == parsed(name).blobs["layer"].nunique() if name in ALL_LOGS else n_panels > 0


def test_the_findings_read_as_diagnose_writes_them(opened):
    tab = opened(page_html("dead_relu"))
    text = " ".join(tab.page.inner_text("#diagnosis").split())
    findings = diagnosed("dead_relu")
    assert findings.causes
    for f in findings:
        assert " ".join(f.message.split()) in text
    assert tab.page.locator("li.finding").count() == len(findings)


def test_hostile_layer_names_in_a_real_log_are_shown_as_text_and_run_nothing(opened, tmp_path):
    """nan_explode with three layers renamed (a copy of the real log, edited): a script, an image
    whose onerror would fire, and an ANSI colour with a right-to-left override."""
    names = {"ip1": HOSTILE, "conv2": "<img/src=x/onerror=alert(2)>", "pool1": "p\x1b[31mool\u202e1"}
    text = (SAMPLES / "nan_explode" / "train.log").read_text()
    for old, new in names.items():
        text = text.replace(old, new)
    path = tmp_path / "hostile.log"
    path.write_text(text)
    log = caffelog.read_log(path)
    assert set(names.values()) <= set(log.blobs["layer"].astype(str))
    tab = opened(render([Run(log, diagnose(log), HOSTILE + "run")]))
    tab.draw_every_panel()
    tab.page.hover("canvas.heatmap")
    assert tab.dialogs == [] and tab.errors == []
    assert tab.page.locator("script").count() == 3  # the JSON block, uPlot, the page's own
    assert tab.page.locator("img").count() == 0
    titles = [t.split(" ")[0] for t in tab.page.locator(".panel h3").all_inner_texts()]
    assert HOSTILE in titles and names["conv2"] in titles
    assert "p\\x1b[31mool\\u202e1" in titles  # control characters shown as escapes
    page_text = tab.page.inner_text("body")
    assert "\x1b" not in page_text and "\u202e" not in page_text
    assert HOSTILE in tab.page.inner_text("#diagnosis")  # the findings on that layer name it, as text
    legend = tab.page.locator(".panel[data-panel] .u-legend").first.inner_text()
    assert "weights" in legend or "top" in legend


def test_heatmap_cells_are_painted_as_the_matrix_says(opened):
    """Every cell's centre pixel: black for an exact 0, magenta for nan/inf, background where the
    log has no value, a colour of the scale otherwise."""
    tab = opened(page_html("nan_explode"))
    matrix = heatmap_matrix(parsed("nan_explode"), "data").to_numpy(float)
    pixels = tab.page.evaluate("""() => {
        const c = document.querySelector("canvas.heatmap"), L = JSON.parse(c.dataset.layout);
        const ctx = c.getContext("2d"), dpr = c.width / c.clientWidth, out = [];
        for (let r = 0; r < L.rows; r++) { const row = [];
          for (let k = 0; k < L.cols; k++) {
            const x = Math.floor((L.labelW + (k + 0.5) * L.cw) * dpr), y = Math.floor((r + 0.5) * L.cell * dpr);
            row.push(Array.from(ctx.getImageData(x, y, 1, 1).data)); }
          out.push(row); }
        return out; }""")
    got = np.array(pixels)
    assert got.shape[:2] == matrix.shape
    zero, bad, none = matrix == 0, np.isinf(matrix), np.isnan(matrix)
    assert (got[zero][:, :3] == [0, 0, 0]).all() and zero.any()
    assert (got[bad][:, :3] == [255, 0, 255]).all() and bad.any()
    assert (got[none][:, 3] == 0).all()
    scaled = ~(zero | bad | none)
    assert (got[scaled][:, 3] == 255).all()
    assert not ((got[scaled][:, :3] == [0, 0, 0]).all(axis=1) | (got[scaled][:, :3] == [255, 0, 255]).all(axis=1)).any()
    # brighter (viridis: more green) for larger values within a row
    loss_row = list(parsed("nan_explode").net["layer"].unique()).index("conv1")
    row = matrix[loss_row]
    ok = np.isfinite(row) & (row > 0)
    green = got[loss_row][ok][:, 1]
    assert np.corrcoef(np.log10(row[ok]), green)[0, 1] > 0.9


def test_a_click_on_a_finding_shows_its_layers_panel(opened):
    tab = opened(page_html("dead_relu"))
    finding = tab.page.locator("li.finding[data-panel]").first
    panel_id = "layer-" + finding.get_attribute("data-panel")
    finding.locator(".message").click()
    panel = tab.page.locator(f"#{panel_id}")
    assert "highlight" in panel.get_attribute("class")
    assert panel.locator(".uplot").count() == 1
    box = panel.bounding_box()
    assert box is not None and 0 <= box["y"] < 900
    assert tab.page.locator(".panel.highlight").count() == 1
    layer = diagnosed("dead_relu")[0].layer
    assert panel.get_attribute("data-name") == layer


def test_a_layer_chart_draws_the_tables_values_and_hover_tells_value_and_line(opened):
    tab = opened(page_html("nan_explode"))
    log = parsed("nan_explode")
    rows = select(log, Selection(["conv1"], "diff", "train", "backward", "param", "0"))
    panel = tab.page.locator(".panel[data-name='conv1']")
    panel.scroll_into_view_if_needed()
    tab.page.wait_for_selector(".panel[data-name='conv1'] .uplot")
    drawn = tab.page.evaluate("""() => {
        const c = caffelogCharts.find(c => c.box.dataset.layer && c.box.closest(".panel").dataset.name === "conv1");
        const k = c.curves.findIndex(s => s.label === "backward weights diff");
        return {x: c.chart.data[0], y: c.chart.data[k + 1], k: k}; }""")
    assert drawn["k"] >= 0
    by_iteration = dict(zip(drawn["x"], drawn["y"]))
    for it, v in zip(rows["iteration"], rows["value"]):
        shown = by_iteration[it]
        if np.isfinite(v) and v > 0:
            assert 10 ** shown == pytest.approx(v, rel=1e-6)  # a log axis: log10 on a linear scale
        else:
            assert shown is None  # 0 and nan are marks on the edges, not points of the line
    it, value, line = rows.iloc[5][["iteration", "value", "line"]]
    legend = tab.page.evaluate("""([k, at]) => {
        const c = caffelogCharts.find(c => c.box.dataset.layer && c.box.closest(".panel").dataset.name === "conv1");
        const i = c.chart.data[0].indexOf(at);
        c.chart.setCursor({left: c.chart.valToPos(at, "x"), top: 20});
        return c.box.querySelectorAll(".u-legend .u-series")[k + 1].innerText; }""", [drawn["k"], int(it)])
    assert f"@ iter {int(it)}, line {int(line)}" in legend
    assert f"{value:.6g}".replace("e-0", "e-") in legend.replace("e-0", "e-")


def test_the_layer_filter_hides_the_others(opened):
    tab = opened(page_html("nan_explode"))
    tab.page.fill("#layer-filter", "conv")
    shown = tab.page.locator(".panel:not(.hidden)")
    names = [shown.nth(k).get_attribute("data-name") for k in range(shown.count())]
    assert names == [n for n in parsed("nan_explode").blobs["layer"].unique() if "conv" in n]
    assert tab.page.inner_text("#layer-count") == f"{len(names)} of {tab.page.locator('.panel').count()} layers"


def test_a_page_of_two_runs_draws_both_in_each_chart(opened):
    runs = [Run(parsed(n), diagnosed(n), n) for n in ("healthy_conv", "nan_explode")]
    tab = opened(render(runs))
    legend = tab.page.locator(".chart[data-scalars='0'] .u-legend").inner_text()
    assert "healthy_conv: train loss" in legend and "nan_explode: train loss" in legend
    assert tab.page.locator("canvas.heatmap").count() == 4  # data and diff for each run
    assert tab.errors == []


def test_hovering_a_heatmap_cell_names_its_layer_iteration_and_value(opened):
    import json
    tab = opened(page_html("nan_explode"))
    matrix = heatmap_matrix(parsed("nan_explode"), "data")
    canvas = tab.page.locator("canvas.heatmap").first
    layout = json.loads(canvas.get_attribute("data-layout"))
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for r, c in ((2, 10), (len(matrix) - 1, matrix.shape[1] - 1)):
        tab.page.mouse.move(box["x"] + layout["labelW"] + (c + 0.5) * layout["cw"],
                            box["y"] + (r + 0.5) * layout["cell"])
        layer, where, value = tab.page.inner_text(".tip").split("\n")
        assert layer == matrix.index[r]
        assert where == f"iteration {matrix.columns[c][1]}"
        expected = matrix.iloc[r, c]
        if np.isinf(expected):
            assert value == "nan/inf"
        else:
            assert float(value) == pytest.approx(expected, rel=1e-5)


def test_a_heatmap_of_zeros_says_so_and_its_x_ticks_are_whole_iterations(opened):
    """dead_relu's weight diffs are all exactly 0: black cells and no colour scale (no -Infinity)."""
    matrix = heatmap_matrix(parsed("dead_relu"), "diff")
    assert (matrix.to_numpy() == 0).all()
    tab = opened(page_html("dead_relu"))
    bars = tab.page.locator(".colorbar").all_inner_texts()
    assert "no value above 0" in bars[1] and "no value above 0" not in bars[0]
    assert "Infinity" not in tab.page.inner_text("body")
    tab.draw_every_panel()
    ticks = tab.page.evaluate("window.caffelogCharts.map(c => c.chart.axes[0]._splits || [])")
    assert ticks and all(float(t).is_integer() for axis in ticks for t in axis)
