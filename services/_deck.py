"""The board pack's PowerPoint deck: one message per slide, the headline as the slide title.

Charts are native PowerPoint charts (python-pptx), so an analyst can restyle them to the ICB's
template; their 95% intervals are custom error bars written into the chart XML (python-pptx has
no error-bar API; the ``c:errBars`` element is the one PowerPoint and LibreOffice write). The
life-expectancy map is the static print image. The speaker notes of every slide carry its
method and caveats and the build's manifest reference. Every number comes from the report's
data (the GeoPackage); nothing is typed in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from healthgap.geo.indicators import describe
from lxml import etree
from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION
from pptx.enum.dml import MSO_LINE_DASH_STYLE
from pptx.enum.shapes import MSO_SHAPE
from pptx.enum.text import PP_ALIGN
from pptx.util import Inches, Length, Pt

if TYPE_CHECKING:
    from healthgap.services.report import ReportData

MAP_SLUGS = ("msoa-le-male",)
"""Static maps the deck shows (drawn for the deck even when no PNG was asked for)."""

SLIDE_W, SLIDE_H = Inches(13.333), Inches(7.5)
TITLE_ONLY, TITLE = 5, 0
SERIES_COLOURS = ("08519C", "6BAED6", "B2182B", "969696")
C_NS = "http://schemas.openxmlformats.org/drawingml/2006/chart"
NOT_COMPUTED = "not computed in this build"


def _c(tag: str) -> str:
    return f"{{{C_NS}}}{tag}"


def add_error_bars(series: Any, minus: Sequence[float], plus: Sequence[float]) -> None:
    """Add custom error bars (distances below and above each value) to a chart series.

    Parameters
    ----------
    series
        A python-pptx bar/column series.
    minus, plus
        Distance from each value down to its interval's low end, and up to its high end
        (missing intervals as NaN, written as 0).
    """
    ser = series._element
    bars = etree.SubElement(ser, _c("errBars"))
    for tag, val in (("errBarType", "both"), ("errValType", "cust"), ("noEndCap", "0")):
        etree.SubElement(bars, _c(tag)).set("val", val)
    for tag, values in (("plus", plus), ("minus", minus)):
        lit = etree.SubElement(etree.SubElement(bars, _c(tag)), _c("numLit"))
        etree.SubElement(lit, _c("formatCode")).text = "General"
        etree.SubElement(lit, _c("ptCount")).set("val", str(len(values)))
        for i, v in enumerate(values):
            pt = etree.SubElement(lit, _c("pt"))
            pt.set("idx", str(i))
            etree.SubElement(pt, _c("v")).text = repr(0.0 if not math.isfinite(v) else float(v))
    sp = etree.SubElement(bars, _c("spPr"))
    ln = etree.SubElement(sp, "{http://schemas.openxmlformats.org/drawingml/2006/main}ln")
    ln.set("w", "12700")
    fill = etree.SubElement(ln, "{http://schemas.openxmlformats.org/drawingml/2006/main}"
                                "solidFill")
    etree.SubElement(fill, "{http://schemas.openxmlformats.org/drawingml/2006/main}"
                           "srgbClr").set("val", "000000")
    cat = ser.find(_c("cat"))
    if cat is not None:  # the schema puts errBars before the categories
        cat.addprevious(bars)


class Deck:
    """A deck being written: slides with a title, content and speaker notes."""

    def __init__(self, data: ReportData) -> None:
        self.data = data
        self.prs = Presentation()
        self.prs.slide_width, self.prs.slide_height = SLIDE_W, SLIDE_H
        self.reference = data.manifest_reference()

    def slide(self, title: str, notes: str, *, layout: int = TITLE_ONLY) -> Any:
        """Add a slide with ``title`` and speaker ``notes`` (the manifest reference appended)."""
        s = self.prs.slides.add_slide(self.prs.slide_layouts[layout])
        t = s.shapes.title
        t.left, t.top, t.width, t.height = Inches(0.5), Inches(0.3), Inches(12.3), Inches(1.3)
        t.text = title
        for p in t.text_frame.paragraphs:
            p.alignment = PP_ALIGN.LEFT
            for r in p.runs:
                r.font.size = Pt(26 if layout == TITLE_ONLY else 36)
                r.font.bold = True
        if self.data.synthetic:
            self.text(s, "SYNTHETIC DEMO DATA: describes no real place", Inches(0.5),
                      Inches(7.0), Inches(8), Inches(0.35), size=11, colour="B2182B", bold=True)
        s.notes_slide.notes_text_frame.text = (
            f"{notes}\n\nEvery figure on this slide is read from the build's GeoPackage "
            f"(healthgap.gpkg). Build: {self.reference}.")
        return s

    @staticmethod
    def text(slide: Any, text: str | Sequence[str], left: Length, top: Length, width: Length,
             height: Length, *, size: int = 16, colour: str = "222222", bold: bool = False) -> Any:
        """Add a text box (one paragraph per item of ``text``)."""
        box = slide.shapes.add_textbox(left, top, width, height)
        tf = box.text_frame
        tf.word_wrap = True
        items = [text] if isinstance(text, str) else list(text)
        for i, item in enumerate(items):
            p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
            p.text = item
            p.space_after = Pt(8)
            for r in p.runs:
                r.font.size, r.font.bold = Pt(size), bold
                r.font.color.rgb = RGBColor.from_string(colour)
        return box

    def chart(self, slide: Any, kind: Any, categories: Sequence[str],
              series: Mapping[str, Sequence[float]], *,
              intervals: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
              number_format: str = "0.0", axis_title: str = "",
              axis_min: float | None = None, box: tuple[float, float, float, float] = (
                  0.6, 1.7, 12.1, 5.2)) -> Any:
        """Add a native chart; ``intervals`` gives each series' (low, high) ends."""
        cd = CategoryChartData(number_format=number_format)
        cd.categories = list(categories)
        for name, values in series.items():
            cd.add_series(name, [None if v is None or not math.isfinite(float(v)) else float(v)
                                 for v in values])
        x, y, w, h = (Inches(v) for v in box)
        chart = slide.shapes.add_chart(kind, x, y, w, h, cd).chart
        chart.has_title = False
        chart.has_legend = len(series) > 1
        if chart.has_legend:
            chart.legend.position = XL_LEGEND_POSITION.BOTTOM
            chart.legend.include_in_layout = False
        plot = chart.plots[0]
        plot.gap_width = 60
        for i, s in enumerate(plot.series):
            s.format.fill.solid()
            s.format.fill.fore_color.rgb = RGBColor.from_string(
                SERIES_COLOURS[i % len(SERIES_COLOURS)])
            if intervals and s.name in intervals:
                lo, hi = intervals[s.name]
                vals = [float(v) for v in series[s.name]]
                add_error_bars(s, [v - a for v, a in zip(vals, lo, strict=True)],
                               [b - v for v, b in zip(vals, hi, strict=True)])
        va = chart.value_axis
        if intervals:  # PowerPoint scales the axis to the bars alone and clips the error bars
            axis_min, va.maximum_scale = _interval_range(series, intervals, axis_min)
        va.has_major_gridlines = True
        va.tick_labels.font.size = Pt(12)
        va.tick_labels.number_format = number_format
        va.tick_labels.number_format_is_linked = False
        if axis_min is not None:
            va.minimum_scale = axis_min
        if axis_title:
            va.has_title = True
            va.axis_title.text_frame.text = axis_title
            va.axis_title.text_frame.paragraphs[0].runs[0].font.size = Pt(12)
        chart.category_axis.tick_labels.font.size = Pt(12)
        return chart

    def save(self, path: Path) -> Path:
        """Write the deck."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.prs.save(str(path))
        return path


def _nice_step(span: float) -> float:
    """Half the power of ten at or below ``span``: the axis is rounded out to it."""
    return float(10 ** math.floor(math.log10(span))) / 2 if span > 0 else 1.0


def _interval_range(series: Mapping[str, Sequence[float]],
                    intervals: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                    axis_min: float | None) -> tuple[float | None, float]:
    """Return (axis minimum, axis maximum) holding every bar and every interval's ends."""
    ends = [float(v) for vals in series.values() for v in vals]
    for lo, hi in intervals.values():
        ends += [float(v) for v in (*lo, *hi)]
    ends = [v for v in ends if math.isfinite(v)]
    if not ends:
        return axis_min, 1.0
    top, bottom = max(ends), min(ends)
    step = _nice_step(max(abs(top), abs(bottom)))
    if axis_min is not None and bottom < axis_min:
        axis_min = math.floor(bottom / step) * step
    return axis_min, max(math.ceil(top / step) * step, (axis_min or 0.0) + step)


