"""Model reruns: a registry of run kinds and a job runner that keeps the server free.

A *kind* is a function ``(frames, params) -> dict`` registered with a pydantic model of its
parameters. ``frames`` gives lazy access to one build's layers (`StoreFrames`); ``params`` is the
validated model dumped to a dict. The function calls geo/ and returns plain JSON values; it never
touches HTTP.

`JobRunner` runs kinds in a process pool (or a thread pool) so that a long permutation test never
blocks the event loop. A run's id is the SHA-256 of the build's inputs (their SHA-256 from the
manifest, the build parameters and the area) and the run parameters: the same request gives the
same id, and a finished run is answered from memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import queue
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from healthgap.services.errors import BusyError, UnknownRunError, problem_for
from healthgap.services.store import BuildStore
from pydantic import BaseModel, ConfigDict, Field

from healthgap.errors import HealthgapError, ParameterError

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
Status = Literal["queued", "running", "succeeded", "failed"]

#: Build parameters that name machine paths; left out of run ids and public manifests.
PATH_PARAMETERS = ("data_dir", "out_dir")


class RunParams(BaseModel):
    """Base of every kind's parameters: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str

    def requires(self) -> dict[str, list[str]]:
        """Return ``{layer: [columns]}`` the run reads, checked before it is queued."""
        return {}

    def check_limits(self, *, max_permutations: int, max_repetitions: int) -> None:
        """Raise `ParameterError` if a count is above the service's limits."""
        for name, limit in (("permutations", max_permutations),
                            ("repetitions", max_repetitions)):
            value = getattr(self, name, None)
            if isinstance(value, int) and value > limit:
                raise ParameterError(f"{name}={value}: this service allows at most {limit}")


