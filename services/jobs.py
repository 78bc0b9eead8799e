"""Model reruns: a registry of run kinds and a job runner that keeps the server free.

A *kind* is a function ``(frames, params) -> dict`` registered with a pydantic model of its
parameters. ``frames`` gives lazy access to one build's layers (`StoreFrames`); ``params`` is the
validated model dumped to a dict. The function calls geo/ and returns plain JSON values; it never
touches HTTP.

`JobRunner` runs kinds in worker processes (or threads) so that a long permutation test never
blocks the event loop, and keeps runs and results in a `services.runstore.RunStore` (SQLite) so
they survive a restart. A run's id is the SHA-256 of the build's inputs (their SHA-256 from the
manifest, the build parameters and the area) and the run parameters: the same request gives the
same id, and a finished run is answered from the store.

A new kind joins with one entry: a module-level function decorated with ``@register(name,
Params, description)``, where ``Params`` subclasses `RunParams` with ``kind: Literal[name]``.
The API's request schema, ``/runs/kinds`` and the workers all read `KINDS`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from healthgap.services.errors import problem_for
from healthgap.services.runstore import DONE, Job, RunStore
from healthgap.services.store import BuildStore
from pydantic import BaseModel, ConfigDict, Field, model_validator

from healthgap.errors import HealthgapError, ParameterError

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

#: Build parameters that name machine paths; left out of run ids and public manifests.
PATH_PARAMETERS = ("data_dir", "out_dir")


_NUMBERS = (int, float, int | None, float | None)


class RunParams(BaseModel):
    """Base of every kind's parameters: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """Refuse ``true``/``false`` for a number (pydantic would read them as 1 and 0)."""
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if isinstance(value, bool) and field is not None and \
                        field.annotation in _NUMBERS:
                    raise ValueError(f"{name}={str(value).lower()}: a number, not a boolean")
        return data

    def requires(self) -> dict[str, list[str]]:
        """Return ``{layer: [columns]}`` the run reads, checked before it is queued."""
        return {}

    def check_limits(self, *, max_permutations: int, max_repetitions: int) -> RunParams:
        """Return the parameters within the service's limits.

        A count the client gave above a limit raises `ParameterError`; a default above it is
        lowered to the limit (the OpenAPI document shows that default).
        """
        lowered: dict[str, int] = {}
        for name, limit in (("permutations", max_permutations),
                            ("repetitions", max_repetitions)):
            value = getattr(self, name, None)
            if isinstance(value, int) and value > limit:
                if name in self.model_fields_set:
                    raise ParameterError(f"{name}={value}: this service allows at most {limit}")
                lowered[name] = limit
        return self.model_copy(update=lowered) if lowered else self


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


class _Stop(BaseException):
    """Raised inside a kind run in a thread (from its progress calls) to stop it."""


# --------------------------------------------------------------------------- workers


def _execute(job_id: str, kind: str, store_path: str, params: dict[str, Any],
             progress: Progress) -> dict[str, Any]:
    """Run one kind; return ``{"ok": True, "result": JSON bytes}`` or the error as plain values.

    Exceptions never cross the process boundary as objects (some cannot be unpickled); the
    worker turns them into a dict the runner maps to a problem. The result is encoded to JSON
    here, in the worker, so the server only stores and sends bytes.
    """
    progress(0.0, "running")
    try:
        fn = get_kind(kind).function
        result = jsonable(fn(StoreFrames(Path(store_path), progress), params))
        text = json.dumps(result, allow_nan=False, separators=(",", ":"))
        return {"ok": True, "result": text.encode()}
    except Exception as exc:  # reported as the job's error; never raised into the runner
        p = problem_for(exc)
        return {"ok": False, "healthgap": isinstance(exc, HealthgapError), "status": p.status,
                "title": p.title, "type": p.type, "message": str(exc),
                "exception": type(exc).__name__, "traceback": traceback.format_exc()}


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the thread that started it ends (no orphans)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
        pass


