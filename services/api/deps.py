"""Dependencies, each with an ``Annotated`` alias that routers declare.

The cached settings (tests override `get_settings`), the catalog of builds, the layer cache and
the job runner.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Path, Request
from healthgap.services.api.catalog import (
    CODE_PATTERN,
    LAYER_PATTERN,
    Build,
    Catalog,
    LayerCache,
    ResponseCache,
)
from healthgap.services.jobs import JobRunner
from healthgap.services.settings import Settings


@dataclass
class ServiceState:
    """What the app keeps between requests: catalogs, the layer cache, the job runner."""

    catalogs: dict[tuple[str, float], Catalog] = field(default_factory=dict)
    layers: LayerCache | None = None
    responses: ResponseCache | None = None
    jobs: JobRunner | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def service_state(request: Request) -> ServiceState:
    """Return the app's `ServiceState` (created by `services.api.app.create_app`)."""
    return request.app.state.services  # type: ignore[no-any-return]


@lru_cache
def get_settings() -> Settings:
    """Return the service settings, read once from the environment (``HEALTHGAP_*``)."""
    return Settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[ServiceState, Depends(service_state)]


def get_catalog(state: StateDep, settings: SettingsDep) -> Catalog:
    """Return the catalog of builds for the current settings (one per store root)."""
    key = (str(settings.store_root.resolve()), settings.rescan_seconds)
    with state.lock:
        if key not in state.catalogs:
            state.catalogs[key] = Catalog(settings.store_root,
                                          rescan_seconds=settings.rescan_seconds)
        return state.catalogs[key]


def get_layers(state: StateDep, settings: SettingsDep) -> LayerCache:
    """Return the app's layer cache."""
    with state.lock:
        if state.layers is None:
            state.layers = LayerCache(settings.cache_layers)
        return state.layers


def get_responses(state: StateDep, settings: SettingsDep) -> ResponseCache:
    """Return the app's cache of rendered bodies."""
    with state.lock:
        if state.responses is None:
            state.responses = ResponseCache(int(settings.response_cache_mb * 1024 * 1024))
        return state.responses


def get_jobs(state: StateDep, settings: SettingsDep) -> JobRunner:
    """Return the app's job runner (started on first use, stopped with the app)."""
    with state.lock:
        if state.jobs is None:
            state.jobs = JobRunner(executor=settings.job_executor, workers=settings.job_workers,
                                   cache_size=settings.job_cache_size,
                                   max_pending=max(4, 16 * settings.job_workers))
        return state.jobs


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
LayersDep = Annotated[LayerCache, Depends(get_layers)]
JobsDep = Annotated[JobRunner, Depends(get_jobs)]
ResponsesDep = Annotated[ResponseCache, Depends(get_responses)]

AreaPath = Annotated[str, Path(description="Area code of a served build (an ICB such as "
                               "E54000034, or the code the build was made for).",
                               pattern=CODE_PATTERN, max_length=9,
                               examples=["E54000034"])]
LayerPath = Annotated[str, Path(description="Layer name, as listed by /areas/{area}/layers.",
                                pattern=LAYER_PATTERN, max_length=63, examples=["lsoa"])]


def get_build(area: AreaPath, catalog: CatalogDep) -> Build:
    """Return the build served under ``area`` (404 naming the served codes otherwise)."""
    return catalog.get(area)


BuildDep = Annotated[Build, Depends(get_build)]
