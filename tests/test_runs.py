"""Many runs: directories and globs, a summary of many diagnoses, a sweep as one dataset,
compare, and the TensorBoard export, on copies of the real sample logs."""
from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REAL_LOGS, SAMPLES, parsed

from caffelog.cli import main
from caffelog.runs.inputs import expand

SWEEP = ("healthy_conv", "nan_explode", "dead_relu", "resumed_run")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def sweep(tmp_path):
    """runs/<name>/train.log for a few real logs, a non-Caffe `junk.log` and a notes file."""
    root = tmp_path / "runs"
    for name in SWEEP:
        (root / name).mkdir(parents=True)
        shutil.copy(REAL_LOGS[name], root / name / "train.log")
    (root / "junk").mkdir()
    (root / "junk" / "junk.log").write_text("not a caffe log\njust words\n")
    (root / "healthy_conv" / "NOTES.md").write_text("not a log")
    return root


def test_a_directory_is_searched_for_logs_by_name(tmp_path):
    for name in ("a/train.log", "b/train.log.gz", "c/caffe.vm.root.log.INFO.20261203-101010.1",
                 "d/NOTES.md", ".hidden/x.log"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    found = expand([str(tmp_path)])
    assert [os.path.relpath(p, tmp_path) for p in found.logs] == [
        "a/train.log", "b/train.log.gz", "c/caffe.vm.root.log.INFO.20261203-101010.1"]
    quoted = expand([str(tmp_path / "*" / "train.log*"), str(tmp_path / "a" / "train.log")])
    assert len(quoted.logs) == 2 and not quoted.problems  # the same file named twice: once
    assert expand([str(tmp_path / "nothing*")]).problems == [f"{tmp_path / 'nothing*'}: matches no file"]


def test_diagnose_of_a_directory_prints_a_summary_then_each_run(sweep):
    r = run("diagnose", sweep, sweep / "missing.log")
    assert r.exit_code == 1  # nan_explode and dead_relu have errors
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "worst", "headline"]
    rows = {line.split()[0]: line for line in lines[1:7]}
    assert set(rows) == {*SWEEP, str(sweep / "junk" / "junk.log"), str(sweep / "missing.log")}
    assert rows["nan_explode"].split()[1] == "error" and " 37 " in rows["nan_explode"]  # first nan/inf
    assert rows["healthy_conv"].split()[1] == "healthy"
    assert rows[str(sweep / "junk" / "junk.log")].split()[1] == "unreadable"
    assert rows["resumed_run"].rstrip().endswith("0.45 s") and "(2 segments)" in rows["resumed_run"]
    assert any(line.endswith("nan_explode/train.log: 1 cause (1 error) from 10 findings") for line in lines)
    errors = r.stderr.splitlines()
    assert len(errors) == 2 and all(e.startswith("caffelog: error: ") for e in errors)
    assert any("junk.log" in e and "not a Caffe log" in e for e in errors)
    assert any("missing.log" in e for e in errors)


def test_diagnose_of_many_exits_2_only_when_none_could_be_read(sweep):
    r = run("diagnose", sweep / "junk", sweep / "missing.log")
    assert r.exit_code == 2 and r.stdout == ""
    assert run("diagnose", sweep / "healthy_conv", sweep / "junk").exit_code == 0


def test_diagnose_json_of_many_is_an_array_of_reports(sweep):
    r = run("diagnose", sweep, "--format", "json")
    reports = json.loads(r.stdout)
    assert [x["run"] for x in reports] == sorted(SWEEP)
    nan = next(x for x in reports if x["run"] == "nan_explode")
    assert nan["worst"] == "error" and nan["first_non_finite"] == 37
    assert nan["report"]["findings"][0]["rule"] == "non-finite" and nan["report"]["schema"] == 2


def test_concise_lines_point_at_the_log_line_that_shows_the_finding(sweep):
    r = run("diagnose", sweep / "nan_explode" / "train.log", "--format", "concise")
    assert r.exit_code == 1
    text = (sweep / "nan_explode" / "train.log").read_text().splitlines()
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"(.+?):(\d+): (\S+) (error|warning|info) (.+)", line)
        assert m and m.group(1).endswith("nan_explode/train.log")
    first = re.fullmatch(r".+?:(\d+): non-finite error .+", r.stdout.splitlines()[0])
    assert first and "ip2 data: inf" in text[int(first.group(1)) - 1]
    assert run("diagnose", sweep / "healthy_conv" / "train.log", "--format", "concise").stdout == ""


def test_github_annotations_escape_what_would_end_them(tmp_path):
    hostile = tmp_path / "a,b:c" / "train.log"
    hostile.parent.mkdir()
    hostile.write_text(REAL_LOGS["nan_explode"].read_text().replace("ip2", "ip%2\u202e"))
    r = run("diagnose", hostile, "--format", "github")
    first = r.stdout.splitlines()[0]
    m = re.fullmatch(r"::error file=([^,:]+),line=(\d+),title=non-finite::(.+)", first)
    assert m and "a%2Cb%3Ac" in m.group(1)
    assert "ip%252" in m.group(3) and "\u202e" not in r.stdout and "\\u202e" in m.group(3)


