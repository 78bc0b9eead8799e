"""Built-environment layers from a local OpenStreetMap file: green space and outlet density.

The file is read by `healthgap.data.osm_features.read_osm_features` (pyosmium); this module
turns the features it returns into LSOA measures.

Green space
    Areas tagged with any of `healthgap.data.osm_features.GREEN_TAGS`. Overlaps (a wood inside
    a park) are dissolved so no ground counts twice, and water (``natural=water``,
    ``landuse=reservoir|basin``, ``waterway=riverbank``) is subtracted: a nature reserve drawn
    around a reservoir, like Rutland Water, is not green ground. ``green_share`` = green area
    in the LSOA / LSOA area.

Outlets
    ``amenity=fast_food`` and ``shop=alcohol`` (off-licences), mapped as nodes or as areas
    (a building outline; counted once at its representative point). Open ways carrying these tags
    are not counted. An outlet mapped both as a node and as its building would count twice; that is
    rare in OSM and is not corrected. Density = outlets in the LSOA per 1,000 residents.

Coverage
    An extract only holds data inside its own boundary. An LSOA not wholly inside ``coverage``
    (by default the box in the file header) gets NaN for every measure, because an area outside the
    extract would look empty rather than unknown. Geofabrik extracts are clipped to a polygon, not
    their box: pass that polygon (EPSG:27700) as ``coverage`` when LSOAs reach the box corners.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from healthgap.data.osm_features import (
    OUTLET_TAGS,
    OsmFeatures,
)
from healthgap.geo import BNG
from healthgap.geo._validation import require_bng, require_unique_index

from healthgap.errors import InputError, MissingColumnError

log = logging.getLogger(__name__)

def _check_lsoa(lsoa: Any) -> gpd.GeoDataFrame:
    """Raise unless ``lsoa`` is a GeoDataFrame of polygons in EPSG:27700 with unique codes."""
    require_unique_index(require_bng(lsoa, name="lsoa"), name="lsoa")
    return lsoa


def _covered(lsoa: gpd.GeoDataFrame, coverage: Any) -> pd.Series:
    """Return the share of each LSOA's area inside ``coverage`` (1.0 if coverage is unknown)."""
    if coverage is None:
        return pd.Series(1.0, index=lsoa.index)
    inter = shapely.intersection(lsoa.geometry.values, coverage)
    return pd.Series(shapely.area(inter) / lsoa.geometry.area.to_numpy(), index=lsoa.index)


def green_space_share(
    features: OsmFeatures, lsoa: gpd.GeoDataFrame, *, min_coverage: float = 0.999
) -> pd.DataFrame:
    """Return the share of each LSOA's area that is green space.

    Parameters
    ----------
    features
        From `healthgap.data.osm_features.read_osm_features`.
    lsoa
        Polygons in EPSG:27700 indexed by code.
    min_coverage
        LSOAs with less of their area inside the extract's coverage get NaN.

    Returns
    -------
    pandas.DataFrame
        ``green_m2``, ``green_share`` (0-1) and ``osm_coverage`` (share of the LSOA inside the
        extract).
    """
    _check_lsoa(lsoa)
    cover = _covered(lsoa, features.coverage)
    geoms = lsoa.geometry.values
    if len(features.green):
        green = shapely.union_all(features.green.geometry.values)
        if len(features.water):
            green = shapely.difference(green, shapely.union_all(features.water.geometry.values))
        shapely.prepare(green)
        green_m2 = shapely.area(shapely.intersection(geoms, green))
    else:
        green_m2 = np.zeros(len(lsoa))
    out = pd.DataFrame(
        {
            "green_m2": green_m2,
            "green_share": green_m2 / lsoa.geometry.area.to_numpy(),
            "osm_coverage": cover,
        },
        index=lsoa.index,
    )
    out.loc[cover < min_coverage, ["green_m2", "green_share"]] = np.nan
    return out


def outlet_density(
    features: OsmFeatures,
    lsoa: gpd.GeoDataFrame,
    *,
    population: str = "population",
    min_coverage: float = 0.999,
) -> pd.DataFrame:
    """Count outlets of each kind in each LSOA, and per 1,000 residents.

    Parameters
    ----------
    features, lsoa, min_coverage
        As for :func:`green_space_share`; ``lsoa`` also has the ``population`` column.
    population
        Name of the population column (residents, >= 0). Where it is 0 or missing the counts are
        given and the rates are NaN.

    Returns
    -------
    pandas.DataFrame
        ``<kind>_n`` and ``<kind>_per_1000`` for each kind in :data:`OUTLET_TAGS`, and
        ``osm_coverage``.
    """
    _check_lsoa(lsoa)
    if population not in lsoa:
        raise MissingColumnError(f"lsoa: missing {population!r}; found {list(lsoa.columns)}")
    pop = pd.to_numeric(lsoa[population], errors="coerce")
    if (pop < 0).any():
        bad = lsoa.index[pop < 0]
        raise InputError(f"lsoa: {population!r} must be >= 0; negative for {list(bad[:10])}")
    per = pop.where(pop > 0)  # no residents (or unknown): a count but no rate
    cover = _covered(lsoa, features.coverage)
    out = pd.DataFrame(index=lsoa.index)
    zones = gpd.GeoDataFrame(
        {"_code": lsoa.index.to_numpy()}, geometry=lsoa.geometry.values, crs=BNG
    )
    joined = gpd.sjoin(features.outlets, zones, how="inner", predicate="within")
    key = "_code"
    for kind in OUTLET_TAGS:
        n = joined[joined["kind"] == kind].groupby(key).size()
        count = n.reindex(lsoa.index).fillna(0).astype(float)
        out[f"{kind}_n"] = count
        out[f"{kind}_per_1000"] = count / per * 1000.0
    out["osm_coverage"] = cover
    out.loc[cover < min_coverage, [c for c in out.columns if c != "osm_coverage"]] = np.nan
    return out
