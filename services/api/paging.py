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


def page_slice(offset: int, limit: int | None, *, default: int, most: int) -> tuple[int, int]:
    """Return ``(start, stop)`` of a page, refusing a limit above ``most``."""
    if limit is None:
        limit = min(default, most)
    if limit > most:
        raise ParameterError(f"limit={limit}: at most {most} items per page; follow the "
                             "'next' links for more")
    return offset, offset + limit


def page_links(request: Request, start: int, stop: int, total: int, *,
               media_type: str | None = None) -> tuple[list[Link], str]:
    """Return the ``self``/``next``/``prev`` links of a page and the matching Link header."""
    size = stop - start
    links = [Link(href=str(request.url), rel="self", type=media_type)]
    if stop < total:
        links.append(Link(href=str(request.url.include_query_params(offset=stop, limit=size)),
                          rel="next", type=media_type))
    if start > 0:
        prev = max(0, start - size)
        links.append(Link(href=str(request.url.include_query_params(offset=prev, limit=size)),
                          rel="prev", type=media_type))
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
