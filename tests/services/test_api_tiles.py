"""OGC API - Tiles on a real Frimley build: decoded tiles against the GeoPackage.

Which features a tile holds is computed here with pyproj (to EPSG:3857) and shapely (the tile's
square, written from the WebMercatorQuad definition in the test); attributes are compared with
the GeoPackage read by geopandas; geometry is checked back in metres from the decoded tile
coordinates.
"""

from __future__ import annotations

import math

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pytest
from healthgap.services.api import create_app
from healthgap.services.settings import Settings
from shapely.geometry import box, shape

from tests._names import neutral
from tests.services._api_helpers import FRIMLEY, TestClient, frimley_copy

C = f"/collections/{FRIMLEY}_lsoa"
#: WebMercatorQuad: the world is a square of this half-width in EPSG:3857 metres.
HALF = math.pi * 6378137.0


@pytest.fixture(scope="module")
def root(shared_data, tmp_path_factory):
    return frimley_copy(shared_data, tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="module")
def client(root, tmp_path_factory):
    s = Settings(store_root=root, job_executor="thread",
                 tile_cache_dir=tmp_path_factory.mktemp("tiles"))
    with TestClient(create_app(s)) as c:
        yield c


@pytest.fixture(scope="module")
def lsoa(root) -> gpd.GeoDataFrame:
    frame = neutral(
        gpd.read_file(root / FRIMLEY / "healthgap.gpkg", layer="lsoa", engine="pyogrio"))
    return frame.to_crs(3857).set_index("lsoa_code", drop=False)


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    col = int((lon + 180) / 360 * n)
    row = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return row, col


def _square(z: int, row: int, col: int):
    size = 2 * HALF / 2 ** z
    return box(-HALF + col * size, HALF - (row + 1) * size, -HALF + (col + 1) * size,
               HALF - row * size)


def _decode(client, z: int, row: int, col: int) -> dict:
    r = client.get(f"{C}/tiles/WebMercatorQuad/{z}/{row}/{col}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(r.content).get("lsoa", {"features": [], "extent": 4096})


@pytest.mark.parametrize("z", [6, 10, 14])
def test_tiles_hold_exactly_the_features_that_meet_them(client, lsoa, z):
    row, col = _tile_of(-0.75, 51.33, z)
    square = _square(z, row, col)
    layer = _decode(client, z, row, col)
    got = {f["properties"]["lsoa_code"] for f in layer["features"]}
    inside = set(lsoa.index[lsoa.intersects(square)])
    near = set(lsoa.index[lsoa.intersects(square.buffer(square.length / 4 / 64 + 1))])
    assert inside <= got <= near  # the tile and its 1/64 buffer
    assert len(inside) > 0
    # attributes: the GeoPackage's values (nulls left out, flags as booleans)
    for feat in layer["features"][:25]:
        props = feat["properties"]
        row_ = lsoa.loc[props["lsoa_code"]]
        assert props["place_name"] == row_["place_name"]
        assert props["population"] == pytest.approx(row_["population"])
        assert props["in_area"] is bool(row_["in_area"])
        nulls = [c for c in lsoa.columns if c != "geometry" and row_[c] is None
                 or (isinstance(row_[c], float) and np.isnan(row_[c]))]
        assert not set(nulls) & set(props)
    # geometry, back in metres: a feature wholly inside sits where it should (to a pixel)
    size = 2 * HALF / 2 ** z
    x0, y0 = square.bounds[0], square.bounds[1]
    whole = [f for f in layer["features"] if square.contains(lsoa.loc[
        f["properties"]["lsoa_code"], "geometry"])]
    for feat in whole[:10]:
        g = shape(feat["geometry"])
        cx, cy = g.centroid.x / 4096 * size + x0, g.centroid.y / 4096 * size + y0
        ref = lsoa.loc[feat["properties"]["lsoa_code"], "geometry"].centroid
        assert math.hypot(cx - ref.x, cy - ref.y) < 3 * size / 4096


def test_tiles_are_generalised_per_zoom(client, lsoa):
    counts = {}
    for z in (6, 14):
        row, col = _tile_of(-0.7484, 51.2465, z)
        for f in _decode(client, z, row, col)["features"]:
            code = f["properties"]["lsoa_code"]
            if _square(z, row, col).contains(lsoa.loc[code, "geometry"]):
                counts.setdefault(code, {})[z] = len(np.ravel(
                    shape(f["geometry"]).exterior.coords if f["geometry"]["type"] == "Polygon"
                    else [p.exterior.coords for p in shape(f["geometry"]).geoms]))
    both = [c for c in counts.values() if len(c) == 2]
    assert both
    assert sum(c[6] for c in both) < 0.8 * sum(c[14] for c in both)


def test_tile_metadata_cache_and_errors(client):
    sets = client.get(f"{C}/tiles").json()["tilesets"]
    assert sets[0]["dataType"] == "vector"
    item = next(lk for lk in sets[0]["links"] if lk["rel"] == "item")
    assert item["href"].endswith("/{tileMatrix}/{tileRow}/{tileCol}")
    tj = client.get(f"{C}/tiles/WebMercatorQuad").json()
    assert tj["tiles"][0].endswith("/{z}/{y}/{x}") and len(tj["bounds"]) == 4
    tms = client.get("/tileMatrixSets/WebMercatorQuad").json()
    assert tms["tileMatrices"][3]["matrixWidth"] == 8
    classes = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in classes
    row, col = _tile_of(-0.75, 51.33, 12)
    url = f"{C}/tiles/WebMercatorQuad/12/{row}/{col}"
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert client.get(url).content == first.content
    empty = client.get(f"{C}/tiles/WebMercatorQuad/12/0/0")  # the Arctic: no feature
    assert empty.status_code == 200 and empty.content == b""
    for bad in ("WebMercatorQuad/19/0/0", "WebMercatorQuad/3/8/0", "WorldCRS84Quad/3/0/0"):
        assert client.get(f"{C}/tiles/{bad}").status_code == 404, bad
    assert client.get(url, params={"junk": 1}).status_code == 400


def test_a_tile_is_rendered_once_for_every_worker(root, tmp_path):
    """Workers share rendered tiles on disk: a second app (another worker) reads the file."""
    s = Settings(store_root=root, job_executor="thread", tile_cache_dir=tmp_path)
    row, col = _tile_of(-0.75, 51.33, 11)
    url = f"{C}/tiles/WebMercatorQuad/11/{row}/{col}"
    with TestClient(create_app(s)) as first:
        body = first.get(url).content
    (kept,) = list(tmp_path.rglob("*.mvt"))
    assert kept.read_bytes() == body and len(body) > 0
    kept.write_bytes(b"\x1a\x00")  # a different (empty-layer) tile, to see where it comes from
    with TestClient(create_app(s)) as second:
        assert second.get(url).content == b"\x1a\x00"
    none = Settings(store_root=root, job_executor="thread", tile_cache_dir="")
    with TestClient(create_app(none)) as third:
        assert third.get(url).content == body
