"""Choose map classes for an indicator and the colours that go with them.

The rule for ``scheme="auto"`` (documented on :func:`classify`):

1. A decile or quintile column (name contains ``decile`` / ``quintile``, whole numbers in 1..10 /
   1..5) keeps its own classes: one class per decile, all ten always present, so decile 1 has the
   same colour on every map.
2. A rank column (name ends in ``_rank``) is cut into national deciles of rank when
   ``rank_total`` (e.g. 32,844 LSOAs for IMD 2019) is given; otherwise into quantiles (ranks are
   uniform, so quantiles are the natural classes).
3. Any other column with no more distinct values than ``k`` gets one class per value.
4. Otherwise: natural breaks (Fisher–Jenks) when the distribution is skewed (|sample skewness|
   > 1) or looks multimodal (bimodality coefficient > 5/9, Pfister et al. 2013); quantiles
   otherwise, so that each colour covers about the same number of neighbourhoods.

Fisher–Jenks is exact up to 10,000 values; above that it runs on 10,000 evenly spaced order
statistics of the data (deterministic, no sampling seed needed) and the breaks are applied to all
values.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import to_hex
from scipy import stats

from healthgap.errors import InputError, ParameterError

SCHEMES = ("auto", "quantiles", "natural_breaks", "equal_interval", "categories", "rank_deciles")
"""Classification schemes :func:`classify` accepts (plus explicit ``bins``)."""

FISHER_JENKS_MAX = 10_000
"""Largest number of values Fisher–Jenks runs on exactly."""

BIMODALITY_THRESHOLD = 5 / 9
"""Bimodality coefficient above which a distribution is treated as multimodal."""

SKEW_THRESHOLD = 1.0
"""Absolute sample skewness above which a distribution is treated as skewed."""


@dataclass(frozen=True)
class Classification:
    """Classes of an indicator.

    Attributes
    ----------
    scheme
        The scheme used (after resolving ``"auto"``).
    index
        Class of each value (0-based); -1 where the value is missing.
    labels
        One legend label per class.
    counts
        Number of areas in each class.
    bins
        Upper bounds of numeric classes, or None for categories.
    categories
        The value of each class for categorical schemes, or None.
    note
        A sentence saying how the classes were chosen.
    """

    scheme: str
    index: np.ndarray
    labels: list[str]
    counts: list[int]
    bins: list[float] | None
    categories: list[float] | None
    note: str

    @property
    def k(self) -> int:
        """Number of classes."""
        return len(self.labels)

    @property
    def n_missing(self) -> int:
        """Number of missing (suppressed / no data) values."""
        return int((self.index < 0).sum())


def fmt(value: float, decimals: int) -> str:
    """Format a number for a legend: thousands separators, fixed decimals, true minus sign."""
    text = f"{value:,.{decimals}f}"
    return text.replace("-", "\u2212")


def bimodality_coefficient(y: np.ndarray) -> float:
    """Return the sample bimodality coefficient of ``y`` (needs at least 4 values).

    ``BC = (g1**2 + 1) / (g2 + 3 (n-1)**2 / ((n-2)(n-3)))`` with the bias-corrected sample
    skewness ``g1`` and excess kurtosis ``g2``; a uniform distribution gives 5/9.
    """
    n = len(y)
    g1 = float(stats.skew(y, bias=False))
    g2 = float(stats.kurtosis(y, fisher=True, bias=False))
    return (g1**2 + 1) / (g2 + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))


def _is_whole(y: np.ndarray) -> bool:
    return bool(np.all(np.isclose(y, np.round(y))))


def classify(
    values: pd.Series,
    *,
    scheme: str = "auto",
    k: int = 5,
    bins: Sequence[float] | None = None,
    decimals: int = 1,
    rank_total: int | None = None,
    category_labels: Mapping[float, str] | None = None,
    column: str = "",
    pivot: float | None = None,
) -> Classification:
    """Put each value of an indicator in a map class.

    Parameters
    ----------
    values
        The indicator, one value per area; NaN means suppressed / no data.
    scheme
        One of :data:`SCHEMES`; ``"auto"`` follows the rule in the module docstring.
    k
        Number of classes for quantiles, natural breaks and equal intervals (2 to 10).
    bins
        Explicit upper class bounds; overrides ``scheme``. The last bound must be at least the
        largest value.
    decimals
        Decimals shown in class labels.
    rank_total
        Number of areas ranked nationally, for ``rank_deciles``.
    category_labels
        Labels of categorical classes by value (default: the value itself).
    column
        The column's name, used by the ``"auto"`` rule and in messages.
    pivot
        A value that must be a class edge when the values span it (England's 100 for a
        standardised ratio), so no class mixes areas above and below it.

    Returns
    -------
    Classification
        Classes, labels and counts.
    """
    if scheme not in SCHEMES:
        raise ParameterError(f"scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
    if not isinstance(k, int) or isinstance(k, bool) or not 2 <= k <= 10:
        raise ParameterError(f"k: expected an integer from 2 to 10, got {k!r}")
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise InputError(
            f"column {column!r}: expected numbers to classify, got dtype {values.dtype}"
        )
    y_all = values.to_numpy(dtype=float, na_value=np.nan)
    present = np.isfinite(y_all)
    y = y_all[present]
    if len(y) == 0:
        raise InputError(f"column {column!r}: every value is missing; nothing to map")
    lowered = column.lower()
    resolved, note = _resolve_scheme(y, scheme, k, bins, rank_total, lowered)
    if resolved == "categories":
        return _classify_categories(
            y, y_all, present, lowered, note, decimals, category_labels, column
        )
    edges, note = _class_edges(y, resolved, k, bins, rank_total, note, column)
    if pivot is not None and float(y.min()) < pivot < float(y.max()) and pivot not in edges:
        edges = sorted([*edges, float(pivot)])
        note = f"{note} One more break at England's value ({fmt(pivot, 0)}).".strip()
    index = np.full(len(y_all), -1, dtype=np.int64)
    index[present] = np.searchsorted(np.asarray(edges), y, side="left")
    counts = np.bincount(index[present], minlength=len(edges)).tolist()
    labels = _range_labels(y, resolved, edges, decimals)
    return Classification(resolved, index, labels, counts, edges, None, note)


def _resolve_scheme(
    y: np.ndarray,
    scheme: str,
    k: int,
    bins: Sequence[float] | None,
    rank_total: int | None,
    lowered: str,
) -> tuple[str, str]:
    """Return the scheme :func:`classify` uses and its note (empty if not yet decided)."""
    note = ""
    if bins is not None:
        resolved = "user"
    elif scheme != "auto":
        resolved = scheme
    elif ("decile" in lowered or "quintile" in lowered) and _is_whole(y):
        resolved = "categories"
        top = 10 if "decile" in lowered else 5
        note = f"One class per {'decile' if top == 10 else 'quintile'}."
    elif lowered.endswith("_rank"):
        resolved = "rank_deciles" if rank_total else "quantiles"
        note = (
            f"National deciles of rank (1 = first of {rank_total:,})."
            if rank_total
            else f"Quantiles ({k} classes with about the same number of areas each)."
        )
    elif len(np.unique(y)) <= k:
        resolved = "categories"
        note = "One class per distinct value."
    else:
        skew = float(stats.skew(y, bias=False)) if len(y) > 3 else 0.0
        bc = bimodality_coefficient(y) if len(y) > 3 else 0.0
        if abs(skew) > SKEW_THRESHOLD or bc > BIMODALITY_THRESHOLD:
            resolved = "natural_breaks"
            why = f"skewness {skew:.2f}" if abs(skew) > SKEW_THRESHOLD else f"bimodality {bc:.2f}"
            note = f"Natural breaks (Fisher–Jenks, {k} classes): the values are uneven ({why})."
        else:
            resolved = "quantiles"
            note = f"Quantiles ({k} classes with about the same number of areas each)."
    return resolved, note


def _classify_categories(
    y: np.ndarray,
    y_all: np.ndarray,
    present: np.ndarray,
    lowered: str,
    note: str,
    decimals: int,
    category_labels: Mapping[float, str] | None,
    column: str,
) -> Classification:
    """Classify with one class per value (the ``"categories"`` scheme)."""
    if "decile" in lowered and _is_whole(y) and y.min() >= 1 and y.max() <= 10:
        cats = [float(v) for v in range(1, 11)]
    elif "quintile" in lowered and _is_whole(y) and y.min() >= 1 and y.max() <= 5:
        cats = [float(v) for v in range(1, 6)]
    else:
        cats = sorted(float(v) for v in np.unique(y))
    if len(cats) > 12:
        raise ParameterError(
            f"scheme: 'categories' needs at most 12 distinct values, column {column!r} has "
            f"{len(cats)}"
        )
    lookup = {c: i for i, c in enumerate(cats)}
    index = np.full(len(y_all), -1, dtype=np.int64)
    index[present] = [lookup[float(v)] for v in y]
    labels = []
    for c in cats:
        if category_labels is not None and c in category_labels:
            labels.append(category_labels[c])
        else:
            labels.append(fmt(c, 0 if float(c).is_integer() else decimals))
    counts = np.bincount(index[present], minlength=len(cats)).tolist()
    return Classification("categories", index, labels, counts, None, cats,
                          note or "One class per value.")


def _class_edges(
    y: np.ndarray,
    resolved: str,
    k: int,
    bins: Sequence[float] | None,
    rank_total: int | None,
    note: str,
    column: str,
) -> tuple[list[float], str]:
    """Return the upper class bounds of a range scheme and the final note."""
    if resolved == "user":
        edges = [float(b) for b in (bins or [])]
        if not edges or sorted(edges) != edges or len(set(edges)) != len(edges):
            raise ParameterError(f"bins: expected strictly increasing bounds, got {edges}")
        if edges[-1] < y.max():
            raise ParameterError(
                f"bins: the last bound {edges[-1]} is below the largest value {y.max()} of "
                f"column {column!r}"
            )
        note = "Classes set by hand."
    elif resolved == "rank_deciles":
        if not rank_total or rank_total < 10:
            raise ParameterError(
                f"rank_total: 'rank_deciles' needs the national number of ranked areas "
                f"(e.g. 32844), got {rank_total!r}"
            )
        edges = [rank_total * i / 10 for i in range(1, 11)]
        if y.max() > rank_total:
            raise ParameterError(
                f"rank_total: column {column!r} has rank {y.max():.0f} above rank_total "
                f"{rank_total}"
            )
        note = note or f"National deciles of rank (1 = first of {rank_total:,})."
    else:
        edges, extra = _mapclassify_bins(y, resolved, k)
        if not note:
            note = {
                "quantiles": f"Quantiles ({k} classes with about the same number of areas each).",
                "natural_breaks": f"Natural breaks (Fisher–Jenks, {k} classes).",
                "equal_interval": f"Equal intervals ({k} classes).",
            }[resolved]
        note = (note + " " + extra).strip()
    return edges, note


def _range_labels(
    y: np.ndarray, resolved: str, edges: Sequence[float], decimals: int
) -> list[str]:
    """Return the legend label of each range class."""
    labels = []
    lower = float(y.min()) if resolved != "rank_deciles" else 1.0
    label_decimals = 0 if resolved == "rank_deciles" else _distinct_decimals(lower, edges,
                                                                             decimals)
    for i, upper in enumerate(edges):
        lo = lower if i == 0 else edges[i - 1]
        if resolved == "rank_deciles":
            lo_rank = 1 if i == 0 else int(np.floor(edges[i - 1])) + 1
            labels.append(f"Decile {i + 1} (ranks {lo_rank:,}–{int(np.floor(upper)):,})")
        elif lo == upper:  # a class holding a single value (e.g. every zero): say the value
            labels.append(fmt(lo, 0 if float(lo).is_integer() else label_decimals))
        else:
            labels.append(f"{fmt(lo, label_decimals)} – {fmt(upper, label_decimals)}")
    return labels


def _distinct_decimals(lower: float, edges: Sequence[float], decimals: int) -> int:
    """Return the fewest decimals (``decimals`` to 6) that print every class bound apart.

    So no legend class reads "0.1 – 0.1" and no two classes share a printed bound.
    """
    bounds = sorted(set([lower, *edges]))  # a single-value class repeats its bound on purpose
    for d in range(decimals, 7):
        shown = [fmt(b, d) for b in bounds]
        if len(set(shown)) == len(shown) or d == 6:
            return d
    return decimals


def _mapclassify_bins(y: np.ndarray, scheme: str, k: int) -> tuple[list[float], str]:
    """Return upper class bounds from mapclassify and a note about anything it changed."""
    # Imported here: mapclassify compiles its Fisher-Jenks kernel (numba, uncached) at import,
    # seconds that every ``import healthgap.maps`` (and test collection) would otherwise pay.
    import mapclassify
    sample = y
    extra = ""
    if scheme == "natural_breaks" and len(y) > FISHER_JENKS_MAX:
        order = np.sort(y)
        positions = np.linspace(0, len(order) - 1, FISHER_JENKS_MAX).round().astype(int)
        sample = order[positions]
        extra = f"Breaks found on {FISHER_JENKS_MAX:,} evenly spaced order statistics."
    cls = {
        "quantiles": mapclassify.Quantiles,
        "natural_breaks": mapclassify.FisherJenks,
        "equal_interval": mapclassify.EqualInterval,
    }[scheme]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = cls(sample, k=k)
    edges = [float(b) for b in np.unique(fitted.bins)]
    edges[-1] = max(edges[-1], float(y.max()))
    if caught or len(edges) < k:
        extra = (extra + f" Only {len(edges)} classes: the values have too many ties for {k}.")
    return edges, extra.strip()


def palette(n: int, *, cmap: str = "YlGnBu", reverse: bool = False) -> list[str]:
    """Return ``n`` hex colours from a matplotlib colour map, light to dark.

    Parameters
    ----------
    n
        Number of colours.
    cmap
        A matplotlib colour map name (sequential maps such as ``YlGnBu``, ``YlOrRd``,
        ``viridis``).
    reverse
        Dark to light instead.
    """
    try:
        colour_map = matplotlib.colormaps[cmap]
    except KeyError:
        raise ParameterError(f"cmap: unknown matplotlib colour map {cmap!r}") from None
    if n == 1:
        positions = np.array([0.6])
    else:
        positions = np.linspace(0.12, 0.95, n)
    colours = [to_hex(colour_map(float(p))) for p in positions]
    return colours[::-1] if reverse else colours


WORSE_CMAP = "YlOrRd"
"""Colour map of every indicator with a worse end: pale = better, dark red = worse."""

NEUTRAL_CMAP = "YlGnBu"
"""Colour map of indicators where higher is neither better nor worse (counts, population)."""


def grammar_palette(n: int, direction: str) -> list[str]:
    """Return ``n`` class colours in the order of the values (lowest class first).

    The one colour grammar of the atlas: for an indicator whose higher values are worse the
    highest class is dark red; for one whose higher values are better the *lowest* class is dark
    red; neutral indicators use a blue scale with no red in it. So the worse end of every
    indicator is drawn in :data:`WORSE_COLOUR` on every page.

    Parameters
    ----------
    n
        Number of classes.
    direction
        ``"worse"``, ``"better"`` or ``"neutral"`` (what a higher value means; see
        ``geo.indicators.Indicator.direction``).
    """
    if direction == "worse":
        return palette(n, cmap=WORSE_CMAP)
    if direction == "better":
        return palette(n, cmap=WORSE_CMAP, reverse=True)
    if direction == "neutral":
        return palette(n, cmap=NEUTRAL_CMAP)
    raise ParameterError(f"direction: expected 'worse', 'better' or 'neutral', got {direction!r}")


WORSE_COLOUR = palette(2, cmap=WORSE_CMAP)[-1]
"""The colour of the worse end of every indicator with a direction."""
