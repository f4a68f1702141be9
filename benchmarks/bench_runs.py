#!/usr/bin/env python3
"""Many logs at once: one process, the local pool (2 processes) and a Dask LocalCluster, on N
copies of the real sample logs, each as the user waits for it (whole commands, cold cache).

    python benchmarks/bench_runs.py            # 40 logs
    python benchmarks/bench_runs.py --logs 100 --repeat 3

Rows: `caffelog diagnose DIR` and `caffelog parse DIR -o DS` with --workers 1 (serial, the
baseline), the default pool, and --scheduler on a LocalCluster of 2 worker processes (started
before the clock, its start-up timed on its own row). Logs/s and MB/s, and each row's speed as a
ratio of the serial row of the same command, in this run. Reads only sample_logs.
"""
from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def make_sweep(folder: Path, count: int) -> int:
    """count copies of the sample logs, runs/<k>/train.log; returns their bytes."""
    from conftest import ALL_LOGS
    logs = [p for p in ALL_LOGS.values() if p.suffix == ".log"]
    total = 0
    for k, log in zip(range(count), itertools.cycle(sorted(logs))):
        (folder / f"run{k:04d}").mkdir(parents=True)
        shutil.copy(log, folder / f"run{k:04d}" / "train.log")
        total += log.stat().st_size
    return total


def timed(cmd: list[str], env: dict, before=None) -> float:
    if before:
        before()
    start = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from distributed import LocalCluster
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        size = make_sweep(tmp / "runs", args.logs)
        env = {**os.environ, "CAFFELOG_CACHE_DIR": str(tmp / "cache")}
        exe = [sys.executable, "-m", "caffelog.cli"]
        start = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        cluster_start = time.perf_counter() - start
        ways = {"serial (--workers 1)": ["--workers", "1"], "local pool (default)": [],
                "dask LocalCluster": ["--scheduler", cluster.scheduler_address]}
        commands = {"diagnose": [*exe, "diagnose", "--no-cache", "--fail-on", "never", str(tmp / "runs")],
                    "parse -o DS": [*exe, "parse", str(tmp / "runs"), "-o", str(tmp / "ds")]}
        print(f"{args.logs} logs, {size / 1e6:.1f} MB, fastest of {args.repeat}; "
              f"Dask LocalCluster start-up: {cluster_start:.2f} s (not in the rows)\n")
        print(f"{'command':14} {'how':22} {'x serial':>9} {'seconds':>8} {'logs/s':>7} {'MB/s':>6}")
        for command, cmd in commands.items():
            base = None
            for how, extra in ways.items():
                reset = (lambda: shutil.rmtree(tmp / "ds", ignore_errors=True)) if "parse" in command else None
                best = min(timed([*cmd, *extra], env, reset) for _ in range(args.repeat))
                base = base or best
                print(f"{command:14} {how:22} {base / best:9.2f} {best:8.2f} {args.logs / best:7.1f} "
                      f"{size / 1e6 / best:6.1f}")
        cluster.close()


if __name__ == "__main__":
    main()
