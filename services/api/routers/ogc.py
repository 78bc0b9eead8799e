"""OGC API - Features: Part 1 (Core, GeoJSON), Part 2 (CRS by reference), Part 3 (filtering).

Every spatial layer of every served build is a collection, ``{area}_{layer}`` (for instance
``E54000034_lsoa``), so QGIS, ArcGIS Pro, GDAL's OAPIF driver and web maps open the builds
directly. Coordinates are CRS84 (longitude, latitude) by default; ``crs`` asks for British
National Grid (``http://www.opengis.net/def/crs/EPSG/0/27700``), the storage CRS. Features are
ordered by area code; the code is the feature id. A request for a whole layer in CRS84 is
answered from the GeoJSON the build wrote (no rendering); any other page is rendered once,
off the event loop, and cached under its ETag. Invalid or unknown parameters get 400 and an
unknown collection or feature 404, as the standard asks.

The API definition is OpenAPI 3.1 (what FastAPI writes), so the Part 1 class ``oas30`` is not
declared. Part 3: ``/collections/{id}/queryables``, ``filter`` in CQL2 text or JSON (comparison,
logical, ``LIKE``, ``IN``, ``BETWEEN``, ``IS NULL``, spatial predicates such as
``S_INTERSECTS``), ``filter-crs``, property equality filters (``?place_name=Slough``) and
``sortby`` (``-population,+lsoa_code``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
from fastapi import APIRouter, Path, Query, Request, Response
from healthgap.geo.indicators import describe
from healthgap.services import _geojson
from healthgap.services._layers import KEY_COLUMNS, KEY_INDEX
from healthgap.services.api import html as views
from healthgap.services.api.catalog import LAYER_PATTERN, Build, Catalog, LayerCache, LayerInfo
from healthgap.services.api.deps import (
    CatalogDep,
    LayersDep,
    SettingsDep,
    StateDep,
    public_url,
    url_for,
)
from healthgap.services.api.html import HTML, wants_html
from healthgap.services.api.paging import LIMIT_MAX, etag_for, page_links, page_slice
from healthgap.services.api.params import (
    BBOX_HELP,
    BBOX_PATTERN,
    Box,
    in_boxes,
    parse_bbox,
    select_properties,
)
from healthgap.services.api.query import (
    FEATURE_PARAMS,
    ITEMS_PARAMS,
    LANG_ALIASES,
    check_datetime,
    check_params,
    equality_mask,
    evaluate_filter,
    parse_filter,
    parse_sortby,
    property_types,
    queryables,
    sort_positions,
)
from healthgap.services.api.render import in_thread, respond
from healthgap.services.api.schemas import Feature, FeatureCollection, Link, Problem
from healthgap.services.errors import BadRequestError
from pydantic import BaseModel
from pyproj import Transformer

from healthgap import BNG, WGS84
from healthgap.errors import ParameterError, UnknownLayerError

router = APIRouter(tags=["ogc"])

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.1"
SCHEMA_JSON = "application/schema+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG27700 = "http://www.opengis.net/def/crs/EPSG/0/27700"
#: Output CRS URIs and the CRS they are written in (CRS84 is EPSG:4326 with longitude first).
CRS_URIS = {CRS84: WGS84, EPSG27700: BNG}
CrsUri = Literal["http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                 "http://www.opengis.net/def/crs/EPSG/0/27700"]
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/sorting",
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


# no pattern on the ids: an id that names nothing is a 404 (the standard), not a 400
CollectionPath = Annotated[str, Path(description="Collection id: the build's area code and "
                                     "the layer, e.g. E54000034_lsoa; any other id is 404.",
                                     examples=["E54000034_lsoa"])]
FeaturePath = Annotated[str, Path(description="Feature id: the area or facility code (cliffs: "
                                  "sex~code_a~code_b); any other id is 404.",
                                  examples=["E01016468"])]


def _link(href: str, rel: str, type_: str, title: str | None = None) -> Link:
    return Link(href=href, rel=rel, type=type_, title=title)


FormatQuery = Annotated[Literal["json", "html"] | None, Query(
    description="json (the default) or html (also chosen by a browser's Accept: text/html).")]


def _as_html(request: Request, f: str | None) -> bool:
    return f == "html" or (f is None and wants_html(request))


@router.get("/", response_model=LinkList, name="landing_page", response_model_exclude_none=True,
            summary="Landing page: links to the API definition, conformance and collections",
            responses={200: {"content": {HTML: {}}}, **BAD})
async def landing_page(request: Request, f: FormatQuery = None) -> Any:
    """Return the OGC API landing page."""
    check_params(request.query_params.keys(), {"f"}, what="the landing page")
    page = LinkList(
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
               _link(url_for(request, "collections"), "data", JSON, "the collections"),
               _link(url_for(request, "tile_matrix_sets"),
                     "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", JSON,
                     "tile matrix sets of the vector tiles")])
    if _as_html(request, f):
        items = [(views.with_format(lk.href, "html") if lk.rel in ("data", "self") else lk.href,
                  lk.title or lk.rel, f"({lk.rel})") for lk in page.links]
        return Response(views.page(page.title, f"<p>{page.description}</p>" +
                                   views.link_list(items)), media_type=HTML)
    return page


#: OGC API - Tiles conformance classes (routers/tiles.py serves them).
TILES_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]


@router.get("/conformance", response_model=Conformance, name="conformance",
            summary="The conformance classes implemented")
async def conformance(request: Request) -> Conformance:
    """List the OGC API conformance classes this service implements (Features and Tiles)."""
    check_params(request.query_params.keys(), {"f"}, what="conformance")
    return Conformance(conformsTo=[*CONFORMANCE, *TILES_CONFORMANCE])


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
             _link(url_for(request, "ogc_queryables", collection=cid),
                   "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA_JSON,
                   "the properties a filter may name"),
             _link(url_for(request, "ogc_tilesets", collection=cid),
                   "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", JSON,
                   "vector tiles (Mapbox Vector Tiles, WebMercatorQuad)"),
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
            response_model_exclude_none=True, responses={200: {"content": {HTML: {}}}, **BAD},
            summary="Every spatial layer of every served build")
async def collections(request: Request, catalog: CatalogDep, layers: LayersDep,
                      f: FormatQuery = None) -> Any:
    """List the collections: one per spatial layer of each build, its level and area."""
    check_params(request.query_params.keys(), {"f"}, what="collections")

    def make() -> Collections:
        out = [_collection(request, b, info) for _, b in sorted(catalog.builds().items())
               for _, info in sorted(_spatial(layers, b).items())]
        return Collections(links=[_link(public_url(request), "self", JSON)], collections=out)
    found: Collections = await in_thread(make)
    if _as_html(request, f):
        rows = [(views.with_format(next(lk.href for lk in c.links if lk.rel == "self"), "html"),
                 c.id, f"— {c.title}") for c in found.collections]
        return Response(views.page("Collections", views.link_list(rows), links=[
            (views.with_format(url_for(request, "landing_page"), "html"), "home")]),
            media_type=HTML)
    return found


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
            response_model_exclude_none=True, summary="One collection: extent, CRS and links",
            responses={200: {"content": {HTML: {}}}, **BAD, **NOT_FOUND})
async def collection(request: Request, collection: CollectionPath, catalog: CatalogDep,
                     layers: LayersDep, f: FormatQuery = None) -> Any:
    """Describe one collection."""
    check_params(request.query_params.keys(), {"f"}, what="a collection")
    build, info = await _resolved(catalog, layers, collection)
    out = _collection(request, build, info)
    if _as_html(request, f):
        rows = [(views.with_format(lk.href, "html") if lk.rel == "items" else lk.href,
                 lk.title or lk.rel, f"({lk.rel})") for lk in out.links]
        return Response(views.page(out.title, f"<p>{views.html.escape(out.description)}</p>"
                                   + views.link_list(rows), links=[
            (views.with_format(url_for(request, "collections"), "html"), "collections")]),
            media_type=HTML)
    return out


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


FORMAT_HELP = "json (the default) or html."
#: Largest page rendered on the event loop (a bbox page; see `render.Renderer.body`).
INLINE_MOST = 500


@dataclass(frozen=True)
class ItemsQuery:
    """An items request, checked and normalised (what the ETag and the cache key are made of)."""

    out_crs: str
    box: list[Box] | None
    box_crs: str
    properties: str | None
    filter_text: str | None
    filter_lang: str | None
    filter_crs: str
    equals: tuple[tuple[str, str], ...]
    sortby: str | None
    start: int
    stop: int

    def key(self) -> dict[str, Any]:
        """Return the normalised parameters (never the raw query string)."""
        return {"crs": self.out_crs, "bbox": self.box,
                "bbox_crs": self.box_crs if self.box else None, "properties": self.properties,
                "filter": self.filter_text, "filter_lang": self.filter_lang if
                self.filter_text else None, "filter_crs": self.filter_crs if self.filter_text
                else None, "equals": self.equals, "sortby": self.sortby,
                "start": self.start, "stop": self.stop}


@router.get("/collections/{collection}/items", name="ogc_items",
            response_class=Response, summary="Features of a collection (GeoJSON)",
            responses={200: {"description": "A page of features", "model": FeatureCollection,
                             "content": {GEOJSON: {"schema": {
                                 "$ref": "#/components/schemas/FeatureCollection"}},
                                 HTML: {"schema": {"type": "string"}}}},
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
                                      max_length=400, pattern=BBOX_PATTERN,
                                      examples=["-0.9,51.2,-0.6,51.4"])] = None,
    bbox_crs: Annotated[CrsUri | None, Query(alias="bbox-crs", description="CRS of bbox.")
                        ] = None,
    crs: Annotated[CrsUri | None, Query(description="Output CRS (default CRS84).")] = None,
    properties: Annotated[str | None, Query(description="Comma-separated properties to "
                                            "return (default: all).", max_length=2000)
                          ] = None,
    datetime_: Annotated[str | None, Query(alias="datetime", max_length=100, description=(
        "RFC 3339 date-time or interval. The features have no time of their own (a build "
        "describes one period), so any value is answered with 400 saying so."))] = None,
    filter_: Annotated[str | None, Query(alias="filter", max_length=20_000, description=(
        "A CQL2 filter (see /collections/{collection}/queryables), e.g. "
        "population > 2000 AND place_name LIKE 'Sl%'."))] = None,
    filter_lang: Annotated[Literal["cql2-text", "cql2-json", "cql-text"] | None, Query(
        alias="filter-lang", description="cql2-text (default) or cql2-json; cql-text (the "
        "draft's name, sent by GDAL 3.6) is read as cql2-text.")] = None,
    filter_crs: Annotated[CrsUri | None, Query(alias="filter-crs", description="CRS of "
                                               "geometry literals in filter (default CRS84).")
                          ] = None,
    sortby: Annotated[str | None, Query(max_length=2000, description=(
        "Comma-separated properties, each +name (ascending, the default) or -name "
        "(descending); ties keep the id order."))] = None,
    f: Annotated[Literal["json", "html"] | None, Query(description=FORMAT_HELP)] = None,
) -> Response:
    """Return a page of a collection's features as a GeoJSON FeatureCollection.

    The collection carries ``numberMatched``, ``numberReturned``, ``timeStamp`` and ``links``
    (``self``, ``collection``, ``next``, ``prev``); the ``Content-Crs`` header names the CRS of
    the coordinates. The strong ``ETag`` changes when the build changes. Any queryable
    property may also be given as ``name=value`` (equality).
    """
    layers = state.layers
    build, info = await _resolved(state.catalog, layers, collection)
    names = _property_names(info)
    given = list(request.query_params.keys())
    check_params(given, ITEMS_PARAMS, what=f"collection {collection}", properties=names)
    equals = tuple(sorted((k, v) for k, v in request.query_params.items()
                          if k not in ITEMS_PARAMS))
    if datetime_ is not None:
        check_datetime(datetime_)
    if filter_lang is not None and filter_ is None:
        raise BadRequestError("filter-lang without filter: give the filter too")
    out_crs = _crs(crs, "crs")
    box_crs = _crs(bbox_crs, "bbox-crs")
    try:
        box = parse_bbox(bbox, box_crs) if bbox is not None else None
    except ParameterError as exc:
        raise BadRequestError(str(exc)) from None
    if filter_ is not None:
        parse_filter(filter_, filter_lang)  # 400 on a syntax error, before any cache key
    if sortby is not None:
        parse_sortby(sortby, names)
    start, stop = page_slice(offset, limit, default=settings.default_page_size,
                             most=settings.max_page_size)
    q = ItemsQuery(out_crs=out_crs, box=box, box_crs=box_crs,
                   properties=None if properties is None else properties.strip(),
                   filter_text=filter_, filter_lang=LANG_ALIASES.get(filter_lang or "",
                                                                     filter_lang or "cql2-text"),
                   filter_crs=_crs(filter_crs, "filter-crs"), equals=equals, sortby=sortby,
                   start=start, stop=stop)
    if f == "html" or (f is None and wants_html(request)):
        body = await in_thread(lambda: html_items(request, layers, build, info, q))
        return Response(body, media_type=HTML)
    digest = build.digest() if build._digest is not None else await in_thread(build.digest)
    tag = etag_for(digest, f"ogc/{info.name}", q.key())
    uri = next(u for u, c in CRS_URIS.items() if c == out_crs)
    extra = {"Content-Crs": f"<{uri}>"}

    def render() -> tuple[bytes, dict[str, str]]:
        return _render(request, layers, build, info, q)

    # a bbox page picked from the STRtree out of a layer already in memory is small work
    small = (q.box is not None and q.filter_text is None and q.properties is None
             and q.stop - q.start <= INLINE_MOST and layers.in_memory(
                 build, info.name, frames=(None,) if q.box_crs == BNG else (None, q.box_crs),
                 features=out_crs))
    return await respond(request, state.renderer, tag, render, media_type=GEOJSON, extra=extra,
                         build=build, inline=small)


def _property_names(info: LayerInfo) -> list[str]:
    """Return the layer's properties from its metadata (no frame read, no thread hop)."""
    names = [n for n, _ in info.fields]
    return [KEY_INDEX, *names] if info.name in KEY_COLUMNS else names


