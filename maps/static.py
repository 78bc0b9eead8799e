"""Static maps for print: one indicator on an A5 landscape page, as PNG (300 dpi) and SVG.

The same colour grammar as the atlas: classes from :func:`maps._classify.classify`, colours from
:func:`maps._classify.grammar_palette` (the worse end of every indicator dark red), cluster maps
in the colours of :func:`maps.clusters.lisa_styles`. Each page carries its title (indicator,
area, period), a legend with the classes and their counts, the source and licence line, a scale
bar and a north arrow. Drawn in British National Grid (EPSG:27700), whose grid north is within
a degree or two of true north across England, so the arrow points up.

The SVG keeps its text as text (``svg.fonttype: none``), so a reader can search it and an
editor can restyle it; both files are written byte for byte the same for the same input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from healthgap.geo.indicators import Indicator
from healthgap.maps._classify import classify, grammar_palette
from healthgap.maps.choropleth import (
    MISSING_LABEL,
    _decimals,
    _default_category_labels,
    legend_title,
    worse_end_note,
)
from healthgap.maps.clusters import NOT_TESTED, lisa_styles
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from healthgap.errors import CRSError, InputError, ParameterError

PAGE_IN = (8.27, 5.83)
"""Page size in inches: A5 landscape (half an A4 page, or a slide), 2481 x 1749 px at 300 dpi."""

PRINT_DPI = 300
"""Resolution of the PNG (print quality)."""

MISSING_COLOUR = "#ffffff"
MISSING_HATCH = "////"
OUTLINE_STYLES: tuple[dict[str, Any], ...] = (
    {"color": "#222222", "lw": 1.6}, {"color": "#444444", "lw": 0.9},
    {"color": "#666666", "lw": 0.45})
"""Boundary outlines, thickest first: the outermost level given last is drawn thickest."""

_RC: dict[str, Any] = {"svg.fonttype": "none", "svg.hashsalt": "healthgap-static",
                       "font.size": 7, "font.family": "DejaVu Sans", "hatch.linewidth": 0.5,
                       "hatch.color": "#888888"}
_NICE_KM = (0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200)


@dataclass(frozen=True)
class MapClasses:
    """What a static map fills each area with.

    Attributes
    ----------
    index
        The class of each area (0-based, in the frame's order); -1 where there is no value.
    labels
        One legend label per class.
    colours
        One fill colour per class.
    counts
        Areas in each class.
    title
        Legend heading.
    notes
        Legend sentences (which end is worse, how the classes were chosen).
    """

    index: np.ndarray
    labels: list[str]
    colours: list[str]
    counts: list[int]
    title: str
    notes: list[str]

    @property
    def n_missing(self) -> int:
        """Areas with no value (suppressed, not tested)."""
        return int((self.index < 0).sum())


def indicator_classes(values: pd.Series, indicator: Indicator, *,
                      rank_total: int | None = None) -> MapClasses:
    """Return the atlas's classes and colours of one indicator (as its choropleth page).

    Parameters
    ----------
    values
        One value per area (NaN = suppressed / no data).
    indicator
        The indicator's catalogue entry (words, unit, which end is worse).
    rank_total
        National number of ranked areas, for rank columns.
    """
    dec = _decimals(values, None)
    classes = classify(values, decimals=dec, rank_total=rank_total, column=indicator.name,
                       category_labels=_default_category_labels(indicator.name, indicator.label))
    colours = grammar_palette(classes.k, indicator.direction)
    return MapClasses(classes.index, list(classes.labels), colours, list(classes.counts),
                      legend_title(indicator), [worse_end_note(indicator), classes.note])


def cluster_classes(labels: pd.Series, indicator: Indicator, *, method: str,
                    empty: str = "No significant clusters") -> MapClasses:
    """Return the classes of a LISA cluster map, in the atlas's words and colours.

    Parameters
    ----------
    labels
        ``High-High``, ``Low-Low``, ``High-Low``, ``Low-High``, ``Not significant`` per area
        (missing = not tested).
    indicator
        The indicator the clusters are of.
    method
        A sentence on the weights, permutations and multiple-testing rule.
    empty
        What the legend says when no area is in a cluster or an outlier.
    """
    styles = lisa_styles(indicator)
    known = labels.isna() | labels.isin(list(styles))
    if not known.all():
        raise InputError(f"cluster labels of {indicator.name!r}: unknown "
                         f"{sorted(set(map(str, labels[~known])))}; allowed: {', '.join(styles)}")
    order = list(styles)
    index = np.array([order.index(v) if isinstance(v, str) else -1 for v in labels],
                     dtype=np.int64)
    counts = np.bincount(index[index >= 0], minlength=len(order)).tolist()
    found = sum(n for k, n in zip(order, counts, strict=True) if k != "Not significant")
    return MapClasses(index, [s.words for s in styles.values()],
                      [s.colour for s in styles.values()], counts,
                      f"Clusters of {indicator.words}",
                      [method] if found else [f"{empty}.", method])


@dataclass(frozen=True)
class PageText:
    """The words around a static map.

    Attributes
    ----------
    title
        Indicator, area and period.
    subtitle
        How to read the values (scale), or empty.
    credits
        Source and licence line(s), printed at the foot of the page.
    banner
        A warning printed in red above the map (e.g. synthetic demo data), or empty.
    """

    title: str
    subtitle: str = ""
    credits: str = ""
    banner: str = ""


def static_map(frame: gpd.GeoDataFrame, classes: MapClasses, *, text: PageText,
               boundaries: Mapping[str, gpd.GeoDataFrame] | None = None,
               points: gpd.GeoDataFrame | None = None, points_label: str = "",
               simplify: bool = True) -> Figure:
    """Draw one classed map on an A5 landscape page and return the figure.

    Parameters
    ----------
    frame
        The areas in EPSG:27700, in the order of ``classes.index``.
    classes
        Fill of each area (:func:`indicator_classes`, :func:`cluster_classes`).
    text
        Title, subtitle, credits and banner.
    boundaries
        Outlines drawn over the fill, by legend name (thickest first).
    points
        Point features drawn as dots (facilities), or None.
    points_label
        Legend label of the points.
    simplify
        Simplify the polygons to print resolution first (False when the caller has done so
        with :func:`simplified`, e.g. once for many maps of one layer).
    """
    _check_frame(frame, len(classes.index))
    geoms = simplified(frame) if simplify else np.asarray(frame.geometry.values)
    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        fig = Figure(figsize=PAGE_IN)
        fig.text(0.03, 0.965, _wrap(text.title, 95), fontsize=10, weight="bold", va="top")
        below = " ".join(t for t in (text.subtitle,) if t)
        if text.banner:
            fig.text(0.03, 0.895, text.banner, fontsize=8, weight="bold", color="#b2182b",
                     va="top")
        if below:
            fig.text(0.97, 0.895, below, fontsize=7, color="#333333", va="top", ha="right")
        ax = fig.add_axes((0.03, 0.09, 0.64, 0.78))
        handles = _fill(ax, geoms, classes)
        handles += _outlines(ax, boundaries or {})
        if points is not None and len(points):
            pts = points.geometry
            ax.scatter(pts.x, pts.y, s=14, c="#111111", edgecolors="white", linewidths=0.6,
                       zorder=5)
            handles.append(ax.scatter([], [], s=14, c="#111111", label=points_label or "Points"))
        _frame_axes(ax, geoms)
        scale_bar(ax)
        north_arrow(ax)
        _legend(fig, handles, classes)
        if text.credits:
            fig.text(0.03, 0.02, _wrap(text.credits, 170), fontsize=5.5, color="#333333",
                     va="bottom")
    return fig


def _check_frame(frame: gpd.GeoDataFrame, n: int) -> None:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"static map: expected GeoDataFrame, got {type(frame).__name__}")
    if frame.crs is None or frame.crs.to_epsg() != 27700:
        raise CRSError(f"static map: expected EPSG:27700, got {frame.crs}")
    if len(frame) != n:
        raise InputError(f"static map: {len(frame)} areas but {n} classes given")
    if len(frame) == 0:
        raise InputError("static map: no areas to draw")


def simplified(frame: gpd.GeoDataFrame) -> np.ndarray:
    """Return the geometries simplified to about a tenth of a printed pixel (shared edges kept).

    Parameters
    ----------
    frame
        Polygons in EPSG:27700.
    """
    geoms = np.asarray(frame.geometry.values)
    x0, y0, x1, y1 = frame.total_bounds
    tol = max(x1 - x0, y1 - y0) / 20_000
    try:
        return np.asarray(shapely.coverage_simplify(geoms, tol))
    except Exception:  # not a clean coverage (overlaps): simplify each polygon alone
        return np.asarray(shapely.simplify(geoms, tol, preserve_topology=True))


def _rings(geom: Any) -> list[np.ndarray]:
    polys = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    return [np.asarray(p.exterior.coords) for p in polys if not p.is_empty]


def _fill(ax: Any, geoms: np.ndarray, classes: MapClasses) -> list[Any]:
    """Fill each area with its class colour (hatched where missing); return legend handles."""
    from matplotlib.collections import PolyCollection

    handles: list[Any] = []
    for k, (label, colour) in enumerate(zip(classes.labels, classes.colours, strict=True)):
        rings = [r for i in np.flatnonzero(classes.index == k) for r in _rings(geoms[i])]
        if rings:
            ax.add_collection(PolyCollection(rings, facecolors=colour, edgecolors="#ffffff",
                                             linewidths=0.15))
        handles.append(Patch(facecolor=colour, edgecolor="#999999", linewidth=0.4,
                             label=_wrap(f"{label} ({classes.counts[k]:,})", 44)))
    if classes.n_missing:
        rings = [r for i in np.flatnonzero(classes.index < 0) for r in _rings(geoms[i])]
        ax.add_collection(PolyCollection(rings, facecolors=MISSING_COLOUR, edgecolors="#999999",
                                         linewidths=0.15, hatch=MISSING_HATCH))
        handles.append(Patch(facecolor=MISSING_COLOUR, edgecolor="#999999", hatch=MISSING_HATCH,
                             label=f"{MISSING_LABEL} ({classes.n_missing:,})"))
    return handles


def _outlines(ax: Any, boundaries: Mapping[str, gpd.GeoDataFrame]) -> list[Any]:
    """Draw the outlines, thinnest first (as the atlas gives them); return legend handles."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    handles = []
    items = list(boundaries.items())
    for i, (name, frame) in enumerate(items):
        style = OUTLINE_STYLES[min(len(items) - 1 - i, len(OUTLINE_STYLES) - 1)]
        lines = [np.asarray(part.coords) for geom in frame.geometry.boundary
                 for part in (geom.geoms if hasattr(geom, "geoms") else [geom])]
        ax.add_collection(LineCollection(lines, colors=style["color"], linewidths=style["lw"],
                                         zorder=4 + i))
        handles.append(Line2D([], [], color=style["color"], lw=style["lw"], label=name))
    return handles[::-1]


def _frame_axes(ax: Any, geoms: np.ndarray) -> None:
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    pad = 0.03 * max(x1 - x0, y1 - y0)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()


def nice_length_km(width_m: float) -> float:
    """Return a round scale-bar length (km) of about a fifth of ``width_m``.

    Parameters
    ----------
    width_m
        Width of the mapped area in metres.
    """
    if not math.isfinite(width_m) or width_m <= 0:
        raise ParameterError(f"width_m: expected a positive width in metres, got {width_m!r}")
    target = width_m / 5 / 1000
    fits = [k for k in _NICE_KM if k <= target]
    return fits[-1] if fits else _NICE_KM[0]


def scale_bar(ax: Any) -> float:
    """Draw a two-segment scale bar in the lower left of a BNG map; return its length in km."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    km = nice_length_km(x1 - x0)
    length = km * 1000
    left, base = x0 + 0.03 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    h = 0.012 * (y1 - y0)
    for i, fill in enumerate(("#111111", "#ffffff")):
        ax.add_patch(Rectangle((left + i * length / 2, base), length / 2, h, facecolor=fill,
                               edgecolor="#111111", linewidth=0.6, zorder=6))
    for frac, label in ((0, "0"), (0.5, f"{km / 2:g}"), (1, f"{km:g} km")):
        ax.text(left + frac * length, base + 1.6 * h, label, ha="center", va="bottom",
                fontsize=6, zorder=6)
    return km


def north_arrow(ax: Any) -> None:
    """Draw a north arrow in the upper left of the map (grid north of EPSG:27700)."""
    ax.annotate("N", xy=(0.04, 0.97), xytext=(0.04, 0.88), xycoords="axes fraction",
                ha="center", va="center", fontsize=9, weight="bold",
                arrowprops={"arrowstyle": "-|>", "color": "#111111", "lw": 1.2})


def _legend(fig: Figure, handles: Sequence[Any], classes: MapClasses) -> None:
    lax = fig.add_axes((0.69, 0.09, 0.29, 0.78))
    lax.set_axis_off()
    leg = lax.legend(handles=list(handles), loc="upper left", frameon=False,
                     title=_wrap(classes.title, 40), alignment="left", fontsize=6.5,
                     title_fontsize=7.5, handlelength=1.8, handleheight=1.2, borderaxespad=0)
    leg.get_title().set_fontweight("bold")
    notes = "\n".join(_wrap(n, 58) for n in classes.notes if n)
    lax.text(0, 0.0, notes, fontsize=6, color="#333333", va="bottom", ha="left",
             transform=lax.transAxes)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def save_static(fig: Figure, stem: Path, *, dpi: int = PRINT_DPI) -> tuple[Path, Path]:
    """Write ``<stem>.png`` (at ``dpi``) and ``<stem>.svg``; return both paths.

    Parameters
    ----------
    fig
        A figure from :func:`static_map`.
    stem
        Path without the suffix; its folder is created.
    dpi
        Resolution of the PNG.
    """
    if not isinstance(dpi, int) or isinstance(dpi, bool) or not 72 <= dpi <= 1200:
        raise ParameterError(f"dpi: expected a whole number from 72 to 1200, got {dpi!r}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        fig.savefig(png, dpi=dpi, metadata={"Software": None},
                    pil_kwargs={"compress_level": 1})
        fig.savefig(svg, metadata={"Date": None, "Creator": None})
    return png, svg


__all__ = ["PAGE_IN", "NOT_TESTED", "PRINT_DPI", "MapClasses", "PageText",
           "cluster_classes", "indicator_classes", "nice_length_km", "north_arrow",
           "save_static", "scale_bar", "simplified", "static_map"]
