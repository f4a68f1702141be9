"""Hostile logs (issue 17): each case built from a real log by one edit, and what must hold.

No case may raise: the log's damage is counted or falls back to a stated default, and every record
the edit did not touch is kept."""
from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REAL_LOGS, parsed

import caffelog
from caffelog.cli import main
from caffelog.diagnose.diagnosis import diagnose
from caffelog.output import plot as plots
from caffelog.parse.protodump import MAX_DEPTH

HEALTHY = REAL_LOGS["healthy_conv"].read_text()


def _insert_after_solver_line(text: str, extra: str) -> str:
    head, sep, rest = text.partition("Initializing solver from parameters: \n")
    return head + sep + extra + rest


def test_a_dump_nested_500_deep_is_cut_at_the_depth_limit_and_counted(tmp_path):
    """Case 6: was a RecursionError in every command."""
    depth = 500
    deep = "a {\n" * depth + "}\n" * depth
    path = tmp_path / "deep.log"
    path.write_text(_insert_after_solver_line(HEALTHY, deep))
    log = caffelog.read_log(path)
    assert log.skipped.reasons == {"nested too deep": 2 * (depth - MAX_DEPTH)}
    original = parsed("healthy_conv")
    cols = [c for c in original.blobs.columns if c != "line"]
    pd.testing.assert_frame_equal(log.blobs[cols], original.blobs[cols])
    assert log.solver["base_lr"] == 0.01 and log.solver["type"] == "SGD"  # the fields after it survive
    for args in (["parse"], ["diagnose"], ["plot", "--scalars", "-o", str(tmp_path / "s.png")]):
        r = CliRunner().invoke(main, [args[0], str(path), *args[1:]])
        assert r.exit_code == 0 and "Traceback" not in r.output, r.output


SOLVER_FIELDS = ["test_iter", "test_interval", "base_lr", "display", "max_iter", "gamma", "momentum",
                 "weight_decay", "stepsize"]
HUGE = ["1e400", "-1e400", "nan", "9223372036854775807", "1e20", "-5", "0"]


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("field", SOLVER_FIELDS)
def test_impossible_numbers_in_the_solver_dump_never_raise(field, value):
    """Case 15: `momentum: 1e400`-like values raised OverflowError; `display: 2^63-1` turned the
    inferred iterations of a killed run into NA. The log is cut at line 3000 (a killed run)."""
    text = re.sub(rf"(?m)^{field}: .*$", f"{field}: {value}", HEALTHY, count=1)
    lines = text.splitlines(keepends=True)[:3000]
    log = caffelog.read_log(io.StringIO("".join(lines)))
    findings = diagnose(log)
    assert all(f.message for f in findings)
    inferred = log.blobs[log.blobs["inferred"]]
    assert len(inferred) and inferred["iteration"].notna().all()
    if field == "display":  # none of them is a positive int32: the default, 1
        last = int(log.scalars.loc[log.scalars["name"] == "loss", "iteration"].max())
        assert set(inferred["iteration"]) == {last + 1}
    plots.plot_scalars([log])



def test_a_big_log_whose_second_half_has_no_totals_parses_on_two_processes(tmp_path):
    """Case 2: the 2-process engine stitched an empty totals chunk with a TypeError."""
    import gzip

    from conftest import SAMPLES
    plain = gzip.decompress((SAMPLES / "long_run" / "solver_lines.log.gz").read_bytes())  # no debug_info
    path = tmp_path / "big.log"
    path.write_bytes(REAL_LOGS["healthy_conv"].read_bytes() + plain * 2)  # > 8 MB: the parallel engine
    log = caffelog.read_log(path, engine="parallel")
    pd.testing.assert_frame_equal(log.totals, parsed("healthy_conv").totals)


def test_closed_stdout_and_a_file_target_that_is_no_directory_are_one_line(tmp_path):
    import subprocess
    import sys
    log = str(REAL_LOGS["nan_explode"])
    r = subprocess.run(f"{sys.executable} -m caffelog.cli parse {log} -o - >&-", shell=True, capture_output=True)
    assert r.returncode == 2 and r.stderr.decode() == "caffelog: error: standard output is closed\n"
    (tmp_path / "noext").write_text("")
    for target in ("/dev/full", str(tmp_path / "noext")):
        r2 = CliRunner().invoke(main, ["parse", log, "-o", target, "--force"], catch_exceptions=False)
        assert r2.exit_code == 2 and "exists and is not a directory" in r2.stderr


