"""Plots draw exactly the table's values, and never hide a zero or a NaN (Agg backend only)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re

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
    assert "exactly 0 (bottom band, in the series' colour)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_default_selection_is_weight_diffs_one_line_per_layer():
    fig = plots.plot_series([parsed("vanishing_tanh")], plots.Selection([], "diff", role="param", blob="0"))
    assert list(lines_by_label(fig)) == [f"{layer} / param 0 / diff" for layer in
                                        ["ip1", "ip2", "ip3", "ip4", "ip5", "ip_out"]]


def test_heatmap_cells_match_the_table():
    m = plots.heatmap_matrix(parsed("nan_explode"), "data")
    assert np.isinf(m.loc["ip2", (0, 37)]) and np.isfinite(m.loc["ip2", (0, 36)])
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
    assert r.output.strip() == "vanishing_tanh_train_weight-diffs.png"
    assert (tmp_path / "vanishing_tanh_train_weight-diffs.png").is_file()
    r = runner.invoke(main, ["plot", str(REAL_LOGS["dead_relu"]), "--heatmap"])
    assert r.exit_code == 0 and (tmp_path / r.output.strip()).is_file()
    r = runner.invoke(main, ["plot", str(REAL_LOGS["nan_explode"]), "--scalars", "-o", "s.png"])
    assert r.exit_code == 0 and (tmp_path / "s.png").is_file()
    r = runner.invoke(main, ["plot", str(REAL_LOGS["nan_explode"]), "--scalars", "-o", "s.png"])
    assert r.exit_code == 2 and "--force" in r.output


# -- segments, test nets, axes, options (sample_logs/resumed_run and two_test_nets, NOTES.md) --
def panel_lines(ax):
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_scalars_draw_each_segment_apart_and_mark_the_resume():
    fig = plots.plot_scalars([parsed("resumed_run")])
    ax_loss, ax_lr, _ = fig.axes[:3]
    lines = panel_lines(ax_loss)
    seg0, seg1 = lines["train loss (segment 0)"], lines["train loss (segment 1)"]
    assert list(seg0.get_xdata()) == list(range(0, 29, 2)) + [30]      # 0..28 displayed, final 30
    assert list(seg1.get_xdata()) == list(range(20, 39, 2)) + [40]
    assert seg0.get_ydata()[10] == 2.26739 and seg1.get_ydata()[0] == 2.27264  # iteration 20, twice
    assert list(lines["resumed at iteration 20 (segment 1)"].get_xdata()) == [20, 20]
    assert lines["chance ln 10 = 2.3"].get_ydata()[0] == pytest.approx(np.log(10))  # ip2 has 10 outputs
    assert ax_lr.get_yscale() == "log" and ax_loss.get_yscale() == "log"
    lr = panel_lines(ax_lr)["lr (segment 0)"]
    assert set(lr.get_ydata()) == {0.01, 0.005}


def test_scalars_keep_the_test_nets_apart():
    fig = plots.plot_scalars([parsed("two_test_nets")])
    lines = panel_lines(fig.axes[2])
    assert list(lines["test#0 accuracy"].get_ydata()) == [0.082, 0.14, 0.178, 0.356]
    assert list(lines["test#1 accuracy"].get_ydata()) == [0.0833333, 0.14, 0.226667, 0.396667]
    assert list(lines["test#1 loss"].get_xdata()) == [0, 20, 40, 60]


def test_curves_keep_the_test_nets_apart():
    sel = plots.Selection(["ip2"], "data", "test", role="top")
    lines = lines_by_label(plots.plot_series([parsed("two_test_nets")], sel))
    assert set(lines) == {"ip2 [test#0] / top ip2 / data", "ip2 [test#1] / top ip2 / data"}
    assert list(lines["ip2 [test#1] / top ip2 / data"].get_xdata()) == [0, 20, 40, 60]


def test_segment_is_honoured_by_every_picture():
    log = parsed("resumed_run")
    loss = panel_lines(plots.plot_scalars([log], segment=1).axes[0])
    assert not any("segment" in name for name in loss) and loss["train loss"].get_xdata()[0] == 20
    m = plots.heatmap_matrix(log, "data", segment=1)
    assert set(m.columns.get_level_values("segment")) == {1}
    both = plots.heatmap_matrix(log, "data")
    assert both.shape[1] == 25 and list(both.columns[:2]) == [(0, 0), (0, 2)]   # 15 + 10 iterations side by side
    assert plots.plot_heatmap(log).axes[0].get_images()[0].get_array().shape == both.shape


def test_heatmap_bins_long_runs_and_keeps_nan_and_zero_visible():
    log = parsed("nan_explode")
    full = plots.heatmap_matrix(log, "diff")
    binned = plots.heatmap_matrix(log, "diff", max_columns=10)
    assert binned.shape[1] <= 10 and binned.attrs["bin_width"] == 6
    assert np.isinf(binned.loc["ip2"].to_numpy()[-1]) and np.isinf(full.loc["ip2"].to_numpy()[-1])
    dead = plots.heatmap_matrix(parsed("dead_relu"), "diff", max_columns=7)
    assert (dead.to_numpy() == 0).all()  # dead_relu: every weight diff is 0 (NOTES.md)


def test_heatmap_of_several_runs_is_one_panel_each_and_honours_layers():
    fig = plots.plot_heatmap([parsed("dead_relu"), parsed("nan_explode")], "diff", layers=["ip*"])
    images = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert len(images) == 2
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["ip2", "ip1"]


def test_log_axis_labels_use_one_format():
    fig = plots.plot_scalars([parsed("resumed_run")])
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig).draw()
    ax_loss = fig.axes[0]
    labels = [t.get_text() for t in ax_loss.get_yticklabels(which="both") if t.get_text()]
    assert len(labels) >= 4 and all(re.fullmatch(r"\d+(\.\d+)?", text) for text in labels)  # 2.2 ... 2.6


def test_run_labels_and_default_names_never_collide():
    paths = [str(REAL_LOGS["dead_relu"]), str(REAL_LOGS["nan_explode"])]
    assert plots.run_labels(paths) == ["dead_relu", "nan_explode"]
    assert plots.run_labels(["a/x/train.log", "b/x/train.log"]) == ["a", "b"]
    assert plots.run_labels(["a/x/train.log", "a/y/train.log", "b/x/train.log"]) == ["a/x", "a/y", "b/x"]
    names = {plots.default_name(plots.run_labels([p]), "scalars") for p in paths}
    assert names == {"dead_relu_train_scalars.png", "nan_explode_train_scalars.png"}


def test_curves_draw_into_given_axes():
    from matplotlib.figure import Figure
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_series([parsed("dead_relu")], plots.Selection(["ip1"]), ax=ax) is fig
    assert len(panel_lines(ax)) >= 1


@pytest.mark.parametrize("args,message", [
    (["--heatmap", "--scalars"], "two pictures"),
    (["--scalars", "--layer", "ip1"], "--scalars cannot use --layer"),
    (["--scalars", "--phase", "test"], "--scalars cannot use --phase"),
    (["--scalars", "--quantity", "diff"], "--scalars cannot use --quantity"),
    (["--heatmap", "--direction", "backward"], "--heatmap cannot use --direction"),
    (["--heatmap", "--smooth", "5"], "--heatmap cannot use --smooth"),
    (["--label", "a", "--label", "b"], "2 --label for 1 logs"),
    (["--show", "-o", "x.png"], "--show opens a window"),
    (["--smooth", "0"], "0"),
    (["--heatmap", "--x", "time"], "--heatmap cannot use --x"),
    (["--x", "hours"], "hours"),
])
def test_every_refused_combination_is_one_line_and_exit_2(args, message, tmp_path):
    r = CliRunner().invoke(main, ["plot", str(REAL_LOGS["resumed_run"]), *args])
    assert r.exit_code == 2 and message in r.output and not list(tmp_path.iterdir())


@pytest.mark.parametrize("args", [
    ["--heatmap", "--layer", "conv*", "--segment", "1", "--quantity", "diff"],
    ["--scalars", "--segment", "0", "--smooth", "3", "--label", "run"],
    ["--layer", "ip1", "--segment", "1", "--smooth", "1", "--phase", "test"],
    ["--scalars", "--x", "time", "--segment", "1"],
    ["--layer", "conv1", "--x", "time"],
])
def test_every_allowed_combination_draws(args, tmp_path):
    out = tmp_path / "p.png"
    r = CliRunner().invoke(main, ["plot", str(REAL_LOGS["resumed_run"]), *args, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"\x89PNG")


def test_a_dollar_in_a_name_is_drawn_as_written():
    """`$` would start matplotlib's math text: `fc$\\frac$` failed every plot (nan_explode with ip2
    renamed, a hostile but legal Caffe layer name)."""
    import io

    import caffelog
    text = REAL_LOGS["nan_explode"].read_text().replace("ip2", "fc$\\frac$")
    log = caffelog.read_log(text.splitlines(True))
    for fig in (plots.plot_series([log], plots.Selection(["fc*"]), labels=["run$1"]),
                plots.plot_heatmap(log), plots.plot_scalars([log], labels=["run$1"])):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig).print_png(io.BytesIO())  # draws every text
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("[run$1]" in t or "run$1" in t for t in legend + [fig.axes[0].get_title(loc="left")])
    heat = plots.plot_heatmap(log)
    FigureCanvasAgg(heat).print_png(io.BytesIO())
    assert "fc$\\frac$" in [t.get_text() for t in heat.axes[0].get_yticklabels()]


# -- wall-clock time on x (the tables' `time`; tests/test_clock.py checks it against awk) --------
def test_curves_over_time_draw_each_point_at_its_rows_time():
    log = parsed("nan_explode")
    sel = plots.Selection(["ip2"], quantity="data", role="top")
    fig = plots.plot_series([log], sel, x="time")
    lines = lines_by_label(fig)
    frame = plots.select(log, sel)
    x, _ = lines["ip2 / top ip2 / data"].get_data()
    assert np.allclose(x, frame["time"].to_numpy())  # seconds: the run lasts under 2 minutes
    assert fig.axes[0].get_xlabel() == "wall-clock time since the run started (s)"
    first_bad = frame.loc[~np.isfinite(frame["value"].to_numpy()), "time"].min()
    assert lines[f"first nan/inf ({first_bad:.3g} s)"].get_xdata()[0] == pytest.approx(first_bad)


def test_scalars_over_time_put_a_resumed_segment_after_the_first():
    """resumed_run: on a time axis segment 1 starts where segment 0's last row was (0.276209 s,
    NOTES.md), so iterations 20-30 no longer draw over each other."""
    log = parsed("resumed_run")
    fig = plots.plot_scalars([log], x="time")
    ax_loss = fig.axes[0]
    lines = panel_lines(ax_loss)
    s = log.scalars
    loss = s[((s["name"] == "loss") & (s["source"] == "iteration")).to_numpy()]
    seg0, seg1 = lines["train loss (segment 0)"].get_xdata(), lines["train loss (segment 1)"].get_xdata()
    assert np.allclose(seg0, loss.loc[loss["segment"] == 0, "time"])
    assert np.allclose(seg1, loss.loc[loss["segment"] == 1, "time"] + 0.276209)
    assert seg1.min() > seg0.max()
    assert list(lines["resumed at 0.276 s (segment 1)"].get_xdata()) == pytest.approx([0.276209] * 2)
    assert fig.axes[2].get_xlabel().endswith("(s); segments end to end")


def test_time_axis_of_a_log_without_timestamps_is_refused_in_one_line(tmp_path):
    """The prefix elided as people paste logs (`I1109 ...] `, FORMAT.md Appendix C) on a real log."""
    elided = re.sub(r"(?m)^[IE]\d{4} [\d:.]+ +\d+ [^\]]+\] ", "I1109 ...] ", REAL_LOGS["dead_relu"].read_text())
    path = tmp_path / "bare.log"
    path.write_text(elided)
    r = CliRunner().invoke(main, ["plot", str(path), "--x", "time", "-o", str(tmp_path / "p.png")])
    assert r.exit_code == 2 and r.output.splitlines() == [
        f"caffelog: error: {path}: no line has a timestamp, so --x time cannot be drawn"]
    assert not (tmp_path / "p.png").exists()
