"""OGC API - Tiles: every collection as Mapbox Vector Tiles in WebMercatorQuad.

``/collections/{collection}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}`` is one
tile (``application/vnd.mapbox-vector-tile``): the features whose geometry meets the tile (from
the layer's STRtree in EPSG:3857), clipped to the tile and a small buffer, generalised to a
quarter of a screen pixel of that zoom (zoom 6 carries far fewer vertices than zoom 14), with
every attribute the GeoJSON has (nulls left out, as MVT has no null; the feature id is its code
property). A tile is rendered once, off the event loop, and cached under its ETag like any other
body; a cached tile is answered by the app's fast lane. ``/tileMatrixSets/WebMercatorQuad`` is
the tile matrix set, and ``/collections/{collection}/tiles`` the tileset list QGIS and MapLibre
read (with a URL template).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Path, Query, Request, Response
from healthgap.services._geojson import is_boolean_column
from healthgap.services.api.catalog import Build, LayerCache, LayerInfo
from healthgap.services.api.deps import StateDep, url_for
from healthgap.services.api.paging import etag_for
from healthgap.services.api.query import check_params
from healthgap.services.api.render import in_thread, respond
from healthgap.services.api.routers.ogc import (
    BAD,
    JSON,
    NOT_FOUND,
    TILES_CONFORMANCE,
    CollectionPath,
    _bbox84,
    _resolved,
)

from healthgap.errors import UnknownLayerError

router = APIRouter(tags=["ogc"])
logger = logging.getLogger(__name__)

MVT = "application/vnd.mapbox-vector-tile"
WEB_MERCATOR = "EPSG:3857"
TMS = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
#: Half the width of the Web Mercator square, metres.
EXTENT = 20037508.342789244
EXTENTS = 4096
#: Zoom levels served (0 = the world in one tile).
MAX_ZOOM = 18
#: Simplification tolerance in tile units (4,096 across; a 512-pixel screen tile shows 8 units a
#: pixel, so 2 units is a quarter of a pixel at any zoom).
SIMPLIFY_UNITS = 2.0
#: Buffer around a tile, as a share of its width (so lines and outlines join across tiles).
BUFFER = 1 / 64
#: OGC API - Tiles conformance classes (declared with Features' on /conformance).
CONFORMANCE = TILES_CONFORMANCE

TmsPath = Annotated[str, Path(description="The tile matrix set: WebMercatorQuad.",
                              examples=[TMS])]


def tile_bounds(z: int, row: int, col: int) -> tuple[float, float, float, float]:
    """Return the EPSG:3857 bounds ``(minx, miny, maxx, maxy)`` of a WebMercatorQuad tile."""
    size = 2 * EXTENT / (1 << z)
    x0 = -EXTENT + col * size
    y1 = EXTENT - row * size
    return x0, y1 - size, x0 + size, y1


def _check_tile(tms: str, z: int, row: int, col: int) -> None:
    if tms != TMS:
        raise UnknownLayerError(f"tile matrix set {tms[:40]!r}: only {TMS} is served")
    if not 0 <= z <= MAX_ZOOM:
        raise UnknownLayerError(f"tileMatrix {z}: zoom levels 0 to {MAX_ZOOM} are served")
    n = 1 << z
    if not (0 <= row < n and 0 <= col < n):
        raise UnknownLayerError(f"tile {z}/{row}/{col}: rows and columns of zoom {z} run "
                                f"from 0 to {n - 1}")


def _props(row: pd.Series, index_name: str | None, fid: Any) -> dict[str, Any]:
    out: dict[str, Any] = {} if not index_name else {index_name: str(fid)}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if is_boolean_column(str(key)):
            out[str(key)] = bool(value)
        elif isinstance(value, np.generic):
            out[str(key)] = value.item()
        else:
            out[str(key)] = value if isinstance(value, int | float | str | bool) else str(value)
    return out


def render_tile(layers: LayerCache, build: Build, info: LayerInfo, z: int, row: int,
                col: int) -> bytes:
    """Return one tile as MVT bytes (empty bytes when no feature meets it)."""
    import mapbox_vector_tile

    frame = layers.frame(build, info.name, crs=WEB_MERCATOR)
    assert isinstance(frame, gpd.GeoDataFrame)
    x0, y0, x1, y1 = tile_bounds(z, row, col)
    pad = (x1 - x0) * BUFFER
    area = shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    hits = np.sort(frame.sindex.query(area, predicate="intersects"))
    if len(hits) == 0:
        return b""
    part = frame.iloc[hits]
    pixel = (x1 - x0) / EXTENTS
    geoms = shapely.clip_by_rect(part.geometry.to_numpy(), *area.bounds)
    geoms = shapely.simplify(geoms, pixel * SIMPLIFY_UNITS, preserve_topology=True)
    attrs = pd.DataFrame(part.drop(columns=[part.geometry.name]))
    features = []
    for (fid, values), geom in zip(attrs.iterrows(), geoms, strict=True):
        if geom is None or geom.is_empty:
            continue
        features.append({"geometry": geom, "properties": _props(values, frame.index.name, fid)})
    if not features:
        return b""
    return bytes(mapbox_vector_tile.encode(
        [{"name": info.name, "features": features}],
        default_options={"quantize_bounds": (x0, y0, x1, y1), "extents": EXTENTS}))


def _disk_path(folder: FilePath | None, tag: str) -> FilePath | None:
    """Return where the tile with ETag ``tag`` is kept on disk (None: no disk cache)."""
    if folder is not None and str(folder) in ("", "."):
        return None
    base = FilePath(folder) if folder is not None else \
        FilePath(tempfile.gettempdir()) / f"healthgap-tiles-{os.getuid()}"
    return base / tag[:2] / f"{tag}.mvt"


def _write_atomic(path: FilePath, body: bytes) -> None:
    """Write a tile so another worker never reads half of it (a failure only loses the copy)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as f:
            f.write(body)
        os.replace(f.name, path)
    except OSError as exc:  # a full or read-only disk: the tile is still served
        logger.warning("tile cache: %s", exc)


