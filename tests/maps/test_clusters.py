"""LISA and Gi* maps (maps/clusters.py) from real esda results on Frimley."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from healthgap.geo.indicators import INDICATORS
from healthgap.maps._layers import PageOptions
from healthgap.maps.choropleth import reworded
from healthgap.maps.clusters import (
    BETTER_CLUSTER,
    BETTER_OUTLIER,
    GISTAR_COLOURS,
    LISA_COLOURS,
    NO_NEIGHBOURS,
    NOT_SIGNIFICANT_COLOUR,
    WORSE_CLUSTER,
    WORSE_OUTLIER,
    ClusterClass,
    gistar_labels,
    gistar_map,
    lisa_map,
    lisa_styles,
    same_pattern,
)

from healthgap.errors import InputError, ParameterError
from tests.maps.helpers import html, layers, legend, payload

WEIGHTS = "Queen contiguity, row-standardised"
#: The method of most pages here: the weights, permutations, rule and level behind the labels.
METHOD = PageOptions(weights=WEIGHTS, permutations=999, correction="fdr", alpha=0.05)


@pytest.fixture(scope="module")
def lisa(frimley_lisa, frimley_places, frimley_system):
    return lisa_map(frimley_lisa, "lisa", value_col="imd_score",
                    page=METHOD.with_(boundaries=[frimley_places, frimley_system]))


WORDS_IMD = {"High-High": "Cluster of high deprivation",
             "Low-Low": "Cluster of low deprivation",
             "High-Low": "High deprivation among low neighbours",
             "Low-High": "Low deprivation among high neighbours",
             "Not significant": "No significant local pattern"}


def test_lisa_colours_follow_the_labels_and_the_worse_end(lisa, frimley_lisa):
    main = layers(lisa)[0]
    classes = main.spec["style"]["classes"]
    data = payload(main)
    drawn = [classes[c]["fillColor"] for c in data["p"]["c"]]
    # deprivation: higher is worse, so High-High is the worse-end (red) cluster
    colour = {"High-High": WORSE_CLUSTER, "Low-Low": BETTER_CLUSTER, "High-Low": WORSE_OUTLIER,
              "Low-High": BETTER_OUTLIER, "Not significant": NOT_SIGNIFICANT_COLOUR}
    assert drawn == [colour[lab] for lab in frimley_lisa["lisa"]]
    assert data["p"]["k"] == [WORDS_IMD[lab] for lab in frimley_lisa["lisa"]]
    # the esda result has all four quadrants significant somewhere in Frimley
    assert set(frimley_lisa["lisa"]) == set(LISA_COLOURS)


def test_lisa_worse_cluster_is_red_for_life_expectancy_too(frimley_lisa):
    # higher life expectancy is better: Low-Low is the worse-end (red) cluster
    styles = lisa_styles(INDICATORS["le_male"])
    assert styles["Low-Low"] == ClusterClass("Cluster of low male life expectancy",
                                             WORSE_CLUSTER)
    assert styles["High-High"].colour == BETTER_CLUSTER
    assert list(styles)[0] == "Low-Low"  # the worse-end cluster heads the legend


def test_empty_cluster_map_says_so(frimley_lisa):
    gdf = frimley_lisa.assign(lisa="Not significant")
    m = lisa_map(gdf, "lisa", indicator=INDICATORS["imd_score"],
                 page=METHOD)
    assert "No significant clusters at FDR 5%." in legend(m)
    assert "No significant clusters at FDR 5%" in m.subtitle
    assert "No significant clusters" not in legend(lisa_map(
        frimley_lisa, "lisa", indicator=INDICATORS["imd_score"], page=METHOD))


def test_same_pattern_spots_a_gistar_map_that_repeats_lisa():
    lisa = pd.Series(["High-High", "Low-Low", "Not significant", "High-Low"])
    assert same_pattern(lisa, pd.Series(["Hot spot", "Cold spot", "Not significant",
                                         "Not significant"]))
    assert not same_pattern(lisa, pd.Series(["Hot spot", "Not significant",
                                             "Not significant", "Not significant"]))


def test_lisa_legend_states_the_method_and_counts(lisa, frimley_lisa):
    text = legend(lisa)
    assert "Spatial weights: Queen contiguity, row-standardised." in text
    assert "999 conditional permutations" in text
    assert "false discovery rate control (Benjamini–Hochberg) at α = 0.05" in text
    counts = frimley_lisa["lisa"].value_counts()
    for lab, n in counts.items():
        assert f"{WORDS_IMD[lab]}<span class=\"hg-n\">({n:,})" in text
    assert "High-High" not in text
    assert "Not tested" not in text


def test_lisa_tooltip_shows_label_and_value(lisa):
    rows = layers(lisa)[0].spec["tip"]["rows"]
    assert rows[0] == {"label": "Result", "key": "k"}
    assert rows[1]["key"] == "v" and rows[1]["label"] == "Deprivation (IMD 2019 score)"


def test_missing_and_island_labels(frimley_lisa):
    gdf = frimley_lisa.copy()
    gdf.loc[gdf.index[0], "lisa"] = None
    gdf.loc[gdf.index[1], "lisa"] = NO_NEIGHBOURS
    m = lisa_map(gdf, "lisa", indicator=reworded("lisa", label="IMD"),
                 page=PageOptions(weights=WEIGHTS, permutations=99, correction=None, alpha=0.1))
    text = legend(m)
    assert "Not tested / no data" in text and "(1)" in text
    assert "No neighbours: not tested" in text
    assert "no correction for multiple testing at α = 0.1" in text
    data = payload(layers(m)[0])
    assert data["p"]["c"][0] == -1
    style = layers(m)[0].spec["style"]
    assert style["classes"][data["p"]["c"][1]]["fillColor"] == "#ffffff"


def test_unknown_labels_and_bad_parameters_are_named(frimley_lisa):
    gdf = frimley_lisa.copy()
    gdf.loc[gdf.index[:2], "lisa"] = "HH"
    with pytest.raises(InputError, match=r"unknown label\(s\) \['HH'\].*allowed: High-High"):
        lisa_map(gdf, "lisa", indicator=reworded("lisa", label="IMD"),
                 page=METHOD)
    with pytest.raises(ParameterError, match="permutations"):
        lisa_map(frimley_lisa, "lisa", indicator=reworded("lisa", label="IMD"),
                 page=PageOptions(weights=WEIGHTS, permutations=0, correction="fdr", alpha=0.05))
    with pytest.raises(ParameterError, match="alpha"):
        lisa_map(frimley_lisa, "lisa", indicator=reworded("lisa", label="IMD"),
                 page=PageOptions(weights=WEIGHTS, permutations=9, correction="fdr", alpha=5))
    with pytest.raises(ParameterError, match="page.weights"):
        lisa_map(frimley_lisa, "lisa", indicator=reworded("lisa", label="IMD"),
                 page=PageOptions(weights="", permutations=9, correction="fdr", alpha=0.05))


def test_gistar_labels_thresholds():
    z = pd.Series([3.0, 2.0, 1.7, 1.0, -1.7, -2.0, -3.0, 0.0, np.nan])
    p = pd.Series([0.01, 0.05, 0.10, 0.2, 0.0999, 0.0501, 0.001, 0.001, 0.01])
    got = gistar_labels(z, p).tolist()
    assert got == [
        "Hot spot (99% confidence)", "Hot spot (95% confidence)", "Hot spot (90% confidence)",
        "Not significant", "Cold spot (90% confidence)", "Cold spot (90% confidence)",
        "Cold spot (99% confidence)", "Not significant", None,
    ]
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        gistar_labels(pd.Series([1.0]), pd.Series([1.5]))


def test_gistar_map_from_esda(frimley_lisa):
    m = gistar_map(frimley_lisa, "gi_z", p_col="gi_p", value_col="imd_score",
                   page=PageOptions(weights=WEIGHTS, permutations=None))
    data = payload(layers(m)[0])
    classes = layers(m)[0].spec["style"]["classes"]
    expected = gistar_labels(frimley_lisa["gi_z"], frimley_lisa["gi_p"])
    # deprivation is worse when high: hot spots take the red tones of GISTAR_COLOURS
    assert [classes[c]["fillColor"] for c in data["p"]["c"]] == \
        [GISTAR_COLOURS[lab].replace("#d3d3d3", NOT_SIGNIFICANT_COLOUR) for lab in expected]
    rows = [r["label"] for r in layers(m)[0].spec["tip"]["rows"]]
    assert rows == ["Result", "Deprivation (IMD 2019 score)", "Gi* z-score", "p-value"]
    assert "Hot spot: high deprivation (99% confidence)" in data["p"]["k"]
    text = legend(m)
    assert "99% where p ≤ 0.01" in text and "analytical p-values" in text
    hot = (expected.str.startswith("Hot")).sum()
    assert hot > 0 and (expected.str.startswith("Cold")).sum() > 0
    assert "hg-hatch" not in text
    assert "SYNTHETIC" not in html(m)


def test_gistar_map_with_plain_labels_and_argument_check(frimley_lisa):
    labels = np.where(frimley_lisa["gi_p"] < 0.05,
                      np.where(frimley_lisa["gi_z"] > 0, "Hot spot", "Cold spot"),
                      "Not significant")
    gdf = frimley_lisa.assign(gi_label=labels)
    m = gistar_map(gdf, "gi_z", indicator=reworded("gi_z", label="IMD"), label_col="gi_label",
                   page=METHOD)
    assert "Hot spot" in legend(m) and "confidence" not in legend(m)
    with pytest.raises(ParameterError, match="give p_col"):
        gistar_map(gdf, "gi_z", indicator=reworded("gi_z", label="IMD"),
                   page=PageOptions(weights=WEIGHTS))


def test_cluster_map_skips_the_edge_ring(frimley_lisa):
    gdf = frimley_lisa.assign(in_area=True)
    gdf.loc[gdf.index[-5:], "in_area"] = False
    m = lisa_map(gdf, "lisa", indicator=reworded("imd_score", label="IMD"), value_col="imd_score",
                 page=METHOD)
    data = payload(layers(m)[0])
    assert data["id"] == list(gdf.index[:-5])
    np.testing.assert_allclose(data["p"]["v"], gdf["imd_score"].iloc[:-5], atol=0.051)
