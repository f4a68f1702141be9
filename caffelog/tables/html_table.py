"""A small HTML table with every cell escaped: how tables and findings show in Jupyter."""
from __future__ import annotations

from html import escape


def html_table(header: list[str], rows: list[list], caption: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f'<table class="caffelog">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
