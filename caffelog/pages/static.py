"""`report --static`: the page's pictures as matplotlib PNGs, for places that forbid scripts."""
from __future__ import annotations

import base64
import glob
import io

from matplotlib.figure import Figure

from caffelog.errors import UsageError
from caffelog.output.heatmap import plot_heatmap
from caffelog.output.plot import plot_series
from caffelog.output.scalars import plot_scalars
from caffelog.output.selection import Selection
from caffelog.pages.content import Run, layer_order


def png(fig: Figure) -> str:
    """The figure as base64 PNG, for an <img src="data:..."> in the page."""
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=90)
    return base64.b64encode(out.getvalue()).decode()


def images(runs: list[Run]) -> dict:
    """{scalars: [png], heatmaps: [png], layers: {panel index: png}}, in the page's order."""
    logs, labels = [run.log for run in runs], [run.label for run in runs]
    out: dict = {"scalars": [png(plot_scalars(logs, labels=labels))], "heatmaps": [], "layers": {}}
    for quantity in ("data", "diff"):
        try:
            out["heatmaps"].append(png(plot_heatmap(logs, quantity, labels=labels)))
        except UsageError:  # no such values in some log: the JS page leaves that panel out too
            continue
    for k, name in enumerate(layer_order(runs)):
        having = [i for i, log in enumerate(logs) if (log.blobs["layer"] == name).any()]
        sel = Selection([glob.escape(name)], phase=None)
        try:
            out["layers"][k] = png(plot_series([logs[i] for i in having], sel, labels=[labels[i] for i in having]))
        except UsageError:
            out["layers"][k] = None
    return out
