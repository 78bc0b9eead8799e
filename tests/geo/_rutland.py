"""Small real inputs for the access tests: Rutland (E06000017) LSOAs, GP practices and network.

Built from ``../shared/data`` once per test session (module-level caches), so several test files
can share the slow parts (reading the boundary file, building the drive network).
"""

from __future__ import annotations

import functools
from pathlib import Path

import geopandas as gpd
import pandas as pd

from tests._names import neutral

RUTLAND = "E06000017"


@functools.lru_cache(maxsize=4)
def rutland_lsoa(data: Path, ring_m: float = 0.0) -> gpd.GeoDataFrame:
    """Rutland's 23 LSOAs (EPSG:27700) with pw_x/pw_y (postcode proxy) and mid-2017 population.

    With ``ring_m > 0``, English LSOAs within that distance of Rutland are added with
    ``in_area = False``.
    """
    lookup = neutral(pd.read_csv(data / "geography/lsoa11_msoa11_lad22_lookup_ew.csv", dtype=str))
    codes = lookup.loc[lookup["place_code"] == RUTLAND, "lsoa_code"].tolist()
    path = data / "geography/lsoa11_boundaries_ew_super_generalised.geojson"
    if ring_m > 0:
        core = neutral(gpd.read_file(
            path, where="LSOA11CD IN ({})".format(",".join(f"'{c}'" for c in codes))
        ))
        box = tuple(core.to_crs(27700).buffer(ring_m).to_crs(4326).total_bounds)
        frame = neutral(gpd.read_file(path, bbox=box))
        frame = frame[frame["LSOA11CD"].str.startswith("E01")]
    else:
        frame = neutral(gpd.read_file(
            path, where="LSOA11CD IN ({})".format(",".join(f"'{c}'" for c in codes))
        ))
    frame = frame.to_crs(27700)
    frame = frame.rename(columns={"LSOA11CD": "lsoa_code"}).set_index("lsoa_code")[["geometry"]]
    frame["in_area"] = frame.index.isin(codes)
    if ring_m > 0:
        core_union = frame[frame["in_area"]].union_all().buffer(ring_m)
        frame = frame[frame["in_area"] | frame.intersects(core_union)]
    pw = neutral(pd.read_csv(
        data / "population/lsoa11_postcode_centroids_ew_derived.csv", index_col="lsoa11cd"
    ))
    pop = neutral(pd.read_csv(
        data / "population/lsoa11_population_mid2017_sape20dt1_ew.csv", index_col="lsoa11cd"
    ))
    frame["pw_x"] = pw["easting"].reindex(frame.index)
    frame["pw_y"] = pw["northing"].reindex(frame.index)
    frame["centroid_source"] = "postcode_proxy"
    frame["population"] = pop["population_mid2017"].reindex(frame.index).astype(float)
    return frame.sort_index()


@functools.lru_cache(maxsize=2)
def rutland_drive(data: Path, cache_dir: Path):
    """Drive network around Rutland (5 km buffer) from the real Geofabrik extract."""
    from healthgap.geo.network import read_network

    return read_network(
        data / "osm/rutland-latest.osm.pbf",
        bounds=rutland_lsoa(data),
        mode="drive",
        buffer_m=5000.0,
        cache_dir=cache_dir,
    )


@functools.lru_cache(maxsize=2)
def rutland_gps(data: Path, buffer_m: float = 10_000.0) -> gpd.GeoDataFrame:
    """Active GP practices from the real epraccur file within Rutland's box + buffer."""
    from healthgap.geo.facilities import read_gp_practices

    read = read_gp_practices(data / "health_services/gp_practices_epraccur_dec2023_geocoded.csv")
    minx, miny, maxx, maxy = rutland_lsoa(data).total_bounds
    fac = read.facilities
    inside = fac.geometry.x.between(minx - buffer_m, maxx + buffer_m) & fac.geometry.y.between(
        miny - buffer_m, maxy + buffer_m
    )
    return fac[inside]