def test_a_sweep_becomes_one_dataset_that_pandas_pyarrow_and_duckdb_read(sweep, tmp_path):
    out = tmp_path / "ds"
    r = run("parse", sweep, "-o", out)
    assert r.exit_code == 0 and "4 runs parsed, 0 unchanged, 1 failed" in r.stdout
    blobs = pd.read_parquet(out / "table=blobs")
    for name in SWEEP:
        mine = blobs[blobs["run"] == name].drop(columns="run").reset_index(drop=True)
        expected = parsed(name).blobs
        pd.testing.assert_frame_equal(mine, expected, check_dtype=False, check_categorical=False)
    import duckdb
    import pyarrow.dataset as ds
    assert ds.dataset(out / "table=scalars", partitioning="hive").count_rows() == \
        sum(len(parsed(n).scalars) for n in SWEEP)
    query = (f"select run, median(value) as m from read_parquet('{out}/table=blobs/*/*.parquet', hive_partitioning=1)"
             " where layer = 'conv1' and role = 'param' and blob = '0' and quantity = 'diff' group by run")
    medians = dict(duckdb.sql(query).fetchall())
    b = parsed("healthy_conv").blobs
    assert medians["healthy_conv"] == pytest.approx(
        b[(b.layer == "conv1") & (b.role == "param") & (b.blob == "0") & (b.quantity == "diff")]["value"].median())
    runs = pd.read_parquet(out / "table=runs")
    assert set(runs["label"]) == set(SWEEP)
    assert runs.set_index("label").loc["nan_explode", "solver_base_lr"] == "20"


def test_a_second_parse_of_a_sweep_parses_only_what_changed(sweep, tmp_path):
    out = tmp_path / "ds"
    run("parse", sweep, "-o", out)
    files = {p: p.stat().st_ino for p in out.rglob("part-0.parquet")}
    r = run("parse", sweep, "-o", out)
    assert "0 runs parsed, 4 unchanged" in r.stdout
    assert {p: p.stat().st_ino for p in out.rglob("part-0.parquet")} == files  # not one file rewritten
    with open(sweep / "dead_relu" / "train.log", "a") as log:
        log.write("I1203 10:00:00.000000  1 solver.cpp:337] Iteration 999, Testing net (#0)\n")
    r = run("parse", sweep, "-o", out)
    assert "1 runs parsed, 3 unchanged" in r.stdout
    rewritten = {p for p, ino in files.items() if p.stat().st_ino != ino}
    assert rewritten and all("run=dead_relu" in str(p) for p in rewritten)


def test_compare_names_the_solver_differences_and_where_the_curves_part():
    r = run("compare", REAL_LOGS["healthy_conv"], REAL_LOGS["nan_explode"])
    assert r.exit_code == 0
    base_lr = next(line for line in r.stdout.splitlines() if line.strip().startswith("base_lr"))
    assert base_lr.split() == ["base_lr", "0.01", "|", "20"]
    m = re.search(r"curves part at iteration (\d+): (\S+) (\w+ \w+ \S+ \w+) (\S+) vs (\S+)", r.stdout)
    assert m
    iteration, layer, (direction, role, blob, quantity) = int(m.group(1)), m.group(2), m.group(3).split()
    keys = ["direction", "layer", "role", "blob", "quantity", "iteration"]
    a, b = (parsed(n).blobs.query("phase == 'train'").astype({"blob": str, "layer": str}).drop_duplicates(keys)
            .set_index(keys)["value"] for n in ("healthy_conv", "nan_explode"))
    shared = a.index.intersection(b.index)
    va, vb = a[shared], b[shared]
    apart = (va - vb).abs() > 0.5 * np.maximum(va.abs(), vb.abs())
    its = shared.get_level_values("iteration")
    assert not apart[its < iteration].any() and apart[its == iteration].any()  # the first, per the tables
    here = (direction, layer, role, blob, quantity, iteration)
    assert float(m.group(4)) == pytest.approx(va[here], rel=1e-3)
    assert float(m.group(5)) == pytest.approx(vb[here], rel=1e-3)