def _system_row(frame: pd.DataFrame | None, sex: str, level: str = "system") -> pd.Series | None:
    if frame is None or not {"level", "sex"} <= set(frame.columns):
        return None
    rows = frame[(frame["level"] == level) & (frame["sex"] == sex)]
    return rows.iloc[0] if len(rows) else None


def _area_level(data: ReportData) -> str:
    sii = data.table("model_sii")
    if sii is not None and "level" in sii.columns and (sii["level"] == "system").any():
        return "system"
    return "place"


def _part(data: ReportData) -> str:
    """Return "tenth" or "fifth": the deprivation groups of the area's SII (as the story)."""
    row = _system_row(data.table("model_sii"), "male", _area_level(data))
    n = int(row["quantiles"]) if row is not None and pd.notna(row.get("quantiles")) else 10
    return {10: "tenth", 5: "fifth"}.get(n, f"group of {n}")


def _methods(data: ReportData) -> str:
    return str(data.manifest.get("results", {}).get("england", {}).get("methods", ""))


def title_slide(deck: Deck) -> None:
    """Title, date, version, the build and a slot for the ICB's logo."""
    d = deck.data
    m = d.manifest
    s = deck.slide(f"{d.name}: life expectancy and deprivation",
                   "Board pack generated by healthgap from one build. Replace the logo slot "
                   "with the ICB's logo; every chart is a native chart that takes the ICB's "
                   "template colours.", layout=TITLE)
    s.shapes.title.width = Inches(9.6)
    sub = s.placeholders[1]
    sub.left, sub.top, sub.width, sub.height = Inches(0.5), Inches(3.2), Inches(9), Inches(2.0)
    sub.text_frame.text = (f"Health inequality board pack, {datetime.now(UTC):%d %B %Y}\n"
                           f"healthgap {m.get('healthgap_version', '?')}; build of "
                           f"{m.get('created_utc', '?')} UTC\n" + "; ".join(d.periods()))
    for p in sub.text_frame.paragraphs:
        p.alignment = PP_ALIGN.LEFT
        for r in p.runs:
            r.font.size = Pt(18)
    logo = s.shapes.add_shape(MSO_SHAPE.RECTANGLE, Inches(10.4), Inches(0.4), Inches(2.5),
                              Inches(1.3))
    logo.name = "ICB logo slot"
    logo.fill.background()
    logo.line.color.rgb = RGBColor.from_string("969696")
    logo.line.dash_style = MSO_LINE_DASH_STYLE.DASH
    logo.text_frame.text = "ICB logo"
    logo.text_frame.paragraphs[0].runs[0].font.color.rgb = RGBColor.from_string("969696")


