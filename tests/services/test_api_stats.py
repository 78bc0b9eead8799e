"""Stored statistics through the API: global rows, local (LISA) columns and model tables.

The store copy gets the tables a full build writes, computed here with esda so that what the
API serves can be checked against an independent value.
"""

from __future__ import annotations

import esda
import numpy as np
import pandas as pd
import pytest
from healthgap.services.api import create_app
from healthgap.services.settings import Settings
from healthgap.services.store import BuildStore
from libpysal.graph import Graph

from tests.services._api_helpers import FRIMLEY, TestClient, frimley_msoa_copy, frimley_root

B = f"/areas/{FRIMLEY}"


@pytest.fixture(scope="module")
def built(shared_data, tmp_path_factory):
    copy, store, msoa = frimley_msoa_copy(shared_data, tmp_path_factory.mktemp("stats"))
    m = msoa[(msoa["in_area"] == 1) & msoa["le_male"].notna()]
    g = Graph.build_contiguity(m.geometry, rook=False).transform("R")
    rows = []
    for ind in ("le_male", "imd_score"):
        mi = esda.Moran(m[ind].to_numpy(), g.to_W(), permutations=0)
        rows.append({"level": "msoa", "indicator": ind, "statistic": "moran_i", "value": mi.I,
                     "z": mi.z_rand, "p_value": mi.p_rand})
    store.write_layer("stats_global", pd.DataFrame(rows))
    # the build's naming: <family>_<indicator>[_p|_q|_z] on the level's layer
    lisa_m = esda.Moran_Local(m["le_male"].to_numpy(), g.to_W(), permutations=0)
    msoa["lisa_le_male_q"] = pd.Series(lisa_m.q, index=m.index)
    msoa["gi_le_male_z"] = np.nan
    store.write_layer("msoa", msoa)
    lsoa = store.read_layer("lsoa", index="lsoa_code")
    gl = Graph.build_contiguity(lsoa.geometry, rook=False).transform("R")
    lisa = esda.Moran_Local(lsoa["imd_score"].to_numpy(), gl.to_W(), permutations=0)
    lsoa["imd_score_lisa_i"] = lisa.Is
    lsoa["imd_score_lisa_quadrant"] = lisa.q
    store.write_layer("lsoa", lsoa)
    store.write_layer("inequality", pd.DataFrame(
        {"indicator": ["le_male", "le_female"], "level": ["msoa", "msoa"],
         "model": ["sii", "sii"], "sex": ["male", "female"], "value": [6.3, 4.9]}))
    s = Settings(store_root=copy, job_executor="thread")
    with TestClient(create_app(s)) as c:
        yield c, rows, pd.Series(lisa.Is, index=lsoa.index), lsoa


def test_stats_index_lists_what_is_stored(built):
    client, *_ = built
    body = client.get(f"{B}/stats").json()
    assert {"stats_global", "inequality"} <= {t["name"] for t in body["tables"]}
    assert "join_report" not in {t["name"] for t in body["tables"]}
    local = {(x["level"], x["indicator"]): x["columns"] for x in body["local"]}
    assert {"imd_score_lisa_i", "imd_score_lisa_quadrant"} <= set(local[("lsoa", "imd_score")])
    assert {"lisa_le_male_q", "gi_le_male_z"} <= set(local[("msoa", "le_male")])
    for cols in local.values():
        assert not {"le_male", "imd_score", "in_area", "le_male_suppressed"} & set(cols)


def test_global_rows_filtered(built):
    client, rows, *_ = built
    body = client.get(f"{B}/stats/global", params={"level": "msoa",
                                                    "indicator": "le_male"}).json()
    assert body["numberMatched"] == 1
    assert body["rows"][0]["value"] == pytest.approx(rows[0]["value"], rel=1e-12)
    assert body["filters"] == {"level": "msoa", "indicator": "le_male"}
    all_rows = client.get(f"{B}/stats/global").json()
    assert all_rows["numberMatched"] == 2
    r = client.get(f"{B}/stats/global", params={"indicator": "le_female"})
    assert r.status_code == 404 and "le_female" in r.json()["detail"]
    assert "imd_score" in r.json()["detail"]


def test_local_rows_are_inside_the_area(built):
    client, _, ref_is, lsoa = built
    body = client.get(f"{B}/stats/local", params={"level": "lsoa",
                                                   "indicator": "imd_score"}).json()
    got = pd.DataFrame(body["rows"]).set_index("lsoa_code")
    inside = lsoa.index[lsoa["in_area"] == 1]
    assert sorted(got.index) == sorted(inside) and body["numberMatched"] == 440
    np.testing.assert_allclose(got["imd_score_lisa_i"], ref_is[got.index], rtol=1e-12)
    body = client.get(f"{B}/stats/local", params={"level": "msoa",
                                                   "indicator": "le_male"}).json()
    assert body["numberMatched"] == 89
    assert {"msoa_code", "le_male", "lisa_le_male_q", "gi_le_male_z"} <= set(body["rows"][0])
    r = client.get(f"{B}/stats/local", params={"level": "msoa", "indicator": "population"})
    assert r.status_code == 404 and "lsoa/imd_score" in r.json()["detail"]


def test_model_table(built):
    client, *_ = built
    body = client.get(f"{B}/stats/tables/inequality", params={"indicator": "le_female"}).json()
    assert body["rows"] == [{"indicator": "le_female", "level": "msoa", "model": "sii",
                             "sex": "female", "value": 4.9}]
    assert client.get(f"{B}/stats/tables/inequality", params={"sex": "male"}).json()[
        "rows"][0]["value"] == 6.3
    r = client.get(f"{B}/stats/tables/lsoa")
    assert r.status_code == 404 and "inequality" in r.json()["detail"]
    r = client.get(f"{B}/stats/tables/inequality", params={"model": "theil"})
    assert r.status_code == 404 and "sii" in r.json()["detail"]


def test_statistics_of_a_real_build_match_esda(shared_data):
    """The untouched build: its stats_global and LISA columns, served, against esda."""
    root = frimley_root(shared_data)
    with TestClient(create_app(Settings(store_root=root, job_executor="thread"))) as c:
        r = c.get(f"{B}/stats/global", params={"level": "msoa", "indicator": "le_male",
                                                "statistic": "moran_i"})
        assert r.status_code == 200, r.text  # every build writes stats_global
        (row,) = r.json()["rows"]
        local = c.get(f"{B}/stats/local", params={"level": "msoa",
                                                   "indicator": "le_male"}).json()
    msoa = BuildStore(root / FRIMLEY).read_layer("msoa", index="msoa_code")
    m = msoa[(msoa["in_area"] == 1) & msoa["le_male"].notna()]
    g = Graph.build_contiguity(m.geometry, rook=False).transform("R")
    ref = esda.Moran(m["le_male"].to_numpy(), g.to_W(), permutations=0)
    assert row["value"] == pytest.approx(ref.I, rel=1e-9)
    assert row["z"] == pytest.approx(ref.z_rand, rel=1e-6)
    assert row["n"] == len(m)
    assert local["numberMatched"] == int((msoa["in_area"] == 1).sum())
    assert any(k.startswith("lisa_le_male") for k in local["rows"][0])
