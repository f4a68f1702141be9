"""The short text `caffelog parse LOG` prints: what the log holds, at a glance."""
from __future__ import annotations

from caffelog.printable import clean
from caffelog.tables.caffe_log import CaffeLog


def summarize(log: CaffeLog) -> str:
    """A few lines: size, segments, iterations, tables, solver, what was skipped."""
    b, s = log.blobs, log.scalars
    lines = [f"{log.source}: {log.n_lines:,} lines"]
    segments = int(max(b["segment"].max() if len(b) else 0, s["segment"].max() if len(s) else 0)) + 1
    train = s[(s["name"] == "loss") & (s["source"] == "iteration")]
    if len(train):
        first, last = train["iteration"].min(), train["iteration"].max()
        lines.append(f"  iterations {first}..{last} ({len(train)} with a loss line), "
                     f"{segments} segment{'s' if segments > 1 else ''}")
    if log.solver:
        keys = ("type", "base_lr", "lr_policy", "momentum", "display", "iter_size", "max_iter")
        known = {k: log.solver[k] for k in keys if k in log.solver}
        known.setdefault("type", log.solver.get("solver_type", "SGD"))
        lines.append("  solver " + ", ".join(f"{k} {v}" for k, v in known.items()))
    if len(b):
        counts = b.groupby(["phase", "direction"], observed=True).size()
        parts = [f"{n:,} {phase} {direction}" for (phase, direction), n in counts.items()]
        debug_iters = b.loc[b["phase"] == "train", "iteration"].dropna().unique()
        lines.append(f"  blobs  {len(b):,} values ({', '.join(parts)}); "
                     f"{len(debug_iters)} train iterations with debug_info")
        lines.append(f"  layers {', '.join(map(str, _layers_in_order(log)))}")
    lines.append(f"  totals {len(log.totals):,} All-net-params rows")
    lines.append(f"  scalars {len(s):,} rows: {', '.join(map(str, s['name'].unique()[:12]))}")
    lines.append(f"  net    {len(log.net):,} layer rows in {log.net['net'].nunique()} nets")
    if log.crashed:
        lines.append("  the process crashed after its last log line (crash trace at the end)")
    return "\n".join(clean(line) for line in lines)  # names and solver values come from the log


def _layers_in_order(log: CaffeLog) -> list:
    train = log.blobs[(log.blobs["phase"] == "train") & (log.blobs["direction"] == "forward")]
    src = train if len(train) else log.blobs
    return [str(layer) for layer in src["layer"].unique()]
