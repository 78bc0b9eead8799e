"""Build many ICS atlases as tasks on Dask distributed.

Each ICB is one task (its own edge ring, its own store). A LocalCluster is started by default;
``scheduler="tcp://host:port"`` uses an existing cluster. A failing ICB is retried, then reported
with its full error text and the attempts the scheduler counted, without losing the others. An
ICB is skipped only when its folder holds a complete build (`check_build`) whose manifest carries
the fingerprint of the same inputs, parameters and versions. Each LocalCluster worker runs one
task at a time with numba limited to ``cores / workers`` threads, and Dask's own logs are quiet
unless ``verbose``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from healthgap.data import sha256_file
from healthgap.data.layout import LAYOUT, DataDir
from healthgap.services.build import BuildOptions, build, package_versions
from healthgap.services.store import BuildStore, check_build, check_writable

from healthgap.errors import ParameterError

log = logging.getLogger(__name__)


@dataclass
class TaskOutcome:
    """What happened to one ICB."""

    area: str
    status: str  # "built", "skipped" (up to date) or "failed"
    out_dir: str
    seconds: float = 0.0
    error: str = ""
    attempts: int = 0


@dataclass
class BatchReport:
    """The outcome of every ICB in a batch."""

    outcomes: list[TaskOutcome] = field(default_factory=list)
    seconds: float = 0.0
    scheduler: str = ""

    def by_status(self, status: str) -> list[TaskOutcome]:
        """Outcomes with this status."""
        return [o for o in self.outcomes if o.status == status]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"seconds": self.seconds, "scheduler": self.scheduler,
                "outcomes": [o.__dict__ for o in self.outcomes]}


def input_hashes(data: DataDir) -> dict[str, str]:
    """SHA-256 of every input present in the data directory (one pass, shared by all tasks)."""
    out = {}
    for key in LAYOUT:
        p = data.optional(key)
        if p is not None:
            out[key] = sha256_file(p)
    for p in [*data.osm_files(), *data.rasters()]:
        out[f"{p.parent.name}/{p.name}"] = sha256_file(p)
    return out


def fingerprint(options: BuildOptions, hashes: dict[str, str]) -> str:
    """Return a hash of everything a build's output depends on (inputs, parameters, versions)."""
    params = options.to_dict()
    params.pop("out_dir")
    params.pop("data_dir")
    blob = json.dumps({"inputs": hashes, "params": params, "versions": package_versions()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def up_to_date(out_dir: Path, fp: str) -> bool:
    """Say whether ``out_dir`` holds a complete build whose manifest carries fingerprint ``fp``."""
    if check_build(out_dir):
        return False
    try:
        return BuildStore(out_dir).read_manifest().get("fingerprint") == fp
    except Exception:  # an unreadable store is not up to date
        return False


def build_one(options: BuildOptions, fp: str, numba_threads: int | None = None) -> TaskOutcome:
    """Build one area (runs on a Dask worker); raise on failure so that Dask retries it.

    Parameters
    ----------
    options
        The area's build options.
    fp
        Its fingerprint, written into the build's manifest.
    numba_threads
        Threads numba may use in this worker (None leaves numba's default).
    """
    if numba_threads is not None:
        import numba

        with contextlib.suppress(ValueError):  # above the launch-time maximum: keep that
            numba.set_num_threads(max(1, numba_threads))
    t0 = time.perf_counter()
    build(options, extra_manifest={"fingerprint": fp})
    return TaskOutcome(area=options.area, status="built", out_dir=str(options.out_dir),
                       seconds=round(time.perf_counter() - t0, 2))


def _attempts(client: Any, key: str) -> int:
    """Count the times the scheduler sent task ``key`` to a worker (its transition story)."""
    def count(dask_scheduler: Any, key: str = key) -> int:
        return sum(1 for e in dask_scheduler.story(key) if e[2] == "processing")

    return int(client.run_on_scheduler(count))


def _error_text(exc: BaseException | None) -> str:
    """Return the full text of a task's exception (type and message, every line)."""
    if exc is None:
        return "unknown error"
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def check_batch_options(*, n_workers: int, retries: int, scheduler: str | None,
                        out_root: Path, scheduler_timeout_s: float = 10.0) -> None:
    """Raise naming the first option a batch cannot run with (before anything is scheduled).

    ``--workers`` must be >= 1 (a LocalCluster of none waits for ever), ``--retries`` >= 0,
    ``--scheduler`` a ``tcp://host:port`` address, and ``--out`` a folder this user can create
    and write.
    """
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ParameterError(f"--workers {n_workers!r}: a whole number >= 1")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ParameterError(f"--retries {retries!r}: a whole number >= 0")
    if scheduler is not None and ("://" not in scheduler or not scheduler.split("://", 1)[1]):
        raise ParameterError(f"--scheduler {scheduler!r}: an address like tcp://host:8786")
    if not scheduler_timeout_s > 0 or scheduler_timeout_s == float("inf"):
        raise ParameterError(f"--scheduler-timeout {scheduler_timeout_s!r}: seconds, above 0")
    check_writable(Path(out_root), "--out")


def connect(scheduler: str, *, timeout_s: float = 10.0) -> Any:
    """Return a Dask client of the scheduler at ``scheduler``; raise naming it if none answers."""
    from distributed import Client

    try:
        return Client(scheduler, timeout=f"{timeout_s:g}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParameterError(f"--scheduler {scheduler}: no Dask scheduler answered within "
                             f"{timeout_s:g} s ({type(exc).__name__}: {exc})") from None


def absolute(options: BuildOptions) -> BuildOptions:
    """Return ``options`` with every path absolute (a worker resolves paths in its own folder)."""
    nb = options.neighbourhoods
    return replace(options, data_dir=Path(options.data_dir).resolve(),
                   out_dir=Path(options.out_dir).resolve(),
                   neighbourhoods=None if nb is None else Path(nb).resolve())


def run_batch(areas: list[str], *, data_dir: Path, out_root: Path,
              template: BuildOptions | None = None, scheduler: str | None = None,
              n_workers: int = 2, retries: int = 1, force: bool = False,
              on_done: Callable[[TaskOutcome], None] | None = None,
              verbose: bool = False, scheduler_timeout_s: float = 10.0) -> BatchReport:
    """Build every area in ``areas`` as a Dask task.

    Parameters
    ----------
    areas
        ICB codes (or any area the build accepts).
    data_dir
        The data directory.
    out_root
        Each area is written to ``out_root/<code lower case>``.
    template
        Build options shared by all areas (``area``, ``out_dir`` are replaced per task).
    scheduler
        Address of an existing Dask scheduler; None starts a LocalCluster.
    n_workers
        Worker processes of the LocalCluster (one thread each).
    retries
        How many times a failing task is retried before it is reported.
    force
        Rebuild even when an area is up to date.
    on_done
        Called with each outcome as it finishes.

    The report is written to ``<out_root>/batch_report.json`` (`write_report`) whatever the
    outcomes.
    verbose
        Let Dask log at INFO (quiet otherwise: the report says what failed and why).
    scheduler_timeout_s
        How long to wait for ``scheduler`` to answer before refusing it (default 10 s).
    """
    from distributed import Client, LocalCluster, as_completed

    check_batch_options(n_workers=n_workers, retries=retries, scheduler=scheduler,
                        out_root=Path(out_root), scheduler_timeout_s=scheduler_timeout_s)
    t0 = time.perf_counter()
    data_dir, out_root = Path(data_dir).resolve(), Path(out_root).resolve()
    data = DataDir(data_dir)
    hashes = input_hashes(data)
    base = template or BuildOptions(area="", data_dir=data_dir, out_dir=out_root)
    report = BatchReport()
    todo: list[tuple[BuildOptions, str]] = []
    for code in areas:
        opts = absolute(replace(base, area=code, data_dir=data_dir,
                                out_dir=out_root / code.lower()))
        fp = fingerprint(opts, hashes)
        if not force and up_to_date(Path(opts.out_dir), fp):
            outcome = TaskOutcome(area=code, status="skipped", out_dir=str(opts.out_dir))
            report.outcomes.append(outcome)
            if on_done:
                on_done(outcome)
            continue
        todo.append((opts, fp))
    if todo:
        level = logging.INFO if verbose else logging.CRITICAL
        logging.getLogger("distributed").setLevel(level)
        threads = max(1, (os.cpu_count() or 1) // max(1, n_workers))
        cluster = None
        if scheduler:
            client = connect(scheduler, timeout_s=scheduler_timeout_s)
        else:
            env = {"NUMBA_NUM_THREADS": str(threads),
                   "DASK_LOGGING__DISTRIBUTED": logging.getLevelName(level).lower()}
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, host="127.0.0.1",
                                   silence_logs=level, env=env)
            client = Client(cluster)
        report.scheduler = str(client.scheduler.address)
        # one key per task of this batch: the scheduler's story of a key counts the attempts
        # of every batch that used it, so keys never repeat across batches
        batch_id = uuid.uuid4().hex[:8]
        try:
            futures = {client.submit(build_one, opts, fp, threads if cluster else None,
                                     retries=retries, pure=False,
                                     key=f"build-{opts.area}-{fp[:12]}-{batch_id}"): opts
                       for opts, fp in todo}
            for fut in as_completed(futures):
                opts = futures[fut]
                n = _attempts(client, fut.key)
                if fut.status == "finished":
                    outcome = replace(fut.result(), attempts=n)
                else:
                    text = _error_text(fut.exception())
                    outcome = TaskOutcome(area=opts.area, status="failed",
                                          out_dir=str(opts.out_dir), error=text, attempts=n)
                    log.warning("batch: %s failed after %d attempt(s): %s", opts.area, n, text)
                report.outcomes.append(outcome)
                if on_done:
                    on_done(outcome)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    report.seconds = round(time.perf_counter() - t0, 2)
    order = {a: i for i, a in enumerate(areas)}
    report.outcomes.sort(key=lambda o: order.get(o.area, len(order)))
    write_report(report, out_root)
    return report


REPORT_NAME = "batch_report.json"


def write_report(report: BatchReport, out_root: Path) -> Path:
    """Write ``<out_root>/batch_report.json`` (the folder is made: every ICS may have failed)."""
    Path(out_root).mkdir(parents=True, exist_ok=True)
    path = Path(out_root) / REPORT_NAME
    tmp = path.with_name(f".{REPORT_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2))
    tmp.replace(path)
    return path
