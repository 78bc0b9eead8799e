"""Cluster maps: local Moran's I (LISA) quadrants and Getis–Ord Gi* hot and cold spots.

These builders only draw what geo/ computed: the labels (or z-scores and p-values) come in as
columns. The legend states how they were computed (spatial weights, number of permutations and the
multiple-testing rule) so a reader can judge them.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo.indicators import Indicator
from healthgap.maps import _layers
from healthgap.maps._layers import DEFAULT_PAGE, AtlasMap, PageOptions
from healthgap.maps.choropleth import entry_of

from healthgap.errors import InputError, ParameterError, preview

LISA_COLOURS = {
    "High-High": "#d7191c",
    "Low-Low": "#2c7bb6",
    "High-Low": "#fdae61",
    "Low-High": "#abd9e9",
    "Not significant": "#d3d3d3",
}
"""GeoDa's colours of the LISA quadrants (kept for reference; pages use :func:`lisa_styles`)."""

WORSE_CLUSTER, BETTER_CLUSTER = "#b2182b", "#2166ac"
"""Clusters at the worse end are dark red, at the better end dark blue (as the choropleths)."""

WORSE_OUTLIER, BETTER_OUTLIER = "#f4a582", "#92c5de"
"""Outliers (an area unlike its neighbours) in the light tone of their end."""

NOT_SIGNIFICANT_COLOUR = "#e0e0e0"

SHORT_RULES = {"fdr": "FDR", "bh": "FDR", "fdr_bh": "FDR", "by": "FDR (Benjamini–Yekutieli)",
               "fdr_by": "FDR (Benjamini–Yekutieli)", "bonferroni": "Bonferroni",
               "holm": "Holm", "none": "p <"}

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

TOO_FEW_NEIGHBOURS = "Fewer than two neighbours"
"""Gi* label of an area with one neighbour (geo.local): drawn white, not tested."""

NO_NEIGHBOURS_COLOUR = "#ffffff"

NOT_TESTED = "Not tested / no data"

LISA_DETECTS = (
    "What this finds: small areas whose value and their neighbours' values are alike beyond "
    "chance (clusters of high or low values), or unlike them (outliers). It can differ from "
    "the Gi* map, which counts each area with its neighbours and asks only whether the group "
    "is high or low."
)
"""The legend sentence of every local Moran's I map: what it detects, and why Gi* can differ."""

GISTAR_DETECTS = (
    "What this finds: groups of areas, each counted with its neighbours, whose values together "
    "are higher (hot) or lower (cold) than chance. It can differ from the local Moran's I map: "
    "an ordinary area among high or low neighbours can be a hot or cold spot, and Gi* does not "
    "flag areas unlike their neighbours."
)
"""The legend sentence of every Gi* map: what it detects, and why local Moran's I can differ."""

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


_TRANSFORMS = {"r": "row-standardised", "b": "binary", "o": "as built",
               "v": "variance-stabilised", "d": "doubly standardised"}
_POINTS = {"pw_x/pw_y": "population-weighted centres", "centroid": "polygon centroids"}


def weights_sentence(kind: str, *, transform: str, k: int | None = None,
                     threshold_m: float | None = None, points: str | None = None,
                     self_included: bool = False) -> str:
    """Say in words which spatial weights a statistic used (the legend's method sentence).

    Parameters
    ----------
    kind
        ``queen``, ``rook``, ``knn``, ``distance_band`` or ``kernel``.
    transform
        The transformation the statistic applied (``r``, ``b``, ``o``, ``v``, ``d``).
    k
        Neighbours of a ``knn`` graph.
    threshold_m
        Distance band in metres.
    points
        What distances were measured between, for point-based kinds.
    self_included
        Each area counts as its own neighbour (Gi*).

    Returns
    -------
    str
        E.g. ``Queen contiguity, row-standardised`` or ``Distance band of 4,120 m (distances
        between population-weighted centres), each area its own neighbour, binary``.
    """
    where = ""
    if points:
        where = f" (distances between {_POINTS.get(points, points)})"
    if kind in ("queen", "rook"):
        what = f"{kind.capitalize()} contiguity"
    elif kind == "knn":
        what = f"{k} nearest neighbours" if k is not None else "Nearest neighbours"
        what += where
    elif kind == "distance_band":
        band = f" of {threshold_m:,.0f} m" if threshold_m is not None else ""
        what = f"Distance band{band}{where}"
    elif kind == "kernel":
        what = f"Kernel weights{where}"
    else:
        raise ParameterError(f"kind: expected queen, rook, knn, distance_band or kernel, got "
                             f"{kind!r}")
    if self_included:
        what += ", each area its own neighbour"
    return f"{what}, {_TRANSFORMS.get(transform.lower(), transform)}"


