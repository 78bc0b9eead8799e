"""Cluster maps: local Moran's I (LISA) quadrants and Getis–Ord Gi* hot and cold spots.

These builders only draw what geo/ computed: the labels (or z-scores and p-values) come in as
columns. The legend states how they were computed (spatial weights, number of permutations and the
multiple-testing rule) so a reader can judge them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.maps._geometry import check_frame, in_area_only, resolve_name_column, web_geometries
from healthgap.maps._layers import (
    DEFAULT_ATTRIBUTION,
    AtlasMap,
    Control,
    TopoLayer,
    add_boundaries,
    clean,
    default_precision,
    encode,
    fill_style,
    fit,
    legend_html,
    missing_style,
    swatch_row,
    use_canvas,
)

from healthgap.errors import InputError, ParameterError, preview

LISA_COLOURS = {
    "High-High": "#d7191c",
    "Low-Low": "#2c7bb6",
    "High-Low": "#fdae61",
    "Low-High": "#abd9e9",
    "Not significant": "#d3d3d3",
}
"""Fill colour of each LISA label (the usual GeoDa colours)."""

LISA_MEANINGS = {
    "High-High": "high, with high neighbours",
    "Low-Low": "low, with low neighbours",
    "High-Low": "high, among low neighbours",
    "Low-High": "low, among high neighbours",
    "Not significant": "no significant local pattern",
}

GISTAR_COLOURS = {
    "Hot spot (99% confidence)": "#b2182b",
    "Hot spot (95% confidence)": "#ef8a62",
    "Hot spot (90% confidence)": "#fddbc7",
    "Not significant": "#d3d3d3",
    "Cold spot (90% confidence)": "#d1e5f0",
    "Cold spot (95% confidence)": "#67a9cf",
    "Cold spot (99% confidence)": "#2166ac",
}
"""Fill colour of each Gi* class, hottest first."""

GISTAR_LEVELS = ((0.01, 99), (0.05, 95), (0.10, 90))
"""p-value thresholds and the confidence level they stand for."""

GISTAR_SIMPLE_COLOURS = {
    "Hot spot": "#b2182b",
    "Not significant": "#d3d3d3",
    "Cold spot": "#2166ac",
}
"""Colours of the plain Gi* labels geo.local gives (significant at the chosen level)."""

NO_NEIGHBOURS = "No neighbours"
"""Label geo.local gives areas without neighbours (islands): drawn white, not tested."""

NO_NEIGHBOURS_COLOUR = "#ffffff"

NOT_TESTED = "Not tested / no data"

_CORRECTIONS = {
    "none": "no correction for multiple testing",
    "fdr": "false discovery rate control (Benjamini–Hochberg)",
    "bh": "false discovery rate control (Benjamini–Hochberg)",
    "fdr_bh": "false discovery rate control (Benjamini–Hochberg)",
    "by": "false discovery rate control (Benjamini–Yekutieli)",
    "fdr_by": "false discovery rate control (Benjamini–Yekutieli)",
    "bonferroni": "Bonferroni correction",
    "holm": "Holm correction",
}


def describe_correction(correction: str | None) -> str:
    """Return a plain-English name of a multiple-testing rule (unknown names are kept as given)."""
    if correction is None:
        return _CORRECTIONS["none"]
    if not isinstance(correction, str) or not correction.strip():
        raise ParameterError(
            f"correction: expected the multiple-testing rule used (e.g. 'fdr', 'bonferroni', "
            f"'none'), got {correction!r}"
        )
    return _CORRECTIONS.get(correction.strip().lower(), correction.strip())


def _method_notes(
    *, weights_desc: str, permutations: int | None, correction: str | None, alpha: float | None
) -> list[str]:
    if not isinstance(weights_desc, str) or not weights_desc.strip():
        raise ParameterError(
            f"weights_desc: expected a description of the spatial weights (e.g. 'Queen "
            f"contiguity, row-standardised'), got {weights_desc!r}"
        )
    if permutations is not None and (
        not isinstance(permutations, int | np.integer) or isinstance(permutations, bool)
        or permutations < 1
    ):
        raise ParameterError(f"permutations: expected a positive integer, got {permutations!r}")
    if alpha is not None and not (isinstance(alpha, int | float) and 0 < alpha < 1):
        raise ParameterError(f"alpha: expected a number between 0 and 1, got {alpha!r}")
    notes = [f"Spatial weights: {weights_desc.strip()}."]
    test = (
        f"{int(permutations):,} conditional permutations"
        if permutations is not None
        else "analytical p-values"
    )
    rule = describe_correction(correction)
    level = f" at α = {alpha:g}" if alpha is not None else ""
    notes.append(f"Significance: {test}; {rule}{level}.")
    return notes


def _category_map(
    gdf: gpd.GeoDataFrame,
    labels: pd.Series,
    colours: Mapping[str, str],
    *,
    what: str,
    legend_title: str,
    meanings: Mapping[str, str] | None,
    extra_columns: Mapping[str, tuple[str, pd.Series, int | None, str]],
    notes: Sequence[str],
    name_col: str | None,
    boundaries: Sequence[gpd.GeoDataFrame] | Mapping[str, gpd.GeoDataFrame] | None,
    title: str,
    subtitle: str,
    attribution: Sequence[str],
    synthetic: bool,
    basemap: bool,
    simplify: float | str | None,
    precision: int | None,
    renderer: str,
    layer_name: str,
) -> AtlasMap:
    gdf = in_area_only(gdf, what=what)
    labels = labels.loc[gdf.index]
    colours = dict(colours)
    if (labels == NO_NEIGHBOURS).any():
        colours[NO_NEIGHBOURS] = NO_NEIGHBOURS_COLOUR
    order = list(colours)
    known = labels.isna() | labels.isin(order)
    if not known.all():
        bad = labels[~known]
        raise InputError(
            f"{what}: unknown label(s) {sorted(set(map(str, bad)))} for {len(bad)} area(s) "
            f"({preview(bad.index)}); allowed: {', '.join(order)}"
        )
    names_col = resolve_name_column(gdf, name_col, what=what)
    canvas = use_canvas(renderer, len(gdf))
    m = AtlasMap(title=title, subtitle=subtitle, synthetic=synthetic, attribution=attribution,
                 basemap=basemap, prefer_canvas=canvas)
    lookup = {lab: i for i, lab in enumerate(order)}
    index = np.array([lookup.get(v, -1) if isinstance(v, str) else -1 for v in labels],
                     dtype=np.int64)
    columns: dict[str, list[Any]] = {}
    if names_col:
        columns["n"] = clean(gdf[names_col])
    columns["k"] = [order[i] if i >= 0 else None for i in index]
    columns["c"] = index.tolist()
    rows: list[dict[str, Any]] = [{"label": legend_title, "key": "k"}]
    for key, (row_label, values, dec, units) in extra_columns.items():
        columns[key] = clean(values.loc[gdf.index], dec)
        rows.append({"label": row_label, "key": key, "dec": dec, "units": units})
    tip = {"title": "n" if names_col else None, "code": True, "missing": NOT_TESTED,
           "rows": rows, "extra": []}
    geoms = web_geometries(gdf, simplify=simplify)
    payload = encode(geoms, columns, precision=precision or default_precision(len(gdf)))
    styles = {"classes": [fill_style(colours[lab], canvas=canvas) for lab in order],
              "missing": missing_style(canvas)}
    TopoLayer(payload, styles=styles, tip=tip, name=layer_name, canvas=canvas).add_to(m)
    fit(m, geoms)
    counts = np.bincount(index[index >= 0], minlength=len(order))
    legend_rows = []
    for lab, n in zip(order, counts, strict=True):
        shown = f"{lab}: {meanings[lab]}" if meanings and lab in meanings else lab
        if lab == NO_NEIGHBOURS:
            shown = "No neighbours: not tested"
        legend_rows.append(swatch_row(shown, colours[lab], count=int(n)))
    n_missing = int((index < 0).sum())
    if n_missing:
        legend_rows.append(swatch_row(NOT_TESTED, missing_style(canvas)["fillColor"],
                                      count=n_missing, hatch=not canvas))
    legend_rows += add_boundaries(m, boundaries)
    Control(legend_html(title=legend_title, rows=legend_rows, notes=notes),
            position="bottomright", css="hg-box hg-legend").add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


def lisa_map(
    gdf: gpd.GeoDataFrame,
    label_col: str,
    *,
    label: str,
    weights_desc: str,
    permutations: int,
    correction: str | None,
    alpha: float,
    value_col: str | None = None,
    units: str = "",
    decimals: int = 1,
    name_col: str | None = "auto",
    boundaries: Sequence[gpd.GeoDataFrame] | Mapping[str, gpd.GeoDataFrame] | None = None,
    title: str | None = None,
    subtitle: str = "",
    attribution: Sequence[str] = DEFAULT_ATTRIBUTION,
    synthetic: bool = False,
    basemap: bool = False,
    simplify: float | str | None = "auto",
    precision: int | None = None,
    renderer: str = "auto",
) -> AtlasMap:
    """Map local Moran's I cluster labels.

    Parameters
    ----------
    gdf
        Neighbourhoods in EPSG:27700, indexed by area code.
    label_col
        Column of labels: ``"High-High"``, ``"Low-Low"``, ``"High-Low"``, ``"Low-High"``,
        ``"Not significant"`` or ``"No neighbours"`` (islands, drawn white); missing = not
        tested (e.g. suppressed values).
    label
        The indicator the clusters are of (e.g. ``"Male life expectancy"``).
    weights_desc
        The spatial weights, in words (e.g. ``"Queen contiguity, row-standardised"``).
    permutations
        Number of conditional permutations behind the pseudo p-values.
    correction
        Multiple-testing rule (``"fdr"``, ``"bonferroni"``, ``"none"`` or words).
    alpha
        Significance level.
    value_col
        The indicator's values, shown in tooltips.
    units
        Units of ``value_col``.
    decimals
        Decimals of ``value_col`` in tooltips.
    name_col
        Name column (``"auto"``: matching the index).
    boundaries
        Place and system outlines (see :func:`maps.choropleth.choropleth`).
    title
        Page title; default "Clusters of <label> (local Moran's I)".
    subtitle
        Line under the title.
    attribution
        Attribution lines.
    synthetic
        Show the "SYNTHETIC DEMO DATA" banner.
    basemap
        Offer OpenStreetMap tiles as an optional layer.
    simplify
        Coverage simplification tolerance in metres, ``"auto"`` or None.
    precision
        Coordinate decimals kept.
    renderer
        ``"auto"``, ``"svg"`` or ``"canvas"``.

    Returns
    -------
    AtlasMap
        A folium map whose page opens offline.
    """
    what = f"lisa_map of {label_col!r}"
    needed = [label_col] + ([value_col] if value_col else [])
    check_frame(gdf, what=what, columns=needed, geom_types=("Polygon", "MultiPolygon"))
    notes = _method_notes(weights_desc=weights_desc, permutations=permutations,
                          correction=correction, alpha=alpha)
    extra = {}
    if value_col:
        extra["v"] = (label, gdf[value_col], decimals, units)
    return _category_map(
        gdf,
        gdf[label_col],
        LISA_COLOURS,
        what=what,
        legend_title=f"Local Moran's I clusters: {label}",
        meanings=LISA_MEANINGS,
        extra_columns=extra,
        notes=notes,
        name_col=name_col,
        boundaries=boundaries,
        title=title or f"Clusters of {label} (local Moran's I)",
        subtitle=subtitle,
        attribution=attribution,
        synthetic=synthetic,
        basemap=basemap,
        simplify=simplify,
        precision=precision,
        renderer=renderer,
        layer_name=f"LISA clusters: {label}",
    )


def gistar_labels(z: pd.Series, p: pd.Series) -> pd.Series:
    """Label areas hot or cold spots at 99/95/90% confidence from Gi* z-scores and p-values.

    An area is a hot spot (z > 0) or cold spot (z < 0) at the highest confidence level whose
    threshold its p-value meets: p <= 0.01 → 99%, p <= 0.05 → 95%, p <= 0.10 → 90%; otherwise
    "Not significant". Missing z or p gives a missing label.

    Parameters
    ----------
    z
        Gi* z-scores.
    p
        p-values (as computed, e.g. after a multiple-testing correction).

    Returns
    -------
    pandas.Series
        One label of :data:`GISTAR_COLOURS` per area (None where z or p is missing).
    """
    zv = z.to_numpy(dtype=float, na_value=np.nan)
    pv = p.to_numpy(dtype=float, na_value=np.nan)
    finite_p = pv[np.isfinite(pv)]
    if len(finite_p) and ((finite_p < 0) | (finite_p > 1)).any():
        raise InputError(f"p-values must lie in [0, 1]; got values from {finite_p.min()} to "
                         f"{finite_p.max()}")
    out: list[str | None] = []
    for zi, pi in zip(zv, pv, strict=True):
        if not (np.isfinite(zi) and np.isfinite(pi)):
            out.append(None)
            continue
        lab = "Not significant"
        if zi != 0:
            for threshold, level in GISTAR_LEVELS:
                if pi <= threshold:
                    lab = f"{'Hot' if zi > 0 else 'Cold'} spot ({level}% confidence)"
                    break
        out.append(lab)
    return pd.Series(out, index=z.index, dtype=object)


def gistar_map(
    gdf: gpd.GeoDataFrame,
    z_col: str,
    *,
    label: str,
    weights_desc: str,
    p_col: str | None = None,
    label_col: str | None = None,
    permutations: int | None = None,
    correction: str | None = "none",
    alpha: float | None = None,
    name_col: str | None = "auto",
    boundaries: Sequence[gpd.GeoDataFrame] | Mapping[str, gpd.GeoDataFrame] | None = None,
    title: str | None = None,
    subtitle: str = "",
    attribution: Sequence[str] = DEFAULT_ATTRIBUTION,
    synthetic: bool = False,
    basemap: bool = False,
    simplify: float | str | None = "auto",
    precision: int | None = None,
    renderer: str = "auto",
) -> AtlasMap:
    """Map Getis–Ord Gi* hot and cold spots at 90, 95 and 99% confidence.

    Parameters
    ----------
    gdf
        Neighbourhoods in EPSG:27700, indexed by area code.
    z_col
        Gi* z-scores (shown in tooltips; their sign makes hot or cold).
    label
        The indicator (e.g. ``"IMD 2019 score"``).
    weights_desc
        The spatial weights, in words.
    p_col
        p-values; classes follow :func:`gistar_labels`. Give this or ``label_col``.
    label_col
        Ready-made labels: either the confidence classes of :data:`GISTAR_COLOURS`, or the plain
        labels of ``geo.local.LocalGetisOrdGStar.labels_`` (``"Hot spot"``, ``"Cold spot"``,
        ``"Not significant"``, ``"No neighbours"``: significant at the level used there).
    permutations
        Number of permutations behind the p-values, or None for analytical p-values.
    correction
        Multiple-testing rule applied to the p-values.
    alpha
        Significance level behind plain ``label_col`` labels (shown in the legend), or None.
    name_col
        Name column (``"auto"``: matching the index).
    boundaries
        Place and system outlines.
    title
        Page title; default "Hot and cold spots of <label> (Gi*)".
    subtitle
        Line under the title.
    attribution
        Attribution lines.
    synthetic
        Show the "SYNTHETIC DEMO DATA" banner.
    basemap
        Offer OpenStreetMap tiles as an optional layer.
    simplify
        Coverage simplification tolerance in metres, ``"auto"`` or None.
    precision
        Coordinate decimals kept.
    renderer
        ``"auto"``, ``"svg"`` or ``"canvas"``.

    Returns
    -------
    AtlasMap
        A folium map whose page opens offline.
    """
    what = f"gistar_map of {z_col!r}"
    if (p_col is None) == (label_col is None):
        raise ParameterError("gistar_map: give exactly one of p_col (p-values) or label_col "
                             f"(ready-made labels); got p_col={p_col!r}, label_col={label_col!r}")
    needed = [z_col] + [c for c in (p_col, label_col) if c]
    check_frame(gdf, what=what, columns=needed, geom_types=("Polygon", "MultiPolygon"))
    labels = gistar_labels(gdf[z_col], gdf[p_col]) if p_col else gdf[label_col]
    present = set(labels.dropna()) - {NO_NEIGHBOURS}
    simple = bool(present) and present <= set(GISTAR_SIMPLE_COLOURS)
    colours = GISTAR_SIMPLE_COLOURS if (label_col and simple) else GISTAR_COLOURS
    notes = _method_notes(weights_desc=weights_desc, permutations=permutations,
                          correction=correction, alpha=alpha)
    if p_col:
        notes.append("Confidence: 99% where p ≤ 0.01, 95% where p ≤ 0.05, 90% where p ≤ 0.10.")
    extra: dict[str, tuple[str, pd.Series, int | None, str]] = {
        "z": ("Gi* z-score", gdf[z_col], 2, "")
    }
    if p_col:
        extra["p"] = ("p-value", gdf[p_col], 3, "")
    return _category_map(
        gdf,
        labels,
        colours,
        what=what,
        legend_title=f"Gi* hot and cold spots: {label}",
        meanings=None,
        extra_columns=extra,
        notes=notes,
        name_col=name_col,
        boundaries=boundaries,
        title=title or f"Hot and cold spots of {label} (Gi*)",
        subtitle=subtitle,
        attribution=attribution,
        synthetic=synthetic,
        basemap=basemap,
        simplify=simplify,
        precision=precision,
        renderer=renderer,
        layer_name=f"Gi* hot and cold spots: {label}",
    )