def select(layers: LayerCache, build: Build, info: LayerInfo, q: ItemsQuery) -> np.ndarray:
    """Return the positions (in the layer frame) that ``q`` selects, in their order."""
    base = layers.frame(build, info.name)
    assert isinstance(base, gpd.GeoDataFrame)
    positions = layers._get(("order", build.code, build.version, info.name),
                            lambda: _ordered(base))  # once per layer: 33k codes in England
    keep: np.ndarray | None = None
    if q.box is not None:
        boxed = layers.frame(build, info.name, crs=q.box_crs) if q.box_crs != BNG else base
        keep = in_boxes(boxed.sindex, q.box, len(base))
    if q.equals:
        hit = equality_mask(base, dict(q.equals))
        keep = hit if keep is None else keep & hit
    if q.filter_text is not None:
        framed = layers.frame(build, info.name, crs=q.filter_crs) if q.filter_crs != BNG \
            else base
        assert isinstance(framed, gpd.GeoDataFrame)
        hit = evaluate_filter(framed, parse_filter(q.filter_text, q.filter_lang))
        keep = hit if keep is None else keep & hit
    if keep is not None:
        positions = positions[keep[positions]]
    if q.sortby is not None:
        positions = sort_positions(base, positions, parse_sortby(q.sortby,
                                                                 property_types(base)))
    return positions


