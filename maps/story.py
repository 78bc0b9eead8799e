"""The story page: the atlas front page, in plain sentences an analyst can paste into a paper.

Every number on the page comes from the frames and tables the build wrote to its GeoPackage
(passed in a :class:`StoryInputs`); each is wrapped in ``<data class="hg-num" data-key=…
value=…>`` with the unrounded value, so a test can check it against the GeoPackage. A paragraph
whose inputs the build did not produce says so ("not computed in this build") instead of
guessing.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from healthgap.maps._classify import WORSE_COLOUR, fmt
from healthgap.maps.charts import _STYLE, _to_svg
from matplotlib.figure import Figure

NOT_COMPUTED = "not computed in this build"
SEXES = ("male", "female")


@dataclass(frozen=True)
class StoryInputs:
    """What the story page reads: the build's own layers and tables.

    Attributes
    ----------
    area_name
        The area's name (e.g. "NHS Frimley ICB").
    level_word
        What the area is, in words ("integrated care system", "local authority").
    msoa
        The ``msoa`` layer (rows inside the area are used), with ``msoa11nm`` and ``le_male`` /
        ``le_female`` where built.
    place
        The ``place`` layer (``lad22nm``, ``le_<sex>_pwmean``).
    system
        The ``system`` layer (one row; ``core20_pop`` / ``core20_share`` where built).
    sii
        The ``model_sii`` table, or None.
    neighbourhood
        The ``neighbourhood`` layer, or None.
    gradient
        The ``model_gradient_vs_england`` table (the steepness verdict), or None.
    england
        England comparators by column, as the build used them.
    notes
        The build's caveats (one sentence each).
    sources
        Data sources (``name``, ``licence``, ``publisher``).
    period
        The data periods in words.
    synthetic
        Demo build.
    """

    area_name: str
    level_word: str
    msoa: pd.DataFrame
    place: pd.DataFrame
    system: pd.DataFrame
    sii: pd.DataFrame | None = None
    neighbourhood: pd.DataFrame | None = None
    gradient: pd.DataFrame | None = None
    england: Mapping[str, float] = field(default_factory=dict)
    notes: Sequence[str] = ()
    sources: Sequence[Mapping[str, Any]] = ()
    period: Sequence[str] = ()
    synthetic: bool = False


def number(key: str, value: float, decimals: int, units: str = "", *, source: str) -> str:
    """Return a number for a sentence, wrapped with its key, unrounded value and source."""
    text = fmt(value, decimals) + (f" {units}" if units else "")
    return (f'<data class="hg-num" data-key="{html.escape(key)}" data-source='
            f'"{html.escape(source)}" value="{float(value)!r}">{html.escape(text)}</data>')


def _esc(v: object) -> str:
    return html.escape(str(v))


def _inside(frame: pd.DataFrame) -> pd.DataFrame:
    if "in_area" in frame.columns:
        return frame[frame["in_area"].astype(bool)]
    return frame


def _missing(title: str, why: str = NOT_COMPUTED) -> str:
    return f'<p class="missing"><b>{_esc(title)}:</b> {_esc(why)}.</p>'


def _paragraph(sentences: list[str], title: str) -> str:
    """Return the sentences as one paragraph, or the "not computed" line for ``title``."""
    return "<p>" + " ".join(sentences) + "</p>" if sentences else _missing(title)


def le_range(s: StoryInputs) -> str:
    """Return the paragraph: the highest and lowest life expectancy of the area's neighbourhoods."""
    msoa = _inside(s.msoa)
    parts = []
    for sex in SEXES:
        col = f"le_{sex}"
        if col not in msoa.columns or msoa[col].notna().sum() < 2:
            continue
        v = msoa[col].dropna()
        lo_code, hi_code = v.idxmin(), v.idxmax()
        name = msoa["msoa11nm"] if "msoa11nm" in msoa.columns else pd.Series(dtype=object)
        lo_name, hi_name = name.get(lo_code, lo_code), name.get(hi_code, hi_code)
        src = "layer:msoa"
        parts.append(
            f"{sex.capitalize()} life expectancy at birth ranges from "
            f"{number(f'{col}_min', v.min(), 1, 'years', source=src)} in {_esc(lo_name)} "
            f"({_esc(lo_code)}) to {number(f'{col}_max', v.max(), 1, 'years', source=src)} in "
            f"{_esc(hi_name)} ({_esc(hi_code)}): a range of "
            f"{number(f'{col}_range', v.max() - v.min(), 1, 'years', source=src)} across "
            f"{number(f'{col}_n', len(v), 0, source=src)} MSOAs (small areas of about 7,500 "
            "people)."
        )
    return _paragraph(parts, "Life-expectancy range")


