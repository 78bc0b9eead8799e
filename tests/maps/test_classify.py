"""Map classes (maps/_classify.py) checked against mapclassify, scipy and published IMD deciles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from healthgap.maps._classify import bimodality_coefficient, classify, palette
from scipy import stats

from healthgap.errors import InputError, ParameterError
from tests._names import neutral


@pytest.fixture(scope="module")
def mapclassify():
    """The reference package, imported when a test first asks (its import compiles numba code)."""
    import mapclassify as module
    return module


@pytest.fixture(scope="module")
def england_imd(shared_data):
    return neutral(pd.read_csv(shared_data / "imd2019" / "imd2019_lsoa11_england.csv",
                       usecols=["lsoa11cd", "imd_score", "imd_rank", "imd_decile"]))


@pytest.fixture(scope="module")
def england_le(shared_data):
    name = "msoa11_life_expectancy_mortality_localhealth_england.csv"
    path = shared_data / "life_expectancy" / name
    return neutral(pd.read_csv(path, usecols=["msoa11cd", "le_birth_male_2015_19"]))


def test_quantile_classes_match_mapclassify(frimley_lsoa, mapclassify):
    y = frimley_lsoa["imd_score"]
    got = classify(y, scheme="quantiles", k=5, column="imd_score")
    ref = mapclassify.Quantiles(y.to_numpy(), k=5)
    np.testing.assert_allclose(got.bins, ref.bins)
    np.testing.assert_array_equal(got.index, ref.yb)
    assert got.counts == np.bincount(ref.yb).tolist() == [88, 88, 88, 88, 88]


def test_natural_breaks_exact_below_limit_match_mapclassify(england_le, mapclassify):
    y = england_le["le_birth_male_2015_19"].dropna().iloc[:4000]
    got = classify(y, scheme="natural_breaks", k=5, column="le")
    ref = mapclassify.FisherJenks(y.to_numpy(), k=5)
    np.testing.assert_allclose(got.bins, ref.bins)
    np.testing.assert_array_equal(got.index, ref.yb)


def test_natural_breaks_on_all_england_close_to_exact(england_imd):
    got = classify(england_imd["imd_score"], scheme="natural_breaks", k=5, column="imd_score")
    # Exact Fisher-Jenks breaks of all 32,844 IMD 2019 scores, computed once with
    # mapclassify 2.10 FisherJenks(imd_score, k=5) (4.9 s): the order-statistic sample used
    # above 10,000 values must land within 0.25 points of them.
    exact = [12.523, 22.869, 35.219, 51.547, 92.735]
    np.testing.assert_allclose(got.bins, exact, atol=0.25)
    assert "10,000 evenly spaced order statistics" in got.note


def test_rank_deciles_reproduce_published_imd_deciles(england_imd):
    got = classify(england_imd["imd_rank"], column="imd_rank", rank_total=32844)
    assert got.scheme == "rank_deciles"
    # MHCLG publishes imd_decile as the national decile of imd_rank: an independent check.
    np.testing.assert_array_equal(got.index + 1, england_imd["imd_decile"].to_numpy())
    assert got.labels[0] == "Decile 1 (ranks 1–3,284)"
    assert got.counts == england_imd["imd_decile"].value_counts().sort_index().tolist()


def test_auto_rule(frimley_lsoa, england_le, england_imd):
    skewed = classify(england_imd["imd_score"], column="imd_score")
    assert skewed.scheme == "natural_breaks"
    assert abs(stats.skew(england_imd["imd_score"])) > 1  # why: the score is right-skewed
    le = classify(england_le["le_birth_male_2015_19"], column="le_birth_male_2015_19")
    assert le.scheme == "quantiles"
    deciles = classify(frimley_lsoa["imd_decile"], column="imd_decile")
    assert deciles.scheme == "categories"
    assert deciles.k == 10  # all ten deciles, even those absent from Frimley
    assert deciles.counts[0] == int((frimley_lsoa["imd_decile"] == 1).sum())
    ranks = classify(frimley_lsoa["imd_rank"], column="imd_rank")
    assert ranks.scheme == "quantiles"  # no national total given


def test_bimodality_coefficient_reference_values():
    rng = np.random.default_rng(0)
    # BC = 5/9 for a uniform distribution and 1/3 for a normal one (Pfister et al. 2013).
    assert bimodality_coefficient(rng.uniform(size=200_000)) == pytest.approx(5 / 9, abs=0.005)
    assert bimodality_coefficient(rng.normal(size=200_000)) == pytest.approx(1 / 3, abs=0.005)
    two_peaks = np.concatenate([rng.normal(-3, 1, 5000), rng.normal(3, 1, 5000)])
    assert bimodality_coefficient(two_peaks) > 5 / 9
    assert classify(pd.Series(two_peaks), column="x").scheme == "natural_breaks"


def test_missing_values_are_class_minus_one_and_counted():
    y = pd.Series([1.0, np.nan, 3.0, 4.0, 5.0, 6.0, np.nan, 8.0, 9.0, 10.0, 11.5])
    got = classify(y, scheme="quantiles", k=3, column="x")
    assert (got.index[[1, 6]] == -1).all()
    assert got.n_missing == 2
    assert sum(got.counts) == 9


def test_too_many_ties_gives_fewer_classes_with_a_note():
    y = pd.Series([1.0] * 50 + [2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    got = classify(y, scheme="quantiles", k=5, column="x")
    assert got.k < 5
    assert "too many ties" in got.note


def test_user_bins_and_errors():
    y = pd.Series([1.0, 2.0, 3.0, 10.0])
    got = classify(y, bins=[2, 5, 10], column="x")
    assert got.index.tolist() == [0, 0, 1, 2]
    assert got.labels == ["1.0 – 2.0", "2.0 – 5.0", "5.0 – 10.0"]
    with pytest.raises(ParameterError, match="below the largest value"):
        classify(y, bins=[2, 5], column="x")
    with pytest.raises(ParameterError, match="strictly increasing"):
        classify(y, bins=[5, 2, 10], column="x")
    with pytest.raises(ParameterError, match="k: expected an integer from 2 to 10"):
        classify(y, k=1, column="x")
    with pytest.raises(ParameterError, match="scheme: expected one of"):
        classify(y, scheme="jenks", column="x")
    with pytest.raises(InputError, match="'name'.*expected numbers"):
        classify(pd.Series(["a", "b"]), column="name")
    with pytest.raises(InputError, match="every value is missing"):
        classify(pd.Series([np.nan, np.nan]), column="x")
    with pytest.raises(ParameterError, match="rank_total"):
        classify(pd.Series([1.0, 40000.0]), scheme="rank_deciles", rank_total=32844, column="r")


def test_palette_is_light_to_dark_and_reversible():
    cols = palette(5)
    assert len(set(cols)) == 5
    lum = [sum(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in cols]
    assert lum == sorted(lum, reverse=True)
    assert palette(5, reverse=True) == cols[::-1]
    with pytest.raises(ParameterError, match="unknown matplotlib colour map"):
        palette(3, cmap="nope")


def test_a_pivot_is_kept_as_a_class_edge():
    """A standardised ratio's classes break at England's 100 when the values span it."""
    y = pd.Series(np.linspace(70.0, 140.0, 57))
    plain = classify(y, scheme="quantiles", k=5, column="smr")
    assert 100.0 not in plain.bins
    got = classify(y, scheme="quantiles", k=5, column="smr", pivot=100.0)
    assert 100.0 in got.bins and got.k == plain.k + 1
    idx = got.index
    below, above = idx[(y <= 100).to_numpy()], idx[(y > 100).to_numpy()]
    assert below.max() < above.min()  # no class holds areas on both sides of 100
    assert sum(got.counts) == len(y) and "England's value (100)" in got.note
    # values all on one side: nothing changes
    assert classify(y + 50, scheme="quantiles", k=5, column="smr",
                    pivot=100.0).bins == classify(y + 50, scheme="quantiles", k=5,
                                                  column="smr").bins
