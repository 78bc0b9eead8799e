"""Layers: what a build holds (fields, units, sources) and its data as GeoJSON or CSV.

GeoJSON output is EPSG:4326 by default (RFC 7946). ``crs=EPSG:27700`` returns British National
Grid coordinates and adds the ``crs`` member ``urn:ogc:def:crs:EPSG::27700`` and the
``Content-Crs`` header. ``bbox`` is in the output CRS unless ``bbox-crs`` says otherwise.
Simplification is done in EPSG:27700 (tolerance in metres, topology-preserving per feature)
before any reprojection.
"""

from __future__ import annotations

import gzip
import math
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request, Response
from healthgap.data.vintages import VINTAGES, build_vintage
from healthgap.geo import BNG, WGS84
from healthgap.geo.indicators import describe, vintage_wording
from healthgap.services import _geojson
from healthgap.services.api.catalog import CODE_PATTERN, Build, LayerInfo, ResponseCache, check_code
from healthgap.services.api.deps import (
    BuildDep,
    LayerPath,
    LayersDep,
    ResponsesDep,
    SettingsDep,
    url_for,
)
from healthgap.services.api.paging import (
    GZIP_LEVEL,
    GZIP_MINIMUM,
    LIMIT_MAX,
    accepts_gzip,
    etag_for,
    not_modified,
    page_links,
    page_slice,
    quoted,
)
from healthgap.services.api.params import (
    BBOX_HELP,
    BBOX_PATTERN,
    in_boxes,
    parse_bbox,
    select_properties,
)
from healthgap.services.api.schemas import (
    CRS_NAMES,
    CrsName,
    FeatureCollection,
    FieldPublic,
    LayerPublic,
    Link,
    Problem,
)
from pyproj import Transformer

from healthgap.errors import CRSError, UnknownAreaError, UnknownLayerError

router = APIRouter(tags=["layers"])

GEOJSON = "application/geo+json"
CSV = "text/csv"
_PROBLEM = {"content": {"application/problem+json": {}}, "model": Problem}
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {**_PROBLEM, "description": "Unknown area or layer"},
    422: {**_PROBLEM, "description": "Invalid parameter (bbox, CRS, properties, limit...)"},
}
#: The CRS URI of each output: EPSG:4326 output is longitude first (RFC 7946), which is CRS84,
#: not EPSG:4326's latitude-first axis order.
CONTENT_CRS = {"EPSG:4326": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
               "EPSG:27700": "http://www.opengis.net/def/crs/EPSG/0/27700"}
#: Columns that may restrict features to one containing area (``within=``).
WITHIN_COLUMNS = ("place_code", "msoa_code", "subicb_code", "system_code")
#: The largest simplification tolerance the schema admits (metres); the service clamps to its
#: own ``max_simplify_m``.
SIMPLIFY_MAX = 5000.0


class GeoJSONResponse(Response):
    """A pre-rendered GeoJSON body."""

    media_type = GEOJSON


class CSVResponse(Response):
    """A pre-rendered CSV body."""

    media_type = f"{CSV}; charset=utf-8"


def _layer_public(request: Request, build: Build, info: LayerInfo) -> LayerPublic:
    fields = []
    vintage = build.manifest.get("vintage")
    name_ = vintage.get("name") if isinstance(vintage, dict) else None
    wording = VINTAGES[name_].wording if name_ in VINTAGES else {}
    keys = build_vintage(build.manifest)
    with vintage_wording(wording):  # the catalogue in the words of the build's vintage
        for name, dtype in info.fields:
            d = describe(name)
            fields.append(FieldPublic(name=name, type=dtype,
                                      label=keys.key_meaning.get(name, d.label), units=d.units,
                                      source=d.source, higher_is_worse=d.higher_is_worse,
                                      kind=d.kind, published_as=keys.published.get(name)))
    bbox = None
    if info.bounds is not None and all(math.isfinite(b) for b in info.bounds):
        t = Transformer.from_crs(info.crs or BNG, WGS84, always_xy=True)
        bbox = [round(v, 6) for v in t.transform_bounds(*info.bounds)]
    links = [Link(href=url_for(request, "get_layer", area=build.code, layer=info.name),
                  rel="self", type="application/json"),
             Link(href=url_for(request, "layer_table", area=build.code, layer=info.name),
                  rel="alternate", type=CSV, title="attribute table")]
    if info.spatial:
        links.append(Link(href=url_for(request, "layer_items", area=build.code,
                                                   layer=info.name),
                          rel="items", type=GEOJSON, title="features"))
    return LayerPublic(name=info.name, kind="features" if info.spatial else "table",
                       geometry_type=info.geometry_type, count=info.count,
                       crs=info.crs if info.spatial else None, bbox_4326=bbox, fields=fields,
                       links=links)


