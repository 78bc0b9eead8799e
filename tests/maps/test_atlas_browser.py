"""The atlas of a real build (the synthetic demo, every stage) in headless Chromium, offline.

What issue #15 asks to hold on every page, checked from each page's own data: the worst-valued
area of an indicator is drawn in the indicator's "worse" colour; no title or legend shows a raw
column name; pages drawn from OpenStreetMap data credit it; a 390 px phone view leaves most of
the map visible; the story page's numbers equal the GeoPackage's.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
from healthgap.geo.indicators import INDICATORS, describe
from healthgap.maps._classify import WORSE_COLOUR
from healthgap.maps._layers import OSM_ATTRIBUTION

from tests import _builds
from tests._names import neutral
from tests.maps.test_browser import browser, open_offline  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_build() -> Path:
    # the demo with every stage and its atlas (and board pack), shared with the services tests
    return _builds.demo_build().store.path.parent


def map_pages(root: Path) -> list[Path]:
    return sorted(p for p in (root / "atlas").glob("*.html")
                  if p.name != "index.html" and 'class="folium-map"' in p.read_text())


def test_the_static_pages_and_the_bivariate_maps(browser, demo_build):  # noqa: F811
    names = {p.name for p in (demo_build / "atlas").glob("*.html")}
    assert {"imd-domains.html", "bivariate-imd-le-male.html"} <= names
    context, page, requests, problems = open_offline(browser,
                                                     demo_build / "atlas" / "imd-domains.html")
    try:
        assert problems == [] and all(u.startswith("file://") for u in requests)
        assert page.evaluate("document.documentElement.lang") == "en-GB"
        labels = page.eval_on_selector_all("figure [role=img]",
                                           "els => els.map(e => e.getAttribute('aria-label'))")
        assert len(labels) == 7 and all("most deprived fifth" in t for t in labels)
    finally:
        context.close()
    index = (demo_build / "atlas" / "index.html").read_text()
    assert 'href="imd-domains.html"' in index and 'href="bivariate-imd-le-male.html"' in index


def read(root: Path, layer: str) -> pd.DataFrame:
    return neutral(
        pyogrio.read_dataframe(root / "healthgap.gpkg", layer=layer, read_geometry=False))


WORST_JS = """() => hg.registry.filter(r => r.spec.column).map(r => {
  const v = r.data.p.v, dir = r.spec.direction;
  let w = -1;
  for (let i = 0; i < v.length; i++) {
    if (v[i] === null) continue;
    if (w < 0 || (dir === 'worse' ? v[i] > v[w] : v[i] < v[w])) w = i;
  }
  let fill = null;
  r.layer.eachLayer(l => {
    if (l.feature.id === r.data.id[w]) fill = l._path ? l._path.getAttribute('fill')
                                                       : l.options.fillColor;
  });
  return {column: r.spec.column, direction: dir, id: r.data.id[w], value: v[w], fill: fill};
})"""


@pytest.fixture(scope="module")
def page_facts(browser, demo_build):  # noqa: F811
    """Open every map page once and read what the tests below check.

    One offline tab loads the pages one after the other, as
    test_no_page_scrolls_sideways_at_1280_or_390_px does (a new context per page cost a renderer
    start, about 0.25 s a page): each load is a new document, and a page's requests and
    problems are everything recorded from its navigation to the next one's.
    """
    facts: dict[str, dict] = {}
    context, page, requests, problems = open_offline(browser, demo_build / "atlas" / "index.html")
    try:
        starts: list[tuple[str, int, int]] = []
        for path in map_pages(demo_build):
            starts.append((path.name, len(requests), len(problems)))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_selector(".hg-legend, main", timeout=30_000)
            page.wait_for_timeout(300)
            facts[path.name] = {
                "lang": page.evaluate("document.documentElement.lang"),
                "viewport": page.get_attribute('meta[name="viewport"]', "content"),
                "worst": page.evaluate(WORST_JS),
                "columns": page.evaluate("hg.registry.filter(r => r.spec.column)"
                                         ".map(r => r.spec.column)"),
                "title": page.title(), "h1": page.inner_text(".hg-title h1"),
                "legend": page.inner_text(".hg-legend"),
                "credit": page.inner_text(".leaflet-control-attribution"),
                "glossary": page.evaluate(
                    "!!document.querySelector('.hg-title a[href=\"glossary.html\"]')"),
                "aria": page.evaluate("document.querySelector('.folium-map')"
                                      ".getAttribute('aria-label')"),
                "role": page.evaluate("document.querySelector('.folium-map')"
                                      ".getAttribute('role')"),
            }
        ends = [*starts[1:], ("", len(requests), len(problems))]
        for (name, r0, p0), (_, r1, p1) in zip(starts, ends, strict=True):
            facts[name] |= {"requests": requests[r0:r1], "problems": problems[p0:p1]}
    finally:
        context.close()
    return facts


def test_every_page_opens_offline_in_english_and_draws_the_worst_area_in_the_worse_colour(
        page_facts):
    checked: dict[str, int] = {}
    for name, f in page_facts.items():
        assert f["problems"] == [], (name, f["problems"])
        assert all(u.startswith("file://") for u in f["requests"])
        assert f["lang"] == "en-GB"
        # every map links the glossary and has an accessible name (issue #24)
        assert f["glossary"], name
        assert f["role"] == "region" and f["aria"].startswith("Map: "), (name, f["aria"])
        assert "user-scalable=no" not in f["viewport"] and "maximum-scale" not in f["viewport"]
        for layer in f["worst"]:  # (England-relative maps carry no column: see below)
            ind = describe(layer["column"])
            # the direction drawn is the catalogue's, not something the page decided
            assert layer["direction"] == ind.direction, (name, layer)
            if ind.direction != "neutral":
                assert layer["fill"] == WORSE_COLOUR, (name, layer)
                checked[layer["column"]] = checked.get(layer["column"], 0) + 1
    # male life expectancy appears on its choropleth and its cliffs page; both checked
    assert checked.get("le_male", 0) >= 2 and checked.get("imd_score", 0) >= 1
    assert checked.get("imd_decile", 0) >= 1  # decile 1 (most deprived) is the worse end


RAW = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")


def test_no_title_or_legend_shows_a_raw_column_name(page_facts, demo_build):
    columns: set[str] = set()
    for layer in ("lsoa", "msoa", "place", "system"):
        columns |= {c for c in read(demo_build, layer).columns if "_" in c}
    assert {"le_male", "imd_score", "gp_road_distance_km"} <= columns
    for name, f in page_facts.items():
        for text in (f["title"], f["h1"], f["legend"]):
            raw = [w for w in RAW.findall(text) if w in columns]
            assert raw == [], (name, raw, text[:200])
        assert "High-High" not in f["legend"] and "Low-Low" not in f["legend"]
        # the title names the area and the indicator's period (from the catalogue)
        assert "Synthetic Demo" in f["title"], f["title"]
        for c in f["columns"]:
            assert describe(c).period in f["title"], (f["title"], c)


def test_pages_drawn_from_openstreetmap_credit_it(page_facts):
    osm_pages = 0
    for name, f in page_facts.items():
        if any(describe(c).uses_osm for c in f["columns"]):
            osm_pages += 1
            assert OSM_ATTRIBUTION in f["credit"], name
    assert osm_pages >= 3  # green space, fast food, drive times


def covered_share(page) -> float:
    """Share of the map's area under a control (title, legend, search, layers, attribution)."""
    return page.evaluate("""() => {
      const map = document.querySelector('.folium-map').getBoundingClientRect();
      let hit = 0, n = 0;
      for (let x = map.left + 2; x < map.right; x += 8) {
        for (let y = map.top + 2; y < map.bottom; y += 8) {
          n += 1;
          const el = document.elementFromPoint(x, y);
          if (el && el.closest('.leaflet-control, .hg-banner')) hit += 1;
        }
      }
      return hit / n;
    }""")


