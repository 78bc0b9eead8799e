"""Zonal statistics of a GeoTIFF per neighbourhood, and gridded CSVs turned into GeoTIFFs.

:func:`zonal_stats` uses exactextract (``exactextract.exact_extract``), which weights every cell
by the exact fraction of it that a polygon covers, so a small LSOA over a 1 km grid gets the
right blend of cells rather than whichever cell centres happen to fall inside it.

Choices, and why:

* **CRS.** When the raster is not in EPSG:27700, the *polygons* are reprojected to the raster's
  CRS (after densifying their edges to 50 m, so straight BNG edges stay faithful), rather than the
  raster being resampled to BNG. Resampling changes cell values and mixes neighbours; moving
  polygon vertices does not change the data.
* **Nodata.** Cells equal to the band's nodata value, masked cells and NaN are ignored: ``mean``
  and ``max`` are over valid cells only, and ``coverage`` reports the share of each polygon's area
  that valid cells cover (1 = fully covered; 0 = nothing valid, statistics NaN).
* **Population weighting.** With a population raster (same CRS and grid as the values),
  ``pw_mean = sum(v * p * c) / sum(p * c)`` where ``c`` is the coverage fraction
  (exactextract's ``weighted_mean``).
* **Memory.** The default ``feature-sequential`` strategy reads, for each polygon, only the window
  of the raster under it (``rasterio`` windowed reads through exactextract's
  ``RasterioRasterSource``), and ``max_cells_in_memory`` caps the cells held at once, so rasters
  far larger than memory are fine. Tiled GeoTIFFs make those windowed reads cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from healthgap.data.access_inputs import read_grid_csv
from healthgap.data.rasters import open_raster
from healthgap.geo import BNG
from healthgap.geo._validation import require_bng, require_unique_index
from pyproj import CRS

from healthgap import errors

log = logging.getLogger(__name__)

STATS = ("mean", "max", "min", "sum", "median")
"""Unweighted statistics :func:`zonal_stats` accepts (``coverage`` is always reported)."""


def _check_zone_args(
    zones: gpd.GeoDataFrame, stats: Sequence[str], max_cells_in_memory: int
) -> None:
    """Validate the zones, statistics and memory bound of :func:`zonal_stats`."""
    require_unique_index(require_bng(zones, name="zones"), name="zones")
    bad = [s for s in stats if s not in STATS]
    if bad or not stats:
        raise errors.ParameterError(
            f"stats must be a non-empty subset of {STATS}, got {list(stats)}")
    if int(max_cells_in_memory) < 1:
        raise errors.ParameterError(
            f"max_cells_in_memory must be >= 1, got {max_cells_in_memory!r}")
    empty = zones.geometry.isna() | zones.geometry.is_empty
    if empty.any():
        raise errors.InputError(
            f"zones: empty or missing geometry for {list(zones.index[empty][:10])}")


def _check_rasters(
    ds: rasterio.DatasetReader,
    wds: rasterio.DatasetReader | None,
    raster: str | Path,
    weights: str | Path | None,
    band: int,
) -> CRS:
    """Validate the value (and weights) raster of :func:`zonal_stats`; return the raster CRS."""
    if not 1 <= band <= ds.count:
        raise errors.ParameterError(f"band must be in 1..{ds.count} for {raster}, got {band}")
    if ds.crs is None:
        raise errors.CRSError(f"{raster}: raster has no CRS")
    if abs(ds.transform.b) > 0 or abs(ds.transform.d) > 0:
        raise errors.InputError(f"{raster}: rotated rasters are not supported")
    rcrs = CRS.from_user_input(ds.crs.to_wkt())
    if wds is not None:
        if wds.crs is None or not CRS.from_user_input(wds.crs.to_wkt()).equals(rcrs):
            raise errors.CRSError(
                f"weights {weights}: CRS {wds.crs} differs from the raster's {ds.crs}")
        if not (np.allclose(wds.res, ds.res, rtol=1e-6) and _aligned(wds.transform, ds.transform)):
            raise errors.InputError(
                f"weights {weights}: grid (res {wds.res}, origin "
                f"{wds.transform.c, wds.transform.f}) does not match the raster's (res "
                f"{ds.res}, origin {ds.transform.c, ds.transform.f}); "
                "resample the population onto the value grid first"
            )
    return rcrs


def zonal_stats(
    raster: str | Path,
    zones: gpd.GeoDataFrame,
    *,
    stats: Sequence[str] = ("mean", "max"),
    weights: str | Path | None = None,
    band: int = 1,
    prefix: str | None = None,
    max_cells_in_memory: int = 30_000_000,
) -> pd.DataFrame:
    """Summarise one raster band over each polygon with exact cell-coverage weights.

    Parameters
    ----------
    raster
        GeoTIFF (or any raster rasterio reads) with a CRS.
    zones
        Polygons in EPSG:27700 indexed by area code.
    stats
        Statistics from :data:`STATS`.
    weights
        Population raster on the same grid (CRS, resolution, alignment) as ``raster``; adds
        ``pw_mean``.
    band
        1-based band number.
    prefix
        Prefix of the output columns (``<prefix>_mean``); the raster's file stem by default.
    max_cells_in_memory
        Upper bound on raster cells exactextract holds at once.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``zones``: ``<prefix>_<stat>`` for each statistic, ``<prefix>_pw_mean`` with
        weights, and ``<prefix>_coverage`` (share of the polygon covered by valid cells).
    """
    from exactextract import exact_extract
    from exactextract.raster import RasterioRasterSource

    _check_zone_args(zones, stats, max_cells_in_memory)

    ds = open_raster(raster, "value")
    wds = open_raster(weights, "weights") if weights is not None else None
    try:
        rcrs = _check_rasters(ds, wds, raster, weights, band)
        geoms = zones.geometry
        if not rcrs.equals(CRS.from_user_input(BNG)):
            geoms = geoms.segmentize(50.0).to_crs(rcrs)
        frame = gpd.GeoDataFrame({"_zone": np.arange(len(zones))}, geometry=geoms.values, crs=rcrs)
        ops = [*stats, "count"]
        values = RasterioRasterSource(ds, band_idx=band, name="v")
        wsrc = RasterioRasterSource(wds, band_idx=1, name="w") if wds is not None else None
        if wsrc is not None:
            ops.append("weighted_mean")
        result = exact_extract(
            values,
            frame,
            ops,
            weights=wsrc,
            include_cols=["_zone"],
            output="pandas",
            max_cells_in_memory=int(max_cells_in_memory),
        )
        cell_area = abs(ds.res[0] * ds.res[1])
    finally:
        ds.close()
        if wds is not None:
            wds.close()

    result = result.set_index("_zone").reindex(np.arange(len(zones)))
    name = prefix if prefix is not None else Path(raster).stem
    out = pd.DataFrame(index=zones.index)
    for s in stats:
        out[f"{name}_{s}"] = pd.to_numeric(result[s], errors="coerce").to_numpy(dtype=float)
    if wsrc is not None:
        out[f"{name}_pw_mean"] = pd.to_numeric(result["weighted_mean"], errors="coerce").to_numpy(
            dtype=float
        )
    # polygon area in the raster's own units, like the cell area (degrees^2 for a lon/lat grid)
    area = np.asarray(shapely.area(frame.geometry.values), dtype=float)
    count = pd.to_numeric(result["count"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    out[f"{name}_coverage"] = np.clip(
        count * cell_area / np.where(area > 0, area, np.nan), 0.0, 1.0
    )
    nothing = count == 0
    for column in out.columns:
        if not column.endswith("_coverage"):
            out.loc[nothing, column] = np.nan
    return out


def _aligned(a: Affine, b: Affine) -> bool:
    """Return True if two north-up grids share cell size and have origins a whole cell apart."""
    dx = (a.c - b.c) / b.a
    dy = (a.f - b.f) / b.e
    return bool(abs(dx - round(dx)) < 1e-6 and abs(dy - round(dy)) < 1e-6)


def grid_csv_to_geotiff(
    csv: str | Path | pd.DataFrame,
    out: str | Path,
    *,
    value: str,
    x: str = "x",
    y: str = "y",
    cell: float = 1000.0,
    crs: Any = BNG,
    nodata: float = -9999.0,
) -> Path:
    """Write a CSV of regular grid-cell centres (e.g. Defra PCM 1 km) as a tiled GeoTIFF.

    Parameters
    ----------
    csv
        File or frame with one row per cell.
    out
        GeoTIFF path to write (overwritten).
    value
        Column holding the cell value.
    x, y
        Columns with the cell-centre coordinates in ``crs``.
    cell
        Cell size in CRS units (> 0). Every centre must sit on the same grid of this spacing.
    crs
        CRS of the coordinates (EPSG:27700 by default).
    nodata
        Value written to cells with no row or a missing value.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    label = "frame" if isinstance(csv, pd.DataFrame) else str(csv)
    if isinstance(csv, pd.DataFrame):
        frame = csv
    else:
        frame = read_grid_csv(csv)
    missing = [c for c in (x, y, value) if c not in frame.columns]
    if missing:
        raise errors.MissingColumnError(
            f"{label}: missing column(s) {missing}; found {list(frame.columns)}"
        )
    size = float(cell)
    if not np.isfinite(size) or size <= 0:
        raise errors.ParameterError(f"cell must be > 0, got {cell!r}")
    xs = pd.to_numeric(frame[x], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(frame[y], errors="coerce").to_numpy(dtype=float)
    vs = pd.to_numeric(frame[value], errors="coerce").to_numpy(dtype=float)
    bad_xy = ~(np.isfinite(xs) & np.isfinite(ys))
    if bad_xy.any():
        raise errors.InputError(
            f"{label}: non-numeric {x}/{y} in row(s) {list(np.flatnonzero(bad_xy)[:10])}"
        )
    if len(xs) == 0:
        raise errors.InputError(f"{label}: no rows")
    x0 = xs.min() - size / 2
    y1 = ys.max() + size / 2
    col_f = (xs - x0) / size - 0.5
    row_f = (y1 - ys) / size - 0.5
    off = (np.abs(col_f - np.round(col_f)) > 1e-6) | (np.abs(row_f - np.round(row_f)) > 1e-6)
    if off.any():
        rows = list(np.flatnonzero(off)[:10])
        raise errors.InputError(f"{label}: cell centres not on a {size:g} grid in row(s) {rows}")
    col = np.round(col_f).astype(np.int64)
    row = np.round(row_f).astype(np.int64)
    width, height = int(col.max()) + 1, int(row.max()) + 1
    flat = row * width + col
    uniq, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][:5]
        where = [
            (float(x0 + (d % width + 0.5) * size), float(y1 - (d // width + 0.5) * size))
            for d in dup
        ]
        raise errors.DuplicateCodeError(
            f"{label}: {int((counts > 1).sum())} cell(s) appear more than once, e.g. at {where}"
        )
    grid = np.full((height, width), nodata, dtype="float32")
    grid[row, col] = np.where(np.isfinite(vs), vs, nodata).astype("float32")
    transform = Affine(size, 0.0, x0, 0.0, -size, y1)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": 1,
        "dtype": "float32",
        "crs": CRS.from_user_input(crs).to_wkt(),
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
    }
    if width >= 16 and height >= 16:
        profile.update(
            tiled=True,
            blockxsize=256 if width >= 256 else 16,
            blockysize=256 if height >= 256 else 16,
        )
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(grid, 1)
    return target
