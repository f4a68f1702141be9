#!/usr/bin/env python3
"""Parse speed and memory of caffelog against the baselines, on the real 122 MB long_run log.

    python benchmarks/bench_parse.py            # long_run (decompressed once to a temp file)
    python benchmarks/bench_parse.py --big 1    # also a ~1 GB log made from long_run (GB count)

Each method runs in its own process, so its peak RSS is its own (os.wait4); on long_run each
runs 3 times (--repeat) and the fastest time is shown, with the largest peak RSS. Methods: `wc -l`, a
bare Python line loop, the peer baseline ../shared/bench/handwritten_regex.py (a per-line regex
parser as users write it), caffelog.read_log with 1 and 2 processes, parse -o DIR (streamed),
read_log + diagnose (the library on whole tables), diagnose as the CLI runs it (streamed, bounded
memory) and from the cache, and a cached second look.
This is the only code in the repository that reads ../shared.
"""
from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
LONG_RUN = SHARED / "real_logs" / "long_run" / "train.log.gz"
BASELINE = SHARED / "bench" / "handwritten_regex.py"

# Each Python method prints "<seconds spent parsing, imports excluded> <tables bytes>".
_TIMED = ("import sys, time; {setup}; t = time.perf_counter(); {work}; "
          "print(time.perf_counter() - t, {tables})")
_TABLES = "sum(log.table(t).memory_usage(deep=True).sum() for t in log.TABLES)"
METHODS = {
    "wc -l": ["wc", "-l", "{log}"],
    "python line loop": [sys.executable, "-c", _TIMED.format(
        setup="pass", work="n = sum(1 for _ in open(sys.argv[1], encoding='utf-8', errors='replace'))",
        tables=0), "{log}"],
    "baseline regex": [sys.executable, "-c", _TIMED.format(
        setup="sys.path.insert(0, sys.argv[2]); import handwritten_regex as h",
        work="df = h.parse(sys.argv[1])", tables="df.memory_usage(deep=True).sum()"),
        "{log}", str(BASELINE.parent)],
    "caffelog 1 process": [sys.executable, "-c", _TIMED.format(
        setup="import caffelog; caffelog.read_log", work="log = caffelog.read_log(sys.argv[1], workers=1)",
        tables=_TABLES),
        "{log}"],
    "caffelog 2 processes": [sys.executable, "-c", _TIMED.format(
        setup="import caffelog; caffelog.read_log", work="log = caffelog.read_log(sys.argv[1], workers=2)",
        tables=_TABLES),
        "{log}"],
    "caffelog parse -o DIR": [sys.executable, "-c", _TIMED.format(
        setup="import tempfile; from caffelog.api import write_tables",
        work="write_tables(sys.argv[1], tempfile.mkdtemp(dir=sys.argv[2]))", tables=0),
        "{log}", "{tmp}"],
    "read_log + diagnose": [sys.executable, "-c", _TIMED.format(
        setup="import caffelog; caffelog.read_log; from caffelog.diagnose import diagnose",
        work="log = caffelog.read_log(sys.argv[1]); findings = diagnose(log)", tables=_TABLES), "{log}"],
    "caffelog diagnose": [sys.executable, "-c", _TIMED.format(  # what the CLI does: streamed
        setup="from caffelog.api import diagnose_source; import caffelog.tables.windows",
        work="diagnose_source(sys.argv[1], use_cache=False)", tables=0), "{log}"],
    "diagnose, cached": [sys.executable, "-c", _TIMED.format(  # a batch of rows at a time
        setup="from caffelog.api import diagnose_source; import caffelog.tables.windows",
        work="diagnose_source(sys.argv[1], use_cache=True)", tables=0), "{log}"],
    "caffelog cached": [sys.executable, "-c", _TIMED.format(
        setup="from caffelog.api import load", work="log = load(sys.argv[1])",
        tables=_TABLES), "{log}"],
}


