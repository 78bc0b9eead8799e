"""Rendered bodies: conditional requests, the response cache, and single-flight rendering.

A body is identified by its strong ETag (the store file's SHA-256, the resource and its
normalised parameters; never the Host header). `respond` answers ``If-None-Match`` with a 304
carrying the same ``ETag``, ``Cache-Control`` and ``Vary`` as the 200; a cached body is sent as
it is; otherwise one render per distinct body runs at a time in a worker thread (the others
await it), behind a per-process limiter so rendering never crowds the event loop out.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import Request, Response
from healthgap.services.api.catalog import ResponseCache
from healthgap.services.api.paging import (
    GZIP_LEVEL,
    GZIP_MINIMUM,
    accepts_gzip,
    not_modified,
    quoted,
)
from starlette.concurrency import run_in_threadpool

#: Cache-Control of a rendered body (the ETag makes revalidation cheap).
CACHE_CONTROL = "public, max-age=60"
VARY = "Accept-Encoding"

Rendered = tuple[bytes, dict[str, str]]
Encoded = tuple[bytes, bool, dict[str, str]]


class Renderer:
    """Single-flight rendering in worker threads, at most ``concurrency`` at a time.

    Parameters
    ----------
    cache
        Where finished bodies are kept.
    concurrency
        Renders running at once in this process (each holds the GIL while it works).
    """

    def __init__(self, cache: ResponseCache, *, concurrency: int = 1) -> None:
        self.cache = cache
        self._limiter: anyio.CapacityLimiter | None = None
        self._concurrency = int(concurrency)
        self._inflight: dict[Any, asyncio.Future[Encoded]] = {}

    def _limit(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # made on the event loop that uses it
            self._limiter = anyio.CapacityLimiter(self._concurrency)
        return self._limiter

    async def body(self, key: Any, render: Callable[[], Rendered], *, gzip_ok: bool) -> Encoded:
        """Return ``(body, gzipped, headers)`` for ``key``, rendering it once if needed."""
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        fut = self._inflight.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._render(key, render, gzip_ok))
            self._inflight[key] = fut
            fut.add_done_callback(lambda _f: self._inflight.pop(key, None))
        return await asyncio.shield(fut)

    async def _render(self, key: Any, render: Callable[[], Rendered], gzip_ok: bool) -> Encoded:
        def work() -> Encoded:
            body, headers = render()
            zipped = gzip_ok and len(body) >= GZIP_MINIMUM
            if zipped:
                body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
            return body, zipped, headers

        out = await run_in_threadpool_limited(work, self._limit())
        self.cache.put(key, *out)
        return out


async def run_in_threadpool_limited(fn: Callable[[], Any], limiter: anyio.CapacityLimiter
                                    ) -> Any:
    """Run ``fn`` in a worker thread under ``limiter``."""
    return await anyio.to_thread.run_sync(fn, limiter=limiter)


def headers_for(tag: str, *, gzipped: bool, extra: dict[str, str]) -> dict[str, str]:
    """Return the caching headers shared by a 200 and its 304."""
    out = {**extra, "ETag": quoted(tag, gzip=gzipped), "Cache-Control": CACHE_CONTROL,
           "Vary": VARY}
    if gzipped:
        out["Content-Encoding"] = "gzip"
    return out


def conditional(request: Request, tag: str, extra: dict[str, str]) -> Response | None:
    """Return a 304 (same caching headers as the 200) if ``If-None-Match`` names ``tag``."""
    match = not_modified(request, tag)
    if match is None:
        return None
    headers = {k: v for k, v in extra.items() if k.lower() != "link"}
    headers.update({"ETag": match, "Cache-Control": CACHE_CONTROL, "Vary": VARY})
    return Response(status_code=304, headers=headers)


async def respond(request: Request, renderer: Renderer, tag: str, render: Callable[[], Rendered],
                  *, media_type: str, extra: dict[str, str] | None = None) -> Response:
    """Answer a GET for a rendered body: 304, a cached body, or one rendered once."""
    extra = extra or {}
    if (r := conditional(request, tag, extra)) is not None:
        return r
    gzip_ok = accepts_gzip(request)
    body, zipped, kept = await renderer.body((tag, gzip_ok), render, gzip_ok=gzip_ok)
    return Response(content=body, media_type=media_type,
                    headers=headers_for(tag, gzipped=zipped, extra={**extra, **kept}))


async def in_thread(fn: Callable[[], Any]) -> Any:
    """Run a blocking call (a first read of a store) in the threadpool."""
    return await run_in_threadpool(fn)
