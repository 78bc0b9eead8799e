"""OGC API - Features: Part 1 (Core, GeoJSON, OpenAPI 3.0) and Part 2 (CRS by reference).

Every spatial layer of every served build is a collection, ``{area}_{layer}`` (for instance
``E54000034_lsoa``), so QGIS, ArcGIS Pro, GDAL's OAPIF driver and web maps open the builds
directly. Coordinates are CRS84 (longitude, latitude) by default; ``crs`` asks for British
National Grid (``http://www.opengis.net/def/crs/EPSG/0/27700``), the storage CRS. Features are
ordered by area code; the code is the feature id. A request for a whole layer in CRS84 is
answered from the GeoJSON the build wrote (no rendering); any other page is rendered once,
off the event loop, and cached under its ETag. Invalid parameters get 400, as the standard asks.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
from fastapi import APIRouter, Path, Query, Request, Response
from healthgap.services import _geojson
from healthgap.services.api.catalog import LAYER_PATTERN, Build, Catalog, LayerCache, LayerInfo
from healthgap.services.api.deps import (
    CatalogDep,
    LayersDep,
    SettingsDep,
    StateDep,
    public_url,
    url_for,
)
from healthgap.services.api.paging import LIMIT_MAX, etag_for, page_links, page_slice
from healthgap.services.api.params import (
    BBOX_HELP,
    BBOX_PATTERN,
    Box,
    in_boxes,
    parse_bbox,
    select_properties,
)
from healthgap.services.api.render import in_thread, respond
from healthgap.services.api.schemas import Link, Problem
from healthgap.services.errors import BadRequestError
from pydantic import BaseModel
from pyproj import Transformer

from healthgap import BNG, WGS84
from healthgap.errors import UnknownLayerError

router = APIRouter(tags=["ogc"])

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG27700 = "http://www.opengis.net/def/crs/EPSG/0/27700"
#: Output CRS URIs and the CRS they are written in (CRS84 is EPSG:4326 with longitude first).
CRS_URIS = {CRS84: WGS84, EPSG27700: BNG}
CrsUri = Literal["http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                 "http://www.opengis.net/def/crs/EPSG/0/27700"]
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
COLLECTION_PATTERN = r"^[EWSN]\d{8}_[a-z][a-z0-9_]{0,62}$"
_COLLECTION = re.compile(COLLECTION_PATTERN)
_LAYER = re.compile(LAYER_PATTERN)
_PROBLEM = {"content": {"application/problem+json": {}}, "model": Problem}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {**_PROBLEM, "description": "Unknown collection or feature"}}
BAD: dict[int | str, dict[str, Any]] = {
    400: {**_PROBLEM, "description": "Invalid parameter"}}


class LinkList(BaseModel):
    """A document that is mostly links (landing page)."""

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The conformance classes the API implements."""

    conformsTo: list[str]


class Collection(BaseModel):
    """One collection: a spatial layer of one build."""

    id: str
    title: str
    description: str
    itemType: str = "feature"
    crs: list[str]
    storageCrs: str
    extent: dict[str, Any] | None = None
    links: list[Link]


class Collections(BaseModel):
    """Every collection of every served build."""

    links: list[Link]
    collections: list[Collection]


CollectionPath = Annotated[str, Path(description="Collection id: the build's area code and "
                                     "the layer, e.g. E54000034_lsoa.",
                                     pattern=COLLECTION_PATTERN, max_length=73,
                                     examples=["E54000034_lsoa"])]
FeaturePath = Annotated[str, Path(description="Feature id (the area code).",
                                  pattern=r"^[A-Za-z0-9_.-]{1,64}$", max_length=64,
                                  examples=["E01016468"])]


def _link(href: str, rel: str, type_: str, title: str | None = None) -> Link:
    return Link(href=href, rel=rel, type=type_, title=title)


@router.get("/", response_model=LinkList, name="landing_page", response_model_exclude_none=True,
            summary="Landing page: links to the API definition, conformance and collections")
