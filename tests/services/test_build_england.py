"""A real build carries England as its benchmark, and the outcomes beyond life expectancy.

Bracknell Forest (E06000036, a place wholly inside Frimley: 15 MSOAs) is built with models and
statistics, no access and no maps (about 20 s here).
"""

from __future__ import annotations

import pandas as pd
import pytest
from healthgap.geo.england import ENGLAND_CODE, ONS_REFERENCE
from healthgap.geo.outcomes import OUTCOME_STATS, OUTCOMES
from healthgap.services.build import BuildOptions, build


@pytest.fixture(scope="module")
def bracknell(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("bracknell")
    return build(BuildOptions(area="E06000036", data_dir=shared_data, vintage="2019",
                              out_dir=out, access=False,
                              maps=False, permutations=999))


@pytest.mark.slow
def test_england_rows_and_the_comparison_are_written(bracknell):
    st = bracknell.store
    sii = st.read_layer("model_sii")
    eng = sii[sii["level"] == "england"].set_index("sex")
    assert set(eng.index) == {"male", "female"} and set(eng["code"]) == {ENGLAND_CODE}
    for col in ("sii", "sii_lo", "sii_hi", "rii", "rii_lo", "rii_hi", "gap", "n_areas",
                "method"):
        assert eng[col].notna().all(), col
    assert eng.loc["male", "n_areas"] == 6735  # English MSOAs with a published male LE
    # a place build reports its place, not a partial system
    assert set(sii["level"]) == {"place", "england"}
    q = st.read_layer("model_quantiles")
    assert len(q[q["level"] == "england"]) == 20
    vs = st.read_layer("model_sii_vs_england").set_index("sex")
    assert set(vs["code"]) == {"E06000036"}
    for sex in ("male", "female"):
        assert vs.loc[sex, "england_sii"] == eng.loc[sex, "sii"]
        assert vs.loc[sex, "sii_difference"] == pytest.approx(
            vs.loc[sex, "sii"] - eng.loc[sex, "sii"])
        # issue #23: the verdict is the gradient's over the place's own IMD range
        assert vs.loc[sex, "compared_with_england"] in ("steeper", "similar", "less steep",
                                                        "no verdict")
    grad = st.read_layer("model_gradient_vs_england").set_index("sex")
    assert set(grad["code"]) == {"E06000036"}
    for sex in ("male", "female"):
        r = grad.loc[sex]
        assert r["difference_lo"] < r["difference"] < r["difference_hi"]
        assert vs.loc[sex, "compared_with_england"] == r["steepness"]
        assert r["england_n_areas"] > 1000 and r["imd_min"] < r["imd_max"]
    assert (sii.loc[sii["level"] == "place", "interval"] == "spatial block bootstrap").all()
    decay = st.read_layer("model_distance_decay").set_index("sex")
    assert {"slope_per_mile", "p_value", "verdict_sentence"} <= set(decay.columns)
    # (15 MSOAs are too few pairs for the cliffs' noise pool: no cliffs layer in this build)
    res = st.read_manifest()["results"]["england"]
    assert res["ons_reference"]["sii_male"] == ONS_REFERENCE["sii_male"]
    assert "9.4" in res["methods"]


@pytest.mark.slow
def test_outcome_layers_statistics_and_gap_table(bracknell):
    st = bracknell.store
    msoa = st.read_layer("msoa", index="msoa_code")
    assert set(OUTCOMES) <= set(msoa.columns)
    for col in OUTCOME_STATS:
        assert f"lisa_{col}" in msoa.columns
    stats = st.read_layer("stats_global")
    assert set(OUTCOME_STATS) <= set(stats["indicator"])
    place = st.read_layer("place", index="place_code")
    assert "smr_all_causes_pwmean" in place.columns
    gap = st.read_layer("outcome_gap")
    assert set(gap["level"]) == {"place", "england"}
    assert set(OUTCOMES) <= set(gap["outcome"])
    assert pd.api.types.is_float_dtype(gap["q1_q5_ratio_lo"])
