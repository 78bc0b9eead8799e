"""The board pack's Excel workbook: one sheet per table a board paper uses.

Numbers are written as numbers with a display format (never as text), missing values as empty
cells, no formulas; each sheet has a frozen header row, an autofilter over its table and column
widths fitted to their contents. Column headings come from the indicator catalogue
(:mod:`healthgap.geo.indicators`), and the "Data dictionary" sheet lists every column of every
sheet with its catalogue entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from healthgap.geo.indicators import INDICATORS, describe
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

if TYPE_CHECKING:
    from healthgap.services.report import ReportData

HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")
MAX_WIDTH = 60
SEX_WORDS = {"male": "Male", "female": "Female"}

YEARS, RATIO, INT, PCT, SHARE, NUM, TEXT = "0.0", "0.00", "#,##0", "0.0\\%", "0.0%", "0.000", "@"


@dataclass(frozen=True)
class Col:
    """One column of a sheet: the frame column, its heading, display format and meaning."""

    name: str
    header: str
    fmt: str = NUM
    meaning: str = ""


@dataclass
class Dictionary:
    """The data dictionary rows gathered while the sheets are written."""

    rows: list[list[Any]]

    def add(self, sheet: str, col: Col) -> None:
        """Record one column of a sheet (catalogue words where the column is catalogued)."""
        ind = INDICATORS.get(col.name)
        if ind is not None:
            self.rows.append([sheet, col.header, col.name, ind.label, ind.units, ind.direction,
                              ind.period, *_source_licence(ind.source)])
        else:
            self.rows.append([sheet, col.header, col.name, col.meaning or col.header, "", "",
                              "", "healthgap build (computed from the sources listed)", ""])


def _source_licence(source: str) -> tuple[str, str]:
    """Split ``"Publisher, title (OGL v3)"`` into the source and its licence."""
    found = re.findall(r"\(([^()]*(?:OGL|ODbL|licen[cs]e)[^()]*)\)", source)
    return source, "; ".join(found) if found else "see Sources and methods"


def format_for(column: str) -> str:
    """Return the display format of a catalogued column, from its unit."""
    units = describe(column).units.lower()
    if column.endswith("_share") or units.startswith("share"):
        return SHARE
    if units.startswith(("people", "count")) or units in ("rank", "decile"):
        return INT
    if units.startswith("years") or units in ("score", "minutes"):
        return YEARS
    if units.startswith("ratio") or units.startswith("%"):
        return "0.0"
    return RATIO


def catalogue_cols(frame: pd.DataFrame, skip: Sequence[str] = ()) -> list[Col]:
    """Return a column spec for every catalogued numeric column of ``frame``."""
    out = []
    for c in frame.columns:
        if c in skip or c not in INDICATORS or not pd.api.types.is_numeric_dtype(frame[c]):
            continue
        ind = describe(c)
        out.append(Col(c, f"{ind.label} ({ind.units})" if ind.units else ind.label,
                       format_for(c)))
    return out


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if pd.isna(value) if not isinstance(value, (list, dict, tuple)) else False:
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def write_table(wb: Workbook, title: str, frame: pd.DataFrame, cols: Sequence[Col],
                dictionary: Dictionary, *, note: str = "") -> Worksheet:
    """Write one sheet: heading row, rows, formats, frozen heading, autofilter and widths.

    Parameters
    ----------
    wb
        The workbook.
    title
        The sheet's name (31 characters at most).
    frame
        The rows; columns of ``cols`` not in it are left out.
    cols
        The columns, in order.
    dictionary
        Gathers the data dictionary.
    note
        A sentence written under the table when it has no rows.
    """
    ws = wb.create_sheet(title[:31])
    cols = [c for c in cols if c.name in frame.columns]
    ws.append([c.header for c in cols])
    ws.row_dimensions[1].height = 45  # up to three lines of a wrapped heading
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for values in frame[[c.name for c in cols]].itertuples(index=False):
        ws.append([_cell(v) for v in values])
    widths = [min(MAX_WIDTH, max(10, len(c.header) // 2 + 2)) for c in cols]
    for j, col in enumerate(cols, start=1):
        letter = get_column_letter(j)
        for row in ws.iter_rows(min_row=2, min_col=j, max_col=j):
            cell = row[0]
            if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                cell.number_format = col.fmt if col.fmt != TEXT else "General"
                widths[j - 1] = max(widths[j - 1], 12)
            elif cell.value is not None:
                widths[j - 1] = min(MAX_WIDTH, max(widths[j - 1], len(str(cell.value)) + 2))
        ws.column_dimensions[letter].width = widths[j - 1]
        dictionary.add(ws.title, col)
    ws.freeze_panes = "A2" if len(cols) < 3 else "B2"
    # printed: landscape, as wide as one page, the heading row repeated on every page
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.print_title_rows = "1:1"
    if cols:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{max(1, ws.max_row)}"
    if frame.empty and note:
        ws.cell(row=3, column=1, value=note).font = Font(italic=True)
    return ws


def _sex_col() -> Col:
    return Col("sex", "Sex", TEXT, "male or female")


def _names(data: ReportData) -> dict[str, str]:
    out: dict[str, str] = {data.code: data.name, "E92000001": "England"}
    for layer, col in (("place", "place_name"), ("msoa", "msoa_name"),
                       ("neighbourhood", "nbhd_nm")):
        frame = data.table(layer)
        if frame is not None and col in frame.columns:
            out.update({str(k): str(v) for k, v in frame[col].items()})
    return out


def _named(frame: pd.DataFrame, names: dict[str, str], code: str = "code",
           to: str = "name") -> pd.DataFrame:
    return frame.assign(**{to: frame[code].astype(str).map(names)}) if code in frame else frame


def _words(key: str, names: dict[str, str]) -> str:
    """Return a story key in words (``gap_male`` -> the gap in male life expectancy...)."""
    parts = key.split("_")
    sex = next((p for p in parts if p in SEX_WORDS), "")
    ci = {"lo": ", 95% interval low", "hi": ", 95% interval high"}.get(parts[-1], "")
    base = {"min": "lowest MSOA", "max": "highest MSOA", "range": "range across MSOAs",
            "n": "MSOAs with a value", "worse": "MSOAs significantly worse than England",
            "better": "MSOAs significantly better than England",
            "similar": "MSOAs similar to England", "england": "England"}
    if key.startswith("gap_"):
        return f"{sex.capitalize()} life expectancy gap, most vs least deprived tenth{ci}"
    if key.startswith("sii_"):
        who = "England" if "england" in parts else "this area"
        return f"Slope index of inequality in {sex} life expectancy, {who}{ci}"
    if key.startswith("core20"):
        return {"core20_pop": "Core20 residents", "core20_share": "Core20 share of residents (%)",
                "core20_share_england": "Core20 share of residents, England (%)"}.get(key, key)
    if key.startswith(("lowest_nbhd_", "lowest_")):
        code = key.split("_", 3 if key.startswith("lowest_nbhd") else 2)[-1]
        what = "neighbourhood" if key.startswith("lowest_nbhd") else "MSOA"
        return f"{sex.capitalize()} life expectancy, low {what}: {names.get(code, code)}"
    if key.startswith("place_"):
        code = parts[1]
        return f"{sex.capitalize()} life expectancy, {names.get(code, code)}"
    if key.startswith("le_"):
        return f"{sex.capitalize()} life expectancy, {base.get(parts[-1], parts[-1])}"
    return key.replace("_", " ")


def glance_frame(data: ReportData) -> pd.DataFrame:
    """Return the story page's figures as rows: words, value, interval, unit, period, source."""
    figs = data.story.figures
    keys = {f.key: f for f in figs}
    names = _names(data)
    periods = {"How long people live": describe("le_male").period,
               "The gap by deprivation": f"{describe('le_male').period}; "
                                         f"{describe('imd_score').period}",
               "Core20": describe("core20_share").period,
               "Places": describe("le_male_pwmean").period,
               "Lowest life expectancy": describe("le_male").period,
               "Compared with England": describe("le_male").period}
    rows = []
    for f in figs:
        if f.key.endswith(("_lo", "_hi")) and f.key[:-3] in keys:
            continue
        lo, hi = keys.get(f"{f.key}_lo"), keys.get(f"{f.key}_hi")
        unit = f.shown.split(" ", 1)[1] if " " in f.shown else ""
        if not unit and f.key.startswith(("place_", "le_")) and not f.key.endswith("_n"):
            unit = "years"
        rows.append({"section": f.section, "figure": _words(f.key, names), "value": f.value,
                     "lo": lo.value if lo else None, "hi": hi.value if hi else None,
                     "unit": unit, "shown": f.shown + (f" ({lo.shown} to {hi.shown})"
                                                       if lo and hi else ""),
                     "period": periods.get(f.section, ""), "source": f.source, "key": f.key})
    return pd.DataFrame(rows)


