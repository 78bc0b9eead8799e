"""Checks shared by every geo/ module: frame type, CRS, columns, alignment."""

from __future__ import annotations

import math
from collections.abc import Iterable

import geopandas as gpd
import pandas as pd
from healthgap.geo import BNG

from healthgap.errors import (
    CRSError,
    InputError,
    MissingColumnError,
    ParameterError,
    ValidationError,
    preview,
)


def require_bng(gdf: object, *, name: str = "frame") -> gpd.GeoDataFrame:
    """Return ``gdf`` if it is a GeoDataFrame in EPSG:27700, else raise a clear error."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{name}: expected GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None:
        raise CRSError(f"{name}: no CRS set; expected EPSG:27700 (British National Grid)")
    if not gdf.crs.equals(BNG):
        raise CRSError(f"{name}: CRS is {gdf.crs.to_string()}; expected EPSG:27700 "
                       "(British National Grid). Reproject a copy with .to_crs(27700)")
    return gdf


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, name: str = "frame") -> None:
    """Raise `MissingColumnError` listing every absent column and the columns found."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"{name}: missing column(s) {', '.join(missing)}; found: "
                                 f"{', '.join(map(str, frame.columns))}")


def collect(source: str, checks: Iterable[tuple[bool, str]]) -> None:
    """Raise one `ValidationError` with every failed check's message, if any failed."""
    problems = [msg for failed, msg in checks if failed]
    if problems:
        raise ValidationError(source, problems)


def require_unique_index(frame: pd.DataFrame, *, name: str = "frame") -> None:
    """Raise if the frame's index (area codes) has duplicates."""
    from healthgap.errors import DuplicateCodeError

    dup = frame.index[frame.index.duplicated()].unique()
    if len(dup):
        raise DuplicateCodeError(f"{name}: {len(dup)} duplicated code(s) in the index "
                                 f"{frame.index.name!r}: {preview(dup)}")


def number_above_zero(value: object, message: str) -> float:
    """Return ``value`` as a float; raise `ParameterError` with ``message`` unless finite > 0."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(message) from None
    if not math.isfinite(number) or number <= 0:
        raise ParameterError(message)
    return number