def _method_notes(page: PageOptions) -> list[str]:
    """Return the legend's method sentences from the page's weights, permutations and rule."""
    weights_desc, permutations = page.weights, page.permutations
    correction, alpha = page.correction, page.alpha
    if not isinstance(weights_desc, str) or not weights_desc.strip():
        raise ParameterError(
            f"page.weights: expected a description of the spatial weights (e.g. 'Queen "
            f"contiguity, row-standardised'), got {weights_desc!r}"
        )
    if permutations is not None and (
        not isinstance(permutations, int | np.integer) or isinstance(permutations, bool)
        or permutations < 1
    ):
        raise ParameterError(f"page.permutations: expected a positive integer, got "
                             f"{permutations!r}")
    if alpha is not None and not (isinstance(alpha, int | float) and 0 < alpha < 1):
        raise ParameterError(f"page.alpha: expected a number between 0 and 1, got {alpha!r}")
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


@dataclass(frozen=True)
class ClusterClass:
    """How one cluster label is drawn and said."""

    words: str
    colour: str


def lisa_styles(indicator: Indicator) -> dict[str, ClusterClass]:
    """Return each LISA label's words and colour for an indicator, worse-end cluster first.

    A cluster at the worse end of the indicator (high deprivation, low life expectancy) is dark
    red on every page; one at the better end dark blue. Neutral indicators draw high as red.
    """
    noun = indicator.words
    high_is_worse = indicator.direction != "better"
    hh = ClusterClass(f"Cluster of high {noun}", WORSE_CLUSTER if high_is_worse
                      else BETTER_CLUSTER)
    ll = ClusterClass(f"Cluster of low {noun}", BETTER_CLUSTER if high_is_worse
                      else WORSE_CLUSTER)
    hl = ClusterClass(f"High {noun} among low neighbours", WORSE_OUTLIER if high_is_worse
                      else BETTER_OUTLIER)
    lh = ClusterClass(f"Low {noun} among high neighbours", BETTER_OUTLIER if high_is_worse
                      else WORSE_OUTLIER)
    first = [("High-High", hh), ("High-Low", hl)] if high_is_worse else [("Low-Low", ll),
                                                                         ("Low-High", lh)]
    second = [("Low-Low", ll), ("Low-High", lh)] if high_is_worse else [("High-High", hh),
                                                                        ("High-Low", hl)]
    return {**dict(first), **dict(second),
            "Not significant": ClusterClass("No significant local pattern",
                                            NOT_SIGNIFICANT_COLOUR)}


def gistar_styles(indicator: Indicator, labels: pd.Series) -> dict[str, ClusterClass]:
    """Return each Gi* label's words and colour: hot spots of a worse-when-high indicator red."""
    noun = indicator.words
    hot_is_worse = indicator.direction != "better"
    present = set(labels.dropna()) - {NO_NEIGHBOURS, TOO_FEW_NEIGHBOURS}
    plain = bool(present) and present <= set(GISTAR_SIMPLE_COLOURS)
    out: dict[str, ClusterClass] = {}
    reds = ["#b2182b", "#ef8a62", "#fddbc7"]
    blues = ["#2166ac", "#67a9cf", "#d1e5f0"]
    for kind, high in (("Hot", True), ("Cold", False)):
        worse = high == hot_is_worse
        tones = reds if worse else blues
        what = f"{'high' if high else 'low'} {noun}"
        if plain:
            out[f"{kind} spot"] = ClusterClass(f"{kind} spot: {what}", tones[0])
        else:
            for i, (_, level) in enumerate(GISTAR_LEVELS):
                out[f"{kind} spot ({level}% confidence)"] = ClusterClass(
                    f"{kind} spot: {what} ({level}% confidence)", tones[i])
    order = sorted(out, key=lambda k: (out[k].colour not in reds, k))
    styled = {k: out[k] for k in order}
    styled["Not significant"] = ClusterClass("No significant hot or cold spot",
                                             NOT_SIGNIFICANT_COLOUR)
    return styled


def empty_note(correction: str | None, alpha: float | None, what: str = "clusters") -> str:
    """Return e.g. "No significant clusters at FDR 5%"."""
    rule = SHORT_RULES.get((correction or "none").strip().lower(), correction or "")
    if alpha is None:
        return f"No significant {what}."
    if rule == "p <":
        return f"No significant {what} at p < {alpha:g} (no correction for multiple testing)"
    return f"No significant {what} at {rule} {alpha * 100:g}%"