def _worker_main(conn: Connection, parent: int) -> None:
    """Body of a run worker process: run tasks from ``conn`` until told to stop or orphaned."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when its workers stop
    while os.getppid() == parent:
        try:
            if not conn.poll(1.0):
                continue
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        job_id, kind, store_path, params = task

        def progress(fraction: float, message: str, job_id: str = job_id) -> None:
            conn.send(("progress", job_id, float(fraction), str(message)))

        out = _execute(job_id, kind, store_path, params, progress)
        try:
            conn.send(("done", job_id, out))
        except OSError:
            return


class _ProcessWorker:
    """A spawned worker process and the pipe to it."""

    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, os.getpid()), daemon=True,
                                name="healthgap-run")
        self.proc.start()
        child.close()
        self.job: str | None = None
        self.started = 0.0

    def send(self, job: Job) -> None:
        self.conn.send((job.id, job.kind, str(job.store_path), job.params))

    def events(self) -> list[tuple[Any, ...]]:
        """Every message waiting on the pipe; ``("died",)`` once the process is gone."""
        out: list[tuple[Any, ...]] = []
        try:
            while self.conn.poll(0):
                out.append(self.conn.recv())
        except (EOFError, OSError):
            out.append(("died",))
        if not out and not self.proc.is_alive():
            out.append(("died",))
        return out

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(3)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(3)


class _ThreadWorker:
    """A thread running tasks; stopped at the next progress call of its kind."""

    def __init__(self, events: queue.Queue[Any]) -> None:
        self.tasks: queue.Queue[Any] = queue.Queue()
        self._events = events
        self._halt = threading.Event()
        self.job: str | None = None
        self.started = 0.0
        threading.Thread(target=self._loop, daemon=True, name="healthgap-run").start()

    def _loop(self) -> None:
        while True:
            task = self.tasks.get()
            if task is None:
                return
            job_id, kind, store_path, params = task

            def progress(fraction: float, message: str, job_id: str = job_id) -> None:
                if self._halt.is_set():
                    raise _Stop
                self._events.put((self, ("progress", job_id, float(fraction), str(message))))

            try:
                out = _execute(job_id, kind, store_path, params, progress)
            except _Stop:
                return
            self._events.put((self, ("done", job_id, out)))

    def send(self, job: Job) -> None:
        self.tasks.put((job.id, job.kind, str(job.store_path), job.params))

    def stop(self) -> None:
        self._halt.set()
        self.tasks.put(None)


_Worker = _ProcessWorker | _ThreadWorker
CANCELLED = {"type": "urn:healthgap:problem:cancelled", "title": "Cancelled", "status": 409,
             "detail": "the run was cancelled with DELETE before it finished"}


class JobRunner:
    """Run registered kinds off the event loop; keep runs and results in a `RunStore`.

    Runs wait in one queue per client and are started round-robin across clients, so one
    client's many runs cannot starve another's. Each worker runs one run at a time; a run that
    is cancelled (``DELETE``) or goes over the time limit has its worker process killed and
    replaced. Worker processes die with the server (``PR_SET_PDEATHSIG`` and a parent check),
    so stopping the server, however it is stopped, leaves none behind.

    Parameters
    ----------
    store
        Where runs and results are kept.
    executor
        ``process`` (spawned worker processes) or ``thread`` (lighter; for tests).
    workers
        Runs at a time.
    per_client, max_pending
        Queued or running runs one client, and all clients together, may have.
    timeout_s
        Wall-clock limit of one run.
    max_result_bytes
        Largest result (JSON bytes) one run may produce.
    """

    def __init__(self, store: RunStore, *, executor: Literal["process", "thread"] = "process",
                 workers: int = 1, per_client: int = 4, max_pending: int = 64,
                 timeout_s: float = 900.0, max_result_bytes: int = 64 << 20) -> None:
        if executor not in ("process", "thread"):
            raise ParameterError(f"executor={executor!r}: allowed process, thread")
        self.store = store
        self.executor_kind = executor
        self.workers = int(workers)
        self.per_client = int(per_client)
        self.max_pending = int(max_pending)
        self.timeout_s = float(timeout_s)
        self.max_result_bytes = int(max_result_bytes)
        self._queues: OrderedDict[str, deque[Job]] = OrderedDict()
        self._lock = threading.Lock()
        self._events: queue.Queue[Any] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self._pool: list[_Worker] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_progress: dict[str, float] = {}
        interrupted = store.recover(_now())
        if interrupted:
            logger.warning("%d runs were interrupted by a server stop; they can be submitted "
                           "again", interrupted)

    # -- public

    def submit(self, kind: str, params: dict[str, Any], *, job_id: str, area: str,
               store_path: Path, client: str = "") -> Job:
        """Queue a run, or return the run that already has this id.

        Raises
        ------
        ClientBusyError, BusyError
            The client, or the service, is at its cap of pending runs.
        """
        get_kind(kind)
        job = Job(id=job_id, kind=kind, area=area, params=params, store_path=Path(store_path),
                  client=client, submitted_utc=_now())
        known, inserted = self.store.claim(job, per_client=self.per_client,
                                           pending_max=self.max_pending)
        if inserted:
            with self._lock:
                self._queues.setdefault(client, deque()).append(job)
            self._start()
            self._wake()
        return known

    def get(self, job_id: str) -> Job:
        """Return a run with its result, or raise `UnknownRunError`."""
        return self.store.get(job_id)

    def jobs(self, *, area: str | None = None) -> list[Job]:
        """Every stored run, newest first (results left out), optionally of one area."""
        return self.store.list(area=area)

    def cancel(self, job_id: str) -> Job:
        """Cancel a pending run (within a second) or delete a finished one."""
        job = self.store.request_cancel(job_id)
        self._wake()
        return job

    def wait(self, job_id: str, *, timeout: float = 60.0) -> Job:
        """Block until a run is done (for the command line and tests)."""
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if self.store.status(job_id) in DONE:
                return self.store.get(job_id)
            time.sleep(0.02)
        raise TimeoutError(f"run {job_id} not done after {timeout} s")

    def shutdown(self) -> None:
        """Stop the workers (killing running ones) and mark their runs interrupted."""
        self._stop.set()
        self._wake()
        with self._lock:
            mine = [j.id for jobs in self._queues.values() for j in jobs]
            self._queues.clear()
        mine += [w.job for w in self._pool if w.job is not None]
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        self._stop_workers()
        self.store.interrupt(mine, _now())
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def worker_pids(self) -> list[int]:
        """Process ids of the live worker processes (for tests and monitoring)."""
        return [w.proc.pid for w in self._pool
                if isinstance(w, _ProcessWorker) and w.proc.pid is not None]

    # -- scheduler

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="healthgap-runs")
                self._thread.start()

    def _wake(self) -> None:
        if self.executor_kind == "thread":
            self._events.put(None)
            return
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _loop(self) -> None:
        """Start queued runs, collect results, cancel, time out (the scheduler thread)."""
        while not self._stop.is_set():
            try:
                self._dispatch()
                for worker, event in self._collect(0.25):
                    self._handle(worker, event)
                self._police()
            except Exception:  # keep scheduling; a broken step is logged
                logger.exception("run scheduler step failed")
                time.sleep(0.25)
        self._stop_workers()

    def _collect(self, timeout: float) -> list[tuple[_Worker, tuple[Any, ...]]]:
        out: list[tuple[_Worker, tuple[Any, ...]]] = []
        if self.executor_kind == "thread":
            with contextlib.suppress(queue.Empty):
                item = self._events.get(timeout=timeout)
                while True:
                    if item is not None:
                        out.append(item)
                    item = self._events.get_nowait()
            return out
        procs = [w for w in self._pool if isinstance(w, _ProcessWorker)]
        watch: list[Any] = [self._wake_r]
        for w in procs:
            watch += [w.conn, w.proc.sentinel]
        ready = mp_wait(watch, timeout)
        if self._wake_r in ready:
            with contextlib.suppress(OSError):
                os.read(self._wake_r, 4096)
        for w in procs:
            if w.conn in ready or w.proc.sentinel in ready:
                out += [(w, ev) for ev in w.events()]
        return out

    def _next_job(self) -> Job | None:
        with self._lock:
            while self._queues:
                client, jobs = next(iter(self._queues.items()))
                job = jobs.popleft()
                if jobs:
                    self._queues.move_to_end(client)
                else:
                    del self._queues[client]
                return job
        return None

    def _idle_worker(self) -> _Worker | None:
        for w in self._pool:
            if w.job is None:
                return w
        if len(self._pool) >= self.workers:
            return None
        worker: _Worker
        if self.executor_kind == "thread":
            worker = _ThreadWorker(self._events)
        else:
            worker = _ProcessWorker(multiprocessing.get_context("spawn"))
        self._pool.append(worker)
        return worker

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._queues:
                    return
            worker = self._idle_worker()
            if worker is None:
                return
            job = self._next_job()
            if job is None:
                return
            if self.store.status(job.id) != "queued" or self.store.cancelled([job.id]):
                self._close(job.id, "cancelled", message="cancelled", error=CANCELLED)
                continue
            worker.job, worker.started = job.id, time.monotonic()
            self.store.update(job.id, status="running", started_utc=_now(), message="starting")
            worker.send(job)

    def _handle(self, worker: _Worker, event: tuple[Any, ...]) -> None:
        if event[0] == "progress":
            _, job_id, fraction, message = event
            now = time.monotonic()
            if now - self._last_progress.get(job_id, 0.0) >= 0.1 and job_id == worker.job:
                self._last_progress[job_id] = now
                self.store.update(job_id, progress=min(max(fraction, 0.0), 1.0),
                                  message=message[:200])
        elif event[0] == "done":
            _, job_id, out = event
            duration = round(time.monotonic() - worker.started, 3)
            worker.job = None
            self._last_progress.pop(job_id, None)
            self._finish(job_id, out, duration)
        elif event[0] == "died":
            self._retire(worker)
            if worker.job is not None:
                out = {"ok": False, "healthgap": False, "status": 500, "exception": "WorkerDied",
                       "message": f"worker process exited with {getattr(worker, 'proc', None)}",
                       "traceback": ""}
                self._finish(worker.job, out, round(time.monotonic() - worker.started, 3))

    def _police(self) -> None:
        """Cancel what DELETE asked to cancel; stop runs over the time limit."""
        with self._lock:
            queued = [j.id for jobs in self._queues.values() for j in jobs]
        running = {w.job: w for w in self._pool if w.job is not None}
        flagged = self.store.cancelled([*queued, *running])
        if flagged & set(queued):
            with self._lock:
                for client in list(self._queues):
                    self._queues[client] = deque(j for j in self._queues[client]
                                                 if j.id not in flagged)
                    if not self._queues[client]:
                        del self._queues[client]
        for job_id in flagged & set(queued):
            self._close(job_id, "cancelled", message="cancelled", error=CANCELLED)
        now = time.monotonic()
        for job_id, w in running.items():
            if job_id in flagged:
                self._retire(w)
                self._close(job_id, "cancelled", message="cancelled", error=CANCELLED,
                            duration=round(now - w.started, 3))
            elif now - w.started > self.timeout_s:
                self._retire(w)
                self._close(job_id, "failed", message="time limit", retryable=True,
                            duration=round(now - w.started, 3),
                            error={"type": "urn:healthgap:problem:time-limit",
                                   "title": "Time limit", "status": 504,
                                   "detail": f"the run took longer than the service's limit of "
                                             f"{self.timeout_s:g} s; ask for fewer "
                                             "permutations or repetitions"})

    def _retire(self, worker: _Worker) -> None:
        if worker in self._pool:
            self._pool.remove(worker)
        worker.stop()

    def _stop_workers(self) -> None:
        pool, self._pool = self._pool, []
        for w in pool:
            w.stop()

    def _close(self, job_id: str, status: str, *, message: str, error: dict[str, Any] | None,
               retryable: bool = False, duration: float | None = None) -> None:
        self.store.update(job_id, status=status, message=message, error=error,
                          retryable=int(retryable), finished_utc=_now(), duration_s=duration)

    def _finish(self, job_id: str, out: dict[str, Any], duration: float) -> None:
        if out.get("ok"):
            raw: bytes = out["result"]
            if len(raw) <= self.max_result_bytes:
                self.store.update(job_id, status="succeeded", progress=1.0, message="done",
                                  result=raw, finished_utc=_now(), duration_s=duration)
                return
            self._close(job_id, "failed", message="failed", duration=duration,
                        error={"type": "urn:healthgap:problem:result-too-large",
                               "title": "Result too large", "status": 413,
                               "detail": f"the result has {len(raw)} bytes; this service "
                                         f"keeps at most {self.max_result_bytes} per run"})
            return
        if out.get("healthgap") and int(out.get("status", 500)) < 500:
            self._close(job_id, "failed", message="failed", duration=duration,
                        error={"type": out["type"], "title": out["title"],
                               "status": out["status"], "detail": out["message"]})
            return
        logger.error("run %s failed: %s: %s\n%s", job_id, out.get("exception"),
                     out.get("message"), out.get("traceback", ""))
        self._close(job_id, "failed", message="failed", retryable=True, duration=duration,
                    error={"type": "urn:healthgap:problem:internal-error",
                           "title": "Internal server error", "status": 500,
                           "detail": f"the run failed on the server; quote run id {job_id} "
                                     "when reporting it"})


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

    kind: Literal["sii"]
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

    kind: Literal["moran"]
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

    kind: Literal["lisa"]
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

    kind: Literal["regression"]
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

    kind: Literal["decay"]
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

    kind: Literal["whatif"]
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