def glance_slide(deck: Deck) -> None:
    """Add the story page's first sentences, with the gap as the headline."""
    st = deck.data.story
    gap = st.value("gap_male")
    title = (f"Men in the most deprived {_part(deck.data)} live {gap:.1f} years less than in "
             "the least deprived" if gap is not None else "At a glance")
    bullets = [t for t in (st.first("How long people live"),
                           *st.sections.get("The gap by deprivation", [])[1:2],
                           st.first("Core20")) if t]
    s = deck.slide(title, "The sentences of the atlas front page ('The story in numbers'), "
                   "from the same GeoPackage.\n" + _methods(deck.data))
    deck.text(s, bullets or [NOT_COMPUTED], Inches(0.6), Inches(1.7), Inches(12.1),
              Inches(5.2), size=17)


def map_slide(deck: Deck, images: dict[str, Path]) -> None:
    """Add the life-expectancy map (the static print image)."""
    st = deck.data.story
    lo, hi, n = st.value("le_male_min"), st.value("le_male_max"), st.value("le_male_n")
    title = (f"Male life expectancy ranges from {lo:.1f} to {hi:.1f} years across {n:.0f} "
             "MSOAs" if None not in (lo, hi, n) else "Male life expectancy by MSOA")
    s = deck.slide(title, "Male life expectancy at birth by MSOA (small areas of about 7,500 "
                   f"people), {describe('le_male').period}; classes and colours as in the "
                   "atlas (dark red = lower life expectancy). Suppressed values are hatched. "
                   "Single MSOAs move from year to year; do not over-read one area.")
    img = images.get("msoa-le-male")
    if img is not None and img.is_file():
        s.shapes.add_picture(str(img), Inches(1.6), Inches(1.55), height=Inches(5.4))
    else:
        deck.text(s, f"Map: {NOT_COMPUTED}.", Inches(0.6), Inches(2), Inches(10), Inches(1))