def _sii_columns(sii: pd.DataFrame) -> tuple[str, str] | None:
    for lo, hi in (("sii_lo", "sii_hi"), ("sii_lci", "sii_uci")):
        if lo in sii.columns and hi in sii.columns:
            return lo, hi
    return None


def _top_rows(sii: pd.DataFrame, level: str) -> pd.DataFrame:
    return sii[sii["level"] == level] if "level" in sii.columns else sii.iloc[0:0]


def inequality(s: StoryInputs) -> str:
    """Return the paragraphs: the gap between deprivation tenths and the SII with CIs."""
    if s.sii is None or not {"sex", "level", "sii"} <= set(s.sii.columns):
        return (_missing("Gap between the most and least deprived tenths")
                + _missing("Slope index of inequality"))
    sii = s.sii
    top = _top_rows(sii, "system")
    england = _top_rows(sii, "england")
    bounds = _sii_columns(sii)
    gaps, slopes = [], []
    for sex in SEXES:
        row = top[top["sex"] == sex]
        if row.empty:
            continue
        r = row.iloc[0]
        src = "table:model_sii"
        if "gap" in sii.columns and pd.notna(r["gap"]):
            n = int(r["quantiles"]) if "quantiles" in sii.columns and pd.notna(
                r["quantiles"]) else 10
            part = "tenths" if n == 10 else "fifths" if n == 5 else f"{n} groups"
            if {"gap_lo", "gap_hi"} <= set(sii.columns) and pd.notna(r["gap_lo"]):
                interval = (f"95% interval "
                            f"{number(f'gap_{sex}_lo', r['gap_lo'], 1, source=src)} to "
                            f"{number(f'gap_{sex}_hi', r['gap_hi'], 1, source=src)}")
            else:
                interval = "no interval is given for this gap"
            gaps.append(
                f"{sex.capitalize()} life expectancy is "
                f"{number(f'gap_{sex}', r['gap'], 1, 'years', source=src)} lower in the most "
                f"deprived {part[:-1] if part.endswith('s') else part} of MSOAs than in "
                f"the least deprived (deprivation {part} by population; {interval})."
            )
        text = (f"The slope index of inequality in {sex} life expectancy is "
                f"{number(f'sii_{sex}', r['sii'], 1, 'years', source=src)}")
        if bounds and pd.notna(r[bounds[0]]) and pd.notna(r[bounds[1]]):
            text += (f" (95% confidence interval "
                     f"{number(f'sii_{sex}_lo', r[bounds[0]], 1, source=src)} to "
                     f"{number(f'sii_{sex}_hi', r[bounds[1]], 1, source=src)})")
        else:
            text += " (the model gives no interval)"
        text += ": the modelled gap between the most and the least deprived ends of the area."
        text += _against_england(england, sex, r, bounds, s.gradient)
        slopes.append(text)
    return (_paragraph(gaps, "Gap between the most and least deprived tenths")
            + _paragraph(slopes, "Slope index of inequality"))


def _against_england(england: pd.DataFrame, sex: str, r: pd.Series,
                     bounds: tuple[str, str] | None, gradient: pd.DataFrame | None) -> str:
    e = england[england["sex"] == sex] if len(england) else england
    if e.empty:
        return " England's slope index is " + NOT_COMPUTED + "."
    er = e.iloc[0]
    src = "table:model_sii"
    text = f" For England it is {number(f'sii_{sex}_england', er['sii'], 1, 'years', source=src)}"
    if bounds and all(pd.notna(x) for x in (er[bounds[0]], er[bounds[1]])):
        text += (f" ({number(f'sii_{sex}_england_lo', er[bounds[0]], 1, source=src)} to "
                 f"{number(f'sii_{sex}_england_hi', er[bounds[1]], 1, source=src)})")
    return text + ". " + _steepness(gradient, sex)


def _steepness(gradient: pd.DataFrame | None, sex: str) -> str:
    """Return the SII-is-not-a-ranking sentence and the steepness verdict (geo.verdicts)."""
    from healthgap.geo.england import SII_NOT_A_RANKING
    from healthgap.geo.verdicts import steepness_verdict

    text = SII_NOT_A_RANKING
    g = (gradient[(gradient["sex"] == sex) & (gradient["level"] == "system")]
         if gradient is not None and {"sex", "level"} <= set(gradient.columns) else None)
    if g is None or g.empty:
        return text + " That gradient comparison is " + NOT_COMPUTED + "."
    r = g.iloc[0]
    src = "table:model_gradient_vs_england"
    v = steepness_verdict(float(r["difference"]), float(r["difference_lo"]),
                          float(r["difference_hi"]), sex=sex)
    eng = number(f"gradient_{sex}_england", r["england_le_drop_per_10_imd"], 2, "years",
                 source=src)
    return (f"{text} Life expectancy falls "
            f"{number(f'gradient_{sex}', r['le_drop_per_10_imd'], 2, 'years', source=src)} per "
            f"10 IMD points here and {eng} in England over the same IMD range "
            f"({number(f'imd_min_{sex}', r['imd_min'], 1, source=src)} to "
            f"{number(f'imd_max_{sex}', r['imd_max'], 1, source=src)}). {_esc(v.sentence)}")