def test_phone_view_leaves_most_of_the_map_visible(browser, demo_build):  # noqa: F811
    for name in ("msoa-le-male.html", "lisa-msoa-le-male.html", "lsoa-imd-score.html"):
        context = browser.new_context(viewport={"width": 390, "height": 844}, offline=True,
                                      is_mobile=True, has_touch=True, device_scale_factor=2)
        page = context.new_page()
        page.goto((demo_build / "atlas" / name).as_uri())
        page.wait_for_selector(".hg-legend")
        page.wait_for_timeout(300)
        try:
            share = covered_share(page)
            assert share < 0.35, (name, share)
            # the legend starts folded and opens on a tap
            assert page.evaluate("document.querySelector('details.hg-fold').open") is False
            page.tap("details.hg-fold > summary")
            assert page.evaluate("document.querySelector('details.hg-fold').open") is True
            # pinch-zoom is Leaflet's and stays on
            assert page.evaluate("window[document.querySelector('.folium-map').id]"
                                 ".touchZoom.enabled()") is True
        finally:
            context.close()


def test_story_numbers_equal_the_geopackage(browser, demo_build):  # noqa: F811
    context, page, _, problems = open_offline(browser, demo_build / "atlas" / "index.html")
    try:
        nums = page.eval_on_selector_all(
            "data.hg-num", "els => els.map(e => [e.dataset.key, e.dataset.source, "
            "Number(e.value), e.textContent])")
        assert page.evaluate("document.documentElement.lang").startswith("en")
        assert problems == []
    finally:
        context.close()
    msoa = read(demo_build, "msoa").set_index("msoa_code")
    msoa = msoa[msoa["in_area"] == 1]
    place = read(demo_build, "place").set_index("place_code")
    sii = read(demo_build, "model_sii")
    nbhd = read(demo_build, "neighbourhood").set_index("nbhd_cd")
    nbhd = nbhd[nbhd["in_area"] == 1] if "in_area" in nbhd.columns else nbhd
    expected: dict[str, float] = {}
    for sex in ("male", "female"):
        v = msoa[f"le_{sex}"].dropna()
        expected |= {f"le_{sex}_min": v.min(), f"le_{sex}_max": v.max(),
                     f"le_{sex}_range": v.max() - v.min(), f"le_{sex}_n": len(v)}
        for code, value in v.sort_values(kind="stable").head(5).items():
            expected[f"lowest_{sex}_{code}"] = value
        row = sii[(sii["sex"] == sex) & (sii["level"] == "system")].iloc[0]
        lo = "sii_lo" if "sii_lo" in sii.columns else "sii_lci"
        hi = "sii_hi" if "sii_hi" in sii.columns else "sii_uci"
        expected |= {f"sii_{sex}": row["sii"], f"sii_{sex}_lo": row[lo],
                     f"sii_{sex}_hi": row[hi], f"gap_{sex}": row["gap"],
                     f"gap_{sex}_lo": row["gap_lo"], f"gap_{sex}_hi": row["gap_hi"]}
        eng = sii[(sii["sex"] == sex) & (sii["level"] == "england")].iloc[0]
        expected |= {f"sii_{sex}_england": eng["sii"], f"sii_{sex}_england_lo": eng[lo],
                     f"sii_{sex}_england_hi": eng[hi]}
        # the neighbourhoods (30-50k people) with the lowest life expectancy (issue #14 layer)
        nb = nbhd[f"le_{sex}_pwmean"].dropna().sort_values(kind="stable").head(5)
        for code, value in nb.items():
            expected[f"lowest_nbhd_{sex}_{code}"] = value
        for code, value in place[f"le_{sex}_pwmean"].items():
            expected[f"place_{code}_le_{sex}_pwmean"] = value
    system = read(demo_build, "system").iloc[0]
    expected |= {"core20_pop": system["core20_pop"], "core20_share": 100 * system["core20_share"]}
    # the at-a-glance panel: the system's own life expectancy and the SII against England's
    vs = read(demo_build, "model_sii_vs_england")
    for sex in ("male", "female"):
        expected[f"le_{sex}_system"] = system[f"le_{sex}_pwmean"]
        r = vs[(vs["sex"] == sex) & (vs["level"] == "system")].iloc[0]
        expected |= {f"sii_{sex}_difference": r["sii_difference"],
                     f"sii_{sex}_difference_lo": r["sii_difference_lo"],
                     f"sii_{sex}_difference_hi": r["sii_difference_hi"]}
    # the England comparison that decides the verdict (issue #23): gradients per 10 IMD points
    grad = read(demo_build, "model_gradient_vs_england")
    for sex in ("male", "female"):
        g = grad[(grad["sex"] == sex) & (grad["level"] == "system")]
        if len(g):
            r = g.iloc[0]
            expected |= {f"gradient_{sex}": r["le_drop_per_10_imd"],
                         f"gradient_{sex}_england": r["england_le_drop_per_10_imd"],
                         f"imd_min_{sex}": r["imd_min"], f"imd_max_{sex}": r["imd_max"]}
    from_build = [n for n in nums if n[1] != "comparator"]
    assert len(from_build) >= 30
    for key, _source, value, text in from_build:
        assert key in expected, f"story number {key!r} has no GeoPackage reference here"
        assert value == pytest.approx(float(expected[key]), rel=1e-12, abs=1e-12), key
        shown = float(text.split()[0].replace(",", "").replace("\u2212", "-"))
        assert shown == pytest.approx(value, abs=0.051), (key, text)
    keys = {n[0] for n in nums}
    assert {"le_male_range", "sii_male", "sii_male_lo", "gap_female"} <= keys
    assert {"le_male_system", "le_female_system", "sii_male_difference", "core20_share"} <= keys
    # ONS's published England SII beside ours (geo.england.ONS_REFERENCE: 9.4 and 7.6)
    shown = {n[0]: n[2] for n in nums}
    assert shown["sii_male_ons"] == 9.4 and shown["sii_female_ons"] == 7.6


