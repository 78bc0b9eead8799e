"""HTML views of the OGC API pages (``f=html`` or a browser's ``Accept: text/html``).

Plain, dependency-free pages, like pygeoapi's: the landing page, the collections, a page of
items as a table (with links to the next page and to the same page as GeoJSON), one feature.
Every text is escaped; links start with the configured public URL, as in the JSON.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Request

HTML = "text/html; charset=utf-8"
_STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:80rem}"
          "table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ccc;"
          "padding:.2rem .4rem;text-align:left}th{background:#eee}nav a{margin-right:1rem}")


def wants_html(request: Request) -> bool:
    """Return True when the client asks for HTML before JSON (a browser), without ``f``."""
    accept = request.headers.get("accept", "")
    if "text/html" not in accept:
        return False
    first = accept.split(",")[0].strip().split(";")[0]
    return first in ("text/html", "application/xhtml+xml")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, *, links: Sequence[tuple[str, str]] = ()) -> bytes:
    """Return a whole HTML page: a title, a navigation bar of ``(href, text)`` and ``body``."""
    nav = "".join(f'<a href="{_e(h)}">{_e(t)}</a>' for h, t in links)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<meta name=viewport content='width=device-width'><style>{_STYLE}</style></head>"
            f"<body><nav>{nav}</nav><h1>{_e(title)}</h1>{body}</body></html>").encode()


def link_list(items: Iterable[tuple[str, str, str]]) -> str:
    """Return ``<ul>`` of ``(href, text, note)``."""
    rows = "".join(f'<li><a href="{_e(h)}">{_e(t)}</a> {_e(n)}</li>' for h, t, n in items)
    return f"<ul>{rows}</ul>"


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
          link_first: Sequence[str] | None = None) -> str:
    """Return a ``<table>``; with ``link_first``, the first cell of row i links there."""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        cells = [f"<td>{_e(v)}</td>" for v in row]
        if link_first is not None and cells:
            cells[0] = f'<td><a href="{_e(link_first[i])}">{_e(row[0])}</a></td>'
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def with_format(url: str, fmt: str) -> str:
    """Return ``url`` with its ``f`` parameter set to ``fmt``."""
    from starlette.datastructures import URL

    return str(URL(url).include_query_params(f=fmt))
