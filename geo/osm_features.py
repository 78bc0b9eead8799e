"""Built-environment layers from a local OpenStreetMap file: green space and outlet density.

The file is read with pyosmium (``osmium.FileProcessor(...).with_areas()``): closed ways and
multipolygon relations come back as areas, assembled by libosmium, and are turned into shapely
geometries from WKB. This reads a ``.osm.pbf`` directly, in one streaming pass plus the relation
pass, without building the whole feature table that ``osmnx.features_from_xml`` would (and without
converting to XML first).

Green space
    Areas tagged with any of :data:`GREEN_TAGS`. Overlaps (a wood inside a park) are dissolved so
    no ground counts twice, and water (``natural=water``, ``landuse=reservoir|basin``,
    ``waterway=riverbank``) is subtracted: a nature reserve drawn around a reservoir, like Rutland
    Water, is not green ground. ``green_share`` = green area in the LSOA / LSOA area.

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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely
from healthgap.data.osm import check_osm_file, file_bounds
from healthgap.geo import BNG
from healthgap.geo._validation import require_bng, require_unique_index
from pyproj import Transformer

from healthgap.errors import CRSError, InputError, MissingColumnError

log = logging.getLogger(__name__)

GREEN_TAGS: dict[str, frozenset[str]] = {
    "leisure": frozenset({"park", "garden", "nature_reserve", "recreation_ground", "common"}),
    "landuse": frozenset({"grass", "forest", "meadow", "recreation_ground", "village_green"}),
    "natural": frozenset({"wood", "scrub", "heath", "grassland"}),
}
"""Tag values that make an area green space."""

WATER_TAGS: dict[str, frozenset[str]] = {
    "natural": frozenset({"water"}),
    "landuse": frozenset({"reservoir", "basin"}),
    "waterway": frozenset({"riverbank"}),
}
"""Tag values that make an area water (subtracted from green space)."""

OUTLET_TAGS: dict[str, tuple[str, str]] = {
    "fast_food": ("amenity", "fast_food"),
    "off_licence": ("shop", "alcohol"),
}
"""Outlet kind -> (key, value)."""


def _matches(tags: Mapping[str, str], table: Mapping[str, frozenset[str]]) -> bool:
    """Return True if any key of ``table`` has one of its values in ``tags``."""
    return any(tags.get(k) in values for k, values in table.items())


@dataclass(frozen=True)
class OsmFeatures:
    """Features read from one OSM file, in EPSG:27700.

    Attributes
    ----------
    green
        Green-space polygons (``osm_id``, ``tag``).
    water
        Water polygons.
    outlets
        Points with ``kind`` (``fast_food``/``off_licence``), ``osm_type``, ``osm_id``, ``name``.
    coverage
        Polygon the extract covers (header box unless given), or None if unknown.
    skipped
        Areas libosmium could not assemble (broken at the extract edge), by OSM id.
    """

    green: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    outlets: gpd.GeoDataFrame
    coverage: Any
    skipped: pd.DataFrame


def _node_outlets(obj: Any) -> list[tuple[str, str, int, str, float, float]]:
    """Outlet rows (lon/lat) for one OSM node."""
    tags = {t.k: t.v for t in obj.tags}
    rows = []
    for kind, (k, v) in OUTLET_TAGS.items():
        if tags.get(k) == v and obj.location.valid():
            rows.append(
                (
                    kind,
                    "node",
                    obj.id,
                    tags.get("name", ""),
                    obj.location.lon,
                    obj.location.lat,
                )
            )
    return rows


def _read_area(
    obj: Any,
    wkb: Any,
    to_bng: Transformer,
    green: list[tuple[int, str, Any]],
    water: list[tuple[int, Any]],
    outlets: list[tuple[str, str, int, str, float, float]],
    skipped: list[tuple[str, int, str]],
) -> None:
    """Append one OSM area to the green, water, outlet or skipped rows (BNG)."""
    tags = {t.k: t.v for t in obj.tags}
    is_green = _matches(tags, GREEN_TAGS)
    is_water = _matches(tags, WATER_TAGS)
    kinds = [kind for kind, (k, v) in OUTLET_TAGS.items() if tags.get(k) == v]
    if not (is_green or is_water or kinds):
        return
    osm_type = "way" if obj.from_way() else "relation"
    try:
        geom = shapely.from_wkb(wkb.create_multipolygon(obj))
    except RuntimeError as exc:
        skipped.append((osm_type, obj.orig_id(), str(exc)))
        return
    geom = shapely.transform(geom, lambda xy: np.column_stack(to_bng.transform(xy[:, 0], xy[:, 1])))
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if is_water:
        water.append((obj.orig_id(), geom))
    elif is_green:
        tag = next(f"{k}={tags[k]}" for k in GREEN_TAGS if tags.get(k) in GREEN_TAGS[k])
        green.append((obj.orig_id(), tag, geom))
    for kind in kinds:
        pt = geom.representative_point()
        outlets.append((kind, osm_type, obj.orig_id(), tags.get("name", ""), pt.x, pt.y))


def read_osm_features(osm_path: str | Path, *, coverage: Any = None) -> OsmFeatures:
    """Read green space, water and outlets from a local OSM file.

    Parameters
    ----------
    osm_path
        ``.osm.pbf`` or ``.osm`` file.
    coverage
        Polygon (EPSG:27700 shapely geometry or GeoDataFrame/GeoSeries) the extract covers; the
        header box by default.

    Returns
    -------
    OsmFeatures
        The features, reprojected to EPSG:27700.
    """
    src = check_osm_file(osm_path)
    to_bng = Transformer.from_crs("EPSG:4326", BNG, always_xy=True)
    wkb = osmium.geom.WKBFactory()
    green: list[tuple[int, str, Any]] = []
    water: list[tuple[int, Any]] = []
    outlets: list[tuple[str, str, int, str, float, float]] = []
    skipped: list[tuple[str, int, str]] = []
    keys = {*GREEN_TAGS, *WATER_TAGS, *(k for k, _ in OUTLET_TAGS.values())}
    processor = (
        osmium.FileProcessor(str(src)).with_areas().with_filter(osmium.filter.KeyFilter(*keys))
    )
    for obj in processor:
        if isinstance(obj, osmium.osm.Node):
            outlets.extend(_node_outlets(obj))
        elif isinstance(obj, osmium.osm.Area):
            _read_area(obj, wkb, to_bng, green, water, outlets, skipped)
    # node outlets are lon/lat; area outlets are already BNG: convert the nodes
    out = pd.DataFrame(outlets, columns=["kind", "osm_type", "osm_id", "name", "x", "y"])
    is_node = out["osm_type"].eq("node").to_numpy()
    if is_node.any():
        nx_, ny_ = to_bng.transform(
            out.loc[is_node, "x"].to_numpy(), out.loc[is_node, "y"].to_numpy()
        )
        out.loc[is_node, "x"] = nx_
        out.loc[is_node, "y"] = ny_
    outlets_gdf = gpd.GeoDataFrame(
        out.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(out["x"], out["y"]), crs=BNG
    )
    green_gdf = gpd.GeoDataFrame(
        {"osm_id": [g[0] for g in green], "tag": [g[1] for g in green]},
        geometry=[g[2] for g in green],
        crs=BNG,
    )
    water_gdf = gpd.GeoDataFrame(
        {"osm_id": [w[0] for w in water]}, geometry=[w[1] for w in water], crs=BNG
    )
    if coverage is None:
        box = file_bounds(src)
        cov = None
        if box is not None:
            ll = shapely.box(*box).segmentize(0.01)
            cov = shapely.transform(
                ll, lambda xy: np.column_stack(to_bng.transform(xy[:, 0], xy[:, 1]))
            )
    else:
        cov = _coverage_geometry(coverage)
    if skipped:
        log.info("%s: %d areas could not be assembled", src, len(skipped))
    return OsmFeatures(
        green=green_gdf,
        water=water_gdf,
        outlets=outlets_gdf,
        coverage=cov,
        skipped=pd.DataFrame(skipped, columns=["osm_type", "osm_id", "error"]),
    )


def _coverage_geometry(coverage: Any) -> Any:
    """Return one EPSG:27700 geometry from a frame, series or geometry."""
    if isinstance(coverage, gpd.GeoDataFrame | gpd.GeoSeries):
        if coverage.crs is None or not coverage.crs.equals(BNG):
            raise CRSError(f"coverage must be in {BNG}, got {coverage.crs}")
        return coverage.union_all()
    if isinstance(coverage, shapely.Geometry):
        return coverage
    raise InputError(
        f"coverage: expected a geometry or GeoDataFrame in {BNG}, got {type(coverage).__name__}"
    )


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
        From :func:`read_osm_features`.
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
    features
        From :func:`read_osm_features`.
    lsoa
        Polygons in EPSG:27700 indexed by code, with a population column.
    population
        Name of the population column (residents, >= 0). Where it is 0 or missing the counts are
        given and the rates are NaN.
    min_coverage
        LSOAs with less of their area inside the extract's coverage get NaN.

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
