"""Build many ICS atlases as tasks on Dask distributed.

Each ICB is one task (its own edge ring, its own store). A LocalCluster is started by default;
``scheduler="tcp://host:port"`` uses an existing cluster. A failing ICB is retried, then reported,
without losing the others; an ICB whose inputs and parameters have not changed since its last
successful build is not rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from healthgap.data._checksum import sha256_file
from healthgap.data.layout import LAYOUT, DataDir
from healthgap.services.build import BuildOptions, build, package_versions

log = logging.getLogger(__name__)

FINGERPRINT_FILE = "fingerprint.json"
ATTEMPTS_FILE = "attempts.log"


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


def _up_to_date(out_dir: Path, fp: str) -> bool:
    f = out_dir / FINGERPRINT_FILE
    if not (f.is_file() and (out_dir / "healthgap.gpkg").is_file()):
        return False
    try:
        return json.loads(f.read_text()).get("fingerprint") == fp
    except (json.JSONDecodeError, OSError):
        return False


def build_one(options: BuildOptions, fp: str) -> TaskOutcome:
    """Build one area (runs on a Dask worker); raise on failure so that Dask retries it."""
    out = Path(options.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ATTEMPTS_FILE, "a") as f:
        f.write(f"{time.time():.3f}\n")
    t0 = time.perf_counter()
    build(options)
    (out / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": fp, "area": options.area}))
    attempts = len((out / ATTEMPTS_FILE).read_text().split())
    return TaskOutcome(area=options.area, status="built", out_dir=str(out),
                       seconds=round(time.perf_counter() - t0, 2), attempts=attempts)


def run_batch(areas: list[str], *, data_dir: Path, out_root: Path,
              template: BuildOptions | None = None, scheduler: str | None = None,
              n_workers: int = 2, retries: int = 1, force: bool = False,
              on_done: Callable[[TaskOutcome], None] | None = None) -> BatchReport:
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
    """
    from distributed import Client, LocalCluster, as_completed

    t0 = time.perf_counter()
    data = DataDir(Path(data_dir))
    hashes = input_hashes(data)
    base = template or BuildOptions(area="", data_dir=Path(data_dir), out_dir=Path(out_root))
    report = BatchReport()
    todo: list[tuple[BuildOptions, str]] = []
    for code in areas:
        opts = replace(base, area=code, data_dir=Path(data_dir),
                       out_dir=Path(out_root) / code.lower())
        fp = fingerprint(opts, hashes)
        if not force and _up_to_date(Path(opts.out_dir), fp):
            outcome = TaskOutcome(area=code, status="skipped", out_dir=str(opts.out_dir))
            report.outcomes.append(outcome)
            if on_done:
                on_done(outcome)
            continue
        attempts = Path(opts.out_dir) / ATTEMPTS_FILE
        if attempts.exists():
            attempts.unlink()
        todo.append((opts, fp))
    if todo:
        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, host="127.0.0.1")
            client = Client(cluster)
        report.scheduler = str(client.scheduler.address)
        try:
            futures = {client.submit(build_one, opts, fp, retries=retries, pure=False,
                                     key=f"build-{opts.area}-{fp[:12]}"): opts
                       for opts, fp in todo}
            for fut in as_completed(futures):
                opts = futures[fut]
                if fut.status == "finished":
                    outcome = fut.result()
                else:
                    exc = fut.exception()
                    attempts_file = Path(opts.out_dir) / ATTEMPTS_FILE
                    n = (len(attempts_file.read_text().split())
                         if attempts_file.exists() else 0)
                    tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                    outcome = TaskOutcome(area=opts.area, status="failed",
                                          out_dir=str(opts.out_dir), error=tb, attempts=n)
                    log.warning("batch: %s failed after %d attempt(s): %s", opts.area, n, tb)
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
    return report
