"""A bivariate map: deprivation against life expectancy, three classes of each.

Each neighbourhood falls in one of nine cells: its deprivation tertile (within the area) by its
life-expectancy tertile. The 3 × 3 colour grid is Joshua Stevens' blue–pink scheme, whose corners
stay distinct under the common colour-vision deficiencies; the darkest cell is "most deprived and
shortest lives", the lightest "least deprived and longest lives". The legend is the grid itself,
with the number of neighbourhoods in each cell.
"""

from __future__ import annotations

import html

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo.indicators import Indicator, describe
from healthgap.maps import _layers
from healthgap.maps._classify import classify
from healthgap.maps._layers import DEFAULT_PAGE, AtlasMap, PageOptions

from healthgap.errors import InputError

BIVARIATE_COLOURS = (
    ("#e8e8e8", "#dfb0d6", "#be64ac"),
    ("#ace4e4", "#a5add3", "#8c62aa"),
    ("#5ac8c8", "#5698b9", "#3b4994"),
)
"""Colour of cell [outcome tertile][deprivation tertile], 0 = better end of each (J. Stevens)."""

TERTILES = ("lower third", "middle third", "upper third")


def _tertile_of_worse(values: pd.Series, ind: Indicator, column: str) -> np.ndarray:
    """Return 0, 1, 2 per value: 2 = the worse third of the area, -1 = missing."""
    classes = classify(values, scheme="quantiles", k=3, column=column)
    if classes.k != 3:
        raise InputError(f"bivariate map: column {column!r} has too many ties for three classes")
    index = classes.index.copy()
    if ind.direction == "better":  # low values are worse
        index = np.where(index >= 0, 2 - index, -1)
    return index


def bivariate_map(
    gdf: gpd.GeoDataFrame,
    *,
    x_col: str = "imd_score",
    y_col: str = "le_male",
    name_col: str | None = "auto",
    page: PageOptions = DEFAULT_PAGE,
) -> AtlasMap:
    """Map deprivation (``x_col``) against an outcome (``y_col``) in a 3 × 3 grid of classes.

    Each measure is cut into thirds of the area's small areas, counted from its worse end (its
    catalogue entry says which); a measure with no worse end, or too many ties for three
    classes, is refused.

    Parameters
    ----------
    gdf
        Neighbourhoods with both columns.
    x_col
        The deprivation measure (its catalogue entry says which end is worse).
    y_col
        The outcome (e.g. male life expectancy).
    name_col, page
        As for every builder (:mod:`healthgap.maps`); the default title names both measures.
    """
    page = _layers.check_options(page)
    what = f"bivariate map of {x_col!r} and {y_col!r}"
    areas = _layers.areas_to_draw(gdf, what=what, columns=[x_col, y_col], name_col=name_col)
    gdf = areas.gdf
    xi, yi = describe(x_col), describe(y_col)
    for ind in (xi, yi):
        if ind.direction == "neutral":
            raise InputError(f"{what}: {ind.name!r} has no worse end in the catalogue")
    tx = _tertile_of_worse(gdf[x_col], xi, x_col)
    ty = _tertile_of_worse(gdf[y_col], yi, y_col)
    cell = np.where((tx >= 0) & (ty >= 0), ty * 3 + tx, -1)
    colours = [BIVARIATE_COLOURS[r][c] for r in range(3) for c in range(3)]
    words = [f"{xi.words.capitalize()}: {_third(c)}; {yi.words}: {_third(r)}"
             for r in range(3) for c in range(3)]
    m = page.new_map(default_title=f"{xi.words.capitalize()} and {yi.words}",
                     n_features=len(gdf), osm=xi.uses_osm or yi.uses_osm)
    columns = {"x": _layers.clean(gdf[x_col], 1), "y": _layers.clean(gdf[y_col], 1),
               "c": cell.tolist(), **areas.columns()}
    tip = areas.tip(missing="No value",
                    rows=[{"label": xi.label, "key": "x", "dec": 1, "units": xi.units},
                          {"label": yi.label, "key": "y", "dec": 1, "units": yi.units}])
    _, canvas = _layers.draw_classes(m, gdf, columns=columns, colours=colours,
                                     class_labels=words, tip=tip,
                                     name=f"{xi.words.capitalize()} and {yi.words}", page=page,
                                     meta={"bivariate": [x_col, y_col]})
    counts = np.bincount(cell[cell >= 0], minlength=9)
    rows = [_grid(counts, xi, yi),
            *_layers.missing_row("No value for one of the two", int((cell < 0).sum()), canvas)]
    notes = [f"Thirds of the area's small areas for each measure. Darkest: the worse third "
             f"for both ({'high' if xi.direction == 'worse' else 'low'} {xi.words}, "
             f"{'high' if yi.direction == 'worse' else 'low'} {yi.words})."]
    page.finish(m, legend_title=f"{xi.label} × {yi.label}", rows=rows, notes=notes)
    return m


def _third(i: int) -> str:
    return ("better third", "middle third", "worse third")[i]


def _grid(counts: np.ndarray, xi: Indicator, yi: Indicator) -> str:
    cells = []
    for r in (2, 1, 0):
        row = "".join(
            f'<td style="background:{BIVARIATE_COLOURS[r][c]};width:34px;height:26px;'
            f'text-align:center;color:{"#fff" if r + c >= 3 else "#222"}" '
            f'title="{html.escape(_third(c))} {html.escape(xi.words)}, '
            f'{html.escape(_third(r))} {html.escape(yi.words)}">{int(counts[r * 3 + c])}</td>'
            for c in range(3)
        )
        cells.append(f"<tr>{row}</tr>")
    return (
        '<table class="hg-bivariate" style="border-collapse:collapse;margin:4px 0" '
        f'aria-label="Number of small areas in each cell; columns: {html.escape(xi.words)} '
        f'better to worse third, rows: {html.escape(yi.words)} worse to better third">'
        f"{''.join(cells)}</table>"
        f'<div class="hg-note">→ worse {html.escape(xi.words)}; ↑ worse {html.escape(yi.words)}'
        "</div>"
    )