@router.get("/areas/{area}/layers", response_model=list[LayerPublic], name="list_layers",
            summary="The layers of a build with their fields, units and sources",
            responses={404: ERRORS[404]})
def list_layers(request: Request, build: BuildDep, layers: LayersDep) -> list[LayerPublic]:
    """List every layer (features) and table of a build with its fields.

    Fields are described from the indicator catalogue: label, units, source, which way is worse.
    """
    return [_layer_public(request, build, info)
            for _, info in sorted(layers.layers(build).items())]


@router.get("/areas/{area}/layers/{layer}", response_model=LayerPublic, name="get_layer",
            summary="One layer's fields, extent and links", responses={404: ERRORS[404]})
def get_layer(request: Request, build: BuildDep, layer: LayerPath,
              layers: LayersDep) -> LayerPublic:
    """Describe one layer."""
    return _layer_public(request, build, layers.layer(build, layer))


# --------------------------------------------------------------------------- parameters


def _check_crs(value: str, name: str) -> str:
    if value not in CRS_NAMES:
        raise CRSError(f"{name}={value!r}: allowed {', '.join(CRS_NAMES)}")
    return value


def _filter(build: Build, info: LayerInfo, frame: pd.DataFrame, *, ring: bool,
            within: str | None) -> np.ndarray:
    """Boolean mask of the rows kept by the ring and ``within`` filters."""
    keep = np.ones(len(frame), dtype=bool)
    if not ring and "in_area" in frame.columns:
        keep &= frame["in_area"].fillna(0).astype(bool).to_numpy()
    if within is not None:
        code = check_code(within)
        cols = [c for c in WITHIN_COLUMNS if c in frame.columns]
        hit = None
        for col in cols:
            m = (frame[col] == code).to_numpy()
            if m.any():
                hit = m
                break
        if hit is None:
            raise UnknownAreaError(f"within={code!r}: no feature of layer {info.name!r} in "
                                   f"build {build.code} lies in that area (matched on "
                                   f"{', '.join(cols) or 'no code column'})")
        keep &= hit
    return keep


def _conditional(request: Request, tag: str, headers: dict[str, str]) -> Response | None:
    match = not_modified(request, tag)
    if match is None:
        return None
    return Response(status_code=304, headers={**headers, "ETag": match})


def _respond(body: bytes, tag: str, headers: dict[str, str], gzipped: bool,
             response_class: type[Response]) -> Response:
    out = {**headers, "ETag": quoted(tag, gzip=gzipped), "Cache-Control": "public, max-age=60",
           "Vary": "Accept-Encoding"}
    if gzipped:
        out["Content-Encoding"] = "gzip"
    return response_class(content=body, headers=out)


def _cached(request: Request, responses: ResponseCache, tag: str, headers: dict[str, str],
            response_class: type[Response]) -> Response | None:
    hit = responses.get((tag, accepts_gzip(request)))
    if hit is None:
        return None
    body, gzipped, kept = hit
    return _respond(body, tag, {**headers, **kept}, gzipped, response_class)


def _finish(request: Request, responses: ResponseCache, body: bytes, tag: str,
            headers: dict[str, str], response_class: type[Response]) -> Response:
    """Encode (gzip, as the middleware would) and keep the body under its ETag."""
    gzipped = accepts_gzip(request) and len(body) >= GZIP_MINIMUM
    if gzipped:
        body = gzip.compress(body, compresslevel=GZIP_LEVEL)
    responses.put((tag, accepts_gzip(request)), body, gzipped, headers)
    return _respond(body, tag, headers, gzipped, response_class)


