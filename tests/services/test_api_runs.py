"""Model reruns through the API: lifecycle, caching by input hash, errors, and a server that keeps
answering while a run works. Results are checked against esda and statsmodels computed here."""

from __future__ import annotations

import time

import esda
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from healthgap.services.api import create_app
from healthgap.services.settings import Settings
from healthgap.services.store import BuildStore
from libpysal.graph import Graph

from tests.services._api_helpers import FRIMLEY, TestClient, frimley_msoa_copy

B = f"/areas/{FRIMLEY}"


@pytest.fixture(scope="module")
def root(shared_data, tmp_path_factory):
    # a copy with a travel-time column for the decay kind (distance to Frimley Park Hospital
    # at 30 km/h; a stand-in for the access stage's output)
    copy, store, msoa = frimley_msoa_copy(shared_data, tmp_path_factory.mktemp("runs"))
    km = np.hypot(msoa["pw_x"] - 487_000.0, msoa["pw_y"] - 158_000.0) / 1000.0
    msoa["drive_min"] = km / 30.0 * 60.0
    store.write_layer("msoa", msoa)
    return copy


@pytest.fixture(scope="module")
def client(root):
    s = Settings(store_root=root, job_executor="thread", job_workers=2, max_permutations=9999,
                 runs_per_client=16)
    with TestClient(create_app(s)) as c:
        yield c


def _problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


def _wait(client, url, timeout=120.0):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        body = client.get(url).json()
        assert 0.0 <= body["progress"] <= 1.0
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"run {url} not finished after {timeout} s")


def _msoa(root):
    m = BuildStore(root / FRIMLEY).read_layer("msoa", index="msoa_code")
    return m[m["in_area"] == 1]


def test_kinds_listed_with_schemas(client):
    kinds = {k["name"]: k for k in client.get("/runs/kinds").json()}
    assert {"sii", "moran", "lisa", "regression", "decay"} <= set(kinds)
    assert "permutations" in kinds["lisa"]["parameters"]["properties"]
    assert "bandwidth" in kinds["moran"]["parameters"]["properties"]


def test_moran_run_lifecycle_matches_esda(client, root):
    body = {"kind": "moran", "level": "msoa", "indicator": "le_male", "permutations": 199,
            "seed": 7}
    r = client.post(f"{B}/runs", json=body)
    assert r.status_code in (200, 202)
    run = r.json()
    assert len(run["id"]) == 32 and r.headers["location"].endswith(f"/runs/{run['id']}")
    done = _wait(client, r.headers["location"])
    assert done["status"] == "succeeded" and done["progress"] == 1.0, done
    stat = done["result"]["statistic"]

    # independent: esda on queen contiguity of the MSOAs inside the area with a value
    m = _msoa(root).dropna(subset=["le_male"])
    g = Graph.build_contiguity(m.geometry, rook=False).transform("R")
    ref = esda.Moran(m["le_male"].to_numpy(), g.to_W(), permutations=0)
    assert stat["n"] == len(m) == 88
    assert stat["value"] == pytest.approx(ref.I, rel=1e-10)
    assert stat["z"] == pytest.approx(ref.z_rand, rel=1e-8)
    assert stat["permutations"] == 199 and stat["seed"] == 7
    assert done["result"]["left_out_missing"] == ["E02006426"]  # suppressed LE

    # same request: same id, answered from memory with the same result
    again = client.post(f"{B}/runs", json=body)
    assert again.status_code == 200 and again.json()["id"] == run["id"]
    assert again.json()["result"] == done["result"]
    assert again.json()["submitted_utc"] == done["submitted_utc"]
    # another seed is another run
    other = client.post(f"{B}/runs", json={**body, "seed": 8}).json()
    assert other["id"] != run["id"]
    listed = [j["id"] for j in client.get(f"{B}/runs").json()["items"]]
    assert run["id"] in listed and other["id"] in listed


def test_lisa_run_matches_esda_local_values(client, root):
    r = client.post(f"{B}/runs", json={"kind": "lisa", "level": "msoa", "indicator": "imd_score",
                                       "permutations": 99})
    done = _wait(client, r.headers["location"])
    assert done["status"] == "succeeded", done
    areas = pd.DataFrame(done["result"]["areas"]).set_index("msoa_code")
    m = BuildStore(root / FRIMLEY).read_layer("msoa", index="msoa_code")
    # esda over every MSOA (the ring supplies neighbours), reported for those inside
    g = Graph.build_contiguity(m.geometry, rook=False).transform("R")
    ref = esda.Moran_Local(m["imd_score"].to_numpy(), g.to_W(), permutations=0)
    ref_is = pd.Series(ref.Is, index=m.index)
    inside = m.index[m["in_area"] == 1]
    assert sorted(areas.index) == sorted(inside)
    np.testing.assert_allclose(areas["Is"], ref_is[areas.index], rtol=1e-9)
    np.testing.assert_array_equal(areas["quadrant"], pd.Series(ref.q, index=m.index)[areas.index])
    labels = done["result"]["summary"]["labels"]
    assert sum(labels.values()) == len(inside)


