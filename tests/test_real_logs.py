"""The ground truth of every NOTES.md in sample_logs/, asserted on the parsed tables."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import REAL_LOGS, log_line, parsed


def counts(log, **where) -> int:
    b = log.blobs
    mask = np.ones(len(b), bool)
    for col, value in where.items():
        mask &= (b[col] == value).to_numpy()
    return int(mask.sum())


def scalar(log, name, phase="train", source=None):
    s = log.scalars
    s = s[(s["name"] == name) & (s["phase"] == phase)]
    if source:
        s = s[s["source"] == source]
    return s.set_index("iteration")["value"]


# ---------------------------------------------------------------- healthy_conv
def test_healthy_conv_rows_per_direction_and_phase():
    log = parsed("healthy_conv")
    # 25 [Forward] per iteration (0..99) + the extra forward pass of iteration 100
    assert counts(log, phase="train", direction="forward") == 100 * 25 + 25
    assert counts(log, phase="train", direction="backward") == 100 * 18
    assert counts(log, phase="test", direction="forward") == 6 * 125
    assert counts(log, direction="update") == 0
    assert log.skipped.count == 0


def test_healthy_conv_iterations_tests_and_batches():
    log = parsed("healthy_conv")
    b = log.blobs
    train = b[b["phase"] == "train"]
    assert sorted(train["iteration"].unique()) == list(range(101))
    assert not train["inferred"].any()
    final = train[train["iteration"] == 100]
    assert set(final["direction"]) == {"forward"} and len(final) == 25
    test = b[b["phase"] == "test"]
    assert sorted(test["iteration"].unique()) == [0, 20, 40, 60, 80, 100]
    assert set(test["test_net"]) == {0}
    per_batch = test.groupby(["iteration", "batch"]).size()
    assert (per_batch == 25).all() and len(per_batch) == 6 * 5
    assert set(train["batch"]) == {0}


def test_healthy_conv_scalars_and_totals():
    log = parsed("healthy_conv")
    loss = scalar(log, "loss", source="iteration")
    assert loss[0] == 1.52089 and loss[49] == 0.925643 and loss[99] == 0.433983
    assert loss[100] == 0.424773
    lr = scalar(log, "lr")
    assert (lr.loc[0:49] == 0.01).all() and (lr.loc[50:99] == 0.005).all() and len(lr) == 100
    acc = scalar(log, "accuracy", phase="test")
    assert list(acc.values) == [0.208, 0.364, 0.524, 0.648, 0.732, 0.732]
    test_loss = log.scalars[(log.scalars["phase"] == "test") & (log.scalars["name"] == "loss")]
    assert list(test_loss["value"]) == [1.49363, 1.32394, 1.14063, 0.945537, 0.618921, 0.726985]
    assert list(test_loss["weighted"]) == list(test_loss["value"])
    t0 = log.totals.iloc[0]
    assert (t0.iteration, t0.l1_data, t0.l1_diff, t0.l2_data, t0.l2_diff) == (0, 602.573, 195.3, 7.75307, 3.84631)
    assert len(log.totals) == 100 and list(log.totals["iteration"]) == list(range(100))


def test_healthy_conv_net_and_solver():
    log = parsed("healthy_conv")
    train = log.net[log.net["net"] == "train"].set_index("layer")
    assert train.loc["conv1", "type"] == "Convolution"
    assert train.loc["relu1", "type"] == "ReLU"
    assert train.loc["ip2_ip2_0_split", "type"] == "Split"
    assert train.loc["conv1", "top_shapes"] == [(32, 8, 16, 16)]
    assert train.loc["conv1", "top_counts"] == [65536]
    assert train.loc["relu1", "tops"] == ["conv1"]
    assert train.loc["loss", "loss_weight"] == 1
    assert set(log.net["net"]) == {"train", "test#0"}
    assert log.solver["base_lr"] == 0.01 and log.solver["lr_policy"] == "step"
    assert log.solver["momentum"] == 0.9 and log.solver["display"] == 1
    assert log.solver["debug_info"] is True and log.solver["type"] == "SGD"


def test_both_glog_prefix_styles_give_the_same_tables():
    """Two runs of one net, the second with glog 0.6's yyyymmdd prefix: the same rows; each has its
    own clock (the times differ, both are read)."""
    a, b = parsed("healthy_conv"), parsed("healthy_conv_default_prefix")
    cols = [c for c in a.blobs.columns if c not in ("line", "time")]
    pd.testing.assert_frame_equal(a.blobs[cols], b.blobs[cols])
    pd.testing.assert_frame_equal(a.totals.drop(columns=["line", "time"]), b.totals.drop(columns=["line", "time"]))
    assert a.blobs["time"].notna().all() and b.blobs["time"].notna().all()
    assert b.skipped.count == 0


def test_values_keep_the_printed_number():
    log = parsed("healthy_conv")
    line = log_line("healthy_conv", int(log.blobs["line"].iloc[0]))
    printed = line.rsplit(" ", 1)[1]
    assert log.blobs["value"].iloc[0] == float(printed)
    assert log.blobs["layer"].dtype == "category" and log.blobs["phase"].dtype == "category"


# ---------------------------------------------------------------- nan_explode
NAN_EXPLODE_CITED = [
    # line, iteration, direction, layer, role, blob, printed value
    (2655, 37, "forward", "ip2", "top", "ip2", "inf"),
    (2661, 37, "forward", "loss", "top", "loss", "nan"),
    (2662, 37, "backward", "loss", "bottom", "ip2_ip2_0_split_1", "nan"),
    (2665, 37, "backward", "ip2", "param", "0", "nan"),
    (2690, 38, "forward", "conv1", "param", "0", "nan"),
]


@pytest.mark.parametrize("line,iteration,direction,layer,role,blob,printed", NAN_EXPLODE_CITED)
def test_nan_explode_cited_lines(line, iteration, direction, layer, role, blob, printed):
    b = parsed("nan_explode").blobs
    row = b[b["line"] == line]
    assert len(row) == 1
    r = row.iloc[0]
    assert (r.iteration, r.phase, r.direction, r.layer, r.role, r.blob) == (
        iteration, "train", direction, layer, role, blob)
    assert (math.isnan(r.value) if printed == "nan" else r.value == math.inf)


def test_nan_explode_first_nonfinite_and_solver_lines():
    log = parsed("nan_explode")
    b = log.blobs
    first = b[~np.isfinite(b["value"])].iloc[0]
    assert (first.line, first.iteration, first.layer, first.blob, first.direction, first.quantity) == (
        2655, 37, "ip2", "ip2", "forward", "data")
    assert b.loc[b["line"] == 838, "value"].iloc[0] == 6.77618e+08
    t = log.totals[log.totals["line"] == 2680].iloc[0]
    assert t.l1_data == 4.76329e+18 and math.isnan(t.l1_diff) and math.isnan(t.l2_diff)
    loss = scalar(log, "loss", source="iteration")
    assert np.isfinite(loss.loc[0:36]).all() and np.isnan(loss.loc[37:60]).all()
    at_2681 = log.scalars[log.scalars["line"] == 2681].set_index("name")["value"]
    assert math.isnan(at_2681["loss"]) and at_2681["iter_per_s"] == 47.619
    out = log.scalars[(log.scalars["line"] == 2683)].iloc[0]
    assert out["name"] == "loss" and math.isnan(out["value"]) and math.isnan(out["weighted"])
    test_out = log.scalars[log.scalars["line"] == 2908].iloc[0]
    assert test_out["phase"] == "test" and test_out["iteration"] == 40 and math.isnan(test_out["value"])
    assert log.crashed and log.skipped.count == 0


# ---------------------------------------------------------------- vanishing_tanh
def test_vanishing_tanh_display_10_and_test_blocks():
    log = parsed("vanishing_tanh")
    b = log.blobs
    train = b[b["phase"] == "train"]
    assert sorted(train["iteration"].unique()) == list(range(0, 300, 10))
    test = b[b["phase"] == "test"]
    assert sorted(test["iteration"].unique()) == [0, 100, 200, 300]
    assert (test.groupby("iteration").size() == 155).all()
    assert (test.groupby(["iteration", "batch"]).size() == 31).all()
    assert log.skipped.count == 0  # the 4 glog header lines are recognised, not data


def test_vanishing_tanh_cited_gradients():
    b = parsed("vanishing_tanh").blobs
    diffs = b[(b["direction"] == "backward") & (b["role"] == "param") & (b["blob"] == "0")]
    at0 = diffs[diffs["iteration"] == 0].set_index("layer")["value"]
    assert at0["ip_out"] == 0.0800971 and at0["ip3"] == 0.000122011 and at0["ip1"] == 0.00341747
    at290 = diffs[diffs["iteration"] == 290].set_index("layer")["value"]
    assert at290["ip4"] == 0.000556231


def test_capture_ways_agree_and_error_file_has_only_totals():
    a, b = parsed("vanishing_tanh"), parsed("vanishing_tanh_stderr")
    assert a.blobs["line"].iloc[0] - b.blobs["line"].iloc[0] == 4  # the glog header
    cols = [c for c in a.blobs.columns if c != "line"]
    pd.testing.assert_frame_equal(a.blobs[cols], b.blobs[cols])
    err = parsed("vanishing_tanh_error")
    assert err.blobs.empty and len(err.totals) == 30
    pd.testing.assert_series_equal(err.totals["l2_diff"], a.totals["l2_diff"])
    assert any("INFO file" in w for w in err.warnings)


# ---------------------------------------------------------------- dead_relu
def test_dead_relu_zero_tops_and_frozen_params():
    b = parsed("dead_relu").blobs
    for k in (1, 2, 3):
        relu = b[(b["layer"] == f"relu{k}") & (b["direction"] == "forward")]
        assert len(relu) == 51 and (relu["value"] == 0).all()
        grads = b[(b["layer"] == f"ip{k}") & (b["direction"] == "backward") & (b["role"] == "param")]
        assert len(grads) == 100 and (grads["value"] == 0).all()
    bias = b[(b["layer"] == "ip1") & (b["role"] == "param") & (b["blob"] == "1") & (b["direction"] == "forward")]
    assert (bias["value"] == 10).all() and len(bias) == 51
    t0 = parsed("dead_relu").totals.iloc[0]
    assert (t0.l1_data, t0.l1_diff, t0.l2_data, t0.l2_diff) == (492.017, 0.09375, 69.2983, 0.0662913)


# ---------------------------------------------------------------- iter_size_shared
PASS_LOSSES = {0: (0.708781, 0.693647), 5: (0.685089, 0.702443), 35: (0.648627, 0.630922)}


def test_iter_size_two_passes_per_iteration():
    log = parsed("iter_size_shared")
    b = log.blobs
    train = b[b["phase"] == "train"]
    assert sorted(train["iteration"].unique()) == list(range(0, 40, 5))
    assert set(train["batch"]) == {0, 1}
    loss_top = train[(train["layer"] == "loss") & (train["role"] == "top")]
    for it, (p1, p2) in PASS_LOSSES.items():
        vals = loss_top[loss_top["iteration"] == it].sort_values("batch")["value"].tolist()
        assert vals == [p1, p2]
    totals = log.totals.set_index(["iteration", "batch"])
    assert totals.loc[(0, 0), "l1_diff"] == 3.03877 and totals.loc[(0, 1), "l1_diff"] == 4.57618
    assert log.solver["iter_size"] == 2 and log.solver["type"] == "Adam"


def test_shared_weights_named_forward_indexed_backward():
    b = parsed("iter_size_shared").blobs
    fwd = b[(b["direction"] == "forward") & (b["role"] == "param") & (b["layer"].isin(["ip2", "ip3"]))]
    assert set(fwd["blob"]) == {"shared_w", "1"}
    bwd = b[(b["direction"] == "backward") & (b["role"] == "param") & (b["layer"].isin(["ip2", "ip3"]))]
    assert set(bwd["blob"]) == {"0", "1"}
    tests = b[b["phase"] == "test"]
    assert sorted(tests["iteration"].unique()) == [0, 20, 40]
    assert (tests.groupby("iteration").size() == 46).all()


# ---------------------------------------------------------------- legacy2015
def test_legacy_update_lines_follow_the_lr_line():
    legacy, modern = parsed("healthy_conv_legacy2015"), parsed("healthy_conv")
    up = legacy.blobs[legacy.blobs["direction"] == "update"]
    assert len(up) == 800 * 2 and sorted(up["iteration"].unique()) == list(range(100))
    first = up[(up["iteration"] == 0) & (up["layer"] == "conv1") & (up["blob"] == "0")]
    assert dict(zip(first["quantity"], first["value"])) == {"data": 0.278143, "diff": 0.000251522}
    # [Update] data is the param value before the update: the [Forward] param value of that iteration
    fwd = legacy.blobs[(legacy.blobs["direction"] == "forward") & (legacy.blobs["role"] == "param")
                       & (legacy.blobs["phase"] == "train")]
    merged = up[up["quantity"] == "data"].merge(fwd, on=["iteration", "layer", "blob"])
    assert len(merged) == 800 and (merged["value_x"] == merged["value_y"]).all()
    # every number identical to the modern run
    cols = ["iteration", "phase", "batch", "direction", "layer", "role", "blob", "value"]
    a = legacy.blobs[legacy.blobs["direction"] != "update"][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, modern.blobs[cols], check_categorical=False)


# ---------------------------------------------------------------- long_run (first 40,000 lines)
def test_long_run_head_per_iteration_shape_and_killed_tail():
    log = parsed("long_run_head")
    b = log.blobs
    train = b[(b["phase"] == "train") & ~b["inferred"]]
    per_iter = train.groupby(["iteration", "direction"], observed=True).size().unstack()
    assert (per_iter["forward"] == 34).all() and (per_iter["backward"] == 31).all()
    assert sorted(b.loc[b["phase"] == "test", "iteration"].unique()) == [0, 500]
    assert (b[b["phase"] == "test"].groupby("iteration").size() == 195).all()
    tail = b[b["inferred"]]
    assert list(tail["line"]) == [39998, 39999, 40000] and set(tail["iteration"]) == {563}
    assert any("inferred" in w for w in log.warnings)
    assert scalar(log, "loss", source="iteration")[0] == 0.695814


# ---------------------------------------------------------------- resumed runs (segments)
def test_a_log_appended_twice_gives_two_segments():
    """A resumed run appends a second start-up to the same file (FORMAT.md section 9); here the
    real dead_relu log twice, as if the run had been started again into the same file."""
    import caffelog
    text = REAL_LOGS["dead_relu"].read_text()
    n = text.count("\n")
    log = caffelog.read_log(text.splitlines(keepends=True) * 2)
    one = parsed("dead_relu")
    b = log.blobs
    assert set(b["segment"]) == {0, 1} and len(b) == 2 * len(one.blobs)
    second = b[b["segment"] == 1].reset_index(drop=True)
    assert list(second["iteration"]) == list(one.blobs["iteration"])  # iterations repeat
    assert list(second["line"]) == list(one.blobs["line"] + n)
    assert len(log.solvers) == 2 and set(log.net["segment"]) == {0, 1}
    loss = log.scalars[(log.scalars["name"] == "loss") & (log.scalars["source"] == "iteration")]
    assert loss.groupby("segment").size().tolist() == [51, 51]


def test_finetuning_lines_are_understood():
    """`Finetuning from` (solver.cpp:72) and `Ignoring source layer` (net.cpp:746), twice each in
    frozen_finetune (NOTES.md: lines 326-328, 629-631), are start-up chatter, not skipped lines."""
    log = parsed("frozen_finetune")
    assert log.skipped.count == 0 and log.warnings == []