def _render(request: Request, layers: LayerCache, build: Build, info: LayerInfo,
            q: ItemsQuery) -> tuple[bytes, dict[str, str]]:
    """Render one page (in a worker thread)."""
    base = layers.frame(build, info.name)
    assert isinstance(base, gpd.GeoDataFrame)
    cols = select_properties(info.name, base, q.properties)
    positions = select(layers, build, info, q)
    total = len(positions)
    page_pos = positions[q.start:q.stop]
    links, link_header = page_links(request, q.start, min(q.stop, max(total, q.start)), total,
                                    media_type=GEOJSON)
    cid = f"{build.code}_{info.name}"
    links.append(Link(href=url_for(request, "ogc_collection", collection=cid),
                      rel="collection", type=JSON))
    members = {"type": "FeatureCollection", "numberMatched": int(total),
               "numberReturned": int(len(page_pos)),
               "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
               "links": [lk.model_dump(exclude_none=True) for lk in links]}
    headers = {"Link": link_header} if link_header else {}
    whole = (q.box is None and cols is None and q.start == 0 and len(page_pos) == total
             and q.filter_text is None and not q.equals and q.sortby is None)
    prebuilt = layers.feature_file(build, info.name) if whole and q.out_crs == WGS84 else None
    if prebuilt is not None and prebuilt.count == total:
        return _head(members) + b"," + prebuilt.features(), headers
    members.pop("type")
    head = _geojson.collection_head(crs=q.out_crs, members=members, name=info.name)
    if cols is None:  # a join of the layer's cached feature strings
        feats = layers.features(build, info.name, q.out_crs)
        return _geojson.join_features(head, (feats[i] for i in page_pos)), headers
    page = layers.frame(build, info.name, crs=q.out_crs).iloc[page_pos]
    page = page[[*cols, page.geometry.name]]
    return _geojson.join_features(head, _geojson.feature_strings(page, crs=q.out_crs)), headers