def compare_intervals(a: tuple[float, float], b: tuple[float, float]) -> str:
    """Return "higher", "lower" or "similar": whether interval ``a`` lies wholly above/below ``b``.

    A conservative test (non-overlap of two 95% intervals), as Fingertips does for its
    "similar / better / worse" comparisons against a benchmark with its own interval.
    """
    if a[0] > b[1]:
        return "higher"
    if a[1] < b[0]:
        return "lower"
    return "similar"


def core20(s: StoryInputs) -> str:
    """Return the paragraph: how many people live in Core20 neighbourhoods."""
    sysrow = s.system
    if sysrow.empty or not {"core20_pop", "core20_share"} <= set(sysrow.columns):
        return _missing("Core20 population")
    r = sysrow.iloc[0]
    src = "layer:system"
    text = (f"{number('core20_pop', r['core20_pop'], 0, source=src)} people, "
            f"{number('core20_share', 100 * r['core20_share'], 1, '%', source=src)} of the "
            f"{_esc(s.level_word)}'s population, live in Core20 LSOAs (the most "
            "deprived fifth of England by IMD 2019)")
    if "core20_share" in s.england:
        eng = number("core20_share_england", 100 * s.england["core20_share"], 1, "%",
                     source="comparator")
        text += f", against {eng} for England"
    return f"<p>{text}.</p>"


def places_chart(s: StoryInputs) -> str:
    """Return a ranked bar chart of places' life expectancy, with a table as its text."""
    place = s.place
    cols = [c for c in (f"le_{sex}_pwmean" for sex in SEXES) if c in place.columns]
    if not cols or place[cols].notna().sum().max() == 0 or "lad22nm" not in place.columns:
        return _missing("Places ranked by life expectancy")
    order = place.sort_values(cols[0])
    names = [str(n) for n in order["lad22nm"]]
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        fig = Figure(figsize=(6.4, 0.5 + 0.42 * len(order) * len(cols)))
        ax = fig.add_subplot()
        y = np.arange(len(order))
        height = 0.8 / len(cols)
        shades = ("#08519c", "#6baed6")
        for i, col in enumerate(cols):
            ax.barh(y + i * height, order[col].to_numpy(dtype=float), height=height,
                    color=shades[i % 2], label=col.split("_")[1].capitalize())
        lo = float(np.nanmin(order[cols].to_numpy(dtype=float)))
        ax.set_xlim(math.floor(lo) - 2, None)
        ax.set_yticks(y + height * (len(cols) - 1) / 2, names)
        ax.set_xlabel("Life expectancy at birth (years)")
        ax.legend(frameon=False, loc="lower right")
        svg = _to_svg(fig, salt="story:places")
    rows = "".join(
        "<tr><td>" + _esc(n) + "</td>" + "".join(
            "<td>" + (number(f"place_{code}_{c}", r[c], 1, source="layer:place")
                      if pd.notna(r[c]) else "no value") + "</td>" for c in cols) + "</tr>"
        for n, (code, r) in zip(names, order.iterrows(), strict=True)
    )
    head = "".join(f"<th>{c.split('_')[1].capitalize()} life expectancy (years)</th>"
                   for c in cols)
    alt = (f"Bar chart of {len(order)} places ranked by male life expectancy; the same figures "
           "are in the table below.")
    return (f'<figure><div role="img" aria-label="{_esc(alt)}">{svg}</div>'
            f"<figcaption>Places ranked by life expectancy (population-weighted mean of their "
            f"MSOAs). {_esc(alt)}</figcaption></figure>"
            f"<table><thead><tr><th>Place</th>{head}</tr></thead><tbody>{rows}</tbody></table>")


def _lowest_items(frame: pd.DataFrame, n: int, *, column: str, name_col: str, level: str,
                  key: str, with_code: bool) -> list[str]:
    """Return one list item per sex naming the ``n`` areas of ``frame`` with the lowest value."""
    items = []
    for sex in SEXES:
        col = column.format(sex=sex)
        if col not in frame.columns or frame[col].notna().sum() == 0:
            continue
        worst = frame[col].dropna().sort_values(kind="stable").head(n)
        names = frame[name_col] if name_col in frame.columns else pd.Series(dtype=object)
        listed = "; ".join(
            f"{_esc(names.get(code, code))}" + (f" ({_esc(code)})" if with_code else "") + " "
            + number(f"{key}_{sex}_{code}", v, 1, "years", source=f"layer:{level}")
            for code, v in worst.items())
        items.append(f"<li>{sex.capitalize()}: {listed}.</li>")
    return items