def test_csv_download_is_what_the_page_draws(browser, demo_build):  # noqa: F811
    context, page, _, _ = open_offline(browser, demo_build / "atlas" / "msoa-le-male.html")
    try:
        with page.expect_download() as info:
            page.click(".hg-download")
        text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    finally:
        context.close()
    rows = list(csv.DictReader(io.StringIO(text)))
    msoa = read(demo_build, "msoa").set_index("msoa_code")
    msoa = msoa[msoa["in_area"] == 1]
    assert len(rows) == len(msoa)
    label = f"{INDICATORS['le_male'].label} (years)"
    assert set(rows[0]) == {"layer", "code", "name", label, "map class"}
    for r in rows:
        v = msoa.loc[r["code"], "le_male"]
        if np.isnan(v):
            assert r[label] == "" and r["map class"] == "Suppressed / no data"
        else:
            assert float(r[label]) == pytest.approx(v, abs=0.051)
        assert r["name"] == msoa.loc[r["code"], "msoa_name"]


def test_search_finds_a_neighbourhood_by_code_and_by_name(browser, demo_build):  # noqa: F811
    msoa = read(demo_build, "msoa").set_index("msoa_code")
    code = msoa[msoa["in_area"] == 1]["le_male"].idxmin()
    name = msoa.loc[code, "msoa_name"]
    context, page, _, problems = open_offline(browser, demo_build / "atlas" / "msoa-le-male.html")
    try:
        map_js = "window[document.querySelector('.folium-map').id]"
        before = page.evaluate(f"{map_js}.getZoom()")
        page.fill(".hg-search input", code)
        page.press(".hg-search input", "Enter")
        page.wait_for_timeout(600)
        assert code in page.inner_text(".hg-found")
        assert page.evaluate(f"{map_js}.getZoom()") > before
        inside = page.evaluate(f"""() => {{
            let found = null;
            hg.registry[0].layer.eachLayer(l => {{ if (l.feature.id === {code!r}) found = l; }});
            return {map_js}.getBounds().contains(found.getBounds().getCenter());
        }}""")
        assert inside
        page.fill(".hg-search input", name.lower())
        page.press(".hg-search input", "Enter")
        page.wait_for_timeout(300)
        assert name in page.inner_text(".hg-found")
        page.fill(".hg-search input", "no such place")
        page.press(".hg-search input", "Enter")
        assert "Nothing found" in page.inner_text(".hg-found")
        assert problems == []
    finally:
        context.close()


