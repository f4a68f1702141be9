"""The report as one HTML file: the template filled with the page's content, every script, style
and number inlined, so it opens offline and fetches nothing (its Content-Security-Policy says so
to the browser too).

Names from the log are data: the template autoescapes them, and the JSON block escapes `<`, `>`
and `&`, so a layer called `</script><script>alert(1)</script>` stays text.
"""
from __future__ import annotations

import json
import re
from importlib.resources import files

from caffelog.pages.content import Run, page

HERE = files("caffelog.pages")


def _asset(*parts: str) -> str:
    return HERE.joinpath(*parts).read_text(encoding="utf-8")


def script_json(value) -> str:
    """JSON that is safe inside <script>: no `</script>`, no `<!--`, no HTML entity can form, and
    its names' control characters shown as escapes (the legends and heatmap labels draw them)."""
    text = json.dumps(_visible_strings(value), allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# C0 and C1 controls (an ANSI escape, a bell), DEL, and the bidi overrides (U+202E turns text around)
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """Control characters of a name as escapes one can read (`\\x1b`), never as effects."""
    return CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def _visible_strings(value):
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {key: _visible_strings(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_visible_strings(v) for v in value]
    return value


def _environment():
    import jinja2
    from markupsafe import Markup
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: _asset("templates", name)),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        finalize=lambda value: visible(value) if isinstance(value, str) and not isinstance(value, Markup) else value)


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
