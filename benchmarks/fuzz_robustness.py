#!/usr/bin/env python3
"""A longer fuzz campaign than CI runs: thousands of seeded, damaged copies of the real logs.

    python benchmarks/fuzz_robustness.py --cases 3000 [--seed 1]

Each case picks a log in sample_logs/, 1-3 kinds of damage (tests/damage.py: flipped bytes, NULs,
bad UTF-8, CRLF, long lines, a cut (often before the first loss line), a line kind left out, dumps
nested hundreds deep, numbers out of any range, floods of blank lines) and a count,
then checks that parsing and diagnosing never raise and that every intact line keeps its record
(and its attribution unless a deciding line was hit). Failures are printed with the arguments
that reproduce them; add the worst to tests/corpus/ as a fixed regression case.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from damage import DAMAGES, check_nothing_good_lost, damage_numbered  # noqa: E402

import caffelog  # noqa: E402
from caffelog.diagnose.diagnosis import diagnose  # noqa: E402

LOGS = ["iter_size_shared/train.log", "dead_relu/train.log", "healthy_conv_legacy2015/train.log",
        "nan_explode/train.log", "vanishing_tanh/train.log", "healthy_conv/train.log"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    originals = {name: (ROOT / "sample_logs" / name).read_bytes() for name in LOGS}
    clean = {name: caffelog.read_log(ROOT / "sample_logs" / name) for name in LOGS}
    failures, start, by_kind = [], time.time(), Counter()
    for _ in range(args.cases):
        name = rng.choice(LOGS)
        kinds = rng.sample(sorted(DAMAGES), rng.randint(1, 3))
        count, seed = rng.randint(1, 40), rng.randrange(2**32)
        try:
            data, hit, numbers = damage_numbered(originals[name], seed, kinds, count)
            diagnose(check_nothing_good_lost(clean[name], originals[name], data, hit, numbers))
            by_kind.update(kinds)
        except Exception as exc:  # noqa: BLE001 - the point is to catch anything
            failures.append((name, seed, kinds, count, exc))
            print(f"FAIL {name} seed={seed} kinds={kinds} count={count}: "
                  f"{type(exc).__name__}: {exc}".splitlines()[0])
            traceback.print_exc(limit=3)
    print(f"{args.cases} damaged logs, {len(failures)} failures, {time.time() - start:.0f} s")
    print("passed cases by damage: " + ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
