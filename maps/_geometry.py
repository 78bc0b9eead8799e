"""Frame checks, simplification and compact TopoJSON encoding for the web.

A naive Folium choropleth of England's 32,844 LSOAs is about 25 MB: every polygon repeats the
boundary it shares with its neighbours, coordinates carry 15 digits and every property travels.
Here a frame becomes a much smaller page in three steps, all on a copy:

1. :func:`web_geometries` simplifies the polygon *coverage* in EPSG:27700 with
   :func:`shapely.coverage_simplify`, which simplifies each shared edge once, so neighbours still
   touch, then reprojects to EPSG:4326.
2. :func:`topology` snaps coordinates to a grid of ``10**-precision`` degrees (5 decimals is about
   1 m), cuts every ring into arcs at the vertices where the set of neighbouring rings changes, and
   stores each arc once, delta-encoded, in a TopoJSON topology. Neighbouring polygons refer to the
   same arc, so their common boundary is identical after decoding.
3. Only the properties a page shows travel with the features (short keys, rounded values).

The browser decodes the topology with the vendored topojson-client (see maps/_assets.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from healthgap.geo import WGS84, require_bng
from healthgap.geo.hierarchy import LEVELS

from healthgap import errors

logger = logging.getLogger(__name__)

NAME_COLUMNS = {**dict(LEVELS.values()), "nbhd_cd": "nbhd_nm"}
"""Name column of each area-code index (the hierarchy's levels and the neighbourhoods)."""

LEVEL_NAMES = {
    "lsoa_code": "Neighbourhoods (LSOA)",
    "msoa_code": "Neighbourhoods (MSOA)",
    "place_code": "Places (local authorities)",
    "subicb_code": "Sub-ICB locations",
    "system_code": "System (integrated care board)",
    "nbhd_cd": "Neighbourhoods",
}
"""Plain-English layer name of each area-code index."""

AUTO_SIMPLIFY_SMALL = 10.0
"""Coverage simplification tolerance (m) used for frames of up to 5,000 areas."""

AUTO_SIMPLIFY_LARGE = 50.0
"""Coverage simplification tolerance (m) used for larger frames (e.g. all of England)."""


def check_frame(
    gdf: object,
    *,
    what: str,
    columns: Sequence[str] = (),
    geom_types: Sequence[str] | None = None,
    unique_index: bool = True,
) -> gpd.GeoDataFrame:
    """Check a frame handed to a map builder and return it typed.

    Parameters
    ----------
    gdf
        The frame.
    what
        How the frame is called in messages (e.g. ``"choropleth gdf"``).
    columns
        Columns that must be present.
    geom_types
        Allowed geometry types (e.g. ``("Polygon", "MultiPolygon")``), or None for any.
    unique_index
        Require the index (the area code) to be unique.

    Returns
    -------
    geopandas.GeoDataFrame
        The same frame.

    Raises
    ------
    InputError
        If it is not a GeoDataFrame or is empty.
    CRSError
        If its CRS is missing or not British National Grid (the one rule of
        ``geo._validation.require_bng``: a BNG CRS without an EPSG code is accepted).
    MissingColumnError
        If a required column is absent.
    DuplicateCodeError
        If the index (the area code) repeats.
    GeometryError
        If a geometry is missing or empty, or of a type not allowed.
    """
    frame = require_bng(gdf, name=what)
    return _check_contents(frame, what=what, columns=columns, geom_types=geom_types,
                           unique_index=unique_index)


def _check_contents(
    gdf: gpd.GeoDataFrame,
    *,
    what: str,
    columns: Sequence[str],
    geom_types: Sequence[str] | None,
    unique_index: bool,
) -> gpd.GeoDataFrame:
    if len(gdf) == 0:
        raise errors.InputError(f"{what}: the frame has no rows")
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        found = [str(c) for c in gdf.columns if c != gdf.geometry.name]
        raise errors.MissingColumnError(
            f"{what}: missing column(s) {', '.join(map(repr, missing))}; found: "
            f"{errors.preview(found, most=20)}"
        )
    dupes = gdf.index[gdf.index.duplicated()] if unique_index else []
    if len(dupes):
        raise errors.DuplicateCodeError(
            f"{what}: {len(dupes)} repeated code(s) in index {gdf.index.name!r}: "
            f"{errors.preview(dupes)}"
        )
    geoms = gdf.geometry.values
    bad = gdf.index[shapely.is_missing(geoms) | shapely.is_empty(geoms)]
    if len(bad):
        raise errors.GeometryError(
            f"{what}: {len(bad)} area(s) without geometry cannot be drawn: {errors.preview(bad)}"
        )
    if geom_types is not None:
        types = pd.Series(shapely.get_type_id(geoms), index=gdf.index)
        names = types.map(_TYPE_NAMES)
        wrong = names[~names.isin(list(geom_types))]
        if len(wrong):
            raise errors.GeometryError(
                f"{what}: expected {' or '.join(geom_types)} geometries, got "
                f"{', '.join(sorted(set(wrong)))} for {len(wrong)} row(s): "
                f"{errors.preview(wrong.index)}"
            )
    return gdf


_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def in_area_only(gdf: gpd.GeoDataFrame, *, what: str) -> gpd.GeoDataFrame:
    """Drop the edge ring: rows whose ``in_area`` column is False (kept if there is no column).

    Study-area frames carry the ring of adjacent areas outside the system as neighbours for the
    statistics; results never report them, and maps do not draw them.

    Parameters
    ----------
    gdf
        The frame.
    what
        How the frame is called in messages.

    Returns
    -------
    geopandas.GeoDataFrame
        The rows inside the area.
    """
    if "in_area" not in gdf.columns:
        return gdf
    flag = gdf["in_area"]
    if flag.isna().any() or not pd.api.types.is_bool_dtype(flag.dtype):
        raise errors.InputError(
            f"{what}: column 'in_area' must be True/False without gaps, got dtype {flag.dtype}"
        )
    kept = gdf[flag.to_numpy(dtype=bool)]
    if len(kept) == 0:
        raise errors.InputError(f"{what}: no row has in_area True; nothing inside the area to draw")
    if len(kept) < len(gdf):
        logger.info("%s: %d edge-ring area(s) outside the study area are not drawn", what,
                    len(gdf) - len(kept))
    return kept


def resolve_name_column(gdf: gpd.GeoDataFrame, name_col: str | None, *, what: str) -> str | None:
    """Return the column holding area names, or None when the frame has none.

    Parameters
    ----------
    gdf
        The frame, indexed by area code.
    name_col
        ``"auto"`` to use the name column that goes with the index (``lsoa_code`` →
        ``lsoa_name``) when present; a column name to require it; None for no names.
    what
        How the frame is called in messages.

    Returns
    -------
    str or None
        The column to use.
    """
    if name_col is None:
        return None
    if name_col == "auto":
        guess = NAME_COLUMNS.get(str(gdf.index.name))
        return guess if guess is not None and guess in gdf.columns else None
    check_frame(gdf, what=what, columns=[name_col])
    return name_col


def auto_tolerance(n_areas: int) -> float:
    """Return the default coverage simplification tolerance (metres) for a frame size."""
    return AUTO_SIMPLIFY_SMALL if n_areas <= 5000 else AUTO_SIMPLIFY_LARGE


def web_geometries(
    gdf: gpd.GeoDataFrame, *, simplify: float | str | None = "auto"
) -> gpd.GeoSeries:
    """Simplify the polygon coverage of a frame and reproject a copy to EPSG:4326.

    Parameters
    ----------
    gdf
        Frame in EPSG:27700.
    simplify
        Tolerance in metres for :func:`shapely.coverage_simplify` (shared edges simplified once,
        so neighbours still touch); ``"auto"`` for 10 m up to 5,000 areas and 50 m above;
        0 or None to keep the geometry as given. Points and lines are never simplified.

    Returns
    -------
    geopandas.GeoSeries
        The geometries in EPSG:4326, same index.
    """
    geoms = gdf.geometry
    if simplify == "auto":
        tolerance = auto_tolerance(len(gdf))
    elif simplify is None:
        tolerance = 0.0
    elif isinstance(simplify, int | float) and not isinstance(simplify, bool) and simplify >= 0:
        tolerance = float(simplify)
    else:
        raise errors.ParameterError(
            f"simplify: expected 'auto', None or a tolerance in metres >= 0, got {simplify!r}"
        )
    values = geoms.values
    polygonal = np.isin(shapely.get_type_id(values), [3, 6])
    if tolerance > 0 and polygonal.all():
        simplified = shapely.coverage_simplify(np.asarray(values), tolerance)
        geoms = gpd.GeoSeries(simplified, index=gdf.index, crs=gdf.crs)
    return geoms.to_crs(WGS84)


def _quantize(coords: np.ndarray, precision: int) -> np.ndarray:
    return np.rint(coords * 10.0**precision).astype(np.int64)


def topology(
    geoms: gpd.GeoSeries,
    properties: Sequence[Mapping[str, Any]] | None = None,
    *,
    precision: int = 5,
    object_name: str = "a",
) -> dict[str, Any]:
    """Encode geometries in EPSG:4326 as a quantized, delta-encoded TopoJSON topology.

    Parameters
    ----------
    geoms
        Polygons, lines or points in EPSG:4326, indexed by code (the feature id).
    properties
        One mapping per geometry, in the same order, or None for no properties.
    precision
        Decimal places of degrees kept (5 ≈ 1 m, 4 ≈ 10 m).
    object_name
        Name of the geometry collection in ``topology["objects"]``.

    Returns
    -------
    dict
        A TopoJSON ``Topology`` with one ``GeometryCollection``.
    """
    if not isinstance(precision, int) or isinstance(precision, bool) or not 1 <= precision <= 7:
        raise errors.ParameterError(
            f"precision: expected an integer from 1 to 7, got {precision!r}"
        )
    if properties is not None and len(properties) != len(geoms):
        raise errors.ParameterError(
            f"properties: expected one mapping per geometry ({len(geoms)}), got {len(properties)}"
        )
    values = np.asarray(geoms.values)
    coords = shapely.get_coordinates(values)
    if len(coords) == 0:
        raise errors.GeometryError("topology: no coordinates to encode")
    origin = _quantize(coords, precision).min(axis=0)
    scale = 10.0**-precision
    types = shapely.get_type_id(values)
    unsupported = ~np.isin(types, [0, 1, 3, 5, 6])
    if unsupported.any():
        i = int(np.flatnonzero(unsupported)[0])
        raise errors.GeometryError(
            f"topology: cannot encode a {_TYPE_NAMES.get(int(types[i]), types[i])} for "
            f"{geoms.index[i]}"
        )
    builder = _ArcBuilder(origin, precision)
    polygonal = np.flatnonzero(np.isin(types, [3, 6]))
    poly_refs = builder.add_polygons(values[polygonal])
    objects: list[dict[str, Any]] = []
    dropped: list[str] = []
    poly_iter = iter(poly_refs)
    for i, (code, geom, gtype) in enumerate(zip(geoms.index, values, types, strict=True)):
        obj: dict[str, Any] = {"id": str(code)}
        if gtype in (3, 6):
            polys = next(poly_iter)
            if not polys:
                dropped.append(str(code))
                obj["type"] = None
            elif len(polys) == 1:
                obj.update(type="Polygon", arcs=polys[0])
            else:
                obj.update(type="MultiPolygon", arcs=polys)
        elif gtype in (1, 5):
            lines = [builder.add_line(part) for part in shapely.get_parts(geom)]
            if len(lines) == 1:
                obj.update(type="LineString", arcs=lines[0])
            else:
                obj.update(type="MultiLineString", arcs=lines)
        else:
            xy = _quantize(shapely.get_coordinates(geom), precision)[0] - origin
            obj.update(type="Point", coordinates=[int(xy[0]), int(xy[1])])
        if properties is not None and properties[i]:
            obj["properties"] = dict(properties[i])
        objects.append(obj)
    if dropped:
        logger.warning(
            "%d polygon(s) collapsed at %d decimal places and are drawn without geometry: %s",
            len(dropped),
            precision,
            errors.preview(dropped),
        )
    arcs = builder.resolve()
    return {
        "type": "Topology",
        "transform": {
            "scale": [scale, scale],
            "translate": [float(origin[0]) * scale, float(origin[1]) * scale],
        },
        "objects": {object_name: {"type": "GeometryCollection", "geometries": objects}},
        "arcs": arcs,
    }


class _ArcBuilder:
    """Collect rings, find junctions and cut the rings into shared, deduplicated arcs.

    Rings are stored as sequences of vertex ids (a vertex is a grid point). Once every ring is
    known, :meth:`resolve` finds the junctions (vertices met with more than one unordered pair of
    neighbours along the rings), cuts each ring at its junctions, stores each arc once (the same
    arc read backwards is the same arc) and fills in the arc references handed out earlier.
    """

    def __init__(self, origin: np.ndarray, precision: int) -> None:
        self.origin = origin
        self.precision = precision
        self._xy: list[np.ndarray] = []  # quantized coordinates of registered vertices, in blocks
        self._rings: list[tuple[int, int]] = []  # (start, stop) of provisional ids
        self._ring_refs: list[list[int]] = []
        self._lines: list[list[int]] = []
        self._line_refs: list[list[int]] = []
        self._n_points = 0

    def _register(self, xy: np.ndarray) -> np.ndarray:
        """Give each row of ``xy`` a provisional vertex id (merged in :meth:`resolve`)."""
        ids = np.arange(self._n_points, self._n_points + len(xy))
        self._xy.append(xy)
        self._n_points += len(xy)
        return ids

    def add_polygons(self, polygons: np.ndarray) -> list[list[list[list[int]]]]:
        """Register polygonal geometries; return per geometry its polygons' ring references."""
        out: list[list[list[list[int]]]] = [[] for _ in range(len(polygons))]
        if len(polygons) == 0:
            return out
        parts, part_geom = shapely.get_parts(polygons, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        xy = _quantize(coords, self.precision) - self.origin
        # Drop repeated consecutive points (rounding can merge neighbouring vertices), then the
        # closing point of each ring.
        first = np.ones(len(xy), dtype=bool)
        first[1:] = coord_ring[1:] != coord_ring[:-1]
        keep = first | np.any(xy != np.roll(xy, 1, axis=0), axis=1)
        xy, coord_ring = xy[keep], coord_ring[keep]
        last = np.ones(len(xy), dtype=bool)
        last[:-1] = coord_ring[1:] != coord_ring[:-1]
        start_of = np.searchsorted(coord_ring, coord_ring)  # index of each ring's first point
        closing = last & np.all(xy == xy[start_of], axis=1) & (np.arange(len(xy)) != start_of)
        xy, coord_ring = xy[~closing], coord_ring[~closing]
        ids = self._register(xy)
        # A ring needs three distinct vertices.
        _, point = np.unique(_pair_key(xy[:, 0], xy[:, 1]), return_inverse=True)
        pairs = np.unique(_pair_key(coord_ring, point.ravel()))
        distinct = np.bincount(pairs // (int(point.max()) + 1), minlength=len(rings))
        bounds = np.searchsorted(coord_ring, np.arange(len(rings) + 1))
        is_exterior = np.ones(len(rings), dtype=bool)
        is_exterior[1:] = ring_part[1:] != ring_part[:-1]
        current: list[list[int]] | None = None
        for r in range(len(rings)):
            if is_exterior[r]:
                current = None
            if distinct[r] < 3:
                continue  # a collapsed exterior drops its holes with it
            if not is_exterior[r] and current is None:
                continue
            ref: list[int] = []
            self._rings.append((int(ids[bounds[r]]), int(ids[bounds[r + 1] - 1]) + 1))
            self._ring_refs.append(ref)
            if is_exterior[r]:
                current = [ref]
                out[int(part_geom[ring_part[r]])].append(current)  # type: ignore[arg-type]
            elif current is not None:
                current.append(ref)
        return out

    def add_line(self, line: shapely.LineString) -> list[int]:
        """Register a line; return its (placeholder) arc references."""
        xy = _quantize(shapely.get_coordinates(line), self.precision) - self.origin
        keep = np.ones(len(xy), dtype=bool)
        keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)
        ref: list[int] = []
        self._lines.append(self._register(xy[keep]).tolist())
        self._line_refs.append(ref)
        return ref

    def resolve(self) -> list[list[list[int]]]:
        """Cut rings into arcs, deduplicate them, fill in the references; return the arcs."""
        if not self._xy:
            return []
        xy = np.concatenate(self._xy)
        # Merge provisional ids of the same grid point into one vertex id.
        _, vertex = np.unique(_pair_key(xy[:, 0], xy[:, 1]), return_inverse=True)
        vertex = vertex.ravel()
        n_vertices = int(vertex.max()) + 1
        vertex_xy = np.empty((n_vertices, 2), dtype=np.int64)
        vertex_xy[vertex] = xy
        vlist = vertex.tolist()
        rings = [vlist[a:b] for a, b in self._rings]
        junction = _junctions(rings, n_vertices).tolist()
        index: dict[tuple[int, ...], int] = {}
        arcs: list[tuple[int, ...]] = []

        def add(seq: tuple[int, ...]) -> int:
            rev = seq[::-1]
            key, flipped = (seq, False) if seq <= rev else (rev, True)
            i = index.get(key)
            if i is None:
                i = len(arcs)
                index[key] = i
                arcs.append(key)
            return ~i if flipped else i

        for ring, ref in zip(rings, self._ring_refs, strict=True):
            cuts = [i for i, v in enumerate(ring) if junction[v]]
            if not cuts:
                # A ring without junctions is one closed arc. Start it at its smallest vertex so
                # that the same ring met again (e.g. a hole and the island filling it) matches.
                i = min(range(len(ring)), key=ring.__getitem__)
                rotated = ring[i:] + ring[:i]
                ref.append(add((*rotated, rotated[0])))
                continue
            start = cuts[0]
            rotated = ring[start:] + ring[:start]
            closed = rotated + [rotated[0]]
            positions = [c - start for c in cuts] + [len(ring)]
            for a, b in zip(positions[:-1], positions[1:], strict=True):
                ref.append(add(tuple(closed[a : b + 1])))
        for line_ids, ref in zip(self._lines, self._line_refs, strict=True):
            ref.append(len(arcs))
            arcs.append(tuple(vertex[line_ids].tolist()))
        return _delta_encode(arcs, vertex_xy)


def _pair_key(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Combine two non-negative integer arrays into one sortable key (one value per pair)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    width = int(b.max()) + 1 if len(b) else 1
    if len(a) and int(a.max()) >= np.iinfo(np.int64).max // width:
        raise errors.GeometryError("topology: coordinates too large to encode; lower the precision")
    return a * width + b


def _junctions(rings: Sequence[Sequence[int]], n_vertices: int) -> np.ndarray:
    """Flag vertices met with more than one unordered pair of neighbours along the rings."""
    if not rings:
        return np.zeros(n_vertices, dtype=bool)
    lengths = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    flat = np.fromiter((v for r in rings for v in r), dtype=np.int64, count=int(lengths.sum()))
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    ends = starts + np.repeat(lengths, lengths) - 1
    pos = np.arange(len(flat))
    prev = flat[np.where(pos == starts, ends, pos - 1)]
    nxt = flat[np.where(pos == ends, starts, pos + 1)]
    pair = _pair_key(np.minimum(prev, nxt), np.maximum(prev, nxt))
    _, pair_id = np.unique(pair, return_inverse=True)
    distinct = np.unique(_pair_key(flat, pair_id.ravel()))
    width = int(pair_id.max()) + 1
    return np.bincount(distinct // width, minlength=n_vertices) > 1


def _delta_encode(arcs: Sequence[tuple[int, ...]], vertex_xy: np.ndarray) -> list[list[list[int]]]:
    """Return arcs (vertex ids) as TopoJSON delta-encoded integer positions."""
    if not arcs:
        return []
    lengths = np.fromiter((len(a) for a in arcs), dtype=np.int64, count=len(arcs))
    flat = np.fromiter((v for a in arcs for v in a), dtype=np.int64, count=int(lengths.sum()))
    pts = vertex_xy[flat]
    deltas = pts.copy()
    deltas[1:] -= pts[:-1]
    starts = np.cumsum(lengths) - lengths
    deltas[starts] = pts[starts]
    rows = deltas.tolist()
    return [rows[s : s + n] for s, n in zip(starts.tolist(), lengths.tolist(), strict=True)]


def to_js(obj: Any) -> str:
    """Serialise to compact JSON that is safe inside an HTML ``<script>`` element."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def bounds_latlon(geoms: gpd.GeoSeries) -> list[list[float]]:
    """Return ``[[south, west], [north, east]]`` of geometries in EPSG:4326."""
    west, south, east, north = (float(v) for v in geoms.total_bounds)
    return [[south, west], [north, east]]
