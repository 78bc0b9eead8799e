"""Dependencies, each with an ``Annotated`` alias that routers declare.

The settings, the catalog of builds, the layer and response caches and the job runner all live
on ``app.state`` (made once by `services.api.app.create_app`), so every dependency here is a cheap
``async`` attribute read: no thread hop, no lock, no dependency override per request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
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
from healthgap.services.api.render import Renderer
from healthgap.services.jobs import JobRunner
from healthgap.services.runstore import RunStore
from healthgap.services.settings import Settings
from starlette.concurrency import run_in_threadpool


@dataclass
class ServiceState:
    """What the app keeps between requests: settings, catalog, caches, the job runner."""

    settings: Settings
    catalog: Catalog
    layers: LayerCache
    responses: ResponseCache
    renderer: Renderer
    _jobs: JobRunner | None = None
    _jobs_lock: asyncio.Lock | None = field(default=None, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> ServiceState:
        """Make the state of an app serving ``settings``."""
        responses = ResponseCache(int(settings.response_cache_mb * 1024 * 1024))
        return cls(settings=settings,
                   catalog=Catalog(settings.store_root, rescan_seconds=settings.rescan_seconds),
                   layers=LayerCache(settings.cache_layers), responses=responses,
                   renderer=Renderer(responses))

    def jobs(self) -> JobRunner:
        """Return the job runner (opened on first use; its store is a SQLite file)."""
        if self._jobs is None:
            s = self.settings
            store = RunStore(s.runs_path, max_bytes=int(s.runs_max_mb * 1024 * 1024))
            self._jobs = JobRunner(store, executor=s.job_executor, workers=s.job_workers,
                                   per_client=s.runs_per_client, max_pending=s.runs_pending,
                                   timeout_s=s.run_timeout_s,
                                   max_result_bytes=int(s.run_max_mb * 1024 * 1024))
        return self._jobs

    def close(self) -> None:
        """Stop the job runner (its workers are killed; pending runs marked interrupted)."""
        if self._jobs is not None:
            self._jobs.shutdown()
            self._jobs = None


def service_state(request: Request) -> ServiceState:
    """Return the app's `ServiceState` (created by `services.api.app.create_app`)."""
    return request.app.state.services  # type: ignore[no-any-return]


async def get_state(request: Request) -> ServiceState:
    """Return the app's state (dependency)."""
    return service_state(request)


async def get_settings(request: Request) -> Settings:
    """Return the app's settings (dependency)."""
    return service_state(request).settings


async def get_catalog(request: Request) -> Catalog:
    """Return the catalog of builds (dependency)."""
    return service_state(request).catalog


async def get_layers(request: Request) -> LayerCache:
    """Return the layer cache (dependency)."""
    return service_state(request).layers


async def get_responses(request: Request) -> ResponseCache:
    """Return the cache of rendered bodies (dependency)."""
    return service_state(request).responses


async def get_jobs(request: Request) -> JobRunner:
    """Return the job runner, opened in a worker thread on first use (dependency)."""
    state = service_state(request)
    if state._jobs is None:
        return await run_in_threadpool(state.jobs)
    return state._jobs


SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[ServiceState, Depends(get_state)]
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


async def get_build(area: AreaPath, catalog: CatalogDep) -> Build:
    """Return the build served under ``area`` (404 naming the served codes otherwise).

    A rescan of the store root (at most every ``rescan_seconds``) reads manifests, so it runs
    in a worker thread; a known, unchanged build costs one ``stat``.
    """
    if catalog.stale():
        await run_in_threadpool(catalog.scan)
    return catalog.get(area)


BuildDep = Annotated[Build, Depends(get_build)]


def url_for(request: Request, name: str, /, **params: str) -> str:
    """Return the absolute URL of route ``name`` under the configured ``public_url``.

    The request's Host header is never used: links are the same whoever asks.
    """
    path = request.app.url_path_for(name, **params)
    return service_state(request).settings.public_url + str(path)


def public_url(request: Request) -> str:
    """Return the request's own URL (path and query) under the configured ``public_url``."""
    query = request.url.query
    return (service_state(request).settings.public_url + request.url.path +
            (f"?{query}" if query else ""))