GLANCE = [Col("section", "Section of the story page", TEXT), Col("figure", "Figure", TEXT),
          Col("value", "Value (unrounded)", "0.00"), Col("lo", "95% interval, low", "0.00"),
          Col("hi", "95% interval, high", "0.00"), Col("unit", "Unit", TEXT),
          Col("shown", "As shown on the story page", TEXT), Col("period", "Period", TEXT),
          Col("source", "Read from (GeoPackage layer or table)", TEXT),
          Col("key", "Key on the story page", TEXT)]

SII = [Col("level", "Level", TEXT), Col("code", "Code", TEXT), Col("name", "Name", TEXT),
       _sex_col(),
       Col("sii", "Slope index of inequality (years)", YEARS, "SII: modelled gap in life "
           "expectancy between the most and least deprived ends"),
       Col("sii_lo", "SII 95% low", YEARS), Col("sii_hi", "SII 95% high", YEARS),
       Col("rii", "Relative index of inequality", "0.000", "RII: SII divided by the mean"),
       Col("rii_lo", "RII 95% low", "0.000"), Col("rii_hi", "RII 95% high", "0.000"),
       Col("gap", "Gap, most vs least deprived group (years)", YEARS),
       Col("gap_lo", "Gap 95% low", YEARS), Col("gap_hi", "Gap 95% high", YEARS),
       Col("england_sii", "England SII (years)", YEARS),
       Col("england_sii_lo", "England SII 95% low", YEARS),
       Col("england_sii_hi", "England SII 95% high", YEARS),
       Col("sii_difference", "SII minus England's (years)", YEARS),
       Col("sii_difference_lo", "Difference 95% low", YEARS),
       Col("sii_difference_hi", "Difference 95% high", YEARS),
       Col("compared_with_england", "Against England", TEXT),
       Col("quantiles", "Deprivation groups", INT), Col("n_areas", "MSOAs", INT),
       Col("population", "Population", INT), Col("method", "Method", TEXT)]