@router.get("/collections/{collection}/queryables", name="ogc_queryables",
            summary="The properties a filter may name (JSON Schema)",
            responses={200: {"description": "JSON Schema of the queryables",
                             "content": {SCHEMA_JSON: {"schema": {"type": "object"}}}},
                       **BAD, **NOT_FOUND})
async def queryables_(request: Request, collection: CollectionPath, state: StateDep,
                      f: Annotated[Literal["json"] | None, Query(description="json.")] = None
                      ) -> Response:
    """Return the queryables of a collection: every property with its type, and geometry."""
    check_params(request.query_params.keys(), {"f"}, what="queryables")
    layers = state.layers
    build, info = await _resolved(state.catalog, layers, collection)

    def make() -> dict[str, Any]:
        frame = layers.frame(build, info.name)
        labels = {name: describe(name).label for name in property_types(frame)}
        return queryables(frame, info.geometry_type,
                          id_=url_for(request, "ogc_queryables", collection=collection),
                          title=f"{build.name}: {info.name}", labels=labels)

    body = await in_thread(make)
    return Response(json.dumps(body, separators=(",", ":")).encode(), media_type=SCHEMA_JSON)


@router.get("/collections/{collection}/items/{feature}", name="ogc_feature",
            response_class=Response, summary="One feature (GeoJSON)",
            responses={200: {"description": "The feature", "model": Feature,
                             "content": {GEOJSON: {"schema": {
                                 "$ref": "#/components/schemas/Feature"}},
                                 HTML: {"schema": {"type": "string"}}}},
                       304: {"description": "Not modified"}, **BAD, **NOT_FOUND})
