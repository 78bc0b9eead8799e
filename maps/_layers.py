"""The pieces every healthgap map is made of.

:class:`AtlasMap` is a :class:`folium.Map` that links nothing from the network: it inlines the
vendored Leaflet and topojson-client, and adds the title box, attribution line, scale bar and, for
demo builds, the "SYNTHETIC DEMO DATA" banner. :class:`TopoLayer` draws a frame from a compact
TopoJSON payload with one style per class evaluated in the browser (so styles are not repeated per
feature). :class:`Control` places any HTML (legends, chart panels) in a Leaflet control.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element, Figure, MacroElement
from folium.map import Layer
from folium.template import Template
from folium.utilities import JsCode
from healthgap.maps import _assets
from healthgap.maps._geometry import (
    LEVEL_NAMES,
    bounds_latlon,
    check_frame,
    in_area_only,
    resolve_name_column,
    to_js,
    topology,
    web_geometries,
)

from healthgap.errors import InputError, ParameterError

ONS_ATTRIBUTION = (
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0"
)
OS_ATTRIBUTION = "Contains OS data © Crown copyright and database right"
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
DEFAULT_ATTRIBUTION = (OS_ATTRIBUTION, ONS_ATTRIBUTION)
"""Attribution shown on every map unless told otherwise (OGL v3 boundary data)."""

SYNTHETIC_BANNER = "SYNTHETIC DEMO DATA"

PLACE_LABEL_ZOOM = 8
"""Zoom level from which place (local authority) names are written on the map."""

LABEL_ZOOMS = {"place_code": PLACE_LABEL_ZOOM, "nbhd_cd": 11}
"""Zoom level from which the names of boundary outlines are written, by their code index."""

AREA_LABEL_ZOOM = 13
"""Zoom level from which neighbourhood names are written on the map (those in view)."""

CANVAS_THRESHOLD = 5000
"""Above this many features a layer is drawn on a canvas rather than as SVG paths."""

BOUNDARY_STYLES: tuple[dict[str, Any], ...] = (
    {"color": "#252525", "weight": 1.6, "opacity": 0.9, "fill": False},
    {"color": "#000000", "weight": 3.2, "opacity": 1.0, "fill": False},
    {"color": "#54278f", "weight": 2.4, "opacity": 1.0, "fill": False, "dashArray": "6 4"},
)
"""Outline styles of boundary layers, in the order the boundaries are given."""

PHONE_QUERY = "(max-width: 600px)"
"""Media query of the phone layout: legend and layer list start folded away."""

Boundaries = Sequence[gpd.GeoDataFrame] | Mapping[str, gpd.GeoDataFrame] | None


@dataclass(frozen=True)
class PageOptions:
    """The page options every map builder takes (one object instead of nine arguments).

    Attributes
    ----------
    boundaries
        Place and system polygons drawn as outlines over the neighbourhoods, e.g.
        ``[place_gdf, system_gdf]`` or ``{"Places": place_gdf}``; their names are drawn as
        labels.
    title
        Page title; each builder has a default made from the indicator's words.
    subtitle
        Line under the title (area, period, source).
    attribution
        Attribution lines (the OpenStreetMap credit is added by the builders wherever OSM data
        is drawn).
    synthetic
        Show the "SYNTHETIC DEMO DATA" banner.
    basemap
        Offer OpenStreetMap tiles as an optional layer (off at first; needs a network).
    simplify
        Coverage simplification tolerance in metres, ``"auto"`` or None.
    precision
        Coordinate decimals kept; default 5 up to 5,000 areas, else 4.
    renderer
        ``"auto"`` (canvas above 5,000 areas), ``"svg"`` or ``"canvas"``.
    weights
        The spatial weights behind the page's statistics, in words (``"Queen contiguity,
        row-standardised"``); a cluster map needs it.
    permutations
        Conditional permutations behind the page's pseudo p-values; None for analytical ones.
    correction
        Multiple-testing rule applied to them (``"fdr"``, ``"bonferroni"``, ``"none"`` or
        words); None when none is stated.
    alpha
        Significance level of the page's statistics, or None.
    """

    boundaries: Boundaries = None
    title: str | None = None
    subtitle: str = ""
    attribution: Sequence[str] = DEFAULT_ATTRIBUTION
    synthetic: bool = False
    basemap: bool = False
    simplify: float | str | None = "auto"
    precision: int | None = None
    renderer: str = "auto"
    extra: Mapping[str, Any] = field(default_factory=dict)
    weights: str = ""
    permutations: int | None = None
    correction: str | None = None
    alpha: float | None = None

    def with_(self, **changes: Any) -> PageOptions:
        """Return a copy with some options changed."""
        return replace(self, **changes)

    def new_map(self, *, default_title: str, n_features: int, osm: bool = False) -> AtlasMap:
        """Start a page: an :class:`AtlasMap` with these options.

        Parameters
        ----------
        default_title
            Title used when :attr:`title` is None.
        n_features
            Number of areas drawn (chooses SVG or canvas).
        osm
            The page draws OpenStreetMap-derived data: credit OpenStreetMap (ODbL).
        """
        attribution = list(self.attribution)
        if osm and OSM_ATTRIBUTION not in attribution:
            attribution.append(OSM_ATTRIBUTION)
        return AtlasMap(title=self.title or default_title, subtitle=self.subtitle,
                        synthetic=self.synthetic, attribution=attribution,
                        basemap=self.basemap,
                        prefer_canvas=use_canvas(self.renderer, n_features))

    def finish(self, m: AtlasMap, *, legend_title: str, rows: Sequence[str],
               notes: Sequence[str] = (), subtitle: str = "") -> None:
        """Add the boundaries, the collapsible legend, the layer control and the search box."""
        outline_rows = add_boundaries(m, self.boundaries, simplify=self.simplify)
        Control(legend_html(title=legend_title, subtitle=subtitle,
                            rows=[*rows, *outline_rows], notes=notes),
                position="bottomright", css="hg-box hg-legend").add_to(m)
        phone = JsCode(f"window.matchMedia({PHONE_QUERY!r}).matches")
        folium.LayerControl(collapsed=phone, position="topright").add_to(m)  # type: ignore[arg-type]
        m.add_child(_PageTools(), name="hg_tools")


DEFAULT_PAGE = PageOptions()
"""The default page options."""


def check_options(page: object) -> PageOptions:
    """Return ``page`` if it is a :class:`PageOptions`, else raise naming the parameter."""
    if not isinstance(page, PageOptions):
        raise ParameterError(f"page: expected PageOptions, got {type(page).__name__}")
    return page


class _PageFigure(Figure):
    """The HTML page of a map: English language, zoomable on phones (no ``user-scalable=no``)."""

    def render(self, **kwargs: Any) -> str:
        """Render, then declare the language and allow pinch-zoom."""
        text = super().render(**kwargs)
        text = text.replace("<html>", '<html lang="en-GB">', 1)
        return _VIEWPORT.sub('<meta name="viewport" content="width=device-width, '
                             'initial-scale=1" />', text)


_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*user-scalable=no"\s*/>')


class _PageTools(MacroElement):
    """Search box, data download, place and neighbourhood labels (see ``hg.tools``)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        hg.tools({{ this._parent.get_name() }}, {{ this.area_zoom }});
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "PageTools"
        self.area_zoom = AREA_LABEL_ZOOM