GROUPS = [Col("level", "Level", TEXT), Col("code", "Code", TEXT), Col("name", "Name", TEXT),
          _sex_col(), Col("quantile", "Deprivation group (1 = most deprived)", INT),
          Col("value", "Life expectancy (years)", YEARS), Col("se", "Standard error", "0.000"),
          Col("lo", "95% low (value - 1.96 SE)", YEARS),
          Col("hi", "95% high (value + 1.96 SE)", YEARS), Col("population", "Population", INT),
          Col("n_areas", "MSOAs", INT), Col("n_missing", "MSOAs with no value", INT)]

OUTCOMES = [Col("level", "Level", TEXT), Col("code", "Code", TEXT), Col("name", "Name", TEXT),
            Col("outcome_words", "Outcome", TEXT), Col("outcome", "Outcome column", TEXT),
            Col("q1", "Most deprived fifth", "0.0"), Col("q5", "Least deprived fifth", "0.0"),
            Col("q1_q5_ratio", "Ratio, most / least deprived fifth", RATIO),
            Col("q1_q5_ratio_lo", "Ratio 95% low", RATIO),
            Col("q1_q5_ratio_hi", "Ratio 95% high", RATIO),
            Col("q1_q5_difference", "Difference, most - least deprived fifth", "0.0"),
            Col("q1_q5_difference_lo", "Difference 95% low", "0.0"),
            Col("q1_q5_difference_hi", "Difference 95% high", "0.0"),
            Col("core20", "Core20", "0.0"), Col("rest", "Rest", "0.0"),
            Col("core20_rest_ratio", "Ratio, Core20 / rest", RATIO),
            Col("core20_rest_ratio_lo", "Core20 ratio 95% low", RATIO),
            Col("core20_rest_ratio_hi", "Core20 ratio 95% high", RATIO),
            Col("n_msoa", "MSOAs", INT), Col("method", "Method", TEXT)]

