"""The England-relative view: each area coloured by how far it is from England's value.

The area-relative choropleth paints every area on a scale of its own area, so an area where
every small area is better than England still has a dark-red "worse" end. This view uses fixed
classes about England's value (life expectancy in years above or below England; standardised
ratios about 100), the worse side in reds ending in the atlas's worse colour, the better side in
blues, and says "significantly different from England" only where the area's interval lies
wholly on one side (otherwise that no interval was published, so no verdict is drawn).
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo.indicators import Indicator
from healthgap.maps import _layers
from healthgap.maps._classify import WORSE_COLOUR, fmt
from healthgap.maps._layers import DEFAULT_PAGE, AtlasMap, PageOptions
from healthgap.maps._verdicts import level_verdict
from healthgap.maps.choropleth import MISSING_LABEL, legend_title

from healthgap.errors import ParameterError

WORSE_SIDE = (WORSE_COLOUR, "#f4a582")
"""Fills of the far and near classes on England's worse side (far = the atlas's worse red)."""
BETTER_SIDE = ("#2166ac", "#92c5de")
"""Fills of the far and near classes on England's better side."""
SIMILAR = "#f7f7f7"

LE_STEPS = (1.0, 3.0)
"""Class edges of life expectancy, in years either side of England's value."""
RATIO_STEPS = (5.0, 20.0)
"""Class edges of a standardised ratio, in points either side of 100."""


def _steps(ind: Indicator) -> tuple[float, float]:
    return RATIO_STEPS if "ratio" in ind.units.lower() or ind.name.startswith(
        ("smr_", "sar_")) else LE_STEPS


def relative_classes(diff: np.ndarray, steps: tuple[float, float],
                     higher_is_worse: bool) -> np.ndarray:
    """Return the class of each difference from England: 0 far worse … 4 far better, -1 missing.

    Parameters
    ----------
    diff
        Value minus England's value.
    steps
        The near and far edges (e.g. 1 and 3 years); a difference within the near edge either
        side is "similar to England" (class 2).
    higher_is_worse
        Whether a positive difference is the worse side.
    """
    near, far = steps
    worse = diff if higher_is_worse else -diff
    out = np.full(len(diff), -1, dtype=np.int64)
    ok = np.isfinite(diff)
    w = worse[ok]
    out[ok] = np.select([w > far, w > near, w >= -near, w >= -far], [0, 1, 2, 3], default=4)
    return out


def _labels(ind: Indicator, steps: tuple[float, float], england: float) -> list[str]:
    near, far = steps
    ratio = steps == RATIO_STEPS
    unit = "" if ratio else " years"
    up, down = ("above", "below")
    worse_word, better_word = (up, down) if ind.direction == "worse" else (down, up)

    def side(a: float, b: float | None, word: str) -> str:
        if ratio:
            lo = england + a if word == up else england - a
            hi = None if b is None else (england + b if word == up else england - b)
            rng = (f"over {fmt(lo, 0)}" if hi is None and word == up else
                   f"under {fmt(lo, 0)}" if hi is None else
                   f"{fmt(min(lo, hi), 0)}–{fmt(max(lo, hi), 0)}")
            return f"{rng} ({word} England's 100)"
        if b is None:
            return f"more than {fmt(a, 0)}{unit} {word} England"
        return f"{fmt(a, 0)} to {fmt(b, 0)}{unit} {word} England"

    similar = (f"{fmt(england - near, 0)}–{fmt(england + near, 0)} (about England's 100)"
               if ratio else f"within {fmt(near, 0)} year of England")
    return [side(far, None, worse_word), side(near, far, worse_word), similar,
            side(near, far, better_word), side(far, None, better_word)]