def test_a_huge_worker_count_with_few_file_handles_still_parses(tmp_path):
    """Case 18: CAFFELOG_WORKERS=300 under `ulimit -n 64` ran out of file handles."""
    import os
    import resource
    import subprocess
    import sys
    path = tmp_path / "big.log"
    path.write_bytes(REAL_LOGS["healthy_conv"].read_bytes() * 40)  # > 8 MB: the parallel engine
    env = {**os.environ, "CAFFELOG_WORKERS": "300", "CAFFELOG_CACHE_DIR": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-m", "caffelog.cli", "parse", str(path), "--no-cache"], env=env,
                       capture_output=True, text=True,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)))
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert f"{len(parsed('healthy_conv').blobs) * 40:,}" in r.stdout


@pytest.mark.parametrize("draw", ["heatmap", "series", "scalars"])
def test_control_characters_in_names_are_drawn_as_escapes_with_no_glyph_warning(draw):
    """Case 19: an ANSI escape in a layer name made matplotlib warn with the escape raw."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    text = REAL_LOGS["nan_explode"].read_text().replace("ip1", "i\x1b[31mp1")
    log = caffelog.read_log(io.StringIO(text))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph warning fails the test
        fig = {"heatmap": lambda: plots.plot_heatmap([log], "data", None, None, ["r\x1bun"]),
               "series": lambda: plots.plot_series([log], plots.Selection(["i*"]), labels=["r\x1bun"]),
               "scalars": lambda: plots.plot_scalars([log], None, ["r\x1bun"])}[draw]()
        FigureCanvasAgg(fig).draw()
    drawn = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels() + ax.get_xticklabels()]
    drawn += [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    assert not any("\x1b" in t for t in drawn)
    assert any("r\\x1bun" in t for t in drawn)
    if draw != "scalars":
        assert any("i\\x1b[31mp1" in t for t in drawn)


def test_terminal_controls_in_names_never_reach_the_summary_or_text_files(tmp_path):
    """Case 9: an OSC 8 link, a C1 control (U+009B, CSI) and U+202E in a layer name, and an
    ANSI clear-screen in the solver type."""
    text = HEALTHY.replace("conv1", "c\x1b]8;;http://x\x07o\x9bnv\u202e1").replace('type: "SGD"', 'type: "S\x1b[2JGD"')
    log = tmp_path / "hostile.log"
    log.write_text(text)
    runner = CliRunner()
    summary = runner.invoke(main, ["parse", str(log)], catch_exceptions=False).stdout
    assert "c\\x1b]8;;http://x\\x07o\\x9bnv\\u202e1" in summary
    outputs = [summary]
    for name, table in (("b.csv", "blobs"), ("n.csv", "net"), ("b.json", "blobs"), ("n.json", "net")):
        runner.invoke(main, ["parse", str(log), "-o", str(tmp_path / name), "--table", table], catch_exceptions=False)
        outputs.append((tmp_path / name).read_text())
    for out in outputs:
        assert not set(out) & {"\x1b", "\x07", "\x9b", "\u202e"}
    assert "c\\x1b]8;;http://x\\x07o\\x9bnv\\u202e1" in outputs[1]
    pd.testing.assert_frame_equal(pd.read_parquet(_parquet(runner, log, tmp_path)), caffelog.read_log(log).blobs,
                                  check_categorical=False)  # Parquet keeps the names exactly as logged


def _parquet(runner, log, tmp_path):
    runner.invoke(main, ["parse", str(log), "-o", str(tmp_path / "b.parquet")], catch_exceptions=False)
    return tmp_path / "b.parquet"


@pytest.mark.parametrize("command", [["parse"], ["diagnose"], ["parse", "-o", "{tmp}/tables"]])
def test_ctrl_c_during_the_two_process_parse_is_a_quiet_exit_130(tmp_path, command):
    """Case 3: Ctrl-C printed a worker's traceback (the /dev/shm hand-off files are removed in
    parallel.py's finally; other tests' parallel parses share /dev/shm, so it is not counted here).
    parse reads the tables in memory (one range per process), diagnose and parse -o stream ranges."""
    import os
    import signal
    import subprocess
    import sys
    import time
    path = tmp_path / "big.log"
    path.write_bytes(REAL_LOGS["healthy_conv"].read_bytes() * 200)  # ~50 MB: the 2-process engine, seconds
    env = {**os.environ, "CAFFELOG_CACHE_DIR": str(tmp_path / "cache")}
    argv = [a.replace("{tmp}", str(tmp_path)) for a in command]
    p = subprocess.Popen([sys.executable, "-m", "caffelog.cli", argv[0], str(path), *argv[1:], "--no-cache"],
                         env={**env, "CAFFELOG_WORKERS": "2"},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(1.2)
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=20)
    assert p.returncode == 130 and err.decode() == "caffelog: interrupted\n"


def test_a_ctrl_c_a_finaliser_swallowed_still_stops_the_command(tmp_path, monkeypatch):
    """Case 3: a KeyboardInterrupt raised inside a __del__ is printed and dropped by Python, and
    the command ran on to exit 0 (seen once under load). The handler remembers it: exit 130."""
    import contextlib
    import os
    import signal

    from caffelog.parse.feed import RecordFeed
    feed, fed = RecordFeed.feed, []

    def feed_through_a_finaliser(self, chunk):
        if not fed:
            with contextlib.suppress(KeyboardInterrupt):  # what Python does with one raised in a __del__
                os.kill(os.getpid(), signal.SIGINT)  # lands here, as it could in any finaliser
        fed.append(len(chunk))
        return feed(self, chunk)

    monkeypatch.setattr(RecordFeed, "feed", feed_through_a_finaliser)
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["diagnose", str(REAL_LOGS["healthy_conv"]), "--no-cache"])
    assert result.exit_code == 130 and "caffelog: interrupted" in result.output
    assert len(fed) == 1  # stopped at the next chunk, not at the end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # and the handler is put back


def _dir_state(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _no_partials(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".partial")]


def test_a_kill_while_writing_a_dir_leaves_the_old_output_whole(tmp_path, monkeypatch):
    """Case 10: `-o DIR --force` is built aside and swapped in. A kill (here a KeyboardInterrupt)
    as the last file is written, after the net table was complete, leaves the earlier log's tables
    as they were, nothing mixed, no staging folder, and the rerun is not blocked."""
    from caffelog.tables.windows import TableStream
    out = tmp_path / "tables"
    assert CliRunner().invoke(main, ["parse", str(REAL_LOGS["dead_relu"]), "-o", str(out)]).exit_code == 0
    before = _dir_state(out)

    def killed(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(TableStream, "solvers", killed)
    r = CliRunner().invoke(main, ["parse", str(REAL_LOGS["healthy_conv"]), "-o", str(out), "--force"])
    assert r.exit_code != 0
    assert _dir_state(out) == before and not _no_partials(tmp_path)
    monkeypatch.undo()
    r = CliRunner().invoke(main, ["parse", str(REAL_LOGS["healthy_conv"]), "-o", str(out), "--force"])
    assert r.exit_code == 0, r.output
    fresh = tmp_path / "fresh"
    CliRunner().invoke(main, ["parse", str(REAL_LOGS["healthy_conv"]), "-o", str(fresh)])
    assert _dir_state(out) == _dir_state(fresh) and not _no_partials(tmp_path)


def test_a_planted_symlink_in_the_output_dir_is_replaced_not_followed(tmp_path):
    """Case 10: solver.json was written in place through a symlink someone put there."""
    out, victim = tmp_path / "tables", tmp_path / "victim.txt"
    victim.write_text("precious")
    assert CliRunner().invoke(main, ["parse", str(REAL_LOGS["dead_relu"]), "-o", str(out)]).exit_code == 0
    for name in ("solver.json", "net.parquet"):
        (out / name).unlink()
        (out / name).symlink_to(victim)
    r = CliRunner().invoke(main, ["parse", str(REAL_LOGS["dead_relu"]), "-o", str(out), "--force"])
    assert r.exit_code == 0, r.output
    assert victim.read_text() == "precious"
    assert not (out / "solver.json").is_symlink() and '"base_lr"' in (out / "solver.json").read_text()


def test_an_output_dir_holding_other_files_keeps_them(tmp_path):
    """The tables go into a folder of the user's one file at a time; the user's files stay."""
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = CliRunner().invoke(main, ["parse", str(REAL_LOGS["dead_relu"]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "notes.txt").read_text() == "mine" and (out / "blobs.parquet").exists()
    assert not _no_partials(tmp_path) and not _no_partials(out)


@pytest.mark.parametrize("path", ["memory", "stream"])
def test_a_full_cache_disk_leaves_no_temporary_entry(tmp_path, monkeypatch, path):
    """Case 17: a cache write that fails (ENOSPC in the third file) leaves nothing in the cache
    folder, and the command still gives its answer."""
    import errno

    from caffelog import engines
    cache = tmp_path / "cache"
    monkeypatch.setenv("CAFFELOG_CACHE_DIR", str(cache))
    from caffelog.tables import parquet
    owner, name = (pd.DataFrame, "to_parquet") if path == "memory" else (parquet.TableWriter, "write")
    real, calls = getattr(owner, name), []

    def full(self, *args, **kwargs):
        calls.append(1)
        if len(calls) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, full)
    if path == "memory":
        log = engines.read_log(REAL_LOGS["dead_relu"], use_cache=True)
        assert len(log.blobs) == len(parsed("dead_relu").blobs)
    else:
        r = CliRunner().invoke(main, ["diagnose", str(REAL_LOGS["dead_relu"])])
        assert r.exit_code == 1 and "dead" in r.output.lower()
    assert len(calls) >= 3
    assert not cache.exists() or [p.name for p in cache.rglob("*")] == []


def _many_layers(tmp_path, copies: int):
    """healthy_conv with each train forward `top blob` line of conv1 repeated `copies` times as
    layers conv1_0, conv1_1, ...: a net of `copies` more layers, each with its real values."""
    out = []
    for line in HEALTHY.splitlines(keepends=True):
        out.append(line)
        if "[Forward] Layer conv1, top blob conv1 data:" in line:
            out.extend(line.replace("Layer conv1,", f"Layer conv1_{k},") for k in range(copies))
    path = tmp_path / "wide.log"
    path.write_text("".join(out))
    return path


def test_a_heatmap_of_thousands_of_layers_folds_them_into_bounded_rows(tmp_path):
    """Case 5: 10,000 layers made a 1320 x 385,198 px PNG (18 GB, 266 s). Rows now hold groups of
    consecutive layers, the picture keeps a bounded size, and the axis says what was folded."""
    from caffelog.output.heatmap import MAX_ROWS, heatmap_matrix
    log = caffelog.read_log(_many_layers(tmp_path, 400))
    m = heatmap_matrix(log)
    n = log.blobs.query("phase == 'train' and direction == 'forward' and role == 'top'")["layer"].nunique()
    assert n > 400 and len(m) <= MAX_ROWS and m.attrs["layers"] == n
    per_row = m.attrs["layers_per_row"]
    assert m.index[0].endswith(f"({per_row} layers)")
    unfolded = heatmap_matrix(log, max_rows=10**6)
    assert np.allclose(m.iloc[1].to_numpy(), np.nanmedian(unfolded.iloc[per_row:2 * per_row].to_numpy(), axis=0),
                       equal_nan=True)
    fig = plots.plot_heatmap(log)
    width, height = fig.get_size_inches() * 110
    assert height < 8000 and width < 2000
    assert f"{n} layers, {per_row} a row" in fig.axes[0].get_ylabel()
    path = tmp_path / "h.png"
    r = CliRunner().invoke(main, ["plot", str(tmp_path / "wide.log"), "--heatmap", "-o", str(path)])
    assert r.exit_code == 0, r.output
