"""The atlas in a real headless Chromium with the network cut off.

Each page is opened from disk in a browser context that is offline and aborts every request that
is not a ``file://`` URL. The tests read the drawn SVG paths from the DOM, look at the pixels of a
screenshot, hover a neighbourhood to read its tooltip, and fail on any console error.

Needs Debian's ``chromium`` (``make browser``) and the ``playwright`` package (its own browser
download is not used).
"""

from __future__ import annotations

import io
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from healthgap.geo.indicators import INDICATORS
from healthgap.maps._classify import grammar_palette
from healthgap.maps._layers import PageOptions
from healthgap.maps.access import access_map
from healthgap.maps.atlas import Page, write_atlas
from healthgap.maps.charts import add_chart_panel, sii_chart
from healthgap.maps.choropleth import choropleth, reworded
from healthgap.maps.clusters import lisa_map, lisa_styles

from tests._names import neutral

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
LE = "le_birth_male_2015_19"
BACKGROUND = (0xF4, 0xF4, 0xF2)  # .leaflet-container background in maps/_assets.py
SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "test-screenshots"


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    if chromium is None:
        pytest.fail("headless Chromium not found (/usr/bin/chromium): run `make browser` "
                    "(installs the Debian chromium package) before the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[test]' (it drives the "
                    "system Chromium; do not run `playwright install`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def atlas(tmp_path_factory, frimley_msoa, frimley_lisa, frimley_places, frimley_system,
          shared_data):
    import geopandas as gpd
    import pandas as pd

    out = tmp_path_factory.mktemp("atlas")
    boundaries = [frimley_places, frimley_system]
    le = frimley_msoa.assign(lci=frimley_msoa[LE] - 1.1, uci=frimley_msoa[LE] + 1.1)
    le_map = choropleth(le, LE,
                        indicator=reworded(LE, label="Male life expectancy", units="years",
                                           direction="better"),
                        compare={"England": 79.6}, ci=("lci", "uci"),
                        page=PageOptions(boundaries=boundaries))
    ranks = np.arange(0.05, 1.0, 0.1)
    add_chart_panel(le_map, [sii_chart(pd.DataFrame({"rank": ranks, "value": 76 + 8 * ranks}),
                                       slope=8.0, intercept=76.0, label="Male LE")],
                    open_at_start=True)
    lisa = lisa_map(frimley_lisa, "lisa",
                    indicator=reworded("lisa", label="IMD 2019 score", direction="worse"),
                    page=PageOptions(boundaries=boundaries, basemap=True,
                                     weights="Queen contiguity, row-standardised",
                                     permutations=999, correction="none", alpha=0.05))
    gp = neutral(pd.read_csv(
        shared_data / "health_services" / "gp_practices_epraccur_dec2023_geocoded.csv"
    ))
    gp = gp[(gp.status_code == "A") & (gp.prescribing_setting == 4)
            & gp.lsoa_code.isin(frimley_lisa.index) & gp.easting.notna()]
    facilities = gpd.GeoDataFrame({"code": gp.org_code, "name": gp.name, "kind": "GP practice"},
                                  geometry=gpd.points_from_xy(gp.easting, gp.northing),
                                  crs=27700)
    access = access_map(frimley_lisa.assign(t=frimley_lisa["imd_score"] / 3), "t", facilities,
                        indicator=reworded("t", label="Travel time (made up)", units="minutes"),
                        page=PageOptions(boundaries=boundaries))
    index = write_atlas(out, pages=[Page("le", "Life expectancy", le_map),
                                    Page("lisa", "LISA", lisa),
                                    Page("access", "Access", access)],
                        manifest={"parameters": {"seed": 1}},
                        sources=[{"name": "IMD 2019", "licence": "OGL v3"}],
                        synthetic=True, title="Test atlas")
    return {"index": index, "n_gp": len(facilities), "le": le, "lisa": frimley_lisa}


def open_offline(browser, path: Path):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    requests: list[str] = []
    problems: list[str] = []

    def route(r):
        requests.append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("requestfailed", lambda req: problems.append(f"failed: {req.url}"))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_selector(".hg-legend, main", timeout=30_000)
    page.wait_for_timeout(300)
    return context, page, requests, problems


def fills(page) -> Counter:
    return Counter(page.eval_on_selector_all(
        ".leaflet-overlay-pane path", "els => els.map(e => e.getAttribute('fill'))"))


def blended(colour: str, opacity: float = 0.85) -> np.ndarray:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    return np.round(opacity * rgb + (1 - opacity) * np.array(BACKGROUND))


def pixels_near(png: bytes, rgb: np.ndarray, tol: int = 3) -> int:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(img - rgb).max(axis=2) <= tol).sum())


