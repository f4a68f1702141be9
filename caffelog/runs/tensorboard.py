"""A run's tables as TensorBoard event files (tensorboardX, an optional extra).

Tags: `<quantity>/<layer>/<blob>` for the train net's per-blob values (`diff/conv1/weights`,
`data/relu1/top`; a layer's blob named unlike the layer: `data/data/top:label`; legacy
[Update] lines: `update/...`), the same under `test#N/` for a test net, `norms/l1_data`... for
the All-net-params line, `scalars/<name>` for the solver's lines (loss, lr, iter_per_s),
`train/<output>` and `test#N/<output>` for the nets' outputs. Rows with no iteration (a log cut
before its first Iteration line) have no step: they are counted, not written.
The step is the iteration; where a log prints a series more than once per iteration (test
batches, iter_size) each value is its own event, in log order: nothing is averaged away. A
resumed run's events go in log order too: TensorBoard reads event files of version 2 as written,
so both segments' values at the repeated iterations are there. One Summary per step holds all
its values (measured: 500,000 values in 4.6 s; one add_scalar per value took 51 s). The solver settings are hparams.
"""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from caffelog.errors import UsageError
from caffelog.tables.caffe_log import CaffeLog

BLOB_NAMES = {"0": "weights", "1": "bias"}


def blob_tags(blobs: pd.DataFrame) -> pd.Series:
    """The tag of each blobs row (vectorised over the distinct series, not per row)."""
    keys = ["phase", "test_net", "direction", "layer", "role", "blob", "quantity"]
    series = blobs[keys].astype("object").drop_duplicates()
    tags = [_tag(*row) for row in series.itertuples(index=False)]
    lookup = series.assign(tag=tags)
    return blobs[keys].astype("object").merge(lookup, on=keys, how="left")["tag"].set_axis(blobs.index)


def _tag(phase, test_net, direction, layer, role, blob, quantity) -> str:
    what = "update" if direction == "update" else quantity
    if role == "param":
        part = BLOB_NAMES.get(str(blob), f"param{blob}")
    else:
        part = role if str(blob) == str(layer) else f"{role}:{blob}"
    head = f"test#{int(test_net)}/" if phase == "test" else ""
    return f"{head}{what}/{layer}/{part}"


def scalar_tags(scalars: pd.DataFrame) -> pd.DataFrame:
    """The scalars rows with an iteration, with their tags: the solver's own lines
    (`scalars/loss`, `scalars/lr`), the train net's outputs (`train/loss`: the loss layer's value,
    not the solver's smoothed one) and the test nets' (`test#0/accuracy`)."""
    keep = scalars.dropna(subset=["iteration"])
    tags = [f"test#{int(n)}/{name}" if phase == "test" else f"{'scalars' if src == 'iteration' else 'train'}/{name}"
            for phase, n, src, name in zip(keep["phase"], keep["test_net"], keep["source"], keep["name"].astype(str))]
    return keep.assign(tag=tags)


def events(log: CaffeLog) -> pd.DataFrame:
    """Every (step, tag, value) the export writes, in log order."""
    b = log.blobs.dropna(subset=["iteration"])
    parts = [pd.DataFrame({"step": b["iteration"], "tag": blob_tags(b), "value": b["value"], "line": b["line"]})]
    s = scalar_tags(log.scalars)
    parts.append(pd.DataFrame({"step": s["iteration"], "tag": s["tag"], "value": s["value"], "line": s["line"]}))
    t = log.totals.dropna(subset=["iteration"])
    for col in ("l1_data", "l1_diff", "l2_data", "l2_diff"):
        parts.append(pd.DataFrame({"step": t["iteration"], "tag": f"norms/{col}", "value": t[col], "line": t["line"]}))
    out = pd.concat(parts, ignore_index=True).sort_values(["line", "tag"], kind="stable")
    return out.astype({"step": "int64", "value": "float64"})


def hparams_of(solver: dict) -> dict:
    """The solver settings TensorBoard's hparams take: numbers, text and booleans."""
    out = {}
    for key, value in solver.items():
        if isinstance(value, bool | int | float | str):
            out[key] = value
        elif value is not None:
            out[key] = json.dumps(value, default=str)
    return out


def without_step(log: CaffeLog) -> int:
    """How many values have no iteration, so no TensorBoard step."""
    return int(sum(t["iteration"].isna().sum() * (4 if t is log.totals else 1)
                   for t in (log.blobs, log.scalars, log.totals)))


def write(log: CaffeLog, directory: str | Path) -> tuple[int, int]:
    """Write a run's event file into directory; returns the values written and those left out
    for want of an iteration. Written in this thread (tensorboardX's writer thread hangs the
    close when a write fails: a full disk); a failure leaves no file and no folder it made."""
    try:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.summary import hparams
    except ImportError:
        raise UsageError("TensorBoard export needs tensorboardX: pip install 'caffelog[tensorboard]'") from None
    ev = events(log)
    folder = Path(directory)
    made = [p for p in (folder, *folder.parents) if not p.exists()][::-1]  # outermost first
    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    try:
        writer = EventsWriter(str(folder / "events"))
        steps, tags, values = ev["step"].to_numpy(), ev["tag"].to_numpy(), ev["value"].to_numpy()
        bounds = np.flatnonzero(np.diff(steps)) + 1  # a Summary per stretch of one step, in log order
        for chunk in np.split(np.arange(len(steps)), bounds):
            if len(chunk):
                summary = Summary(value=[Summary.Value(tag=tags[i], simple_value=values[i]) for i in chunk])
                writer.write_event(Event(wall_time=time.time(), step=int(steps[chunk[0]]), summary=summary))
        for piece in hparams(hparams_of(log.solver), {}):
            writer.write_event(Event(wall_time=time.time(), summary=piece))
        writer.close()
    except BaseException:
        for new in set(folder.iterdir()) - before:
            new.unlink(missing_ok=True)
        for made_folder in reversed(made):
            with contextlib.suppress(OSError):
                made_folder.rmdir()
        raise
    return len(ev), without_step(log)
