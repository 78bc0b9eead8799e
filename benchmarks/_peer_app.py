"""The benchmark's peer: a bare ASGI app that answers with bytes fetched before from healthgap.

``HEALTHGAP_PEER_BODIES`` names a JSON file ``{"<path>?<query>": [<base64 body>, <content type>,
<content encoding or "">]}``; a request for one of those URLs gets exactly those bytes, anything
else 404. No routing, validation, caching or rendering: what is left is uvicorn (httptools,
uvloop, the same worker count) and the socket, the floor any Python API server stands on.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

_BODIES: dict[bytes, tuple[bytes, list[tuple[bytes, bytes]]]] = {}


def _load() -> None:
    with open(os.environ["HEALTHGAP_PEER_BODIES"], encoding="utf-8") as f:
        raw = json.load(f)
    for url, (body, ctype, encoding) in raw.items():
        data = base64.b64decode(body)
        headers = [(b"content-type", ctype.encode()),
                   (b"content-length", str(len(data)).encode())]
        if encoding:
            headers.append((b"content-encoding", encoding.encode()))
        _BODIES[url.encode()] = (data, headers)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer a GET with its stored bytes."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _load()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    url = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
    hit = _BODIES.get(url)
    if hit is None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": hit[1]})
    await send({"type": "http.response.body", "body": hit[0]})