RunFunction = Callable[["StoreFrames", dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """A registered run kind."""

    name: str
    function: RunFunction
    params: type[RunParams]
    description: str


KINDS: dict[str, Kind] = {}


def register(name: str, params: type[RunParams], description: str
             ) -> Callable[[RunFunction], RunFunction]:
    """Register a module-level function as run kind ``name`` (a decorator)."""
    def deco(fn: RunFunction) -> RunFunction:
        KINDS[name] = Kind(name, fn, params, description)
        return fn
    return deco


def get_kind(name: str) -> Kind:
    """Return a registered kind, or raise `ParameterError` naming the kinds there are."""
    if name not in KINDS:
        raise ParameterError(f"kind {name!r}: allowed {', '.join(sorted(KINDS))}")
    return KINDS[name]


class StoreFrames:
    """Lazy, cached access to one build's layers for a run.

    Parameters
    ----------
    path
        The build's GeoPackage.
    progress
        Called as ``progress(fraction, message)``.
    """

    def __init__(self, path: Path, progress: Progress | None = None) -> None:
        self.store = BuildStore(path)
        self._progress = progress
        self._cache: dict[str, pd.DataFrame] = {}

    def layer(self, name: str, *, index: str | None = None) -> pd.DataFrame:
        """Return a whole layer (read once), indexed by ``index`` when given."""
        if name not in self._cache:
            self._cache[name] = self.store.read_layer(name)
        frame = self._cache[name]
        return frame.set_index(index) if index and index in frame.columns else frame.copy()

    def progress(self, fraction: float, message: str) -> None:
        """Report progress (0 to 1) with a short message."""
        if self._progress is not None:
            self._progress(min(max(float(fraction), 0.0), 1.0), message)


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON values (NaN and infinities as None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return jsonable(value.reset_index().to_dict(orient="records")
                        if value.index.name else value.to_dict(orient="records"))
    if isinstance(value, pd.Series):
        return jsonable(value.to_dict())
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def run_id(kind: str, params: dict[str, Any], *, area: str, inputs: dict[str, str],
           build_parameters: dict[str, Any], version: str) -> str:
    """Return the id of a run: SHA-256 of its inputs and parameters (32 hex digits)."""
    build = {k: v for k, v in sorted(build_parameters.items()) if k not in PATH_PARAMETERS}
    payload = {"kind": kind, "params": params, "area": area, "inputs": inputs, "build": build,
               "healthgap": version}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Job:
    """One run and where it is."""

    id: str
    kind: str
    area: str
    params: dict[str, Any]
    store_path: Path
    status: Status = "queued"
    progress: float = 0.0
    message: str = "queued"
    submitted_utc: str = field(default_factory=_now)
    started_utc: str | None = None
    finished_utc: str | None = None
    duration_s: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    retryable: bool = False
    _t0: float = 0.0

    @property
    def done(self) -> bool:
        """True once the run has succeeded or failed."""
        return self.status in ("succeeded", "failed")

    def public(self, *, with_result: bool = True) -> dict[str, Any]:
        """Return the job as the API shows it (no paths)."""
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "area": self.area, "status": self.status,
            "progress": round(self.progress, 4), "message": self.message,
            "params": self.params, "submitted_utc": self.submitted_utc,
            "started_utc": self.started_utc, "finished_utc": self.finished_utc,
            "duration_s": self.duration_s, "error": self.error,
        }
        out["result"] = self.result if with_result else None
        return out


# --------------------------------------------------------------------------- workers

_QUEUE: Any = None  # the progress queue of a worker process


def _init_worker(progress_queue: Any) -> None:
    global _QUEUE
    _QUEUE = progress_queue


def _execute(job_id: str, kind: str, store_path: str, params: dict[str, Any],
             progress: Progress | None = None) -> dict[str, Any]:
    """Run one kind and return ``{"ok": True, "result": ...}`` or the error as plain values.

    Exceptions never cross the process boundary as objects (some cannot be unpickled); the
    worker turns them into a dict the runner maps to a problem.
    """
    if progress is None:
        q = _QUEUE

        def progress(fraction: float, message: str) -> None:
            if q is not None:
                q.put((job_id, fraction, message))

    progress(0.0, "running")
    try:
        fn = get_kind(kind).function
        result = jsonable(fn(StoreFrames(Path(store_path), progress), params))
        return {"ok": True, "result": result}
    except Exception as exc:  # reported as the job's error; never raised into the pool
        p = problem_for(exc)
        return {"ok": False, "healthgap": isinstance(exc, HealthgapError), "status": p.status,
                "title": p.title, "type": p.type, "message": str(exc),
                "exception": type(exc).__name__, "traceback": traceback.format_exc()}


class JobRunner:
    """Run registered kinds off the event loop and remember their results.

    Parameters
    ----------
    executor
        ``process`` (spawned worker processes) or ``thread``.
    workers
        Pool size.
    cache_size
        Finished jobs kept; the oldest finished are forgotten first.
    max_pending
        Queued and running jobs allowed before `submit` raises `BusyError`.
    """

    def __init__(self, *, executor: Literal["process", "thread"] = "process", workers: int = 1,
                 cache_size: int = 256, max_pending: int = 64) -> None:
        if executor not in ("process", "thread"):
            raise ParameterError(f"executor={executor!r}: allowed process, thread")
        self.executor_kind = executor
        self.workers = int(workers)
        self.cache_size = int(cache_size)
        self.max_pending = int(max_pending)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.RLock()
        self._pool: Executor | None = None
        self._queue: Any = None
        self._drainer: threading.Thread | None = None
        self._stop = threading.Event()

    # -- pool

    def _executor(self) -> Executor:
        with self._lock:
            if self._pool is None:
                if self.executor_kind == "thread":
                    self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="healthgap")
                else:
                    ctx = multiprocessing.get_context("spawn")
                    self._queue = ctx.Queue()
                    self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx,
                                                     initializer=_init_worker,
                                                     initargs=(self._queue,))
                    self._stop.clear()
                    self._drainer = threading.Thread(target=self._drain, daemon=True,
                                                     name="healthgap-progress")
                    self._drainer.start()
            return self._pool

    def _drain(self) -> None:
        q = self._queue
        while not self._stop.is_set():
            try:
                job_id, fraction, message = q.get(timeout=0.2)
            except queue.Empty:
                continue
            except (EOFError, OSError, ValueError):
                return
            self._progress(job_id, fraction, message)

    def shutdown(self) -> None:
        """Stop the pool (running jobs are left to finish) and the progress thread."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self._stop.set()
        if self._drainer is not None:
            self._drainer.join(timeout=2)
            self._drainer = None

    # -- jobs

    def _progress(self, job_id: str, fraction: float, message: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.done:
                return
            if job.status == "queued":
                job.status = "running"
                job.started_utc = _now()
                job._t0 = time.perf_counter()
            job.progress = float(fraction)
            job.message = str(message)[:200]

    def submit(self, kind: str, params: dict[str, Any], *, job_id: str, area: str,
               store_path: Path) -> Job:
        """Queue a run, or return the job that already has this id.

        A job that failed for an internal reason (not a parameter or input problem) is run
        again; any other known job is returned as it is.
        """
        get_kind(kind)
        with self._lock:
            known = self._jobs.get(job_id)
            if known is not None and not (known.status == "failed" and known.retryable):
                self._jobs.move_to_end(job_id)
                return known
            pending = sum(1 for j in self._jobs.values() if not j.done)
            if pending >= self.max_pending:
                raise BusyError(f"{pending} runs are queued or running (the most allowed); "
                                "retry in a few seconds")
            job = Job(id=job_id, kind=kind, area=area, params=params, store_path=store_path)
            self._jobs[job_id] = job
            self._jobs.move_to_end(job_id)
            pool = self._executor()
            try:
                if self.executor_kind == "thread":
                    fut = pool.submit(_execute, job_id, kind, str(store_path), params,
                                      lambda f, m: self._progress(job_id, f, m))
                else:
                    fut = pool.submit(_execute, job_id, kind, str(store_path), params)
            except (BrokenProcessPool, RuntimeError):
                self._pool = None
                pool = self._executor()
                fut = pool.submit(_execute, job_id, kind, str(store_path), params)
            self._trim()
        fut.add_done_callback(lambda f: self._finish(job_id, f))
        return job

    def _finish(self, job_id: str, fut: Future[dict[str, Any]]) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if job.started_utc is None:
                job.started_utc = _now()
                job._t0 = time.perf_counter()
            job.finished_utc = _now()
            job.duration_s = round(time.perf_counter() - job._t0, 3)
            if fut.cancelled():
                job.status, job.message = "failed", "cancelled: the server stopped"
                job.retryable = True
                job.error = {"type": "urn:healthgap:problem:cancelled", "title": "Cancelled",
                             "status": 503, "detail": "the server stopped before the run "
                                                      "finished; submit it again"}
                return
            try:
                out = fut.result()
            except BaseException as exc:  # the pool broke
                out = {"ok": False, "healthgap": False, "status": 500, "message": str(exc),
                       "exception": type(exc).__name__, "traceback": ""}
                if isinstance(exc, BrokenProcessPool):
                    self._pool = None
            if out.get("ok"):
                job.status = "succeeded"
                job.progress = 1.0
                job.message = "done"
                job.result = out["result"]
            else:
                job.status = "failed"
                job.message = "failed"
                if out.get("healthgap") and int(out.get("status", 500)) < 500:
                    job.error = {"type": out["type"], "title": out["title"],
                                 "status": out["status"], "detail": out["message"]}
                else:
                    job.retryable = True
                    logger.error("run %s (%s) failed: %s: %s\n%s", job_id, job.kind,
                                 out.get("exception"), out.get("message"),
                                 out.get("traceback", ""))
                    job.error = {"type": "urn:healthgap:problem:internal-error",
                                 "title": "Internal server error", "status": 500,
                                 "detail": f"the run failed on the server; quote run id "
                                           f"{job_id} when reporting it"}
            self._trim()

    def _trim(self) -> None:
        done = [k for k, j in self._jobs.items() if j.done]
        for k in done[: max(0, len(done) - self.cache_size)]:
            del self._jobs[k]

    def get(self, job_id: str) -> Job:
        """Return a job, or raise `UnknownRunError`."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            shown = job_id if len(job_id) <= 64 else f"{job_id[:64]}…"
            raise UnknownRunError(f"run {shown!r} is not known here (never submitted, or "
                                  "forgotten after a restart); submit it again with POST")
        return job

    def jobs(self, *, area: str | None = None) -> list[Job]:
        """Every remembered job, newest first, optionally of one area."""
        with self._lock:
            items = list(self._jobs.values())
        return [j for j in reversed(items) if area is None or j.area == area]

    def wait(self, job_id: str, *, timeout: float = 60.0) -> Job:
        """Block until a job is done (for the command line and tests)."""
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            job = self.get(job_id)
            if job.done:
                return job
            time.sleep(0.02)
        raise TimeoutError(f"run {job_id} not done after {timeout} s")


