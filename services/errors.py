"""The one table that maps exception types to HTTP statuses, and the problem+json handlers.

Every error response is ``application/problem+json`` (RFC 9457) with ``type``, ``title``,
``status``, ``detail`` and ``instance`` members, plus ``request_id`` (the correlation id also sent
as the ``X-Request-ID`` header). A 4xx says what was wrong and what is allowed; a 5xx never
shows internals (no traceback, no file path): its detail is generic and the exception is logged
on the server under the same correlation id.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from healthgap.errors import (
    CRSError,
    HealthgapError,
    InputError,
    JoinError,
    ParameterError,
    StoreUnreadableError,
    UnknownAreaError,
    UnknownLayerError,
)

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
REQUEST_ID_HEADER = "X-Request-ID"
#: Paths of the OGC API - Features endpoints, whose invalid parameters get 400.
OGC_PREFIXES = ("/collections", "/conformance", "/tileMatrixSets")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class UnknownRunError(HealthgapError, LookupError):
    """A run id that the job runner does not know (never submitted, or forgotten)."""


class UnknownPageError(HealthgapError, LookupError):
    """A map page that is not in the build's atlas."""


class PayloadTooLargeError(HealthgapError, ValueError):
    """A request body larger than the service accepts."""


class BusyError(HealthgapError, RuntimeError):
    """The job queue is full; the client should retry later."""


class ClientBusyError(BusyError):
    """One client has as many runs queued or running as it may have."""


class BadRequestError(ParameterError):
    """An invalid parameter of an OGC API - Features request (the standard asks for 400)."""


class MalformedBodyError(HealthgapError, ValueError):
    """A request body that is not valid JSON."""


@dataclass(frozen=True)
class Problem:
    """How one exception type is answered."""

    status: int
    slug: str
    title: str

    @property
    def type(self) -> str:
        """The problem type URI."""
        return f"urn:healthgap:problem:{self.slug}"


#: Exception type -> answer. The most specific class in an exception's MRO wins.
PROBLEMS: dict[type[BaseException], Problem] = {
    UnknownAreaError: Problem(404, "unknown-area", "Unknown area"),
    UnknownLayerError: Problem(404, "unknown-layer", "Unknown layer or indicator"),
    UnknownRunError: Problem(404, "unknown-run", "Unknown run"),
    UnknownPageError: Problem(404, "unknown-page", "Unknown map page"),
    CRSError: Problem(422, "invalid-crs", "Invalid coordinate reference system"),
    ParameterError: Problem(422, "invalid-parameter", "Invalid parameter"),
    InputError: Problem(422, "invalid-input", "Input not usable"),
    JoinError: Problem(422, "join-failed", "Join lost too many rows"),
    PayloadTooLargeError: Problem(413, "payload-too-large", "Request body too large"),
    BusyError: Problem(503, "busy", "Service busy"),
    StoreUnreadableError: Problem(503, "build-unreadable", "Build unreadable"),
    ClientBusyError: Problem(429, "too-many-runs", "Too many runs for this client"),
    MalformedBodyError: Problem(400, "malformed-body", "Body is not valid JSON"),
    BadRequestError: Problem(400, "invalid-parameter", "Invalid parameter"),
    RequestValidationError: Problem(422, "invalid-request", "Invalid request"),
}

_INTERNAL = Problem(500, "internal-error", "Internal server error")


def problem_for(exc: BaseException) -> Problem:
    """Return the `Problem` of an exception: its most specific mapped class, else a 500."""
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return _INTERNAL


def request_id(request: Request) -> str:
    """Return the request's correlation id (set by the middleware, else a new one)."""
    rid = getattr(request.state, "request_id", None)
    if not rid:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.state.request_id = rid
    return str(rid)


_ABSOLUTE = re.compile(r"(?<![\w.:/~])/(?:[^\s'\"`,;:()<>\[\]{}]+)")


def redact_paths(text: str) -> str:
    """Return ``text`` with every absolute path of this machine cut to its last part.

    A message written for the command line names files in full (``/srv/builds/E54000034/
    healthgap.gpkg: ...``); a client of the API is told only ``healthgap.gpkg: ...``. Only
    paths that exist here (or whose folder does) are cut, so URL paths such as
    ``/collections/E54000034_lsoa`` stay as they are.
    """
    def cut(m: re.Match[str]) -> str:
        path = m.group(0).rstrip(".")
        tail = m.group(0)[len(path):]
        if len(path) > 1 and (os.path.exists(path) or os.path.isdir(os.path.dirname(path))
                              and os.path.dirname(path) != "/"):
            return (os.path.basename(path.rstrip("/")) or "…") + tail
        return m.group(0)

    return _ABSOLUTE.sub(cut, text) if "/" in text else text