def hover_tooltip(page, lat: float, lon: float) -> str:
    x, y = page.evaluate(
        """([lat, lon]) => {
            const m = window[document.querySelector('.folium-map').id];
            const p = m.latLngToContainerPoint([lat, lon]);
            const r = m.getContainer().getBoundingClientRect();
            return [p.x + r.left, p.y + r.top];
        }""", [lat, lon])
    page.mouse.move(x - 2, y - 2)
    page.mouse.move(x, y)
    tip = ".leaflet-tooltip:not(.hg-label)"  # not a place-name label
    page.wait_for_selector(tip, timeout=5_000)
    return page.inner_text(tip)


def test_choropleth_page_draws_classes_legend_and_tooltip(browser, atlas):
    context, page, requests, problems = open_offline(browser, atlas["index"].parent / "le.html")
    le = atlas["le"]
    drawn = fills(page)
    n_missing = int(le[LE].isna().sum())
    expected = set(grammar_palette(5, "better")) | {"url(#hg-hatch)", "none"}
    assert set(drawn) == expected
    assert sum(n for f, n in drawn.items() if f != "none") == len(le)
    assert drawn["url(#hg-hatch)"] == n_missing == 1
    assert drawn["none"] == 9 + 1  # outlines: nine places and the system
    legend = page.inner_text(".hg-legend")
    assert "Male life expectancy (years)" in legend and "Suppressed / no data" in legend
    assert page.is_visible(".hg-banner")
    assert "Contains OS data © Crown copyright" in page.inner_text(".leaflet-control-attribution")
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-layers-overlays label").count() == 3
    # the chart panel is open and its SVG has been laid out
    box = page.locator(".hg-charts svg").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    # pixels: every class colour is painted (blended with the background at 85% opacity)
    page.evaluate("document.querySelector('.hg-charts details').open = false")
    png = page.screenshot()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "le.png").write_bytes(png)
    for colour in grammar_palette(5, "better"):
        assert pixels_near(png, blended(colour)) > 40, colour
    # hover one MSOA and read its tooltip
    code = le[LE].dropna().index[0]
    point = le.loc[[code]].geometry.representative_point().to_crs(4326).iloc[0]
    tip = hover_tooltip(page, point.y, point.x)
    value = le.loc[code, LE]
    assert le.loc[code, "msoa_name"] in tip and code in tip
    assert f"Male life expectancy: {value:.1f} years" in tip
    assert f"(95% CI {value - 1.1:.1f}–{value + 1.1:.1f})" in tip
    assert "England: 79.6 years" in tip
    assert [r for r in requests if not r.startswith("file://")] == []
    assert problems == []
    context.close()


def test_lisa_page_uses_the_cluster_colours(browser, atlas):
    context, page, requests, problems = open_offline(browser, atlas["index"].parent / "lisa.html")
    drawn = fills(page)
    labels = atlas["lisa"]["lisa"]
    styles = lisa_styles(INDICATORS["imd_score"])
    expected = {styles[lab].colour: n for lab, n in labels.value_counts().items()}
    assert {f: n for f, n in drawn.items() if f != "none"} == expected
    png = page.screenshot()
    (SCREENSHOTS / "lisa.png").write_bytes(png)
    for colour in (styles["High-High"].colour, styles["Low-Low"].colour):
        assert pixels_near(png, blended(colour)) > 40
    assert "999 conditional permutations" in page.inner_text(".hg-legend")
    # the optional basemap is listed but off: no tile is requested, so nothing fails offline
    overlays = page.inner_text(".leaflet-control-layers-overlays")
    assert "OpenStreetMap basemap (needs internet)" in overlays
    assert page.locator(".leaflet-tile").count() == 0
    assert problems == [] and all(r.startswith("file://") for r in requests)
    context.close()


def test_access_page_draws_every_facility(browser, atlas):
    context, page, _, problems = open_offline(browser, atlas["index"].parent / "access.html")
    markers = page.eval_on_selector_all(
        ".leaflet-overlay-pane path.leaflet-interactive",
        "els => els.filter(e => e.getAttribute('fill') === '#08519c').length")
    assert markers == atlas["n_gp"]
    assert problems == []
    context.close()


def test_index_opens_offline_and_links_exist(browser, atlas):
    context, page, requests, problems = open_offline(browser, atlas["index"])
    links = page.eval_on_selector_all("main a", "els => els.map(e => e.getAttribute('href'))")
    local = [h for h in links if not h.startswith(("http", "#"))]
    # the manifest has its own page (which links manifest.json); the glossary is linked too
    assert {"le.html", "lisa.html", "access.html", "manifest.html", "glossary.html"} <= set(local)
    for href in local:
        assert (atlas["index"].parent / href).exists(), href
    assert "SYNTHETIC DEMO DATA" in page.inner_text(".banner")
    assert problems == [] and all(r.startswith("file://") for r in requests)
    context.close()