def test_print_layout_puts_the_legend_beside_the_map(browser, demo_build):  # noqa: F811
    context, page, _, _ = open_offline(browser, demo_build / "atlas" / "msoa-le-male.html")
    try:
        page.emulate_media(media="print")
        page.wait_for_timeout(200)
        box = page.evaluate("""() => {
            const r = s => document.querySelector(s).getBoundingClientRect().toJSON();
            return {map: r('.folium-map'), legend: r('.hg-legend'), title: r('.hg-title'),
                    layers: getComputedStyle(document.querySelector('.leaflet-control-layers'))
                            .display};
        }""")
        assert box["legend"]["left"] >= box["map"]["right"] - 1
        assert box["title"]["left"] >= box["map"]["right"] - 1
        assert box["layers"] == "none"
        pdf = page.pdf(format="A4", landscape=True, print_background=True)
        assert pdf[:4] == b"%PDF" and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type/Page") <= 2
    finally:
        context.close()


def test_layer_control_works_from_the_keyboard(browser, demo_build):  # noqa: F811
    context, page, _, problems = open_offline(browser, demo_build / "atlas" / "msoa-le-male.html")
    try:
        boxes = "document.querySelectorAll('.leaflet-control-layers-overlays input')"
        assert page.evaluate(f"{boxes}.length") >= 2
        # Tab from the page start until a layer checkbox has the focus, then Space unticks it
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.matches("
                             "'.leaflet-control-layers-overlays input')"):
                break
        else:
            pytest.fail("no layer checkbox reachable with Tab")
        name = page.evaluate("document.activeElement.parentElement.textContent.trim()")
        shown = page.evaluate("hg.registry.filter(r => r.spec.column)[0].layer._map !== null")
        assert shown
        page.keyboard.press("Space")
        assert page.evaluate("document.activeElement.checked") is False
        if name == INDICATORS["le_male"].label:
            assert page.evaluate(
                "hg.registry.filter(r => r.spec.column)[0].layer._map") is None
        assert problems == []
    finally:
        context.close()



