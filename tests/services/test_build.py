"""`healthgap build` on real data: Frimley's counts reconciled with the lookups."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from healthgap.data import readers
from healthgap.services.store import BuildStore

from tests import _builds
from tests._names import neutral


@pytest.fixture(scope="module")
def frimley(shared_data):
    # vintage 2019, no access, models or atlas: the build the API tests serve (tests/_builds.py)
    return _builds.frimley_2019(shared_data)


def test_frimley_counts(frimley, shared_data):
    area = frimley.area
    inside = area.inside
    assert len(inside) == 440
    assert int(area.msoa["in_area"].sum()) == 89
    # reconcile with the lookups directly
    icb = neutral(
        pd.read_csv(shared_data / "geography/lsoa11_sicbl22_icb22_ltla22_lookup_england.csv"))
    codes = set(icb.loc[icb["icb22_code"] == "E54000034", "lsoa11_code"])
    assert set(inside.index) == codes
    lk = neutral(pd.read_csv(shared_data / "geography/lsoa11_msoa11_lad22_lookup_ew.csv"))
    msoas = set(lk.loc[lk["lsoa_code"].isin(codes), "msoa_code"])
    assert set(area.msoa.index[area.msoa["in_area"]]) == msoas
    # every LSOA has IMD; every MSOA has LE or is listed as suppressed
    assert inside["imd_score"].notna().all()
    m = area.msoa[area.msoa["in_area"]]
    for sex in ("le_male", "le_female"):
        missing = set(m.index[m[sex].isna()])
        listed = set(area.report.loc[(area.report["side"] == "suppressed")
                                     & area.report["reason"].str.startswith(sex[3:]), "code"])
        assert missing == listed
    # ring: adjacent, outside, flagged
    ring = area.lsoa[~area.lsoa["in_area"]]
    assert len(ring) > 0 and not set(ring.index) & codes
    assert ring.geometry.intersects(inside.union_all()).all()


def test_area_deciles_within_frimley(frimley):
    inside = frimley.area.inside
    assert inside["imd_decile_area"].value_counts().to_dict() == {d: 44 for d in range(1, 11)}
    # decile 1 = most deprived within the area
    most = inside.loc[inside["imd_decile_area"] == 1, "imd_score"].min()
    least = inside.loc[inside["imd_decile_area"] == 10, "imd_score"].max()
    assert most > least


def test_rollup_matches_independent_pandas(frimley, shared_data):
    inside = frimley.area.inside
    pop = readers.read_population(shared_data / "population/"
                                  "lsoa11_population_mid2017_sape20dt1_ew.csv")
    imd = neutral(pd.read_csv(shared_data / "imd2019/imd2019_lsoa11_england.csv",
                      index_col="lsoa11cd")["imd_score"])
    w = pop.reindex(inside.index)
    expected = float(np.average(imd.reindex(inside.index), weights=w))
    assert frimley.area.system["imd_score"].iloc[0] == pytest.approx(expected, rel=1e-12)
    # the system LE range is the range over its MSOAs
    m = frimley.area.msoa[frimley.area.msoa["in_area"]]
    assert frimley.area.system["le_male_range"].iloc[0] == pytest.approx(
        m["le_male"].max() - m["le_male"].min())


def test_store_and_manifest(frimley, shared_data):
    store = BuildStore(frimley.store.path)
    layers = store.layers()
    for name in ("lsoa", "msoa", "place", "system"):
        assert layers[name] in ("Polygon", "MultiPolygon", "Unknown")
    assert layers["manifest"] is None and layers["join_report"] is None
    lsoa = store.read_layer("lsoa", index="lsoa_code")
    assert len(lsoa) == len(frimley.area.lsoa) and lsoa.crs.to_epsg() == 27700
    man = store.read_manifest()
    assert man["area"]["code"] == "E54000034"
    imd = man["inputs"]["imd"]
    import hashlib
    assert imd["sha256"] == hashlib.sha256(
        (shared_data / "imd2019/imd2019_lsoa11_england.csv").read_bytes()).hexdigest()
    assert man["versions"]["geopandas"] and man["parameters"]["seed"] == 2019
    assert man["counts"]["lsoa_in_area"] == 440


def test_cli_unknown_area_is_one_clear_line(shared_data, tmp_path):
    r = subprocess.run([sys.executable, "-m", "healthgap.services.cli", "build",
                        "--area", "Atlantis",
                        "--data", str(shared_data), "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "error: area 'Atlantis'" in r.stderr and "Traceback" not in r.stderr


def test_rutland_build_routes_real_gps_on_the_real_network(shared_data, tmp_path):
    """Rutland (E06000017) is covered by the bundled Geofabrik extract: access is built."""
    # 2019 vintage, access, no models or atlas: made once per run (tests/_builds.py)
    res = _builds.rutland_2019_access(shared_data)
    inside = res.area.inside
    assert len(inside) == 23
    t = inside["gp_time_min"]
    # every LSOA has a drive time or a stated reason; no placeholder numbers
    assert (t.notna() | inside["gp_access_reason"].notna()).all()
    assert t.notna().sum() >= 20 and t.max() < 45 and t.min() > 0
    store = BuildStore(res.store.path)
    fac = store.read_layer("facilities")
    assert {"gp", "hospital"} <= set(fac["kind"])
    # the facility reports account for every row of the national files
    rep = store.read_layer("facility_report_gp")
    n_rows = neutral(len(pd.read_csv(shared_data / "health_services/"
                             "gp_practices_epraccur_dec2023_geocoded.csv")))
    from healthgap.geo.facilities import read_gp_practices

    read = read_gp_practices(shared_data / "health_services/"
                             "gp_practices_epraccur_dec2023_geocoded.csv")
    assert len(read.facilities) + len(rep) == n_rows
    man = store.read_manifest()
    assert man["results"]["access"]["network"] == "rutland-latest.osm.pbf"
    assert "osm/rutland-latest.osm.pbf" in man["inputs"]


def test_assembly_refuses_a_clashing_column_by_name():
    from healthgap.geo.joins import join_columns

    from healthgap.errors import LayerClashError

    lsoa = pd.DataFrame({"centroid_source": ["proxy", "proxy"], "imd_score": [10.0, 20.0]},
                        index=pd.Index(["E01000001", "E01000002"], name="lsoa_code"))
    # the same values carried through (another dtype) are accepted, new columns joined
    same = pd.DataFrame({"centroid_source": pd.Series(["proxy", "proxy"], dtype="string",
                                                      index=lsoa.index),
                         "gp_time_min": [5.0, 7.5]})
    joined = join_columns(lsoa, same, source="service access")
    assert list(joined.columns) == ["centroid_source", "imd_score", "gp_time_min"]
    assert joined["imd_score"].tolist() == [10.0, 20.0]
    # a recomputed column under an existing name is refused by name, not silently dropped
    other = pd.DataFrame({"imd_score": [11.0, 20.0]}, index=lsoa.index)
    with pytest.raises(LayerClashError, match=r"raster x\.tif: column\(s\) imd_score already"):
        join_columns(lsoa, other, source="raster x.tif")


def test_frimley_store_has_neighbourhoods_and_core20(frimley, shared_data):
    """Issue #14: the stored Core20 population equals the raw-CSV sum over deciles 1-2."""
    store = BuildStore(frimley.store.path)
    layers = store.layers()
    assert {"neighbourhood", "neighbourhood_exceptions"} <= set(layers)
    icb = neutral(
        pd.read_csv(shared_data / "geography/lsoa11_sicbl22_icb22_ltla22_lookup_england.csv",
                      dtype=str))
    codes = set(icb.loc[icb["icb22_code"] == "E54000034", "lsoa11_code"])
    imd = neutral(pd.read_csv(shared_data / "imd2019/imd2019_lsoa11_england.csv"))
    pop = neutral(
        pd.read_csv(shared_data / "population/lsoa11_population_mid2017_sape20dt1_ew.csv"))
    raw = imd[imd["lsoa_code"].isin(codes)].merge(pop, on="lsoa_code")
    expected = raw.loc[raw["imd_decile"].isin([1, 2]), "population_mid2017"].sum()
    for level in ("system", "place", "neighbourhood"):
        frame = store.read_layer(level)
        assert {"core20_pop", "core20_share"} <= set(frame.columns)
        assert frame["core20_pop"].sum() == pytest.approx(expected, abs=0.5), level
    lsoa = store.read_layer("lsoa", columns=["lsoa_code", "nbhd_cd", "core20", "in_area"])
    assert lsoa.loc[lsoa["in_area"].astype(bool), "nbhd_cd"].notna().all()
    man = store.read_manifest()
    assert man["results"]["neighbourhoods"]["source"] == "generated"
    assert man["results"]["core20"]["population_year"] == "2017"
    assert 0.19 < man["results"]["core20"]["england_core20_share"] < 0.21