class AtlasMap(folium.Map):
    """A folium map whose page opens with no network.

    Parameters
    ----------
    title
        Shown in the title box and as the page title.
    subtitle
        A line under the title (period, source...).
    synthetic
        Add the "SYNTHETIC DEMO DATA" banner.
    attribution
        Attribution lines shown bottom right.
    basemap
        Offer OpenStreetMap tiles as an optional layer, off when the page opens (tiles need a
        network; offline they are replaced by a transparent image).
    prefer_canvas
        Draw vector layers on a canvas (faster for tens of thousands of polygons).
    index_href
        Link back to the atlas index shown in the title box, or None.
    """

    default_js: list[tuple[str, str]] = []
    print_href: str | None = None  # the page's static print image (board pack, issue #25)
    default_css: list[tuple[str, str]] = []

    def __init__(
        self,
        *,
        title: str,
        subtitle: str = "",
        synthetic: bool = False,
        attribution: Sequence[str] = DEFAULT_ATTRIBUTION,
        basemap: bool = False,
        prefer_canvas: bool = False,
        index_href: str | None = None,
    ) -> None:
        super().__init__(
            location=[52.8, -1.6],
            zoom_start=7,
            tiles=None,
            control_scale=True,
            prefer_canvas=prefer_canvas,
        )
        _PageFigure().add_child(self)
        self.title = title
        self.subtitle = subtitle
        self.synthetic = synthetic
        self.attribution = list(attribution)
        self.index_href = index_href
        self.search_src: str | None = None
        self.links: list[tuple[str, str]] = []
        # The title box is added first so that it sits at the top left, under the zoom buttons;
        # its text is filled in at render time (the atlas sets index_href and synthetic later).
        self._title_box = Control("", position="topleft", css="hg-box hg-title")
        self.add_child(self._title_box, name="hg_title")
        if basemap:
            folium.TileLayer(
                "OpenStreetMap",
                name="OpenStreetMap basemap (needs internet)",
                overlay=True,
                show=False,
                control=True,
                errorTileUrl=_assets.TRANSPARENT_PNG,
            ).add_to(self)
            if OSM_ATTRIBUTION not in self.attribution:
                self.attribution.append(OSM_ATTRIBUTION)

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        """Add the inline assets, title box, attribution and banner, then render the map."""
        figure = self.get_root()
        figure.title = self.title  # type: ignore[attr-defined]
        figure.header.add_child(RawHTML(_assets.head_html()), name="hg_assets")  # type: ignore[attr-defined]
        if self.search_src:
            figure.header.add_child(  # type: ignore[attr-defined]
                RawHTML(f'<script src="{html.escape(self.search_src)}"></script>\n'),
                name="hg_search_index")
        figure.html.add_child(RawHTML(_assets.hatch_svg()), name="hg_hatch")  # type: ignore[attr-defined]
        if self.synthetic:
            figure.html.add_child(  # type: ignore[attr-defined]
                RawHTML(
                    "<style>.leaflet-top { top: 34px; }</style>"
                    f'<div class="hg-banner" role="note">{SYNTHETIC_BANNER}: not real '
                    "figures for any area</div>"
                ),
                name="hg_banner",
            )
        self._title_box.html_text = self._title_html()
        self.add_child(_Attribution(self.attribution), name="hg_attribution")
        super().render(**kwargs)

    def _title_html(self) -> str:
        parts = [f"<h1>{html.escape(self.title)}</h1>"]
        if self.subtitle:
            parts.append(f"<p>{html.escape(self.subtitle)}</p>")
        if self.synthetic:
            parts.append(f"<p><b>{SYNTHETIC_BANNER}</b></p>")
        if self.index_href:
            links = [f'<a href="{html.escape(self.index_href)}">&larr; Atlas index</a>',
                     '<a href="glossary.html">Glossary</a>']
            links += [f'<a href="{html.escape(h)}">{html.escape(t)}</a>' for h, t in self.links]
            parts.append(f"<p>{' · '.join(links)}</p>")
        if self.print_href:
            parts.append(f'<p><a href="{html.escape(self.print_href)}">Print image (PNG, 300 '
                         "dpi; SVG beside it)</a></p>")
        return "".join(parts)


