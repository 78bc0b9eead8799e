"""Choropleth maps (maps/choropleth.py) built from real Frimley frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from healthgap.maps._assets import HATCH_ID, remote_resources
from healthgap.maps._classify import WORSE_COLOUR, grammar_palette
from healthgap.maps._layers import PageOptions
from healthgap.maps.choropleth import MISSING_LABEL, choropleth, reworded

from healthgap.errors import CRSError, InputError, MissingColumnError, ParameterError
from tests.maps.helpers import html, layers, legend, payload


@pytest.fixture(scope="module")
def le_frame(frimley_msoa):
    gdf = frimley_msoa.copy()
    # A made-up interval of +-1.2 years around each value, to check it reaches the tooltip.
    gdf["lci"] = gdf["le_birth_male_2015_19"] - 1.2
    gdf["uci"] = gdf["le_birth_male_2015_19"] + 1.2
    return gdf


@pytest.fixture(scope="module")
def le_map(le_frame, frimley_places, frimley_system):
    return choropleth(le_frame, "le_birth_male_2015_19",
                      indicator=reworded("le_birth_male_2015_19", label="Male life expectancy",
                                         units="years", direction="better"),
                      compare={"England": 79.6, "ICS": 81.2}, ci=("lci", "uci"),
                      page=PageOptions(boundaries=[frimley_places, frimley_system]))


def test_every_area_is_drawn_with_its_class(le_map, le_frame):
    main = layers(le_map)[0]
    data = payload(main)
    assert data["id"] == list(le_frame.index)
    values = le_frame["le_birth_male_2015_19"]
    # the suppressed MSOA has no value and class -1; the others carry their value and class
    missing = values.isna().to_numpy()
    assert missing.sum() == 1
    assert [v is None for v in data["p"]["v"]] == missing.tolist()
    assert all(c == -1 for c, m in zip(data["p"]["c"], missing, strict=True) if m)
    np.testing.assert_allclose([v for v in data["p"]["v"] if v is not None],
                               values.dropna().round(1).to_numpy())
    # classes are quantiles of the values (LE is not skewed): about equal counts
    counts = np.bincount([c for c in data["p"]["c"] if c >= 0])
    assert counts.max() - counts.min() <= 1
    # names travel for the tooltip
    assert data["p"]["n"] == le_frame["msoa_name"].tolist()


def test_legend_has_units_classes_counts_and_missing(le_map, le_frame):
    text = legend(le_map)
    assert "Male life expectancy (years)" in text
    assert MISSING_LABEL in text and "hg-hatch" in text
    assert "England: 79.6 years; ICS: 81.2 years" in text
    assert "Quantiles (5 classes" in text
    v = le_frame["le_birth_male_2015_19"].dropna()
    assert f"{v.min():.1f} – " in text and f" – {v.max():.1f}" in text
    for colour in grammar_palette(5, "better"):
        assert colour in text
    assert "Places (local authorities)" in text and "System (integrated care board)" in text
    assert "Dark red marks the worse end (lower male life expectancy)" in text


def test_tooltip_spec_has_name_code_value_ci_and_comparisons(le_map):
    spec = layers(le_map)[0].spec["tip"]
    assert spec["title"] == "n" and spec["code"] is True
    row = spec["rows"][0]
    assert row == {"label": "Male life expectancy", "key": "v", "dec": 1, "units": "years",
                   "ci": ["l", "u"], "ciLabel": "95% CI"}
    assert spec["extra"] == ["England: 79.6 years", "ICS: 81.2 years"]
    assert spec["missing"] == MISSING_LABEL
    data = payload(layers(le_map)[0])
    i = next(k for k, v in enumerate(data["p"]["v"]) if v is not None)
    assert data["p"]["l"][i] == pytest.approx(data["p"]["v"][i] - 1.2, abs=0.051)


def test_missing_values_are_hatched_and_classes_coloured(le_map):
    styles = layers(le_map)[0].spec["style"]
    assert styles["missing"]["fillColor"] == f"url(#{HATCH_ID})"
    # higher life expectancy is better: the lowest class carries the worse colour
    assert [s["fillColor"] for s in styles["classes"]] == grammar_palette(5, "better")
    assert styles["classes"][0]["fillColor"] == WORSE_COLOUR
    assert HATCH_ID in html(le_map)


def test_no_missing_row_without_missing_values(frimley_lsoa):
    m = choropleth(frimley_lsoa, "imd_score",
                   indicator=reworded("imd_score", label="IMD 2019 score"))
    assert MISSING_LABEL not in legend(m)


def test_boundaries_are_outline_only_layers(le_map):
    outlines = layers(le_map)[1:]
    assert [o.layer_name for o in outlines] == ["Places (local authorities)",
                                                "System (integrated care board)"]
    for o in outlines:
        style = o.spec["style"]["classes"][0]
        assert style["fill"] is False
        assert o.spec["interactive"] is False
    assert len(payload(outlines[0])["id"]) == 9  # Frimley's nine local authorities


def test_page_loads_nothing_from_the_network(le_map):
    page = html(le_map)
    assert remote_resources(page) == []
    assert "cdn.jsdelivr" not in page and "code.jquery.com" not in page
    assert "Contains OS data \\u00a9 Crown copyright and database right" in page  # JSON-escaped ©
    assert "Open Government Licence v.3.0" in page
    assert 'L.control.scale()' in page
    assert "SYNTHETIC DEMO DATA" not in page


def test_synthetic_banner(frimley_lsoa):
    m = choropleth(frimley_lsoa, "imd_score",
                   indicator=reworded("imd_score", label="IMD 2019 score"),
                   page=PageOptions(synthetic=True))
    assert html(m).count("SYNTHETIC DEMO DATA") >= 2  # banner and title box


def test_ics_map_sizes_are_small(le_map, frimley_lsoa, frimley_places, frimley_system):
    lsoa_map = choropleth(frimley_lsoa, "imd_score",
                          indicator=reworded("imd_score", label="IMD 2019 score"),
                          page=PageOptions(boundaries=[frimley_places, frimley_system]))
    for m in (le_map, lsoa_map):
        size = len(html(m).encode("utf-8"))
        assert size <= 2_000_000, size


def test_decile_map_has_ten_fixed_classes(frimley_lsoa):
    m = choropleth(frimley_lsoa, "imd_decile",
                   indicator=reworded("imd_decile", label="IMD 2019 decile"))
    text = legend(m)
    assert "1 (most deprived 10%)" in text and "10 (least deprived 10%)" in text
    assert len(layers(m)[0].spec["style"]["classes"]) == 10
    assert layers(m)[0].spec["tip"]["rows"][0]["dec"] == 0


def test_bad_input_is_named(le_frame, frimley_lsoa):
    with pytest.raises(MissingColumnError, match="'le_female'"):
        choropleth(le_frame, "le_female", indicator=reworded("le_female", label="x"))
    with pytest.raises(CRSError, match="EPSG:27700"):
        choropleth(le_frame.to_crs(4326), "le_birth_male_2015_19",
                   indicator=reworded("le_birth_male_2015_19", label="x"))
    swapped = le_frame.rename(columns={"lci": "uci", "uci": "lci"})
    with pytest.raises(InputError, match="does not contain the value.*swapped"):
        choropleth(swapped, "le_birth_male_2015_19",
                   indicator=reworded("le_birth_male_2015_19", label="x"), ci=("lci", "uci"))
    with pytest.raises(InputError, match="must hold numbers"):
        choropleth(frimley_lsoa, "lsoa_name", indicator=reworded("lsoa_name", label="x"))
    with pytest.raises(ParameterError, match="compare\\['England'\\]"):
        choropleth(frimley_lsoa, "imd_score", indicator=reworded("imd_score", label="x"),
                   compare={"England": "high"})
    with pytest.raises(ParameterError, match="renderer"):
        choropleth(frimley_lsoa, "imd_score", indicator=reworded("imd_score", label="x"),
                   page=PageOptions(renderer="webgl"))


def test_large_maps_use_canvas_and_grey_missing(frimley_lsoa):
    gdf = frimley_lsoa.copy()
    gdf.loc[gdf.index[:3], "imd_score"] = np.nan
    m = choropleth(gdf, "imd_score", indicator=reworded("imd_score", label="IMD"),
                   page=PageOptions(renderer="canvas"))
    spec = layers(m)[0].spec
    assert spec["canvas"] is True
    assert spec["style"]["missing"]["fillColor"].startswith("#")  # no SVG pattern on a canvas
    assert pd.Series(payload(layers(m)[0])["p"]["c"]).eq(-1).sum() == 3


def test_edge_ring_is_not_drawn(frimley_lsoa):
    gdf = frimley_lsoa.assign(in_area=True)
    gdf.loc[gdf.index[:10], "in_area"] = False
    m = choropleth(gdf, "imd_score", indicator=reworded("imd_score", label="IMD"))
    assert payload(layers(m)[0])["id"] == list(gdf.index[10:])
    gdf["in_area"] = gdf["in_area"].astype(object)
    gdf.loc[gdf.index[0], "in_area"] = None
    with pytest.raises(InputError, match="in_area"):
        choropleth(gdf, "imd_score", indicator=reworded("imd_score", label="IMD"))


def test_bivariate_map_cells_are_tertiles_of_each_measure(frimley_lsoa):
    from healthgap.maps.bivariate import BIVARIATE_COLOURS, bivariate_map

    gdf = frimley_lsoa.assign(le_male=90 - frimley_lsoa["imd_score"] / 4
                              + np.sin(np.arange(len(frimley_lsoa))) * 3)
    m = bivariate_map(gdf, x_col="imd_score", y_col="le_male")
    data = payload(layers(m)[0])
    # hand rule: thirds by rank within the area; deprivation worse when high, LE when low
    x_third = pd.qcut(gdf["imd_score"], 3, labels=False).to_numpy()
    y_third = 2 - pd.qcut(gdf["le_male"], 3, labels=False).to_numpy()
    assert data["p"]["c"] == (y_third * 3 + x_third).tolist()
    styles = layers(m)[0].spec["style"]["classes"]
    worst = int(np.argmax(gdf["imd_score"].to_numpy() - gdf["le_male"].to_numpy()))
    assert styles[data["p"]["c"][worst]]["fillColor"] == BIVARIATE_COLOURS[2][2]
    assert "hg-bivariate" in legend(m)


def test_imd_domains_small_multiples(frimley_lsoa):
    from healthgap.geo.indicators import IMD_DOMAINS
    from healthgap.maps.multiples import imd_domains_page

    gdf = frimley_lsoa.assign(**{f"{d}_decile": ((np.arange(len(frimley_lsoa)) + i) % 10 + 1)
                                 for i, d in enumerate(IMD_DOMAINS)})
    page = imd_domains_page(gdf, area_name="Frimley")
    assert page.body.count("<svg") == 7
    # hand count: deciles cycle 1..10, so 2 in 10 of the 440 LSOAs are in deciles 1-2 (20%)
    assert page.body.count("20% of the area") == 14  # text alternative and caption of each
    assert "Frimley" in page.title