# --------------------------------------------------------------------------- GeoJSON


@router.get("/areas/{area}/layers/{layer}/items", name="layer_items",
            response_class=GeoJSONResponse, summary="A layer's features as GeoJSON",
            responses={200: {"model": FeatureCollection, "description": "A page of features",
                             "content": {GEOJSON: {}}},
                       304: {"description": "Not modified (If-None-Match matched the ETag)"},
                       **ERRORS})
def layer_items(
    request: Request, build: BuildDep, layer: LayerPath, layers: LayersDep,
    settings: SettingsDep, responses: ResponsesDep,
    crs: Annotated[CrsName, Query(description="Output CRS: EPSG:4326 (default, RFC 7946) or "
                                  "EPSG:27700 (British National Grid, with a crs member).")
                   ] = "EPSG:4326",
    bbox: Annotated[str | None, Query(description=f"{BBOX_HELP}: features intersecting it. "
                                      "In the output CRS unless bbox-crs is given.",
                                      max_length=200, pattern=BBOX_PATTERN,
                                      examples=["-0.9,51.2,-0.6,51.4"])] = None,
    bbox_crs: Annotated[CrsName | None, Query(alias="bbox-crs", description="CRS of bbox.")
                        ] = None,
    properties: Annotated[str | None, Query(description="Comma-separated attribute names to "
                                            "return (default: all).", max_length=2000)] = None,
    simplify: Annotated[float, Query(ge=0, le=SIMPLIFY_MAX, description="Simplification "
                                     "tolerance in metres (EPSG:27700, before reprojection); "
                                     "0 = none; above the service's maximum it is clamped.")
                        ] = 0.0,
    within: Annotated[str | None, Query(description="Only features inside this area (place, "
                                        "sub-ICB or MSOA code).", pattern=CODE_PATTERN)
                      ] = None,
    ring: Annotated[bool, Query(description="Include the edge ring of neighbours outside the "
                                "area (never part of the results).")] = False,
    limit: Annotated[int | None, Query(
        ge=1, le=LIMIT_MAX, description="Features per page (default and "
                                       "maximum set by the service).")] = None,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Features to skip.")] = 0,
) -> Response:
    """Return one page of a layer as a GeoJSON FeatureCollection.

    The collection carries ``numberMatched``, ``numberReturned`` and ``links`` (``self``,
    ``next``, ``prev``); the ``Link`` header repeats ``next``/``prev``. The strong ``ETag``
    depends on the store file's SHA-256 and the query; send it back in ``If-None-Match`` to get
    ``304 Not Modified``. Features are ordered by area code.
    """
    info = layers.layer(build, layer)
    if not info.spatial:
        raise UnknownLayerError(f"layer {layer!r} of build {build.code} is a table without "
                                f"geometries; fetch it as CSV from "
                                f"{url_for(request, 'layer_table', area=build.code, layer=layer)}")
    _check_crs(crs, "crs")
    box_crs = _check_crs(bbox_crs or crs, "bbox-crs")
    box = parse_bbox(bbox, box_crs) if bbox is not None else None
    simplify = min(float(simplify), settings.max_simplify_m)
    start, stop = page_slice(offset, limit, default=settings.default_page_size,
                             most=settings.max_page_size)
    base = layers.frame(build, layer)
    assert isinstance(base, gpd.GeoDataFrame)
    cols = select_properties(info.name, base, properties)
    norm = {"crs": crs, "bbox": box,
            "bbox_crs": box_crs if box else None, "properties": cols, "simplify": simplify,
            "within": within.upper() if within else None, "ring": ring, "start": start,
            "stop": stop}
    tag = etag_for(build.digest(), f"items/{layer}", norm)
    headers = {"Content-Crs": f"<{CONTENT_CRS[crs]}>"}
    if (r := _conditional(request, tag, headers)) is not None:
        return r
    if (r := _cached(request, responses, tag, headers, GeoJSONResponse)) is not None:
        return r

    keep = _filter(build, info, base, ring=ring, within=within)
    if box is not None:
        boxed = layers.frame(build, layer, crs=box_crs) if box_crs != BNG else base
        keep &= in_boxes(boxed.sindex, box, len(base))
    positions = np.flatnonzero(keep)
    order = np.argsort(base.index.to_numpy()[positions], kind="stable")
    positions = positions[order]
    total = len(positions)
    page_pos = positions[start:stop]
    links, link_header = page_links(request, start, min(stop, max(total, start)), total,
                                    media_type=GEOJSON)
    members = {"numberMatched": int(total), "numberReturned": int(len(page_pos)),
               "links": [lk.model_dump(exclude_none=True) for lk in links]}
    head = _geojson.collection_head(crs=crs, members=members, name=layer)
    if simplify == 0 and cols is None:  # a join of the layer's cached feature strings
        feats = layers.features(build, layer, crs)
        body = _geojson.join_features(head, (feats[i] for i in page_pos))
    else:
        if simplify > 0:
            page = base.iloc[page_pos].copy()
            page.geometry = page.geometry.simplify(simplify, preserve_topology=True)
            if crs != BNG:
                page = page.to_crs(crs)
        else:
            page = layers.frame(build, layer, crs=crs).iloc[page_pos]
        if cols is not None:
            page = page[[*cols, page.geometry.name]]
        body = _geojson.join_features(head, _geojson.feature_strings(page, crs=crs))
    if link_header:
        headers["Link"] = link_header
    return _finish(request, responses, body, tag, headers, GeoJSONResponse)


