"""The board pack (services/report.py): workbook, deck and print maps of a real demo build.

Real components only: the demo build is built with ``report=True``, the workbook is opened with
openpyxl and pandas, the deck with python-pptx, both are converted by LibreOffice (Debian's
``libreoffice-calc`` / ``libreoffice-impress``) and rendered by ``pdftoppm`` (poppler-utils),
and the downloads are fetched from the real server on 127.0.0.1. Expected values are read
independently from the GeoPackage with :class:`BuildStore` and compared with explicit
tolerances.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import openpyxl
import pandas as pd
import pytest
from healthgap.data.demo import DEMO_ICB
from healthgap.geo.indicators import INDICATORS
from healthgap.services._deck import C_NS
from healthgap.services._static_pages import static_specs
from healthgap.services.report import parse_formats, report_paths, write_report
from healthgap.services.store import BuildStore
from PIL import Image, ImageStat
from pptx import Presentation

from healthgap.errors import ParameterError
from tests import _builds
from tests._names import neutral

TOL = 1e-9  # values are copied, not recomputed: only float round-trips may differ
ERRORS = ("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!")


@pytest.fixture(scope="module")
def demo():
    # <root>/store/<DEMO_ICB> with the atlas and the board pack, shared with other modules
    return _builds.demo_build()


@pytest.fixture(scope="module")
def store(demo):
    return BuildStore(demo.store.path)


@pytest.fixture(scope="module")
def paths(demo):
    return report_paths(demo.store.path.parent, DEMO_ICB)


def _system(frame: pd.DataFrame, sex: str, level: str = "system") -> pd.Series:
    return frame[(frame["level"] == level) & (frame["sex"] == sex)].iloc[0]


# ----------------------------------------------------------------------------- the workbook
def test_every_sheet_is_a_clean_table(paths):
    wb = openpyxl.load_workbook(paths["xlsx"])
    for name in ("At a glance", "Inequality by level", "By deprivation tenth", "Places",
                 "Neighbourhoods", "Core20", "What makes up the gap", "Cliffs",
                 "Data dictionary", "Sources and methods"):
        assert name in wb.sheetnames, name
    for ws in wb.worksheets:
        assert ws.freeze_panes in ("A2", "B2"), ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
        assert all(c.font.bold for c in ws[1]), ws.title
        heads = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                v = cell.value
                assert cell.data_type != "f", (ws.title, cell.coordinate)  # no formulas
                if heads[cell.column - 1] == "As shown on the story page":
                    continue  # the page's text, beside the number it shows
                if isinstance(v, str):
                    assert v not in ERRORS and not v.startswith("="), (ws.title, v)
                    # a number stored as text could not be sorted: none is
                    with pytest.raises(ValueError):
                        float(v.replace(",", ""))
        for letter, dim in ws.column_dimensions.items():
            assert 8 <= dim.width <= 130, (ws.title, letter, dim.width)


def test_numbers_have_display_formats(paths):
    wb = openpyxl.load_workbook(paths["xlsx"])
    ws = wb["Inequality by level"]
    heads = [c.value for c in ws[1]]
    sii = ws.cell(row=2, column=heads.index("Slope index of inequality (years)") + 1)
    assert isinstance(sii.value, float) and sii.number_format == "0.0"
    core = wb["Core20"]
    heads = [c.value for c in core[1]]
    share = core.cell(row=2, column=heads.index("Share of residents who are Core20 (share of "
                                                "residents)") + 1)
    assert isinstance(share.value, float) and share.number_format == "0.0%"


def test_workbook_values_equal_the_geopackage(paths, store):
    sheets = neutral(pd.read_excel(paths["xlsx"], sheet_name=None))
    sii = store.read_layer("model_sii")
    got = sheets["Inequality by level"]
    assert len(got) == len(sii)
    for col, head in (("sii", "Slope index of inequality (years)"), ("sii_lo", "SII 95% low"),
                      ("gap_hi", "Gap 95% high")):
        np.testing.assert_allclose(got[head].to_numpy(float), sii[col].to_numpy(float),
                                   rtol=TOL, equal_nan=True)
    groups = store.read_layer("model_sii_groups")
    tenth = sheets["By deprivation tenth"]
    np.testing.assert_allclose(tenth["Life expectancy (years)"], groups["value"], rtol=TOL)
    # the interval is value ± 1.96 SE (independent arithmetic here)
    np.testing.assert_allclose(tenth["95% low (value - 1.96 SE)"],
                               groups["value"] - 1.96 * groups["se"], rtol=TOL)
    place = store.read_layer("place").set_index("place_code")
    places = sheets["Places"].set_index("Place code")
    label = INDICATORS["le_male_pwmean"]
    col = f"{label.label} ({label.units})"
    np.testing.assert_allclose(places.loc[place.index, col], place["le_male_pwmean"], rtol=TOL)
    og = store.read_layer("outcome_gap")
    out = sheets["What makes up the gap"]
    np.testing.assert_allclose(out["Ratio, most / least deprived fifth"], og["q1_q5_ratio"],
                               rtol=TOL)
    cliffs = store.read_layer("cliffs")
    assert len(sheets["Cliffs"]) == int(cliffs["exceeds_noise"].astype(bool).sum())


def test_at_a_glance_says_what_the_story_page_says(paths, store):
    glance = neutral(pd.read_excel(paths["xlsx"], sheet_name="At a glance").set_index(
        "Key on the story page"))
    sii = store.read_layer("model_sii")
    male = _system(sii, "male")
    assert glance.loc["gap_male", "Value (unrounded)"] == pytest.approx(male["gap"], rel=TOL)
    assert glance.loc["gap_male", "95% interval, low"] == pytest.approx(male["gap_lo"], rel=TOL)
    assert glance.loc["sii_male_england", "Value (unrounded)"] == pytest.approx(
        _system(sii, "male", "england")["sii"], rel=TOL)
    msoa = store.read_layer("msoa")
    inside = msoa[msoa["in_area"] == 1]["le_male"].dropna()
    assert glance.loc["le_male_min", "Value (unrounded)"] == pytest.approx(inside.min())
    assert glance.loc["le_male_n", "Value (unrounded)"] == len(inside)
    system = store.read_layer("system").iloc[0]
    assert glance.loc["core20_pop", "Value (unrounded)"] == pytest.approx(system["core20_pop"])
    # the atlas front page shows the same number, rounded
    atlas = (Path(store.path).parent / "atlas" / "index.html").read_text()
    shown = f'data-key="gap_male" data-source="table:model_sii" value="{float(male["gap"])!r}"'
    assert shown in atlas


def test_data_dictionary_comes_from_the_catalogue(paths):
    d = neutral(pd.read_excel(paths["xlsx"], sheet_name="Data dictionary"))
    row = d[(d["Sheet"] == "Places") & (d["Column"] == "le_male_pwmean")].iloc[0]
    ind = INDICATORS["le_male_pwmean"]
    assert row["Name in words"] == ind.label and row["Unit"] == ind.units
    assert row["Direction"] == "better" and row["Period"] == ind.period
    assert "OGL" in row["Licence"]


# ----------------------------------------------------------------------------- the deck
def test_deck_titles_notes_and_logo_slot(paths, store, demo):
    prs = Presentation(str(paths["pptx"]))
    slides = list(prs.slides)
    assert 8 <= len(slides) <= 12
    titles = [s.shapes.title.text for s in slides]
    assert "NHS Synthetic Demo" in titles[0]
    assert any(s.name == "ICB logo slot" for s in slides[0].shapes)
    male = _system(store.read_layer("model_sii"), "male")
    assert f"{male['gap']:.1f} years lower in the most deprived tenth" in titles[3]
    sub = slides[0].placeholders[1].text_frame.text
    assert demo.manifest["healthgap_version"] in sub and "2015-19" in sub
    for s in slides:
        notes = s.notes_slide.notes_text_frame.text
        assert "manifest SHA-256" in notes and DEMO_ICB in notes
        assert any("SYNTHETIC DEMO DATA" in sh.text_frame.text for sh in s.shapes
                   if sh.has_text_frame)


def _charts(slide):
    return [sh.chart for sh in slide.shapes if sh.has_chart]


def test_gap_chart_is_native_with_intervals(paths, store):
    prs = Presentation(str(paths["pptx"]))
    slide = list(prs.slides)[3]
    (chart,) = _charts(slide)
    groups = store.read_layer("model_sii_groups")
    g = groups[(groups["level"] == "system") & (groups["sex"] == "male")].sort_values("quantile")
    series = {s.name: s for s in chart.plots[0].series}
    np.testing.assert_allclose(list(series["Male"].values), g["value"], rtol=TOL)
    bars = series["Male"]._element.find(f"{{{C_NS}}}errBars")
    assert bars is not None
    plus = [float(v.text) for v in bars.iterfind(f"{{{C_NS}}}plus//{{{C_NS}}}v")]
    np.testing.assert_allclose(plus, 1.96 * g["se"], rtol=1e-9)
    # schema order: errBars before the categories
    kids = [k.tag.split("}")[1] for k in series["Male"]._element]
    assert kids.index("errBars") < kids.index("cat")


def test_every_error_bar_fits_inside_its_chart_axis(paths):
    """PowerPoint scales an axis to the bars only: the deck sets it to hold the intervals too."""
    checked = 0
    for slide in Presentation(str(paths["pptx"])).slides:
        for chart in _charts(slide):
            axis = chart.value_axis
            for s in chart.plots[0].series:
                bars = s._element.find(f"{{{C_NS}}}errBars")
                if bars is None:
                    continue
                ends = {side: [float(v.text) for v in
                               bars.iterfind(f"{{{C_NS}}}{side}//{{{C_NS}}}v")]
                        for side in ("plus", "minus")}
                values = [float(v) for v in s.values]
                top = max(v + p for v, p in zip(values, ends["plus"], strict=True))
                low = min(v - m for v, m in zip(values, ends["minus"], strict=True))
                assert axis.maximum_scale is not None and top <= axis.maximum_scale, (
                    slide.shapes.title.text, top, axis.maximum_scale)
                assert axis.minimum_scale is None or low >= axis.minimum_scale
                checked += 1
    assert checked, "no chart with error bars in the deck"


def test_england_and_outcome_charts_equal_the_tables(paths, store):
    prs = Presentation(str(paths["pptx"]))
    slides = list(prs.slides)
    sii = store.read_layer("model_sii")
    (chart,) = _charts(slides[4])
    series = {s.name: list(s.values) for s in chart.plots[0].series}
    assert series["This area"] == pytest.approx([_system(sii, "male")["sii"],
                                                 _system(sii, "female")["sii"]], rel=TOL)
    assert series["England"] == pytest.approx([_system(sii, "male", "england")["sii"],
                                               _system(sii, "female", "england")["sii"]],
                                              rel=TOL)
    og = store.read_layer("outcome_gap")
    og = og[(og["level"] == "system") & ~og["outcome"].str.startswith("le_")]
    outcome = next(s for s in slides if "times as high" in s.shapes.title.text)
    (chart,) = _charts(outcome)
    values = sorted(chart.plots[0].series[0].values)
    assert values == pytest.approx(sorted(og["q1_q5_ratio"].dropna()), rel=TOL)


# ----------------------------------------------------------------------------- print maps
def test_every_atlas_map_with_one_layer_has_a_print_image(paths, store):
    folder = paths["png"]
    cols = {n: list(store.read_layer(n, columns=None).columns) for n in ("lsoa", "msoa",
                                                                          "neighbourhood",
                                                                          "place")}
    cols["facilities"] = []
    specs = static_specs(cols)
    assert len(specs) >= 25
    for spec in specs:
        png, svg = folder / f"{spec.slug}.png", folder / f"{spec.slug}.svg"
        with Image.open(png) as im:
            assert im.size == (2481, 1749)
        text = svg.read_text()
        assert "SYNTHETIC DEMO DATA" in text and "km" in text and "Source:" in text
        page = folder.parents[1] / "atlas" / f"{spec.slug}.html"
        assert page.is_file(), spec.slug
        html = page.read_text()  # the title box is written as a JSON string in the page
        assert f'href=\\"../report/maps/{spec.slug}.png\\"' in html, spec.slug
        assert "Print image (PNG, 300 dpi" in html
    le = (folder / "msoa-le-male.svg").read_text()
    assert "Male life expectancy at birth (years)" in le
    assert "Suppressed / no data" in le


# ----------------------------------------------------------------------------- command line
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "healthgap.services.cli", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def test_formats_are_checked():
    assert parse_formats("pptx, xlsx") == ("pptx", "xlsx")
    assert parse_formats(None) == ("xlsx", "pptx", "png")
    with pytest.raises(ParameterError, match="--format 'docx'"):
        parse_formats("docx")


def test_cli_refuses_bad_input_by_name(tmp_path, demo):
    r = _cli("report", "--store", str(demo.store.path.parent), "--format", "xlsx,pdf")
    assert r.returncode == 2 and "--format" in r.stderr and "'pdf'" in r.stderr
    r = _cli("report", "--store", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "nowhere" in r.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "healthgap.gpkg").write_text("not a GeoPackage")
    r = _cli("report", "--store", str(bad))
    assert r.returncode == 2 and "not readable" in r.stderr and "healthgap.gpkg" in r.stderr


def test_cli_rewrites_one_format_and_keeps_a_good_report_on_failure(tmp_path, demo):
    copy = tmp_path / "build"
    shutil.copytree(demo.store.path.parent, copy)
    r = _cli("report", "--store", str(copy), "--format", "xlsx")
    assert r.returncode == 0, r.stderr
    paths = report_paths(copy, DEMO_ICB)
    assert paths["xlsx"].is_file() and not paths["pptx"].exists()
    # a report that fails half way leaves the previous one as it was
    before = paths["xlsx"].read_bytes()
    (copy / "healthgap.gpkg").write_bytes(b"broken")
    with pytest.raises(Exception, match="not readable"):
        write_report(copy, formats=("xlsx",))
    assert paths["xlsx"].read_bytes() == before
    assert not list(copy.glob(".report.tmp-*"))


# ----------------------------------------------------------------------------- LibreOffice
def _tools() -> tuple[str, str]:
    soffice, pdftoppm = shutil.which("soffice"), shutil.which("pdftoppm")
    if soffice is None or pdftoppm is None:
        pytest.fail("LibreOffice (soffice) or pdftoppm not found: run `make browser` (installs "
                    "Debian's libreoffice-calc, libreoffice-impress and poppler-utils)")
    return soffice, pdftoppm


def _to_pdf(src: Path, out: Path) -> Path:
    soffice, _ = _tools()
    profile = out / "lo-profile"
    r = subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless",
                        "--convert-to", "pdf", "--outdir", str(out), str(src)],
                       capture_output=True, text=True, timeout=300, check=False)
    pdf = out / f"{src.stem}.pdf"
    assert r.returncode == 0 and pdf.is_file(), r.stdout + r.stderr
    assert "Error" not in r.stderr, r.stderr
    return pdf


def _pages(pdf: Path, out: Path, prefix: str, dpi: int = 60) -> list[Path]:
    _, pdftoppm = _tools()
    subprocess.run([pdftoppm, "-r", str(dpi), "-png", str(pdf), str(out / prefix)], check=True,
                   timeout=300)
    return sorted(out.glob(f"{prefix}-*.png"))


@pytest.mark.slow
def test_libreoffice_opens_the_deck_and_every_slide_has_content(paths, tmp_path):
    pdf = _to_pdf(paths["pptx"], tmp_path)
    pages = _pages(pdf, tmp_path, "slide")
    assert len(pages) == len(Presentation(str(paths["pptx"])).slides)
    for page in pages:
        with Image.open(page) as im:
            stat = ImageStat.Stat(im.convert("L"))
            assert stat.stddev[0] > 10, page  # not a blank page
    # the chart slide draws bars in the series colour (dark blue #08519c) with error bars
    with Image.open(pages[3]) as im:
        rgb = np.asarray(im.convert("RGB")).reshape(-1, 3).astype(int)
        blue = np.abs(rgb - [8, 81, 156]).sum(axis=1) < 40
        assert blue.mean() > 0.01


@pytest.mark.slow
def test_libreoffice_opens_the_workbook(paths, tmp_path):
    pdf = _to_pdf(paths["xlsx"], tmp_path)
    pages = _pages(pdf, tmp_path, "sheet")
    assert len(pages) >= 10
    with Image.open(pages[0]) as im:
        assert ImageStat.Stat(im.convert("L")).stddev[0] > 10


# ----------------------------------------------------------------------------- the API
def test_downloads_from_the_real_server(demo, tmp_path):
    from tests.services._api_helpers import load_bench

    bench = load_bench()
    root = demo.store.path.parents[1]
    env = {"HEALTHGAP_RUNS_DB": str(tmp_path / "runs.sqlite")}
    with bench.server(root, port=bench.free_port(), env=env) as (base, _):
        x = httpx.get(f"{base}/areas/{DEMO_ICB}/report.xlsx", timeout=60)
        assert x.status_code == 200 and x.content[:2] == b"PK"
        assert x.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert x.content == report_paths(demo.store.path.parent, DEMO_ICB)["xlsx"].read_bytes()
        p = httpx.get(f"{base}/areas/{DEMO_ICB}/report.pptx", timeout=60)
        assert p.status_code == 200 and p.content[:2] == b"PK"
        img = httpx.get(f"{base}/areas/{DEMO_ICB}/report/maps/msoa-le-male.png", timeout=60)
        assert img.status_code == 200 and img.headers["content-type"] == "image/png"
        # the atlas page's relative link resolves to the same image on the server
        page = httpx.get(f"{base}/areas/{DEMO_ICB}/maps/msoa-le-male.html", timeout=60)
        link = httpx.URL(f"{base}/areas/{DEMO_ICB}/maps/msoa-le-male.html").join(
            "../report/maps/msoa-le-male.png")
        assert page.status_code == 200 and str(link).endswith(
            f"/areas/{DEMO_ICB}/report/maps/msoa-le-male.png")
        bad = httpx.get(f"{base}/areas/{DEMO_ICB}/report/maps/..%2Fhealthgap.gpkg", timeout=60)
        assert bad.status_code == 404
        assert bad.headers["content-type"].startswith("application/problem+json")
