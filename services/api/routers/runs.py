"""Runs: rerun a model with other parameters, then poll its status, progress and result.

``POST /areas/{area}/runs`` answers at once: ``202`` with the queued or running run, or ``200``
with a finished one; the run id is the SHA-256 of the build's inputs and the parameters, so the
same request always names the same run and a finished run is not computed twice. The work runs
in the job runner's worker processes, never on the event loop; runs and results are kept in a
SQLite file, so they survive a restart. ``DELETE /runs/{id}`` cancels a pending run (its worker
is stopped) or forgets a finished one. Each client (IP address) may have a few runs pending
(429 beyond), the service a bounded number (503 beyond).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Union

from fastapi import APIRouter, Body, Request, Response
from fastapi import Path as PathParam
from healthgap.services.api.catalog import Build, LayerCache
from healthgap.services.api.deps import BuildDep, JobsDep, LayersDep, SettingsDep, url_for
from healthgap.services.api.schemas import KindPublic, Link, Problem, RunList, RunPublic
from healthgap.services.errors import redact_paths
from healthgap.services.jobs import KINDS, Job, RunParams, get_kind
from healthgap.services.jobs import run_id as make_run_id
from pydantic import Field

from healthgap.errors import ParameterError, UnknownLayerError

router = APIRouter(tags=["runs"])

_PROBLEM = {"content": {"application/problem+json": {}}, "model": Problem}
RUN_ID_PATTERN = r"^[0-9a-f]{32}$"
RunIdPath = Annotated[str, PathParam(pattern=RUN_ID_PATTERN, max_length=32,
                                     description="The id POST returned.")]
_NUMERIC = ("int", "uint", "float")


def _request_model() -> Any:
    models = tuple(k.params for k in KINDS.values())
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007


RunRequest = _request_model()


def _links(request: Request, job: Job) -> list[Link]:
    return [Link(href=url_for(request, "get_run", run_id=job.id), rel="self"),
            Link(href=url_for(request, "get_area", area=job.area), rel="area")]


def _shown(job: Job, *, with_result: bool) -> dict[str, Any]:
    """Return the run's public members, with no absolute path of this machine in any message."""
    data = job.public(with_result=with_result)
    if isinstance(data.get("message"), str):
        data["message"] = redact_paths(data["message"])
    if isinstance(data.get("error"), dict) and isinstance(data["error"].get("detail"), str):
        data["error"] = {**data["error"], "detail": redact_paths(data["error"]["detail"])}
    return data


def _public(request: Request, job: Job, *, with_result: bool = True) -> RunPublic:
    return RunPublic(**_shown(job, with_result=with_result), links=_links(request, job))


def _run_response(request: Request, job: Job, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """Return a run as JSON with its stored result bytes spliced in (never re-parsed)."""
    data = _shown(job, with_result=False)
    data["links"] = [lk.model_dump(exclude_none=True) for lk in _links(request, job)]
    data.pop("result")
    head = json.dumps(data, separators=(",", ":"), allow_nan=False)[:-1].encode()
    result = job.result_json if job.result_json is not None else b"null"
    return Response(head + b',"result":' + result + b"}", status_code=status,
                    media_type="application/json", headers=headers)


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def _check_columns(build: Build, layers: LayerCache, params: RunParams) -> None:
    """Refuse columns the layer lacks (404, like an unknown layer) or that are not numbers (422)."""
    for layer, columns in params.requires().items():
        info = layers.layer(build, layer)
        fields = {f for f, _ in info.fields}
        numeric = {f for f, t in info.fields if t.startswith(_NUMERIC)}
        absent = [c for c in columns if c not in fields]
        if absent:
            raise UnknownLayerError(f"{', '.join(repr(c) for c in absent)}: no such column in "
                                    f"layer {layer!r} of build {build.code}; numeric columns: "
                                    f"{', '.join(sorted(numeric))}")
        wrong = [c for c in columns if c not in numeric]
        if wrong:
            raise ParameterError(f"{', '.join(repr(c) for c in wrong)}: not numeric columns "
                                 f"of layer {layer!r} in build {build.code}; allowed: "
                                 f"{', '.join(sorted(numeric))}")


def _check_scenario(build: Build, params: RunParams) -> None:
    """Check a what-if scenario against the build before it is queued.

    The checks and messages are the CLI's (unknown facility codes, postcodes, locations
    outside the area...), so a bad scenario is refused at once instead of failing later.
    """
    spec = getattr(params, "spec", None)
    if params.kind != "whatif" or spec is None:
        return
    from healthgap.services.whatif import check_routable, check_scenario

    check_scenario(build.directory, spec())
    check_routable(build.store, build.manifest,
                   straight_line=bool(getattr(params, "straight_line", False)))


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
                        429: {**_PROBLEM, "description": "This client has too many runs "
                              "queued or running; retry later"},
                        503: {**_PROBLEM, "description": "Too many runs queued; retry"}})
def submit_run(request: Request, build: BuildDep, layers: LayersDep,
               jobs: JobsDep, settings: SettingsDep,
               body: Annotated[RunRequest, Body(description="The kind of run and its "  # type: ignore[valid-type]
                                                "parameters.")]) -> Response:
    """Queue a run (or find the same run already queued or done) and return it at once.

    Poll the ``self`` link (``GET /runs/{run_id}``) for its status, progress and result.
    """
    params: RunParams = body
    get_kind(params.kind)
    params = params.check_limits(max_permutations=settings.max_permutations,
                                 max_repetitions=settings.max_repetitions)
    _check_columns(build, layers, params)
    _check_scenario(build, params)
    values = params.model_dump(mode="json")
    rid = make_run_id(params.kind, values, area=build.code, inputs=build.inputs_sha256(),
                 build_parameters=dict(build.manifest.get("parameters") or {}),
                 version=str(build.manifest.get("healthgap_version", "")))
    job = jobs.submit(params.kind, values, job_id=rid, area=build.code,
                      store_path=build.store.path, client=_client(request))
    return _run_response(request, job, 200 if job.done else 202,
                         {"Location": url_for(request, "get_run", run_id=job.id)})


@router.get("/areas/{area}/runs", response_model=RunList, summary="Runs of a build",
            responses={404: {**_PROBLEM, "description": "Unknown area"}})
def list_runs(request: Request, build: BuildDep, jobs: JobsDep) -> RunList:
    """List the runs of this build the server remembers, newest first (results left out)."""
    return RunList(items=[_public(request, job, with_result=False)
                          for job in jobs.jobs(area=build.code)])


@router.get("/runs/{run_id}", response_model=RunPublic, name="get_run",
            summary="A run's status, progress and result",
            responses={404: {**_PROBLEM, "description": "Unknown run"}})
def get_run(request: Request, jobs: JobsDep, run_id: RunIdPath) -> Response:
    """Return a run; ``result`` is set once ``status`` is ``succeeded``."""
    return _run_response(request, jobs.get(run_id))


@router.delete("/runs/{run_id}", name="delete_run", status_code=202, response_model=RunPublic,
               summary="Cancel a pending run, or forget a finished one",
               responses={202: {"model": RunPublic, "description": "Cancellation requested: "
                                "the run stops within about a second"},
                          204: {"description": "The finished run and its result were deleted"},
                          404: {**_PROBLEM, "description": "Unknown run"}})
def delete_run(request: Request, jobs: JobsDep, run_id: RunIdPath) -> Response:
    """Cancel a queued or running run (its worker is stopped), or delete a finished one."""
    before = jobs.cancel(run_id)
    if before.done:
        return Response(status_code=204)
    return _run_response(request, jobs.get(run_id), 202)