def run(cmd: list[str], log: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes, and stdout of one command."""
    argv = [a.replace("{log}", str(log)).replace("{tmp}", str(log.parent)) for a in cmd]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status:
        raise SystemExit(f"{argv[:3]} failed: {err.decode()[-500:]}")
    return seconds, usage.ru_maxrss * 1024, out.decode().strip()


def make_big(source: Path, target: Path, gigabytes: float) -> None:
    """Repeat long_run's training iterations with renumbered iterations up to the size asked."""
    lines = source.read_text().splitlines(keepends=True)
    start = next(i for i, text in enumerate(lines) if "Iteration 0, Testing net" in text)
    end = next(i for i, text in enumerate(lines) if "Optimization Done." in text)
    head, body, tail = lines[:start], lines[start:end], lines[end:]
    iteration = re.compile(r"(Iteration )(\d+)")
    body_text = "".join(body)
    step = 18001
    with open(target, "w") as out:
        out.writelines(head)
        k = 0
        while out.tell() < gigabytes * 1e9:
            out.write(iteration.sub(lambda m, k=k: f"{m[1]}{int(m[2]) + k * step}", body_text) if k else body_text)
            k += 1
        out.writelines(tail)


def bench(log: Path, title: str, methods: list[str], repeat: int = 1) -> None:
    """Each method `repeat` times: the fastest run's seconds (the machine's noise only ever
    adds time), and the largest peak RSS of all runs."""
    size = log.stat().st_size
    with open(log, "rb") as f:
        n_lines = sum(1 for _ in f)
    runs = f"best of {repeat} runs, largest peak RSS" if repeat > 1 else "one run"
    print(f"\n{title}: {size / 1e6:,.1f} MB, {n_lines:,} lines ({runs})")
    print(f"{'method':22} {'parse s':>8} {'MB/s':>7} {'lines/s':>11} {'wall s':>7} {'wall MB/s':>9} "
          f"{'peak RSS MB':>11} {'tables MB':>9}")
    parse_s = {}
    for name in methods:
        if name.endswith("cached"):
            run(METHODS[name], log)  # warm the cache first: this measures the second look
        results = [run(METHODS[name], log) for _ in range(repeat)]
        rss = max(r[1] for r in results)
        wall, _, out = min(results, key=lambda r: float(r[2].split()[0]) if name != "wc -l" else r[0])
        fields = out.split()
        seconds = float(fields[0]) if name != "wc -l" else wall
        tables = f"{float(fields[1]) / 1e6:9,.0f}" if len(fields) > 1 and name != "wc -l" else " " * 9
        parse_s[name] = seconds
        print(f"{name:22} {seconds:8.2f} {size / seconds / 1e6:7.1f} {n_lines / seconds:11,.0f} "
              f"{wall:7.2f} {size / wall / 1e6:9.1f} {rss / 1e6:11,.0f} {tables}")
    best = min(parse_s.get("caffelog 1 process", 1e9), parse_s.get("caffelog 2 processes", 1e9))
    if "baseline regex" in parse_s:
        print(f"caffelog (best) vs baseline regex: {parse_s['baseline regex'] / best:.1f}x faster")
    if "python line loop" in parse_s:
        print(f"caffelog (best) vs python line loop: {parse_s['python line loop'] / best:.2f} of its speed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=float, default=0, help="also bench a generated log of this many GB")
    ap.add_argument("--skip-baseline", action="store_true", help="leave out the slow regex baseline")
    ap.add_argument("--repeat", type=int, default=3, help="runs per method on long_run (best is shown)")
    ap.add_argument("--big-repeat", type=int, default=1, help="runs per method on the generated log")
    ap.add_argument("--big-only", nargs="*", metavar="METHOD",
                    help="methods to run on the generated log (default: all); e.g. 'caffelog parse -o DIR'")
    ap.add_argument("--make-big", nargs=3, metavar=("SOURCE", "TARGET", "GB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make_big:
        make_big(Path(args.make_big[0]), Path(args.make_big[1]), float(args.make_big[2]))
        return
    if not LONG_RUN.is_file():
        raise SystemExit(f"benchmark needs {LONG_RUN} (the real long_run log)")
    methods = [m for m in METHODS if not (args.skip_baseline and m == "baseline regex")]
    tmp = Path(tempfile.mkdtemp(prefix="caffelog-bench-"))
    os.environ["CAFFELOG_CACHE_DIR"] = str(tmp / "cache")
    try:
        log = tmp / "long_run.log"
        with gzip.open(LONG_RUN, "rb") as src, open(log, "wb") as dst:
            shutil.copyfileobj(src, dst)
        bench(log, "long_run", methods, args.repeat)
        if args.big:
            big = tmp / "big.log"
            # in a child: the parent must stay small, or every method's peak RSS counts its pages
            subprocess.run([sys.executable, __file__, "--make-big", str(log), str(big), str(args.big)],
                           check=True)
            bench(big, f"generated {args.big:g} GB", args.big_only or methods, args.big_repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
