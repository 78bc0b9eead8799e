"""The methods note quotes Frimley figures: they must equal what the code computes.

References: geo.transect.headline_gradients and geo.cliffs.BorderDifferences on the Frimley MSOAs,
scipy's Spearman correlation, and the 5 % expected share written out (219 * 0.05 = 10.95).
"""

from __future__ import annotations

import pytest
from healthgap.geo.cliffs import BorderDifferences
from healthgap.geo.methods import METHODS
from healthgap.geo.transect import headline_gradients
from libpysal.graph import Graph

from tests.geo._frimley import frimley_msoa


@pytest.mark.slow
def test_frimley_one_year_per_mile_text_matches_the_code(shared_data):
    from healthgap.geo.pairwise_decay import PairwiseDecay

    f = frimley_msoa(shared_data)
    text = " ".join(METHODS["frimley_one_year_per_mile"].split())
    both = f.dropna(subset=["le_male", "le_female"])
    hl = headline_gradients(both, Graph.build_contiguity(both, rook=False)).by_value
    m, w = hl["le_male"], hl["le_female"]
    for figure in (f"{m['median_years_per_mile']:.2f} years per mile for men",
                   f"{w['median_years_per_mile']:.2f} for women"):
        assert figure in text, figure
    g = Graph.build_contiguity(f, rook=False)
    male = BorderDifferences(value="le_male", seed=2019).fit(f, g).summary_
    female = BorderDifferences(value="le_female", seed=2019).fit(f, g).summary_
    assert (f"(Spearman {male['years_per_mile_corr_inverse_distance']:.2f} and "
            f"{female['years_per_mile_corr_inverse_distance']:.2f})") in text
    assert (f"({male['rank_corr_inverse_distance']:.2f} and "
            f"{female['rank_corr_inverse_distance']:.2f})") in text
    assert male["n_cliffs"] == female["n_cliffs"] == 0
    assert "No border passes the 5% false discovery rate for either sex" in text
    assert (f"({male['n_p_below_fdr']} and {female['n_p_below_fdr']} of "
            f"{male['n_pairs']} borders") in text
    assert f"against {round(male['n_pairs'] * 0.05)} expected" in text
    dm = PairwiseDecay(value="le_male", seed=2019).fit(f).result_
    dw = PairwiseDecay(value="le_female", seed=2019).fit(f).result_
    assert f"Over all {dm['n_pairs']:,} pairs" in text
    assert (f"{dm['slope_per_mile']:.2f} years per mile for men (95% interval "
            f"{dm['slope_per_mile_lo']:.2f} to {dm['slope_per_mile_hi']:.2f}, permutation p = "
            f"{dm['p_value']:.2f})") in text
    assert (f"{dw['slope_per_mile']:.2f} for women ({dw['slope_per_mile_lo']:.2f} to "
            f"{dw['slope_per_mile_hi']:.2f}, p = {dw['p_value']:.2f})") in text
    assert f"about {dm['mean_abs_diff']:.1f} years apart" in text


def test_methods_cover_the_issue_topics():
    for topic in ("sii", "cliffs", "years_per_mile", "gi_star", "p_values", "edge_ring"):
        assert len(METHODS[topic]) > 200, topic
    assert "(intercept + SII) / intercept" in METHODS["sii"]
    assert "pooled" in METHODS["sii"] and "block bootstrap" in METHODS["sii"]
    assert "cannot rank areas" in METHODS["sii"]
    assert "false discovery rate" in METHODS["cliffs"]