class RawHTML(Element):
    """HTML inserted as it is (not parsed as a Jinja template, unlike ``branca.Element``)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "RawHTML"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """Return the HTML unchanged."""
        return self.text


class _Attribution(MacroElement):
    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {%- for line in this.lines %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ line|tojson }});
        {%- endfor %}
        {% endmacro %}
        """
    )

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__()
        self._name = "Attribution"
        self.lines = [html.escape(line) for line in lines]


class Control(MacroElement):
    """Any HTML in a Leaflet control (legend, chart panel, title box).

    Parameters
    ----------
    html_text
        The content (already escaped where needed).
    position
        ``"topleft"``, ``"topright"``, ``"bottomleft"`` or ``"bottomright"``.
    css
        CSS classes of the control's box.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = hg.control({{ this._parent.get_name() }},
            {{ this.position|tojson }}, {{ this.css|tojson }}, {{ this.html_text|tojson }});
        {% endmacro %}
        """
    )

    def __init__(
        self, html_text: str, *, position: str = "bottomright", css: str = "hg-box"
    ) -> None:
        super().__init__()
        if position not in {"topleft", "topright", "bottomleft", "bottomright"}:
            raise ParameterError(
                f"position: expected topleft, topright, bottomleft or bottomright, got {position!r}"
            )
        self._name = "Control"
        self.html_text = html_text
        self.position = position
        self.css = css


