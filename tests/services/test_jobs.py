"""The job runner: run ids, caching, failures mapped to problems, bounds, fairness, cancel,
time limits and runs that survive a restart (SQLite), with real worker processes."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import psutil
import pytest
from healthgap.services.errors import BusyError, ClientBusyError, UnknownRunError
from healthgap.services.jobs import (
    KINDS,
    JobRunner,
    RunParams,
    StoreFrames,
    jsonable,
    register,
    run_id,
)
from healthgap.services.runstore import RunStore

from healthgap.errors import ParameterError

CALLS: list[dict[str, Any]] = []
GATE = threading.Event()


class _TestParams(RunParams):
    kind: Literal["t_ok", "t_param", "t_crash", "t_wait", "t_order"]
    x: int = 1


def _ok(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    CALLS.append(params)
    frames.progress(0.5, "half way")
    return {"double": params["x"] * 2, "nan": float("nan"), "arr": np.arange(3)}


def _param(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    raise ParameterError(f"x={params['x']}: allowed 1 to 3")


def _crash(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    CALLS.append(params)
    raise RuntimeError("disk /secret/place is on fire")


def _wait(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    GATE.wait(30)
    return {}


def _order(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    CALLS.append(params)
    GATE.wait(30)
    return {"x": params["x"]}


@pytest.fixture(autouse=True)
def kinds():
    names = {"t_ok": _ok, "t_param": _param, "t_crash": _crash, "t_wait": _wait,
             "t_order": _order}
    for name, fn in names.items():
        register(name, _TestParams, "test kind")(fn)
    CALLS.clear()
    GATE.clear()
    yield
    GATE.set()
    for name in names:
        KINDS.pop(name, None)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "runs.sqlite"


@pytest.fixture
def runner(db):
    r = JobRunner(RunStore(db, max_bytes=1 << 20), executor="thread", workers=2, per_client=2,
                  max_pending=3)
    yield r
    GATE.set()
    r.shutdown()


STORE = Path("unused.gpkg")


def test_run_id_depends_on_inputs_and_parameters_not_paths():
    base = dict(area="E54000034", inputs={"imd": "a" * 64}, version="0.1.0",
                build_parameters={"ring": 1, "data_dir": "/x", "out_dir": "/y"})
    rid = run_id("lisa", {"seed": 1}, **base)
    assert len(rid) == 32 and int(rid, 16) >= 0
    assert rid == run_id("lisa", {"seed": 1}, **base)
    moved = {**base, "build_parameters": {"ring": 1, "data_dir": "/elsewhere", "out_dir": "/z"}}
    assert rid == run_id("lisa", {"seed": 1}, **moved)
    assert rid != run_id("lisa", {"seed": 2}, **base)
    assert rid != run_id("moran", {"seed": 1}, **base)
    assert rid != run_id("lisa", {"seed": 1}, **{**base, "inputs": {"imd": "b" * 64}})
    assert rid != run_id("lisa", {"seed": 1}, **{**base, "build_parameters": {"ring": 2}})
    assert rid != run_id("lisa", {"seed": 1}, **{**base, "area": "E54000008"})


def _submit(r, kind, rid, client="c1", **params):
    return r.submit(kind, {"kind": kind, **params}, job_id=rid, area="E1", store_path=STORE,
                    client=client)


def test_same_id_runs_once_and_is_cached(runner):
    job = _submit(runner, "t_ok", "a" * 32, x=4)
    done = runner.wait(job.id)
    assert done.status == "succeeded" and done.progress == 1.0
    assert done.result == {"double": 8, "nan": None, "arr": [0, 1, 2]}
    again = _submit(runner, "t_ok", "a" * 32, x=4)
    assert again.id == done.id and again.result == done.result and len(CALLS) == 1
    assert done.started_utc <= done.finished_utc and done.duration_s >= 0


def test_parameter_error_is_a_422_and_not_retried(runner):
    job = runner.wait(_submit(runner, "t_param", "b" * 32, x=9).id)
    assert job.status == "failed" and job.error["status"] == 422 and not job.retryable
    assert job.error["detail"] == "x=9: allowed 1 to 3"
    assert _submit(runner, "t_param", "b" * 32, x=9).submitted_utc == job.submitted_utc


def test_internal_error_is_generic_logged_and_retried(runner, caplog):
    job = runner.wait(_submit(runner, "t_crash", "c" * 32).id)
    assert job.status == "failed" and job.error["status"] == 500 and job.retryable
    assert "secret" not in str(job.public()) and "fire" not in str(job.public())
    assert "c" * 32 in job.error["detail"]
    assert any("fire" in rec.getMessage() for rec in caplog.records)
    retry = _submit(runner, "t_crash", "c" * 32)
    assert retry.status == "queued"
    runner.wait(retry.id)
    assert len(CALLS) == 2


def test_per_client_and_global_caps(runner):
    for i in range(2):
        _submit(runner, "t_wait", f"{i:032d}", x=i)
    with pytest.raises(ClientBusyError, match="most one client may have is 2"):
        _submit(runner, "t_wait", "5" * 32, x=5)
    _submit(runner, "t_wait", "6" * 32, client="c2", x=6)  # another client still gets in
    with pytest.raises(BusyError, match="retry"):  # the service-wide cap (3)
        _submit(runner, "t_wait", "7" * 32, client="c3", x=7)
    GATE.set()
    for rid in ("0" * 32, f"{1:032d}", "6" * 32):
        assert runner.wait(rid).status == "succeeded"


def test_clients_take_turns(db):
    """One worker; client A queues three runs, then B one: B's runs before A's third."""
    r = JobRunner(RunStore(db, max_bytes=1 << 20), executor="thread", workers=1, per_client=4)
    try:
        _submit(r, "t_order", "1" * 32, client="A", x=1)
        t_end = time.monotonic() + 10
        while not CALLS and time.monotonic() < t_end:  # A1 is running, holding the worker
            time.sleep(0.01)
        _submit(r, "t_order", "2" * 32, client="A", x=2)
        _submit(r, "t_order", "3" * 32, client="A", x=3)
        _submit(r, "t_order", "4" * 32, client="B", x=4)
        GATE.set()
        for rid in ("1", "2", "3", "4"):
            assert r.wait(rid * 32).status == "succeeded"
        assert [c["x"] for c in CALLS] == [1, 2, 4, 3]
    finally:
        GATE.set()
        r.shutdown()


def test_results_bounded_in_bytes_least_recently_read_evicted(db):
    # each result {"double":2,"nan":null,"arr":[0,1,2]} is 37 bytes of JSON: two fit in 80
    r = JobRunner(RunStore(db, max_bytes=80), executor="thread", workers=1)
    try:
        ids = [f"{i:032x}" for i in range(4)]
        for rid in ids:
            r.wait(_submit(r, "t_ok", rid, x=1).id)
            assert r.store.result_bytes() <= 80
        assert len(r.get(ids[-1]).result_json) == 37
        with pytest.raises(UnknownRunError, match=ids[0]):
            r.get(ids[0])
        assert [j.id for j in r.jobs()] == ids[:1:-1]
    finally:
        r.shutdown()


def test_runs_survive_a_restart_and_interrupted_runs_say_so(db):
    r = JobRunner(RunStore(db, max_bytes=1 << 20), executor="thread", workers=1)
    r.wait(_submit(r, "t_ok", "a" * 32, x=21).id)
    _submit(r, "t_wait", "b" * 32)
    r.shutdown()  # b is still waiting on the gate: it is interrupted
    again = JobRunner(RunStore(db, max_bytes=1 << 20), executor="thread", workers=1)
    try:
        assert again.get("a" * 32).result["double"] == 42
        b = again.get("b" * 32)
        assert b.status == "failed" and b.retryable and b.error["status"] == 503
        GATE.set()
        rerun = _submit(again, "t_wait", "b" * 32)
        assert rerun.status == "queued"
        assert again.wait("b" * 32).status == "succeeded"
    finally:
        again.shutdown()


def test_unknown_kind_and_executor(db):
    store = RunStore(db, max_bytes=1000)
    with pytest.raises(ParameterError, match="allowed"):
        JobRunner(store, executor="fork")  # type: ignore[arg-type]
    r = JobRunner(store, executor="thread")
    with pytest.raises(ParameterError, match="t_ok"):
        r.submit("nope", {}, job_id="d" * 32, area="E1", store_path=STORE)
    r.shutdown()


def test_jsonable():
    frame = pd.DataFrame({"v": [1.5, np.nan]}, index=pd.Index(["E1", "E2"], name="code"))
    assert jsonable({"f": frame, "i": np.int64(3), "inf": math.inf, "t": (1, np.float32(2)),
                     "s": pd.Series({"a": 1})}) == {
        "f": [{"code": "E1", "v": 1.5}, {"code": "E2", "v": None}], "i": 3, "inf": None,
        "t": [1, 2.0], "s": {"a": 1}}


LISA_LONG = {"kind": "lisa", "level": "lsoa", "indicator": "imd_score", "permutations": 99_999,
             "weights": "queen", "k": 8, "bandwidth": None, "seed": 1, "alpha": 0.05,
             "correction": "fdr", "p_value": "folded"}


def _frimley(shared_data):
    from tests.services._api_helpers import FRIMLEY, frimley_root

    return FRIMLEY, frimley_root(shared_data) / FRIMLEY / "healthgap.gpkg"


def test_process_worker_runs_a_real_kind(shared_data, db):
    area, store = _frimley(shared_data)
    r = JobRunner(RunStore(db, max_bytes=1 << 24), executor="process", workers=1)
    try:
        params = {"kind": "sii", "indicator": "le_female", "deprivation": "imd_score",
                  "level": "msoa", "n_quantiles": 5, "repetitions": 1000, "confidence": 0.95,
                  "seed": 1}
        job = r.wait(r.submit("sii", params, job_id="e" * 32, area=area,
                              store_path=store).id, timeout=120)
        assert job.status == "succeeded", job.error
        assert job.result["params"]["n_quantiles"] == 5
        assert len(job.result["results"]["groups_"]) == 5
    finally:
        r.shutdown()


def _wait_running(r, rid, timeout=120):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        job = r.store.get(rid, with_result=False)
        if job.status == "running" and r.worker_pids():
            return job
        assert job.status in ("queued", "running"), job
        time.sleep(0.05)
    raise AssertionError("not running")


@pytest.mark.slow
def test_cancel_and_time_limit_kill_the_worker_process(shared_data, db):
    area, store = _frimley(shared_data)
    r = JobRunner(RunStore(db, max_bytes=1 << 24), executor="process", workers=1,
                  timeout_s=120.0)
    try:
        r.submit("lisa", LISA_LONG, job_id="f" * 32, area=area, store_path=store)
        _wait_running(r, "f" * 32)
        pid = r.worker_pids()[0]
        assert r.cancel("f" * 32).status == "running"
        job = r.wait("f" * 32, timeout=10)
        assert job.status == "cancelled" and job.error["title"] == "Cancelled"
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    finally:
        r.shutdown()
    assert not r.worker_pids()
    # the same run again under a limit far below its run time (a fresh worker alone takes
    # longer: imports and the numba kernels), so it must be stopped however fast the machine
    r = JobRunner(RunStore(db, max_bytes=1 << 24), executor="process", workers=1,
                  timeout_s=0.2)
    try:
        r.submit("lisa", LISA_LONG, job_id="f" * 32, area=area, store_path=store)
        job = r.wait("f" * 32, timeout=60)
        assert job.status == "failed" and job.error["status"] == 504 and job.retryable
        assert job.duration_s >= 0.2
    finally:
        r.shutdown()
    assert not r.worker_pids()


def test_defaults_above_a_limit_are_lowered_explicit_values_refused():
    from healthgap.services.kinds import MoranParams

    p = MoranParams(kind="moran").check_limits(max_permutations=99, max_repetitions=1000)
    assert p.permutations == 99
    with pytest.raises(ParameterError, match="permutations=500: this service allows at most 99"):
        MoranParams(kind="moran", permutations=500).check_limits(max_permutations=99,
                                                                 max_repetitions=1000)
    with pytest.raises(ValueError, match="seed=true: a number, not a boolean"):
        MoranParams(kind="moran", seed=True)
    with pytest.raises(ValueError, match="bandwidth=false"):
        MoranParams(kind="moran", bandwidth=False)
    assert MoranParams(kind="moran", k=5.0).k == 5  # JSON Schema's integer admits 5.0