async def landing_page(request: Request) -> LinkList:
    """Return the OGC API landing page."""
    return LinkList(
        title="healthgap",
        description="Life expectancy and its drivers in the neighbourhoods of England's "
                    "Integrated Care Systems, as OGC API - Features collections.",
        links=[_link(url_for(request, "landing_page"), "self", JSON, "this document"),
               _link(url_for(request, "openapi"), "service-desc", OPENAPI,
                     "the API definition"),
               _link(url_for(request, "swagger_ui_html"), "service-doc", "text/html",
                     "the API documentation"),
               _link(url_for(request, "conformance"), "conformance", JSON,
                     "conformance classes"),
               _link(url_for(request, "collections"), "data", JSON, "the collections")])


@router.get("/conformance", response_model=Conformance, name="conformance",
            summary="The conformance classes implemented")
async def conformance() -> Conformance:
    """List the OGC API - Features conformance classes this service implements."""
    return Conformance(conformsTo=CONFORMANCE)


def _bbox84(info: LayerInfo) -> list[float] | None:
    if info.bounds is None or not all(math.isfinite(b) for b in info.bounds):
        return None
    t = Transformer.from_crs(info.crs or BNG, WGS84, always_xy=True)
    return [round(v, 6) for v in t.transform_bounds(*info.bounds)]


def _collection(request: Request, build: Build, info: LayerInfo) -> Collection:
    cid = f"{build.code}_{info.name}"
    items = url_for(request, "ogc_items", collection=cid)
    links = [_link(url_for(request, "ogc_collection", collection=cid), "self", JSON),
             _link(items, "items", GEOJSON, "the features"),
             _link(url_for(request, "get_layer", area=build.code, layer=info.name),
                   "describedby", JSON, "fields, units and sources")]
    bbox = _bbox84(info)
    kind = "synthetic demo " if build.synthetic else ""
    return Collection(
        id=cid, title=f"{build.name}: {info.name}",
        description=f"The {info.name} level of the {kind}build for {build.name} "
                    f"({build.level or 'area'} {build.code}): {info.count} "
                    f"{(info.geometry_type or 'feature').lower()} features with every "
                    "indicator at that level; edge-ring neighbours outside the area have "
                    "in_area = false.",
        crs=list(CRS_URIS), storageCrs=EPSG27700,
        extent=None if bbox is None else {"spatial": {"bbox": [bbox], "crs": CRS84}},
        links=links)


def _spatial(layers: LayerCache, build: Build) -> dict[str, LayerInfo]:
    return {n: i for n, i in layers.layers(build).items() if i.spatial}


@router.get("/collections", response_model=Collections, name="collections",
            response_model_exclude_none=True,
            summary="Every spatial layer of every served build")
async def collections(request: Request, catalog: CatalogDep, layers: LayersDep) -> Collections:
    """List the collections: one per spatial layer of each build, its level and area."""
    def make() -> Collections:
        out = [_collection(request, b, info) for _, b in sorted(catalog.builds().items())
               for _, info in sorted(_spatial(layers, b).items())]
        return Collections(links=[_link(public_url(request), "self", JSON)], collections=out)
    return await in_thread(make)  # type: ignore[no-any-return]


async def _resolved(catalog: Catalog, layers: LayerCache, collection: str
                    ) -> tuple[Build, LayerInfo]:
    """Resolve a collection id; in a worker thread only when files must be read."""
    if not catalog.stale():
        build = catalog.get(collection[:9]) if _COLLECTION.match(collection) else None
        if build is not None and layers.ready(build):
            return _resolve(catalog, layers, collection)
    return await in_thread(lambda: _resolve(catalog, layers, collection))  # type: ignore


def _resolve(catalog: Catalog, layers: LayerCache, collection: str) -> tuple[Build, LayerInfo]:
    if not _COLLECTION.match(collection):
        raise UnknownLayerError(f"collection {collection[:80]!r} is not a collection id "
                                "(area code, underscore, layer: E54000034_lsoa)")
    code, layer = collection[:9], collection[10:]
    build = catalog.get(code)
    infos = _spatial(layers, build)
    if layer not in infos or not _LAYER.match(layer):
        raise UnknownLayerError(f"collection {collection!r}: build {code} has no spatial layer "
                                f"{layer!r}; collections: "
                                f"{', '.join(f'{code}_{n}' for n in sorted(infos))}")
    return build, infos[layer]


@router.get("/collections/{collection}", response_model=Collection, name="ogc_collection",
            response_model_exclude_none=True,
            summary="One collection: extent, CRS and links", responses={**NOT_FOUND})
