"""Serialise frames to GeoJSON and CSV bytes, fast and without NaN.

GeoJSON (RFC 7946) is in EPSG:4326 with longitude first. A collection in any other CRS carries
the pre-RFC ``crs`` member (``{"type": "name", "properties": {"name":
"urn:ogc:def:crs:EPSG::27700"}}``) that GDAL/QGIS read, so a client asking for British National
Grid knows what it got.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: Decimal places kept per CRS: 1e-6 degrees is about 0.1 m; 0.1 m in British National Grid.
PRECISION = {"EPSG:4326": 6, "EPSG:27700": 1}
#: Stored as 0/1 integers by the build; served as booleans.
BOOLEAN_COLUMNS = ("in_area",)
BOOLEAN_SUFFIXES = ("_suppressed",)


def is_boolean_column(name: str) -> bool:
    """Return True for the 0/1 columns the build stores for booleans."""
    return name in BOOLEAN_COLUMNS or name.endswith(BOOLEAN_SUFFIXES)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return plain-Python rows (NaN as None, 0/1 flags as booleans) of an attribute frame."""
    out = json.loads(_attributes(frame).to_json(orient="records", double_precision=15))
    return out if isinstance(out, list) else []


def _attributes(frame: pd.DataFrame) -> pd.DataFrame:
    attrs = pd.DataFrame(frame).copy()
    for col in attrs.columns:
        s = attrs[col]
        if is_boolean_column(str(col)) and pd.api.types.is_numeric_dtype(s):
            attrs[col] = (s.astype(bool) if s.notna().all() else
                          s.map(lambda v: None if pd.isna(v) else bool(v)).astype(object))
    return attrs


def property_objects(frame: pd.DataFrame) -> list[str]:
    """Return one compact JSON object per row of an attribute frame (NaN as null)."""
    if len(frame) == 0:
        return []
    if len(frame.columns) == 0:
        return ["{}"] * len(frame)
    text = _attributes(frame).to_json(orient="records", lines=True, double_precision=15)
    return text.rstrip("\n").split("\n")


def geometry_json(geoms: np.ndarray, digits: int) -> list[str | None]:
    """Return GeoJSON geometry objects with coordinates rounded to ``digits`` decimals.

    Coordinates are rounded with numpy (one vectorised pass over every vertex), then written
    by GEOS's GeoJSON writer (``shapely.to_geojson``), which prints the shortest decimal that
    round-trips, so a rounded coordinate keeps at most ``digits`` decimals. Missing geometries
    are None (``null`` in the feature).
    """
    if len(geoms) == 0:
        return []
    rounded = shapely.transform(np.asarray(geoms, dtype=object),
                                lambda xy: np.round(xy, digits))
    return list(shapely.to_geojson(rounded))


def feature_strings(frame: gpd.GeoDataFrame, *, crs: str) -> list[str]:
    """Return one GeoJSON Feature (compact JSON text) per row of ``frame``, in its order.

    A named index (area codes) becomes the feature ``id`` and also the first property (for GIS
    joins); without one, the id is the row position. Coordinates are rounded to the CRS's
    `PRECISION`. The API keeps these strings per layer and CRS, so any page or filter of a
    layer is a join of cached strings.
    """
    geom_json = geometry_json(frame.geometry.to_numpy(), PRECISION.get(crs, 6))
    attrs = pd.DataFrame(frame.drop(columns=[frame.geometry.name]))
    if attrs.index.name:
        attrs = attrs.reset_index()
    props = property_objects(attrs)
    ids: Iterable[str] = ((json.dumps(str(i)) for i in frame.index) if frame.index.name
                          else (str(i) for i in range(len(frame))))
    return [f'{{"type":"Feature","id":{fid},"geometry":{"null" if g is None else g},'
            f'"properties":{p}}}' for fid, g, p in zip(ids, geom_json, props, strict=True)]


def collection_head(*, crs: str, members: dict[str, Any], name: str) -> str:
    """Return a FeatureCollection's members before ``features`` (no closing brace)."""
    head: dict[str, Any] = {"type": "FeatureCollection", "name": name}
    if crs != "EPSG:4326":
        head["crs"] = {"type": "name",
                       "properties": {"name": f"urn:ogc:def:crs:EPSG::{crs.split(':')[1]}"}}
    head.update(members)
    return json.dumps(head, separators=(",", ":"), allow_nan=False)[:-1]


def join_features(head: str, features: Iterable[str]) -> bytes:
    """Return ``head`` and the features as one FeatureCollection (UTF-8 bytes)."""
    return (head + ',"features":[' + ",".join(features) + "]}").encode()


def feature_collection(frame: gpd.GeoDataFrame, *, crs: str, members: dict[str, Any],
                       name: str) -> bytes:
    """Return a FeatureCollection as UTF-8 bytes.

    Parameters
    ----------
    frame
        The features, in ``crs``; a named index (area codes) becomes the feature ``id`` and the
        first property; the other columns are the ``properties``.
    crs
        ``EPSG:4326`` or ``EPSG:27700``.
    members
        Extra top-level members (``numberMatched``, ``links``...), written before ``features``.
    name
        The collection name (the layer).
    """
    return join_features(collection_head(crs=crs, members=members, name=name),
                         feature_strings(frame, crs=crs))


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """Return an attribute frame as UTF-8 CSV (index written as the first column when named)."""
    attrs = _attributes(frame)
    text = attrs.to_csv(index=attrs.index.name is not None, lineterminator="\n")
    return text.encode()