def _tms_document(request: Request) -> dict[str, Any]:
    """Return the WebMercatorQuad tile matrix set (OGC TMS 2.0 JSON)."""
    matrices = []
    for z in range(MAX_ZOOM + 1):
        n = 1 << z
        cell = 2 * EXTENT / n / 256
        matrices.append({"id": str(z), "scaleDenominator": cell / 0.00028,
                         "cellSize": cell, "cornerOfOrigin": "topLeft",
                         "pointOfOrigin": [-EXTENT, EXTENT], "tileWidth": 256,
                         "tileHeight": 256, "matrixWidth": n, "matrixHeight": n})
    return {"id": TMS, "title": "Google Maps Compatible for the World", "uri": TMS_URI,
            "crs": "http://www.opengis.net/def/crs/EPSG/0/3857", "orderedAxes": ["X", "Y"],
            "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
            "tileMatrices": matrices,
            "links": [{"href": url_for(request, "tile_matrix_set", tms=TMS), "rel": "self",
                       "type": JSON}]}


@router.get("/tileMatrixSets", name="tile_matrix_sets", summary="The tile matrix sets served",
            responses={**BAD})
async def tile_matrix_sets(request: Request) -> dict[str, Any]:
    """List the tile matrix sets (WebMercatorQuad)."""
    check_params(request.query_params.keys(), {"f"}, what="tile matrix sets")
    href = url_for(request, "tile_matrix_set", tms=TMS)
    return {"tileMatrixSets": [{"id": TMS, "title": "Google Maps Compatible for the World",
                                "uri": TMS_URI, "links": [{"href": href, "rel": "self",
                                                           "type": JSON}]}]}


@router.get("/tileMatrixSets/{tms}", name="tile_matrix_set",
            summary="One tile matrix set", responses={**BAD, **NOT_FOUND})
async def tile_matrix_set(request: Request, tms: TmsPath) -> dict[str, Any]:
    """Return the definition of WebMercatorQuad."""
    check_params(request.query_params.keys(), {"f"}, what="a tile matrix set")
    if tms != TMS:
        raise UnknownLayerError(f"tile matrix set {tms[:40]!r}: only {TMS} is served")
    return _tms_document(request)