def gap_slide(deck: Deck) -> None:
    """Life expectancy by deprivation tenth, with 95% intervals."""
    d = deck.data
    groups = d.table("model_sii_groups")
    level = _area_level(d)
    gap = d.story.value("gap_male")
    title = (f"Male life expectancy is {gap:.1f} years lower in the most deprived {_part(d)} "
             "than in the least deprived" if gap is not None else
             "Life expectancy by deprivation")
    s = deck.slide(title, "Bars: life expectancy of each population-weighted deprivation group "
                   "of MSOAs (IMD 2019 score), 1 = most deprived; error bars: 95% intervals "
                   "(value ± 1.96 standard errors, from the model_sii_groups table). "
                   + _methods(d))
    if groups is None or groups.empty:
        deck.text(s, f"Life expectancy by deprivation: {NOT_COMPUTED}.", Inches(0.6),
                  Inches(2), Inches(10), Inches(1))
        return
    g = groups[groups["level"] == level]
    g = g[g["code"] == g["code"].iloc[0]]
    cats = sorted(g["quantile"].unique())
    n = len(cats)
    labels = [f"{int(q)}" + (" most deprived" if q == cats[0] else " least deprived"
                             if q == cats[-1] else "") for q in cats]
    series, intervals = {}, {}
    for sex in ("male", "female"):
        rows = g[g["sex"] == sex].set_index("quantile").reindex(cats)
        if rows["value"].notna().any():
            name = sex.capitalize()
            series[name] = rows["value"].tolist()
            intervals[name] = ((rows["value"] - 1.96 * rows["se"]).tolist(),
                               (rows["value"] + 1.96 * rows["se"]).tolist())
    lo = min(min(v) for v in intervals.values() for v in [v[0]]) if intervals else 0
    deck.chart(s, XL_CHART_TYPE.COLUMN_CLUSTERED, labels, series, intervals=intervals,
               axis_title=f"Life expectancy at birth (years), {n} deprivation groups",
               axis_min=float(math.floor(lo / 5) * 5))


def england_slide(deck: Deck) -> None:
    """Add the slope index of inequality here and in England, with 95% intervals."""
    d = deck.data
    sii = d.table("model_sii")
    level = _area_level(d)
    area, eng = _system_row(sii, "male", level), _system_row(sii, "male", "england")
    vs = _system_row(d.table("model_sii_vs_england"), "male", level)
    if area is not None and eng is not None:
        # the verdict is the gradient comparison's (issue #23), never the SII's: say so
        verdict = (f" (fall with deprivation against England's: {vs['compared_with_england']})"
                   if vs is not None and pd.notna(vs.get("compared_with_england")) else "")
        title = (f"The gap in men's life expectancy is {area['sii']:.1f} years here and "
                 f"{eng['sii']:.1f} in England{verdict}")
    else:
        title = "Inequality against England"
    s = deck.slide(title, "Slope index of inequality (SII): the modelled gap in life "
                   "expectancy between the most and least deprived ends, with 95% intervals "
                   "(error bars). Intervals that overlap do not show a difference. "
                   + _methods(d))
    if sii is None or area is None:
        deck.text(s, f"Comparison with England: {NOT_COMPUTED}.", Inches(0.6), Inches(2),
                  Inches(10), Inches(1))
        return
    series: dict[str, list[float]] = {}
    intervals: dict[str, tuple[list[float], list[float]]] = {}
    for who, lev in (("This area", level), ("England", "england")):
        rows = [_system_row(sii, sex, lev) for sex in ("male", "female")]
        if all(r is not None for r in rows):
            series[who] = [float(r["sii"]) for r in rows if r is not None]
            intervals[who] = ([float(r["sii_lo"]) for r in rows if r is not None],
                              [float(r["sii_hi"]) for r in rows if r is not None])
    deck.chart(s, XL_CHART_TYPE.COLUMN_CLUSTERED, ["Male", "Female"], series,
               intervals=intervals, axis_title="Slope index of inequality (years)", axis_min=0)


