"""Line forms that no log in sample_logs/ contains, hand-made from the examples quoted in
shared/caffe/FORMAT.md (section 8 and Appendix C: public logs of other Caffe builds) and from
Caffe's solver.cpp / sgd_solver.cpp. Each test names where its lines came from."""
from __future__ import annotations

import math

import caffelog

P = "I1122 17:45:04.014744 19722 net.cpp:644]     "


def test_shared_param_update_form():
    # FORMAT.md section 8 (iter_size_shared_legacy2015, real lines)
    log = caffelog.read_log([
        "I1122 17:44:53.472000 19680 solver.cpp:506] Iteration 0, lr = 0.001",
        "I1122 17:44:53.472272 19680 net.cpp:650]     [Update] Layer ip3, param blob shared_w "
        "(owned by layer ip2, param shared_w) diff: 5.39659e-05",
        "I1122 17:44:53.472289 19680 net.cpp:644]     [Update] Layer ip2, param shared_w data: 0.224032; "
        "diff: 0.000104335",
    ])
    up = log.blobs
    assert list(up["direction"]) == ["update"] * 3 and set(up["iteration"]) == {0}
    assert list(zip(up["layer"], up["blob"], up["quantity"], up["value"])) == [
        ("ip3", "shared_w", "diff", 5.39659e-05), ("ip2", "shared_w", "data", 0.224032),
        ("ip2", "shared_w", "diff", 0.000104335)]


def test_odd_names_thread_ids_and_prefixes():
    # Appendix C: 6-digit thread id, (automatic), slashes, long split names, elided and other prefixes
    log = caffelog.read_log([
        "I0515 10:00:00.123456 231762 net.cpp:1453] [Forward] Layer conv4_3/dwise/scale, top blob "
        "conv4_3/dwise/bn data: 0.5",
        "I0515 10:00:00.123457 231762 net.cpp:1453]     [Forward] Layer loss, top blob (automatic) data: 2.3",
        "I1109 ...]     [Backward] Layer conv3_2/linear/bn_conv3_2/linear/scale_0_split, bottom blob "
        "conv3_2/linear/bn_conv3_2/linear/scale_0_split_0 diff: 1e-05",
        "[2018-06-18 13:41:47.462] [caffe] [info]     [Forward] Layer relu4_1/dwise, top blob "
        "conv4_1/dwise/bn data: 0",
        "INFO - 16:42:11 -     [Backward] Layer bn, param blob 2 diff: 0",
        "I0515 10:00:01.000000 231762 solver.cpp:239] Iteration 7 (1.2 iter/s, 8s/10 iters), loss = 1",
    ])
    b = log.blobs
    assert list(b["layer"]) == ["conv4_3/dwise/scale", "loss", "conv3_2/linear/bn_conv3_2/linear/scale_0_split",
                                "relu4_1/dwise", "bn"]
    assert list(b["blob"]) == ["conv4_3/dwise/bn", "(automatic)",
                               "conv3_2/linear/bn_conv3_2/linear/scale_0_split_0", "conv4_1/dwise/bn", "2"]
    assert set(b["iteration"]) == {7} and log.skipped.count == 0


def test_old_forms_and_signed_nan():
    # Appendix C: `[Forward] Input`, 2014 `[debug_info]` with (mean), `Test score`, `-nan` in solver
    # lines, integer-looking totals; solver.cpp: `Test loss:`; sgd_solver.cpp: gradient clipping
    log = caffelog.read_log([
        "I0101 00:00:00.000001  1 solver.cpp:1] Iteration 0, Testing net (#0)",
        "I0101 00:00:00.000002  1 net.cpp:1]     [Forward] Input data data: 0.25",
        "I0101 00:00:00.000003  1 solver.cpp:1] Test loss: 0.5",
        "I0101 00:00:00.000004  1 solver.cpp:1]     Test score #0: 0.9",
        "I0101 00:00:00.000005  1 net.cpp:1] [debug_info] [Forward] Layer ip, top blob ip data: 400 (0.5)",
        "E0101 00:00:00.000006  1 net.cpp:1]     [Backward] All net params (data, diff): "
        "L1 norm = (123540, 0); L2 norm = (inf, -nan)",
        "I0101 00:00:00.000007  1 solver.cpp:1] Iteration 0, loss = -nan",
        "I0101 00:00:00.000008  1 sgd_solver.cpp:1] Iteration 0, lr = -nan",
        "I0101 00:00:00.000009  1 sgd_solver.cpp:1] Gradient clipping: scaling down gradients "
        "(L2 norm 52.5 > 35) by scale factor 0.666667",
    ])
    b = log.blobs
    assert list(b["phase"]) == ["test", "train"] and list(b["value"]) == [0.25, 0.5]
    s = log.scalars.set_index("name")
    assert s.loc["test_loss", "value"] == 0.5 and s.loc["score#0", "value"] == 0.9
    assert math.isnan(s.loc["loss", "value"]) and math.isnan(s.loc["lr", "value"])
    assert s.loc["clip_norm", "value"] == 52.5 and s.loc["clip_scale", "value"] == 0.666667
    t = log.totals.iloc[0]
    assert t.l1_data == 123540 and t.l2_data == math.inf and math.isnan(t.l2_diff)


def test_names_that_look_like_numbers_or_nan():
    # names are data: digits, 'nan', 'inf', spaces; the shape cache must not confuse them with values
    lines = [P + f"[Forward] Layer {name}, top blob {name} data: {v}"
             for name, v in [("123", 1), ("nan", 2), ("inf", 3), ("1e5", 4), ("fc-1", 5), ("my layer", 6)]]
    lines += [P + "[Forward] Layer 123, top blob 123 data: 7", P + "[Forward] Layer 456, top blob 456 data: 8"]
    b = caffelog.read_log(lines).blobs
    assert list(b["layer"]) == ["123", "nan", "inf", "1e5", "fc-1", "my layer", "123", "456"]
    assert list(b["value"]) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_unknown_lines_are_counted_not_fatal():
    log = caffelog.read_log([P + "[Forward] Layer a, top blob a data: 1", "hello world",
                             P + "[Forward] Layer a, top blob a data: oops",
                             P + "[Forward] Layer a, top blob a data: 2"])
    assert list(log.blobs["value"]) == [1, 2]
    assert log.skipped.count == 2 and log.skipped.lines == [2, 3]


def test_every_netstate_rule_message_is_understood():
    # net.cpp StateMeetsRule (BVLC master 9b89154): the phase form and the stage form are in
    # sample_logs/two_test_nets (lines 334-335); the level and not_stage forms from the source
    n = "I1202 16:52:34.544487 19861 net.cpp:332] "
    log = caffelog.read_log([
        "I1202 16:52:34.544152 19861 solver.cpp:239] Iteration 0 (1 iter/s, 1s/1 iters), loss = 1",
        n + "The NetState phase (1) differed from the phase (0) specified by a rule in layer data",
        n + "The NetState did not contain stage 'train-eval' specified by a rule in layer data",
        n + "The NetState level (0) is above the max_level (-1) specified by a rule in layer aux",
        n + "The NetState level (0) is above the min_level (2) specified by a rule in layer aux",
        n + "The NetState contained a not_stage 'deploy' specified by a rule in layer loss",
    ])
    assert log.skipped.count == 0