def test_tensorboard_events_read_back_equal_to_the_tables(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    names = ("nan_explode", "resumed_run")
    r = run("export", "--tensorboard", tmp_path / "tb", *(REAL_LOGS[n] for n in names))
    assert r.exit_code == 0
    for name in names:
        acc = EventAccumulator(str(tmp_path / "tb" / name), size_guidance={"scalars": 0})
        acc.Reload()
        log = parsed(name)
        b = log.blobs.dropna(subset=["iteration"])
        w = b[(b.phase == "train") & (b.layer == "conv1") & (b.role == "param") & (b.blob == "0")
              & (b.quantity == "diff")]
        events = acc.Scalars("diff/conv1/weights")
        assert [e.step for e in events] == list(w["iteration"])  # log order: a resumed run's repeats too
        np.testing.assert_allclose([e.value for e in events], w["value"], rtol=1e-6)
        loss = log.scalars[(log.scalars.source == "iteration") & (log.scalars.name == "loss")]
        np.testing.assert_allclose([e.value for e in acc.Scalars("scalars/loss")], loss["value"], rtol=1e-6)
        values = np.array([e.value for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)])
        s, t = log.scalars.dropna(subset=["iteration"]), log.totals.dropna(subset=["iteration"])
        norms = t[["l1_data", "l1_diff", "l2_data", "l2_diff"]].to_numpy().ravel()
        table_values = np.concatenate([b["value"], s["value"], norms])
        assert len(values) == len(table_values)  # every value with an iteration, once
        assert np.isnan(values).sum() == np.isnan(table_values).sum()
        assert np.isinf(values).sum() == np.isinf(table_values).sum()
        np.testing.assert_allclose(np.sort(values[np.isfinite(values)]),
                                   np.sort(table_values[np.isfinite(table_values)]).astype(np.float32), rtol=1e-6)
    from tensorboard.plugins.hparams import plugin_data_pb2
    start = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info.hparams
    assert hparams["base_lr"].number_value == parsed("resumed_run").solver["base_lr"]  # the solver settings
    nan_tags = acc.Tags()["scalars"]
    assert "data/data/top:label" in nan_tags or any(t.startswith("test#0/") for t in nan_tags)


def test_the_dask_path_writes_the_same_dataset_as_the_local_pool(sweep, tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    from caffelog.api import write_dataset
    logs = [str(sweep / n / "train.log") for n in SWEEP]
    local = write_dataset(logs, tmp_path / "local")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = write_dataset(logs, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert sorted(local.written) == sorted(remote.written) == sorted(SWEEP)
    for table in ("blobs", "totals", "scalars", "net"):
        a = pd.read_parquet(tmp_path / "local" / f"table={table}").sort_values(["run", "line"]).reset_index(drop=True)
        b = pd.read_parquet(tmp_path / "dask" / f"table={table}").sort_values(["run", "line"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)


def test_plot_and_report_take_a_directory_and_skip_what_they_cannot_read(sweep, tmp_path):
    page = tmp_path / "sweep.html"
    r = run("report", sweep, "-o", page)
    assert r.exit_code == 0 and "junk.log" in r.stderr
    html = page.read_text()
    assert all(f">{name}<" in html or f"{name}:" in html for name in SWEEP)
    r = run("plot", sweep, "--scalars", "-o", tmp_path / "s.png")
    assert r.exit_code == 0 and (tmp_path / "s.png").stat().st_size > 0


def test_sample_logs_directory_is_every_log_the_tests_know():
    found = {os.path.realpath(p) for p in expand([str(SAMPLES)]).logs}
    assert {os.path.realpath(p) for p in REAL_LOGS.values()} <= found


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "concise", "github"])
def test_hostile_run_names_are_inert_in_every_summary(tmp_path, fmt):
    names = ["x\x1b]8;;evil\x07y", "a|b<script>", "r\u202eun"]
    for name in names:
        (tmp_path / name).mkdir()
        shutil.copy(REAL_LOGS["nan_explode"], tmp_path / name / "train.log")
    r = run("diagnose", tmp_path, "--format", fmt)
    assert r.exit_code == 1
    assert not set(r.stdout) & {"\x1b", "\x07", "\u202e"}
    if fmt == "markdown":
        assert "a\\|b\\<script\\>" in r.stdout and "<script>" not in r.stdout
    if fmt == "json":
        assert {x["run"] for x in json.loads(r.stdout)} == set(names)  # JSON escapes them itself


def test_options_that_mean_one_log_are_refused_for_many_and_force_reparses(sweep, tmp_path):
    for verb in ("parse", "diagnose"):
        r = run(verb, sweep, "--show-skipped")
        assert r.exit_code == 2 and "--show-skipped reads one log" in r.stderr
    run("parse", sweep, "-o", tmp_path / "ds")
    assert "4 runs parsed, 0 unchanged" in run("parse", sweep, "-o", tmp_path / "ds", "--force").stdout
    r = run("parse", sweep / "healthy_conv", sweep / "nan_explode", "-o", tmp_path / "x", "--label", "a",
            "--label", "a")
    assert r.exit_code == 2 and "one label" in r.stderr


def test_ctrl_c_stops_a_pool_of_workers_at_once(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    for k in range(40):
        (tmp_path / f"r{k}").mkdir()
        shutil.copy(REAL_LOGS["nan_explode"], tmp_path / f"r{k}" / "train.log")
    env = {**os.environ, "CAFFELOG_CACHE_DIR": str(tmp_path / "cache")}
    p = subprocess.Popen([sys.executable, "-m", "caffelog.cli", "diagnose", "--no-cache", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)
    time.sleep(1.5)  # imports done, the workers busy: 40 logs take several seconds
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=20)
    assert p.returncode == 130 and err.decode() == "caffelog: interrupted\n"