def core20_slide(deck: Deck) -> None:
    """Core20 share by place, the area and England."""
    d = deck.data
    st = d.story
    pop, share, eng = (st.value("core20_pop"), st.value("core20_share"),
                       st.value("core20_share_england"))
    title = (f"{pop:,.0f} people ({share:.1f}%) live in Core20 areas" if None not in (pop, share)
             else "Core20")
    if eng is not None and share is not None:
        title += f", against {eng:.1f}% across England"
    s = deck.slide(title, "Core20 (NHS England Core20PLUS5): residents of LSOAs in England's "
                   "20% most deprived by IMD 2019 (national deciles 1-2); population mid-2017.")
    place = d.table("place")
    if place is None or "core20_share" not in place.columns:
        deck.text(s, f"Core20: {NOT_COMPUTED}.", Inches(0.6), Inches(2), Inches(10), Inches(1))
        return
    p = place.sort_values("core20_share", ascending=False)
    cats = [str(n) for n in p["place_name"]] + [d.name, "England"]
    vals = [100 * float(v) for v in p["core20_share"]] + [
        share if share is not None else math.nan, eng if eng is not None else math.nan]
    deck.chart(s, XL_CHART_TYPE.BAR_CLUSTERED, cats[::-1], {"Core20 share (%)": vals[::-1]},
               axis_title="Residents in Core20 LSOAs (%)", axis_min=0)


def places_slide(deck: Deck) -> None:
    """Places ranked by life expectancy."""
    d = deck.data
    place = d.table("place")
    cols = [c for c in ("le_male_pwmean", "le_female_pwmean")
            if place is not None and c in place.columns]
    if place is None or not cols or place[cols[0]].notna().sum() == 0:
        s = deck.slide("Places ranked by life expectancy", "")
        deck.text(s, f"Places: {NOT_COMPUTED}.", Inches(0.6), Inches(2), Inches(10), Inches(1))
        return
    p = place.sort_values(cols[0])
    low = p.iloc[0]
    s = deck.slide(f"{low['place_name']} has the lowest male life expectancy of the {len(p)} "
                   f"places: {low[cols[0]]:.1f} years",
                   "Place life expectancy is the population-weighted mean of its MSOAs' values "
                   "(an approximation to the life expectancy of the combined population).")
    deck.chart(s, XL_CHART_TYPE.BAR_CLUSTERED, [str(n) for n in p["place_name"]][::-1],
               {c.split("_")[1].capitalize(): p[c].tolist()[::-1] for c in cols},
               axis_title="Life expectancy at birth (years)",
               axis_min=float(math.floor(p[cols].min().min() / 5) * 5))


def lowest_slide(deck: Deck, n: int = 8) -> None:
    """Add the MSOAs with the lowest life expectancy, as a table."""
    d = deck.data
    msoa = d.table("msoa")
    if msoa is None or "le_male" not in msoa.columns:
        return
    inside = msoa[msoa["in_area"].astype(bool)] if "in_area" in msoa.columns else msoa
    low = inside.dropna(subset=["le_male"]).sort_values("le_male", kind="stable").head(n)
    if low.empty:
        return
    first = low.iloc[0]
    s = deck.slide(f"{first.get('msoa_name', low.index[0])} has the lowest male life expectancy: "
                   f"{first['le_male']:.1f} years",
                   "MSOAs (about 7,500 people) with the lowest male life expectancy, "
                   f"{describe('le_male').period}. The source gives no interval for MSOA "
                   "figures in this build; small-area values move from year to year.")
    cols = [("msoa_name", "MSOA", None), ("place_name", "Place", None),
            ("le_male", "Male LE (years)", 1), ("le_female", "Female LE (years)", 1),
            ("imd_score", "IMD 2019 score", 1)]
    cols = [c for c in cols if c[0] in low.columns or c[0] == "msoa_name"]
    table = s.shapes.add_table(len(low) + 1, len(cols) + 1, Inches(0.6), Inches(1.8),
                               Inches(12.1), Inches(0.45 * (len(low) + 1))).table
    heads = ["Code", *[h for _, h, _ in cols]]
    for j, h in enumerate(heads):
        table.cell(0, j).text = h
    for i, (code, r) in enumerate(low.iterrows(), start=1):
        table.cell(i, 0).text = str(code)
        for j, (c, _, dec) in enumerate(cols, start=1):
            v = r.get(c)
            table.cell(i, j).text = ("–" if v is None or (isinstance(v, float) and math.isnan(v))
                                     else f"{v:.{dec}f}" if dec is not None else str(v))
    for row in table.rows:
        for cell in row.cells:
            for p in cell.text_frame.paragraphs:
                for run in p.runs:
                    run.font.size = Pt(14)