# --------------------------------------------------------------------------- kinds
#
# Each kind reads what it needs from the build through `StoreFrames`, calls one geo/ class and
# returns that class's ``to_dict()`` (parameters, package versions, results). The rows reported
# are always those inside the area (``in_area``); the edge ring is only ever a neighbour.

_Column = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", max_length=63)


def _inside(frame: pd.DataFrame) -> pd.DataFrame:
    if "in_area" in frame.columns:
        return frame[frame["in_area"].fillna(0).astype(bool)]
    return frame


class SiiParams(RunParams):
    """Slope and relative index of inequality of an indicator across deprivation quantiles."""

    kind: Literal["sii"] = "sii"
    indicator: Annotated[str, _Column] = Field("le_male", description="Outcome, high = good "
                                               "(life expectancy).")
    deprivation: Annotated[str, _Column] = Field("imd_score", description="Deprivation score "
                                                 "the quantiles are formed from.")
    level: Literal["msoa", "lsoa"] = "msoa"
    n_quantiles: int = Field(10, ge=3, le=20)
    repetitions: int = Field(10_000, ge=1000, description="Monte Carlo draws of the interval.")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    seed: int = Field(2019, ge=0, le=2**32 - 1)

    def requires(self) -> dict[str, list[str]]:
        """Return the indicator, deprivation score and population of the level's layer."""
        return {self.level: [self.indicator, self.deprivation, "population"]}


