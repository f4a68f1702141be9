#!/usr/bin/env python3
"""Memory follows data, not junk (issue 17 case 4): peak RSS of whole commands on a real sample
log with junk added, beside the same command on the log alone, in one run.

    python benchmarks/bench_memory.py            # about 3 minutes on 2 cores, ~1.6 GB of /tmp
    python benchmarks/bench_memory.py --quick    # the flood of blank lines only

Inputs, each sample_logs/healthy_conv/train.log plus: 20 million blank lines; 20 million short junk
lines; one 1 GB line without a newline at the end of the file. Each command runs in a fresh process
from a cold cache; the peak is that process tree's largest RSS (RUSAGE_CHILDREN). Also printed:
the size of the cache entry each left behind (its metadata must not list every junk line).
The limit asked for is 600 MB.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_logs" / "healthy_conv" / "train.log"
LIMIT_MB = 600


def make_inputs(tmp: Path, quick: bool) -> dict[str, Path]:
    text = SAMPLE.read_bytes()
    inputs = {"log alone": tmp / "alone.log"}
    inputs["log alone"].write_bytes(text)
    kinds = {"+ 20 M blank lines": b"\n" * 1_000_000}
    if not quick:
        kinds["+ 20 M junk lines"] = b"junk line that means nothing\n" * 1_000_000
    for name, block in kinds.items():
        path = inputs[name] = tmp / f"{len(inputs)}.log"
        with open(path, "wb") as f:
            f.write(text)
            for _ in range(20):
                f.write(block)
    if not quick:
        path = inputs["+ one 1 GB line"] = tmp / "long_line.log"
        with open(path, "wb") as f:
            f.write(text)
            for _ in range(1024):
                f.write(b"x" * (1 << 20))
    return inputs


def peak_of(cmd: list[str], env: dict) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one command run in a fresh child process."""
    runner = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL);"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", runner, *cmd], env=env, check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024, time.perf_counter() - start


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the flood of blank lines")
    args = ap.parse_args()
    exe = [sys.executable, "-m", "caffelog.cli"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        inputs = make_inputs(tmp, args.quick)
        print(f"{'input':<22} {'command':<10} {'peak MB':>8} {'x alone':>8} {'seconds':>8} {'cache MB':>9}  "
              f"under {LIMIT_MB} MB")
        alone: dict[str, float] = {}
        failed = False
        for name, path in inputs.items():
            for command in ("diagnose", "parse -o"):
                cache = tmp / "cache"
                shutil.rmtree(cache, ignore_errors=True)
                env = {**os.environ, "CAFFELOG_CACHE_DIR": str(cache)}
                argv = [*exe, "diagnose", str(path)] if command == "diagnose" else \
                    [*exe, "parse", str(path), "-o", str(tmp / "out"), "--force"]
                peak, seconds = peak_of(argv, env)
                alone.setdefault(command, peak)
                ok = peak < LIMIT_MB
                failed |= not ok
                print(f"{name:<22} {command:<10} {peak:8.0f} {peak / alone[command]:8.2f} {seconds:8.1f} "
                      f"{folder_mb(cache) if cache.exists() else 0:9.2f}  {'yes' if ok else 'NO'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
