"""The FastAPI application: `create_app(settings)` wires routers, errors, gzip and limits.

Run it with ``healthgap serve --store DIR``; the OpenAPI documentation is at ``/docs``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from healthgap.services import errors
from healthgap.services.api.deps import ServiceState, service_state
from healthgap.services.api.paging import GZIP_LEVEL, GZIP_MINIMUM
from healthgap.services.api.render import FastLane, HotMap
from healthgap.services.api.routers import areas, layers, maps, ogc, runs, stats, tiles
from healthgap.services.api.routers import report as report_router
from healthgap.services.api.server import die_with_parent
from healthgap.services.errors import PROBLEM_JSON
from healthgap.services.settings import Settings
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Where, and why, life expectancy is unequal between the neighbourhoods of England's Integrated
Care Systems: the layers, statistics, models and maps of each build, and model reruns.

* **Areas**: the served builds (one per ICB or other study area), their places and
  neighbourhoods, and any area with its parents and children.
* **Layers**: each layer's fields (label, units, source) and its features as GeoJSON
  (`application/geo+json`; EPSG:4326 by default, EPSG:27700 on request with a `crs` member),
  with bbox filter, property selection, simplification, paging (`next` links and `Link`
  header) and ETags; or its attribute table as CSV.
* **Maps**: the build's HTML atlas pages.
* **Statistics and models**: the results the build stored.
* **Runs**: rerun a model with other parameters; the run id is a hash of the inputs and the
  parameters, so the same request gives the same run.

* **OGC API - Features**: `/`, `/conformance`, `/collections` and their items: every spatial
  layer of every build as a collection that QGIS, ArcGIS Pro and GDAL open directly.

Errors are `application/problem+json`. Links start with the configured public URL
(`HEALTHGAP_PUBLIC_URL`), never with the request's Host header.
"""


class RequestGuard:
    """Pure ASGI middleware: correlation id, HEAD, OPTIONS, body limit and timeout, last 500.

    * Every response carries ``X-Request-ID`` (the client's, if well formed, else a new one),
      and at most one ``Vary`` header.
    * ``HEAD`` is answered as the ``GET`` would be, without the body.
    * ``OPTIONS`` (that is not a CORS preflight) gets 204 with ``Allow``.
    * A body longer than ``max_body_bytes`` (declared or streamed) gets a 413 problem; a body
      that does not arrive within ``read_timeout_s`` gets 408.
    * An exception that escapes the routes is logged with the correlation id and answered with
      a generic 500 problem (no traceback, no path), unless the response had already started.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, read_timeout_s: float = 15.0,
                 cors: bool = False) -> None:
        self.app = app
        self.max_body_bytes = int(max_body_bytes)
        self.read_timeout_s = float(read_timeout_s)
        self.cors = bool(cors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        rid = errors.request_id(request)
        started = False
        head = scope.get("method") == "HEAD"

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = _fix_headers(message.get("headers", []), rid)
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        method = scope.get("method")
        if method == "OPTIONS" and not (self.cors and "origin" in request.headers):
            await self._options(request, scope, receive, send_with_id)
            return
        if head:
            scope = {**scope, "method": "GET"}
        if method in ("POST", "PUT", "PATCH", "DELETE") and errors.shadowed(request):
            allowed = errors._allowed_methods(request)
            response = errors.problem_response(
                request, 405, "Method Not Allowed", f"{method} is not allowed here; allowed: "
                f"{', '.join(allowed)}", headers={"Allow": ", ".join(allowed)})
            await response(scope, receive, send_with_id)
            return
        if method in ("POST", "PUT", "PATCH"):
            response = None
            try:
                body, too_large = await asyncio.wait_for(self._read_body(request, receive),
                                                         timeout=self.read_timeout_s)
            except TimeoutError:
                response = errors.problem_response(
                    request, 408, "Request timeout", f"the request body did not arrive within "
                    f"{self.read_timeout_s:g} s", type_="urn:healthgap:problem:timeout",
                    headers={"Connection": "close"})
            else:
                if too_large:
                    response = errors.problem_response(
                        request, 413, "Request body too large",
                        f"the request body is larger than {self.max_body_bytes} bytes, the most "
                        "this service accepts", type_="urn:healthgap:problem:payload-too-large")
            if response is not None:
                await response(scope, receive, send_with_id)
                return
            receive = _replay(body)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:
                raise
            response = errors._internal(request, exc)
            await response(scope, receive, send_with_id)

    async def _options(self, request: Request, scope: Scope, receive: Receive,
                       send: Send) -> None:
        allowed = errors._allowed_methods(request)
        if not allowed:
            response: Response = errors.problem_response(
                request, 404, "Not Found", f"no endpoint at {request.url.path}; see /docs")
        else:
            if "GET" in allowed:
                allowed.insert(allowed.index("GET") + 1, "HEAD")
            response = Response(status_code=204, headers={
                "Allow": ", ".join(dict.fromkeys([*allowed, "OPTIONS"]))})
        await response(scope, receive, send)

    async def _read_body(self, request: Request, receive: Receive) -> tuple[bytes, bool]:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return b"", True
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False

def _fix_headers(headers: list[tuple[bytes, bytes]], rid: str) -> list[tuple[bytes, bytes]]:
    """Set the correlation id and merge every ``Vary`` header into one, without repeats."""
    out = []
    vary: list[str] = []
    for k, v in headers:
        name = k.lower()
        if name == b"x-request-id":
            continue
        if name == b"vary":
            vary += [t.strip() for t in v.decode("latin-1").split(",") if t.strip()]
            continue
        out.append((k, v))
    if vary:
        seen = dict.fromkeys(vary, None)
        out.append((b"vary", ", ".join(seen).encode("latin-1")))
    out.append((b"x-request-id", rid.encode()))
    return out


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings
        The service settings; default: read from the ``HEALTHGAP_*`` environment (this is
        what ``healthgap serve --workers N`` uses in each worker process).
    """
    die_with_parent()  # a worker of `healthgap serve --workers N` never outlives the server
    settings = settings or Settings()
    state = ServiceState.create(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(title="healthgap", version=_version(), description=DESCRIPTION,
                  lifespan=lifespan,
                  openapi_tags=[{"name": "ogc", "description": "OGC API - Features."},
                                {"name": "areas", "description": "Builds, places, "
                                 "neighbourhoods."},
                                {"name": "layers", "description": "GeoJSON and CSV."},
                                {"name": "maps", "description": "The HTML atlas."},
                                {"name": "stats", "description": "Statistics and models."},
                                {"name": "runs", "description": "Model reruns."}])
    app.state.services = state
    errors.install(app)
    for module in (ogc, tiles, areas, layers, maps, stats, runs):
        app.include_router(module.router)
    app.include_router(report_router.router)  # the board pack downloads (issue #25)

    @app.get("/health", tags=["areas"], summary="Liveness and the number of served builds")
    async def health(request: Request) -> dict[str, Any]:
        catalog = service_state(request).catalog
        return {"status": "ok", "builds": len(catalog._builds) if not catalog.stale()
                else len(await asyncio.to_thread(catalog.builds))}

    original = app.openapi
    per_build: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document_limits(_document_problems(original()), settings)
        # the collections' own items paths follow the served builds (rebuilt when they change)
        builds = state.catalog.builds()
        key = tuple(sorted((c, b.version) for c, b in builds.items()))
        if per_build.get("key") != key:
            per_build["doc"] = ogc.collection_paths(app.openapi_schema, state.catalog,
                                                    state.layers)
            per_build["key"] = key
        return per_build["doc"]  # type: ignore[no-any-return]

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM, compresslevel=GZIP_LEVEL)
    app.state.fast_lane = HotMap()
    app.add_middleware(FastLane)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes,
                       read_timeout_s=settings.read_timeout_s, cors=bool(settings.cors_origins))
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
                           allow_headers=["Content-Type", "If-None-Match", "X-Request-ID"],
                           expose_headers=["ETag", "Link", "Location", "Content-Crs",
                                           "X-Request-ID", "X-Total-Count", "Retry-After"],
                           max_age=600)
    return app


