"""The store writes each vintage's published key column names and reads back neutral names.

Frames inside healthgap use neutral names (``lsoa_code``, ``place_code``, ``system_code``...);
a build's GeoPackage carries the ONS names of its vintage's era (``lsoa11cd``/``icb22cd`` in
2019, ``lsoa21cd``/``icb24cd`` in 2025), read here straight from the file with pyogrio and
sqlite3, and `BuildStore.read_layer` gives the neutral names back whatever wrote them
(including 2025 builds made before the published names, whose ``lsoa11cd`` held 2021 codes).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from healthgap.data.vintages import NEUTRAL_KEYS, V2019, V2025, neutral_name
from healthgap.services.build import BuildOptions, build
from healthgap.services.store import BuildStore

RUTLAND = "E06000017"


def _lsoa() -> gpd.GeoDataFrame:
    """Three squares with every neutral key column, indexed by ``lsoa_code``."""
    codes = ["E01000001", "E01000002", "E01000003"]
    frame = gpd.GeoDataFrame(
        {"lsoa_name": ["A 001A", "A 001B", "B 001A"], "msoa_code": ["E02000001"] * 3,
         "msoa_name": ["A 001"] * 3, "place_code": ["E06000017", "E06000017", "E06000018"],
         "place_name": ["Rutland", "Rutland", "Nottingham"], "subicb_code": ["E38000001"] * 3,
         "subicb_name": ["sub-ICB"] * 3, "subicb_nhs_code": ["04V"] * 3,
         "system_code": ["E54000015"] * 3, "system_name": ["ICB"] * 3,
         "system_nhs_code": ["QJM"] * 3, "population": [1500.0, 1700.0, 1600.0]},
        geometry=[shapely.box(500_000 + 100 * i, 300_000, 500_100 + 100 * i, 300_100)
                  for i in range(3)], crs=27700, index=pd.Index(codes, name="lsoa_code"))
    return frame


def _fields(path: Path, layer: str) -> list[str]:
    return [str(f) for f in pyogrio.read_info(path, layer=layer)["fields"]]


@pytest.mark.parametrize("vintage", [V2019, V2025], ids=["2019", "2025"])
def test_write_publishes_and_read_gives_neutral(tmp_path: Path, vintage) -> None:
    store = BuildStore(tmp_path, vintage=vintage)
    store.write_layer("lsoa", _lsoa())
    on_disk = _fields(store.path, "lsoa")
    # the published names, written out here (not from the declaration) as QGIS users see them
    expected = {"2019": ["lsoa11cd", "lsoa11nm", "msoa11cd", "msoa11nm", "lad22cd", "lad22nm",
                         "sicbl22cd", "sicbl22nm", "sicbl22cdh", "icb22cd", "icb22nm",
                         "icb22cdh", "population"],
                "2025": ["lsoa21cd", "lsoa21nm", "msoa21cd", "msoa21nm", "lad24cd", "lad24nm",
                         "sicbl24cd", "sicbl24nm", "sicbl24cdh", "icb24cd", "icb24nm",
                         "icb24cdh", "population"]}[vintage.name]
    assert on_disk == expected
    back = store.read_layer("lsoa", index="lsoa_code")
    assert list(back.columns) == [*NEUTRAL_KEYS[1:], "population", "geometry"]
    assert back.index.name == "lsoa_code" and list(back.index) == list(_lsoa().index)
    # columns, index and where name neutral columns and reach the published ones
    some = store.read_layer("lsoa", columns=["lsoa_code", "place_code", "population"],
                            index="lsoa_code",
                            where="place_code = 'E06000017' AND population > 1600")
    assert list(some.index) == ["E01000002"]
    assert list(some.columns) == ["place_code", "population", "geometry"]
    assert store.fields("lsoa") == [*NEUTRAL_KEYS, "population"]


def test_a_store_without_a_vintage_takes_its_manifests(tmp_path: Path) -> None:
    BuildStore(tmp_path, vintage="2025").write_manifest({"vintage": V2025.describe(),
                                                         "levels": ["system_code", "x"]})
    store = BuildStore(tmp_path)  # a what-if: the build's vintage comes from the manifest
    assert store.vintage is V2025
    store.write_layer("whatif_lsoa", pd.DataFrame({"gain": [1.0]},
                                                  index=pd.Index(["E01000001"],
                                                                 name="lsoa_code")))
    assert _fields(store.path, "whatif_lsoa") == ["lsoa21cd", "gain"]
    # a value naming a key column is published in the file and neutral when read
    with sqlite3.connect(store.path) as con:
        raw = dict(con.execute("SELECT key, value FROM manifest"))
    assert json.loads(raw["levels"]) == ["icb24cd", "x"]
    assert store.read_manifest()["levels"] == ["system_code", "x"]
    assert json.loads(raw["vintage"])["columns"]["lsoa21cd"] == "LSOA 2021 code"


def test_a_2025_build_made_before_published_names_reads_neutral(tmp_path: Path) -> None:
    """Its ``lsoa11cd`` held 2021 codes: read back as ``lsoa_code`` like any other."""
    path = tmp_path / "healthgap.gpkg"
    legacy = _lsoa().reset_index().rename(columns={"lsoa_code": "lsoa11cd",
                                                   "place_code": "lad22cd",
                                                   "system_code": "icb22cd"})
    legacy.to_file(path, layer="lsoa", driver="GPKG", engine="pyogrio")
    got = BuildStore(path).read_layer("lsoa", index="lsoa_code", columns=["lsoa_code", "icb22cd"])
    assert got.index.name == "lsoa_code" and list(got.columns) == ["system_code", "geometry"]
    assert neutral_name("lsoa11cd") == neutral_name("lsoa21cd") == "lsoa_code"


@pytest.mark.slow
def test_2025_and_2019_builds_publish_their_own_names(shared_data: Path,
                                                     tmp_path: Path) -> None:
    """Rutland on both vintages (no models, maps or access): the files and what reads them."""
    paths = {}
    for v in ("2025", "2019"):
        res = build(BuildOptions(area=RUTLAND, data_dir=shared_data, out_dir=tmp_path / v,
                                 vintage=v, models=False, maps=False, access=False,
                                 report=False, permutations=99))
        paths[v] = res.store.path
    new, old = (_fields(paths[v], "lsoa") for v in ("2025", "2019"))
    assert {"lsoa21cd", "lsoa21nm", "msoa21cd", "lad24cd", "icb24cd"} <= set(new)
    assert not {"lsoa11cd", "lsoa11nm", "msoa11cd", "lad22cd", "icb22cd"} & set(new)
    assert {"lsoa11cd", "lsoa11nm", "msoa11cd", "lad22cd", "icb22cd"} <= set(old)
    assert not {"lsoa21cd", "lad24cd", "icb24cd"} & set(old)
    assert _fields(paths["2025"], "system")[:2] == ["icb24cd", "icb24nm"]
    assert _fields(paths["2019"], "place")[:2] == ["lad22cd", "lad22nm"]
    meta = pyogrio.read_info(paths["2025"], layer="msoa")["layer_metadata"]
    assert "msoa21cd = MSOA 2021 code" in meta["healthgap_key_columns"]
    for v, n_lsoa in (("2025", 26), ("2019", 23)):  # Rutland's LSOAs in 2021 and in 2011
        lsoa = BuildStore(paths[v]).read_layer("lsoa", index="lsoa_code")
        assert {"lsoa_name", "msoa_code", "place_code", "system_code"} <= set(lsoa.columns)
        assert int(lsoa["in_area"].sum()) == n_lsoa
        assert set(lsoa.loc[lsoa["in_area"].astype(bool), "place_code"]) == {RUTLAND}


@pytest.mark.slow
def test_api_key_columns_are_neutral_and_say_what_they_hold(shared_data: Path) -> None:
    """The API serves neutral key names and says each one's GeoPackage name and meaning."""
    from healthgap.services.api import create_app
    from healthgap.services.settings import Settings

    from tests.services._api_helpers import FRIMLEY, TestClient, frimley_root

    root = frimley_root(shared_data)
    store, b = BuildStore(root / FRIMLEY), f"/areas/{FRIMLEY}"
    with TestClient(create_app(Settings(store_root=root, job_executor="thread"))) as client:
        _check_key_columns(client, store, b)


def _check_key_columns(client, store: BuildStore, b: str) -> None:  # noqa: ANN001
    vintage = store.read_manifest()["vintage"]["name"]
    keys = client.get(b).json()["key_columns"]
    assert set(keys) == set(NEUTRAL_KEYS)
    on_disk = {str(f) for f in pyogrio.read_info(store.path, layer="lsoa")["fields"]}
    assert keys["lsoa_code"]["published_as"] in on_disk and "lsoa_code" not in on_disk
    assert keys["lsoa_code"]["published_as"] == {"2019": "lsoa11cd", "2025": "lsoa21cd"}[vintage]
    assert keys["lsoa_code"]["holds"] == {"2019": "LSOA 2011 code",
                                          "2025": "LSOA 2021 code"}[vintage]
    fields = {f["name"]: f for f in client.get(f"{b}/layers/lsoa").json()["fields"]}
    assert {"lsoa_name", "msoa_code", "place_code", "system_code"} <= set(fields)
    assert fields["place_code"]["published_as"] == keys["place_code"]["published_as"]
    assert fields["population"]["published_as"] is None
    assert client.get("/areas").json()[0]["key_columns"] == keys