CLIFFS = [_sex_col(), Col("rank", "Rank (steepest first)", INT), Col("code_a", "MSOA A", TEXT),
          Col("name_a", "MSOA A name", TEXT), Col("code_b", "MSOA B", TEXT),
          Col("name_b", "MSOA B name", TEXT), Col("le_a", "Life expectancy A (years)", YEARS),
          Col("le_b", "Life expectancy B (years)", YEARS),
          Col("abs_diff", "Difference (years)", YEARS),
          Col("noise_p", "p-value against the noise of two MSOA estimates", "0.000"),
          Col("distance_km", "Distance between centres (km)", "0.0")]


def _level_sheet(wb: Workbook, title: str, frame: pd.DataFrame | None, ids: list[Col],
                 dictionary: Dictionary) -> None:
    if frame is None:
        return
    frame = frame[frame["in_area"].astype(bool)] if "in_area" in frame.columns else frame
    flat = pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).reset_index()
    skip = {"pw_x", "pw_y", "in_area"} | {c for c in flat.columns if c.endswith("_coverage")}
    write_table(wb, title, flat, [*ids, *catalogue_cols(flat, sorted(skip))], dictionary)


def _core20(data: ReportData) -> pd.DataFrame:
    rows = []
    for level, code, name in (("system", "system_code", "system_name"),
                              ("place", "place_code", "place_name"),
                              ("neighbourhood", "nbhd_cd", "nbhd_nm")):
        frame = data.table(level)
        if frame is None or "core20_pop" not in frame.columns:
            continue
        f = pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).reset_index()
        if "in_area" in f.columns:
            f = f[f["in_area"].astype(bool)]
        rows.append(f.assign(level=level, code=f[code] if code in f else f.iloc[:, 0],
                             name=f[name] if name in f else ""))
    if "core20_share" in data.england:
        rows.append(pd.DataFrame([{"level": "england", "code": "E92000001", "name": "England",
                                   "core20_share": data.england["core20_share"]}]))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _sources_rows(data: ReportData) -> pd.DataFrame:
    m = data.manifest
    rows: list[tuple[str, Any]] = [
        ("Area", f"{data.name} ({data.code})"),
        ("Synthetic demo data", "yes: describes no real place" if data.synthetic else "no"),
        ("Manifest reference", data.manifest_reference()),
        ("healthgap version", str(m.get("healthgap_version", ""))),
        ("Built (UTC)", str(m.get("created_utc", ""))),
        ("Periods", "; ".join(data.periods())),
    ]
    for k, v in sorted(m.get("parameters", {}).items()):
        if k not in ("data_dir", "out_dir"):
            number = isinstance(v, int | float) and not isinstance(v, bool)
            rows.append((f"Parameter: {k}", v if number else str(v)))
    methods = m.get("results", {}).get("england", {}).get("methods")
    if methods:
        rows.append(("Method: inequality and England", str(methods)))
    rows.append(("Method: cliffs", "A cliff is the difference in life expectancy between two "
                 "neighbouring MSOAs; the Cliffs sheet lists those the build's noise test "
                 "flags (exceeds_noise), with the p-value of that test."))
    for sentence in data.story.sections.get("Caveats", []):
        rows.append(("Caveat", sentence))
    for s in data.sources:
        rows.append(("Source", f"{s.get('name', '')}, {s.get('publisher', '')} "
                               f"({s.get('licence', '')}) {s.get('url', '')}".strip()))
    return pd.DataFrame(rows, columns=["item", "detail"])