def _tileset(request: Request, build: Build, info: LayerInfo) -> dict[str, Any]:
    cid = f"{build.code}_{info.name}"
    template = (url_for(request, "ogc_collection", collection=cid) +
                f"/tiles/{TMS}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}")
    bbox = _bbox84(info)
    out: dict[str, Any] = {
        "title": f"{build.name}: {info.name}", "dataType": "vector", "crs":
        "http://www.opengis.net/def/crs/EPSG/0/3857", "tileMatrixSetURI": TMS_URI,
        "minzoom": 0, "maxzoom": MAX_ZOOM,
        "layers": [{"id": info.name, "dataType": "vector",
                    "geometryDimension": {"Point": 0, "LineString": 1}.get(
                        (info.geometry_type or "").replace("Multi", ""), 2)}],
        "links": [
            {"href": url_for(request, "ogc_tileset", collection=cid, tms=TMS), "rel": "self",
             "type": JSON},
            {"href": url_for(request, "tile_matrix_set", tms=TMS),
             "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": JSON},
            {"href": template, "rel": "item", "type": MVT, "templated": True}]}
    if bbox is not None:
        out["boundingBox"] = {"lowerLeft": bbox[:2], "upperRight": bbox[2:],
                              "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    return out


@router.get("/collections/{collection}/tiles", name="ogc_tilesets",
            summary="The vector tilesets of a collection", responses={**BAD, **NOT_FOUND})
async def tilesets(request: Request, collection: CollectionPath, state: StateDep
                   ) -> dict[str, Any]:
    """List the collection's tilesets (one: WebMercatorQuad, Mapbox Vector Tiles)."""
    check_params(request.query_params.keys(), {"f"}, what="tilesets")
    build, info = await _resolved(state.catalog, state.layers, collection)
    ts = _tileset(request, build, info)
    return {"tilesets": [{k: ts[k] for k in ("title", "dataType", "crs", "tileMatrixSetURI",
                                             "links")}]}


@router.get("/collections/{collection}/tiles/{tms}", name="ogc_tileset",
            summary="A collection's tileset: its URL template and zoom levels",
            responses={**BAD, **NOT_FOUND})
async def tileset(request: Request, collection: CollectionPath, tms: TmsPath, state: StateDep
                  ) -> dict[str, Any]:
    """Describe the collection's WebMercatorQuad tileset (also readable as TileJSON)."""
    check_params(request.query_params.keys(), {"f"}, what="a tileset")
    if tms != TMS:
        raise UnknownLayerError(f"tile matrix set {tms[:40]!r}: only {TMS} is served")
    build, info = await _resolved(state.catalog, state.layers, collection)
    out = _tileset(request, build, info)
    # TileJSON members, so MapLibre can use this document as a source URL directly
    xyz = out["links"][2]["href"].replace("{tileMatrix}/{tileRow}/{tileCol}", "{z}/{y}/{x}")
    out.update({"tilejson": "3.0.0", "tiles": [xyz],
                "vector_layers": [{"id": info.name, "fields": {}}]})
    if "boundingBox" in out:
        out["bounds"] = [*out["boundingBox"]["lowerLeft"], *out["boundingBox"]["upperRight"]]
    return out


@router.get("/collections/{collection}/tiles/{tms}/{z}/{row}/{col}", name="ogc_tile",
            response_class=Response, summary="One vector tile (Mapbox Vector Tile)",
            responses={200: {"description": "The tile (empty when no feature meets it)",
                             "content": {MVT: {"schema": {"type": "string",
                                                          "format": "binary"}}}},
                       304: {"description": "Not modified"}, **BAD, **NOT_FOUND})
async def tile(request: Request, collection: CollectionPath, tms: TmsPath,
               z: Annotated[int, Path(description="tileMatrix (zoom level).")],
               row: Annotated[int, Path(description="tileRow (0 at the top).")],
               col: Annotated[int, Path(description="tileCol (0 at the left).")],
               state: StateDep,
               f: Annotated[Literal["mvt"] | None, Query(description="mvt (the only format).")
                            ] = None) -> Response:
    """Return one tile of a collection (every attribute of its features)."""
    check_params(request.query_params.keys(), {"f"}, what="a tile")
    _check_tile(tms, z, row, col)
    layers = state.layers
    build, info = await _resolved(state.catalog, layers, collection)
    digest = build.digest() if build._digest is not None else await in_thread(build.digest)
    tag = etag_for(digest, f"tile/{info.name}", {"z": z, "row": row, "col": col})

    disk = _disk_path(state.settings.tile_cache_dir, tag)

    def render() -> tuple[bytes, dict[str, str]]:
        if disk is not None and disk.is_file():
            return disk.read_bytes(), {}
        body = render_tile(layers, build, info, z, row, col)
        if disk is not None:
            _write_atomic(disk, body)
        return body, {}

    return await respond(request, state.renderer, tag, render, media_type=MVT, build=build)
