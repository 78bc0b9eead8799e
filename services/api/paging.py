"""Paging links and entity tags shared by the routers."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Request
from healthgap.services.api.schemas import Link

from healthgap.errors import ParameterError

#: Bodies at least this long are gzipped (when the client accepts gzip); see app.py.
GZIP_MINIMUM = 1000
#: zlib level of the middleware and of the cached GeoJSON/CSV bodies.
GZIP_LEVEL = 5


#: The largest ``limit`` the schema allows; the service clamps it to its own page size.
LIMIT_MAX = 10_000


def page_slice(offset: int, limit: int | None, *, default: int, most: int) -> tuple[int, int]:
    """Return ``(start, stop)`` of a page; a ``limit`` above ``most`` is clamped to ``most``.

    OGC API - Features asks servers to clamp rather than refuse; the ``next`` link then says
    how to go on.
    """
    if limit is None:
        limit = default
    if isinstance(limit, bool) or limit < 1:
        raise ParameterError(f"limit={limit!r}: a whole number from 1 to {LIMIT_MAX}")
    return offset, offset + min(limit, most)


def _with_query(request: Request, **params: int) -> str:
    url = request.url.include_query_params(**params)
    base: str = request.app.state.services.settings.public_url
    return base + url.path + (f"?{url.query}" if url.query else "")


def page_links(request: Request, start: int, stop: int, total: int, *,
               media_type: str | None = None) -> tuple[list[Link], str]:
    """Return the ``self``/``next``/``prev`` links of a page and the matching Link header."""
    size = stop - start
    base: str = request.app.state.services.settings.public_url
    query = request.url.query
    links = [Link(href=base + request.url.path + (f"?{query}" if query else ""), rel="self",
                  type=media_type)]
    if stop < total:
        links.append(Link(href=_with_query(request, offset=stop, limit=size), rel="next",
                          type=media_type))
    if start > 0:
        prev = max(0, start - size)
        links.append(Link(href=_with_query(request, offset=prev, limit=size), rel="prev",
                          type=media_type))
    header = ", ".join(f'<{lk.href}>; rel="{lk.rel}"' for lk in links if lk.rel != "self")
    return links, header


def etag_for(digest: str, what: str, params: dict[str, Any]) -> str:
    """Return a strong entity tag from the store file's SHA-256, the resource and its parameters."""
    text = json.dumps({"store": digest, "what": what, "params": params}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def accepts_gzip(request: Request) -> bool:
    """Return True when the response will be gzipped by the middleware (if long enough)."""
    return "gzip" in request.headers.get("accept-encoding", "")


def quoted(tag: str, *, gzip: bool) -> str:
    """Return the ETag header value of one representation (a gzip body has its own tag)."""
    return f'"{tag}-gzip"' if gzip else f'"{tag}"'


def not_modified(request: Request, tag: str) -> str | None:
    """Return the matching ETag if ``If-None-Match`` names this resource's current state."""
    header = request.headers.get("if-none-match")
    if not header:
        return None
    candidates = {quoted(tag, gzip=False), quoted(tag, gzip=True)}
    for item in header.split(","):
        item = item.strip()
        if item == "*":
            return quoted(tag, gzip=accepts_gzip(request))
        if item.startswith("W/"):
            item = item[2:]
        if item in candidates:
            return item
    return None