def pdf_facts(pdf: bytes, tmp_path: Path) -> tuple[int, str]:
    """Pages and text of a PDF, read by poppler's pdfinfo and pdftotext (not by Chromium)."""
    import subprocess

    path = tmp_path / "front.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    found = re.search(r"^Pages:\s+(\d+)", info.stdout, re.M)
    assert found is not None, info.stdout
    pages = int(found.group(1))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    return pages, text


ABSOLUTE = re.compile(r"(?<![\w.])/(?:home|tmp|work|root|usr|srv|var|mnt|Users)/")


def test_front_page_prints_on_four_a4_pages_with_the_five_figures_and_no_path(
        browser, demo_build, tmp_path):  # noqa: F811
    context, page, _, problems = open_offline(browser, demo_build / "atlas" / "index.html")
    try:
        assert page.locator(".glance .fig").count() == 5
        for fig in page.locator(".glance .fig").all():
            text = fig.inner_text()
            assert "Period" in text and "Interval" in text and "Compared with" in text, text
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=True)
        assert problems == []
    finally:
        context.close()
    pages, text = pdf_facts(pdf, tmp_path)
    assert 1 <= pages <= 4, pages
    assert "At a glance" in text and "ONS" in text
    assert not ABSOLUTE.search(text), ABSOLUTE.search(text)
    assert str(demo_build) not in text
    # the run details are a page of their own, also free of the build machine's folders
    run = (demo_build / "atlas" / "manifest.html").read_text(encoding="utf-8")
    assert "sha256" in run and not ABSOLUTE.search(run) and str(demo_build) not in run


SCROLL_JS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_no_page_scrolls_sideways_at_1280_or_390_px(browser, demo_build):  # noqa: F811
    pages = sorted((demo_build / "atlas").glob("*.html"))
    assert len(pages) > 20
    for width, height in ((1280, 800), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height},
                                      offline=True)
        page = context.new_page()
        try:
            for path in pages:
                page.goto(path.as_uri())
                page.wait_for_load_state("load")
                assert page.evaluate(SCROLL_JS) <= 0, (path.name, width)
        finally:
            context.close()