@register("sii", SiiParams, "Slope index of inequality (PHE/OHID method) of an indicator "
          "across population-weighted deprivation quantiles, with a simulated interval.")
def run_sii(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """SII/RII with `geo.inequality.SlopeIndex`."""
    from healthgap.geo.inequality import SlopeIndex

    p = SiiParams(**params)
    frames.progress(0.1, f"reading {p.level}")
    code = "msoa11cd" if p.level == "msoa" else "lsoa11cd"
    frame = _inside(frames.layer(p.level, index=code))
    frames.progress(0.3, f"fitting SII over {p.n_quantiles} quantiles")
    model = SlopeIndex(value=p.indicator, population="population", score=p.deprivation,
                       n_quantiles=p.n_quantiles, repetitions=p.repetitions,
                       confidence=p.confidence, seed=p.seed).fit(frame)
    return model.to_dict()


_CODES = {"lsoa": "lsoa11cd", "msoa": "msoa11cd"}


class _WeightsParams(RunParams):
    """Spatial weights options shared by the spatial kinds."""

    level: Literal["lsoa", "msoa"] = "msoa"
    indicator: Annotated[str, _Column] = Field("le_male", description="Indicator column.")
    weights: Literal["queen", "rook", "knn", "distance_band", "kernel"] = "queen"
    k: int = Field(8, ge=1, le=50, description="Neighbours for knn (and adaptive kernels).")
    bandwidth: float | None = Field(None, gt=0, le=200_000, description="Metres: the band "
                                    "for distance_band, the fixed bandwidth for kernel.")
    seed: int = Field(2019, ge=0, le=2**32 - 1)

    def requires(self) -> dict[str, list[str]]:
        """Return the indicator of the level's layer."""
        return {self.level: [self.indicator]}


def _spatial_frame(frames: StoreFrames, p: _WeightsParams) -> Any:
    """Read the level's layer and build weights over the rows with a value (ring included)."""
    from healthgap.geo.weights import build_weights

    frames.progress(0.05, f"reading {p.level}")
    frame = frames.layer(p.level, index=_CODES[p.level])
    if "in_area" in frame.columns:
        frame["in_area"] = frame["in_area"].fillna(0).astype(bool)
    has_value = frame[p.indicator].notna()
    frames.progress(0.15, f"building {p.weights} weights")
    extra: dict[str, Any] = {}
    if p.weights == "distance_band" and p.bandwidth is not None:
        extra["threshold"] = p.bandwidth
    if p.weights == "kernel" and p.bandwidth is not None:
        extra["bandwidth"] = p.bandwidth
    weights = build_weights(frame, kind=p.weights, k=p.k, include=has_value, **extra)
    left_out = [str(c) for c in frame.index[~has_value & frame.get("in_area", True)]]
    return frame[has_value], weights, left_out


class MoranParams(_WeightsParams):
    """Global Moran's I of an indicator with permutation inference."""

    kind: Literal["moran"] = "moran"
    permutations: int = Field(999, ge=1, le=99_999)


@register("moran", MoranParams, "Global Moran's I of an indicator over the area (edge ring as "
          "neighbours only), analytical and permutation inference.")
def run_moran(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """Global Moran's I with `geo.autocorrelation.GlobalMoran`."""
    from healthgap.geo.autocorrelation import GlobalMoran

    p = MoranParams(**params)
    frame, weights, left_out = _spatial_frame(frames, p)
    frames.progress(0.3, f"{p.permutations} permutations")
    stat = GlobalMoran(permutations=p.permutations, seed=p.seed).fit(frame[p.indicator],
                                                                     weights)
    return {"statistic": stat.to_dict(), "weights": weights.summary(),
            "left_out_missing": left_out}


class LisaParams(_WeightsParams):
    """Local Moran's I (LISA) clusters of an indicator."""

    kind: Literal["lisa"] = "lisa"
    permutations: int = Field(999, ge=1, le=99_999)
    alpha: float = Field(0.05, gt=0, lt=1)
    correction: Literal["fdr", "bonferroni", "none"] = "fdr"
    p_value: Literal["folded", "two-sided"] = "folded"


@register("lisa", LisaParams, "Local Moran's I (LISA): High-High, Low-Low and outlier "
          "neighbourhoods, with conditional permutations and an FDR/Bonferroni correction.")
def run_lisa(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """LISA with `geo.local.LocalMoran`; one row per neighbourhood inside the area."""
    from healthgap.geo.local import LocalMoran

    p = LisaParams(**params)
    frame, weights, left_out = _spatial_frame(frames, p)
    frames.progress(0.3, f"{p.permutations} conditional permutations per area")
    stat = LocalMoran(permutations=p.permutations, seed=p.seed, alpha=p.alpha,
                      correction=None if p.correction == "none" else p.correction,
                      p_value=p.p_value).fit(frame[p.indicator], weights)
    frames.progress(0.95, "collecting results")
    areas = stat.to_frame()
    areas.index.name = _CODES[p.level]
    return {"summary": stat.summary(), "weights": weights.summary(), "areas": areas,
            "left_out_missing": left_out}


class RegressionParams(_WeightsParams):
    """A life-expectancy regression with spatial diagnostics, or a spatial lag/error model."""

    kind: Literal["regression"] = "regression"
    predictors: list[Annotated[str, _Column]] = Field(
        default_factory=lambda: ["imd_score"], min_length=1, max_length=10,
        description="Predictor columns of the same layer.")
    model: Literal["ols", "lag", "error"] = "ols"

    def requires(self) -> dict[str, list[str]]:
        """Return the outcome and predictors of the level's layer."""
        return {self.level: [self.indicator, *self.predictors]}


@register("regression", RegressionParams, "OLS of an indicator on predictors with Moran's I of "
          "the residuals and the LM tests, or a maximum-likelihood spatial lag or error model.")
def run_regression(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """`geo.regression` OLSDiagnostics / SpatialLagModel / SpatialErrorModel on the area."""
    from healthgap.geo.regression import OLSDiagnostics, SpatialErrorModel, SpatialLagModel
    from healthgap.geo.weights import build_weights

    p = RegressionParams(**params)
    frames.progress(0.05, f"reading {p.level}")
    frame = _inside(frames.layer(p.level, index=_CODES[p.level]))
    used = frame[[p.indicator, *p.predictors]].notna().all(axis=1)
    frames.progress(0.2, f"building {p.weights} weights")
    extra: dict[str, Any] = {}
    if p.weights == "distance_band" and p.bandwidth is not None:
        extra["threshold"] = p.bandwidth
    if p.weights == "kernel" and p.bandwidth is not None:
        extra["bandwidth"] = p.bandwidth
    weights = build_weights(frame.drop(columns=["in_area"], errors="ignore"), kind=p.weights,
                            k=p.k, include=used, **extra)
    frames.progress(0.4, f"fitting {p.model}")
    cls = {"ols": OLSDiagnostics, "lag": SpatialLagModel, "error": SpatialErrorModel}[p.model]
    model = cls(y=p.indicator, x=list(p.predictors)).fit(frame[used], weights.graph)
    return {"model": model.to_dict(), "weights": weights.summary(),
            "left_out_missing": [str(c) for c in frame.index[~used]]}


DecayForm = Literal["linear", "exponential", "power", "gaussian"]
DECAY_FORMS: tuple[DecayForm, ...] = ("linear", "exponential", "power", "gaussian")


class DecayParams(RunParams):
    """Life expectancy against travel time: which decay form fits, and its parameter."""

    kind: Literal["decay"] = "decay"
    level: Literal["lsoa", "msoa"] = "msoa"
    indicator: Annotated[str, _Column] = Field("le_male", description="Outcome column.")
    time: Annotated[str, _Column] = Field(description="Travel-time column of the same layer "
                                          "(from the access stage), any unit.")
    forms: list[DecayForm] = Field(
        default_factory=lambda: list(DECAY_FORMS), min_length=1,
        max_length=4, description="Decay functions to fit and compare by AIC.")
    weights: Literal["none", "population"] = "population"
    n_boot: int = Field(0, ge=0, le=2000, description="Bootstrap resamples of the best "
                        "form's parameter (0 = none).")
    seed: int = Field(2019, ge=0, le=2**32 - 1)

    def requires(self) -> dict[str, list[str]]:
        """Return the outcome, time and population columns of the level's layer."""
        return {self.level: [self.indicator, self.time, "population"]}


@register("decay", DecayParams, "Fit linear, exponential, power and Gaussian decay of an "
          "indicator with travel time; compare the forms by AIC.")
def run_decay(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """`geo.gradients.DecayFit` on the neighbourhoods inside the area."""
    from healthgap.geo.gradients import DecayFit

    p = DecayParams(**params)
    frames.progress(0.05, f"reading {p.level}")
    frame = _inside(frames.layer(p.level, index=_CODES[p.level]))
    frames.progress(0.2, f"fitting {', '.join(p.forms)}")
    model = DecayFit(time=p.time, value=p.indicator, forms=list(dict.fromkeys(p.forms)),
                     weights=None if p.weights == "none" else p.weights, n_boot=p.n_boot,
                     seed=p.seed).fit(frame)
    return model.to_dict()


# --------------------------------------------------------------------------- what-if (#17)
# One self-contained kind: the scenario is computed by `services.whatif.run_whatif`, the same
# function the `healthgap whatif` command calls, so the API and the CLI give the same numbers.
# A run reads the build but never writes into it (the CLI writes the whatif_* layers).


class WhatifOpen(BaseModel):
    """One facility to open (or the new place of a moved one): exactly one location."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    code: str | None = Field(None, max_length=20)
    name: str | None = Field(None, max_length=200)
    kind: str = Field("gp", max_length=40)
    supply: float | None = Field(None, gt=0, description="Default: the median of its kind.")
    postcode: str | None = Field(None, max_length=10)
    x: float | None = Field(None, description="Easting, EPSG:27700 metres.")
    y: float | None = None
    lon: float | None = Field(None, ge=-9.0, le=2.5)
    lat: float | None = Field(None, ge=49.0, le=61.5)


class WhatifMove(BaseModel):
    """A facility that moves: its code and exactly one new location."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    code: str = Field(max_length=20)
    supply: float | None = Field(None, gt=0)
    postcode: str | None = Field(None, max_length=10)
    x: float | None = None
    y: float | None = None
    lon: float | None = Field(None, ge=-9.0, le=2.5)
    lat: float | None = Field(None, ge=49.0, le=61.5)


class WhatifParams(RunParams):
    """A what-if access scenario: close, open, move or resize facilities."""

    kind: Literal["whatif"] = "whatif"
    name: str = Field("scenario", max_length=100)
    close: list[Annotated[str, Field(max_length=20, strict=True)]] = Field(default_factory=list,
                                                              max_length=500)
    open: list[WhatifOpen] = Field(default_factory=list, max_length=100)
    move: list[WhatifMove] = Field(default_factory=list, max_length=100)
    supply: dict[str, Annotated[float, Field(gt=0, strict=True)]] = Field(default_factory=dict)
    straight_line: bool = Field(False, strict=True, description="Where the build has no road "
                                "network, give a straight-line estimate (labelled as such) "
                                "instead of failing.")

    def spec(self) -> dict[str, Any]:
        """Return the scenario mapping `services.whatif.run_whatif` takes."""
        return {"name": self.name, "close": list(self.close),
                "open": [o.model_dump(exclude_none=True) for o in self.open],
                "move": [m.model_dump(exclude_none=True) for m in self.move],
                "supply": dict(self.supply)}


@register("whatif", WhatifParams, "What if facilities open, close, move or change supply: "
          "per-LSOA change in access, residents crossing each travel-time threshold, and the "
          "access gap by deprivation before and after.")
def run_whatif_kind(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """`services.whatif.run_whatif` on the build, without writing into it."""
    from healthgap.services.whatif import run_whatif

    p = WhatifParams(**params)
    frames.progress(0.05, "checking the scenario and routing the baseline")
    out = run_whatif(frames.store.path.parent, p.spec(), straight_line=p.straight_line,
                     write=False)
    return out.to_dict()
