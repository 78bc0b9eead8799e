"""Opening the raster inputs (GeoTIFF, or any format rasterio reads) for geo/ to work on.

`open_raster` checks the file is there and readable and names it in the error when not;
`healthgap.geo.raster.zonal_stats` reads the open dataset in windows through exactextract.
"""

from __future__ import annotations

from pathlib import Path

import rasterio

from healthgap.errors import InputError


def open_raster(path: str | Path, label: str) -> rasterio.DatasetReader:
    """Open a raster for reading, or raise `InputError` naming it.

    Parameters
    ----------
    path
        The raster file.
    label
        What the raster is for, said in the error (``"value"``, ``"weights"``).

    Returns
    -------
    rasterio.DatasetReader
        The open dataset; the caller closes it.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{label} raster not found: {p}")
    try:
        return rasterio.open(p)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{label} raster {p} cannot be read: {exc}") from None
