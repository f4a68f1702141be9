"""caffelog diagnose on the real logs: the findings each NOTES.md implies, and no false alarms."""
from __future__ import annotations

import json

import pytest
from conftest import REAL_LOGS, parsed

import caffelog
from caffelog.diagnose.diagnosis import diagnose, worst_reaches
from caffelog.diagnose.report import elapsed, render_markdown, render_text, to_json
from caffelog.diagnose.rules import RULES
from caffelog.diagnose.settings import Settings, load_settings
from caffelog.errors import UsageError


def by_rule(findings, rule):
    return [f for f in findings if f.rule == rule]


@pytest.fixture(scope="module")
def nan_explode():
    return diagnose(parsed("nan_explode"))


def test_nan_explode_first_nonfinite_on_top(nan_explode):
    top = nan_explode[0]
    assert (top.rule, top.severity, top.iteration, top.phase, top.direction) == (
        "non-finite", "error", 37, "train", "forward")
    assert (top.layer, top.blob, top.quantity, top.line) == ("ip2", "ip2", "data", 2655)
    text = " ".join(top.evidence)
    assert "growing" in text and "divergence" in text
    assert "line 2662" in text and "line 2690" in text  # where the NaN spread next
    assert "base_lr is 20" in top.advice


def test_nan_explode_exploding_fires_before_the_nan(nan_explode):
    exploding = by_rule(nan_explode, "exploding")
    first = min(exploding, key=lambda f: f.line)
    assert first.line < 2655 and first.iteration < 37
    per_layer = {f.layer: f for f in exploding if f.layer}
    assert per_layer["conv2"].line == 838 and per_layer["conv2"].iteration == 2
    assert per_layer["ip2"].line == 847


def test_nan_explode_softmax_underflow_and_divergence(nan_explode):
    (under,) = by_rule(nan_explode, "softmax-underflow")
    assert under.value == 65.5024 and "24/32" in under.message
    assert by_rule(nan_explode, "loss-divergence")


def test_dead_relu():
    f = diagnose(parsed("dead_relu"))
    dead = by_rule(f, "dead-activation")
    assert sorted(x.layer for x in dead) == ["relu1", "relu2", "relu3"]
    assert all(x.severity == "error" for x in dead)  # the only path to the loss is dead
    zero = by_rule(f, "zero-gradient")
    assert sorted(x.layer for x in zero) == ["ip1", "ip2", "ip3"]
    assert all(x.severity == "warning" for x in zero)  # ip_out's bias still learns
    assert "bias_filler constant -10" in zero[0].advice
    assert not by_rule(f, "vanishing")  # exact zeros are zero-gradient's, not vanishing's


def test_vanishing_tanh():
    f = diagnose(parsed("vanishing_tanh"))
    assert by_rule(f, "loss-plateau") and "ln 2" in by_rule(f, "loss-plateau")[0].message
    assert sorted(x.layer for x in by_rule(f, "tanh-saturation")) == ["tanh4", "tanh5"]
    vanishing = by_rule(f, "vanishing")
    assert sorted(x.layer for x in vanishing) == ["ip2", "ip3", "ip4"]
    assert "ip2-ip4" in vanishing[0].evidence[0]
    assert "uniform [0, 1]" in vanishing[0].advice
    assert not [x for x in f if x.severity == "error"]


@pytest.mark.parametrize("name", ["healthy_conv", "healthy_conv_legacy2015", "iter_size_shared",
                                  "healthy_conv_default_prefix", "long_run_head", "resumed_run",
                                  "two_test_nets"])
def test_healthy_runs_raise_no_error_or_warning(name):
    f = diagnose(parsed(name))
    assert [x for x in f if x.severity in ("error", "warning")] == []
    assert not worst_reaches(f, "warning")


def test_update_ratio_exact_from_update_lines():
    log = parsed("healthy_conv_legacy2015")
    # the legacy [Update] lines give the exact ratio diff/data: about 3e-3 here, so a high bound
    # of 1e-3 must flag every layer, with the exact (not estimated) label
    f = diagnose(log, Settings(select=["update-ratio"], thresholds={"update-ratio": {"high": 1e-3}}))
    assert sorted(x.layer for x in f) == ["conv1", "conv2", "ip1", "ip2"]
    assert not any(x.estimated for x in f)
    assert all(2e-3 < x.value < 4e-3 for x in f)


def test_update_ratio_estimate_uses_momentum():
    # long_run: lr x diff / data is 3e-5..1.5e-4; divided by (1 - 0.9) it sits inside [1e-4, 1e-2]
    f = diagnose(parsed("long_run_head"), Settings(select=["update-ratio"],
                                                   thresholds={"update-ratio": {"estimate_tolerance": 1}}))
    assert f == []
    f = diagnose(parsed("vanishing_tanh"), Settings(select=["update-ratio"]))
    assert [x.layer for x in f] == ["ip3"] and f[0].estimated


def test_adaptive_solver_is_not_estimated():
    (f,) = diagnose(parsed("iter_size_shared"), Settings(select=["update-ratio"]))
    assert f.severity == "info" and "Adam" in f.message


