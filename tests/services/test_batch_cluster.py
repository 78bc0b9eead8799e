"""Batch on an external Dask cluster (issue #28): `dask scheduler` and `dask worker` processes
started in other folders, a client with relative paths, attempts counted per batch, the report
written when every area fails, and bad options refused before anything is scheduled.

The three areas are the three smallest local authorities by LSOA count in the ONS lookup
(E06000053 Isles of Scilly: 1; E09000001 City of London: 6; E06000017 Rutland: 23), built without
access, models and maps: a batch builds any area the build accepts as it builds an ICS, and what
is tested here is the cluster, the paths and the attempts, not the size of the area.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from healthgap.data.layout import DataDir
from healthgap.services.batch import REPORT_NAME, run_batch
from healthgap.services.build import BuildOptions, load_hierarchy
from healthgap.services.store import check_build

from tests.services._processes import read_only_dir

SMALLEST = ["E06000053", "E09000001", "E06000017"]
DASK = Path(sys.executable).with_name("dask")


def test_the_three_smallest_local_authorities_by_lsoa_count(shared_data):
    areas = load_hierarchy(DataDir(shared_data)).areas("lad").sort_values(
        ["n_lsoa"], kind="stable")
    assert list(areas.index[:3]) == SMALLEST
    assert list(areas["n_lsoa"][:3]) == [1, 6, 23]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and one worker process on 127.0.0.1, each started in its own folder."""
    if not DASK.is_file():
        pytest.fail(f"{DASK}: the dask command line is not installed")
    root = tmp_path_factory.mktemp("cluster")
    (root / "scheduler").mkdir()
    (root / "worker").mkdir()
    info = root / "scheduler" / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    # the scheduler serves its health and metrics pages over HTTP even without a dashboard, on
    # port 8787 unless told otherwise: a free port here, so a LocalCluster started at the same
    # time by another test (test_batch.py) does not find 8787 taken and warn (an error here)
    sched = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                              "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                              "--scheduler-file", str(info)],
                             cwd=root / "scheduler", env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    procs = [sched]
    try:
        deadline = time.monotonic() + 60
        while not info.is_file() or not info.read_text().strip():
            assert sched.poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start in 60 s"
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        worker = subprocess.Popen([str(DASK), "worker", address, "--nworkers", "1",
                                   "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                                   "--local-directory", str(root / "worker")],
                                  cwd=root / "worker", env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(worker)
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address, root
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.mark.slow
def test_relative_paths_build_three_areas_on_an_external_cluster(cluster, shared_data,
                                                                tmp_path, monkeypatch):
    address, root = cluster
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    monkeypatch.chdir(client_dir)  # the client's folder: neither the scheduler's nor the worker's
    (client_dir / "mydata").symlink_to(shared_data)  # found from here, not from the workers
    data = Path("mydata")
    assert not (root / "worker" / data).exists()
    template = BuildOptions(area="", data_dir=data, out_dir=Path("out"), access=False,
                            models=False, maps=False)
    report = run_batch(SMALLEST, data_dir=data, out_root=Path("out"), template=template,
                       scheduler=address, retries=0)
    assert [(o.area, o.status, o.attempts) for o in report.outcomes] == [
        (a, "built", 1) for a in SMALLEST], [o.error for o in report.outcomes]
    for code in SMALLEST:  # written where the client asked, not in the worker's folder
        assert check_build(client_dir / "out" / code.lower()) == []
    assert not list((root / "worker").rglob("healthgap.gpkg"))
    saved = json.loads((client_dir / "out" / REPORT_NAME).read_text())
    assert [o["status"] for o in saved["outcomes"]] == ["built"] * 3
    assert saved["scheduler"] == address

    # the same area again on the same scheduler: attempts are this batch's, not a running total
    again = run_batch(SMALLEST[:1], data_dir=data, out_root=Path("out"), template=template,
                      scheduler=address, retries=0, force=True)
    assert [(o.status, o.attempts) for o in again.outcomes] == [("built", 1)]


@pytest.mark.slow
def test_report_is_written_when_every_area_fails(cluster, shared_data, tmp_path):
    address, _ = cluster
    out = tmp_path / "none-built"
    # a bad option reaching the workers (the command line refuses it; the API does not)
    template = BuildOptions(area="", data_dir=shared_data, out_dir=out, weights="nonsense",
                            access=False, models=False, maps=False)
    report = run_batch(SMALLEST[:2], data_dir=shared_data, out_root=out, template=template,
                       scheduler=address, retries=1)
    assert [(o.status, o.attempts) for o in report.outcomes] == [("failed", 2)] * 2
    saved = json.loads((out / REPORT_NAME).read_text())
    assert [o["status"] for o in saved["outcomes"]] == ["failed", "failed"]
    assert "--weights 'nonsense'" in saved["outcomes"][0]["error"]


def _batch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "healthgap.services.cli", "batch", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.mark.parametrize(("args", "expected"), [
    (["--workers", "0"], "--workers 0: a whole number >= 1"),
    (["--retries", "-1"], "--retries -1: a whole number >= 0"),
    (["--scheduler", "nonsense"], "--scheduler 'nonsense': an address like tcp://host:8786"),
    (["--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "2"],
     "--scheduler tcp://127.0.0.1:9: no Dask scheduler answered within 2 s"),
    (["--scheduler-timeout", "0"], "--scheduler-timeout 0.0: seconds, above 0"),
])
def test_bad_options_are_refused_before_scheduling(args, expected, shared_data, tmp_path):
    t0 = time.monotonic()
    run = _batch("--icbs", SMALLEST[0], "--data", str(shared_data), "--out",
                 str(tmp_path / "out"), *args, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert expected in " ".join(run.stderr.split())
    assert not (tmp_path / "out" / SMALLEST[0].lower()).exists()
    assert time.monotonic() - t0 < 60


def test_unwritable_out_is_refused_before_scheduling(shared_data, tmp_path):
    with read_only_dir(tmp_path / "ro") as ro:
        run = _batch("--icbs", SMALLEST[0], "--data", str(shared_data), "--out",
                     str(ro / "out"), cwd=tmp_path)
    shutil.rmtree(ro, ignore_errors=True)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert f"--out {ro / 'out'}: cannot write into {ro}" in " ".join(run.stderr.split())
