#!/usr/bin/env python3
"""Is a change faster? Instructions counted by valgrind, the working tree against a revision.

    python benchmarks/ab_instructions.py                 # the working tree against HEAD
    python benchmarks/ab_instructions.py --base main~3 --work parse --mb 40

On a shared machine wall time drifts by 2x within minutes (see README, Speed): a 5% change is
lost in it, even alternating runs. The count of instructions that one process executes is
steady to about 0.1% when address-space randomisation is off (`setarch -R`), the hash seed
fixed, no thread wakes by the clock and the grammar is built beforehand, so two versions
compare in one run of this script.
It is a proxy: memory stalls and a second core are not counted, so a change that passes here
is still confirmed by bench_parse.py. One process (CAFFELOG_WORKERS=1), on the first --mb MB
of the real long_run log; the imports are counted apart and left out of the ratio. Needs
valgrind and setarch.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LONG_RUN = ROOT.parent / "shared" / "real_logs" / "long_run" / "train.log.gz"
IMPORTS = "from caffelog.api import diagnose_source, write_tables; import caffelog.engines, caffelog.tables.windows"
WORK = {
    "diagnose": "diagnose_source(sys.argv[1])",
    "parse": "write_tables(sys.argv[1], sys.argv[2] + '/tables')",
    "read_log": "caffelog.engines.read_log(sys.argv[1])",
}
REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(tree: Path, code: str, log: Path, tmp: Path) -> int:
    """Instructions executed by `python -c code` with caffelog imported from tree."""
    out = tmp / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    argv = ["setarch", "-R", "valgrind", "--tool=cachegrind", "--cache-sim=no",
            "--cachegrind-out-file=/dev/null", sys.executable, "-P", "-c", f"import sys; {code}", str(log), str(out)]
    done = subprocess.run(argv, env=_env(tree, tmp), capture_output=True, text=True, check=False)
    found = REFS.search(done.stderr)
    if done.returncode or not found:
        raise SystemExit(f"valgrind run failed ({tree}): {done.stderr[-600:]}")
    return int(found[1].replace(",", ""))


def build_grammar(tree: Path, tmp: Path) -> None:
    """Build tree's grammar into the cache first, as any machine has it after a first run:
    building it is not the work measured (and varies by a few percent from run to run). And
    check that caffelog is imported from tree."""
    code = "import caffelog; from caffelog.parse.grammar import load_grammar; load_grammar(); print(caffelog.__file__)"
    done = subprocess.run([sys.executable, "-P", "-c", code], env=_env(tree, tmp), check=True,
                          capture_output=True, text=True)
    if not Path(done.stdout.strip()).is_relative_to(tree):
        raise SystemExit(f"caffelog came from {done.stdout.strip()}, not from {tree}")


def _env(tree: Path, tmp: Path) -> dict[str, str]:
    """caffelog from tree (python -P: the current directory must not come first), and one
    thread only: a thread that wakes by the clock (jemalloc's purger in pyarrow, BLAS workers)
    would count more instructions when the machine is slow."""
    return {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0", "CAFFELOG_WORKERS": "1",
            "CAFFELOG_CACHE_DIR": str(tmp / "cache"), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "JE_ARROW_MALLOC_CONF": "background_thread:false"}


def piece_of_long_run(target: Path, megabytes: float) -> None:
    """The first `megabytes` of long_run, cut at a line end."""
    with gzip.open(LONG_RUN, "rb") as src, open(target, "wb") as dst:
        data = src.read(int(megabytes * 1e6))
        dst.write(data[:data.rfind(b"\n") + 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD", help="the revision to compare with (default: HEAD)")
    ap.add_argument("--work", choices=list(WORK), default="diagnose", help="what is counted")
    ap.add_argument("--mb", type=float, default=20, help="MB of long_run to read (default: 20)")
    ap.add_argument("--runs", type=int, default=2, help="runs of each (the fewest instructions is kept)")
    args = ap.parse_args()
    for tool in ("valgrind", "setarch"):
        if shutil.which(tool) is None:
            raise SystemExit(f"ab_instructions needs {tool} (apt-get install valgrind util-linux)")
    if not LONG_RUN.is_file():
        raise SystemExit(f"ab_instructions needs {LONG_RUN} (the real long_run log)")
    tmp = Path(tempfile.mkdtemp(prefix="caffelog-ab-"))
    base = tmp / "base"
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base],
                       check=True, capture_output=True)
        log = tmp / "piece.log"
        piece_of_long_run(log, args.mb)
        counts = {}
        for name, tree in (("base " + args.base, base), ("working tree", ROOT)):
            build_grammar(tree, tmp)
            imports = min(instructions(tree, IMPORTS, log, tmp) for _ in range(args.runs))
            total = min(instructions(tree, f"{IMPORTS}; {WORK[args.work]}", log, tmp)
                        for _ in range(args.runs))
            counts[name] = (imports, total - imports)
            print(f"  {name}: imports {imports / 1e9:.3f} G, {args.work} {(total - imports) / 1e9:.3f} G",
                  file=sys.stderr)
        (_, before), (_, after) = counts.values()
        print(f"{args.work} of {args.mb:g} MB of long_run, instructions (imports left out), "
              f"fewest of {args.runs} runs each:")
        print("| version | imports G | work G |\n|---|---|---|")
        for name, (imports, work) in counts.items():
            print(f"| {name} | {imports / 1e9:.3f} | {work / 1e9:.3f} |")
        print(f"working tree / base: {after / before:.3f} (the same code: within 0.002)")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                       check=False, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
