"""The GeoJSON writer and the build-time feature files, on the real Frimley build.

Coordinates are checked against shapely's own coordinate arrays rounded with numpy (written in
the test), properties against the GeoPackage read with pyogrio, and the pre-built file against
a fresh render; the byte output is also parsed back by GDAL (pyogrio's GeoJSON driver).
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyogrio
import pytest
import shapely
from healthgap.services import _geojson
from healthgap.services.features import FEATURES_DIR, FeatureFile, feature_bytes
from healthgap.services.store import BuildStore

from healthgap import WGS84
from tests._names import neutral
from tests.services._api_helpers import FRIMLEY, frimley_root


@pytest.fixture(scope="module")
def build_dir(shared_data):
    return frimley_root(shared_data) / FRIMLEY


@pytest.fixture(scope="module")
def lsoa(build_dir):
    return BuildStore(build_dir).read_layer("lsoa", index="lsoa_code").sort_index()


def test_coordinates_rounded_and_geometries_intact(lsoa):
    wgs = lsoa.to_crs(WGS84)
    texts = _geojson.geometry_json(wgs.geometry.to_numpy(), 6)
    assert len(texts) == len(wgs) == 503
    for text, geom in zip(texts[:60], wgs.geometry[:60], strict=True):
        obj = json.loads(text)
        assert obj["type"] == geom.geom_type
        got = np.array([xy for ring in _rings(obj) for xy in ring])
        want = np.round(shapely.get_coordinates(geom), 6)
        np.testing.assert_array_equal(got, want)
        # no coordinate printed with more than 6 decimals
        assert max(len(str(v).split(".")[-1]) for v in got.ravel()) <= 6
    assert _geojson.geometry_json(np.array([None], dtype=object), 6) == [None]


def _rings(obj):
    if obj["type"] == "Polygon":
        return obj["coordinates"]
    return [ring for poly in obj["coordinates"] for ring in poly]


def test_feature_files_match_a_fresh_render_and_gdal_reads_them(build_dir, lsoa, tmp_path):
    folder = build_dir / FEATURES_DIR
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{n}.geojson{s}" for n in ("lsoa", "msoa", "neighbourhood", "place", "system")
        for s in ("", ".gz"))
    pre = FeatureFile.read(build_dir, "lsoa")
    assert pre is not None and pre.count == 503
    assert gzip.decompress(pre.gzipped) == pre.body == feature_bytes(lsoa, "lsoa")
    doc = json.loads(pre.body)
    assert doc["numberMatched"] == doc["numberReturned"] == len(doc["features"]) == 503
    assert [f["id"] for f in doc["features"]] == sorted(lsoa.index)
    first = doc["features"][0]["properties"]
    assert first["lsoa_code"] == lsoa.index[0] and first["in_area"] in (True, False)
    # NaN is null, never the invalid token NaN
    assert b"NaN" not in pre.body
    # GDAL parses the bytes back: same ids and populations as the GeoPackage
    path = tmp_path / "lsoa.geojson"
    path.write_bytes(pre.body)
    back = neutral(pyogrio.read_dataframe(path))
    np.testing.assert_array_equal(back["lsoa_code"], lsoa.index)
    np.testing.assert_allclose(back["population"], lsoa["population"])