def _category_map(
    areas: _layers.Areas,
    labels: pd.Series,
    styles: Mapping[str, ClusterClass],
    *,
    what: str,
    legend_title: str,
    extra_columns: Mapping[str, tuple[str, pd.Series, int | None, str]],
    notes: list[str],
    page: PageOptions,
    default_title: str,
    layer_name: str,
    empty: str,
    osm: bool,
) -> AtlasMap:
    gdf = areas.gdf
    labels = labels.loc[gdf.index]
    styles = dict(styles)
    if (labels == NO_NEIGHBOURS).any():
        styles[NO_NEIGHBOURS] = ClusterClass("No neighbours: not tested", NO_NEIGHBOURS_COLOUR)
    if (labels == TOO_FEW_NEIGHBOURS).any():  # Gi* with one neighbour (issue #23)
        styles[TOO_FEW_NEIGHBOURS] = ClusterClass("Fewer than two neighbours: not tested",
                                                  NO_NEIGHBOURS_COLOUR)
    order = list(styles)
    known = labels.isna() | labels.isin(order)
    if not known.all():
        bad = labels[~known]
        raise InputError(
            f"{what}: unknown label(s) {sorted(set(map(str, bad)))} for {len(bad)} area(s) "
            f"({preview(bad.index)}); allowed: {', '.join(order)}"
        )
    significant = labels.isin([k for k in order if k not in ("Not significant", NO_NEIGHBOURS,
                                                             TOO_FEW_NEIGHBOURS)])
    if not significant.any():
        notes = [empty + ".", *notes]
    m = page.new_map(default_title=default_title, n_features=len(gdf), osm=osm)
    if not significant.any():
        m.subtitle = (m.subtitle + " · " if m.subtitle else "") + empty
    lookup = {lab: i for i, lab in enumerate(order)}
    index = np.array([lookup.get(v, -1) if isinstance(v, str) else -1 for v in labels],
                     dtype=np.int64)
    columns = areas.columns()
    columns["k"] = [styles[order[i]].words if i >= 0 else None for i in index]
    columns["c"] = index.tolist()
    rows: list[dict[str, Any]] = [{"label": "Result", "key": "k"}]
    for key, (row_label, values, dec, units) in extra_columns.items():
        columns[key] = _layers.clean(values.loc[gdf.index], dec)
        rows.append({"label": row_label, "key": key, "dec": dec, "units": units})
    tip = areas.tip(missing=NOT_TESTED, rows=rows)
    _, canvas = _layers.draw_classes(m, gdf, columns=columns,
                                     colours=[styles[lab].colour for lab in order],
                                     class_labels=[styles[lab].words for lab in order], tip=tip,
                                     name=layer_name, page=page)
    counts = np.bincount(index[index >= 0], minlength=len(order))
    legend_rows = [_layers.swatch_row(styles[lab].words, styles[lab].colour, count=int(n))
                   for lab, n in zip(order, counts, strict=True)]
    legend_rows += _layers.missing_row(NOT_TESTED, int((index < 0).sum()), canvas)
    if not significant.any():
        legend_rows.insert(0, f'<p class="hg-empty">{html.escape(empty)}.</p>')
    page.finish(m, legend_title=legend_title, rows=legend_rows, notes=notes)
    return m


