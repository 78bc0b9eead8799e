"""Runs: rerun a model with other parameters, then poll its status, progress and result.

``POST /areas/{area}/runs`` answers at once: ``202`` with the queued or running run, or ``200``
with a finished one; the run id is the SHA-256 of the build's inputs and the parameters, so the
same request always names the same run and a finished run is not computed twice. The work runs
in the job runner's pool, never on the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from fastapi import APIRouter, Body, Request, Response
from fastapi import Path as PathParam
from healthgap.services.api.catalog import Build, LayerCache
from healthgap.services.api.deps import BuildDep, JobsDep, LayersDep, SettingsDep
from healthgap.services.api.schemas import KindPublic, Link, Problem, RunList, RunPublic
from healthgap.services.jobs import KINDS, Job, RunParams, get_kind
from healthgap.services.jobs import run_id as make_run_id
from pydantic import Field

from healthgap.errors import ParameterError

router = APIRouter(tags=["runs"])

_PROBLEM = {"content": {"application/problem+json": {}}, "model": Problem}
RUN_ID_PATTERN = r"^[0-9a-f]{32}$"
_NUMERIC = ("int", "uint", "float")


def _request_model() -> Any:
    models = tuple(k.params for k in KINDS.values())
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007


RunRequest = _request_model()


def _public(request: Request, job: Job) -> RunPublic:
    data = job.public()
    links = [Link(href=str(request.url_for("get_run", run_id=job.id)), rel="self"),
             Link(href=str(request.url_for("get_area", area=job.area)), rel="area")]
    return RunPublic(**data, links=links)


def _check_columns(build: Build, layers: LayerCache, params: RunParams) -> None:
    for layer, columns in params.requires().items():
        info = layers.layer(build, layer)
        numeric = {f for f, t in info.fields if t.startswith(_NUMERIC)}
        missing = [c for c in columns if c not in numeric]
        if missing:
            raise ParameterError(f"{', '.join(repr(c) for c in missing)}: not numeric columns "
                                 f"of layer {layer!r} in build {build.code}; allowed: "
                                 f"{', '.join(sorted(numeric))}")


@router.get("/runs/kinds", response_model=list[KindPublic], summary="The kinds of model run")
def list_kinds() -> list[KindPublic]:
    """List the kinds of run the service can do, with the JSON Schema of their parameters."""
    return [KindPublic(name=k.name, description=k.description,
                       parameters=k.params.model_json_schema())
            for _, k in sorted(KINDS.items())]


@router.post("/areas/{area}/runs", response_model=RunPublic, status_code=202,
             summary="Rerun a model with these parameters",
             responses={200: {"model": RunPublic, "description": "The run already finished"},
                        202: {"model": RunPublic, "description": "Queued or running"},
                        404: {**_PROBLEM, "description": "Unknown area or layer"},
                        413: {**_PROBLEM, "description": "Body too large"},
                        422: {**_PROBLEM, "description": "Invalid parameters"},
                        503: {**_PROBLEM, "description": "Too many runs queued; retry"}})
def submit_run(request: Request, response: Response, build: BuildDep, layers: LayersDep,
               jobs: JobsDep, settings: SettingsDep,
               body: Annotated[RunRequest, Body(description="The kind of run and its "  # type: ignore[valid-type]
                                                "parameters.")]) -> RunPublic:
    """Queue a run (or find the same run already queued or done) and return it at once.

    Poll the ``self`` link (``GET /runs/{run_id}``) for its status, progress and result.
    """
    params: RunParams = body
    get_kind(params.kind)
    params.check_limits(max_permutations=settings.max_permutations,
                        max_repetitions=settings.max_repetitions)
    _check_columns(build, layers, params)
    values = params.model_dump(mode="json")
    rid = make_run_id(params.kind, values, area=build.code, inputs=build.inputs_sha256(),
                 build_parameters=dict(build.manifest.get("parameters") or {}),
                 version=str(build.manifest.get("healthgap_version", "")))
    job = jobs.submit(params.kind, values, job_id=rid, area=build.code,
                      store_path=build.store.path)
    response.status_code = 200 if job.done else 202
    response.headers["Location"] = str(request.url_for("get_run", run_id=job.id))
    return _public(request, job)


@router.get("/areas/{area}/runs", response_model=RunList, summary="Runs of a build",
            responses={404: {**_PROBLEM, "description": "Unknown area"}})
def list_runs(request: Request, build: BuildDep, jobs: JobsDep) -> RunList:
    """List the runs of this build the server remembers, newest first (results left out)."""
    items = []
    for job in jobs.jobs(area=build.code):
        pub = _public(request, job)
        pub.result = None
        items.append(pub)
    return RunList(items=items)


@router.get("/runs/{run_id}", response_model=RunPublic, name="get_run",
            summary="A run's status, progress and result",
            responses={404: {**_PROBLEM, "description": "Unknown run"}})
def get_run(request: Request, jobs: JobsDep,
            run_id: Annotated[str, PathParam(pattern=RUN_ID_PATTERN, max_length=32,
                                             description="The id POST returned.")]
            ) -> RunPublic:
    """Return a run; ``result`` is set once ``status`` is ``succeeded``."""
    return _public(request, jobs.get(run_id))