_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_GENERIC = {400: "Body is not valid JSON", 404: "Unknown area, layer, page or run",
            405: "Method not allowed", 408: "The request body did not arrive in time",
            413: "Request body too large", 422: "Invalid parameter",
            429: "This client has too many runs queued or running; retry later",
            503: "Busy; retry later"}


def _document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the API does on errors.

    Every 4xx/5xx response is ``application/problem+json`` with the `Problem` schema (FastAPI
    documents its own ``HTTPValidationError`` as ``application/json``); every operation with
    parameters documents 422, one with a path parameter 404, and a POST 400, 413 and 503.
    """
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            params = op.get("parameters", [])
            wanted = []
            ogc = str(path).startswith(errors.OGC_PREFIXES)
            if params or "requestBody" in op:
                wanted.append(400 if ogc else 422)
                if ogc:
                    responses.pop("422", None)
            if any(p.get("in") == "path" for p in params):
                wanted.append(404)
            if method == "post":
                wanted += [400, 408, 413, 429, 503]
            for code in wanted:
                responses.setdefault(str(code), {"description": _GENERIC[code]})
            for code, resp in responses.items():
                if code[0] in "45":
                    resp["content"] = dict(_PROBLEM_CONTENT)
                for media in resp.get("content", {}).values():
                    sch = media.get("schema", {})
                    if "$ref" in sch and sch.get("type") == "string":
                        del sch["type"]
    components = schema.get("components", {}).get("schemas", {})
    text = json.dumps(schema.get("paths", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        if name in components and f"/{name}\"" not in text:
            del components[name]
    return schema


def _document_limits(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Write this service's run limits into the run parameter schemas (``maximum``)."""
    limits = {"permutations": settings.max_permutations,
              "repetitions": settings.max_repetitions}
    for model in schema.get("components", {}).get("schemas", {}).values():
        for name, most in limits.items():
            prop = model.get("properties", {}).get(name)
            if isinstance(prop, dict) and prop.get("type") == "integer":
                prop["maximum"] = min(prop.get("maximum", most), most)
                if isinstance(prop.get("default"), int | float):
                    prop["default"] = min(prop["default"], most)
    return schema


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("healthgap")
    except metadata.PackageNotFoundError:
        return "0"