async def collection(request: Request, collection: CollectionPath, catalog: CatalogDep,
                     layers: LayersDep) -> Collection:
    """Describe one collection."""
    build, info = await _resolved(catalog, layers, collection)
    return _collection(request, build, info)


# --------------------------------------------------------------------------- items


def _crs(value: str | None, name: str) -> str:
    uri = value or CRS84
    if uri not in CRS_URIS:
        raise BadRequestError(f"{name}={uri[:100]!r}: allowed {', '.join(CRS_URIS)}")
    return CRS_URIS[uri]


def _ordered(frame: gpd.GeoDataFrame) -> np.ndarray:
    if frame.index.name:
        return np.argsort(frame.index.to_numpy(), kind="stable")
    return np.arange(len(frame))


def _head(members: dict[str, Any]) -> bytes:
    return json.dumps(members, separators=(",", ":"), allow_nan=False)[:-1].encode()


@router.get("/collections/{collection}/items", name="ogc_items",
            response_class=Response, summary="Features of a collection (GeoJSON)",
            responses={200: {"description": "A page of features",
                             "content": {GEOJSON: {"schema": {"type": "object"}}}},
                       304: {"description": "Not modified (If-None-Match matched the ETag)"},
                       **BAD, **NOT_FOUND})
async def items(
    request: Request, collection: CollectionPath, state: StateDep, settings: SettingsDep,
    limit: Annotated[int | None, Query(
        ge=1, le=LIMIT_MAX, description="Features per page; values above the service's page "
        "size are clamped to it (follow the next link).")] = None,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Features to skip.")] = 0,
    bbox: Annotated[str | None, Query(description=f"{BBOX_HELP}: features whose geometry "
                                      "intersects it; in bbox-crs (default CRS84).",
                                      max_length=200, pattern=BBOX_PATTERN,
                                      examples=["-0.9,51.2,-0.6,51.4"])] = None,
    bbox_crs: Annotated[CrsUri | None, Query(alias="bbox-crs", description="CRS of bbox.")
                        ] = None,
    crs: Annotated[CrsUri | None, Query(description="Output CRS (default CRS84).")] = None,
    properties: Annotated[str | None, Query(description="Comma-separated properties to "
                                            "return (default: all).", max_length=2000)
                          ] = None,
) -> Response:
    """Return a page of a collection's features as a GeoJSON FeatureCollection.

    The collection carries ``numberMatched``, ``numberReturned``, ``timeStamp`` and ``links``
    (``self``, ``collection``, ``next``, ``prev``); the ``Content-Crs`` header names the CRS of
    the coordinates. The strong ``ETag`` changes when the build changes.
    """
    layers = state.layers
    build, info = await _resolved(state.catalog, layers, collection)
    out_crs = _crs(crs, "crs")
    box_crs = _crs(bbox_crs, "bbox-crs")
    box = parse_bbox(bbox, box_crs) if bbox is not None else None
    start, stop = page_slice(offset, limit, default=settings.default_page_size,
                             most=settings.max_page_size)
    wanted = None if properties is None else properties.strip()
    digest = build.digest() if build._digest is not None else await in_thread(build.digest)
    norm = {"query": request.url.query, "crs": out_crs, "bbox": box,
            "bbox_crs": box_crs if box else None, "properties": wanted, "start": start,
            "stop": stop}
    tag = etag_for(digest, f"ogc/{info.name}", norm)
    uri = next(u for u, c in CRS_URIS.items() if c == out_crs)
    extra = {"Content-Crs": f"<{uri}>"}

    def render() -> tuple[bytes, dict[str, str]]:
        return _render(request, layers, build, info, out_crs=out_crs, box=box, box_crs=box_crs,
                       properties=wanted, start=start, stop=stop)

    return await respond(request, state.renderer, tag, render, media_type=GEOJSON, extra=extra,
                         build=build)