# --------------------------------------------------------------------------- CSV


@router.get("/areas/{area}/layers/{layer}/table", name="layer_table", response_class=CSVResponse,
            summary="A layer's attribute table as CSV",
            responses={200: {"description": "CSV, one row per feature (no geometry)",
                             "content": {CSV: {"schema": {"type": "string"}}}},
                       304: {"description": "Not modified"}, **ERRORS})
def layer_table(
    request: Request, build: BuildDep, layer: LayerPath, layers: LayersDep,
    settings: SettingsDep, responses: ResponsesDep,
    properties: Annotated[str | None, Query(description="Comma-separated columns (default: "
                                            "all).", max_length=2000)] = None,
    within: Annotated[str | None, Query(description="Only rows inside this area.",
                                        pattern=CODE_PATTERN)] = None,
    ring: Annotated[bool, Query(description="Include the edge ring.")] = False,
    limit: Annotated[int | None, Query(
        ge=1, le=LIMIT_MAX, description="Rows (default and maximum: the "
                                       "service's max_table_rows).")] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """Return the attribute table of a layer or table as CSV.

    Rows are ordered by area code, paged with the ``Link`` header, and carry an ETag.
    """
    info = layers.layer(build, layer)
    base = layers.frame(build, layer)
    cols = select_properties(info.name, base, properties)
    start, stop = page_slice(offset, limit, default=settings.max_table_rows,
                             most=settings.max_table_rows)
    norm = {"properties": cols,
            "within": within.upper() if within else None, "ring": ring, "start": start,
            "stop": stop}
    tag = etag_for(build.digest(), f"table/{layer}", norm)
    if (r := _conditional(request, tag, {})) is not None:
        return r
    if (r := _cached(request, responses, tag, {}, CSVResponse)) is not None:
        return r
    keep = _filter(build, info, base, ring=ring, within=within)
    rows = base[keep]
    if isinstance(rows, gpd.GeoDataFrame):
        rows = pd.DataFrame(rows.drop(columns=[rows.geometry.name]))
    if rows.index.name:
        rows = rows.sort_index(kind="stable")
    total = len(rows)
    rows = rows.iloc[start:stop]
    if cols is not None:
        rows = rows[cols]
    _, link_header = page_links(request, start, min(stop, max(total, start)), total,
                                media_type=CSV)
    headers = {"Content-Disposition": f'inline; filename="{build.code}_{layer}.csv"',
               "X-Total-Count": str(total)}
    if link_header:
        headers["Link"] = link_header
    return _finish(request, responses, _geojson.csv_bytes(rows), tag, headers, CSVResponse)
