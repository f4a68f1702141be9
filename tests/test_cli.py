"""The command line as a user meets it: outputs, pipes, exit statuses, one-line errors."""
from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REAL_LOGS, parsed

import caffelog
from caffelog.cli import main

NAN = str(REAL_LOGS["nan_explode"])


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_parse_summary():
    r = run("parse", str(REAL_LOGS["iter_size_shared"]))
    assert r.exit_code == 0
    assert "iter_size 2" in r.output and "Adam" in r.output
    assert "368 train forward" in r.output and "138 test forward" in r.output


def test_parse_writes_every_table_as_parquet(tmp_path):
    out = tmp_path / "run"
    r = run("parse", NAN, "-o", str(out) + "/")
    assert r.exit_code == 0
    blobs = pd.read_parquet(out / "blobs.parquet")
    ref = parsed("nan_explode").blobs
    assert len(blobs) == len(ref) and blobs["line"].tolist() == ref["line"].tolist()
    assert blobs["layer"].dtype == "category"
    assert json.loads((out / "solver.json").read_text())[0]["base_lr"] == 20
    assert {p.name for p in out.iterdir()} == {"blobs.parquet", "totals.parquet", "scalars.parquet",
                                               "net.parquet", "solver.json"}


def test_parse_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "totals.csv"
    assert run("parse", NAN, "-o", str(target), "--table", "totals").exit_code == 0
    r = run("parse", NAN, "-o", str(target), "--table", "totals")
    assert r.exit_code == 2 and "--force" in r.output
    assert run("parse", NAN, "-o", str(target), "--table", "totals", "--force").exit_code == 0
    df = pd.read_csv(target)
    assert len(df) == 60 and df["l1_data"].iloc[0] == parsed("nan_explode").totals["l1_data"].iloc[0]


