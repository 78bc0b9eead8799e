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
        The ``msoa`` layer (rows inside the area are used), with ``msoa_name`` and ``le_male`` /
        ``le_female`` where built.
    place
        The ``place`` layer (``place_name``, ``le_<sex>_pwmean``).
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
    sii_vs_england
        The ``model_sii_vs_england`` table (each area's SII against England's, same method,
        with the difference's interval), or None.
    place_population
        Residents of each whole local authority (by ``place_code``), to label the places only
        partly inside the area; empty when unknown.
    ons_reference
        ONS's published England SII (``sii_male``, ``sii_female``, ``period``), from
        :data:`healthgap.geo.england.ONS_REFERENCE`.
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
    sii_vs_england: pd.DataFrame | None = None
    place_population: Mapping[str, float] = field(default_factory=dict)
    ons_reference: Mapping[str, Any] = field(default_factory=dict)


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
    """Return the paragraph: the highest and lowest life expectancy of the area's small areas."""
    msoa = _inside(s.msoa)
    parts = []
    for sex in SEXES:
        col = f"le_{sex}"
        if col not in msoa.columns or msoa[col].notna().sum() < 2:
            continue
        v = msoa[col].dropna()
        lo_code, hi_code = v.idxmin(), v.idxmax()
        name = msoa["msoa_name"] if "msoa_name" in msoa.columns else pd.Series(dtype=object)
        lo_name, hi_name = name.get(lo_code, lo_code), name.get(hi_code, hi_code)
        src = "layer:msoa"
        parts.append(
            f"{sex.capitalize()} life expectancy at birth ranges from "
            f"{number(f'{col}_min', v.min(), 1, 'years', source=src)} in {_esc(lo_name)} "
            f"({_esc(lo_code)}) to {number(f'{col}_max', v.max(), 1, 'years', source=src)} in "
            f"{_esc(hi_name)} ({_esc(hi_code)}): a range of "
            f"{number(f'{col}_range', v.max() - v.min(), 1, 'years', source=src)} across "
            f"{number(f'{col}_n', len(v), 0, source=src)} small areas (MSOAs of about 7,500 "
            f"people), {_esc(_period(s, 'le_male'))}; single small-area figures carry wide "
            "intervals that the source does not publish."
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
                f"deprived {part[:-1] if part.endswith('s') else part} of small areas (MSOAs) "
                f"than in the least deprived (deprivation {part} by population; {interval})."
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
    text = (" England's, worked out the same way from MSOAs, is "
            f"{number(f'sii_{sex}_england', er['sii'], 1, 'years', source=src)}")
    if bounds and pd.notna(er[bounds[0]]) and pd.notna(er[bounds[1]]):
        text += (f" ({number(f'sii_{sex}_england_lo', er[bounds[0]], 1, source=src)} to "
                 f"{number(f'sii_{sex}_england_hi', er[bounds[1]], 1, source=src)})")
    return (text + " (ONS's published figure is not comparable: see the table below). "
            + _steepness(gradient, sex))


def _steepness(gradient: pd.DataFrame | None, sex: str) -> str:
    """Return the SII-is-not-a-ranking sentence and the steepness verdict (geo.verdicts)."""
    from healthgap.geo.england import SII_NOT_A_RANKING

    text = SII_NOT_A_RANKING
    r = _gradient_row(gradient, sex)
    if r is None:
        return text + " That gradient comparison is " + NOT_COMPUTED + "."
    src = "table:model_gradient_vs_england"
    eng = number(f"gradient_{sex}_england", r["england_le_drop_per_10_imd"], 2, "years",
                 source=src)
    return (f"{text} Life expectancy falls "
            f"{number(f'gradient_{sex}', r['le_drop_per_10_imd'], 2, 'years', source=src)} per "
            f"10 IMD points here and {eng} in England over the same IMD range "
            f"({number(f'imd_min_{sex}', r['imd_min'], 1, source=src)} to "
            f"{number(f'imd_max_{sex}', r['imd_max'], 1, source=src)}). "
            f"{_esc(_steepness_sentence(r, sex))}")


def _gradient_row(gradient: pd.DataFrame | None, sex: str) -> pd.Series | None:
    """Return the system row of ``model_gradient_vs_england`` for ``sex``, if built."""
    if gradient is None or not {"sex", "level"} <= set(gradient.columns):
        return None
    g = gradient[(gradient["sex"] == sex) & (gradient["level"] == "system")]
    return None if g.empty else g.iloc[0]


def _steepness_sentence(r: pd.Series, sex: str) -> str:
    """Return the steepness verdict (`healthgap.geo.verdicts.steepness_verdict`) of a row."""
    from healthgap.geo.verdicts import steepness_verdict

    return steepness_verdict(float(r["difference"]), float(r["difference_lo"]),
                             float(r["difference_hi"]), sex=sex).sentence


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
    """Return the paragraph: how many people live in Core20 LSOAs."""
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
    if not cols or place[cols].notna().sum().max() == 0 or "place_name" not in place.columns:
        return _missing("Places ranked by life expectancy")
    order = place.sort_values(cols[0])
    pop = order["population"] if "population" in order.columns else None
    names = [place_label(str(n), str(code),
                         float(pop[code]) if pop is not None and pd.notna(pop[code]) else None,
                         s.place_population.get(str(code)))
             for code, n in order["place_name"].items()]
    parts = sum(1 for n in names if "(part:" in n)
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
    part_note = (f" {parts} of them are only partly inside the area: their figures cover the "
                 "residents inside only, not the whole local authority." if parts else "")
    return (f'<figure><div role="img" aria-label="{_esc(alt)}">{svg}</div>'
            f"<figcaption>Places ranked by life expectancy (population-weighted mean of their "
            f"MSOAs, {_esc(_period(s, 'le_male'))}; the source gives no interval for these "
            f"means). {_esc(alt)}{_esc(part_note)}</figcaption></figure>"
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
    """Return the paragraph: the small areas and neighbourhoods with the lowest life expectancy."""
    items = _lowest_items(_inside(s.msoa), n, column="le_{sex}", name_col="msoa_name",
                          level="msoa", key="lowest", with_code=True)
    if not items:
        return _missing("Small areas with the lowest life expectancy")
    text = (f"<p>The {n} small areas (MSOAs of about 7,500 people) with the lowest life "
            f"expectancy, {_esc(_period(s, 'le_male'))}:</p><ul>{''.join(items)}</ul>")
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
                       "of MSOAs). The source gives no interval for the small-area figures in "
                       "this build, so no small area is called significantly better or worse "
                       "than England.")
            continue
        lo, hi = msoa[ci[0]], msoa[ci[1]]
        has = lo.notna() & hi.notna()
        better = int((lo[has] > s.england[col]).sum())
        worse = int((hi[has] < s.england[col]).sum())
        similar = int(has.sum()) - better - worse
        src = "layer:msoa"
        out.append(
            f"Against England's {sex} life expectancy of {eng}, "
            f"{number(f'{col}_worse', worse, 0, source=src)} small areas are significantly "
            f"worse (95% interval wholly below), {number(f'{col}_better', better, 0, source=src)}"
            f" significantly better and {number(f'{col}_similar', similar, 0, source=src)} "
            "similar."
        )
    return _paragraph(out, "Comparison with England")


#: How the note of a build from incomplete inputs begins (`healthgap.data.contracts.note`).
INCOMPLETE_NOTE = "Built from incomplete inputs"


def caveats(s: StoryInputs) -> str:
    """Return the caveats in plain English; the build's technical notes go to the run page."""
    msoa = _inside(s.msoa)
    items = [
        "These are averages for areas: they describe places, not the people in them.",
        "Life expectancy is published for small areas (MSOAs, about 7,500 residents) without "
        "intervals; a single small area's figure moves from year to year, so do not read much "
        "into one.",
        "Life expectancy for places and the whole area is the population-weighted average of "
        "their small areas: an approximation, not a life table.",
    ]
    if "le_male" in msoa.columns:
        gone = int(msoa["le_male"].isna().sum())
        if gone:
            items.append(f"{gone} small area(s) have no published male life expectancy (too few "
                         "deaths to publish); they are hatched on the maps and left out of the "
                         "figures.")
    if "share_in_area" in msoa.columns:
        split = int((msoa["share_in_area"].astype(float) < 0.999).sum())
        if split:
            items.append(f"{split} small area(s) straddle the area's boundary; each counts with "
                         "the residents who live inside.")
    place = s.place
    if "population" in place.columns and s.place_population:
        parts = [str(n) for code, n in place.get("place_name", pd.Series(dtype=object)).items()
                 if "(part:" in place_label(str(n), str(code), float(place["population"][code]),
                                            s.place_population.get(str(code)))]
        if parts:
            items.append(f"{len(parts)} local authorit{'y is' if len(parts) == 1 else 'ies are'}"
                         f" only partly inside the area ({', '.join(parts)}): figures for "
                         f"{'it' if len(parts) == 1 else 'them'} cover the part inside only.")
    # a build from incomplete inputs (--allow-incomplete, issue #28) says so among the caveats
    items += [_sentence(n) for n in s.notes if str(n).startswith(INCOMPLETE_NOTE)]
    n_notes = sum(1 for n in s.notes if str(n).strip())
    if n_notes:
        items.append(f"The build recorded {n_notes} technical note(s) (joins, suppressed values, "
                     "models not fitted); they are listed on the "
                     '<a href="manifest.html">run details</a> page.')
    return "<ul>" + "".join(f"<li>{t if 'href=' in t else _esc(t)}</li>" for t in items) + "</ul>"


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
        at_a_glance(s)
        + f'<section class="story" aria-labelledby="story-h"><h2 id="story-h">The story in '
        f"numbers</h2>"
        f"<h3>Compared with England</h3>{versus_england(s)}{england_sii(s)}"
        f"<h3>How long people live</h3>{le_range(s)}"
        f"<h3>The gap by deprivation</h3>{inequality(s)}"
        f"<h3>Core20</h3>{core20(s)}"
        f"<h3>Places</h3>{places_chart(s)}"
        f"<h3>Lowest life expectancy</h3>{lowest(s)}"
        f"<h3>Caveats</h3>{caveats(s)}"
        f"<h3>Data period and sources</h3><p>{_esc(period)}.</p><ul>{sources}</ul>"
        f'<p class="note">Every figure above is read from this build\'s GeoPackage '
        f"(healthgap.gpkg); the worse end of every map is drawn in dark red "
        f'<span class="sw" style="background:{WORSE_COLOUR}"></span>. Words used here are '
        'explained in the <a href="glossary.html">glossary</a>.</p></section>'
    )


# --------------------------------------------------------------------------------------------
# the at-a-glance panel, the England comparison, fragments, caveats (issue #24)
# --------------------------------------------------------------------------------------------

ONS_REASON = (
    "ONS's figure is larger because it groups people by the deprivation of their own LSOA "
    "(about 1,500 residents), while life expectancy here is published only for MSOAs (about "
    "7,500 residents), which mix richer and poorer streets and so narrow the gap: compare this "
    "area with England's figure worked out the same way, not with ONS's."
)
"""The one plain sentence why our England SII differs from ONS's published one."""


def _period(s: StoryInputs, *keys: str) -> str:
    from healthgap.geo.indicators import describe

    return ", ".join(f"{w} {describe(k).period}" for w, k in
                     (("life expectancy", "le_male"), ("deprivation", "imd_score"),
                      ("population", "population")) if k in keys and describe(k).period)


def _sii_rows(s: StoryInputs, sex: str) -> tuple[pd.Series | None, pd.Series | None,
                                                  pd.Series | None]:
    """Return the area's and England's ``model_sii`` rows and the ``vs England`` row."""
    if s.sii is None or not {"sex", "level", "sii"} <= set(s.sii.columns):
        return None, None, None
    top = _top_rows(s.sii, "system")
    eng = _top_rows(s.sii, "england")
    a = top[top["sex"] == sex]
    e = eng[eng["sex"] == sex]
    vs = None
    t = s.sii_vs_england
    if t is not None and {"sex", "level", "sii_difference"} <= set(t.columns):
        v = t[(t["sex"] == sex) & (t["level"] == "system")]
        vs = v.iloc[0] if len(v) else None
    return (a.iloc[0] if len(a) else None), (e.iloc[0] if len(e) else None), vs


def _interval(row: pd.Series, key: str, lo: str, hi: str, src: str) -> str:
    if lo in row.index and hi in row.index and pd.notna(row[lo]) and pd.notna(row[hi]):
        return (f"95% interval {number(f'{key}_lo', row[lo], 1, source=src)} to "
                f"{number(f'{key}_hi', row[hi], 1, source=src)}")
    return "the model gives no interval"


def _card(what: str, value: str, period: str, interval: str, comparator: str,
          key: str) -> str:
    return (f'<div class="fig" data-figure="{_esc(key)}"><p class="what">{_esc(what)}</p>'
            f'<p class="val">{value}</p><dl><dt>Period</dt><dd>{_esc(period)}</dd>'
            f"<dt>Interval</dt><dd>{interval}</dd><dt>Compared with</dt><dd>{comparator}</dd>"
            "</dl></div>")


def _le_card(s: StoryInputs, sex: str) -> str:
    from healthgap.maps._verdicts import level_verdict

    col = f"le_{sex}_pwmean"
    what = f"Life expectancy at birth, {'men' if sex == 'male' else 'women'}"
    period = _period(s, "le_male")
    if s.system.empty or col not in s.system.columns or pd.isna(s.system[col].iloc[0]):
        return _card(what, NOT_COMPUTED, period, "—", "—", f"le_{sex}")
    v = float(s.system[col].iloc[0])
    value = number(f"le_{sex}_system", v, 1, "years", source="layer:system")
    interval = ("none: the source gives no interval (a population-weighted mean of small-area "
                "figures, an approximation)")
    eng = s.england.get(f"le_{sex}")
    if eng is None:
        comparator = "England's figure is " + NOT_COMPUTED
    else:
        diff = v - float(eng)
        comparator = (f"England {number(f'le_{sex}_england', eng, 1, 'years', source='comparator')}"
                      f" (same method): {fmt(abs(diff), 1)} years "
                      f"{'higher' if diff >= 0 else 'lower'}; "
                      f"{_esc(level_verdict(v, float(eng), None))}")
    return _card(what, value, period, interval, comparator, f"le_{sex}")


def _sii_card(s: StoryInputs, sex: str) -> str:
    from healthgap.maps._verdicts import sii_verdict

    a, e, vs = _sii_rows(s, sex)
    what = (f"Gap by deprivation, {'men' if sex == 'male' else 'women'} (slope index of "
            "inequality)")
    period = _period(s, "le_male", "imd_score")
    if a is None:
        return _card(what, NOT_COMPUTED, period, "—", "—", f"sii_{sex}")
    src = "table:model_sii"
    bounds = _sii_columns(s.sii) if s.sii is not None else None
    value = number(f"sii_{sex}", a["sii"], 1, "years", source=src)
    interval = _interval(a, f"sii_{sex}", *(bounds or ("sii_lo", "sii_hi")), src)
    if e is None:
        comparator = "England's figure is " + NOT_COMPUTED
    else:
        comparator = (f"England, same method, "
                      f"{number(f'sii_{sex}_england', e['sii'], 1, 'years', source=src)}")
        if vs is not None:
            vsrc = "table:model_sii_vs_england"
            d = vs["sii_difference"]
            comparator += (f": difference "
                           f"{number(f'sii_{sex}_difference', d, 1, 'years', source=vsrc)} "
                           f"({_interval(vs, f'sii_{sex}_difference', 'sii_difference_lo', 'sii_difference_hi', vsrc)}), "  # noqa: E501
                           + _esc(sii_verdict(d, vs.get("sii_difference_lo"),
                                              vs.get("sii_difference_hi"))))
        g = _gradient_row(s.gradient, sex)
        if g is not None:
            comparator += ". " + _esc(_steepness_sentence(g, sex)).rstrip(".")
        comparator += " (not ONS's published figure; see below)"
    return _card(what, value, period, interval, comparator, f"sii_{sex}")


def _core20_card(s: StoryInputs) -> str:
    what = "Residents in Core20 LSOAs (England's most deprived fifth)"
    period = _period(s, "imd_score", "population")
    sysrow = s.system
    if sysrow.empty or not {"core20_pop", "core20_share"} <= set(sysrow.columns):
        return _card(what, NOT_COMPUTED, period, "—", "—", "core20")
    r = sysrow.iloc[0]
    value = (f"{number('core20_share', 100 * r['core20_share'], 1, '%', source='layer:system')}"
             f" <small>({number('core20_pop', r['core20_pop'], 0, source='layer:system')} "
             "people)</small>")
    interval = ("none: a count of residents from population estimates; the source gives no "
                "interval")
    comparator = "England's share is " + NOT_COMPUTED
    if "core20_share" in s.england:
        comparator = ("England " + number("core20_share_england",
                                          100 * s.england["core20_share"], 1, "%",
                                          source="comparator") + " (20% of LSOAs by definition, "
                      "the share of people differs slightly)")
    return _card(what, value, period, interval, comparator, "core20")


def at_a_glance(s: StoryInputs) -> str:
    """Return the panel of the five key figures, each with its period, interval and comparator."""
    cards = [_le_card(s, "male"), _le_card(s, "female"), _sii_card(s, "male"),
             _sii_card(s, "female"), _core20_card(s)]
    return ('<section class="glance" aria-labelledby="glance-h"><h2 id="glance-h">At a glance'
            f'</h2><div class="figs">{"".join(cards)}</div></section>')


def england_sii(s: StoryInputs) -> str:
    """Return our England SII beside ONS's published figure, with the reason in one sentence."""
    ons = s.ons_reference
    rows = []
    src = "table:model_sii"
    bounds = (_sii_columns(s.sii) if s.sii is not None else None) or ("sii_lo", "sii_hi")

    def cell(row: pd.Series | None, key: str) -> str:
        if row is None:
            return NOT_COMPUTED
        return (number(key, row["sii"], 1, source=src) + " ("
                + _interval(row, key, *bounds, src).replace("95% interval ", "") + ")")

    for sex in SEXES:
        a, e, _ = _sii_rows(s, sex)
        pub = ons.get(f"sii_{sex}")
        rows.append(
            f"<tr><th scope=\"row\">{sex.capitalize()}</th><td>{cell(a, f'sii_{sex}')}</td>"
            f"<td>{cell(e, f'sii_{sex}_england')}</td><td>"
            + (number(f"sii_{sex}_ons", pub, 1, source="comparator") if pub is not None
               else "not given") + "</td></tr>")
    period = _esc(ons.get("period", "2017-19"))
    return (
        "<table class=\"cmp\"><caption>Slope index of inequality in life expectancy at birth "
        "(years; 95% interval)</caption><thead><tr><th scope=\"col\">Sex</th>"
        f"<th scope=\"col\">This area (MSOA tenths, {_esc(_period(s, 'le_male'))})</th>"
        "<th scope=\"col\">England, same method</th>"
        f"<th scope=\"col\">England, ONS published (LSOA deciles, {period}; no interval "
        "given here)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        f"<p>{_esc(ONS_REASON)}</p>")


def place_label(name: str, code: str, inside: float | None, whole: float | None) -> str:
    """Return a place's name, marked as a part when only some of its residents are inside."""
    if inside is None or whole is None or not whole or inside >= 0.98 * whole:
        return name
    return f"{name} (part: {fmt(inside, 0)} of {fmt(whole, 0)} residents inside)"