def lisa_map(
    gdf: gpd.GeoDataFrame,
    label_col: str,
    *,
    indicator: Indicator | None = None,
    value_col: str | None = None,
    p_col: str | None = None,
    decimals: int = 1,
    name_col: str | None = "auto",
    page: PageOptions = DEFAULT_PAGE,
) -> AtlasMap:
    """Map local Moran's I clusters, said in words ("cluster of low life expectancy").

    The labels come from geo/ (``geo.local``); this builder only draws them, and its legend
    states the weights, permutations and multiple-testing rule of ``page`` behind them.

    Parameters
    ----------
    gdf
        Neighbourhoods with the columns named below.
    label_col
        Column of labels: ``"High-High"``, ``"Low-Low"``, ``"High-Low"``, ``"Low-High"``,
        ``"Not significant"`` or ``"No neighbours"`` (islands, drawn white); missing = not
        tested (e.g. suppressed values).
    indicator
        The indicator's catalogue entry (words and which end is worse); default the entry of
        ``value_col``.
    value_col
        The indicator's values, shown in tooltips and named in the page's data.
    p_col
        The pseudo p-values (after any correction), shown in tooltips.
    decimals
        Decimals of ``value_col`` in tooltips.
    name_col, page
        As for every builder (:mod:`healthgap.maps`); ``page`` carries the method behind the
        labels: ``weights`` (in words, required), ``permutations``, ``correction`` and
        ``alpha``; the default title is "Clusters of <indicator> (local Moran's I)".
    """
    page = _layers.check_options(page)
    what = f"lisa_map of {label_col!r}"
    needed = [label_col] + [c for c in (value_col, p_col) if c]
    areas = _layers.areas_to_draw(gdf, what=what, columns=needed, name_col=name_col)
    ind = entry_of(value_col or label_col, indicator)
    notes = [LISA_DETECTS, *_method_notes(page)]
    extra: dict[str, tuple[str, pd.Series, int | None, str]] = {}
    if value_col:
        extra["v"] = (ind.label, gdf[value_col], decimals, ind.units)
    if p_col:
        extra["p"] = ("p-value", gdf[p_col], 3, "")
    return _category_map(
        areas, gdf[label_col], lisa_styles(ind), what=what,
        legend_title=f"Clusters of {ind.words} (local Moran's I)", extra_columns=extra,
        notes=notes, page=page,
        default_title=f"Clusters of {ind.words} (local Moran's I)",
        layer_name=f"Clusters: {ind.label}", empty=empty_note(page.correction, page.alpha),
        osm=ind.uses_osm,
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
    indicator: Indicator | None = None,
    p_col: str | None = None,
    label_col: str | None = None,
    value_col: str | None = None,
    name_col: str | None = "auto",
    page: PageOptions = DEFAULT_PAGE,
) -> AtlasMap:
    """Map Getis–Ord Gi* hot and cold spots, said in words, with z-score and p-value.

    Given p-values and no labels, the classes are the confidence levels of
    :func:`gistar_labels`; a page that would only repeat the LISA page is left out by the atlas
    (:func:`same_pattern`).

    Parameters
    ----------
    gdf
        Neighbourhoods with ``z_col`` and the other columns named.
    z_col
        Gi* z-scores (shown in tooltips; their sign makes hot or cold).
    indicator
        The indicator's catalogue entry; default the entry of ``value_col``.
    p_col
        p-values; with no ``label_col`` the classes follow :func:`gistar_labels`; with one they
        are shown in tooltips beside the label they led to.
    label_col
        Ready-made labels: either the confidence classes of :data:`GISTAR_COLOURS`, or the plain
        labels of ``geo.local.LocalGetisOrdGStar.labels_`` (``"Hot spot"``, ``"Cold spot"``,
        ``"Not significant"``, ``"No neighbours"``: significant at the level used there).
    value_col
        The indicator's values, shown in tooltips.
    name_col, page
        As for every builder (:mod:`healthgap.maps`); ``page`` carries the method behind the
        p-values: ``weights`` (required), ``permutations`` (None: analytical p-values),
        ``correction`` and ``alpha`` (behind plain ``label_col`` labels); the default title is
        "Hot and cold spots of <indicator> (Gi*)".
    """
    page = _layers.check_options(page)
    what = f"gistar_map of {z_col!r}"
    if p_col is None and label_col is None:
        raise ParameterError("gistar_map: give p_col (p-values) or label_col (ready-made "
                             f"labels); got p_col={p_col!r}, label_col={label_col!r}")
    needed = [z_col] + [c for c in (p_col, label_col, value_col) if c]
    areas = _layers.areas_to_draw(gdf, what=what, columns=needed, name_col=name_col)
    ind = entry_of(value_col or z_col, indicator)
    labels = gdf[label_col] if label_col else gistar_labels(gdf[z_col], gdf[str(p_col)])
    notes = [GISTAR_DETECTS, *_method_notes(page)]
    if p_col and not label_col:
        notes.append("Confidence: 99% where p ≤ 0.01, 95% where p ≤ 0.05, 90% where p ≤ 0.10.")
    extra: dict[str, tuple[str, pd.Series, int | None, str]] = {}
    if value_col:
        extra["v"] = (ind.label, gdf[value_col], 1, ind.units)
    extra["z"] = ("Gi* z-score", gdf[z_col], 2, "")
    if p_col:
        extra["p"] = ("p-value", gdf[p_col], 3, "")
    else:
        notes.append("p-values were not stored with these labels.")
    return _category_map(
        areas, labels, gistar_styles(ind, labels), what=what,
        legend_title=f"Hot and cold spots of {ind.words} (Gi*)", extra_columns=extra,
        notes=notes, page=page,
        default_title=f"Hot and cold spots of {ind.words} (Gi*)",
        layer_name=f"Hot and cold spots: {ind.label}",
        empty=empty_note(page.correction, page.alpha, "hot or cold spots"), osm=ind.uses_osm,
    )


def same_pattern(lisa: pd.Series, gistar: pd.Series) -> bool:
    """Whether Gi* says exactly what LISA says (hot = High-High, cold = Low-Low, else nothing).

    The atlas draws no Gi* page that would repeat the LISA page of the same indicator.
    """
    def norm_lisa(v: object) -> str:
        return {"High-High": "high", "Low-Low": "low"}.get(str(v), "none")

    def norm_gi(v: object) -> str:
        text = str(v)
        return "high" if text.startswith("Hot") else "low" if text.startswith("Cold") else "none"

    a = lisa.map(norm_lisa)
    b = gistar.reindex(lisa.index).map(norm_gi)
    return bool((a == b).all())