def lowest(s: StoryInputs, n: int = 5) -> str:
    """Return the paragraph: the MSOAs and neighbourhoods with the lowest life expectancy."""
    items = _lowest_items(_inside(s.msoa), n, column="le_{sex}", name_col="msoa11nm",
                          level="msoa", key="lowest", with_code=True)
    if not items:
        return _missing("Neighbourhoods with the lowest life expectancy")
    text = (f"<p>The {n} MSOAs (small areas of about 7,500 people) with the lowest life "
            f"expectancy:</p><ul>{''.join(items)}</ul>")
    nb = s.neighbourhood
    if nb is not None and len(nb):
        nb = _inside(nb)
        nb_items = _lowest_items(nb, n, column="le_{sex}_pwmean", name_col="nbhd_nm",
                                 level="neighbourhood", key="lowest_nbhd", with_code=False)
        if nb_items:
            text += (f"<p>The {min(n, len(nb))} neighbourhoods (30-50k people) with the lowest "
                     "life expectancy (population-weighted mean of their MSOAs, an "
                     f"approximation):</p><ul>{''.join(nb_items)}</ul>")
    return text


def versus_england(s: StoryInputs) -> str:
    """Return the paragraph: better / similar / worse than England where an interval exists."""
    msoa = _inside(s.msoa)
    out = []
    for sex in SEXES:
        col = f"le_{sex}"
        if col not in msoa.columns or col not in s.england:
            continue
        ci = next(((lo, hi) for lo, hi in ((f"{col}_lo", f"{col}_hi"),
                                            (f"{col}_lci", f"{col}_uci"))
                   if lo in msoa.columns and hi in msoa.columns), None)
        eng = number(f"{col}_england", s.england[col], 1, "years", source="comparator")
        if ci is None:
            out.append(f"England's {sex} life expectancy is {eng} (a population-weighted mean "
                       "of MSOAs). The source gives no confidence interval for the "
                       "MSOA figures in this build, so no MSOA is called better or worse than "
                       "England.")
            continue
        lo, hi = msoa[ci[0]], msoa[ci[1]]
        has = lo.notna() & hi.notna()
        better = int((lo[has] > s.england[col]).sum())
        worse = int((hi[has] < s.england[col]).sum())
        similar = int(has.sum()) - better - worse
        src = "layer:msoa"
        out.append(
            f"Against England's {sex} life expectancy of {eng}, "
            f"{number(f'{col}_worse', worse, 0, source=src)} MSOAs are significantly "
            f"worse (95% interval wholly below), {number(f'{col}_better', better, 0, source=src)}"
            f" significantly better and {number(f'{col}_similar', similar, 0, source=src)} "
            "similar."
        )
    return _paragraph(out, "Comparison with England")


def caveats(s: StoryInputs) -> str:
    """Return the build's caveats as sentences."""
    fixed = [
        "These are area averages: they describe places, not the people in them.",
        "Life expectancy is published for MSOAs (about 7,500 residents); small-area figures "
        "move from year to year, so single MSOAs should not be over-read.",
    ]
    notes = [_sentence(n) for n in s.notes if str(n).strip()]
    items = "".join(f"<li>{_esc(t)}</li>" for t in [*fixed, *notes])
    return f"<ul>{items}</ul>"


def _sentence(text: object) -> str:
    t = str(text).strip()
    t = t[:1].upper() + t[1:]
    return t if t.endswith((".", "!", "?")) else t + "."


def story_html(s: StoryInputs) -> str:
    """Return the story sections (HTML) for the top of the atlas front page."""
    period = "; ".join(s.period) or NOT_COMPUTED
    sources = "".join(
        f"<li>{_esc(src.get('name', ''))}"
        + (f", {_esc(src['publisher'])}" if src.get("publisher") else "")
        + f" ({_esc(src.get('licence', ''))})</li>"
        for src in s.sources
    )
    return (
        f'<section class="story" aria-labelledby="story-h"><h2 id="story-h">The story in '
        f"numbers</h2>"
        f"<h3>How long people live</h3>{le_range(s)}"
        f"<h3>The gap by deprivation</h3>{inequality(s)}"
        f"<h3>Core20</h3>{core20(s)}"
        f"<h3>Places</h3>{places_chart(s)}"
        f"<h3>Lowest life expectancy</h3>{lowest(s)}"
        f"<h3>Compared with England</h3>{versus_england(s)}"
        f"<h3>Caveats</h3>{caveats(s)}"
        f"<h3>Data period and sources</h3><p>{_esc(period)}.</p><ul>{sources}</ul>"
        f'<p class="note">Every figure above is read from this build\'s GeoPackage '
        f"(healthgap.gpkg); the worse end of every map is drawn in dark red "
        f'<span class="sw" style="background:{WORSE_COLOUR}"></span>.</p></section>'
    )
