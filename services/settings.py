"""The service's settings: one pydantic-settings object, read from ``HEALTHGAP_*`` variables.

geo/ never sees this object; services/ reads it through the cached dependency
`services.api.deps.get_settings`, which tests override.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the builds are and how much one request may ask for.

    Every field can be set from the environment with the ``HEALTHGAP_`` prefix, e.g.
    ``HEALTHGAP_STORE_ROOT=out``.

    Attributes
    ----------
    store_root
        A build directory (holding ``healthgap.gpkg``) or a directory of build directories, one
        per area; each build is served under the area code in its manifest.
    rescan_seconds
        Shortest interval between two scans of ``store_root`` for new or rebuilt builds.
    default_page_size, max_page_size
        Features per GeoJSON page when ``limit`` is not given, and the most one page may hold.
    max_table_rows
        Most rows one CSV or statistics response may hold.
    max_simplify_m
        Largest simplification tolerance, in metres.
    max_body_bytes
        Largest request body (POST) accepted; larger bodies get 413.
    job_executor
        ``process`` runs model reruns in worker processes (the server's event loop and its
        interpreter stay free); ``thread`` runs them in threads (lighter; for tests).
    job_workers
        Workers of the job pool.
    max_permutations, max_repetitions
        Upper bounds of the permutation and simulation counts a rerun may ask for.
    cache_layers
        Layer frames kept in memory across requests.
    response_cache_mb
        Rendered GeoJSON/CSV bodies kept in memory, keyed by their strong ETag (0 = none).
    log_level
        Level of the service's log (configured only by the app entry point).
    public_url
        The base URL clients reach the service at (scheme, host, port, any path prefix); every
        link the API writes starts with it. The request's ``Host`` header is never used.
    cors_origins
        Origins allowed to read responses from a browser (CORS); empty (the default) sends no
        CORS headers. ``*`` allows any origin (no credentials).
    read_timeout_s
        A request body (or a request line and headers, for uvicorn's h11/httptools) that does
        not arrive within this many seconds gets 408 and the connection is closed.
    runs_db
        SQLite file that keeps runs and their results across restarts (default:
        ``<store_root>/runs.sqlite``).
    runs_max_mb
        Result bytes kept on disk; the least recently read finished runs are evicted first.
    run_max_mb
        Largest result one run may produce; a larger result fails the run.
    runs_per_client
        Queued or running runs one client (IP address) may have; more get 429.
    runs_pending
        Queued or running runs of all clients together; more get 503.
    run_timeout_s
        Wall-clock limit of one run; a run over it is stopped and fails.
    trusted_proxies
        Addresses (or networks) of reverse proxies whose ``X-Forwarded-For`` and
        ``X-Forwarded-Proto`` are believed; empty (the default): no forwarded header is, so a
        client cannot choose its own address (the per-client run cap is by address).
    access_log
        Write one access-log line per request (every server worker does).
    tile_cache_dir
        Where rendered vector tiles are kept on disk, shared by every server worker (a tile is
        rendered once, not once per worker), keyed by the store file's hash; default: a
        ``healthgap-tiles`` folder in the system's temporary directory. Empty string: none.
    """

    model_config = SettingsConfigDict(env_prefix="HEALTHGAP_", extra="ignore")

    store_root: Path = Path("out")
    rescan_seconds: float = Field(default=5.0, ge=0)
    default_page_size: int = Field(default=500, ge=1)
    max_page_size: int = Field(default=5000, ge=1)
    max_table_rows: int = Field(default=50_000, ge=1)
    max_simplify_m: float = Field(default=5000.0, gt=0)
    max_body_bytes: int = Field(default=16_384, ge=256)
    job_executor: Literal["process", "thread"] = "process"
    job_workers: int = Field(default=1, ge=1, le=32)
    max_permutations: int = Field(default=99_999, ge=99)
    max_repetitions: int = Field(default=100_000, ge=1000)
    cache_layers: int = Field(default=32, ge=1)
    response_cache_mb: float = Field(default=128.0, ge=0)
    log_level: str = "INFO"
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s?#]+$",
                            max_length=400)
    cors_origins: list[str] = Field(default_factory=list)
    read_timeout_s: float = Field(default=15.0, gt=0, le=600)
    runs_db: Path | None = None
    runs_max_mb: float = Field(default=512.0, gt=0)
    run_max_mb: float = Field(default=64.0, gt=0)
    runs_per_client: int = Field(default=4, ge=1, le=1000)
    runs_pending: int = Field(default=64, ge=1, le=10_000)
    run_timeout_s: float = Field(default=900.0, gt=0)
    trusted_proxies: list[str] = Field(default_factory=list)
    access_log: bool = True
    tile_cache_dir: Path | None = None

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def runs_path(self) -> Path:
        """The SQLite file of the runs."""
        return self.runs_db if self.runs_db is not None else self.store_root / "runs.sqlite"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"log_level={value!r}: allowed DEBUG, INFO, WARNING, ERROR, "
                             "CRITICAL")
        return level