@pytest.mark.parametrize("args, message", [
    (["plot", "-o", "{there}.png"], "exists (use --force"),
    (["plot", "-o", "{new}.csv"], "plots are written as .png"),
    (["plot", "-o", "{missing}/x.svg"], "no such directory"),
    (["parse", "-o", "{there}.csv"], "exists (use --force"),
    (["parse", "-o", "{new}.txt"], "unknown output format"),
    (["report", "-o", "{there}.html"], "exists (use --force"),
])
def test_an_output_that_cannot_be_written_is_refused_before_the_parse(tmp_path, monkeypatch, args, message):
    """A bad -o was refused only after the whole parse (and the drawing): seconds on a big log.
    Nothing is parsed now: the parse cache gets no entry."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(cache))
    log = tmp_path / "train.log"
    log.write_bytes(REAL_LOGS["nan_explode"].read_bytes())
    names = {"there": str(tmp_path / "there"), "new": str(tmp_path / "new"), "missing": str(tmp_path / "missing")}
    argv = [a.format(**names) for a in args]
    target = Path(argv[-1])
    if target.stem == "there":
        target.write_text("mine")
    r = run(argv[0], str(log), *argv[1:])
    assert r.exit_code == 2 and message in r.output and len(r.output.splitlines()) == 1, r.output
    assert not [p for p in cache.glob("*") if not p.name.startswith("grammar")]  # never parsed
    assert target.stem != "there" or target.read_text() == "mine"


def test_parse_csv_to_stdout_from_gzip_and_stdin(tmp_path):
    gz = tmp_path / "train.log.gz"
    gz.write_bytes(gzip.compress(REAL_LOGS["dead_relu"].read_bytes()))
    r = subprocess.run([sys.executable, "-m", "caffelog.cli", "parse", str(gz), "-o", "-"],
                       capture_output=True, text=True, check=True)
    df = pd.read_csv(io.StringIO(r.stdout))
    assert len(df) == len(parsed("dead_relu").blobs) and r.stderr == ""
    r2 = subprocess.run([sys.executable, "-m", "caffelog.cli", "parse", "-", "-o", "-", "--table", "scalars"],
                        input=gz.read_bytes(), capture_output=True, check=True)
    assert len(pd.read_csv(io.BytesIO(r2.stdout))) == len(parsed("dead_relu").scalars)


def test_output_survives_a_closed_pipe():
    p = subprocess.run(f"{sys.executable} -m caffelog.cli parse {NAN} -o - | head -n 2",
                       shell=True, capture_output=True, text=True)
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 2
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("setup,message", [
    (lambda d: d / "missing.log", "no such file"),
    (lambda d: d, "no Caffe logs in it"),  # a directory is searched for logs
    (lambda d: _write(d / "empty.log", b""), "empty"),
    (lambda d: _write(d / "a.bin", bytes(range(256)) * 64), "not a Caffe log"),
    (lambda d: _write(d / "notes.txt", b"just some text\nnothing caffe here\n"), "not a Caffe log"),
])
@pytest.mark.parametrize("verb", ["parse", "diagnose"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, setup, message, verb):
    r = run(verb, str(setup(tmp_path)))  # in process: an exception would fail the test
    assert r.exit_code == 2, r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr and r.stdout == ""


def test_bad_input_from_the_installed_command_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "caffelog.cli", "diagnose", str(tmp_path / "missing.log")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == f"caffelog: error: {tmp_path / 'missing.log'}: no such file\n"


def _write(path, data):
    path.write_bytes(data)
    return path


def test_solver_only_log_says_how_to_get_debug_info(tmp_path):
    lines = [line for line in REAL_LOGS["healthy_conv"].read_text().splitlines(True)
             if "[Forward]" not in line and "[Backward]" not in line]
    path = _write(tmp_path / "plain.log", "".join(lines).encode())
    r = subprocess.run([sys.executable, "-m", "caffelog.cli", "parse", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "set `debug_info: true` in solver.prototxt" in r.stderr
    assert "iterations 0..100" in r.stdout


def test_diagnose_exit_status_and_formats():
    r = run("diagnose", NAN)
    assert r.exit_code == 1 and r.output.splitlines()[1].startswith("ERROR   divergence")
    assert "first non-finite value: inf at iteration 37" in r.output
    assert "ERROR   non-finite" not in r.output
    assert "ERROR   non-finite" in run("diagnose", NAN, "--verbose").output
    assert run("diagnose", str(REAL_LOGS["healthy_conv"])).exit_code == 0
    vanishing = str(REAL_LOGS["vanishing_tanh"])
    assert run("diagnose", vanishing).exit_code == 0
    assert run("diagnose", vanishing, "--fail-on", "warning").exit_code == 1
    assert run("diagnose", NAN, "--fail-on", "never").exit_code == 0
    data = json.loads(run("diagnose", NAN, "--format", "json").output)
    assert data["findings"][0]["line"] == 2655
    assert run("diagnose", NAN, "--format", "markdown").output.startswith("# caffelog diagnosis")
    bad = run("diagnose", NAN, "--threshold", "exploding.value")
    assert bad.exit_code == 2 and "RULE.NAME=NUMBER" in bad.output
    assert run("diagnose", NAN, "--select", "nope").exit_code == 2


def test_rules_lists_every_rule_with_defaults():
    from caffelog.diagnose.rules import RULES
    out = run("rules").output
    for rule in RULES:
        assert f"\n{rule} (" in "\n" + out
    assert "value=1e+08" in out


def test_second_look_comes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path / "cache"))
    from caffelog.api import load
    first = load(REAL_LOGS["iter_size_shared"])
    assert len(list((tmp_path / "cache").iterdir())) == 1
    second = load(REAL_LOGS["iter_size_shared"])
    pd.testing.assert_frame_equal(first.blobs, second.blobs)
    pd.testing.assert_frame_equal(first.net, second.net)
    assert second.solver == first.solver and second.skipped.lines == first.skipped.lines
    r = run("cache", "clear")
    assert "removed 1" in r.output and not list((tmp_path / "cache").iterdir())


HEAD = REAL_LOGS["dead_relu"].read_bytes()


@pytest.mark.parametrize("name,data,status,stderr_has", [
    ("truncated mid-line", HEAD[:100_003], 0, " skipped ("),
    ("truncated mid-number", HEAD[: HEAD.index(b"data: 0.0", 120_000) + 8], 0, ""),
    ("crlf", HEAD.replace(b"\n", b"\r\n"), 0, ""),
    ("lone cr", HEAD.replace(b"\n", b"\r"), 0, ""),
    ("nul bytes", HEAD[:50_000] + b"\x00" * 40 + b"\n" + HEAD[50_000:], 0, " skipped ("),
    ("invalid utf-8", HEAD[:60_000] + b"\xff\xfe\xc3\x28\n" + HEAD[60_000:], 0, " skipped ("),
    ("10 MB line", HEAD[:70_000] + b"x" * (10 << 20) + b"\n" + HEAD[70_000:], 0, " skipped ("),
    ("crash trace", REAL_LOGS["nan_explode"].read_bytes(), 0, ""),
    ("binary", bytes(range(256)) * 400, 2, "not a Caffe log"),
    ("empty", b"", 2, "empty input"),
])
def test_each_bad_input_via_file_and_stdin(tmp_path, name, data, status, stderr_has):
    path = tmp_path / "in.log"
    path.write_bytes(data)
    for args, stdin in (([str(path)], None), (["-"], data)):
        r = run("parse", *args, "--no-cache", input=stdin)  # in process: an exception fails the test
        err = r.stderr
        assert r.exit_code == status, (name, err)
        assert stderr_has in err
        if status == 2:
            assert err.count("\n") == 1


def test_stdin_closed_early():
    p = subprocess.run(f"head -c 150000 {REAL_LOGS['dead_relu']} | {sys.executable} -m caffelog.cli parse -",
                       shell=True, capture_output=True, text=True)
    assert p.returncode == 0 and "iterations 0.." in p.stdout and "Traceback" not in p.stderr


def test_interrupted_write_leaves_nothing_behind(tmp_path, monkeypatch):
    import caffelog.output.export as export
    target = tmp_path / "blobs.parquet"

    def broken(df, target, fmt):
        with open(target, "wb") as f:
            f.write(b"PAR1 half written")
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "_write", broken)
    with pytest.raises(KeyboardInterrupt):
        export.write_table(parsed("dead_relu").blobs, str(target))
    assert list(tmp_path.iterdir()) == []


def test_the_cli_table_choices_are_the_tables():
    from caffelog import cli
    assert cli.TABLES == caffelog.CaffeLog.TABLES


@pytest.mark.parametrize("args", [
    ["parse", NAN, "-o", "/nonexistent_dir/x.csv"],
    ["parse", NAN, "-o", "/dev/full"],                 # no extension: a directory that cannot be made
    ["plot", NAN, "-o", "/nonexistent_dir/x.png"],
])
def test_an_output_that_cannot_be_written_is_one_line_and_exit_2(args):
    r = run(*args)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("caffelog: error: ")
    assert not Path("/nonexistent_dir").exists()


def test_parse_refuses_to_write_over_its_input(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(REAL_LOGS["dead_relu"].read_bytes())
    r = run("parse", str(log), "-o", str(log), "--force")
    assert r.exit_code == 2 and "is the log being read" in r.stderr
    assert log.read_bytes() == REAL_LOGS["dead_relu"].read_bytes()


@pytest.mark.parametrize("verb", [["rules"], ["diagnose", NAN]])
def test_output_into_a_pipe_already_closed_is_not_an_error(verb):
    """The reader went away before the first byte (`| head -0`): exit 0, nothing on stderr."""
    import os
    read, write = os.pipe()
    os.close(read)
    p = subprocess.run([sys.executable, "-m", "caffelog.cli", *verb], stdout=write, stderr=subprocess.PIPE,
                       text=True)
    os.close(write)
    assert (p.returncode, p.stderr) == (0, "")


@pytest.mark.parametrize("table", ["net", "blobs", "scalars"])
def test_a_cached_table_writes_the_same_bytes(table, tmp_path, monkeypatch):
    """The second look comes from the cache; its CSV must be the first one's, byte for byte
    (the net's shapes once came back as `np.int64(32)`)."""
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path / "cache"))
    outputs = []
    for n in (1, 2):
        out = tmp_path / f"{table}{n}.csv"
        assert run("parse", str(REAL_LOGS["dead_relu"]), "--table", table, "-o", str(out)).exit_code == 0
        outputs.append(out.read_bytes())
    assert len(list((tmp_path / "cache").iterdir())) == 1 and outputs[0] == outputs[1]


def test_an_edit_that_keeps_size_and_mtime_is_not_served_from_the_cache(tmp_path, monkeypatch):
    import os
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path / "cache"))
    log = tmp_path / "train.log"
    data = REAL_LOGS["dead_relu"].read_bytes()
    log.write_bytes(data)
    from caffelog.api import load
    first = load(log)
    st = os.stat(log)
    at = data.index(b"top blob ip1 data: ") + len(b"top blob ip1 data: ")
    edited = data[:at] + (b"9" if data[at:at + 1] != b"9" else b"8") + data[at + 1:]  # same size
    log.write_bytes(edited)
    os.utime(log, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back
    second = load(log)
    assert len(edited) == len(data) and os.stat(log).st_mtime_ns == st.st_mtime_ns
    assert not first.blobs["value"].equals(second.blobs["value"])
