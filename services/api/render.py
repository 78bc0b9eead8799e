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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from cachetools import LRUCache
from fastapi import Request, Response
from healthgap.services.api.catalog import Build, FileVersion, ResponseCache
from healthgap.services.api.paging import (
    GZIP_LEVEL,
    GZIP_MINIMUM,
    accepts_gzip,
    not_modified,
    quoted,
)
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

#: Cache-Control of a rendered body (the ETag makes revalidation cheap).
CACHE_CONTROL = "public, max-age=60"
VARY = "Accept-Encoding"

Rendered = tuple[bytes, dict[str, str]]
Encoded = tuple[bytes, bool, dict[str, str]]


@dataclass(frozen=True)
class HotEntry:
    """A GET that was answered with a cached body, and what keeps that answer valid."""

    tag: str
    gzip_ok: bool
    media_type: str
    headers: dict[str, str]
    store: Path
    version: FileVersion


class HotMap:
    """Requests answered from the response cache: ``(path, query, gzip) -> HotEntry``."""

    def __init__(self, size: int = 4096) -> None:
        self.entries: LRUCache[tuple[str, bytes, bool], HotEntry] = LRUCache(maxsize=size)

    def remember(self, request: Request, entry: HotEntry) -> None:
        """Note that this request's answer is ``entry``."""
        self.entries[(request.url.path, request.scope.get("query_string", b""),
                      entry.gzip_ok)] = entry


class FastLane:
    """Answer repeated GETs of cached bodies before FastAPI's routing and dependencies run.

    A request whose exact path and query (and gzip acceptance) were answered before from the
    response cache is answered again from it, as long as the build's store file is unchanged
    (one ``stat``); anything else goes on to the application. Nothing is ever served here that
    the application did not serve (and validate) first. The map and the cache are the app's
    (``app.state.fast_lane``, ``app.state.services.responses``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        app = scope.get("app")
        hot: HotMap | None = getattr(getattr(app, "state", None), "fast_lane", None)
        if scope["type"] != "http" or scope.get("method") != "GET" or hot is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        gzip_ok = accepts_gzip(request)
        key = (scope["path"], scope.get("query_string", b""), gzip_ok)
        entry = hot.entries.get(key)
        if entry is not None:
            try:
                fresh = FileVersion.of(entry.store) == entry.version
            except OSError:
                fresh = False
            cache: ResponseCache = app.state.services.responses  # type: ignore[union-attr]
            hit = cache.get((entry.tag, gzip_ok)) if fresh else None
            if hit is None:
                hot.entries.pop(key, None)
            else:
                response = conditional(request, entry.tag, entry.headers)
                if response is None:
                    body, zipped, kept = hit
                    response = Response(content=body, media_type=entry.media_type,
                                        headers=headers_for(entry.tag, gzipped=zipped,
                                                            extra={**entry.headers, **kept}))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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

    async def body(self, key: Any, render: Callable[[], Rendered], *, gzip_ok: bool,
                   inline: bool = False) -> Encoded:
        """Return ``(body, gzipped, headers)`` for ``key``, rendering it once if needed.

        ``inline`` renders on the event loop itself, for work known to be small (a page of a
        few hundred features picked from an index): a worker thread would cost more than the
        work, since each time the render releases the GIL (numpy, GEOS, zlib) it waits for the
        busy event loop to hand it back (up to the interpreter's switch interval, 5 ms).
        """
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if inline:
            out = _encode(render, gzip_ok)
            self.cache.put(key, *out)
            return out
        fut = self._inflight.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._render(key, render, gzip_ok))
            self._inflight[key] = fut
            fut.add_done_callback(lambda _f: self._inflight.pop(key, None))
        return await asyncio.shield(fut)

    async def _render(self, key: Any, render: Callable[[], Rendered], gzip_ok: bool) -> Encoded:
        out = await run_in_threadpool_limited(lambda: _encode(render, gzip_ok), self._limit())
        self.cache.put(key, *out)
        return out


def _encode(render: Callable[[], Rendered], gzip_ok: bool) -> Encoded:
    """Render a body and gzip it when the client accepts gzip and it is long enough."""
    body, headers = render()
    zipped = gzip_ok and len(body) >= GZIP_MINIMUM
    if zipped:
        body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    return body, zipped, headers


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
                  *, media_type: str, extra: dict[str, str] | None = None,
                  build: Build | None = None, inline: bool = False) -> Response:
    """Answer a GET for a rendered body: 304, a cached body, or one rendered once.

    With ``build``, the answer is remembered by the app's `FastLane` (if it has one);
    ``inline`` renders small work on the event loop (see `Renderer.body`).
    """
    extra = extra or {}
    gzip_ok = accepts_gzip(request)
    lane: HotMap | None = getattr(request.app.state, "fast_lane", None)
    if lane is not None and build is not None:
        lane.remember(request, HotEntry(tag=tag, gzip_ok=gzip_ok, media_type=media_type,
                                        headers=extra, store=build.store.path,
                                        version=build.version))
    if (r := conditional(request, tag, extra)) is not None:
        return r
    body, zipped, kept = await renderer.body((tag, gzip_ok), render, gzip_ok=gzip_ok,
                                             inline=inline)
    return Response(content=body, media_type=media_type,
                    headers=headers_for(tag, gzipped=zipped, extra={**extra, **kept}))


async def in_thread(fn: Callable[[], Any]) -> Any:
    """Run a blocking call (a first read of a store) in the threadpool."""
    return await run_in_threadpool(fn)
