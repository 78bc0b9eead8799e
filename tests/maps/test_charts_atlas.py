"""Charts (maps/charts.py), the atlas writer (maps/atlas.py) and the offline assets."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import folium
import numpy as np
import pandas as pd
import pytest
from healthgap.maps import _assets
from healthgap.maps._layers import PageOptions
from healthgap.maps.atlas import Page, render_page, write_atlas
from healthgap.maps.charts import add_chart_panel, decay_chart, sii_chart
from healthgap.maps.choropleth import choropleth, reworded

from healthgap.errors import InputError, MissingColumnError, OfflineError, ParameterError

SVG = "{http://www.w3.org/2000/svg}"


def _sii_points():
    ranks = np.arange(0.05, 1.0, 0.1)
    values = 76.0 + 8.0 * ranks
    return pd.DataFrame({"rank": ranks, "value": values, "lci": values - 0.6,
                         "uci": values + 0.6})


def test_sii_chart_is_offline_svg_with_the_fitted_line():
    chart = sii_chart(_sii_points(), slope=8.0, intercept=76.0, label="Male life expectancy",
                      slope_ci=(7.1, 8.9))
    root = ET.fromstring(chart.svg)
    assert root.tag == f"{SVG}svg"
    text = "".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "Slope index of inequality in Male life expectancy: 8.0 years" in text
    assert "95% CI 7.1 to 8.9" in text
    assert "Relative rank of deprivation" in text
    assert _assets.remote_resources(chart.svg) == []
    assert "<image" not in chart.svg and "xlink:href=\"http" not in chart.svg
    again = sii_chart(_sii_points(), slope=8.0, intercept=76.0, label="Male life expectancy",
                      slope_ci=(7.1, 8.9))
    assert again.svg == chart.svg  # same input, same bytes (no timestamp, fixed ids)


def test_sii_chart_errors():
    with pytest.raises(MissingColumnError, match="value"):
        sii_chart(_sii_points().drop(columns="value"), slope=1, intercept=0, label="x")
    bad = _sii_points().assign(rank=lambda d: d["rank"] * 2)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        sii_chart(bad, slope=1, intercept=0, label="x")


def test_decay_chart_and_panel(frimley_lsoa):
    d = np.linspace(0, 10, 41)
    chart = decay_chart({"Gaussian (bandwidth 4 km)": (d, np.exp(-((d / 4) ** 2))),
                         "Exponential": (d, np.exp(-d / 3))},
                        observed={"Observed share": ([1, 3, 5], [0.9, 0.6, 0.2])},
                        caption="Made-up curves.")
    text = "".join(t.text or "" for t in ET.fromstring(chart.svg).iter(f"{SVG}text"))
    assert "Gaussian (bandwidth 4 km)" in text and "Distance (km)" in text
    with pytest.raises(InputError, match="41 distances but 3 weights"):
        decay_chart({"x": (d, [1, 2, 3])})
    m = choropleth(frimley_lsoa, "imd_score", indicator=reworded("imd_score", label="IMD"))
    panel = add_chart_panel(m, [chart])
    assert "<details><summary>Charts</summary><figure><div role=\"img\" aria-label=" in (
        panel.html_text)
    assert "<svg" in panel.html_text and "The figures as a table" in panel.html_text
    assert "Made-up curves." in panel.html_text
    page = m.get_root().render()
    assert _assets.remote_resources(page) == []
    with pytest.raises(ParameterError, match="at least one chart"):
        add_chart_panel(m, [])


def test_vendored_assets_are_the_published_files():
    assert _assets.vendored_files() == _assets.VENDORED_SHA256
    css = _assets.leaflet_css()
    assert "url(images/" not in css and "data:image/png;base64," in css
    assert _assets.remote_resources(_assets.head_html()) == []


def test_remote_resource_check_catches_folium_cdn_links():
    page = folium.Map().get_root().render()  # plain folium links CDN copies
    remote = _assets.remote_resources(page)
    assert any("leaflet" in url for url in remote) and any("jquery" in url for url in remote)
    with pytest.raises(OfflineError, match="x.html: the page would load"):
        _assets.check_offline(page, page="x.html")
    assert _assets.remote_resources('<a href="https://example.org">x</a>') == []
    assert _assets.remote_resources(
        "<style>@import 'https://x.org/a.css'; b {background: url(//x.org/i.png)}</style>"
    ) == ["//x.org/i.png", "https://x.org/a.css"]


SOURCES = [
    {"name": "English Indices of Deprivation 2019", "publisher": "MHCLG",
     "licence": "Open Government Licence v3.0", "url": "https://www.gov.uk/x"},
    {"name": "GP practices (ODS epraccur)", "publisher": "NHS England",
     "licence": "Open Government Licence v3.0"},
    {"name": "OpenStreetMap", "licence": "ODbL 1.0"},
]
MANIFEST = {
    "inputs": [{"name": "imd2019_lsoa11_england.csv", "sha256": "ab" * 32, "rows": 32844}],
    "parameters": {"seed": 42, "permutations": 999},
    "versions": {"healthgap": "0.1.0", "esda": "2.9.0"},
    "created": "2025-01-01T00:00:00Z",
}


def test_write_atlas(tmp_path, frimley_lsoa):
    pages = [
        Page("imd", "Deprivation (IMD 2019)",
             choropleth(frimley_lsoa, "imd_score", indicator=reworded("imd_score", label="IMD")),
             summary="Index of Multiple Deprivation score.", group="Deprivation"),
        Page("imd-decile", "IMD deciles",
             choropleth(frimley_lsoa, "imd_decile",
                        indicator=reworded("imd_decile", label="IMD decile")), group="Deprivation"),
    ]
    index = write_atlas(tmp_path, pages=pages, manifest=MANIFEST, sources=SOURCES,
                        synthetic=True, title="Frimley health gap atlas")
    assert index == tmp_path / "index.html"
    text = index.read_text(encoding="utf-8")
    assert 'href="imd.html"' in text and 'href="imd-decile.html"' in text
    assert "SYNTHETIC DEMO DATA" in text
    assert "Contains OS data © Crown copyright and database right" in text
    assert ("Source: Office for National Statistics licensed under the Open Government Licence "
            "v.3.0") in text
    assert "© OpenStreetMap contributors" in text  # an ODbL source is listed
    # the manifest has its own page, linked from the front page, with no absolute path
    assert "ab" * 32 not in text and 'href="manifest.html"' in text
    run = (tmp_path / "manifest.html").read_text(encoding="utf-8")
    assert "ab" * 32 in run and "permutations" in run and "esda" in run
    assert 'href="glossary.html"' in text and (tmp_path / "glossary.html").is_file()
    assert "How these maps were made" in text
    assert _assets.remote_resources(text) == []
    for page in ("imd.html", "imd-decile.html"):
        body = (tmp_path / page).read_text(encoding="utf-8")
        assert "SYNTHETIC DEMO DATA" in body and 'href=\\"index.html\\"' in body
        assert _assets.remote_resources(body) == []
    assert json.loads((tmp_path / "manifest.json").read_text()) == MANIFEST


def test_run_details_page_shows_no_absolute_path(tmp_path, frimley_lsoa):
    manifest = {"inputs": [{"name": "imd", "path": "/home/someone/shared/data/imd2019/imd.csv",
                            "sha256": "cd" * 32}],
                "parameters": {"data_dir": "/home/someone/shared/data",
                               "out_dir": "C:\\builds\\frimley"},
                "notes": ["read /srv/x/geography/lsoa.csv with 3 repairs"]}
    pages = [Page("imd", "IMD", choropleth(frimley_lsoa, "imd_score",
                                           indicator=reworded("imd_score", label="IMD")))]
    write_atlas(tmp_path, pages=pages, manifest=manifest, sources=SOURCES, synthetic=False,
                title="t")
    for name in ("manifest.html", "manifest.json", "index.html"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "/home/" not in text and "/srv/" not in text and "builds" not in text, name
    run = (tmp_path / "manifest.html").read_text(encoding="utf-8")
    assert "imd2019/imd.csv" in run and "geography/lsoa.csv with 3 repairs" in run
    assert "cd" * 32 in run
    assert "BSD" in (tmp_path / "licences" / "leaflet-LICENSE.txt").read_text()


def test_write_atlas_rejects_bad_pages(tmp_path, frimley_lsoa):
    m = choropleth(frimley_lsoa, "imd_score", indicator=reworded("imd_score", label="IMD"))
    with pytest.raises(ParameterError, match="used by two pages"):
        write_atlas(tmp_path, pages=[Page("a", "A", m), Page("a", "B", m)], manifest={},
                    sources=[], synthetic=False, title="t")
    with pytest.raises(ParameterError, match="slug"):
        write_atlas(tmp_path, pages=[Page("../x", "A", m)], manifest={}, sources=[],
                    synthetic=False, title="t")
    with pytest.raises(ParameterError, match="AtlasMap.*do not open offline"):
        write_atlas(tmp_path, pages=[Page("a", "A", folium.Map())], manifest={}, sources=[],
                    synthetic=False, title="t")
    with pytest.raises(ParameterError, match="needs a name and a licence"):
        write_atlas(tmp_path, pages=[Page("a", "A", m)], manifest={}, sources=[{"name": "x"}],
                    synthetic=False, title="t")
    # a folium plugin that links a CDN script is caught before anything is written
    from folium.plugins import Fullscreen

    Fullscreen().add_to(m)
    with pytest.raises(OfflineError, match="a.html"):
        render_page(Page("a", "A", m), synthetic=False)


def test_pages_are_reproducible_byte_for_byte(frimley_lsoa, frimley_places):
    def build() -> str:
        m = choropleth(frimley_lsoa, "imd_score", indicator=reworded("imd_score", label="IMD"),
                       page=PageOptions(boundaries=[frimley_places]))
        return render_page(Page("imd", "IMD", m), synthetic=True)

    first, second = build(), build()
    assert first == second
    assert "map_00000000000000000000000000000001" in first


def test_basemap_is_optional_and_off(frimley_lsoa):
    m = choropleth(frimley_lsoa, "imd_score", indicator=reworded("imd_score", label="IMD"),
                   page=PageOptions(basemap=True))
    page = m.get_root().render()
    assert _assets.remote_resources(page) == []  # the tile URL is a template, not a resource
    tiles = [c for c in m._children.values() if isinstance(c, folium.TileLayer)]
    assert len(tiles) == 1 and tiles[0].show is False and tiles[0].overlay is True
    assert tiles[0].options["errorTileUrl"].startswith("data:image/png")
    assert "OpenStreetMap contributors" in page
    plain = choropleth(frimley_lsoa, "imd_score", indicator=reworded("imd_score", label="IMD"))
    assert not [c for c in plain._children.values() if isinstance(c, folium.TileLayer)]


def test_every_chart_carries_its_figures_as_a_table(frimley_lsoa):
    ranks = np.array([0.05, 0.5, 0.95])
    pts = pd.DataFrame({"rank": ranks, "value": [75.0, 79.0, 83.5],
                        "lo": [74.0, 78.2, 82.9], "hi": [76.0, 79.8, 84.1]})
    chart = sii_chart(pts, slope=8.4, intercept=74.6, label="Male LE", lci_col="lo",
                      uci_col="hi", slope_ci=(7.1, 9.7))
    cells = [c for c in chart.table.replace("</td>", "|").split("|")]
    assert "75.00" in chart.table and "84.10" in chart.table and "8.40" in chart.table
    assert "7.10" in chart.table and "9.70" in chart.table and len(cells) > 12
    decay = decay_chart({"Gaussian": ([0.0, 5.0], [1.0, 0.2])})
    assert "Gaussian (curve)" in decay.table and "0.20" in decay.table
    m = choropleth(frimley_lsoa, "imd_score", indicator=reworded("imd_score", label="IMD"))
    add_chart_panel(m, [chart, decay])
    page = m.get_root().render()
    assert page.count("The figures as a table") == 2 and 'role=\\"img\\"' in page
