#!/usr/bin/env python3
"""Speed of every path against the baseline, as ratios measured in one run, on the real long_run log.

    python benchmarks/bench_parse.py               # long_run (122 MB, decompressed to a temp file)
    python benchmarks/bench_parse.py --big 10      # and a generated 10 GB log: the streamed
                                                   # paths' memory must stay bounded

Absolute speeds differ between machines; ratios measured in one run on one machine do not. So the
first table is ratios: each path's speed over the per-line regex baseline (../shared/bench) and
over a bare Python line loop (the floor for anything that touches each line in Python), next to
the targets of issue #16. How each is timed, as a user waits for it:

* the baseline, the line loop and every `caffelog ...` command: the whole process, wall time
  (interpreter start and imports included), cold cache unless the name says cached;
* `read_log`: its own time in a warm interpreter (as in a notebook), imports excluded.

Each method runs in its own process (os.wait4 gives its CPU time and peak RSS, workers included:
"cores" is CPU seconds over wall seconds). The methods take turns, round after round, and the
fastest of --repeat runs of each is shown. Then a profile
of each path (cProfile, main process only: the workers' share shows as waiting) and the
`--follow` check: a writer appends long_run at 10 MB/s while `caffelog diagnose --follow` reads.
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
LONG_RUN = SHARED / "real_logs" / "long_run" / "train.log.gz"
BASELINE = SHARED / "bench" / "handwritten_regex.py"
_SCRIPT = Path(sys.executable).parent / "caffelog"  # the command as installed, as a user runs it
CAFFELOG = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "caffelog.cli"]

# A library method prints the seconds of its own work (imports excluded).
_TIMED = "import sys, time; {setup}; t = time.perf_counter(); {work}; print(time.perf_counter() - t)"
METHODS: dict[str, list[str]] = {
    "wc -l": ["wc", "-l", "{log}"],
    "python line loop": [sys.executable, "-c",
                         "import sys; sum(1 for _ in open(sys.argv[1], encoding='utf-8', errors='replace'))",
                         "{log}"],
    "baseline regex": [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[2]); "
                       "import handwritten_regex as h; h.parse(sys.argv[1])", "{log}", str(BASELINE.parent)],
    # `caffelog.read_log` loads on first use (so that --help needs no pandas): resolved before
    # the clock starts, its imports are not counted as its own time
    "read_log, 1 process": [sys.executable, "-c", _TIMED.format(
        setup="import caffelog; read_log = caffelog.read_log", work="read_log(sys.argv[1], workers=1)"), "{log}"],
    "read_log, 2 processes": [sys.executable, "-c", _TIMED.format(
        setup="import caffelog; read_log = caffelog.read_log", work="read_log(sys.argv[1], workers=2)"), "{log}"],
    "caffelog diagnose": [*CAFFELOG, "diagnose", "{log}", "--fail-on", "never"],  # and fills the cache
    "caffelog diagnose --no-cache": [*CAFFELOG, "diagnose", "{log}", "--no-cache", "--fail-on", "never"],
    "caffelog parse -o DIR": [*CAFFELOG, "parse", "{log}", "-o", "{out}", "--no-cache"],
    "caffelog diagnose, cached": [*CAFFELOG, "diagnose", "{log}", "--fail-on", "never"],
    "plot fc2 after fc1": [*CAFFELOG, "plot", "{log}", "--layer", "fc2", "-o", "{out}.png"],
    "caffelog --help": [*CAFFELOG, "--help"],
}
WARM_UP = {  # what runs first (untimed), so that the method measures a second look
    "caffelog diagnose, cached": [*CAFFELOG, "diagnose", "{log}", "--fail-on", "never"],
    "plot fc2 after fc1": [*CAFFELOG, "plot", "{log}", "--layer", "fc1", "-o", "{out}.fc1.png"],
}
LIBRARY = {"read_log, 1 process", "read_log, 2 processes"}  # timed by their own clock
COLD_CACHE = {"caffelog diagnose"}  # an empty cache of its own each run (a user's first look)
# issue #16's targets: (method, least ratio to the baseline, least fraction of the line loop) or seconds
SPEED_TARGETS = {"read_log, 2 processes": (8, 0.25), "caffelog diagnose": (6, 0.25),
                 "caffelog diagnose --no-cache": (6, 0.25), "caffelog parse -o DIR": (6, 0.25)}
SECONDS_TARGETS = {"plot fc2 after fc1": 1.0, "caffelog --help": 0.3}
PROFILED = {  # (imports, work): the work is profiled
    "read_log": ("from caffelog.engines import read_log", "read_log(sys.argv[1])"),
    "diagnose --no-cache": ("from caffelog.api import diagnose_source; import caffelog.tables.windows",
                            "diagnose_source(sys.argv[1])"),
    "parse -o DIR": ("import tempfile; from caffelog.api import write_tables",
                     "write_tables(sys.argv[1], tempfile.mkdtemp(dir=sys.argv[2]) + '/t')"),
}


@dataclass
class Measured:
    seconds: float  # the method's time: wall, or its own clock for the library methods
    wall: float
    cpu: float  # user + system seconds of the process and its workers
    peak_rss: int  # bytes, the largest process


def run(cmd: list[str], log: Path, out: Path, own_clock: bool = False, cache: Path | None = None) -> Measured:
    """Run one command to its end; own_clock: it prints the seconds of its own work; cache: the
    cache directory it uses (default: the benchmark's)."""
    argv = [a.replace("{log}", str(log)).replace("{out}", str(out)) for a in cmd]
    env = {**os.environ, "CAFFELOG_CACHE_DIR": str(cache)} if cache else None
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # CPU and peak RSS of the process and its workers
        wall = time.perf_counter() - start
        proc.returncode = status
        stdout.seek(0), stderr.seek(0)
        printed, errors = stdout.read().decode(), stderr.read().decode()
    if status:
        raise SystemExit(f"{' '.join(argv[:5])} failed: {errors[-500:]}")
    seconds = float(printed.split()[-1]) if own_clock else wall
    return Measured(seconds, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


def measure(names: list[str], log: Path, tmp: Path, repeat: int) -> dict[str, Measured]:
    """Each method `repeat` times, the fastest kept (noise only ever adds time), its largest
    peak RSS; a cached method's cache is filled first. The methods take turns, round after
    round: a slow spell of the machine (a shared VM's are seconds long) then slows every
    method of a round, not all the runs of one, and the ratios stay comparable."""
    runs: dict[str, list[Measured]] = {name: [] for name in names}
    for k in range(repeat):
        for i, name in enumerate(names):
            out = tmp / f"out-{i}-{k}"
            if name in WARM_UP:
                run(WARM_UP[name], log, out)
            cache = out / "cache" if name in COLD_CACHE else None
            if cache is not None:  # the built grammar is kept, as on any machine after a first run
                cache.mkdir(parents=True)
                for built in Path(os.environ["CAFFELOG_CACHE_DIR"]).glob("grammar-*"):
                    shutil.copy(built, cache)
            runs[name].append(run(METHODS[name], log, out, own_clock=name in LIBRARY, cache=cache))
            shutil.rmtree(out, ignore_errors=True)
        print(f"  round {k + 1}: " + ", ".join(f"{name} {runs[name][-1].seconds:.2f} s" for name in names),
              file=sys.stderr)
    results = {}
    for name in names:
        best = min(runs[name], key=lambda m: m.seconds)
        best.peak_rss = max(m.peak_rss for m in runs[name])
        results[name] = best
    return results


def ratio_table(results: dict[str, Measured], size: int) -> list[str]:
    """The ratios first: speed over the baseline's and over the line loop's, against the target."""
    base, loop = results.get("baseline regex"), results.get("python line loop")
    rows = ["| path | x baseline | of line loop | target | met | seconds | MB/s | cores | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, m in results.items():
        timed_alone = name in SECONDS_TARGETS  # a fixed task, not a pass over the log: no ratio
        x_base = f"{base.seconds / m.seconds:.1f}x" if base and not timed_alone else ""
        of_loop = f"{loop.seconds / m.seconds:.2f}" if loop and not timed_alone else ""
        if name in SPEED_TARGETS and base and loop:
            least, fraction = SPEED_TARGETS[name]
            target = f">= {least}x, >= {fraction}"
            met = "yes" if base.seconds / m.seconds >= least and loop.seconds / m.seconds >= fraction else "no"
        elif name in SECONDS_TARGETS:
            target, met = f"< {SECONDS_TARGETS[name]} s", "yes" if m.seconds < SECONDS_TARGETS[name] else "no"
        else:
            target = met = ""
        speed = f"{size / m.seconds / 1e6:.0f}" if name not in SECONDS_TARGETS else ""
        clock = " (own)" if name in LIBRARY else ""
        rows.append(f"| {name} | {x_base} | {of_loop} | {target} | {met} | {m.seconds:.2f}{clock} | {speed} | "
                    f"{m.cpu / m.wall:.2f} | {m.peak_rss / 1e6:,.0f} |")
    return rows


def profiles(log: Path, tmp: Path, top: int) -> None:
    """The top functions (own time) of each path, main process only."""
    for name, (setup, work) in PROFILED.items():
        code = (f"import cProfile, pstats, sys; {setup}; pr = cProfile.Profile(); pr.enable(); {work}; pr.disable(); "
                f"pstats.Stats(pr).sort_stats('tottime').print_stats({top})")
        out = subprocess.run([sys.executable, "-c", code, str(log), str(tmp)], capture_output=True, text=True,
                             check=True).stdout
        lines = out.splitlines()
        head = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
        total = next((line.strip() for line in lines if "function calls" in line), "")
        print(f"\nprofile of {name} ({total}; own time, main process):")
        for line in lines[head:head + top + 1]:
            print("  " + re.sub(r"\S*/site-packages/|\S*/(?=caffelog/)", "", line.rstrip()))


def follow_check(log: Path, tmp: Path, rate: float) -> None:
    """A writer appends the log at `rate` bytes/s; `diagnose --follow` must end (the log's
    `Optimization Done.`) right after the writer does, using at most one core."""
    growing = tmp / "growing.log"
    growing.write_bytes(b"")
    with tempfile.TemporaryFile() as err:
        reader = subprocess.Popen([*CAFFELOG, "diagnose", str(growing), "--follow", "--poll", "0.2",
                                   "--no-cache", "--fail-on", "never"], stdout=subprocess.DEVNULL, stderr=err)
        start = time.perf_counter()
        with open(log, "rb") as src, open(growing, "ab") as dst:
            while piece := src.read(1 << 20):
                dst.write(piece)
                dst.flush()
                behind = start + src.tell() / rate - time.perf_counter()
                if behind > 0:
                    time.sleep(behind)
        wrote = time.perf_counter()
        _, status, usage = os.wait4(reader.pid, 0)
        done = time.perf_counter()
    written = wrote - start
    cpu = usage.ru_utime + usage.ru_stime
    print(f"\n--follow: the writer appended {log.stat().st_size / 1e6:.0f} MB at {rate / 1e6:.0f} MB/s in "
          f"{written:.1f} s; diagnose --follow ended {done - wrote:.2f} s after the last write "
          f"(exit {status >> 8}), CPU {cpu:.1f} s = {cpu / (done - start):.2f} of a core: "
          f"{'keeps up' if done - wrote < 2.0 and cpu / (done - start) <= 1.0 else 'falls behind'}")


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per method (the fastest is shown)")
    ap.add_argument("--only", nargs="*", metavar="METHOD", help=f"methods to run (default: all of {list(METHODS)})")
    ap.add_argument("--big", type=float, default=0, help="also a generated log of this many GB (one run each)")
    ap.add_argument("--big-only", nargs="*", metavar="METHOD", default=["caffelog diagnose", "caffelog parse -o DIR"],
                    help="methods on the generated log (default: the streamed ones, whose memory must stay bounded)")
    ap.add_argument("--no-profile", action="store_true", help="leave out the profiles")
    ap.add_argument("--no-follow", action="store_true", help="leave out the --follow check")
    ap.add_argument("--top", type=int, default=8, help="functions per profile")
    ap.add_argument("--make-big", nargs=3, metavar=("SOURCE", "TARGET", "GB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make_big:
        make_big(Path(args.make_big[0]), Path(args.make_big[1]), float(args.make_big[2]))
        return
    if not LONG_RUN.is_file():
        raise SystemExit(f"benchmark needs {LONG_RUN} (the real long_run log)")
    names = args.only or list(METHODS)
    for must in ("baseline regex", "python line loop"):  # every ratio needs them in the same run
        if must not in names:
            names.insert(0, must)
    tmp = Path(tempfile.mkdtemp(prefix="caffelog-bench-"))
    os.environ["CAFFELOG_CACHE_DIR"] = str(tmp / "cache")
    try:
        log = tmp / "long_run.log"
        with gzip.open(LONG_RUN, "rb") as src, open(log, "wb") as dst:
            shutil.copyfileobj(src, dst)
        report(log, "long_run", names, tmp, args.repeat)
        if not args.no_profile:
            profiles(log, tmp, args.top)
        if not args.no_follow:
            follow_check(log, tmp, 10e6)
        if args.big:
            big = tmp / "big.log"
            # in a child: the parent must stay small, or every method's peak RSS counts its pages
            subprocess.run([sys.executable, __file__, "--make-big", str(log), str(big), str(args.big)], check=True)
            report(big, f"generated {args.big:g} GB", args.big_only, tmp, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(log: Path, title: str, names: list[str], tmp: Path, repeat: int) -> None:
    size = log.stat().st_size
    with open(log, "rb") as f:
        n_lines = sum(1 for _ in f)
    print(f"\n{title}: {size / 1e6:,.1f} MB, {n_lines:,} lines, {os.cpu_count()} CPUs "
          f"(best of {repeat}; peak RSS: the largest of the runs and processes)\n")
    print("\n".join(ratio_table(measure(names, log, tmp, repeat), size)))


if __name__ == "__main__":
    main()
