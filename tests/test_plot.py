"""Plots draw exactly the table's values, and never hide a zero or a NaN (Agg backend only)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REAL_LOGS, parsed

from caffelog.cli import main
from caffelog.errors import UsageError
from caffelog.output import plot as plots


def lines_by_label(fig):
    ax = fig.axes[0]
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_layer_selection_labels_and_data():
    log = parsed("nan_explode")
    fig = plots.plot_series([log], plots.Selection(["ip2"]))
    lines = lines_by_label(fig)
    series = [k for k in lines if not k.startswith("first")]
    assert series == ["ip2 / top ip2 / data", "ip2 / param 0 / data", "ip2 / param 1 / data",
                      "ip2 / bottom ip1 / diff", "ip2 / param 0 / diff", "ip2 / param 1 / diff"]
    b = log.blobs
    ref = b[(b["layer"] == "ip2") & (b["role"] == "top") & (b["phase"] == "train")]
    x, y = lines["ip2 / top ip2 / data"].get_data()
    assert list(x) == list(ref["iteration"].astype(float))
    want = ref["value"].to_numpy()
    assert np.array_equal(np.asarray(y, float), np.where(np.isfinite(want) & (want > 0), want, np.nan),
                          equal_nan=True)
    assert lines["first nan/inf (iteration 37)"].get_xdata()[0] == 37


def test_nonfinite_and_zero_points_are_markers_not_gaps():
    log = parsed("nan_explode")
    sel = plots.Selection(["ip2"], quantity="data", role="top")
    fig = plots.plot_series([log], sel)
    ax = fig.axes[0]
    frame = plots.select(log, sel)
    top = ax.get_ylim()[1] / 10 ** 0.55  # the top band, above every finite value
    marked = sum(int((c.get_offsets()[:, 1] > top).sum()) for c in ax.collections if len(c.get_offsets()))
    assert marked == int((~np.isfinite(frame["value"])).sum()) > 0
    dead = parsed("dead_relu")
    fig = plots.plot_series([dead], plots.Selection(["relu1"]))
    ax = fig.axes[0]
    frame = plots.select(dead, plots.Selection(["relu1"]))
    bottom = ax.get_ylim()[0] * 10 ** 0.55  # the bottom band, below every positive value
    zeros = sum(int((c.get_offsets()[:, 1] < bottom).sum()) for c in ax.collections if len(c.get_offsets()))
    # 51 forward tops + 50 backward bottom diffs, all exactly 0 (dead_relu/NOTES.md)
    assert zeros == int((frame["value"] == 0).sum()) == 101
    assert "exactly 0 (bottom band)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_default_selection_is_weight_diffs_one_line_per_layer():
    fig = plots.plot_series([parsed("vanishing_tanh")], plots.Selection([], "diff", role="param", blob="0"))
    assert list(lines_by_label(fig)) == [f"{layer} / param 0 / diff" for layer in
                                        ["ip1", "ip2", "ip3", "ip4", "ip5", "ip_out"]]


def test_heatmap_cells_match_the_table():
    m = plots.heatmap_matrix(parsed("nan_explode"), "data")
    assert np.isinf(m.loc["ip2", 37]) and np.isfinite(m.loc["ip2", 36])
    assert list(m.index[:3]) == ["data", "label_data_1_split", "conv1"]
    dead = plots.heatmap_matrix(parsed("dead_relu"), "data")
    assert (dead.loc[["relu1", "relu2", "relu3"]] == 0).all().all()
    b = parsed("dead_relu").blobs
    ip1 = b[(b["layer"] == "ip1") & (b["role"] == "top") & (b["phase"] == "train")]
    assert list(dead.loc["ip1"]) == list(ip1["value"])
    fig = plots.plot_heatmap(parsed("nan_explode"))
    assert fig.axes[0].get_images()[0].get_array().shape == m.shape


def test_two_runs_share_the_axes():
    fig = plots.plot_series([parsed("healthy_conv"), parsed("healthy_conv_legacy2015")],
                            plots.Selection(["ip2"], quantity="diff", role="param", blob="0"))
    labels = list(lines_by_label(fig))
    assert len(labels) == 2 and all("ip2 / param 0 / diff [" in name for name in labels)


def test_unknown_layer_lists_close_matches_first():
    with pytest.raises(UsageError, match="no layer 'ip3'.*layers: ip2, ip1"):
        plots.resolve_layers(parsed("nan_explode"), ["ip3"])
    r = CliRunner().invoke(main, ["plot", str(REAL_LOGS["nan_explode"]), "--layer", "ip3"])
    assert r.exit_code == 2 and "caffelog: error: no layer" in r.output


@pytest.mark.parametrize("ext,magic", [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_cli_writes_each_format(tmp_path, ext, magic):
    out = tmp_path / f"fc.{ext}"
    r = CliRunner().invoke(main, ["plot", str(REAL_LOGS["dead_relu"]), "--layer", "ip*", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(magic)


def test_cli_default_name_heatmap_and_scalars(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(main, ["plot", str(REAL_LOGS["vanishing_tanh"])])
    assert r.output.strip() == "train_weight-diffs.png" and (tmp_path / "train_weight-diffs.png").is_file()
    r = runner.invoke(main, ["plot", str(REAL_LOGS["dead_relu"]), "--heatmap"])
    assert r.exit_code == 0 and (tmp_path / r.output.strip()).is_file()
    r = runner.invoke(main, ["plot", str(REAL_LOGS["nan_explode"]), "--scalars", "-o", "s.png"])
    assert r.exit_code == 0 and (tmp_path / "s.png").is_file()
    r = runner.invoke(main, ["plot", str(REAL_LOGS["nan_explode"]), "--scalars", "-o", "s.png"])
    assert r.exit_code == 2 and "--force" in r.output