def test_regression_run_matches_statsmodels(client, root):
    r = client.post(f"{B}/runs", json={"kind": "regression", "level": "msoa",
                                       "indicator": "le_female", "predictors": ["imd_score"]})
    done = _wait(client, r.headers["location"])
    assert done["status"] == "succeeded", done
    coefs = {c["variable"]: c for c in done["result"]["model"]["results"]["coefficients_"]}
    m = _msoa(root).dropna(subset=["le_female", "imd_score"])
    ols = sm.OLS(m["le_female"], sm.add_constant(m[["imd_score"]])).fit()
    assert coefs["imd_score"]["estimate"] == pytest.approx(ols.params["imd_score"], rel=1e-9)
    assert coefs["CONSTANT"]["estimate"] == pytest.approx(ols.params["const"], rel=1e-9)
    assert coefs["imd_score"]["std_error"] == pytest.approx(ols.bse["imd_score"], rel=1e-6)


def test_sii_and_decay_runs_match_geo(client, root):
    from healthgap.geo.gradients import DecayFit
    from healthgap.geo.inequality import SlopeIndex

    m = _msoa(root)
    r = client.post(f"{B}/runs", json={"kind": "sii", "repetitions": 2000, "seed": 3})
    done = _wait(client, r.headers["location"])
    ref = SlopeIndex(value="le_male", population="population", score="imd_score",
                     repetitions=2000, seed=3).fit(m)
    assert done["result"]["results"]["sii_"] == pytest.approx(ref.sii_, rel=1e-12)
    assert done["result"]["results"]["sii_ci_"] == pytest.approx(list(ref.sii_ci_), rel=1e-12)
    # the gap grows with deprivation: least deprived minus most deprived is positive years
    assert done["result"]["results"]["sii_"] > 0

    r = client.post(f"{B}/runs", json={"kind": "decay", "time": "drive_min",
                                       "forms": ["linear", "exponential"]})
    done = _wait(client, r.headers["location"])
    assert done["status"] == "succeeded", done
    ref = DecayFit(time="drive_min", value="le_male", forms=["linear", "exponential"],
                   weights="population").fit(m)
    assert done["result"]["results"]["best_form_"] == ref.best_form_
    assert done["result"]["results"]["theta_"] == pytest.approx(ref.theta_, rel=1e-9)


def test_bad_run_requests(client):
    body = _problem(client.post(f"{B}/runs", json={"kind": "nope"}), 422)
    assert "kind" in body["detail"]
    body = _problem(client.post(f"{B}/runs", json={"kind": "moran", "indicator": "lsoa_name",
                                                   "level": "lsoa"}), 422)
    assert "'lsoa_name'" in body["detail"] and "imd_score" in body["detail"]
    body = _problem(client.post(f"{B}/runs", json={"kind": "moran", "permutations": 50_000}),
                    422)
    assert "at most 9999" in body["detail"]
    body = _problem(client.post(f"{B}/runs", json={"kind": "moran", "surprise": 1}), 422)
    assert "surprise" in body["detail"]
    body = _problem(client.post(f"{B}/runs", json={"kind": "decay"}), 422)
    assert "time" in body["detail"]
    body = _problem(client.post(f"{B}/runs", json={"kind": "decay", "time": "no_such_column"}),
                    404)
    assert "no such column" in body["detail"]
    _problem(client.post("/areas/E54000099/runs", json={"kind": "moran"}), 404)
    # malformed JSON is a 400, as the OpenAPI document says; a boolean is not an integer
    _problem(client.post(f"{B}/runs", content=b"not json",
                         headers={"content-type": "application/json"}), 400)
    body = _problem(client.post(f"{B}/runs", json={"kind": "moran", "seed": False}), 422)
    assert "seed" in body["detail"]
    _problem(client.post(f"{B}/runs", json={"kind": "moran", "permutations": True}), 422)
    body = _problem(client.get("/runs/" + "0" * 32), 404)
    assert "0" * 32 in body["detail"]
    _problem(client.get("/runs/../../etc/passwd"), 404)
    _problem(client.get("/runs/XYZ"), 422)


def test_failed_run_reports_problem(client):
    # a constant indicator cannot have a Moran's I: the run fails with a 4xx problem
    r = client.post(f"{B}/runs", json={"kind": "moran", "level": "msoa",
                                       "indicator": "imd_score_coverage", "permutations": 9})
    done = _wait(client, r.headers["location"])
    assert done["status"] == "failed" and done["result"] is None
    assert done["error"]["status"] == 422 and "imd_score_coverage" in done["error"]["detail"]


def test_server_answers_while_a_run_works(root):
    """A long LISA in a worker process: GETs keep answering while it is queued or running."""
    s = Settings(store_root=root, job_executor="process", job_workers=1)
    with TestClient(create_app(s)) as c:
        r = c.post(f"{B}/runs", json={"kind": "lisa", "level": "lsoa",
                                      "indicator": "imd_score", "permutations": 99_999})
        url = r.headers["location"]
        answered_during_run = 0
        statuses = set()
        t_end = time.monotonic() + 300
        while time.monotonic() < t_end:
            run = c.get(url).json()
            statuses.add(run["status"])
            if run["status"] in ("succeeded", "failed"):
                break
            layer = c.get(f"{B}/layers/msoa/items", params={"limit": 5})
            assert layer.status_code == 200
            if c.get(url).json()["status"] in ("queued", "running"):
                answered_during_run += 1
            time.sleep(0.05)
        assert run["status"] == "succeeded", run
        assert "running" in statuses
        assert answered_during_run >= 3
        assert run["result"]["summary"]["permutations"] == 99_999
