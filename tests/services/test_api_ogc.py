"""OGC API - Features Parts 1 and 3 on a real Frimley build, in process (FastAPI's TestClient).

Expected feature sets are computed here from the build's GeoPackage read with geopandas, with
pandas masks and shapely predicates written in the test (independent of the API's query code,
which goes through pygeofilter and the layer's STRtree).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from healthgap.services._layers import KEY_INDEX, with_feature_ids
from healthgap.services.api import create_app
from healthgap.services.errors import redact_paths
from healthgap.services.settings import Settings
from shapely.geometry import box

from tests._names import neutral
from tests.services._api_helpers import FRIMLEY, TestClient, frimley_copy

C = f"/collections/{FRIMLEY}_lsoa"


@pytest.fixture(scope="module")
def root(shared_data, tmp_path_factory):
    return frimley_copy(shared_data, tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="module")
def client(root):
    s = Settings(store_root=root, job_executor="thread", default_page_size=1000,
                 max_page_size=1000)
    with TestClient(create_app(s)) as c:
        yield c


@pytest.fixture(scope="module")
def lsoa(root) -> gpd.GeoDataFrame:
    return neutral(gpd.read_file(root / FRIMLEY / "healthgap.gpkg", layer="lsoa", engine="pyogrio"))


def _ids(client, url: str, **params) -> list[str]:
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["numberReturned"] == len(body["features"])
    if "limit" not in params:
        assert body["numberMatched"] == body["numberReturned"]
    return [f["id"] for f in body["features"]]


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert not re.search(r"(?<![\w.:])/(tmp|home|work|srv|root)/", body["detail"]), body
    return body


# --------------------------------------------------------------------------- Part 1


def test_conformance_matches_the_served_openapi(client):
    classes = client.get("/conformance").json()["conformsTo"]
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert not [c for c in classes if c.endswith("/oas30")]
    assert {c.rsplit("/", 1)[1] for c in classes} >= {
        "core", "geojson", "crs", "queryables", "filter", "features-filter", "cql2-text",
        "cql2-json", "basic-cql2", "advanced-comparison-operators", "basic-spatial-functions"}
    desc = [lk for lk in client.get("/").json()["links"] if lk["rel"] == "service-desc"]
    assert desc[0]["type"].endswith("version=3.1")
    # typed schemas of the items and of one feature
    items = spec["paths"]["/collections/{collection}/items"]["get"]["responses"]["200"]
    assert items["content"]["application/geo+json"]["schema"]["$ref"].endswith(
        "/FeatureCollection")
    one = spec["paths"]["/collections/{collection}/items/{feature}"]["get"]["responses"]["200"]
    assert one["content"]["application/geo+json"]["schema"]["$ref"].endswith("/Feature")
    fc = spec["components"]["schemas"]["FeatureCollection"]
    assert {"numberMatched", "numberReturned", "features"} <= set(fc["properties"])


@pytest.mark.parametrize("digits", [15, 16, 17, 18])
def test_bbox_with_any_number_of_decimals(client, lsoa, digits):
    x0, y0, x1, y1 = -0.8, 51.25, -0.6, 51.45
    text = ",".join(f"{v:.{digits}f}" for v in (x0, y0, x1, y1))
    expected = sorted(lsoa.loc[lsoa.to_crs(4326).intersects(box(x0, y0, x1, y1)),
                               "lsoa_code"])
    assert 20 < len(expected) < len(lsoa)
    assert sorted(_ids(client, f"{C}/items", bbox=text)) == expected
    # an exponent is a valid float too
    assert sorted(_ids(client, f"{C}/items", bbox="-8e-1,5.125e1,-0.6,51.45")) == expected
    _problem(client.get(f"{C}/items", params={"bbox": "1e400,0,1,1"}), 400)


@pytest.mark.parametrize("url", [f"{C}/items?datetimex=1", f"{C}/items?junk=1&limit=5",
                                 f"{C}/items/E01016468?junk=1", "/collections?x=1",
                                 f"{C}?limit=3", "/?foo=bar", "/conformance?q=1",
                                 f"{C}/queryables?filter=x"])
def test_unknown_parameters_are_400_and_cache_nothing(client, url):
    state = client.app.state
    before = (state.services.responses.bytes, len(state.fast_lane.entries))
    body = _problem(client.get(url), 400)
    assert "unknown query parameter" in body["detail"]
    assert (state.services.responses.bytes, len(state.fast_lane.entries)) == before


def test_known_parameters_in_any_order_share_one_cache_entry(client):
    a = client.get(f"{C}/items", params=[("limit", "7"), ("offset", "3")])
    b = client.get(f"{C}/items", params=[("offset", "3"), ("limit", "7")])
    assert a.headers["etag"] == b.headers["etag"]


def test_datetime_is_known_but_refused_with_the_reason(client):
    body = _problem(client.get(f"{C}/items", params={"datetime": "2020-01-01T00:00:00Z"}), 400)
    assert "no time" in body["detail"]
    body = _problem(client.get(f"{C}/items", params={"datetime": "yesterday"}), 400)
    assert "RFC 3339" in body["detail"]


@pytest.mark.parametrize("url", ["/collections/nope", "/collections/E54000034_nope/items",
                                 "/collections/E54999999_lsoa", "/collections/" + "x" * 300,
                                 f"{C}/items/E01099999", f"{C}/items/" + "é" * 80,
                                 f"{C}/items/a~b~c"])
def test_unknown_collection_or_feature_is_404(client, url):
    _problem(client.get(url), 404)


def test_feature_ids_are_codes(client, root):
    nb = neutral(gpd.read_file(root / FRIMLEY / "healthgap.gpkg", layer="neighbourhood",
                       engine="pyogrio"))
    got = _ids(client, f"/collections/{FRIMLEY}_neighbourhood/items")
    assert got == sorted(nb["nbhd_cd"])
    one = client.get(f"/collections/{FRIMLEY}_neighbourhood/items/{got[3]}").json()
    assert one["id"] == got[3] and one["properties"]["nbhd_cd"] == got[3]


def test_facilities_and_cliffs_get_stable_ids():
    fac = pd.DataFrame({"row": [2, 0, 1], "code": ["Y1", "A9", "C3"], "name": list("abc")})
    assert list(with_feature_ids("facilities", fac).index) == ["Y1", "A9", "C3"]
    cliffs = pd.DataFrame({"sex": ["male", "female"], "rank": [1, 1],
                           "code_a": ["E01000001", "E01000001"],
                           "code_b": ["E01000002", "E01000002"]})
    out = with_feature_ids("cliffs", cliffs)
    assert out.index.name == KEY_INDEX
    assert list(out.index) == ["male~E01000001~E01000002", "female~E01000001~E01000002"]
    # reordering rows does not change any feature's id
    assert list(with_feature_ids("cliffs", cliffs.iloc[::-1]).index) == list(out.index[::-1])


def test_layer_paths_label_lon_lat_as_crs84(client):
    r = client.get(f"/areas/{FRIMLEY}/layers/msoa/items", params={"limit": 1})
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    lon, lat = np.ravel(r.json()["features"][0]["geometry"]["coordinates"][0])[:2]
    assert -2 < lon < 1 and 50 < lat < 52  # longitude first


# --------------------------------------------------------------------------- Part 3


def test_queryables_are_typed_from_the_layer(client, lsoa):
    q = client.get(f"{C}/queryables")
    assert q.headers["content-type"].startswith("application/schema+json")
    props = q.json()["properties"]
    assert props["lsoa_code"]["type"] == "string" and props["population"]["type"] == "number"
    assert props["in_area"]["type"] == "boolean"
    assert props["geometry"]["$ref"].endswith("Polygon.json")
    assert set(props) == {*lsoa.columns.drop("geometry"), "geometry"}
    links = client.get(C).json()["links"]
    assert any(lk["rel"].endswith("/queryables") for lk in links)


def _expected(lsoa: gpd.GeoDataFrame, mask) -> list[str]:
    return sorted(lsoa.loc[np.asarray(mask, dtype=bool), "lsoa_code"])


def test_cql2_text_operators_match_pandas(client, lsoa):
    pop, lad = lsoa["population"], lsoa["place_name"]
    cases = {
        "population > 2000 AND place_name LIKE 'Sl%'": (pop > 2000) & lad.str.startswith("Sl"),
        "population <= 1400 OR place_name = 'Hart'": (pop <= 1400) | (lad == "Hart"),
        "NOT (place_name <> 'Slough')": lad == "Slough",
        "place_name IN ('Slough', 'Bracknell Forest')": lad.isin(["Slough", "Bracknell Forest"]),
        "population BETWEEN 1500 AND 1600": pop.between(1500, 1600),
        "in_area = false": ~lsoa["in_area"].astype(bool),
        "imd_decile >= 9 AND in_area = true": (lsoa["imd_decile"] >= 9)
        & lsoa["in_area"].astype(bool),
        "lsoa_name LIKE '%001_'": lsoa["lsoa_name"].str.match(r"^.*001.$"),
    }
    for text, mask in cases.items():
        want = _expected(lsoa, mask)
        assert want, text
        assert sorted(_ids(client, f"{C}/items", filter=text)) == want, text
    # IS NULL: a column with gaps in the ring
    col = next(c for c in lsoa.columns if c != "geometry" and lsoa[c].isna().any()
               and lsoa[c].notna().any())
    assert sorted(_ids(client, f"{C}/items", filter=f"{col} IS NULL")) == \
        _expected(lsoa, lsoa[col].isna())
    assert sorted(_ids(client, f"{C}/items", filter=f"{col} IS NOT NULL")) == \
        _expected(lsoa, lsoa[col].notna())


def test_spatial_filters_text_and_json_match_shapely(client, lsoa):
    ll = lsoa.to_crs(4326)
    poly = box(-0.75, 51.3, -0.55, 51.42)
    want = _expected(lsoa, ll.intersects(poly))
    wkt = "POLYGON((-0.75 51.3,-0.55 51.3,-0.55 51.42,-0.75 51.42,-0.75 51.3))"
    assert sorted(_ids(client, f"{C}/items", filter=f"S_INTERSECTS(geometry,{wkt})")) == want
    as_json = {"op": "s_intersects", "args": [{"property": "geometry"},
                                              {"bbox": [-0.75, 51.3, -0.55, 51.42]}]}
    assert sorted(_ids(client, f"{C}/items", filter=json.dumps(as_json),
                       **{"filter-lang": "cql2-json"})) == want
    # in British National Grid, by filter-crs
    bng = gpd.GeoSeries([poly], crs=4326).to_crs(27700).iloc[0]
    want_bng = _expected(lsoa, lsoa.intersects(bng))
    got = _ids(client, f"{C}/items", filter=f"S_INTERSECTS(geometry,{bng.wkt})",
               **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/27700"})
    assert sorted(got) == want_bng
    # combined with a comparison and with bbox
    both = {"op": "and", "args": [as_json, {"op": ">", "args": [{"property": "population"},
                                                                  1800]}]}
    got = _ids(client, f"{C}/items", filter=json.dumps(both), bbox="-0.7,51.0,0.0,52.0",
               **{"filter-lang": "cql2-json"})
    assert sorted(got) == _expected(lsoa, ll.intersects(poly) & (lsoa["population"] > 1800)
                                    & ll.intersects(box(-0.7, 51.0, 0.0, 52.0)))


def test_property_equality_and_sortby(client, lsoa):
    assert sorted(_ids(client, f"{C}/items", place_name="Slough")) == \
        _expected(lsoa, lsoa["place_name"] == "Slough")
    assert sorted(_ids(client, f"{C}/items", in_area="false", place_name="Slough")) == \
        _expected(lsoa, (lsoa["place_name"] == "Slough") & ~lsoa["in_area"].astype(bool))
    got = _ids(client, f"{C}/items", sortby="-population,+lsoa_code", limit=25)
    want = lsoa.sort_values(["population", "lsoa_code"], ascending=[False, True])
    assert got == list(want["lsoa_code"][:25])
    page2 = _ids(client, f"{C}/items", sortby="-population,+lsoa_code", limit=25, offset=25)
    assert page2 == list(want["lsoa_code"][25:50])


@pytest.mark.parametrize("params,words", [
    ({"filter": "population >"}, "not valid"),
    ({"filter": "nosuch > 3"}, "unknown property 'nosuch'"),
    ({"filter": "place_name > 3"}, "cannot be applied"),
    ({"filter": "{", "filter-lang": "cql2-json"}, "not JSON"),
    ({"filter": "x", "filter-lang": "ecql"}, "filter-lang"),
    ({"filter-lang": "cql2-text"}, "without filter"),
    ({"sortby": "-nosuch"}, "sortby"),
    ({"population": "many"}, "a number"),
    ({"in_area": "maybe"}, "true or false"),
])
def test_bad_filters_are_400_naming_the_fault(client, params, words):
    body = _problem(client.get(f"{C}/items", params=params), 400)
    assert words in body["detail"], body["detail"]


# --------------------------------------------------------------------------- HTML


def test_html_views(client, lsoa):
    for url, headers in [("/?f=html", {}), ("/collections", {"Accept": "text/html,*/*"}),
                         (f"{C}?f=html", {}), (f"{C}/items?f=html&place_name=Hart", {}),
                         (f"{C}/items/E01016468", {"Accept": "text/html"})]:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, url
        assert r.headers["content-type"].startswith("text/html"), url
        assert r.text.startswith("<!doctype html>")
    page = client.get(f"{C}/items", params={"f": "html", "place_name": "Hart"}).text
    assert page.count("<tr>") - 1 == (lsoa["place_name"] == "Hart").sum()
    # JSON stays the default for clients that do not ask for HTML first
    assert client.get(C, headers={"Accept": "application/json"}).json()["id"].endswith("lsoa")


# --------------------------------------------------------------------------- errors


def test_whatif_is_checked_before_it_is_accepted_with_the_cli_message(client, root):
    r = client.post(f"/areas/{FRIMLEY}/runs", json={"kind": "whatif", "close": ["A81001"]})
    body = _problem(r, 422)
    assert "no facilities layer" in body["detail"]
    cli = subprocess.run([sys.executable, "-m", "healthgap.services.cli", "whatif", "--store",
                          str(root / FRIMLEY), "--close", "A81001", "--no-write"],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode != 0
    said = " ".join(cli.stderr.split())
    assert str(root) in said  # the CLI names the file in full, for its user
    assert " ".join(body["detail"].split()) in redact_paths(said)


def test_redact_paths_cuts_only_paths_of_this_machine(tmp_path):
    f = tmp_path / "healthgap.gpkg"
    f.write_text("x")
    assert redact_paths(f"{f}: no facilities layer") == "healthgap.gpkg: no facilities layer"
    assert redact_paths(f"see {tmp_path}/missing.csv.") == "see missing.csv."
    kept = "no endpoint at /collections/E54000034_lsoa/items; see /docs"
    assert redact_paths(kept) == kept