class TopoLayer(Layer):
    """A vector layer drawn from a compact TopoJSON payload, styled by class in the browser.

    Parameters
    ----------
    payload
        From :func:`encode`.
    styles
        ``{"classes": [style, ...], "missing": style}``; a feature's ``c`` property picks its
        class (missing or negative: the ``missing`` style). One class styles every feature.
    tip
        Tooltip spec (see ``hg.tip`` in maps/_assets.py) or None for no tooltip.
    name
        Layer name in the layer control.
    interactive
        Whether the features take the mouse (tooltips, highlight).
    points
        Draw points as circle markers.
    canvas
        Draw on a canvas instead of SVG.
    show
        Shown when the page opens.
    control
        Listed in the layer control.
    label_zoom
        Zoom level from which each feature's name is written on the map (None: never).
    class_labels
        Legend label of each class, written into the page's CSV download.
    meta
        Extra keys of the layer's spec (e.g. the indicator's column and direction), readable
        in the page as ``hg.registry[i].spec``.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = hg.layer({{ this.payload_js }}, {{ this.spec_js }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        payload: Mapping[str, Any],
        *,
        styles: Mapping[str, Any],
        tip: Mapping[str, Any] | None,
        name: str,
        interactive: bool = True,
        points: bool = False,
        canvas: bool = False,
        show: bool = True,
        control: bool = True,
        label_zoom: int | None = None,
        class_labels: Sequence[str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "TopoLayer"
        self.payload_js = to_js(payload)
        self.spec = {
            "style": dict(styles),
            "tip": dict(tip) if tip is not None else None,
            "interactive": interactive,
            "points": points,
            "canvas": canvas,
            "name": name,
            "labels": label_zoom,
            "classLabels": list(class_labels) if class_labels is not None else None,
            **dict(meta or {}),
        }
        self.spec_js = to_js(self.spec)
        self.n_features = len(payload["t"])


def encode(
    geoms: gpd.GeoSeries,
    columns: Mapping[str, Sequence[Any]],
    *,
    precision: int,
) -> dict[str, Any]:
    """Pack geometries (EPSG:4326) and their shown properties into a compact layer payload.

    The payload holds the TopoJSON arcs and transform (``a``, ``tr``), one arc-reference list (or
    point) per feature (``g``), a string of one-letter geometry types (``t``), the codes (``id``)
    and the properties as columns (``p``): per-feature keys are not repeated.

    Parameters
    ----------
    geoms
        Geometries in EPSG:4326, indexed by code.
    columns
        Property name → one value per feature (None for missing).
    precision
        Decimal places of degrees kept.

    Returns
    -------
    dict
        The payload ``hg.features`` unpacks in the browser.
    """
    topo = topology(geoms, [{}] * len(geoms), precision=precision)
    letters = {"Polygon": "P", "MultiPolygon": "M", "LineString": "L", "MultiLineString": "N",
               "Point": "T", None: "0"}
    t_chars, g_refs = [], []
    for obj in topo["objects"]["a"]["geometries"]:
        t_chars.append(letters[obj.get("type")])
        g_refs.append(obj.get("arcs", obj.get("coordinates")))
    for key, col in columns.items():
        if len(col) != len(geoms):
            raise InputError(f"column {key!r}: {len(col)} values for {len(geoms)} features")
    return {
        "tr": topo["transform"],
        "a": topo["arcs"],
        "t": "".join(t_chars),
        "g": g_refs,
        "id": [str(c) for c in geoms.index],
        "p": {k: list(v) for k, v in columns.items()},
    }


def clean(values: pd.Series | Sequence[Any], decimals: int | None = None) -> list[Any]:
    """Return JSON-ready values: NaN → None, numbers rounded to ``decimals``, numpy → Python."""
    out: list[Any] = []
    for v in list(values):
        if v is None or (isinstance(v, float | np.floating) and not np.isfinite(v)):
            out.append(None)
        elif v is pd.NA or v is pd.NaT:
            out.append(None)
        elif isinstance(v, bool | np.bool_):
            out.append(bool(v))
        elif isinstance(v, int | np.integer):
            out.append(int(v))
        elif isinstance(v, float | np.floating):
            f = float(v)
            out.append(round(f, decimals) if decimals is not None else f)
        else:
            out.append(str(v))
    return out


def default_precision(n_features: int) -> int:
    """Return the coordinate decimals kept: 5 (≈1 m) up to 5,000 features, else 4 (≈10 m)."""
    return 5 if n_features <= CANVAS_THRESHOLD else 4


def use_canvas(renderer: str, n_features: int) -> bool:
    """Decide between SVG and canvas drawing (``"auto"``: canvas above 5,000 features)."""
    if renderer == "auto":
        return n_features > CANVAS_THRESHOLD
    if renderer in {"svg", "canvas"}:
        return renderer == "canvas"
    raise ParameterError(f"renderer: expected 'auto', 'svg' or 'canvas', got {renderer!r}")


def fit(m: folium.Map, geoms: gpd.GeoSeries) -> None:
    """Zoom the map to geometries in EPSG:4326."""
    m.fit_bounds(bounds_latlon(geoms))


def add_boundaries(
    m: AtlasMap,
    boundaries: Sequence[gpd.GeoDataFrame] | Mapping[str, gpd.GeoDataFrame] | None,
    *,
    simplify: float | str | None = "auto",
) -> list[str]:
    """Draw place and system boundaries as outline-only layers over the neighbourhoods.

    Parameters
    ----------
    m
        The map.
    boundaries
        Polygon frames in EPSG:27700 (e.g. ``[place_gdf, system_gdf]``), or a mapping of layer
        name → frame. Layer names default to the level of the frame's index (``place_code`` →
        "Places (local authorities)").
    simplify
        Passed to :func:`maps._geometry.web_geometries`.

    Returns
    -------
    list of str
        Legend rows (HTML) describing the outlines.
    """
    if boundaries is None:
        return []
    if isinstance(boundaries, gpd.GeoDataFrame):
        raise ParameterError(
            "boundaries: expected a list of frames or a mapping name → frame, got one "
            "GeoDataFrame; wrap it in a list"
        )
    items: list[tuple[str | None, Any]]
    if isinstance(boundaries, Mapping):
        items = [(str(k), v) for k, v in boundaries.items()]
    else:
        items = [(None, b) for b in boundaries]
    rows = []
    for i, (given, gdf) in enumerate(items):
        what = f"boundaries[{given if given is not None else i}]"
        check_frame(gdf, what=what, geom_types=("Polygon", "MultiPolygon"))
        name = given or LEVEL_NAMES.get(str(gdf.index.name), f"Boundaries {i + 1}")
        style = BOUNDARY_STYLES[min(i, len(BOUNDARY_STYLES) - 1)]
        name_col = resolve_name_column(gdf, "auto", what=what)
        geoms = web_geometries(gdf, simplify=simplify)
        names = clean(gdf[name_col]) if name_col else [None] * len(gdf)
        payload = encode(geoms, {"n": names}, precision=5)
        TopoLayer(
            payload,
            styles={"classes": [style], "missing": style},
            tip=None,
            name=name,
            interactive=False,
            label_zoom=LABEL_ZOOMS.get(str(gdf.index.name)),
        ).add_to(m)
        dash = "dashed" if "dashArray" in style else "solid"
        rows.append(
            f'<div class="hg-row"><span class="hg-line" style="border-top:'
            f'{max(2, round(float(style["weight"])))}px {dash} {style["color"]}"></span>'
            f"{html.escape(name)}</div>"
        )
    return rows


def legend_html(
    *,
    title: str,
    subtitle: str = "",
    rows: Sequence[str],
    notes: Sequence[str] = (),
) -> str:
    """Build the legend box HTML (rows are already HTML; title and notes are escaped)."""
    parts = [f'<details class="hg-fold" open><summary><h4>{html.escape(title)}</h4></summary>']
    if subtitle:
        parts.append(f'<p class="hg-sub">{html.escape(subtitle)}</p>')
    parts.extend(rows)
    parts.extend(f'<div class="hg-note">{html.escape(n)}</div>' for n in notes)
    parts.append('<p class="hg-csv"><button type="button" class="hg-download">Download the '
                 "data on this map (CSV)</button></p></details>")
    return "".join(parts)


def swatch_row(label: str, fill: str, *, count: int | None = None, hatch: bool = False) -> str:
    """One legend row with a colour swatch (or the hatch used for suppressed values)."""
    n = f'<span class="hg-n">({count:,})</span>' if count is not None else ""
    if hatch:
        box = '<span class="hg-sw hg-hatch"></span>'
    else:
        box = f'<span class="hg-sw" style="background:{html.escape(fill)}"></span>'
    return f'<div class="hg-row">{box}<span>{html.escape(label)}{n}</span></div>'


def dot_row(label: str, fill: str, *, count: int | None = None) -> str:
    """One legend row with a circle marker symbol."""
    n = f'<span class="hg-n">({count:,})</span>' if count is not None else ""
    return (
        f'<div class="hg-row"><span class="hg-dot" style="background:{html.escape(fill)}">'
        f"</span><span>{html.escape(label)}{n}</span></div>"
    )


def missing_style(canvas: bool) -> dict[str, Any]:
    """Style of suppressed / no-data areas: hatched on SVG, plain grey on canvas."""
    fill = _assets.MISSING_GREY if canvas else f"url(#{_assets.HATCH_ID})"
    return {"fillColor": fill, "fillOpacity": 1.0, "color": "#ffffff", "weight": 0.5,
            "opacity": 1.0}


def fill_style(colour: str, *, canvas: bool) -> dict[str, Any]:
    """Style of a filled class.

    SVG maps (a system or a place) outline each area in white. Canvas maps (tens of thousands of
    areas) outline each area in its own colour: white outlines would wash out dense cities.
    """
    return {"fillColor": colour, "fillOpacity": 0.85, "color": colour if canvas else "#ffffff",
            "weight": 0.5, "opacity": 1.0}


@dataclass(frozen=True)
class Areas:
    """The neighbourhoods a builder fills by class: its checked in-area rows and their names.

    Made by :func:`areas_to_draw`, the common front of the choropleth, cluster, bivariate and
    England-relative builders.

    Attributes
    ----------
    gdf
        The rows inside the area (the edge ring left out).
    names
        The column of their names, or None.
    """

    gdf: gpd.GeoDataFrame
    names: str | None

    def columns(self) -> dict[str, list[Any]]:
        """Return the page's columns: the names (``"n"``) where there are any, else none."""
        return {"n": clean(self.gdf[self.names])} if self.names else {}

    def tip(self, *, missing: str, rows: Sequence[Mapping[str, Any]],
            extra: Sequence[str] = ()) -> dict[str, Any]:
        """Return a tooltip: titled by the name where there is one, then the code and ``rows``."""
        return {"title": "n" if self.names else None, "code": True, "missing": missing,
                "rows": list(rows), "extra": list(extra)}


