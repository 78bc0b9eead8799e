"""Choropleth maps of one indicator per neighbourhood.

Classes come from mapclassify (the rule is in :mod:`maps._classify`), the legend states the units
and the classes, tooltips give the name, code, value (with its confidence interval where given)
and the England and system values for comparison. Suppressed or missing values are hatched and
labelled "Suppressed / no data".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo.indicators import DIRECTIONS, Indicator, describe
from healthgap.maps import _layers
from healthgap.maps._classify import Classification, classify, fmt, grammar_palette
from healthgap.maps._geometry import check_frame
from healthgap.maps._layers import DEFAULT_PAGE, AtlasMap, PageOptions, TopoLayer

from healthgap.errors import InputError, ParameterError, preview

MISSING_LABEL = "Suppressed / no data"

NO_INTERVAL = "the source gives no interval"
"""Said in a tooltip beside a value whose source publishes no interval."""


@dataclass(frozen=True)
class ChoroplethLayer:
    """What :func:`add_choropleth` drew.

    Attributes
    ----------
    layer
        The folium layer.
    classes
        The classification.
    colours
        One fill colour per class.
    legend_rows
        Legend rows (HTML) for the classes and the missing values.
    notes
        Legend notes (classification rule, comparisons).
    canvas
        Whether the layer is drawn on a canvas.
    """

    layer: TopoLayer
    classes: Classification
    colours: list[str]
    legend_rows: list[str]
    notes: list[str]
    canvas: bool


@dataclass(frozen=True)
class Classing:
    """How a choropleth puts its values into classes (the rule is :func:`maps._classify.classify`).

    Attributes
    ----------
    scheme
        ``"auto"`` (rule in :mod:`maps._classify`), ``"quantiles"``, ``"natural_breaks"``,
        ``"equal_interval"``, ``"categories"`` or ``"rank_deciles"``.
    k
        Number of classes (2 to 10) for quantiles, natural breaks and equal intervals.
    bins
        Explicit upper class bounds, overriding ``scheme``.
    decimals
        Decimals shown; default 0 for whole numbers, else 1.
    rank_total
        National number of ranked areas, for rank columns (deciles of rank).
    category_labels
        Legend labels for categorical classes, by value.
    pivot
        A value kept as a class edge when the values span it (100 for a standardised ratio,
        England's value): see :func:`maps._classify.classify`.
    """

    scheme: str = "auto"
    k: int = 5
    bins: Sequence[float] | None = None
    decimals: int | None = None
    rank_total: int | None = None
    category_labels: Mapping[float, str] | None = None
    pivot: float | None = None


def _decimals(values: pd.Series, decimals: int | None) -> int:
    if decimals is not None:
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 6:
            raise ParameterError(f"decimals: expected an integer from 0 to 6, got {decimals!r}")
        return decimals
    y = values.to_numpy(dtype=float, na_value=np.nan)
    y = y[np.isfinite(y)]
    return 0 if len(y) and np.allclose(y, np.round(y)) else 1


def _with_units(value: float, decimals: int, units: str) -> str:
    return f"{fmt(value, decimals)} {units}".strip()


def entry_of(column: str, indicator: Indicator | None) -> Indicator:
    """Return the indicator a builder draws: ``indicator``, else the entry of ``column``."""
    ind = indicator if indicator is not None else describe(column)
    if not isinstance(ind, Indicator):
        raise ParameterError(f"indicator: expected geo.indicators.Indicator, got "
                             f"{type(ind).__name__}")
    return ind


def reworded(indicator: Indicator | str, *, label: str | None = None, units: str | None = None,
             direction: str | None = None) -> Indicator:
    """Return an indicator entry (or the catalogue entry of a column) with other words.

    For a column not in the catalogue, or a page that names it differently: ``label`` and
    ``units`` replace the entry's words, ``direction`` (``"worse"``, ``"better"``,
    ``"neutral"``) says what a higher value means.
    """
    ind = entry_of(indicator, None) if isinstance(indicator, str) else entry_of("", indicator)
    changes: dict[str, Any] = {}
    if label is not None:
        changes["label"] = label
    if units is not None:
        changes["units"] = units
    if direction is not None:
        if direction not in DIRECTIONS:
            raise ParameterError(f"direction: expected one of {', '.join(DIRECTIONS)}, got "
                                 f"{direction!r}")
        changes["higher_is_worse"] = {"worse": True, "better": False, "neutral": None}[direction]
    return replace(ind, **changes) if changes else ind


def worse_end_note(ind: Indicator) -> str:
    """Return a legend sentence saying which end is drawn as worse."""
    if ind.direction == "neutral":
        return "Higher values are neither better nor worse; darker blue = higher."
    end = "higher" if ind.direction == "worse" else "lower"
    return f"Dark red marks the worse end ({end} {ind.words})."


def add_choropleth(
    m: AtlasMap,
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    indicator: Indicator,
    page: PageOptions,
    classing: Classing = Classing(),
    compare: Mapping[str, float] | None = None,
    ci: tuple[str, str] | None = None,
    ci_level: int = 95,
    name_col: str | None = "auto",
    layer_name: str | None = None,
) -> ChoroplethLayer:
    """Draw a classed indicator layer on a map (see :func:`choropleth` for the parameters).

    ``page`` is required: it must be the options ``m`` was made with (renderer, precision,
    simplification), so the layer is drawn as the page is.

    Returns
    -------
    ChoroplethLayer
        The layer, classes, colours and legend rows, for builders that add more on top.
    """
    what = f"choropleth of {column!r}"
    areas = _layers.areas_to_draw(gdf, what=what, columns=[column], name_col=name_col)
    gdf = areas.gdf
    values = gdf[column]
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise InputError(f"{what}: column {column!r} must hold numbers, got dtype {values.dtype}")
    label, units = indicator.label, indicator.units
    dec = _decimals(values, classing.decimals)
    classes = classify(
        values,
        scheme=classing.scheme,
        k=classing.k,
        bins=classing.bins,
        decimals=dec,
        rank_total=classing.rank_total,
        category_labels=classing.category_labels or _default_category_labels(column, label),
        column=column,
        pivot=classing.pivot,
    )
    colours = grammar_palette(classes.k, indicator.direction)
    columns = areas.columns()
    columns["v"] = _layers.clean(values, dec)
    columns["c"] = classes.index.tolist()
    row: dict[str, Any] = {"label": label, "key": "v", "dec": dec, "units": units}
    if ci is not None:
        lci, uci = _check_ci(gdf, column, ci, what=what)
        columns["l"] = _layers.clean(gdf[lci], dec)
        columns["u"] = _layers.clean(gdf[uci], dec)
        row.update(ci=["l", "u"], ciLabel=f"{ci_level}% CI")
    elif indicator.kind == "continuous":
        row["noCi"] = NO_INTERVAL
    extra = _comparisons(compare, dec, units)
    tip = areas.tip(missing=MISSING_LABEL, rows=[row], extra=extra)

    layer, canvas = _layers.draw_classes(
        m, gdf, columns=columns, colours=colours, class_labels=classes.labels, tip=tip,
        name=layer_name or label, page=page,
        meta={"column": column, "direction": indicator.direction},
    )
    rows = [
        _layers.swatch_row(lab, colour, count=n)
        for lab, colour, n in zip(classes.labels, colours, classes.counts, strict=True)
    ]
    rows += _layers.missing_row(MISSING_LABEL, classes.n_missing, canvas)
    notes = [worse_end_note(indicator), classes.note]
    if extra:
        notes.append("For comparison: " + "; ".join(extra) + ".")
    return ChoroplethLayer(layer, classes, colours, rows, notes, canvas)


def legend_title(indicator: Indicator) -> str:
    """Return the legend heading: the indicator in words with its unit said once."""
    units = indicator.units
    return f"{indicator.label} ({units})" if units else indicator.label


def _default_category_labels(column: str, label: str) -> dict[float, str] | None:
    text = f"{column} {label}".lower()
    if "decile" in text and ("depriv" in text or column.lower().startswith("imd")):
        labels = {float(i): str(i) for i in range(1, 11)}
        labels[1.0] = "1 (most deprived 10%)"
        labels[10.0] = "10 (least deprived 10%)"
        return labels
    return None


def _check_ci(
    gdf: gpd.GeoDataFrame, column: str, ci: tuple[str, str], *, what: str
) -> tuple[str, str]:
    if not isinstance(ci, tuple | list) or len(ci) != 2:
        raise ParameterError(f"ci: expected (lower_column, upper_column), got {ci!r}")
    lci, uci = str(ci[0]), str(ci[1])
    check_frame(gdf, what=what, columns=[lci, uci])
    v = gdf[column].to_numpy(dtype=float, na_value=np.nan)
    lo = gdf[lci].to_numpy(dtype=float, na_value=np.nan)
    hi = gdf[uci].to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = (lo > v) | (v > hi)
    if bad.any():
        raise InputError(
            f"{what}: the interval ({lci!r}, {uci!r}) does not contain the value for "
            f"{int(bad.sum())} area(s): {preview(gdf.index[bad])}; are the columns swapped?"
        )
    return lci, uci


def _comparisons(compare: Mapping[str, float] | None, decimals: int, units: str) -> list[str]:
    if compare is None:
        return []
    if not isinstance(compare, Mapping):
        raise ParameterError(
            f"compare: expected a mapping such as {{'England': 79.6}}, got {type(compare).__name__}"
        )
    out = []
    for name, value in compare.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"compare[{name!r}]: expected a number, got {value!r}") from None
        out.append(f"{name}: {_with_units(number, decimals, units)}")
    return out


def choropleth(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    indicator: Indicator | None = None,
    classing: Classing = Classing(),
    compare: Mapping[str, float] | None = None,
    ci: tuple[str, str] | None = None,
    ci_level: int = 95,
    name_col: str | None = "auto",
    page: PageOptions = DEFAULT_PAGE,
) -> AtlasMap:
    """Map one indicator per small area.

    Words, unit and colours come from the indicator's catalogue entry
    (:mod:`geo.indicators`): the worse end is dark red on every page (see
    :func:`maps._classify.grammar_palette`).

    Parameters
    ----------
    gdf
        Neighbourhoods with ``column`` (NaN = suppressed).
    column
        The indicator.
    indicator
        Its catalogue entry; default ``geo.indicators.describe(column)`` (other words:
        :func:`reworded`).
    classing
        How the values are put into classes (scheme, number, bounds, decimals, rank total,
        category labels, pivot).
    compare
        Reference values shown in tooltips and the legend, e.g. ``{"England": 79.6,
        "ICS": 81.2}``.
    ci
        ``(lower_column, upper_column)`` of a confidence interval shown in tooltips.
    ci_level
        Confidence level of ``ci`` in percent (tooltip label).
    name_col, page
        As for every builder (:mod:`healthgap.maps`); the default title is the indicator's
        label.
    """
    page = _layers.check_options(page)
    ind = entry_of(column, indicator)
    n = len(gdf) if hasattr(gdf, "__len__") else 0
    m = page.new_map(default_title=ind.label, n_features=n, osm=ind.uses_osm)
    drawn = add_choropleth(
        m, gdf, column, indicator=ind, classing=classing, compare=compare, ci=ci,
        ci_level=ci_level, name_col=name_col, page=page,
    )
    page.finish(m, legend_title=legend_title(ind), rows=drawn.legend_rows, notes=drawn.notes,
                subtitle=ind.scale)
    return m