def outcomes_slide(deck: Deck) -> None:
    """Which outcomes drive the gap: ratios between the most and least deprived fifths."""
    d = deck.data
    og = d.table("outcome_gap")
    level = _area_level(d)
    if og is None or og.empty:
        return
    o = og[(og["level"] == level) & ~og["outcome"].astype(str).str.startswith("le_")]
    o = o[o["code"] == o["code"].iloc[0]].dropna(subset=["q1_q5_ratio"]) if len(o) else o
    if o.empty:
        return
    o = o.sort_values("q1_q5_ratio")
    top = o.iloc[-1]
    words = describe(str(top["outcome"])).label
    s = deck.slide(f"{words}: {top['q1_q5_ratio']:.1f} times as high in the most deprived fifth "
                   "as in the least",
                   "Ratio of the population-weighted mean standardised ratio (England = 100) in "
                   "the most deprived fifth of MSOAs to that in the least deprived fifth, with "
                   "bootstrap 95% intervals (error bars), from the outcome_gap table. "
                   f"{o['method'].iloc[0] if 'method' in o.columns else ''}")
    labels = [describe(str(c)).label for c in o["outcome"]]
    deck.chart(s, XL_CHART_TYPE.BAR_CLUSTERED, labels, {"Most / least deprived fifth":
                                                        o["q1_q5_ratio"].tolist()},
               intervals={"Most / least deprived fifth": (o["q1_q5_ratio_lo"].tolist(),
                                                          o["q1_q5_ratio_hi"].tolist())},
               number_format="0.0", axis_title="Ratio (1 = no difference)", axis_min=0,
               box=(0.6, 1.6, 12.1, 5.5))


def whatif_slide(deck: Deck) -> None:
    """Add the what-if residents crossing each threshold, when the build has a scenario."""
    d = deck.data
    summary = d.table("whatif_summary")
    if summary is None or summary.empty:
        return
    cr = summary[summary["table"] == "crossings"] if "table" in summary else summary
    lost = cr[cr["direction"] == "lost"] if "direction" in cr else cr
    total = float(lost["population"].sum()) if "population" in lost else math.nan
    s = deck.slide(f"What if: {total:,.0f} resident-threshold crossings lost in the scenario"
                   if math.isfinite(total) else "What if",
                   "Residents whose travel time crosses 10/15/20/30 minutes in the build's "
                   "what-if scenario (whatif_summary).")
    cols = [c for c in ("kind", "threshold_min", "direction", "population",
                        "core20_population") if c in cr.columns]
    rows = cr[cols].head(12)
    table = s.shapes.add_table(len(rows) + 1, len(cols), Inches(0.6), Inches(1.8),
                               Inches(12.1), Inches(0.4 * (len(rows) + 1))).table
    for j, c in enumerate(cols):
        table.cell(0, j).text = c.replace("_", " ")
    for i, r in enumerate(rows.itertuples(index=False), start=1):
        for j, v in enumerate(r):
            table.cell(i, j).text = f"{v:,.0f}" if isinstance(v, float) else str(v)


def caveats_slide(deck: Deck) -> None:
    """Caveats and sources."""
    d = deck.data
    caveats = d.story.sections.get("Caveats", [])
    s = deck.slide("What these figures can and cannot say",
                   "Sources:\n" + "\n".join(
                       f"- {x.get('name', '')}, {x.get('publisher', '')} ({x.get('licence', '')})"
                       for x in d.sources) + "\n\n" + _methods(d))
    deck.text(s, caveats[:7] or ["No caveats recorded."], Inches(0.6), Inches(1.6),
              Inches(12.1), Inches(4.0), size=15)
    licences = sorted({str(x.get("licence", "")) for x in d.sources if x.get("licence")})
    deck.text(s, f"Sources: {len(d.sources)} public datasets ({'; '.join(licences)}), listed in "
              "the speaker notes and the workbook's 'Sources and methods' sheet. "
              + "; ".join(d.periods()) + ".", Inches(0.6), Inches(5.8), Inches(12.1),
              Inches(1.0), size=12, colour="555555")


def write_deck(data: ReportData, path: Path, *, images: dict[str, Path]) -> Path:
    """Write the board pack deck of a build to ``path`` and return it.

    Parameters
    ----------
    data
        The report's data.
    path
        The ``.pptx`` file.
    images
        Static map images by atlas slug (the deck uses :data:`MAP_SLUGS`).
    """
    deck = Deck(data)
    title_slide(deck)
    glance_slide(deck)
    map_slide(deck, images)
    gap_slide(deck)
    england_slide(deck)
    core20_slide(deck)
    places_slide(deck)
    lowest_slide(deck)
    outcomes_slide(deck)
    whatif_slide(deck)
    caveats_slide(deck)
    return deck.save(path)