def problem_response(request: Request, status: int, title: str, detail: str, *,
                     type_: str = "about:blank", headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    """Build an ``application/problem+json`` response for ``request``."""
    rid = request_id(request)
    body: dict[str, Any] = {"type": type_, "title": title, "status": status,
                            "detail": redact_paths(detail),
                            "instance": request.url.path, "request_id": rid, **extra}
    out_headers = {REQUEST_ID_HEADER: rid, **(headers or {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=out_headers)


def _internal(request: Request, exc: BaseException) -> JSONResponse:
    rid = request_id(request)
    logger.error("request %s %s failed [request_id=%s]", request.method, request.url.path, rid,
                 exc_info=(type(exc), exc, exc.__traceback__))
    return problem_response(request, 500, _INTERNAL.title,
                            f"The server could not complete the request. Quote request id {rid} "
                            "when reporting it.", type_=_INTERNAL.type)


async def healthgap_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer a healthgap error with its mapped status and its own message."""
    p = problem_for(exc)
    if p.status >= 500 and p is _INTERNAL:
        return _internal(request, exc)
    headers = {"Retry-After": "5"} if p.status in (429, 503) else None
    detail = str(exc)
    if isinstance(exc, StoreUnreadableError):  # a 5xx names no file: the reason is logged
        logger.error("build unreadable [request_id=%s]: %s", request_id(request), exc)
        detail = ("the build of this area cannot be read (it is damaged, or being replaced); "
                  "rebuild it with `healthgap build`, or retry shortly")
    return problem_response(request, p.status, p.title, detail, type_=p.type, headers=headers)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer FastAPI's request validation errors as one readable 422 problem."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for e in exc.errors():
        loc = ".".join(str(part) for part in e.get("loc", ()))
        errors.append({"loc": loc, "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors) or "invalid request"
    p = PROBLEMS[RequestValidationError]
    if any(e["type"] == "json_invalid" for e in errors):
        p = PROBLEMS[MalformedBodyError]
    elif request.url.path.startswith(OGC_PREFIXES):
        p = PROBLEMS[BadRequestError]
    return problem_response(request, p.status, p.title, detail, type_=p.type, errors=errors)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer Starlette/FastAPI HTTP exceptions (unknown route, wrong method...) as problems."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status >= 500:
        return _internal(request, exc)
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    headers = dict(exc.headers or {})
    if status == 404 and detail == "Not Found":
        detail = f"no endpoint at {request.url.path}; see /docs for the endpoints"
    if status == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
    return problem_response(request, status, phrase, detail, headers=headers)


def _leaf_routes(routes: list[Any]) -> list[Any]:
    """Flatten included routers into their routes.

    Newer FastAPI keeps an included router as one node; the routers here have no prefix.
    """
    out: list[Any] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out += _leaf_routes(list(inner.routes)) if inner is not None else [route]
    return out


def _literal_matches(request: Request) -> list[Any]:
    from starlette.routing import Match

    routes = _leaf_routes(list(getattr(request.app, "routes", [])))
    return [r for r in routes if "{" not in getattr(r, "path", "{")
            and r.matches(dict(request.scope))[0] != Match.NONE]


def shadowed(request: Request) -> bool:
    """Return True if a literal route owns this path but not this method (``/runs/kinds``).

    Without this, ``DELETE /runs/kinds`` would reach ``/runs/{run_id}`` and get a 422.
    """
    from starlette.routing import Match

    literal = _literal_matches(request)
    return bool(literal) and not any(r.matches(dict(request.scope))[0] == Match.FULL
                                     for r in literal)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app fully matches at the request's path (for ``Allow``)."""
    from starlette.routing import Match

    routes = _leaf_routes(list(getattr(request.app, "routes", [])))
    # a literal path (/runs/kinds) shadows a templated one (/runs/{run_id}) at the same place
    literal = _literal_matches(request)
    if literal:
        routes = literal
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(dict(scope))[0] == Match.FULL for route in routes):
            allowed.append(method)
    return allowed


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer any other exception with a generic 500 and log it with the correlation id."""
    return _internal(request, exc)


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(HealthgapError, healthgap_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
