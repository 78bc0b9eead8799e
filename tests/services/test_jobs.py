"""The job runner: run ids, caching, failures mapped to problems, bounds, progress."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from healthgap.services.errors import BusyError, UnknownRunError
from healthgap.services.jobs import (
    KINDS,
    JobRunner,
    RunParams,
    StoreFrames,
    jsonable,
    register,
    run_id,
)

from healthgap.errors import ParameterError

CALLS: list[dict[str, Any]] = []
GATE = threading.Event()


class _TestParams(RunParams):
    kind: Literal["t_ok", "t_param", "t_crash", "t_wait"]
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


@pytest.fixture(autouse=True)
def kinds():
    names = {"t_ok": _ok, "t_param": _param, "t_crash": _crash, "t_wait": _wait}
    for name, fn in names.items():
        register(name, _TestParams, "test kind")(fn)
    CALLS.clear()
    GATE.clear()
    yield
    GATE.set()
    for name in names:
        KINDS.pop(name, None)


@pytest.fixture
def runner():
    r = JobRunner(executor="thread", workers=2, cache_size=3, max_pending=2)
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


def test_same_id_runs_once_and_is_cached(runner):
    job = runner.submit("t_ok", {"kind": "t_ok", "x": 4}, job_id="a" * 32, area="E1",
                        store_path=STORE)
    done = runner.wait(job.id)
    assert done.status == "succeeded" and done.progress == 1.0
    assert done.result == {"double": 8, "nan": None, "arr": [0, 1, 2]}
    again = runner.submit("t_ok", {"kind": "t_ok", "x": 4}, job_id="a" * 32, area="E1",
                          store_path=STORE)
    assert again is done and len(CALLS) == 1
    assert done.started_utc <= done.finished_utc and done.duration_s >= 0


def test_parameter_error_is_a_422_and_not_retried(runner):
    job = runner.wait(runner.submit("t_param", {"kind": "t_param", "x": 9}, job_id="b" * 32,
                                    area="E1", store_path=STORE).id)
    assert job.status == "failed" and job.error["status"] == 422
    assert job.error["detail"] == "x=9: allowed 1 to 3"
    assert runner.submit("t_param", {"kind": "t_param", "x": 9}, job_id="b" * 32, area="E1",
                         store_path=STORE) is job


def test_internal_error_is_generic_logged_and_retried(runner, caplog):
    job = runner.wait(runner.submit("t_crash", {"kind": "t_crash"}, job_id="c" * 32,
                                    area="E1", store_path=STORE).id)
    assert job.status == "failed" and job.error["status"] == 500
    assert "secret" not in str(job.public()) and "fire" not in str(job.public())
    assert "c" * 32 in job.error["detail"]
    assert any("fire" in rec.getMessage() for rec in caplog.records)
    retry = runner.submit("t_crash", {"kind": "t_crash"}, job_id="c" * 32, area="E1",
                          store_path=STORE)
    assert retry is not job
    runner.wait(retry.id)
    assert len(CALLS) == 2


def test_queue_is_bounded(runner):
    for i in range(2):
        runner.submit("t_wait", {"kind": "t_wait", "x": i}, job_id=f"{i:032d}", area="E1",
                      store_path=STORE)
    with pytest.raises(BusyError, match="retry"):
        runner.submit("t_wait", {"kind": "t_wait", "x": 5}, job_id="5" * 32, area="E1",
                      store_path=STORE)
    GATE.set()
    for i in range(2):
        assert runner.wait(f"{i:032d}").status == "succeeded"


def test_finished_jobs_are_forgotten_oldest_first(runner):
    ids = [f"{i:032x}" for i in range(5)]
    for rid in ids:
        runner.wait(runner.submit("t_ok", {"kind": "t_ok"}, job_id=rid, area="E1",
                                  store_path=STORE).id)
    with pytest.raises(UnknownRunError, match=ids[0]):
        runner.get(ids[0])
    assert [j.id for j in runner.jobs()] == ids[:1:-1]


def test_unknown_kind_and_executor():
    with pytest.raises(ParameterError, match="allowed"):
        JobRunner(executor="fork")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="t_ok"):
        JobRunner(executor="thread").submit("nope", {}, job_id="d" * 32, area="E1",
                                            store_path=STORE)


def test_jsonable():
    frame = pd.DataFrame({"v": [1.5, np.nan]}, index=pd.Index(["E1", "E2"], name="code"))
    assert jsonable({"f": frame, "i": np.int64(3), "inf": math.inf, "t": (1, np.float32(2)),
                     "s": pd.Series({"a": 1})}) == {
        "f": [{"code": "E1", "v": 1.5}, {"code": "E2", "v": None}], "i": 3, "inf": None,
        "t": [1, 2.0], "s": {"a": 1}}


def test_process_pool_runs_a_real_kind(shared_data):
    from tests.services._api_helpers import FRIMLEY, frimley_root

    store = frimley_root(shared_data) / FRIMLEY / "healthgap.gpkg"
    r = JobRunner(executor="process", workers=1)
    try:
        params = {"kind": "sii", "indicator": "le_female", "deprivation": "imd_score",
                  "level": "msoa", "n_quantiles": 5, "repetitions": 1000, "confidence": 0.95,
                  "seed": 1}
        job = r.wait(r.submit("sii", params, job_id="e" * 32, area=FRIMLEY,
                              store_path=store).id, timeout=120)
        assert job.status == "succeeded", job.error
        assert job.result["params"]["n_quantiles"] == 5
        assert len(job.result["results"]["groups_"]) == 5
    finally:
        r.shutdown()
