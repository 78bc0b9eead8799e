"""Response and request schemas, in families (``LayerBase`` / ``LayerPublic`` ...).

``*Base`` holds what describes a thing; ``*Public`` adds what the API shows about it (links,
counts, children). The GeoJSON schema documents what the layer endpoint returns; the endpoint
writes the bytes itself for speed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CRS_NAMES = ("EPSG:4326", "EPSG:27700")
CrsName = Literal["EPSG:4326", "EPSG:27700"]


KeyColumns = Annotated[dict[str, dict[str, str]] | None, Field(
    description="Each key column the API serves (neutral names, the same in every vintage) -> "
    "``published_as``: its name in the build's GeoPackage (the ONS name of the vintage's era) "
    "and ``holds``: what it holds in this vintage.")]
"""A build's key columns, as an area and a build show them."""


class Link(BaseModel):
    """A link to a related resource."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class Problem(BaseModel):
    """An ``application/problem+json`` error (RFC 9457)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str = Field(description="What was wrong, and what is allowed.")
    instance: str = Field(description="The request path.")
    request_id: str = Field(description="Correlation id; also the X-Request-ID header.")


# --------------------------------------------------------------------------- areas


class AreaBase(BaseModel):
    """An area of the ICS hierarchy."""

    code: str = Field(examples=["E54000034"])
    name: str
    level: str = Field(description="lsoa, msoa, lad, sicb, icb (or england).")
    role: str = Field(description="What the level is called in ICS planning.")


class AreaRef(AreaBase):
    """An area with a link to it."""

    href: str | None = None


class AreaPublic(AreaBase):
    """One area with the build that serves it, its parents and its children."""

    build: str = Field(description="Area code of the build that serves this area.")
    in_area: bool = Field(description="False for an edge-ring neighbour outside the build's "
                                      "area (kept as a neighbour, never reported).")
    population: float | None = None
    vintage: str | None = Field(default=None, description="The build's geography vintage "
                                "(boundaries, lookups, deprivation, population), from its "
                                "manifest; None for builds made before vintages.")
    key_columns: KeyColumns = None
    parents: list[AreaRef]
    children: list[AreaRef]
    links: list[Link]


class BuildPublic(AreaBase):
    """A served build: the study area it covers."""

    created_utc: str
    synthetic: bool = Field(description="True for the generated demo (describes no real place).")
    vintage: str | None = Field(default=None, description="The build's geography vintage, from "
                                "its manifest; None for builds made before vintages.")
    key_columns: KeyColumns = None
    links: list[Link]


class AreaList(BaseModel):
    """A page of areas."""

    items: list[AreaRef]
    numberMatched: int
    numberReturned: int
    links: list[Link]


# --------------------------------------------------------------------------- layers


class FieldPublic(BaseModel):
    """One attribute of a layer, described from the indicator catalogue."""

    name: str
    type: str = Field(description="Storage type (int64, float64, object...).")
    label: str
    units: str
    source: str
    higher_is_worse: bool | None = None
    kind: str
    published_as: str | None = Field(default=None, description="A key column's name in the "
                                     "build's GeoPackage (the vintage's ONS name); None for "
                                     "other columns, stored as served.")


class LayerBase(BaseModel):
    """A layer of a build."""

    name: str
    kind: Literal["features", "table"]
    geometry_type: str | None = None
    count: int


class LayerPublic(LayerBase):
    """A layer with its fields, extent and links to its data."""

    crs: str | None = Field(None, description="CRS of the stored layer (EPSG:27700).")
    bbox_4326: list[float] | None = Field(None, description="Extent in longitude/latitude.")
    fields: list[FieldPublic]
    links: list[Link]


class Geometry(BaseModel):
    """A GeoJSON geometry."""

    model_config = ConfigDict(extra="allow")

    type: str
    coordinates: Any = None


class Feature(BaseModel):
    """A GeoJSON feature: the area code is its id."""

    type: Literal["Feature"]
    id: str | int
    geometry: Geometry | None
    properties: dict[str, Any]


class NamedCrs(BaseModel):
    """The (pre-RFC 7946) ``crs`` member, present when the output is not EPSG:4326."""

    type: Literal["name"]
    properties: dict[str, str]


class FeatureCollection(BaseModel):
    """A page of a layer as GeoJSON (OGC API Features-style paging members)."""

    type: Literal["FeatureCollection"]
    name: str
    crs: NamedCrs | None = Field(None, description="Only for EPSG:27700 output: "
                                 "urn:ogc:def:crs:EPSG::27700.")
    numberMatched: int
    numberReturned: int
    links: list[Link]
    features: list[Feature]


# --------------------------------------------------------------------------- maps


class MapPage(BaseModel):
    """A page of the build's HTML atlas."""

    name: str = Field(description="Path of the page inside the atlas.")
    bytes: int
    href: str


class MapList(BaseModel):
    """The atlas pages of a build."""

    area: str
    pages: list[MapPage]


# --------------------------------------------------------------------------- stats


class StatTable(BaseModel):
    """A statistics or model table held by a build."""

    name: str
    rows: int
    columns: list[str]
    href: str


class LocalColumns(BaseModel):
    """Per-area statistic columns found on a level's layer."""

    level: str
    indicator: str
    columns: list[str]
    href: str


class StatsIndex(BaseModel):
    """What statistics and model results a build holds."""

    area: str
    tables: list[StatTable]
    local: list[LocalColumns]


class Rows(BaseModel):
    """Rows of a table, filtered."""

    area: str
    table: str
    filters: dict[str, str]
    numberMatched: int
    numberReturned: int
    rows: list[dict[str, Any]]


# --------------------------------------------------------------------------- runs


class KindPublic(BaseModel):
    """A kind of model run that can be requested."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema of the run's parameters.")


class RunError(BaseModel):
    """Why a run failed (problem members)."""

    type: str
    title: str
    status: int
    detail: str


class RunPublic(BaseModel):
    """A model run: status, progress and, once done, its result."""

    id: str = Field(description="SHA-256 (32 hex digits) of the build inputs and parameters.")
    kind: str
    area: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: Annotated[float, Field(ge=0, le=1)]
    message: str
    params: dict[str, Any]
    submitted_utc: str
    started_utc: str | None = None
    finished_utc: str | None = None
    duration_s: float | None = None
    result: dict[str, Any] | None = None
    error: RunError | None = None
    retryable: bool = Field(False, description="A failed run that POST runs again (interrupted, "
                            "timed out or an internal error); other failures are final.")
    links: list[Link]


class RunList(BaseModel):
    """Runs remembered by the server, newest first."""

    items: list[RunPublic]