async def feature(
    request: Request, collection: CollectionPath, feature: FeaturePath, state: StateDep,
    crs: Annotated[CrsUri | None, Query(description="Output CRS (default CRS84).")] = None,
    properties: Annotated[str | None, Query(description="Comma-separated properties to "
                                            "return (default: all).", max_length=2000)
                          ] = None,
    f: Annotated[Literal["json", "html"] | None, Query(description=FORMAT_HELP)] = None,
) -> Response:
    """Return one feature by its id (the area or facility code)."""
    check_params(request.query_params.keys(), FEATURE_PARAMS, what="a feature")
    layers = state.layers
    build, info = await _resolved(state.catalog, layers, collection)
    out_crs = _crs(crs, "crs")
    wanted = None if properties is None else properties.strip()
    if len(feature) > 200:
        raise UnknownLayerError(f"feature {feature[:64]!r}…: no feature has so long an id")
    digest = build.digest() if build._digest is not None else await in_thread(build.digest)
    as_html = f == "html" or (f is None and wants_html(request))
    tag = etag_for(digest, f"ogc/{info.name}/{feature}", {"crs": out_crs, "properties": wanted,
                                                          "html": as_html})
    uri = next(u for u, c in CRS_URIS.items() if c == out_crs)

    def render() -> tuple[bytes, dict[str, str]]:
        out = _one_feature(request, layers, build, info, collection, feature, out_crs, wanted)
        if as_html:
            return html_feature(request, build, info, out), {}
        return json.dumps(out, separators=(",", ":"), allow_nan=False).encode(), {}

    return await respond(request, state.renderer, tag, render,
                         media_type=HTML if as_html else GEOJSON,
                         extra={} if as_html else {"Content-Crs": f"<{uri}>"}, build=build)


def _one_feature(request: Request, layers: LayerCache, build: Build, info: LayerInfo,
                 collection: str, feature: str, out_crs: str, wanted: str | None
                 ) -> dict[str, Any]:
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
        raise UnknownLayerError(f"feature {feature[:64]!r} is not in collection {collection}")
    row = frame.iloc[pos[:1]]
    if cols is not None:
        row = row[[*cols, row.geometry.name]]
    fc = json.loads(_geojson.feature_collection(row, crs=out_crs, members={}, name=info.name))
    out: dict[str, Any] = fc["features"][0]
    if not frame.index.name:
        out["id"] = int(feature)
    out["links"] = [
        {"href": public_url(request), "rel": "self", "type": GEOJSON},
        {"href": url_for(request, "ogc_collection", collection=collection),
         "rel": "collection", "type": JSON}]
    return out


# --------------------------------------------------------------------------- HTML


