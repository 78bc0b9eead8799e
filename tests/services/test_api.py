"""The HTTP API on a real Frimley build: areas, layers (GeoJSON, CSV), paging, ETags, gzip,
CRS, bbox, simplification, errors and path traversal.

Expected values come from the ONS lookups read with pandas, and from the store read with
geopandas and reprojected/filtered with pyproj/shapely in the test (independent of the API's
own code paths).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from healthgap.geo.indicators import INDICATORS
from healthgap.services.api import create_app
from healthgap.services.settings import Settings
from healthgap.services.store import BuildStore
from shapely.geometry import box, shape

from tests._names import neutral
from tests.services._api_helpers import FRIMLEY, TestClient, frimley_copy

B = f"/areas/{FRIMLEY}"


@pytest.fixture(scope="module")
def root(shared_data, tmp_path_factory) -> Path:
    return frimley_copy(shared_data, tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="module")
def settings(root) -> Settings:
    return Settings(store_root=root, job_executor="thread", default_page_size=200,
                    max_page_size=300, max_table_rows=1000)


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def store(root) -> BuildStore:
    return BuildStore(root / FRIMLEY)


@pytest.fixture(scope="module")
def lookups(shared_data) -> pd.DataFrame:
    geo = shared_data / "geography"
    lk = neutral(pd.read_csv(geo / "lsoa11_msoa11_lad22_lookup_ew.csv", index_col="lsoa11cd"))
    icb = neutral(pd.read_csv(geo / "lsoa11_sicbl22_icb22_ltla22_lookup_england.csv",
                      index_col="lsoa11_code"))
    return lk.join(icb[["sicbl22_code", "icb22_code"]], how="inner")


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert {"type", "title", "status", "detail", "instance", "request_id"} <= set(body)
    assert body["status"] == status
    assert r.headers["x-request-id"] == body["request_id"]
    # no error names a path of the server's machine (issue #26)
    assert not re.search(r"(?<![\w.:])/(tmp|home|work|srv|root|var)/", json.dumps(body)), body
    return body


def _all_items(client, url: str, **params) -> tuple[list[dict], int]:
    """Follow ``next`` links; return the features and the number of pages."""
    features, pages = [], 0
    r = client.get(url, params=params)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        features += body["features"]
        pages += 1
        nxt = [lk["href"] for lk in body["links"] if lk["rel"] == "next"]
        if not nxt:
            assert "next" not in r.headers.get("link", "")
            return features, pages
        assert f'<{nxt[0]}>; rel="next"' in r.headers["link"]
        r = client.get(nxt[0])


# --------------------------------------------------------------------------- areas


def test_list_builds_and_health(client):
    r = client.get("/areas")
    assert r.status_code == 200
    (only,) = r.json()
    assert only["code"] == FRIMLEY and only["level"] == "icb" and only["role"] == "system"
    assert only["synthetic"] is False and "Frimley" in only["name"]
    assert {lk["rel"] for lk in only["links"]} >= {"self", "layers", "places", "maps", "stats"}
    assert client.get("/health").json() == {"status": "ok", "builds": 1}


def test_system_children_are_its_places(client, lookups):
    body = client.get(B).json()
    inside = lookups[lookups["icb22_code"] == FRIMLEY]
    assert body["level"] == "icb" and body["in_area"] is True and body["parents"] == []
    assert [c["code"] for c in body["children"]] == sorted(inside["place_code"].unique())
    assert all(c["role"] == "place" for c in body["children"])
    places = client.get(f"{B}/places").json()
    assert [p["code"] for p in places["items"]] == sorted(inside["place_code"].unique())


def test_place_msoa_lsoa_family_matches_lookups(client, lookups):
    inside = lookups[lookups["icb22_code"] == FRIMLEY]
    place = "E06000036"  # Bracknell Forest
    body = client.get(f"/areas/{place}").json()
    assert body["level"] == "lad" and body["name"] == "Bracknell Forest"
    assert body["build"] == FRIMLEY
    assert [c["code"] for c in body["children"]] == sorted(
        inside.loc[inside["place_code"] == place, "msoa_code"].unique())
    assert {p["level"]: p["code"] for p in body["parents"]} == {
        "sicb": inside.loc[inside["place_code"] == place, "sicbl22_code"].iloc[0],
        "icb": FRIMLEY}

    msoa = inside.loc[inside["place_code"] == place, "msoa_code"].iloc[0]
    body = client.get(f"/areas/{msoa}").json()
    assert body["level"] == "msoa"
    assert [c["code"] for c in body["children"]] == sorted(inside.index[inside["msoa_code"]
                                                                        == msoa])
    assert {p["level"] for p in body["parents"]} == {"lad", "sicb", "icb"}

    lsoa = inside.index[inside["msoa_code"] == msoa][0]
    body = client.get(f"/areas/{lsoa}").json()
    row = inside.loc[lsoa]
    assert body["children"] == [] and body["in_area"] is True
    assert {p["level"]: p["code"] for p in body["parents"]} == {
        "msoa": row["msoa_code"], "lad": row["place_code"], "sicb": row["sicbl22_code"],
        "icb": FRIMLEY}


def test_ring_lsoa_is_flagged_outside(client, store):
    lsoa = store.read_layer("lsoa", index="lsoa_code")
    ring_code = lsoa.index[lsoa["in_area"] == 0][0]
    body = client.get(f"/areas/{ring_code}").json()
    assert body["in_area"] is False and body["build"] == FRIMLEY


def test_neighbourhoods_paged_with_links(client, lookups):
    inside = lookups[lookups["icb22_code"] == FRIMLEY]
    codes, url = [], f"{B}/neighbourhoods?level=msoa&limit=25"
    while url:
        r = client.get(url)
        body = r.json()
        assert body["numberReturned"] == len(body["items"]) <= 25
        codes += [i["code"] for i in body["items"]]
        url = next((lk["href"] for lk in body["links"] if lk["rel"] == "next"), None)
    assert codes == sorted(inside["msoa_code"].unique()) and len(codes) == 89
    lsoas = client.get(f"{B}/neighbourhoods", params={"level": "lsoa", "place": "E06000039",
                                                      "limit": 300}).json()
    assert {i["code"] for i in lsoas["items"]} == set(inside.index[inside["place_code"]
                                                                   == "E06000039"])
    assert client.get(f"{B}/neighbourhoods", params={"level": "lsoa", "ring": True,
                                                     "limit": 1}).json()["numberMatched"] > 440


def test_unknown_areas_are_404_naming_them(client):
    body = _problem(client.get("/areas/E54000099"), 404)
    assert "E54000099" in body["detail"] and FRIMLEY in body["detail"]
    body = _problem(client.get("/areas/E54000099/layers"), 404)
    assert "E54000099" in body["detail"] and body["type"].endswith("unknown-area")
    body = _problem(client.get("/areas/E01999999"), 404)
    assert "E01999999" in body["detail"]
    body = _problem(client.get("/areas/not-a-code"), 422)
    assert "area" in body["detail"]


# --------------------------------------------------------------------------- layers


def test_layers_list_fields_units_sources(client):
    layers = {lay["name"]: lay for lay in client.get(f"{B}/layers").json()}
    assert {"lsoa", "msoa", "place", "system", "join_report"} <= set(layers)
    assert "manifest" not in layers
    assert layers["lsoa"]["kind"] == "features" and layers["join_report"]["kind"] == "table"
    fields = {f["name"]: f for f in layers["msoa"]["fields"]}
    for name in ("le_male", "imd_score", "population"):
        ind = INDICATORS[name]
        assert (fields[name]["label"], fields[name]["units"], fields[name]["source"]) == (
            ind.label, ind.units, ind.source)
    lon0, lat0, lon1, lat1 = layers["lsoa"]["bbox_4326"]
    assert -1.5 < lon0 < lon1 < 0 and 51 < lat0 < lat1 < 52  # Berkshire / Surrey / Hampshire
    one = client.get(f"{B}/layers/msoa").json()
    assert one == layers["msoa"]
    _problem(client.get(f"{B}/layers/nope"), 404)


def test_geojson_default_4326_matches_store(client, store):
    feats, pages = _all_items(client, f"{B}/layers/lsoa/items")
    assert pages == 3  # 440 in-area LSOAs, 200 per page by default here
    lsoa = store.read_layer("lsoa", index="lsoa_code")
    inside = lsoa[lsoa["in_area"] == 1].to_crs("EPSG:4326")
    assert [f["id"] for f in feats] == sorted(inside.index)
    by_id = {f["id"]: f for f in feats}
    for code in inside.index[::37]:
        g = shape(by_id[code]["geometry"])
        ref = inside.geometry[code]
        # same polygon to within the rounding to 6 decimals (no vertex moves > 0.71e-6 deg)
        assert g.hausdorff_distance(ref) < 1e-6
        assert by_id[code]["properties"]["imd_score"] == pytest.approx(
            inside.at[code, "imd_score"])
        assert by_id[code]["properties"]["in_area"] is True
    r = client.get(f"{B}/layers/lsoa/items", params={"limit": 1})
    assert r.headers["content-type"] == "application/geo+json"
    assert "crs" not in r.json()


def test_ring_included_on_request(client, store):
    lsoa = store.read_layer("lsoa", index="lsoa_code")
    body = client.get(f"{B}/layers/lsoa/items", params={"ring": True, "limit": 1}).json()
    assert body["numberMatched"] == len(lsoa) > 440


def test_geojson_27700_has_crs_member(client, store):
    r = client.get(f"{B}/layers/msoa/items", params={"crs": "EPSG:27700", "limit": 300})
    body = r.json()
    assert body["crs"] == {"type": "name",
                           "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/27700>"
    msoa = store.read_layer("msoa", index="msoa_code")
    for f in body["features"][::10]:
        ref = msoa.geometry[f["id"]]
        g = shape(f["geometry"])
        assert g.hausdorff_distance(ref) < 0.1  # metres: rounding to 0.1 m
        assert ref.bounds[0] > 400_000  # metres, not degrees


def test_bbox_filter_in_both_crs(client, store):
    lsoa = store.read_layer("lsoa", index="lsoa_code")
    inside = lsoa[lsoa["in_area"] == 1]
    wgs = inside.to_crs("EPSG:4326")
    bb = (-0.8, 51.3, -0.7, 51.4)
    expected = set(wgs.index[wgs.intersects(box(*bb))])
    assert 10 < len(expected) < 440
    got, _ = _all_items(client, f"{B}/layers/lsoa/items", bbox=",".join(map(str, bb)))
    assert {f["id"] for f in got} == expected

    bng = (480_000.0, 150_000.0, 490_000.0, 160_000.0)
    expected = set(inside.index[inside.intersects(box(*bng))])
    assert 5 < len(expected) < 440
    got, _ = _all_items(client, f"{B}/layers/lsoa/items", crs="EPSG:27700",
                        bbox=",".join(map(str, bng)))
    assert {f["id"] for f in got} == expected
    # a BNG box with 4326 output
    got, _ = _all_items(client, f"{B}/layers/lsoa/items", bbox=",".join(map(str, bng)),
                        **{"bbox-crs": "EPSG:27700"})
    assert {f["id"] for f in got} == expected
    assert all(abs(c) < 90 for c in np.ravel(got[0]["geometry"]["coordinates"][0]))


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "-0.8,51,nan,52", "1e400,0,1,1",
                                  "+.67552837e+0450097,0,1,1",  # found by schemathesis
                                  "1" + "0" * 400 + ",0,1,1"])
def test_bad_bbox_is_422_naming_it(client, bbox):
    body = _problem(client.get(f"{B}/layers/lsoa/items", params={"bbox": bbox}), 422)
    assert "bbox" in body["detail"]
    spec = client.get("/openapi.json").json()
    params = spec["paths"]["/areas/{area}/layers/{layer}/items"]["get"]["parameters"]
    assert "pattern" in json.dumps([p for p in params if p["name"] == "bbox"])


@pytest.mark.parametrize("bbox,crs", [("0,0,0,0", "EPSG:4326"), ("-0.5,52,-0.9,51", "EPSG:4326"),
                                      ("490000,160000,480000,170000", "EPSG:27700")])
def test_a_box_that_covers_nothing_selects_nothing(client, bbox, crs):
    body = client.get(f"{B}/layers/lsoa/items", params={"bbox": bbox, "bbox-crs": crs}).json()
    assert body["numberMatched"] == 0 and body["features"] == []


def test_a_lon_lat_box_may_cross_the_antimeridian(client):
    # 2E eastwards round the globe to 1E: every Frimley LSOA (latitudes 51.07-51.64) is in it
    body = client.get(f"{B}/layers/lsoa/items", params={"bbox": "2,51,1,52", "limit": 1}).json()
    assert body["numberMatched"] == 440


def test_bad_crs_is_422_saying_allowed(client):
    for params in ({"crs": "EPSG:3857"}, {"bbox-crs": "EPSG:2154", "bbox": "0,0,1,1"}):
        body = _problem(client.get(f"{B}/layers/lsoa/items", params=params), 422)
        assert "EPSG:4326" in body["detail"] and "EPSG:27700" in body["detail"]


def test_simplify_reduces_vertices_in_metres(client, store):
    full = client.get(f"{B}/layers/msoa/items", params={"crs": "EPSG:27700",
                                                          "limit": 300}).json()
    simple = client.get(f"{B}/layers/msoa/items", params={"crs": "EPSG:27700", "limit": 300,
                                                            "simplify": 200}).json()

    def vertices(fc):
        return sum(shapely.get_num_coordinates(shape(f["geometry"])) for f in fc["features"])

    coarser = client.get(f"{B}/layers/msoa/items", params={"crs": "EPSG:27700", "limit": 300,
                                                             "simplify": 1000}).json()
    assert vertices(coarser) < vertices(simple) < vertices(full)
    msoa = store.read_layer("msoa", index="msoa_code")
    for f in simple["features"][::9]:
        g, ref = shape(f["geometry"]), msoa.geometry[f["id"]]
        assert g.is_valid
        # simplification keeps a subset of the vertices: each lies on the stored boundary
        # (to the 0.1 m rounding); a part smaller than the tolerance may vanish
        pts = shapely.points(shapely.get_coordinates(g))
        assert shapely.distance(pts, ref.boundary).max() < 0.1
    # in 4326 too: simplified in metres, then reprojected
    wgs = client.get(f"{B}/layers/msoa/items", params={"simplify": 200, "limit": 300}).json()
    assert vertices(wgs) == vertices(simple)
    body = _problem(client.get(f"{B}/layers/msoa/items", params={"simplify": 1e9}), 422)
    assert "simplify" in body["detail"]
    # up to the schema's 5000 m a tolerance above the service's maximum (5000) is clamped
    assert client.get(f"{B}/layers/msoa/items", params={"simplify": 5000}).status_code == 200
    _problem(client.get(f"{B}/layers/msoa/items", params={"simplify": -1}), 422)


def test_property_selection(client):
    body = client.get(f"{B}/layers/msoa/items", params={"properties": "le_male,imd_score",
                                                          "limit": 5}).json()
    for f in body["features"]:
        assert list(f["properties"]) == ["msoa_code", "le_male", "imd_score"]
    # an unknown property is like an unknown layer or indicator: 404 naming what there is
    body = _problem(client.get(f"{B}/layers/msoa/items",
                               params={"properties": "le_male,../../etc"}), 404)
    assert "'../../etc'" in body["detail"] and "le_female" in body["detail"]


def test_paging_limits_and_links(client):
    feats, pages = _all_items(client, f"{B}/layers/lsoa/items", limit=100,
                              properties="population")
    assert pages == 5 and len({f["id"] for f in feats}) == 440
    r = client.get(f"{B}/layers/lsoa/items", params={"limit": 100, "offset": 100,
                                                     "properties": "population"})
    body = r.json()
    rels = {lk["rel"]: lk["href"] for lk in body["links"]}
    assert "offset=200" in rels["next"] and "offset=0" in rels["prev"]
    assert 'rel="prev"' in r.headers["link"]
    assert body["numberMatched"] == 440 and body["numberReturned"] == 100
    beyond = client.get(f"{B}/layers/lsoa/items", params={"offset": 10_000}).json()
    assert beyond["numberReturned"] == 0 and beyond["features"] == []
    # above the service's page size (300 here) the limit is clamped, as OGC API Features asks;
    # above the schema's maximum (10,000) it is refused
    clamped = client.get(f"{B}/layers/lsoa/items", params={"limit": 301,
                                                          "properties": "population"}).json()
    assert clamped["numberReturned"] == 300
    assert {lk["rel"]: lk["href"] for lk in clamped["links"]}["next"].endswith(
        "offset=300&limit=300")
    _problem(client.get(f"{B}/layers/lsoa/items", params={"limit": 10_001}), 422)
    _problem(client.get(f"{B}/layers/lsoa/items", params={"limit": 0}), 422)


def test_within_place(client, lookups):
    got, _ = _all_items(client, f"{B}/layers/lsoa/items", within="E06000039",
                        properties="place_code")
    assert {f["id"] for f in got} == set(lookups.index[lookups["place_code"] == "E06000039"])
    body = _problem(client.get(f"{B}/layers/lsoa/items", params={"within": "E06000001"}), 404)
    assert "E06000001" in body["detail"]


def test_table_layer_is_not_geojson(client):
    body = _problem(client.get(f"{B}/layers/join_report/items"), 404)
    assert "/layers/join_report/table" in body["detail"]


# --------------------------------------------------------------------------- ETag, gzip


def test_etag_and_304(client):
    url = f"{B}/layers/msoa/items"
    r1 = client.get(url, params={"limit": 10}, headers={"accept-encoding": "identity"})
    tag = r1.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    r2 = client.get(url, params={"limit": 10}, headers={"accept-encoding": "identity"})
    assert r2.headers["etag"] == tag and r2.content == r1.content
    r3 = client.get(url, params={"limit": 10}, headers={"if-none-match": tag,
                                                        "accept-encoding": "identity"})
    assert r3.status_code == 304 and r3.content == b"" and r3.headers["etag"] == tag
    # a list of tags, and the weak form, both match (If-None-Match uses weak comparison)
    r4 = client.get(url, params={"limit": 10}, headers={"if-none-match": f'"x", W/{tag}'})
    assert r4.status_code == 304
    other = client.get(url, params={"limit": 11}, headers={"if-none-match": tag})
    assert other.status_code == 200 and other.headers["etag"] != tag
    # gzip is another representation with its own strong tag
    gz = client.get(url, params={"limit": 10}, headers={"accept-encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip" and gz.headers["etag"] != tag
    assert client.get(url, params={"limit": 10}, headers={
        "if-none-match": gz.headers["etag"]}).status_code == 304
    csv = client.get(f"{B}/layers/msoa/table")
    assert client.get(f"{B}/layers/msoa/table", headers={
        "if-none-match": csv.headers["etag"]}).status_code == 304


def test_etag_changes_when_store_changes(root, tmp_path, settings):
    copy = tmp_path / "root"
    shutil.copytree(root, copy)
    s = settings.model_copy(update={"store_root": copy, "rescan_seconds": 0.0})
    with TestClient(create_app(s)) as c:
        url = f"{B}/layers/place/items"
        tag = c.get(url).headers["etag"]
        assert c.get(url, headers={"if-none-match": tag}).status_code == 304
        BuildStore(copy / FRIMLEY).write_layer("extra", pd.DataFrame({"a": [1]}))
        r = c.get(url, headers={"if-none-match": tag})
        assert r.status_code == 200 and r.headers["etag"] != tag
        assert "extra" in {lay["name"] for lay in c.get(f"{B}/layers").json()}


def test_gzip(client):
    url = f"{B}/layers/lsoa/items"
    plain = client.get(url, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = client.get(url, headers={"accept-encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in raw.headers["vary"].lower()
    # httpx decodes transparently; the decoded bytes are the plain body
    assert raw.content == plain.content
    assert int(raw.headers["content-length"]) < len(plain.content) / 3
    assert json.loads(gzip.decompress(gzip.compress(raw.content)))["numberReturned"] == 200


# --------------------------------------------------------------------------- CSV


def test_csv_table_matches_store(client, store):
    r = client.get(f"{B}/layers/msoa/table", params={"properties": "le_male,le_female,in_area"})
    assert r.headers["content-type"].startswith("text/csv")
    got = pd.read_csv(io.StringIO(r.text), index_col="msoa_code")
    msoa = store.read_layer("msoa", index="msoa_code")
    inside = msoa[msoa["in_area"] == 1].sort_index()
    assert list(got.columns) == ["le_male", "le_female", "in_area"]
    assert list(got.index) == list(inside.index)
    np.testing.assert_allclose(got["le_male"], inside["le_male"], equal_nan=True)
    assert got["in_area"].all() and int(r.headers["x-total-count"]) == 89
    page = client.get(f"{B}/layers/msoa/table", params={"limit": 10, "offset": 80})
    assert len(pd.read_csv(io.StringIO(page.text))) == 9 and 'rel="prev"' in page.headers["link"]
    report = client.get(f"{B}/layers/join_report/table")
    assert len(pd.read_csv(io.StringIO(report.text))) == len(store.read_layer("join_report"))
    _problem(client.get(f"{B}/layers/manifest/table"), 404)


def test_manifest_is_not_served_with_paths(client):
    text = client.get(f"{B}/layers").text
    assert "/tmp" not in text and "healthgap-api-" not in text


# --------------------------------------------------------------------------- errors


def test_validation_error_is_problem_json(client):
    body = _problem(client.get(f"{B}/layers/lsoa/items", params={"limit": "many"}), 422)
    assert body["errors"][0]["loc"] == "query.limit" and "limit" in body["detail"]


def test_unknown_route_and_method(client):
    body = _problem(client.get("/nowhere"), 404)
    assert "/nowhere" in body["detail"]
    _problem(client.delete(f"{B}/layers"), 405)


def test_5xx_hides_internals_and_logs(settings, caplog):
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret /srv/private/healthgap.gpkg exploded")

    with TestClient(app, raise_server_exceptions=False) as c, \
            caplog.at_level(logging.ERROR, logger="healthgap.services.errors"):
        r = c.get("/boom", headers={"x-request-id": "trace-12345678"})
    body = _problem(r, 500)
    assert "secret" not in r.text and "/srv" not in r.text and "Traceback" not in r.text
    assert body["request_id"] == "trace-12345678" and "trace-12345678" in body["detail"]
    logged = "\n".join(rec.getMessage() + str(rec.exc_info) for rec in caplog.records)
    assert "trace-12345678" in logged and "exploded" in logged


def test_request_id_echoed_only_when_well_formed(client):
    assert client.get("/health", headers={"x-request-id": "abc-12345678"}).headers[
        "x-request-id"] == "abc-12345678"
    bad = client.get("/health", headers={"x-request-id": "<script>"}).headers["x-request-id"]
    assert bad != "<script>" and len(bad) == 32


def test_body_too_large_is_413(client, settings):
    big = b"{" + b" " * (settings.max_body_bytes + 10) + b"}"
    body = _problem(client.post(f"{B}/runs", content=big,
                                headers={"content-type": "application/json"}), 413)
    assert str(settings.max_body_bytes) in body["detail"]

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(settings.max_body_bytes // 1000 + 2):
            yield b" " * 1000

    _problem(client.post(f"{B}/runs", content=chunks(),
                         headers={"content-type": "application/json"}), 413)


# --------------------------------------------------------------------------- maps


@pytest.fixture(scope="module")
def atlas_client(root, tmp_path_factory, settings):
    copy = tmp_path_factory.mktemp("atlas") / "root"
    shutil.copytree(root, copy)
    atlas = copy / FRIMLEY / "atlas"
    (atlas / "pages").mkdir(parents=True)
    (atlas / "index.html").write_text("<html>atlas index</html>")
    (atlas / "pages" / "le_male.html").write_text("<html>male life expectancy</html>")
    (atlas / "notes.md").write_text("not a page")
    (atlas / "licences").mkdir()
    (atlas / "licences" / "leaflet-LICENSE.txt").write_text("BSD-2-Clause")
    (atlas / "manifest.json").write_text('{"data_dir": "/secret/path"}')
    secret = copy / "secret.html"
    secret.write_text("<html>SECRET outside the atlas</html>")
    (atlas / "link.html").symlink_to(secret)
    s = settings.model_copy(update={"store_root": copy})
    with TestClient(create_app(s)) as c:
        yield c


def test_maps_listed_and_served(atlas_client):
    pages = atlas_client.get(f"{B}/maps").json()["pages"]
    assert [p["name"] for p in pages] == ["index.html", "pages/le_male.html"]
    r = atlas_client.get(pages[1]["href"])
    assert r.status_code == 200 and r.text == "<html>male life expectancy</html>"
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["x-content-type-options"] == "nosniff"
    lic = atlas_client.get(f"{B}/maps/licences/leaflet-LICENSE.txt")
    assert lic.text == "BSD-2-Clause" and lic.headers["content-type"].startswith("text/plain")
    man = atlas_client.get(f"{B}/maps/manifest.json")  # follows the redirect
    assert man.status_code == 200 and man.json()["area"]["code"] == FRIMLEY
    assert "/secret/path" not in man.text


@pytest.mark.parametrize("path", [
    "..%2Fhealthgap.gpkg", "..%2F..%2Fsecret.html", "%2E%2E/%2E%2E/secret.html",
    "pages/..%2F..%2F..%2Fsecret.html", "%2Fetc%2Fpasswd", "/etc/passwd", "//etc/passwd",
    "..%5C..%5Csecret.html", "%252e%252e%252fsecret.html", "link.html", "notes.md",
    "index.html%00.txt", "pages", "pages/", "index.html/", "INDEX.HTML",
])
def test_map_path_traversal_refused(atlas_client, path):
    r = atlas_client.get(f"{B}/maps/{path}")
    assert r.status_code in (404, 422), (path, r.status_code)
    assert "SECRET" not in r.text and "SQLite" not in r.text and "root:" not in r.text
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("area", ["..%2F..%2Fetc", "%2E%2E", "E54000034%2F..%2F..",
                                  "E5400003", "e54000034"])
def test_area_path_traversal_refused(atlas_client, area):
    r = atlas_client.get(f"/areas/{area}/layers")
    assert r.status_code in (404, 422)
    assert r.headers["content-type"].startswith("application/problem+json")


def test_cached_bodies_equal_fresh_ones(client, settings):
    fresh = settings.model_copy(update={"response_cache_mb": 0.0})
    queries = [("items", {"limit": 50, "offset": 50}), ("items", {"crs": "EPSG:27700"}),
               ("items", {"simplify": 100, "properties": "imd_score"}), ("table", {})]
    with TestClient(create_app(fresh)) as c:
        for kind, params in queries:
            for enc in ("gzip", "identity"):
                h = {"accept-encoding": enc}
                a = client.get(f"{B}/layers/lsoa/{kind}", params=params, headers=h)
                b = client.get(f"{B}/layers/lsoa/{kind}", params=params, headers=h)  # cached
                c0 = c.get(f"{B}/layers/lsoa/{kind}", params=params, headers=h)
                assert a.content == b.content == c0.content
                assert a.headers["etag"] == b.headers["etag"] == c0.headers["etag"]
                assert a.headers.get("link") == b.headers.get("link") == c0.headers.get("link")
                assert (a.headers.get("content-encoding") == b.headers.get("content-encoding")
                        == c0.headers.get("content-encoding"))


def test_manifest_without_paths(client, shared_data):
    man = client.get(f"{B}/manifest").json()
    assert man["area"]["code"] == FRIMLEY
    import hashlib
    imd = shared_data / "imd2019/imd2019_lsoa11_england.csv"
    assert man["inputs"]["imd"]["sha256"] == hashlib.sha256(imd.read_bytes()).hexdigest()
    text = json.dumps(man)
    assert str(shared_data) not in text and "out_dir" not in text and '"path"' not in text


def test_docs_and_openapi(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    items = spec["paths"]["/areas/{area}/layers/{layer}/items"]["get"]["responses"]
    assert "application/geo+json" in items["200"]["content"]
    assert items["422"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_settings_from_environment(root, monkeypatch, tmp_path):
    monkeypatch.setenv("HEALTHGAP_STORE_ROOT", str(root))
    monkeypatch.setenv("HEALTHGAP_MAX_PAGE_SIZE", "7")
    monkeypatch.setenv("HEALTHGAP_JOB_EXECUTOR", "thread")
    monkeypatch.setenv("HEALTHGAP_PUBLIC_URL", "https://maps.example.nhs.uk/healthgap/")
    monkeypatch.setenv("HEALTHGAP_RUNS_DB", str(tmp_path / "runs.sqlite"))
    app = create_app()
    assert not app.dependency_overrides  # production wiring: nothing re-solved per request
    with TestClient(app) as c:
        body = c.get(f"{B}/layers/lsoa/items", params={"limit": 8}).json()
        assert body["numberReturned"] == 7
        # links start with the configured public URL whatever the Host header says
        r = c.get(f"{B}/layers/lsoa/items", params={"limit": 8},
                  headers={"Host": "evil.example"})
        hrefs = [lk["href"] for lk in r.json()["links"]]
        assert all(h.startswith("https://maps.example.nhs.uk/healthgap/areas/") for h in hrefs)
    with pytest.raises(ValueError, match="job_executor"):
        Settings(job_executor="fork")
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url="ftp://x")


def test_serve_without_builds_is_one_clear_line(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "healthgap.services.cli", "serve", "--store",
                        str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    text = " ".join(r.stderr.split())  # rich wraps long lines
    assert "no build found" in text and "Traceback" not in text


def test_a_build_being_staged_is_never_served(root, tmp_path):
    """A build is written in a hidden sibling and swapped in; the catalogue must skip it."""
    from healthgap.services.api.catalog import Catalog

    staged_root = tmp_path / "store"
    shutil.copytree(root / FRIMLEY, staged_root / f".{FRIMLEY}.tmp-4242")
    assert Catalog(staged_root).scan() == {}
    shutil.copytree(root / FRIMLEY, staged_root / FRIMLEY)
    assert list(Catalog(staged_root).scan()) == [FRIMLEY]
