"""The build store: one GeoPackage per build, every layer at every level plus the manifest.

Openable in QGIS as it is. Spatial layers are in EPSG:27700; attribute tables (``manifest``,
``stats_global``, ``join_report``...) are GeoPackage attribute tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from healthgap.errors import InputError, UnknownLayerError

STORE_NAME = "healthgap.gpkg"


class BuildStore:
    """Read and write one build's GeoPackage.

    Parameters
    ----------
    path
        The GeoPackage file, or the build directory that holds ``healthgap.gpkg``.
    """

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        self.path = p / STORE_NAME if p.suffix != ".gpkg" else p

    @property
    def exists(self) -> bool:
        """True once the GeoPackage has been written."""
        return self.path.is_file()

    def layers(self) -> dict[str, str | None]:
        """Return ``{layer: geometry type}`` (None for attribute tables)."""
        if not self.exists:
            raise InputError(f"{self.path}: no build store here; run `healthgap build` first")
        return {str(n): (None if t is None else str(t))
                for n, t in pyogrio.list_layers(self.path)}

    def write_layer(self, name: str, frame: pd.DataFrame) -> None:
        """Write (replace) a layer; the index (area codes) becomes a column."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        out = frame.reset_index() if frame.index.name else frame.reset_index(drop=True)
        out = _storable(out)
        if isinstance(out, gpd.GeoDataFrame):
            out.to_file(self.path, layer=name, driver="GPKG", engine="pyogrio")
        else:
            pyogrio.write_dataframe(out, self.path, layer=name, driver="GPKG")

    def read_layer(self, name: str, *, columns: list[str] | None = None,
                   bbox: tuple[float, float, float, float] | None = None,
                   where: str | None = None, index: str | None = None) -> pd.DataFrame:
        """Read a layer (GeoDataFrame for spatial layers, DataFrame for tables).

        Parameters
        ----------
        name
            The layer; an unknown name raises `UnknownLayerError` listing the known ones.
        columns
            Read only these attribute columns.
        bbox
            Only features intersecting this box (layer CRS).
        where
            An OGR SQL filter.
        index
            Set this column as the index.
        """
        known = self.layers()
        if name not in known:
            raise UnknownLayerError(f"layer {name!r} is not in {self.path.name}; known: "
                                    f"{', '.join(sorted(known))}")
        if known[name] is None:
            frame = pyogrio.read_dataframe(self.path, layer=name, columns=columns,
                                           where=where, read_geometry=False)
        else:
            frame = gpd.read_file(self.path, layer=name, columns=columns, bbox=bbox,
                                  where=where, engine="pyogrio")
        if index and index in frame.columns:
            frame = frame.set_index(index)
        return frame

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write the run manifest as a ``manifest`` table of key / JSON value rows."""
        rows = [(k, json.dumps(v, sort_keys=True, default=str)) for k, v in manifest.items()]
        self.write_layer("manifest", pd.DataFrame(rows, columns=["key", "value"]))

    def read_manifest(self) -> dict[str, Any]:
        """Return the manifest as a dict."""
        table = self.read_layer("manifest")
        return {str(k): json.loads(v) for k, v in zip(table["key"], table["value"], strict=True)}


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """Make columns GeoPackage-friendly: booleans as integers, objects as strings."""
    out = frame.copy()
    for col in out.columns:
        if col == getattr(out, "_geometry_column_name", None):
            continue
        s = out[col]
        if s.dtype == bool:
            out[col] = s.astype("int8")
        elif s.dtype == object and s.map(lambda v: isinstance(v, (list, dict))).any():
            out[col] = s.map(lambda v: json.dumps(v, default=str)
                             if isinstance(v, (list, dict)) else v)
    return out