def html_items(request: Request, layers: LayerCache, build: Build, info: LayerInfo,
               q: ItemsQuery) -> bytes:
    """Return a page of items as an HTML table (the same selection as the GeoJSON)."""
    base = layers.frame(build, info.name)
    cols = select_properties(info.name, base, q.properties)
    positions = select(layers, build, info, q)
    page_pos = positions[q.start:q.stop]
    frame = base.iloc[page_pos]
    shown = [c for c in (cols if cols is not None else base.columns)
             if c != base.geometry.name]
    names = ([str(base.index.name)] if base.index.name else ["id"]) + [str(c) for c in shown]
    ids = [str(i) for i in (frame.index if base.index.name else page_pos)]
    rows = [[fid, *vals] for fid, vals in zip(ids, frame[shown].itertuples(index=False),
                                                  strict=True)]
    cid = f"{build.code}_{info.name}"
    hrefs = [views.with_format(url_for(request, "ogc_feature", collection=cid, feature=fid),
                               "html") for fid in ids]
    links, _ = page_links(request, q.start, min(q.stop, max(len(positions), q.start)),
                          len(positions))
    nav = [(views.with_format(lk.href, "html"), lk.rel) for lk in links if lk.rel != "self"]
    nav += [(views.with_format(public_url(request), "json"), "GeoJSON"),
            (views.with_format(url_for(request, "ogc_collection", collection=cid), "html"),
             "collection")]
    body = (f"<p>{len(page_pos)} of {len(positions)} matching features "
            f"(from {q.start + 1 if len(page_pos) else 0}).</p>" +
            views.table(names, rows, link_first=hrefs))
    return views.page(f"{build.name}: {info.name}", body,
                      links=[(views.with_format(url_for(request, "landing_page"), "html"),
                              "home"), *nav])


def html_feature(request: Request, build: Build, info: LayerInfo, out: dict[str, Any]) -> bytes:
    """Return one feature as an HTML table of its properties."""
    props = out.get("properties") or {}
    body = views.table(["property", "value"], [[k, v] for k, v in props.items()])
    cid = f"{build.code}_{info.name}"
    return views.page(f"{info.name} {out.get('id')}", body, links=[
        (views.with_format(url_for(request, "landing_page"), "html"), "home"),
        (views.with_format(url_for(request, "ogc_items", collection=cid), "html"), "items"),
        (views.with_format(public_url(request), "json"), "GeoJSON")])


# --------------------------------------------------------------------------- OpenAPI


def _field_type(name: str, dtype: str) -> str:
    """JSON type of a stored field (pyogrio's dtype names; 0/1 flags are booleans)."""
    from healthgap.services._geojson import is_boolean_column

    if is_boolean_column(name) or dtype == "bool":
        return "boolean"
    if dtype.startswith(("int", "uint")):
        return "integer"
    if dtype.startswith("float"):
        return "number"
    return "string"


def _plain(param: dict[str, Any]) -> dict[str, Any]:
    """Return a query parameter whose optional schema (``anyOf: [X, null]``) is just ``X``.

    An absent optional parameter needs no ``null``; older clients (GDAL 3.6) read ``enum``
    only at the top of the schema.
    """
    schema = param.get("schema", {})
    alts = schema.get("anyOf")
    if isinstance(alts, list):
        real = [a for a in alts if a.get("type") != "null"]
        if len(real) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**param, "schema": {**real[0], **rest}}
    return param


def collection_paths(doc: dict[str, Any], catalog: Catalog, layers: LayerCache
                     ) -> dict[str, Any]:
    """Return ``doc`` with one items path per served collection, its properties as parameters.

    The generic ``/collections/{collection}/items`` says what every collection accepts; the
    paths added here name each collection's own properties (the equality filters) with their
    types, which is where GDAL's OAPIF driver (3.6) looks for queryables before it sends a
    filter to the server rather than evaluating it itself.
    """
    generic = doc.get("paths", {}).get("/collections/{collection}/items", {}).get("get")
    if generic is None:
        return doc
    paths = dict(doc["paths"])
    for code, build in sorted(catalog.builds().items()):
        for name, info in sorted(_spatial(layers, build).items()):
            cid = f"{code}_{name}"
            op = json.loads(json.dumps(generic))
            op["operationId"] = f"items_{cid}"
            op["summary"] = f"Features of {cid} (GeoJSON)"
            op["parameters"] = [_plain(p) for p in op.get("parameters", [])
                                if p.get("in") != "path"]
            known = {p.get("name") for p in op["parameters"]}
            op["parameters"] += [
                {"name": field, "in": "query", "required": False,
                 "description": f"Only features whose {field} equals this value.",
                 "schema": {"type": _field_type(field, dtype)}}
                for field, dtype in info.fields if field not in known]
            paths[f"/collections/{cid}/items"] = {"get": op}
    return {**doc, "paths": paths}
