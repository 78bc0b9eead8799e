"""Finding your own streets in a real atlas (issue #24), in headless Chromium, offline.

A real Rutland build (E06000017, no models: about a minute) with its atlas and one what-if
scenario. The ward and postcode expected for a small area are read here straight from the ONS
lookups in ../shared/data, not from the build: search finds a ward and a postcode; ward names
are written on the map from their zoom with no two labels overlapping at three zooms; the
what-if page names the practice it closes, the area and the travel mode, uses the access map's
classes and colours, and the two pages link to each other.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from healthgap.services import whatif as wi

from tests import _builds
from tests._names import neutral
from tests.maps.test_atlas_browser import SCROLL_JS, labels_at_zooms, overlapping
from tests.maps.test_browser import browser, open_offline  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUTLAND = "E06000017"
CHOSEN = "E01013790"  # Rutland 001C, unchanged between the 2011 and 2021 LSOAs
MAP_JS = "window[document.querySelector('.folium-map').id]"


@pytest.fixture(scope="module")
def rutland(shared_data, tmp_path_factory) -> Path:
    # the run's shared Rutland atlas build (tests/_builds.py), copied: the what-if writes into it
    root = tmp_path_factory.mktemp("rutland-atlas") / RUTLAND
    shutil.copytree(_builds.rutland_2025_atlas(shared_data).store.path.parent, root)
    lsoa = neutral(
        pyogrio.read_dataframe(root / "healthgap.gpkg", layer="lsoa", read_geometry=False))
    nearest = str(lsoa.set_index("lsoa_code").loc[CHOSEN, "gp_nearest_code"])
    wi.run_whatif(root, {"close": [nearest]})
    wi.write_page(root)
    return root


@pytest.fixture(scope="module")
def expected(shared_data) -> dict[str, str]:
    """The chosen small area's ward and a postcode, from the ONS lookups themselves."""
    wards = neutral(pd.read_csv(shared_data / "geography" / "lsoa21_ward24_ltla24_lookup_ew.csv"))
    ward = wards.loc[wards["lsoa21_code"] == CHOSEN, "ward24_name"].iloc[0]
    pcs = neutral(pd.read_csv(shared_data / "postcodes"
                      / "postcode_oa11_lsoa11_msoa11_lad22_lookup_ew_live_may22.csv.gz",
                      usecols=["pcds", "lsoa11cd"]))
    postcode = sorted(pcs.loc[pcs["lsoa_code"] == CHOSEN, "pcds"])[0]
    return {"ward": ward, "postcode": postcode}


def _search(page, text: str) -> str:
    page.fill(".hg-search input", text)
    page.press(".hg-search input", "Enter")
    page.wait_for_timeout(400)
    return page.inner_text(".hg-found")


def test_search_finds_a_ward_a_postcode_and_a_practice(browser, rutland, expected):  # noqa: F811
    context, page, requests, problems = open_offline(
        browser, rutland / "atlas" / "lsoa-imd-score.html")
    try:
        before = page.evaluate(f"{MAP_JS}.getZoom()")
        found = _search(page, expected["ward"])
        assert expected["ward"] in found and "ward" in found, found
        assert page.evaluate(f"{MAP_JS}.getZoom()") > before
        # a postcode typed in lower case without its space finds its small area
        found = _search(page, expected["postcode"].lower().replace(" ", ""))
        assert expected["postcode"] in found and CHOSEN in found, found
        inside = page.evaluate(f"""() => {{
            let hit = null;
            hg.registry[0].layer.eachLayer(l => {{ if (l.feature.id === {CHOSEN!r}) hit = l; }});
            return {MAP_JS}.getBounds().contains(hit.getBounds().getCenter()); }}""")
        assert inside
        assert "not in this area" in _search(page, "SW1A 1AA")
        fac = neutral(pyogrio.read_dataframe(rutland / "healthgap.gpkg", layer="facilities",
                                     read_geometry=False))
        name = str(fac[fac["kind"] == "gp"]["name"].iloc[0])
        assert "GP practice" in _search(page, name.lower())
        # a neighbourhood (30-50k people) and a small area by their names
        nb = neutral(pyogrio.read_dataframe(rutland / "healthgap.gpkg", layer="neighbourhood",
                                    read_geometry=False))
        assert str(nb["nbhd_nm"].iloc[0]) in _search(page, str(nb["nbhd_nm"].iloc[0]))
        assert "E02002863" in _search(page, "Rutland 001")
        assert problems == [] and all(u.startswith("file://") for u in requests)
    finally:
        context.close()


