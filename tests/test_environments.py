"""Every command that writes, in every bad place (issue 17): one line on stderr, exit 2, and
nothing left behind. The places are real file systems: a read-only tmpfs and a full one
(mounted when the tests run as root with the right to mount; skipped otherwise)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LONG, REAL_LOGS

# ~26 whole commands on real file systems: minutes on 2 cores, so the long campaign runs it
pytestmark = pytest.mark.skipif(not LONG, reason="make test-long walks every command in every bad place")

LOG, OTHER = str(REAL_LOGS["dead_relu"]), str(REAL_LOGS["nan_explode"])

# (name, argv with {out} for the output's place)
WRITERS = [
    ("parse to a file", ["parse", LOG, "-o", "{out}/blobs.csv"]),
    ("parse to parquet", ["parse", LOG, "-o", "{out}/blobs.parquet"]),
    ("parse to a directory", ["parse", LOG, "-o", "{out}/tables"]),
    ("parse a dataset", ["parse", LOG, OTHER, "-o", "{out}/dataset"]),
    ("plot", ["plot", LOG, "-o", "{out}/curves.png"]),
    ("plot a heatmap", ["plot", LOG, "--heatmap", "-o", "{out}/heat.svg"]),
    ("report", ["report", LOG, "-o", "{out}/report.html"]),
    ("export", ["export", "--tensorboard", "{out}/tb", LOG]),
]


MANY_RUNS = {"parse a dataset", "export"}


def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """{"read-only": dir, "full": dir, "missing": dir}: each a real file system that refuses."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    root = tmp_path_factory.mktemp("places")
    ro, full = root / "ro", root / "full"
    if not _mount(ro, "size=1m") or not _mount(full, "size=256k"):
        pytest.skip("this machine does not let the tests mount a tmpfs")
    subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    filler = full / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill it: the next write gets ENOSPC
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    yield {"read-only": ro, "full": full, "missing": ro / "no" / "such" / "folder"}
    for mount in (ro, full):
        subprocess.run(["umount", str(mount)], check=False)


def _run(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "caffelog.cli", *argv], capture_output=True, text=True,
                          env={**os.environ, "CAFFELOG_WORKERS": "1", **(env or {})}, timeout=300)


@pytest.mark.parametrize("where", ["read-only", "full", "missing"])
@pytest.mark.parametrize("name,argv", WRITERS, ids=[w[0] for w in WRITERS])
def test_a_write_to_a_bad_place_is_one_line_exit_2_and_leaves_nothing(places, where, name, argv):
    out = places[where]
    before = sorted(p.name for p in places["full"].iterdir())
    r = _run([a.replace("{out}", str(out)) for a in argv])
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.splitlines()
    # a command of many runs says each run's failure on its line, then its verdict
    assert lines and all(line.startswith("caffelog: error: ") for line in lines), r.stderr[-2000:]
    assert len(lines) == (1 if name not in MANY_RUNS else len(lines)), r.stderr[-2000:]
    assert "Traceback" not in r.stderr + r.stdout
    assert sorted(p.name for p in places["full"].iterdir()) == before  # no partial file left


@pytest.mark.parametrize("where", ["read-only", "full"])
def test_a_cache_in_a_bad_place_costs_the_cache_only(places, where):
    """The cache is a help, not a need: the diagnosis comes out, and no entry is left half made."""
    before = sorted(p.name for p in places["full"].iterdir())
    cache = places[where] / "cache"
    r = _run(["diagnose", LOG], env={"CAFFELOG_CACHE_DIR": str(cache)})
    assert r.returncode == 1 and "dead" in r.stdout.lower() and "Traceback" not in r.stderr, r.stderr
    # the cache's folder may stay (as ~/.cache/caffelog would), empty: no entry, no grammar half made
    assert sorted(p.name for p in places["full"].iterdir() if p != cache) == before
    assert not cache.exists() or not list(cache.iterdir())