def areas_to_draw(gdf: gpd.GeoDataFrame, *, what: str, columns: Sequence[str],
                  name_col: str | None) -> Areas:
    """Check a builder's polygons and return the rows it draws with their name column.

    Parameters
    ----------
    gdf
        Neighbourhoods in EPSG:27700, indexed by area code.
    what
        How the frame is called in messages.
    columns
        The columns the builder needs.
    name_col
        ``"auto"``, a column or None (see :func:`maps._geometry.resolve_name_column`).

    Returns
    -------
    Areas
        The rows with ``in_area`` True (all rows without the column) and their names.
    """
    check_frame(gdf, what=what, columns=list(columns), geom_types=("Polygon", "MultiPolygon"))
    kept = in_area_only(gdf, what=what)
    return Areas(kept, resolve_name_column(kept, name_col, what=what))


def draw_classes(
    m: AtlasMap,
    gdf: gpd.GeoDataFrame,
    *,
    columns: Mapping[str, list[Any]],
    colours: Sequence[str],
    class_labels: Sequence[str],
    tip: Mapping[str, Any],
    name: str,
    page: PageOptions,
    meta: Mapping[str, Any] | None = None,
) -> tuple[TopoLayer, bool]:
    """Draw areas filled by class (``columns["c"]``; -1 = missing) and zoom the map to them.

    The one drawing step of the choropleth, cluster and bivariate maps: simplify and encode the
    geometries, one fill per class (missing values hatched, or grey on a canvas).

    Returns
    -------
    tuple
        The layer and whether it is drawn on a canvas.
    """
    canvas = use_canvas(page.renderer, len(gdf))
    geoms = web_geometries(gdf, simplify=page.simplify)
    payload = encode(geoms, columns, precision=page.precision or default_precision(len(gdf)))
    styles = {"classes": [fill_style(c, canvas=canvas) for c in colours],
              "missing": missing_style(canvas)}
    layer = TopoLayer(payload, styles=styles, tip=tip, name=name, canvas=canvas,
                      class_labels=class_labels, meta=meta)
    layer.add_to(m)
    fit(m, geoms)
    return layer, canvas


def missing_row(label: str, n_missing: int, canvas: bool) -> list[str]:
    """Return the legend row of areas without a value (none when every area has one)."""
    if not n_missing:
        return []
    return [swatch_row(label, missing_style(canvas)["fillColor"], count=n_missing,
                       hatch=not canvas)]
