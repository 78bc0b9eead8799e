"""Small real frames for the spatial-statistics tests, read from ``../shared/data``.

* :func:`england_lsoa` — the 32,844 English LSOA 2011 polygons (ONS super-generalised), BNG.
* :func:`frimley_lsoa` — Frimley ICB (E54000034, 440 LSOAs) plus its edge ring of LSOAs that
  touch it (``in_area`` False), with the IMD 2019 score.
* :func:`scilly_frame` — the Isles of Scilly LSOA (the one English LSOA with no contiguous
  neighbour) and the LSOAs within 50 km of it (west Cornwall).
* :func:`columbus` — libpysal's Columbus example (ships with libpysal), indexed by POLYID.
"""

from __future__ import annotations

import functools
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from tests._names import neutral

FRIMLEY = "E54000034"
SCILLY = "E01019077"


@functools.lru_cache(maxsize=1)
def england_lsoa(data: Path) -> gpd.GeoDataFrame:
    gdf = neutral(pyogrio.read_dataframe(
        data / "geography" / "lsoa11_boundaries_ew_super_generalised.geojson",
        columns=["LSOA11CD"],
        where="LSOA11CD LIKE 'E01%'",
    ))
    gdf = gdf.set_index("LSOA11CD").to_crs(27700)
    gdf.index.name = "lsoa_code"
    return gdf


@functools.lru_cache(maxsize=1)
def imd_score(data: Path) -> pd.Series:
    imd = neutral(pd.read_csv(data / "imd2019" / "imd2019_lsoa11_england.csv",
                      usecols=["lsoa11cd", "imd_score"]))
    return imd.set_index("lsoa_code")["imd_score"]


@functools.lru_cache(maxsize=1)
def frimley_lsoa(data: Path) -> gpd.GeoDataFrame:
    lookup = neutral(
        pd.read_csv(data / "geography" / "lsoa11_sicbl22_icb22_ltla22_lookup_england.csv",
                         usecols=["lsoa11_code", "icb22_code"]))
    codes = lookup.loc[lookup["icb22_code"] == FRIMLEY, "lsoa11_code"]
    england = england_lsoa(data)
    inside = england.loc[england.index.isin(codes)]
    touching = england.sindex.query(inside.geometry, predicate="intersects")[1]
    ring = england.iloc[sorted(set(touching))]
    ring = ring.loc[~ring.index.isin(inside.index)]
    frame = pd.concat([inside, ring]).copy()
    frame["in_area"] = frame.index.isin(inside.index)
    frame["imd_score"] = imd_score(data).reindex(frame.index)
    return frame


@functools.lru_cache(maxsize=1)
def scilly_frame(data: Path) -> gpd.GeoDataFrame:
    england = england_lsoa(data)
    scilly = england.loc[SCILLY, "geometry"]
    near = england.geometry.distance(scilly) <= 50_000
    frame = england.loc[near].copy()
    frame["imd_score"] = imd_score(data).reindex(frame.index)
    return frame


@functools.lru_cache(maxsize=1)
def columbus() -> gpd.GeoDataFrame:
    """Columbus, Ohio crime data (49 neighbourhoods). It has no CRS: contiguity does not need
    one, so it is labelled EPSG:27700 only to satisfy the frame contract."""
    from libpysal import examples

    gdf = neutral(gpd.read_file(examples.get_path("columbus.shp")))
    gdf = gdf.set_crs(27700, allow_override=True)
    gdf.index = pd.Index([f"C{p:02d}" for p in gdf["POLYID"]], name="polyid")
    return gdf
