"""Reading built-environment features from a local OpenStreetMap file (pyosmium).

The file is read with pyosmium (``osmium.FileProcessor(...).with_areas()``): closed ways and
multipolygon relations come back as areas, assembled by libosmium, and are turned into shapely
geometries from WKB. This reads a ``.osm.pbf`` directly, in one streaming pass plus the relation
pass, without building the whole feature table that ``osmnx.features_from_xml`` would (and without
converting to XML first). What is kept: green space (:data:`GREEN_TAGS`), water
(:data:`WATER_TAGS`) and outlets (:data:`OUTLET_TAGS`), reprojected to EPSG:27700, with the
extract's coverage; `healthgap.geo.osm_features` turns them into LSOA measures.
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
from pyproj import Transformer

from healthgap import BNG
from healthgap.errors import CRSError, InputError

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
