"""Model reruns: the job runner that keeps the server free.

The kinds of run live apart from the runner: their registry in `services.runkinds` (a *kind* is
a function ``(frames, params) -> dict`` registered with a pydantic model of its parameters),
the kinds healthgap ships in `services.kinds`, imported here so that they are registered.

`JobRunner` runs kinds in worker processes (or threads) so that a long permutation test never
blocks the event loop, and keeps runs and results in a `services.runstore.RunStore` (SQLite) so
they survive a restart. A run's id is the SHA-256 of the build's inputs (their SHA-256 from the
manifest, the build parameters and the area) and the run parameters: the same request gives the
same id, and a finished run is answered from the store.

The API's request schema, ``/runs/kinds`` and the workers all read `KINDS`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections import OrderedDict, deque
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from pathlib import Path
from typing import Any, Literal

from healthgap.services import kinds  # noqa: F401  (importing it registers the shipped kinds)
from healthgap.services.errors import problem_for
from healthgap.services.runkinds import (
    KINDS,
    PATH_PARAMETERS,
    Kind,
    Progress,
    RunParams,
    StoreFrames,
    get_kind,
    jsonable,
    register,
)
from healthgap.services.runstore import DONE, Job, RunStore

from healthgap.errors import HealthgapError, ParameterError

logger = logging.getLogger(__name__)

#: The registry's names, importable from the runner as before (`services.runkinds` holds them).
__all__ = ["KINDS", "PATH_PARAMETERS", "Job", "JobRunner", "Kind", "Progress", "RunParams",
           "StoreFrames", "get_kind", "jsonable", "register", "run_id"]

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
