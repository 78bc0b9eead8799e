"""How ``healthgap serve`` runs uvicorn: a header deadline, workers that die with the server, logs.

* `HeaderTimeoutProtocol` is uvicorn's httptools protocol with a deadline on the request line
  and headers: a client that has not sent them all within ``read_timeout_s`` (from the
  ``HEALTHGAP_READ_TIMEOUT_S`` setting) gets ``408`` and the connection is closed, so trickling
  sockets cannot hold the server. (The body has its own deadline in `app.RequestGuard`.)
* `die_with_parent` makes a server worker process (``--workers N``) receive SIGTERM when the
  process that started it dies, even by SIGKILL, so no worker outlives the server and keeps
  its port.
* `log_config` is the logging configuration each process applies (the access log included),
  however many workers there are.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from functools import lru_cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

#: Import path uvicorn is given (``http=``), so spawned workers load it too.
PROTOCOL = "healthgap.services.api.server:HeaderTimeoutProtocol"


@lru_cache(maxsize=1)
def header_timeout_s() -> float:
    """Return the header deadline of this process (the service's ``read_timeout_s``)."""
    from healthgap.services.settings import Settings

    return float(Settings().read_timeout_s)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's line and headers."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept a connection and start the clock for its first request's headers."""
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(header_timeout_s(), self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        """Feed the parser; bytes of a new request on a kept-alive connection start the clock."""
        if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        """Stop the clock: the headers arrived in time."""
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the clock of a closed connection."""
        self._disarm()
        super().connection_lost(exc)

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        msg = (f"the request line and headers did not arrive within "
               f"{header_timeout_s():g} s").encode()
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; "
                             b"charset=utf-8\r\nconnection: close\r\ncontent-length: " +
                             str(len(msg)).encode() + b"\r\n\r\n" + msg)
        self.transport.close()


def die_with_parent() -> None:
    """In a spawned server worker, ask Linux for SIGTERM when its parent process dies.

    Does nothing in the main process (its parent is a shell or a supervisor) or off Linux. If
    the parent is already gone (it died before the request was made), stop now.
    """
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return
    if os.getppid() != parent.pid:
        os.kill(os.getpid(), signal.SIGTERM)


def log_config(level: str) -> dict[str, Any]:
    """Return the logging configuration every server process applies (access log included).

    The access log is written at INFO, so a ``level`` of WARNING or above silences it.
    """
    fmt = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
    access = '%(asctime)s [%(process)d] %(client_addr)s "%(request_line)s" %(status_code)s'
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"default": {"format": fmt},
                       "access": {"()": "uvicorn.logging.AccessFormatter", "fmt": access,
                                  "use_colors": False}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default",
                                 "stream": "ext://sys.stderr"},
                     "access": {"class": "logging.StreamHandler", "formatter": "access",
                                "stream": "ext://sys.stderr"}},
        "loggers": {"uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
                    "uvicorn.error": {"level": level},
                    "uvicorn.access": {"handlers": ["access"], "level": level,
                                       "propagate": False},
                    "healthgap": {"handlers": ["default"], "level": level,
                                  "propagate": False}},
    }
