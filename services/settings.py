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
    job_cache_size
        Finished runs kept in memory (the oldest finished runs are forgotten first).
    max_permutations, max_repetitions
        Upper bounds of the permutation and simulation counts a rerun may ask for.
    cache_layers
        Layer frames kept in memory across requests.
    response_cache_mb
        Rendered GeoJSON/CSV bodies kept in memory, keyed by their strong ETag (0 = none).
    log_level
        Level of the service's log (configured only by the app entry point).
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
    job_cache_size: int = Field(default=256, ge=1)
    max_permutations: int = Field(default=99_999, ge=99)
    max_repetitions: int = Field(default=100_000, ge=1000)
    cache_layers: int = Field(default=32, ge=1)
    response_cache_mb: float = Field(default=128.0, ge=0)
    log_level: str = "INFO"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"log_level={value!r}: allowed DEBUG, INFO, WARNING, ERROR, "
                             "CRITICAL")
        return level
