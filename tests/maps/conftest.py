"""Realistic frames for the map tests, built straight from ../shared/data.

Frimley ICB (E54000034): 440 LSOAs, IMD 2019, the super-generalised ONS boundaries, places (local
authorities) and the system dissolved from them, and MSOA life expectancy 2015-19.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from tests._names import neutral

FRIMLEY = "E54000034"


def read_lsoa_boundaries(data: Path, codes: set[str] | None = None) -> gpd.GeoDataFrame:
    path = data / "geography" / "lsoa11_boundaries_ew_super_generalised.geojson"
    gdf = neutral(gpd.read_file(path, columns=["LSOA11CD", "LSOA11NM"], engine="pyogrio"))
    gdf = gdf[gdf["LSOA11CD"].str.startswith("E")]
    if codes is not None:
        gdf = gdf[gdf["LSOA11CD"].isin(codes)]
    gdf = gdf.rename(columns={"LSOA11CD": "lsoa_code", "LSOA11NM": "lsoa_name"})
    return gdf.set_index("lsoa_code").to_crs(27700)


def england_lsoa_imd(data: Path) -> gpd.GeoDataFrame:
    """Every English LSOA with IMD 2019 score and decile (EPSG:27700)."""
    gdf = read_lsoa_boundaries(data)
    imd = neutral(pd.read_csv(data / "imd2019" / "imd2019_lsoa11_england.csv",
                      usecols=["lsoa11cd", "imd_score", "imd_rank", "imd_decile"]))
    return gdf.join(imd.set_index("lsoa_code"), how="left")


@pytest.fixture(scope="session")
def frimley_lsoa(shared_data: Path) -> gpd.GeoDataFrame:
    geography = shared_data / "geography"
    lookup = neutral(pd.read_csv(geography / "lsoa11_sicbl22_icb22_ltla22_lookup_england.csv"))
    lookup = lookup[lookup["icb22_code"] == FRIMLEY]
    assert len(lookup) == 440  # documented in shared/data/SOURCES.md
    gdf = read_lsoa_boundaries(shared_data, set(lookup["lsoa11_code"]))
    lk = lookup.set_index("lsoa11_code")[["ltla22_code", "ltla22_name", "icb22_code", "icb22_name"]]
    lk.columns = ["place_code", "place_name", "system_code", "system_name"]
    msoa = neutral(pd.read_csv(shared_data / "geography" / "lsoa11_msoa11_lad22_lookup_ew.csv",
                       usecols=["lsoa11cd", "msoa11cd"]).set_index("lsoa11cd"))
    imd = neutral(pd.read_csv(shared_data / "imd2019" / "imd2019_lsoa11_england.csv",
                      usecols=["lsoa11cd", "imd_score", "imd_rank", "imd_decile",
                               "health_decile"]).set_index("lsoa11cd"))
    gdf = gdf.join(lk).join(msoa).join(imd)
    assert len(gdf) == 440 and gdf["imd_score"].notna().all()
    return gdf


@pytest.fixture(scope="session")
def frimley_places(frimley_lsoa: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    places = frimley_lsoa[["place_code", "place_name", "geometry"]].dissolve(by="place_code")
    return places


@pytest.fixture(scope="session")
def frimley_system(frimley_lsoa: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frimley_lsoa[["system_code", "system_name", "geometry"]].dissolve(by="system_code")


@pytest.fixture(scope="session")
def frimley_msoa(shared_data: Path, frimley_lsoa: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    codes = set(frimley_lsoa["msoa_code"])
    gdf = neutral(
        gpd.read_file(shared_data / "geography" / "msoa11_boundaries_ew_generalised.geojson",
                        engine="pyogrio"))
    gdf = gdf[gdf["msoa_code"].isin(codes)].set_index("msoa_code").to_crs(27700)
    le = neutral(pd.read_csv(
        shared_data / "life_expectancy"
        / "msoa11_life_expectancy_mortality_localhealth_england.csv",
        usecols=["msoa11cd", "le_birth_male_2015_19", "le_birth_female_2015_19"],
    ).set_index("msoa11cd"))
    gdf = gdf.join(le)
    assert len(gdf) == len(codes)
    return gdf


@pytest.fixture(scope="session")
def frimley_lisa(frimley_lsoa: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """IMD score with real local Moran's I labels from esda (queen, row-standardised, 999
    permutations, seed 1, alpha 0.05, no correction) and Gi* z-scores with two-sided normal
    p-values (binary queen weights with self-weight 1).

    Computed once per run for every xdist worker (tests/_builds.py): esda's kernels are
    compiled afresh in each process (about 25 s here), and test_browser.py and
    test_clusters.py may run on different workers.
    """
    from tests import _builds

    return _builds.shared("frimley-lisa", lambda _folder: _esda_lisa(frimley_lsoa))


def _esda_lisa(frimley_lsoa: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    import esda
    import numpy as np
    from libpysal.graph import Graph

    queen = Graph.build_contiguity(frimley_lsoa, rook=False)
    w = queen.transform("r").to_W()
    y = frimley_lsoa["imd_score"].to_numpy()
    lisa = esda.Moran_Local(y, w, permutations=999, seed=1)
    quadrant = np.array(["High-High", "Low-High", "Low-Low", "High-Low"])[lisa.q - 1]
    labels = np.where(lisa.p_sim < 0.05, quadrant, "Not significant")
    # Gi* with analytical (normal) p-values: esda's permutation kernels for G_Local take a minute
    # to compile, and the map only needs z and p. esda's p_norm is one-sided; double it.
    gstar = esda.G_Local(y, queen.transform("b").to_W(), transform="B", star=True,
                         permutations=0)
    return frimley_lsoa.assign(lisa=labels, lisa_p=lisa.p_sim, gi_z=gstar.Zs,
                               gi_p=np.minimum(1.0, 2 * gstar.p_norm))


@pytest.fixture(scope="session")
def frimley_cliffs(frimley_msoa: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Lines between the centres of rook-adjacent Frimley MSOAs with their male LE gradient,
    in the column layout of geo.gradients (code_a, code_b, abs_diff, distance_miles, ...)."""
    import numpy as np
    import shapely
    from libpysal.graph import Graph

    g = Graph.build_contiguity(frimley_msoa, rook=True, strict=False)
    centres = frimley_msoa.geometry.representative_point()
    le = frimley_msoa["le_birth_male_2015_19"]
    rows = []
    for a, b in g.adjacency.index:
        if a < b and np.isfinite(le[a]) and np.isfinite(le[b]):
            miles = centres[a].distance(centres[b]) / 1609.344
            gap = abs(le[a] - le[b])
            rows.append({"code_a": a, "code_b": b, "le_a": le[a], "le_b": le[b],
                         "abs_diff": gap, "distance_miles": miles,
                         "years_per_mile": gap / miles,
                         "geometry": shapely.LineString([centres[a], centres[b]])})
    return gpd.GeoDataFrame(rows, crs=27700)
