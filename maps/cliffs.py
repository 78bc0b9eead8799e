"""Life-expectancy "cliffs": the largest gaps between neighbouring small areas.

geo/ measures, for each pair of adjacent small areas, the difference in life expectancy between
them (``abs_diff``, in years) and may divide it by the distance between their centres (a
gradient, ``years_per_mile``). The unit follows the column: "years" for a difference, "years per
mile" only for a gradient. Where the cliffs layer flags the differences larger than sampling
noise (``exceeds_noise``), only those are drawn strongly; the rest are faint.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo.indicators import Indicator
from healthgap.maps import _layers
from healthgap.maps._classify import fmt
from healthgap.maps._geometry import check_frame, resolve_name_column
from healthgap.maps._layers import DEFAULT_PAGE, AtlasMap, PageOptions, TopoLayer
from healthgap.maps.choropleth import Classing, add_choropleth, entry_of, legend_title, reworded

from healthgap.errors import InputError, ParameterError

CLIFF_COLOUR = "#d01c8b"
"""Colour of cliff lines: magenta stands out on both ends of the sequential colour maps."""

MIN_WIDTH, MAX_WIDTH = 3.0, 10.0
"""Line widths (px) of the gentlest and steepest cliff drawn."""

NOT_A_CLIFF = {"color": "#636363", "weight": 2.0, "opacity": 0.6, "dashArray": "4 4",
               "lineCap": "round"}
"""Style of a large difference that does not pass the false discovery rate (not a cliff)."""

CLIFF_FIELDS = {
    "le_a": ("Value at A", 1, None),
    "le_b": ("Value at B", 1, None),
    "abs_diff": ("Gap", 1, None),
    "distance_miles": ("Distance between centres", 2, "miles"),
    "significant": ("Gap larger than sampling noise (95%)", None, ""),
    "cliff": ("A cliff (passes the 5% false discovery rate)", None, ""),
    "p_value": ("p-value (deprivation-adjusted, against the area's borders)", 4, ""),
}
"""Columns of ``geo.gradients.NeighbourGradients.pairs_`` shown in tooltips when present:
column → (label, decimals, units; None = the indicator's units)."""


def steepest(cliffs: gpd.GeoDataFrame, *, gradient_col: str, top: int) -> gpd.GeoDataFrame:
    """Return the ``top`` cliffs with the largest absolute gradient, steepest first.

    Ties keep the frame's order; rows without a gradient are left out.

    Parameters
    ----------
    cliffs
        Lines with ``gradient_col``.
    gradient_col
        Years of life expectancy per mile.
    top
        How many to keep.

    Returns
    -------
    geopandas.GeoDataFrame
        At most ``top`` rows.
    """
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= 500:
        raise ParameterError(f"top: expected an integer from 1 to 500, got {top!r}")
    steep = cliffs[gradient_col].abs()
    keep = steep.notna()
    order = np.argsort(-steep[keep].to_numpy(dtype=float), kind="stable")
    return cliffs[keep].iloc[order[:top]]


def _area_names(areas: gpd.GeoDataFrame, name_col: str | None) -> dict[str, str]:
    col = resolve_name_column(areas, name_col, what="cliffs_map areas_gdf")
    if col is None:
        return {}
    return {str(k): str(v) for k, v in areas[col].items() if isinstance(v, str)}


def _passing(cliffs: gpd.GeoDataFrame, chosen: gpd.GeoDataFrame, cliff_col: str | None,
             what: str) -> np.ndarray:
    """Return which drawn lines are cliffs: all without ``cliff_col``, else its True rows."""
    if cliff_col is None:
        return np.ones(len(chosen), dtype=bool)
    check_frame(cliffs, what=what, columns=[cliff_col], unique_index=False)
    return np.asarray(chosen[cliff_col].fillna(False).astype(bool).to_numpy())


def _fdr_legend(n_cliffs: int, n_drawn: int, n_pairs: int, span: str,
                verdict: str | None) -> tuple[str, str]:
    """Return the legend row of the faint lines and the note under the FDR drawing rule."""
    row = (f'<div class="hg-row"><span class="hg-line" style="border-top:2px dashed '
           f'{NOT_A_CLIFF["color"]}"></span>Large difference, not a cliff (does not pass '
           f"the false discovery rate)</div>")
    note = (f"Magenta: the {n_cliffs} border(s) passing the false discovery rate across all "
            f"{n_pairs:,} borders, width by the difference; grey dashed: the other largest of "
            f"the top {n_drawn} differences ({span}), not cliffs. " + (verdict or ""))
    return row, note


def cliffs_map(
    areas_gdf: gpd.GeoDataFrame,
    cliffs_gdf: gpd.GeoDataFrame,
    *,
    column: str,
    indicator: Indicator | None = None,
    top: int = 20,
    gradient_col: str = "years_per_mile",
    tooltip_cols: Mapping[str, str] | None = None,
    classing: Classing = Classing(),
    compare: Mapping[str, float] | None = None,
    ci: tuple[str, str] | None = None,
    name_col: str | None = "auto",
    page: PageOptions = DEFAULT_PAGE,
    cliff_col: str | None = None,
    verdict: str | None = None,
) -> AtlasMap:
    """Draw the steepest life-expectancy gradients between neighbours over the LE choropleth.

    The areas are coloured by the same grammar as every other page (the worse end dark red).

    Parameters
    ----------
    areas_gdf
        Neighbourhoods with ``column``.
    cliffs_gdf
        Lines (LineString / MultiLineString) in EPSG:27700 with ``gradient_col``.
    column
        Life expectancy column of ``areas_gdf``.
    indicator
        The column's catalogue entry (see :func:`maps.choropleth.choropleth`).
    top
        Number of steepest cliffs drawn.
    gradient_col
        Years per mile column of ``cliffs_gdf``.
    tooltip_cols
        Further columns of ``cliffs_gdf`` shown in line tooltips, as column → label. Default: the
        two areas (``code_a``, ``code_b`` with their names from ``areas_gdf``) and the columns of
        :data:`CLIFF_FIELDS` that are present; if none of those is present, every other column.
    classing, compare, ci
        As in :func:`maps.choropleth.choropleth`, for the areas.
    name_col, page
        As for every builder (:mod:`healthgap.maps`); the default title is "Life-expectancy
        cliffs: the <top> steepest gaps between neighbours".
    cliff_col
        Optional boolean column of ``cliffs_gdf``: True for borders that pass the false
        discovery rate (`healthgap.geo.cliffs.BorderDifferences`). Only those are drawn as
        cliffs (magenta, width by size); the other largest differences are drawn faint, grey
        and dashed, labelled as not cliffs.
    verdict
        The sentence saying how many cliffs pass against chance
        (`healthgap.geo.verdicts.cliffs_verdict`), shown in the legend.

    A gradient column whose name contains ``per_mile`` is labelled in years per mile; any
    other (a difference such as ``abs_diff``) in years.
    """
    page = _layers.check_options(page)
    ind = entry_of(column, indicator)
    if not ind.units:  # cliffs are gaps in life expectancy: years unless told otherwise
        ind = reworded(ind, units="years")
    units = ind.units
    per = " per mile" if "per_mile" in gradient_col else ""
    what = "cliffs_map cliffs_gdf"
    check_frame(cliffs_gdf, what=what, columns=[gradient_col],
                geom_types=("LineString", "MultiLineString"), unique_index=False)
    grad = cliffs_gdf[gradient_col]
    if not pd.api.types.is_numeric_dtype(grad.dtype):
        raise InputError(f"{what}: column {gradient_col!r} must hold numbers, got {grad.dtype}")
    known = [c for c in ("code_a", "code_b", *CLIFF_FIELDS) if c in cliffs_gdf.columns]
    if tooltip_cols is not None:
        check_frame(cliffs_gdf, what=what, columns=list(tooltip_cols), unique_index=False)
        shown = dict(tooltip_cols)
    elif known:
        shown = {}
    else:
        shown = {c: str(c) for c in cliffs_gdf.columns
                 if c not in (gradient_col, cliffs_gdf.geometry.name)}
    chosen = steepest(cliffs_gdf, gradient_col=gradient_col, top=top)
    n_drawn = len(chosen)
    is_cliff = _passing(cliffs_gdf, chosen, cliff_col, what)
    m = page.new_map(
        default_title=f"Life-expectancy cliffs: the {n_drawn} steepest gaps between neighbours",
        n_features=len(areas_gdf), osm=ind.uses_osm,
    )
    drawn = add_choropleth(
        m, areas_gdf, column, indicator=ind, classing=classing,
        compare=compare, ci=ci, name_col=name_col, page=page,
    )
    steep = chosen[gradient_col].abs().to_numpy(dtype=float)
    if n_drawn and steep.max() > steep.min():
        widths = MIN_WIDTH + (steep - steep.min()) / (steep.max() - steep.min()) * (
            MAX_WIDTH - MIN_WIDTH
        )
    else:
        widths = np.full(n_drawn, (MIN_WIDTH + MAX_WIDTH) / 2)
    styles = {
        "classes": [{"color": CLIFF_COLOUR, "weight": round(float(w), 1), "opacity": 0.95,
                     "lineCap": "round"} if c else dict(NOT_A_CLIFF)
                    for w, c in zip(widths, is_cliff, strict=True)],
        "missing": {"color": CLIFF_COLOUR, "weight": MIN_WIDTH},
    }
    if n_drawn:
        web = chosen.geometry.to_crs(4326)
        web.index = pd.Index([f"cliff-{i + 1}" for i in range(n_drawn)])
        columns: dict[str, list[Any]] = {
            "c": list(range(n_drawn)),
            "g": _layers.clean(chosen[gradient_col], 2),
            "r": list(range(1, n_drawn + 1)),
        }
        rows: list[dict[str, Any]] = [
            {"label": "Rank", "key": "r", "dec": 0, "units": f"of {n_drawn}"},
            {"label": "Gradient" if per else "Difference", "key": "g", "dec": 2,
             "units": f"{units}{per}"},
        ]
        if tooltip_cols is None and known:
            names = _area_names(areas_gdf, name_col)
            for end in ("a", "b"):
                col = f"code_{end}"
                if col in chosen.columns:
                    columns[f"e{end}"] = [
                        f"{names.get(str(c), '')} ({c})".strip() if names.get(str(c)) else str(c)
                        for c in chosen[col]
                    ]
                    rows.append({"label": f"Area {end.upper()}", "key": f"e{end}"})
            for col, (col_label, dec, col_units) in CLIFF_FIELDS.items():
                if col in chosen.columns:
                    key = f"f_{col}"
                    values = chosen[col]
                    if dec is None:
                        columns[key] = [None if pd.isna(v) else ("yes" if v else "no")
                                        for v in values]
                    else:
                        columns[key] = _layers.clean(values, dec)
                    rows.append({"label": col_label, "key": key, "dec": dec,
                                 "units": units if col_units is None else col_units})
        for i, (col, col_label) in enumerate(shown.items()):
            values = chosen[col]
            numeric = pd.api.types.is_numeric_dtype(values.dtype)
            key = f"x{i}"
            columns[key] = _layers.clean(values, 2 if numeric else None)
            rows.append({"label": col_label, "key": key, "dec": 2 if numeric else None,
                         "units": ""})
        payload = _layers.encode(web, columns, precision=5)
        n_cliffs = int(is_cliff.sum())
        layer_name = (f"Steepest {n_drawn} cliffs" if cliff_col is None else
                      f"{n_cliffs} cliffs passing the false discovery rate, "
                      f"{n_drawn - n_cliffs} other large differences (not cliffs)")
        TopoLayer(
            payload,
            styles=styles,
            tip={"title": None, "code": False, "missing": "—", "rows": rows, "extra": []},
            name=layer_name,
        ).add_to(m)
        low, high = fmt(float(steep.min()), 1), fmt(float(steep.max()), 1)
        line_row = (
            f'<div class="hg-row"><span class="hg-line" style="border-top:6px solid '
            f'{CLIFF_COLOUR}"></span>{html.escape(f"Steepest {n_drawn} gaps between neighbours")}'
            f"</div>"
        )
        n_pairs = int(cliffs_gdf[gradient_col].notna().sum())
        span = f"{low} to {high} {units}{per}"
        line_note = (f"Line width grows with the gradient: {span} "
                     f"(top {n_drawn} of {n_pairs:,} neighbour pairs).")
        if cliff_col is not None:
            extra_row, line_note = _fdr_legend(n_cliffs, n_drawn, n_pairs, span, verdict)
            line_row += extra_row
    else:
        line_row = ""
        line_note = "No neighbour pair has a gradient to draw."
    page.finish(m, legend_title=legend_title(ind), rows=[*drawn.legend_rows, line_row],
                notes=[*drawn.notes, line_note], subtitle=ind.scale)
    return m
