"""The report as one HTML file: the template filled with the page's content, every script, style
and number inlined, so it opens offline and fetches nothing (its Content-Security-Policy says so
to the browser too).

Names from the log are data: the template autoescapes them, and the JSON block escapes `<`, `>`
and `&`, so a layer called `</script><script>alert(1)</script>` stays text.
"""
from __future__ import annotations

import json
from importlib.resources import files

from caffelog.pages.content import Run, page

HERE = files("caffelog.pages")


def _asset(*parts: str) -> str:
    return HERE.joinpath(*parts).read_text(encoding="utf-8")


def script_json(value) -> str:
    """JSON that is safe inside <script>: no `</script>`, no `<!--`, no HTML entity can form."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _environment():
    import jinja2
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: _asset("templates", name)),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(runs: list[Run], static_images: dict | None = None, evidence: bool = True) -> str:
    """The page's HTML. static_images (from static.py): PNGs instead of charts, and no script."""
    content = page(runs, evidence)
    charts = {"layers": content.pop("layers"), "scalars": content.pop("scalars"),
              "heatmaps": content.pop("heatmaps")}
    template = _environment().get_template("report.html.j2")
    return template.render(
        page=content,
        panels=[{k: v for k, v in panel.items() if k != "chart"} for panel in charts["layers"]],
        scalar_titles=[c["title"] for c in charts["scalars"]],
        heatmaps=[{k: hm[k] for k in ("label", "quantity", "bin_width", "rows", "cols")} for hm in charts["heatmaps"]],
        static=static_images,
        data_json=None if static_images is not None else script_json(charts),
        style=_asset("vendor", "uPlot.min.css") + _asset("templates", "report.css"),
        scripts=[] if static_images is not None else [_asset("vendor", "uPlot.iife.min.js"),
                                                      _asset("templates", "report.js")],
    )