def test_gradient_clipping_hand_made():
    # line form from BVLC sgd_solver.cpp ClipGradients (no real log in sample_logs/ clips)
    log = caffelog.read_log([
        "I0101 00:00:00.000001  1 solver.cpp:1] Iteration 0 (1 iter/s, 1s/1 iters), loss = 2",
        "I0101 00:00:00.000002  1 sgd_solver.cpp:1] Iteration 0, lr = 0.1",
        "I0101 00:00:00.000003  1 sgd_solver.cpp:1] Gradient clipping: scaling down gradients "
        "(L2 norm 52.5 > 35) by scale factor 0.666667",
        "I0101 00:00:00.000004  1 sgd_solver.cpp:1] Gradient clipping: scaling down gradients "
        "(L2 norm 70 > 35) by scale factor 0.5"])
    (f,) = diagnose(log, Settings(select=["gradient-clipping"]))
    assert f.severity == "info" and "2 times" in f.message and f.line == 3


def test_outputs_agree():
    log = parsed("dead_relu")
    f = diagnose(log)
    data = json.loads(to_json(log, f))
    assert data["schema"] == 2 and len(data["findings"]) == len(f)
    text, verbose, md = render_text(log, f), render_text(log, f, verbose=True), render_markdown(log, f)
    for finding, row in zip(f, data["findings"]):
        assert row["rule"] == finding.rule and row["line"] == finding.line and row["cause"] == finding.cause
        assert row["time"] == finding.time is not None
        assert f"line {finding.line}, {elapsed(finding.time)} into the run" in verbose
        assert f"| {finding.line} | {elapsed(finding.time)} |" in md
    assert [c["id"] for c in data["causes"]] == [c.id for c in f.causes] == ["dead-init"]
    assert sorted(i for c in data["causes"] for i in c["findings"]) == list(range(len(f)))
    for cause in f.causes:
        assert f"line {cause.line}" in text and cause.headline in text
        when = f"{elapsed(cause.time)} into the run"
        assert f"line {cause.line}, {when}" in text
        assert f"`{cause.id}` (iteration {cause.iteration}, line {cause.line}, {when})" in md


def test_json_keeps_nan_as_text(nan_explode):
    data = json.loads(to_json(parsed("nan_explode"), nan_explode))
    assert data["findings"][0]["value"] == "inf"


def test_select_ignore_thresholds_and_config(tmp_path):
    log = parsed("nan_explode")
    only = diagnose(log, Settings(select=["exploding"], thresholds={"exploding": {"value": 1e30}}))
    assert {f.rule for f in only} == {"exploding"}
    (ip1,) = [f for f in only if f.layer]  # only ip1's blob passes 1e30; relu3 prints it in place
    assert ip1.layer == "ip1" and "the same blob in relu3" in ip1.message
    assert "non-finite" not in {f.rule for f in diagnose(log, Settings(ignore=["non-finite"]))}
    with pytest.raises(UsageError):
        diagnose(log, Settings(select=["no-such-rule"]))
    with pytest.raises(UsageError):
        diagnose(log, Settings(thresholds={"exploding": {"nope": 1}}))
    (tmp_path / "caffelog.toml").write_text('ignore = ["softmax-underflow"]\n'
                                            '[thresholds.exploding]\nvalue = 1e30\n')
    settings = load_settings(str(tmp_path / "train.log"))
    assert settings.ignore == ["softmax-underflow"] and settings.thresholds["exploding"]["value"] == 1e30
    (tmp_path / "caffelog.toml").unlink()
    (tmp_path / "pyproject.toml").write_text('[tool.caffelog]\nselect = ["non-finite"]\n')
    assert load_settings(str(tmp_path / "train.log")).select == ["non-finite"]


def test_every_rule_documents_itself():
    for rule in RULES.values():
        doc = rule.__doc__ or ""
        assert rule.id == rule.id.lower() and " " not in rule.id
        assert rule.severity in ("error", "warning", "info")
        assert "Fix" in doc or "fix" in doc, rule.id


@pytest.mark.parametrize("text,message", [
    ("exploding.value=nan", "finite"), ("exploding.value=inf", "finite"), ("exploding.value=-1", ">= 0"),
    ("update-ratio.far=0", "> 0"), ("softmax-underflow.min_count=0", "> 0"),
    ("loss-plateau.window=2", "at most 1"), ("exploding.window=1e300", "too large"),
    ("exploding.nope=1", "has no threshold"), ("nope.value=1", "unknown rule"), ("exploding.value=x", "NUMBER"),
])
def test_a_bad_threshold_is_one_line_before_the_parse(text, message):
    from click.testing import CliRunner

    from caffelog.cli import main
    r = CliRunner().invoke(main, ["diagnose", str(REAL_LOGS["nan_explode"]), "--threshold", text])
    assert r.exit_code == 2 and message in r.stderr and r.stderr.count("\n") == 1 and r.stdout == ""


@pytest.mark.parametrize("toml,message", [
    ('[thresholds.exploding]\nvalue = "big"\n', "is not a number"),
    ("[thresholds.exploding]\nvalue = true\n", "is not a number"),
    ('fail-on = "sometimes"\n', "fail-on"),
    ('select = "exploding"\n', "list of rule names"),
    ("[thresholds.loss-plateau]\nwindow = 0\n", None),  # 0 is a legal share: runs
])
def test_a_bad_config_file_is_one_line(tmp_path, toml, message):
    from click.testing import CliRunner

    from caffelog.cli import main
    (tmp_path / "train.log").write_bytes(REAL_LOGS["dead_relu"].read_bytes())
    (tmp_path / "caffelog.toml").write_text(toml)
    r = CliRunner().invoke(main, ["diagnose", str(tmp_path / "train.log"), "--no-cache"])
    if message is None:
        assert r.exit_code in (0, 1) and r.stderr == ""
    else:
        assert r.exit_code == 2 and message in r.stderr and r.stderr.count("\n") == 1