def test_ward_labels_appear_from_their_zoom_without_overlap(browser, rutland):  # noqa: F811
    found = labels_at_zooms(browser, rutland / "atlas" / "lsoa-imd-score.html", (10, 12, 14))
    for z, boxes in found.items():
        assert overlapping(boxes) == [], z
    context, page, _, _ = open_offline(browser, rutland / "atlas" / "lsoa-imd-score.html")
    try:
        page.evaluate(f"{MAP_JS}.setView([52.668, -0.728], 13, {{animate: false}})")
        page.wait_for_timeout(250)
        wards = page.eval_on_selector_all(".hg-label-ward", "els => els.map(e => e.textContent)")
        page.evaluate(f"{MAP_JS}.setZoom(10, {{animate: false}})")
        page.wait_for_timeout(250)
        none = page.eval_on_selector_all(".hg-label-ward", "els => els.length")
    finally:
        context.close()
    assert any(w.startswith("Oakham") for w in wards), wards  # Oakham's wards, at zoom 13
    assert none == 0  # not before the ward zoom (12)


def test_whatif_page_names_the_practice_area_and_mode(browser, rutland):  # noqa: F811
    store = rutland / "healthgap.gpkg"
    changed = neutral(pyogrio.read_dataframe(store, layer="whatif_facilities", read_geometry=False))
    fac = neutral(pyogrio.read_dataframe(store, layer="facilities", read_geometry=False))
    code = str(changed["code"].iloc[0])
    name = str(fac.loc[fac["code"].astype(str) == code, "name"].iloc[0])
    context, page, _, problems = open_offline(browser, rutland / "atlas" / "whatif.html")
    try:
        assert page.evaluate("document.documentElement.lang") == "en-GB"
        text = page.inner_text("body")
        assert f"{name} ({code})" in text and "Rutland" in page.title()
        assert "by car on the road network" in page.inner_text("#mode")
        assert page.locator('a[href="access-gp.html"]').count() == 1
        assert page.locator('a[href="index.html"]').count() >= 1
        cfg = page.evaluate("CFG.seq")
        assert problems == []
    finally:
        context.close()
    # the access map: the same classes and colours, and a link to the what-if page
    context, page, _, _ = open_offline(browser, rutland / "atlas" / "access-gp.html")
    try:
        access = page.evaluate("""() => { const r = hg.registry.find(x => x.spec.column);
            return {colours: r.spec.style.classes.map(c => c.fillColor),
                    labels: r.spec.classLabels}; }""")
        assert page.locator('.hg-title a[href="whatif.html"]').count() == 1
    finally:
        context.close()
    assert cfg["colours"] == access["colours"]
    assert len(cfg["breaks"]) == len(access["labels"]) - 1
    assert cfg["labels"] == access["labels"]  # the key reads as the access map's legend
    for bound, label in zip(cfg["breaks"], access["labels"], strict=False):
        shown = float(label.split("–")[-1].strip().replace(",", ""))
        assert abs(shown - bound) <= 0.05 + 1e-9, (bound, label)
    index = (rutland / "atlas" / "index.html").read_text(encoding="utf-8")
    assert 'href="whatif.html"' in index


def test_real_pages_do_not_scroll_sideways(browser, rutland):  # noqa: F811
    names = ("index.html", "whatif.html", "manifest.html", "glossary.html", "access-gp.html")
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 800}, offline=True)
        page = context.new_page()
        try:
            for name in names:
                page.goto((rutland / "atlas" / name).as_uri())
                assert page.evaluate(SCROLL_JS) <= 0, (name, width)
        finally:
            context.close()