def test_england_relative_view_breaks_at_englands_value(browser, demo_build):  # noqa: F811
    """SMR classes about 100, life expectancy about England's: each area's class recomputed
    here from its value (edges 5 and 20 points, 1 and 3 years; worse side first)."""
    for name, england, near, far, higher_worse in (
            ("msoa-smr-under75-vs-england.html", 100.0, 5.0, 20.0, True),
            ("msoa-le-male-vs-england.html", None, 1.0, 3.0, False)):
        context, page, _, problems = open_offline(browser, demo_build / "atlas" / name)
        try:
            got = page.evaluate("""() => { const r = hg.registry.find(x => x.spec.relative_to);
                return {v: r.data.p.v, c: r.data.p.c, s: r.data.p.s, e: r.spec.england,
                        legend: document.querySelector('.hg-legend').innerText}; }""")
            assert problems == []
        finally:
            context.close()
        e = got["e"] if england is None else england
        assert e == pytest.approx(got["e"])
        for v, c, verdict in zip(got["v"], got["c"], got["s"], strict=True):
            if v is None:
                assert c == -1
                continue
            worse = (v - e) if higher_worse else (e - v)
            want = 0 if worse > far else 1 if worse > near else 2 if worse >= -near else (
                3 if worse >= -far else 4)
            if abs(abs(worse) - near) > 0.051 and abs(abs(worse) - far) > 0.051:
                assert c == want, (name, v, c, want)
            # the build has no small-area intervals: no "significant" verdict anywhere
            assert verdict == "the source gives no interval, so no verdict is drawn"
        assert "no area is called significantly different" in got["legend"]


def test_tooltips_state_the_interval_or_that_there_is_none(browser, demo_build):  # noqa: F811
    context, page, _, _ = open_offline(browser, demo_build / "atlas" / "msoa-le-male.html")
    try:
        tip = page.evaluate("""() => { const r = hg.registry.find(x => x.spec.column);
            let first = null; r.layer.eachLayer(l => { if (!first &&
                l.feature.properties.v !== null) first = l; });
            return hg.tip(r.spec.tip)(first); }""")
    finally:
        context.close()
    assert "the source gives no interval" in tip


def test_cliffs_are_in_years_and_clusters_say_why_they_differ(demo_build):
    cliffs = (demo_build / "atlas" / "cliffs-le-male.html").read_text(encoding="utf-8")
    # differences in years, and only borders passing the FDR drawn as cliffs (issue #23)
    assert "per mile" not in cliffs and "false discovery rate" in cliffs
    index = (demo_build / "atlas" / "index.html").read_text(encoding="utf-8")
    assert "It can differ from the local Moran" in index or "The two can differ" in index


def visible_label_boxes(page) -> list[dict]:
    return page.evaluate("""() => Array.from(document.querySelectorAll('.hg-label'))
        .map(e => e.getBoundingClientRect().toJSON())
        .filter(b => b.width > 0 && b.right > 0 && b.bottom > 0
                && b.left < innerWidth && b.top < innerHeight)""")


def overlapping(boxes: list[dict]) -> list[tuple[dict, dict]]:
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if (min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5
                    and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5):
                out.append((a, b))
    return out


def labels_at_zooms(browser, path: Path, zooms) -> dict[int, list[dict]]:  # noqa: F811
    context, page, _, problems = open_offline(browser, path)
    map_js = "window[document.querySelector('.folium-map').id]"
    found = {}
    try:
        centre = page.evaluate(f"{map_js}.getCenter()")
        for z in zooms:
            page.evaluate(f"{map_js}.setView([{centre['lat']}, {centre['lng']}], {z}, "
                          "{animate: false})")
            page.wait_for_timeout(250)
            found[z] = visible_label_boxes(page)
        assert problems == []
    finally:
        context.close()
    return found


def test_no_two_visible_labels_overlap_at_three_zooms(browser, demo_build):  # noqa: F811
    found = labels_at_zooms(browser, demo_build / "atlas" / "msoa-le-male.html", (9, 11, 13))
    for z, boxes in found.items():
        assert overlapping(boxes) == [], z
    assert len(found[13]) >= 5  # small-area names are written from zoom 13
