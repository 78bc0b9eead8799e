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
    f = frimley_msoa(shared_data)
    text = METHODS["frimley_one_year_per_mile"]
    both = f.dropna(subset=["le_male", "le_female"])
    hl = headline_gradients(both, Graph.build_contiguity(both, rook=False)).by_value
    m, w = hl["le_male"], hl["le_female"]
    for figure in (f"{m['median_years_per_mile']:.2f} years per mile for men",
                   f"{w['median_years_per_mile']:.2f} for women",
                   f"{m['range_years']:.1f} years apart, {m['extremes_distance_miles']:.1f} miles",
                   f"{m['transect_loss_per_mile']:.2f} years per mile",
                   f"95% CI {m['transect_loss_per_mile_lo']:.2f} to "
                   f"{m['transect_loss_per_mile_hi']:.2f}, {m['transect_n']} MSOAs",
                   f"{w['range_years']:.1f} years apart, {w['extremes_distance_miles']:.1f} miles",
                   f"{w['transect_loss_per_mile']:.2f} years per mile (95% CI "
                   f"{w['transect_loss_per_mile_lo']:.2f} to {w['transect_loss_per_mile_hi']:.2f}, "
                   f"{w['transect_n']} MSOAs"):
        assert figure in text, figure
    g = Graph.build_contiguity(f, rook=False)
    male = BorderDifferences(value="le_male", seed=2019).fit(f, g).summary_
    female = BorderDifferences(value="le_female", seed=2019).fit(f, g).summary_
    assert (f"(Spearman {male['years_per_mile_corr_inverse_distance']:.2f} and "
            f"{female['years_per_mile_corr_inverse_distance']:.2f})") in text
    assert (f"({male['rank_corr_inverse_distance']:.2f} and "
            f"{female['rank_corr_inverse_distance']:.2f})") in text
    assert (f"{male['n_exceeding_noise']} and {female['n_exceeding_noise']} of "
            f"{male['n_pairs']} borders") in text
    assert f"against {round(male['n_pairs'] * 0.05)} expected" in text


def test_methods_cover_the_issue_topics():
    for topic in ("sii", "cliffs", "years_per_mile", "gi_star", "p_values", "edge_ring"):
        assert len(METHODS[topic]) > 200, topic
    assert "(intercept + SII) / intercept" in METHODS["sii"]
    assert "pooled" in METHODS["sii"]