def _render(request: Request, layers: LayerCache, build: Build, info: LayerInfo, *,
            out_crs: str, box: list[Box] | None, box_crs: str,
            properties: str | None, start: int, stop: int) -> tuple[bytes, dict[str, str]]:
    """Render one page (in a worker thread)."""
    base = layers.frame(build, info.name)
    assert isinstance(base, gpd.GeoDataFrame)
    cols = select_properties(info.name, base, properties)
    positions = _ordered(base)
    if box is not None:
        boxed = layers.frame(build, info.name, crs=box_crs) if box_crs != BNG else base
        hits = in_boxes(boxed.sindex, box, len(base))
        positions = positions[hits[positions]]
    total = len(positions)
    page_pos = positions[start:stop]
    links, link_header = page_links(request, start, min(stop, max(total, start)), total,
                                    media_type=GEOJSON)
    cid = f"{build.code}_{info.name}"
    links.append(Link(href=url_for(request, "ogc_collection", collection=cid),
                      rel="collection", type=JSON))
    members = {"type": "FeatureCollection", "numberMatched": int(total),
               "numberReturned": int(len(page_pos)),
               "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
               "links": [lk.model_dump(exclude_none=True) for lk in links]}
    headers = {"Link": link_header} if link_header else {}
    whole = box is None and cols is None and start == 0 and len(page_pos) == total
    prebuilt = layers.feature_file(build, info.name) if whole and out_crs == WGS84 else None
    if prebuilt is not None and prebuilt.count == total:
        return _head(members) + b"," + prebuilt.features(), headers
    members.pop("type")
    head = _geojson.collection_head(crs=out_crs, members=members, name=info.name)
    if cols is None:  # a join of the layer's cached feature strings
        feats = layers.features(build, info.name, out_crs)
        return _geojson.join_features(head, (feats[i] for i in page_pos)), headers
    page = layers.frame(build, info.name, crs=out_crs).iloc[page_pos]
    page = page[[*cols, page.geometry.name]]
    return _geojson.join_features(head, _geojson.feature_strings(page, crs=out_crs)), headers


@router.get("/collections/{collection}/items/{feature}", name="ogc_feature",
            response_class=Response, summary="One feature (GeoJSON)",
            responses={200: {"description": "The feature",
                             "content": {GEOJSON: {"schema": {"type": "object"}}}},
                       304: {"description": "Not modified"}, **BAD, **NOT_FOUND})
async def feature(
    request: Request, collection: CollectionPath, feature: FeaturePath, state: StateDep,
    crs: Annotated[CrsUri | None, Query(description="Output CRS (default CRS84).")] = None,
    properties: Annotated[str | None, Query(description="Comma-separated properties to "
                                            "return (default: all).", max_length=2000)
                          ] = None,
) -> Response:
    """Return one feature by its id (the area code)."""
    layers = state.layers
    build, info = await _resolved(state.catalog, layers, collection)
    out_crs = _crs(crs, "crs")
    digest = build.digest() if build._digest is not None else await in_thread(build.digest)
    wanted = None if properties is None else properties.strip()
    tag = etag_for(digest, f"ogc/{info.name}/{feature}", {"crs": out_crs, "properties": wanted})
    uri = next(u for u, c in CRS_URIS.items() if c == out_crs)

    def render() -> tuple[bytes, dict[str, str]]:
        frame = layers.frame(build, info.name, crs=out_crs)
        assert isinstance(frame, gpd.GeoDataFrame)
        cols = select_properties(info.name, frame, wanted)
        if frame.index.name:
            pos = np.flatnonzero(frame.index.to_numpy() == feature)
        elif feature.isdigit() and int(feature) < len(frame):
            pos = np.array([int(feature)])
        else:
            pos = np.array([], dtype=int)
        if len(pos) == 0:
            raise UnknownLayerError(f"feature {feature!r} is not in collection {collection}")
        row = frame.iloc[pos[:1]]
        if cols is not None:
            row = row[[*cols, row.geometry.name]]
        fc = json.loads(_geojson.feature_collection(row, crs=out_crs, members={},
                                                    name=info.name))
        out = fc["features"][0]
        if not frame.index.name:
            out["id"] = int(feature)
        out["links"] = [
            {"href": public_url(request), "rel": "self", "type": GEOJSON},
            {"href": url_for(request, "ogc_collection", collection=collection),
             "rel": "collection", "type": JSON}]
        return json.dumps(out, separators=(",", ":"), allow_nan=False).encode(), {}

    return await respond(request, state.renderer, tag, render, media_type=GEOJSON,
                         extra={"Content-Crs": f"<{uri}>"}, build=build)
