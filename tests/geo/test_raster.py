"""Zonal statistics against rasters whose answers are known, and gridded CSV -> GeoTIFF."""

from __future__ import annotations

import exactextract.raster
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from healthgap.geo import BNG
from healthgap.geo.raster import grid_csv_to_geotiff, zonal_stats
from pyproj import Transformer

from healthgap.errors import CRSError, DuplicateCodeError, InputError, ParameterError
from tests._names import neutral

NODATA = -9999.0


def write(path, values, *, x0=0.0, y1=400.0, cell=100.0, crs=BNG, nodata=NODATA, tiled=False):
    values = np.asarray(values, dtype="float32")
    profile = {
        "driver": "GTiff",
        "height": values.shape[0],
        "width": values.shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": Affine(cell, 0.0, x0, 0.0, -cell, y1),
        "nodata": nodata,
    }
    if tiled:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return path


def zones(*geoms, codes=None):
    codes = codes or [f"Z{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame(geometry=list(geoms), crs=BNG, index=pd.Index(codes, name="lsoa_code"))


# 4 x 4 grid of 100 m cells, origin top-left (0, 400); value = 10 * row + col
GRID = np.array([[10 * r + c for c in range(4)] for r in range(4)], dtype=float)


def test_known_fractions(tmp_path):
    tif = write(tmp_path / "v.tif", GRID)
    z = zones(
        # cell (0,0) whole [value 0] + half of cell (0,1) [value 1]: mean = (0*1 + 1*0.5)/1.5
        shapely.box(0, 300, 150, 400),
        # a quarter of each of the four centre cells (1,1)=11 (1,2)=12 (2,1)=21 (2,2)=22
        shapely.box(150, 150, 250, 250),
        # whole bottom row: 30, 31, 32, 33
        shapely.box(0, 0, 400, 100),
    )
    out = zonal_stats(tif, z, stats=("mean", "max", "min"), prefix="v")
    assert out.loc["Z0", "v_mean"] == pytest.approx(0.5 / 1.5)
    assert out.loc["Z0", "v_max"] == 1.0 and out.loc["Z0", "v_min"] == 0.0
    assert out.loc["Z1", "v_mean"] == pytest.approx((11 + 12 + 21 + 22) / 4)
    assert out.loc["Z1", "v_max"] == 22.0
    assert out.loc["Z2", "v_mean"] == pytest.approx(31.5)
    np.testing.assert_allclose(out["v_coverage"], 1.0)
    assert out.index.equals(z.index)


def test_nodata_nan_and_outside(tmp_path):
    grid = GRID.copy()
    grid[0, 0] = NODATA
    grid[0, 1] = np.nan
    tif = write(tmp_path / "v.tif", grid)
    z = zones(
        shapely.box(0, 300, 300, 400),  # cells 0 (nodata), 1 (NaN), 2 (value 2)
        shapely.box(0, 300, 200, 400),  # only invalid cells
        shapely.box(1000, 1000, 1100, 1100),  # off the raster
        shapely.box(300, 300, 500, 400),  # half on the raster: cell (0,3) = 3
    )
    out = zonal_stats(tif, z, prefix="v")
    assert out.loc["Z0", "v_mean"] == 2.0 and out.loc["Z0", "v_max"] == 2.0
    assert out.loc["Z0", "v_coverage"] == pytest.approx(1 / 3)
    assert np.isnan(out.loc["Z1", "v_mean"]) and np.isnan(out.loc["Z1", "v_max"])
    assert out.loc["Z1", "v_coverage"] == 0.0
    assert np.isnan(out.loc["Z2", "v_mean"]) and out.loc["Z2", "v_coverage"] == 0.0
    assert out.loc["Z3", "v_mean"] == 3.0 and out.loc["Z3", "v_coverage"] == pytest.approx(0.5)


def test_population_weighted_mean(tmp_path):
    tif = write(tmp_path / "v.tif", GRID)
    pop = np.ones((4, 4))
    pop[0, 0], pop[0, 1] = 3.0, 1.0
    pop_tif = write(tmp_path / "pop.tif", pop)
    z = zones(shapely.box(0, 300, 150, 400), shapely.box(0, 300, 200, 400))
    out = zonal_stats(tif, z, weights=pop_tif, prefix="v")
    # Z0: cell 0 (v 0, pop 3, cover 1) and cell 1 (v 1, pop 1, cover 0.5):
    # (0*3 + 1*1*0.5) / (3 + 0.5)
    assert out.loc["Z0", "v_pw_mean"] == pytest.approx(0.5 / 3.5)
    # Z1: (0*3 + 1*1) / (3 + 1) = 0.25, unweighted mean 0.5
    assert out.loc["Z1", "v_pw_mean"] == pytest.approx(0.25)
    assert out.loc["Z1", "v_mean"] == pytest.approx(0.5)
    misaligned = write(tmp_path / "pop2.tif", pop, x0=50.0)
    with pytest.raises(InputError, match="does not match"):
        zonal_stats(tif, z, weights=misaligned)
    other_crs = write(tmp_path / "pop3.tif", pop, crs="EPSG:3857")
    with pytest.raises(CRSError, match="differs"):
        zonal_stats(tif, z, weights=other_crs)


def test_raster_in_another_crs(tmp_path):
    # a lon/lat raster: 0 west of -1.0 degrees, 1 east of it (cells of 0.001 degree)
    lon0, lat1, cell = -1.05, 52.70, 0.001
    n = 100
    values = np.zeros((n, n))
    values[:, 50:] = 1.0  # columns 50+ start at lon -1.05 + 0.05 = -1.0
    tif = write(tmp_path / "ll.tif", values, x0=lon0, y1=lat1, cell=cell, crs="EPSG:4326")
    to_bng = Transformer.from_crs("EPSG:4326", BNG, always_xy=True)
    # a BNG square straddling the -1.0 meridian
    cx, cy = to_bng.transform(-1.0, 52.67)
    x0, y0 = cx - 800, cy - 500
    poly = shapely.box(x0, y0, x0 + 1500, y0 + 1000)
    out = zonal_stats(tif, zones(poly), prefix="v")
    # expected: the share of the polygon (drawn in lon/lat, where exactextract weighs cells)
    # east of lon -1.0
    to_ll = Transformer.from_crs(BNG, "EPSG:4326", always_xy=True)
    ll = shapely.transform(
        poly.segmentize(10.0), lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1]))
    )
    east = ll.intersection(shapely.box(-1.0, 50, 0, 55)).area / ll.area
    assert 0.3 < east < 0.7
    assert out.loc["Z0", "v_mean"] == pytest.approx(east, abs=2e-3)
    assert out.loc["Z0", "v_max"] == 1.0
    assert out.loc["Z0", "v_coverage"] == pytest.approx(1.0, abs=1e-3)