def write_workbook(data: ReportData, path: Path) -> Path:
    """Write the board pack workbook of a build to ``path`` and return it."""
    wb = Workbook()
    wb.remove(wb.active)
    d = Dictionary([])
    names = _names(data)
    write_table(wb, "At a glance", glance_frame(data), GLANCE, d)
    sii = data.table("model_sii")
    if sii is not None:
        vs = data.table("model_sii_vs_england")
        merged = sii
        if vs is not None:
            extra = [c for c in vs.columns if c.startswith(("england_", "sii_difference"))
                     or c == "compared_with_england"]
            merged = sii.merge(vs[["level", "code", "sex", *extra]], how="left",
                               on=["level", "code", "sex"])
        write_table(wb, "Inequality by level", _named(merged, names), SII, d)
    groups = data.table("model_sii_groups")
    if groups is not None:
        g = _named(groups, names).assign(lo=groups["value"] - 1.96 * groups["se"],
                                         hi=groups["value"] + 1.96 * groups["se"])
        write_table(wb, "By deprivation tenth", g, GROUPS, d)
    _level_sheet(wb, "Places", data.table("place"), [Col("place_code", "Place code", TEXT),
                                                    Col("place_name", "Place", TEXT)], d)
    _level_sheet(wb, "Neighbourhoods", data.table("neighbourhood"),
                 [Col("nbhd_cd", "Neighbourhood code", TEXT),
                  Col("nbhd_nm", "Neighbourhood", TEXT), Col("place_name", "Place", TEXT)], d)
    _level_sheet(wb, "MSOAs", data.table("msoa"), [Col("msoa_code", "MSOA code", TEXT),
                                                  Col("msoa_name", "MSOA", TEXT)], d)
    core = _core20(data)
    if len(core):
        write_table(wb, "Core20", core, [Col("level", "Level", TEXT), Col("code", "Code", TEXT),
                                         Col("name", "Name", TEXT),
                                         *catalogue_cols(core, ["n_lsoa"])], d)
    og = data.table("outcome_gap")
    if og is not None:
        og = _named(og, names).assign(outcome_words=og["outcome"].map(
            lambda c: describe(str(c)).label))
        write_table(wb, "What makes up the gap", og, OUTCOMES, d)
    cl = data.table("cliffs")
    if cl is not None and "exceeds_noise" in cl.columns:
        passed = cl[cl["exceeds_noise"].astype(bool)].sort_values(["sex", "rank"])
        passed = passed.assign(name_a=passed["code_a"].map(names),
                               name_b=passed["code_b"].map(names))
        write_table(wb, "Cliffs", passed, CLIFFS, d,
                    note="No cliff passes the build's noise test.")
    for name, title in (("whatif_summary", "What-if summary"), ("whatif_shares", "What-if "
                                                                "shares")):
        frame = data.table(name)
        if frame is not None:
            cols = [Col(str(c), str(c).replace("_", " "),
                        NUM if pd.api.types.is_float_dtype(frame[c]) else
                        INT if pd.api.types.is_integer_dtype(frame[c]) else TEXT)
                    for c in frame.columns]
            write_table(wb, title, frame, cols, d)
    dict_cols = [Col(c, c.replace("_", " ").capitalize(), TEXT) for c in
                 ("sheet", "heading", "column", "name_in_words", "unit", "direction", "period",
                  "source", "licence")]
    dictionary = pd.DataFrame(d.rows, columns=[c.name for c in dict_cols])
    write_table(wb, "Data dictionary", dictionary, dict_cols, Dictionary([]))
    src = write_table(wb, "Sources and methods", _sources_rows(data),
                      [Col("item", "Item", TEXT), Col("detail", "Detail", TEXT)], Dictionary([]))
    src.column_dimensions["B"].width = 120
    for row in src.iter_rows(min_row=2, min_col=2, max_col=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    wb.properties.title = f"healthgap board pack: {data.name}"
    wb.properties.creator = "healthgap"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