def england_relative_map(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    indicator: Indicator,
    england: float,
    ci: tuple[str, str] | None = None,
    name_col: str | None = "auto",
    steps: Sequence[float] | None = None,
    page: PageOptions = DEFAULT_PAGE,
) -> AtlasMap:
    """Map an indicator as its difference from England's value, on fixed diverging classes.

    Parameters
    ----------
    gdf
        Areas with ``column`` (and the ``ci`` columns when given).
    column
        Life expectancy or a standardised ratio.
    indicator
        Its catalogue entry (direction, words, units).
    england
        England's value (100 for a standardised ratio).
    ci
        ``(lower, upper)`` columns of the 95% interval, when the build has them; only then is
        an area called significantly different from England.
    steps
        Near and far class edges either side of England (default 1 and 3 years for life
        expectancy, 5 and 20 points for ratios).
    name_col, page
        As for every builder (:mod:`healthgap.maps`); the default title is "<indicator>
        compared with England".
    """
    page = _layers.check_options(page)
    if indicator.direction == "neutral":
        raise ParameterError(f"indicator {indicator.name!r}: a neutral indicator has no worse "
                             "side to compare with England")
    what = f"England-relative map of {column!r}"
    areas = _layers.areas_to_draw(gdf, what=what, columns=[column, *(ci or ())], name_col=name_col)
    gdf = areas.gdf
    edges = tuple(float(x) for x in steps) if steps is not None else _steps(indicator)
    if len(edges) != 2 or not 0 < edges[0] < edges[1]:
        raise ParameterError(f"steps: expected two increasing positive edges, got {steps!r}")
    near_far = (edges[0], edges[1])
    values = gdf[column].to_numpy(dtype=float, na_value=np.nan)
    diff = values - float(england)
    cls = relative_classes(diff, near_far, indicator.direction == "worse")
    labels = _labels(indicator, near_far, float(england))
    colours = [WORSE_SIDE[0], WORSE_SIDE[1], SIMILAR, BETTER_SIDE[1], BETTER_SIDE[0]]
    verdicts: list[str | None] = []
    for i, code in enumerate(gdf.index):
        if not np.isfinite(values[i]):
            verdicts.append(None)
            continue
        interval = None
        if ci is not None and pd.notna(gdf.at[code, ci[0]]) and pd.notna(gdf.at[code, ci[1]]):
            interval = (float(gdf.at[code, ci[0]]), float(gdf.at[code, ci[1]]))
        verdicts.append(level_verdict(values[i], float(england), interval))
    dec = 0 if near_far == RATIO_STEPS else 1
    columns = areas.columns() | {"v": _layers.clean(gdf[column], 1),
                                 "d": _layers.clean(pd.Series(diff), 1), "c": cls.tolist(),
                                 "s": verdicts}
    units = indicator.units
    rows = [{"label": indicator.label, "key": "v", "dec": 1, "units": units},
            {"label": "Difference from England", "key": "d", "dec": 1, "units": units},
            {"label": "Against England", "key": "s"}]
    tip = areas.tip(missing=MISSING_LABEL, rows=rows,
                    extra=[f"England: {fmt(float(england), dec)} {units}".strip()])
    title = f"{indicator.label} compared with England"
    m = page.new_map(default_title=title, n_features=len(gdf), osm=indicator.uses_osm)
    _, canvas = _layers.draw_classes(m, gdf, columns=columns, colours=colours,
                                     class_labels=labels, tip=tip,
                                     name=f"{indicator.label}: difference from England",
                                     page=page,
                                     meta={"relative_to": "England", "england": float(england)})
    counts = [int((cls == k).sum()) for k in range(5)]
    legend_rows = [_layers.swatch_row(lab, c, count=n)
                   for lab, c, n in zip(labels, colours, counts, strict=True)]
    legend_rows += _layers.missing_row(MISSING_LABEL, int((cls < 0).sum()), canvas)
    has_ci = ci is not None
    notes = [
        f"Coloured by the difference from England ({fmt(float(england), dec)} {units}), on the "
        "same classes for every area: dark red is worse than England, blue better.".replace(
            "  ", " "),
        ("An area is called significantly different from England only where its 95% interval "
         "lies wholly on one side (see each tooltip)." if has_ci else
         "The source gives no interval for these figures, so no area is called significantly "
         "different from England: the colours show the size of the difference only."),
    ]
    page.finish(m, legend_title=legend_title(indicator) + ": compared with England",
                rows=legend_rows, notes=notes, subtitle="")
    return m