def test_windowed_reading(tmp_path, monkeypatch):
    # 2,000 x 2,000 tiled raster: value = row index (so a zone's mean is its mean row)
    n = 2000
    values = np.repeat(np.arange(n, dtype="float32")[:, None], n, axis=1)
    tif = write(tmp_path / "big.tif", values, x0=0.0, y1=n * 10.0, cell=10.0, tiled=True)
    # zone: rows 100..199 (y from 19,000 down to 18,000), columns 50..149
    z = zones(shapely.box(500, 18_000, 1_500, 19_000), shapely.box(0, 0, 100, 100))
    reads = []
    original = exactextract.raster.RasterioRasterSource.read_window

    def spy(self, x0, y0, nx, ny):
        reads.append(nx * ny)
        return original(self, x0, y0, nx, ny)

    monkeypatch.setattr(exactextract.raster.RasterioRasterSource, "read_window", spy)
    small = zonal_stats(tif, z, prefix="v", max_cells_in_memory=5_000)
    assert reads and max(reads) <= 5_000 < n * n  # never the whole raster
    monkeypatch.undo()
    full = zonal_stats(tif, z, prefix="v")
    assert small.loc["Z0", "v_mean"] == pytest.approx(np.mean(np.arange(100, 200)))
    assert small.loc["Z0", "v_max"] == 199.0
    assert small.loc["Z1", "v_mean"] == pytest.approx(np.mean(np.arange(1990, 2000)))
    pd.testing.assert_frame_equal(small, full)


def test_bad_inputs(tmp_path):
    tif = write(tmp_path / "v.tif", GRID)
    z = zones(shapely.box(0, 0, 100, 100))
    with pytest.raises(CRSError):
        zonal_stats(tif, z.to_crs(4326))
    with pytest.raises(ParameterError, match="stats"):
        zonal_stats(tif, z, stats=("mode",))
    with pytest.raises(ParameterError, match="band"):
        zonal_stats(tif, z, band=2)
    with pytest.raises(InputError, match="not found"):
        zonal_stats(tmp_path / "missing.tif", z)
    with pytest.raises(InputError, match="empty"):
        zonal_stats(tif, zones(shapely.Polygon()))


def test_defra_csv_to_geotiff(shared_data, tmp_path):
    csv = shared_data / "environment/defra_pcm_nox_2013_london_1km.csv"
    tif = grid_csv_to_geotiff(csv, tmp_path / "nox.tif", value="nox2013")
    raw = neutral(pd.read_csv(csv))
    with rasterio.open(tif) as ds:
        assert ds.crs.to_epsg() == 27700
        assert ds.res == (1000.0, 1000.0)
        assert (ds.width, ds.height) == (58, 45)  # x 504,500..561,500; y 156,500..200,500
        assert ds.bounds.left == 504_000 and ds.bounds.top == 201_000
        band = ds.read(1, masked=True)
        assert band.count() == len(raw) == 1577
        rows, cols = rasterio.transform.rowcol(ds.transform, raw.x.to_numpy(), raw.y.to_numpy())
        np.testing.assert_allclose(band[rows, cols], raw.nox2013.to_numpy(), rtol=1e-6)
    # a zone exactly on one cell returns that cell's value
    one = raw.iloc[100]
    cell = shapely.box(one.x - 500, one.y - 500, one.x + 500, one.y + 500)
    out = zonal_stats(tif, zones(cell), prefix="nox")
    assert out.loc["Z0", "nox_mean"] == pytest.approx(one.nox2013, rel=1e-6)


def test_csv_grid_errors(tmp_path):
    off = pd.DataFrame({"x": [500.0, 1500.0, 2100.0], "y": [500.0, 500.0, 500.0], "v": [1, 2, 3]})
    with pytest.raises(InputError, match="not on a 1000 grid"):
        grid_csv_to_geotiff(off, tmp_path / "a.tif", value="v")
    dup = pd.DataFrame({"x": [500.0, 500.0], "y": [500.0, 500.0], "v": [1, 2]})
    with pytest.raises(DuplicateCodeError, match="more than once"):
        grid_csv_to_geotiff(dup, tmp_path / "b.tif", value="v")
    with pytest.raises(InputError, match="missing column"):
        grid_csv_to_geotiff(dup, tmp_path / "c.tif", value="no2")
    gap = pd.DataFrame({"x": [500.0, 2500.0], "y": [500.0, 500.0], "v": [1.0, np.nan]})
    path = grid_csv_to_geotiff(gap, tmp_path / "d.tif", value="v")
    with rasterio.open(path) as ds:
        band = ds.read(1, masked=True)
        assert band.shape == (1, 3) and band.count() == 1 and band[0, 0] == 1.0
    assert BNG == "EPSG:27700"
