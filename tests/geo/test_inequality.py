"""Inequality: SII/RII and gap, Theil/MLD decomposition, Shapley R².

References are computed in the tests by independent routes: the PHE square-root regression
written out with numpy, the closed-form grouped SII (NCI SEER HD*Calc), statsmodels WLS, the
analytic variance of a linear estimator, esda's Theil decomposition on population-expanded data,
and Shapley values by enumerating every ordering of the groups.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from healthgap.geo.inequality import (
    CHR_REFERENCE,
    ShapleyR2,
    SlopeIndex,
    TheilDecomposition,
    quantile_groups,
    quantiles_for,
    sii_table,
)

from healthgap.errors import InputError, ParameterError
from tests.geo._frimley import frimley_msoa

# Decile inputs shaped like England male LE by IMD decile (years, people, standard errors);
# illustrative values, not a published table.
DECILES = pd.DataFrame(
    {
        "quantile": np.arange(1, 11),
        "le": [74.0, 76.1, 77.4, 78.5, 79.4, 80.1, 80.8, 81.5, 82.2, 83.3],
        "population": [2.61e6, 2.55e6, 2.52e6, 2.49e6, 2.47e6, 2.45e6, 2.44e6, 2.43e6,
                       2.41e6, 2.40e6],
        "se": [0.06, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05],
    }
).set_index("quantile", drop=False)


def _phe_sii(values, pop):
    """PHEindicatormethods::phe_sii point estimate, written from its documented formula."""
    prop = pop / pop.sum()
    x = np.concatenate([[0.0], np.cumsum(prop)[:-1]]) + prop / 2  # FindXValues
    sqrt_a = np.sqrt(pop)
    design = np.column_stack([sqrt_a, x * sqrt_a])  # lm(y*sqrt_a ~ 0 + sqrt_a + b*sqrt_a)
    coef, *_ = np.linalg.lstsq(design, values * sqrt_a, rcond=None)
    return coef[0], coef[1], x


def test_sii_point_estimate_three_independent_routes():
    sii = SlopeIndex(value="le", quantile="quantile", se="se", seed=1).fit(DECILES)
    values = DECILES["le"].to_numpy()
    pop = DECILES["population"].to_numpy()
    intercept, slope, rank = _phe_sii(values, pop)
    assert sii.sii_ == pytest.approx(slope, rel=1e-12)
    assert sii.intercept_ == pytest.approx(intercept, rel=1e-12)
    np.testing.assert_allclose(sii.groups_["rank"], rank)
    # SEER HD*Calc closed form: sum p R (mu - mu_bar) / (sum p R^2 - (sum p R)^2)
    p = pop / pop.sum()
    mu = np.sum(p * values)
    seer = np.sum(p * rank * (values - mu)) / (np.sum(p * rank**2) - np.sum(p * rank) ** 2)
    assert sii.sii_ == pytest.approx(seer, rel=1e-12)
    # statsmodels WLS with population weights
    wls = sm.WLS(values, sm.add_constant(rank), weights=pop).fit()
    assert sii.sii_ == pytest.approx(wls.params[1], rel=1e-10)
    # sign convention: positive = years gained from most to least deprived
    assert sii.sii_ > 0
    assert sii.mean_ == pytest.approx(mu)
    assert sii.sii_over_mean_ == pytest.approx(slope / mu)
    # PHE rii: ratio of the fitted values at the extremes, (sqrt_a + b_sqrt_a) / sqrt_a
    assert sii.rii_ == pytest.approx((intercept + slope) / intercept)
    assert sii.gap_ == pytest.approx(83.3 - 74.0)


def test_sii_simulated_interval_matches_analytic_variance():
    # the SII is linear in the decile values, so its exact sd is sqrt(sum(c_j^2 se_j^2))
    data = DECILES.assign(se=DECILES["se"] * 10)  # wider, so the interval is not tiny
    sii = SlopeIndex(value="le", quantile="quantile", se="se", seed=7).fit(data)
    pop = data["population"].to_numpy()
    _, _, rank = _phe_sii(data["le"].to_numpy(), pop)
    sqrt_a = np.sqrt(pop)
    design = np.column_stack([sqrt_a, rank * sqrt_a])
    c = np.linalg.solve(design.T @ design, design.T)[1] * sqrt_a
    sd = math.sqrt(np.sum(c**2 * data["se"].to_numpy() ** 2))
    lo, hi = sii.sii_ci_
    assert lo == pytest.approx(sii.sii_ - 1.959964 * sd, abs=0.02 * sd * 1.96 + 1e-9)
    assert hi == pytest.approx(sii.sii_ + 1.959964 * sd, abs=0.02 * sd * 1.96 + 1e-9)
    gap_sd = math.sqrt(data["se"].iloc[0] ** 2 + data["se"].iloc[-1] ** 2)
    assert sii.gap_ci_[1] - sii.gap_ci_[0] == pytest.approx(2 * 1.959964 * gap_sd, rel=0.02)
    assert sii.rii_ci_[0] < sii.rii_ < sii.rii_ci_[1]
    assert sii.sii_over_mean_ci_[0] < sii.sii_over_mean_ < sii.sii_over_mean_ci_[1]
    # same seed, same numbers; another seed, slightly different limits
    again = SlopeIndex(value="le", quantile="quantile", se="se", seed=7).fit(data)
    assert again.to_dict() == sii.to_dict()
    other = SlopeIndex(value="le", quantile="quantile", se="se", seed=8).fit(data)
    assert other.sii_ == sii.sii_ and other.sii_ci_ != sii.sii_ci_


def test_sii_from_areas_aggregates_and_reports_missing():
    rng = np.random.default_rng(2)
    n = 200
    areas = pd.DataFrame(
        {"score": rng.uniform(2, 60, n), "population": rng.integers(5000, 10000, n)},
        index=[f"E02{i:06d}" for i in range(n)],
    )
    areas["le"] = 86 - 0.12 * areas["score"] + rng.normal(0, 1, n)
    areas["lci"] = areas["le"] - 1.96 * 1.1
    areas["uci"] = areas["le"] + 1.96 * 1.1
    areas.loc[areas.index[:4], "le"] = np.nan
    sii = SlopeIndex(value="le", score="score", lci="lci", uci="uci", seed=3,
                     repetitions=20_000).fit(areas)
    q = quantile_groups(areas["score"], areas["population"])
    ok = areas["le"].notna()
    # independent: population-weighted decile means with pandas
    expected = (areas[ok].assign(q=q, pl=areas["le"] * areas["population"])
                .groupby("q")[["pl", "population"]].sum())
    np.testing.assert_allclose(sii.groups_["value"], expected["pl"] / expected["population"])
    np.testing.assert_allclose(sii.groups_["population"], expected["population"])
    assert sii.report_["missing_codes"] == list(areas.index[:4])
    assert sii.report_["n_missing"] == 4
    assert sii.groups_["n_missing"].sum() == 4
    per_group = q[~ok].value_counts().reindex(sii.groups_.index, fill_value=0)
    assert sii.groups_["n_missing"].tolist() == per_group.tolist()
    # 0.12 years per score point over a score range of ~58: SII roughly 0.12 * 58 = 7
    assert 5 < sii.sii_ < 9
    assert sii.sii_ci_[0] < sii.sii_ < sii.sii_ci_[1]


def test_quantile_groups_population_weighted():
    score = pd.Series(np.arange(100, dtype=float), index=[f"a{i}" for i in range(100)])
    q = quantile_groups(score, pd.Series(1.0, index=score.index))
    assert (q.value_counts().sort_index() == 10).all()
    assert q["a99"] == 1 and q["a0"] == 10  # high score = most deprived = 1
    pop = pd.Series(1.0, index=score.index)
    pop["a99"] = 99.0  # half of all people in the most deprived area
    q2 = quantile_groups(score, pop)
    assert q2["a99"] == 3  # its population mid-point is at 0.25 of the total
    with pytest.raises(InputError, match="a5"):
        quantile_groups(score.where(score != 5), pop)


def test_sii_errors():
    with pytest.raises(ParameterError, match="exactly one"):
        SlopeIndex(seed=1)
    with pytest.raises(ParameterError, match="seed"):
        SlopeIndex(quantile="quantile")
    one_each = DECILES.drop(columns="se")
    with pytest.raises(InputError, match="single area"):
        SlopeIndex(value="le", quantile="quantile", seed=1).fit(one_each)


def test_sii_frimley_msoa(shared_data):
    f = frimley_msoa(shared_data)
    sii = SlopeIndex(value="le_male", score="imd_score", seed=2019, repetitions=20_000).fit(f)
    # Frimley: a positive gradient of several years, narrower than England's (~9 years)
    assert 3 < sii.sii_ < 10
    assert sii.sii_ci_[0] > 0
    assert sii.report_["n_missing"] == 1


# --------------------------------------------------------------------------- Theil


def _nested(seed=0, unequal=True):
    rng = np.random.default_rng(seed)
    rows = []
    for s, n_places in (("S1", 3), ("S2", 2)):
        for p in range(n_places):
            for _ in range(int(rng.integers(3, 6))):
                rows.append({"system": s, "place": f"{s}P{p}",
                             "le": 70 + 15 * rng.random() + (3 if s == "S2" else 0),
                             "population": int(rng.integers(1, 6)) if unequal else 1})
    frame = pd.DataFrame(rows)
    frame.index = [f"E02{i:06d}" for i in range(len(frame))]
    return frame


def test_theil_decomposition_adds_up_and_matches_direct_formula():
    f = _nested()
    td = TheilDecomposition(value="le", levels=("place", "system"),
                            labels=("neighbourhood", "place", "system")).fit(f)
    p = f["population"] / f["population"].sum()
    mu = float(p @ f["le"])
    assert td.total_["theil_t"] == pytest.approx(float(np.sum(p * f["le"] / mu
                                                             * np.log(f["le"] / mu))))
    assert td.total_["mld"] == pytest.approx(float(np.sum(p * np.log(mu / f["le"]))))
    assert td.components_["theil_t"].sum() == pytest.approx(td.total_["theil_t"], rel=1e-12)
    assert td.components_["mld"].sum() == pytest.approx(td.total_["mld"], rel=1e-12)
    assert td.components_["theil_t_share"].sum() == pytest.approx(1.0)
    assert list(td.components_.index) == ["between system", "between place within system",
                                          "between neighbourhood within place"]


def test_theil_matches_pysal_inequality_on_population_expanded_data():
    # population weighting = one row per person: expand and use PySAL's (unweighted) TheilD
    # (pysal "inequality" package, formerly esda.inequality; needed only by this test)
    TheilD = pytest.importorskip("inequality.theil").TheilD
    f = _nested(seed=3)
    td = TheilDecomposition(value="le", levels=("place", "system")).fit(f)
    expanded = f.loc[f.index.repeat(f["population"])]
    y = expanded["le"].to_numpy()[:, None]
    by_place = TheilD(y, expanded["place"].to_numpy())
    by_system = TheilD(y, expanded["system"].to_numpy())
    assert td.total_["theil_t"] == pytest.approx(float(by_place.T[0]), rel=1e-10)
    comp = td.components_["theil_t"]
    # between all places = between systems + between places within systems
    assert comp.iloc[0] == pytest.approx(float(by_system.bg[0]), rel=1e-10)
    assert comp.iloc[0] + comp.iloc[1] == pytest.approx(float(by_place.bg[0]), rel=1e-10)
    assert comp.iloc[2] == pytest.approx(float(by_place.wg[0]), rel=1e-10)


def test_theil_matches_per_person_textbook_formulas():
    # same check without PySAL: per-person data and the textbook between/within formulas
    f = _nested(seed=4)
    td = TheilDecomposition(value="le", levels=("place", "system")).fit(f)
    people = f.loc[f.index.repeat(f["population"])]
    y = people["le"].to_numpy()
    n, mu = len(y), y.mean()
    t_total = np.mean(y / mu * np.log(y / mu))
    l_total = np.mean(np.log(mu / y))
    assert td.total_["theil_t"] == pytest.approx(t_total, rel=1e-10)
    assert td.total_["mld"] == pytest.approx(l_total, rel=1e-10)
    t_between_place = sum(len(g) / n * g.mean() / mu * np.log(g.mean() / mu)
                          for _, g in people.groupby("place")["le"])
    t_between_system = sum(len(g) / n * g.mean() / mu * np.log(g.mean() / mu)
                           for _, g in people.groupby("system")["le"])
    l_within_place = sum(len(g) / n * np.mean(np.log(g.mean() / g))
                         for _, g in people.groupby("place")["le"])
    l_between_system = sum(len(g) / n * np.log(mu / g.mean())
                           for _, g in people.groupby("system")["le"])
    comp = td.components_
    assert comp["theil_t"].iloc[0] == pytest.approx(t_between_system, rel=1e-10)
    assert comp["theil_t"].iloc[:2].sum() == pytest.approx(t_between_place, rel=1e-10)
    assert comp["mld"].iloc[0] == pytest.approx(l_between_system, rel=1e-10)
    assert comp["mld"].iloc[2] == pytest.approx(l_within_place, rel=1e-10)


def test_theil_reports_missing_and_rejects_bad_nesting():
    f = _nested()
    f.loc[f.index[0], "le"] = np.nan
    td = TheilDecomposition(value="le", levels=("place", "system")).fit(f)
    assert td.report_["missing_codes"] == [f.index[0]]
    assert td.report_["n_used"] == len(f) - 1
    bad = f.copy()
    bad.loc[bad.index[0], "system"] = "S2"
    with pytest.raises(InputError, match="nest"):
        TheilDecomposition(value="le", levels=("place", "system")).fit(bad)


def test_theil_frimley_places(shared_data):
    f = frimley_msoa(shared_data)
    td = TheilDecomposition(value="le_female", levels=("place_code", "system_code")).fit(f)
    assert td.components_.loc["between system_code", "theil_t"] == pytest.approx(0.0, abs=1e-15)
    assert td.components_["theil_t"].sum() == pytest.approx(td.total_["theil_t"])
    assert td.report_["n_used"] == 88


# --------------------------------------------------------------------------- Shapley


def _predictors(seed=9, n=300):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 5))
    z[:, 1] += 0.6 * z[:, 0]  # correlated groups make the split non-trivial
    frame = pd.DataFrame(z, columns=["income", "employment", "no2", "gp_km", "smoking"])
    frame["le"] = (80 - 1.2 * frame["income"] - 0.5 * frame["employment"] - 0.4 * frame["no2"]
                   - 0.3 * frame["gp_km"] - 0.8 * frame["smoking"] + rng.normal(0, 1, n))
    frame["population"] = rng.integers(5000, 9000, n)
    frame.index = [f"E02{i:06d}" for i in range(n)]
    return frame


GROUPS = {
    "socioeconomic": ["income", "employment"],
    "built_environment": ["no2"],
    "clinical_care": ["gp_km"],
    "behaviours": ["smoking"],
}


def _r2(frame, cols, weights=None):
    if not cols:
        return 0.0
    x = sm.add_constant(frame[cols])
    res = (sm.WLS(frame["le"], x, weights=weights).fit() if weights is not None
           else sm.OLS(frame["le"], x).fit())
    return res.rsquared


def test_shapley_matches_enumeration_of_orderings():
    f = _predictors()
    sh = ShapleyR2(outcome="le", groups=GROUPS).fit(f)
    names = list(GROUPS)
    contrib = dict.fromkeys(names, 0.0)
    orders = list(itertools.permutations(names))
    for order in orders:
        cols: list[str] = []
        before = 0.0
        for g in order:
            cols = cols + GROUPS[g]
            after = _r2(f, cols)
            contrib[g] += after - before
            before = after
    for g in names:
        assert sh.table_.loc[g, "shapley_r2"] == pytest.approx(contrib[g] / len(orders), rel=1e-9)
    full = _r2(f, [c for cs in GROUPS.values() for c in cs])
    assert sh.r2_full_ == pytest.approx(full, rel=1e-12)
    assert sh.table_["shapley_r2"].sum() == pytest.approx(full, rel=1e-12)
    assert sh.table_["share"].sum() == pytest.approx(1.0)
    assert sh.table_["reference_percent"].to_dict() == {g: CHR_REFERENCE[g] for g in names}


def test_shapley_weighted_two_groups_closed_form_and_missing_rows():
    f = _predictors(seed=10)
    f.loc[f.index[:5], "no2"] = np.nan
    groups = {"socio": ["income", "employment"], "env": ["no2"]}
    sh = ShapleyR2(outcome="le", groups=groups, weights="population",
                   reference_map={"socio": "socioeconomic", "env": "built_environment"}).fit(f)
    used = f.dropna()
    w = used["population"]
    r_s = _r2(used, groups["socio"], w)
    r_e = _r2(used, groups["env"], w)
    r_se = _r2(used, groups["socio"] + groups["env"], w)
    assert sh.table_.loc["socio", "shapley_r2"] == pytest.approx(0.5 * (r_s + r_se - r_e))
    assert sh.table_.loc["env", "shapley_r2"] == pytest.approx(0.5 * (r_e + r_se - r_s))
    assert sh.report_["missing_codes"] == list(f.index[:5])
    assert sh.table_.loc["socio", "reference_percent"] == 40.0
    with pytest.raises(ParameterError, match="income"):
        ShapleyR2(groups={"a": ["income"], "b": ["income"]})


# --------------------------------------------------------------------------- PHE RII, pooled SE


def test_phe_rii_on_frimley_matches_hand_computation(shared_data):
    """PHE's RII (phe_sii, rii=TRUE) on Frimley by a route written out here.

    PHEindicatormethods R/SII_function.R: lm(yvals ~ sqrt_a + b_sqrt_a - 1), then
    ``rii = (sqrt_a + b_sqrt_a) / sqrt_a`` - the fitted value at rank 1 over that at rank 0,
    with quantile 1 the most deprived. Quintile means come from pandas, the fit from statsmodels.
    """
    f = frimley_msoa(shared_data)
    sii = SlopeIndex(value="le_female", score="imd_score", n_quantiles=5, seed=2019,
                     repetitions=20_000).fit(f)
    # quintiles are formed over every MSOA; one with a suppressed value is then left out
    q = quantile_groups(f["imd_score"], f["population"], n=5)
    have = f[f["le_female"].notna()]
    agg = (have.assign(q=q[have.index], pl=have["le_female"] * have["population"])
           .groupby("q")[["pl", "population"]].sum())
    mean = agg["pl"] / agg["population"]
    prop = agg["population"] / agg["population"].sum()
    rank = prop.cumsum() - prop / 2
    wls = sm.WLS(mean.to_numpy(), sm.add_constant(rank.to_numpy()),
                 weights=agg["population"].to_numpy()).fit()
    a, b = wls.params
    assert sii.rii_ == pytest.approx((a + b) / a, rel=1e-10)
    assert sii.sii_ == pytest.approx(b, rel=1e-10)
    # the other form keeps its own explicit name
    assert sii.sii_over_mean_ == pytest.approx(b / np.sum(prop * mean), rel=1e-10)
    # women in Frimley's least deprived fifth live a few per cent longer than in its most
    assert 1.02 < sii.rii_ < 1.15
    assert sii.rii_ci_[0] < sii.rii_ < sii.rii_ci_[1]


def test_pooled_standard_error_never_zero_on_a_frimley_place(shared_data):
    """A Frimley place quintile whose MSOAs share one value gets a pooled, non-zero error.

    Reference: the residual standard deviation of a weighted regression of MSOA life expectancy
    on quintile dummies (statsmodels WLS; its fitted values are the population-weighted
    quintile means), i.e. sqrt(sum of squared raw residuals / (n - Q)).
    """
    f = frimley_msoa(shared_data)
    found = None
    for lad, grp in f[f["le_male"].notna()].groupby("place_code"):
        if len(grp) < 15:
            continue
        q = quantile_groups(grp["imd_score"], grp["population"], n=5)
        spread = grp.groupby(q)["le_male"].agg(lambda v: v.max() - v.min())
        if (spread == 0).any():
            found = lad, grp, q
            break
    assert found is not None, "the zero-spread Frimley place quintile of issue #13 is gone"
    lad, grp, q = found
    with pytest.raises(InputError, match="no spread"):
        SlopeIndex(value="le_male", score="imd_score", n_quantiles=5, seed=1,
                   se_method="within").fit(grp)
    sii = SlopeIndex(value="le_male", score="imd_score", n_quantiles=5, seed=1,
                     repetitions=20_000).fit(grp)
    dummies = pd.get_dummies(q, dtype=float)
    res = sm.WLS(grp["le_male"].to_numpy(), dummies.to_numpy(),
                 weights=grp["population"].to_numpy()).fit()
    sd = math.sqrt(np.sum(np.asarray(res.resid) ** 2) / (len(grp) - dummies.shape[1]))
    w = grp["population"]
    expected = (sd * np.sqrt((w**2).groupby(q).sum()) / w.groupby(q).sum()).sort_index()
    np.testing.assert_allclose(sii.groups_["se"].to_numpy(), expected.to_numpy(), rtol=1e-10)
    assert (sii.groups_["se"] > 0).all()
    assert sii.sii_ci_[1] - sii.sii_ci_[0] > 0.1


def test_sii_table_any_level_follows_the_contract(shared_data):
    f = frimley_msoa(shared_data)
    eng = sii_table(f, level="england", code="E92000001", values=("le_male", "le_female"),
                    population="population", seed=2019)
    t = eng.table
    assert list(t[["level", "code"]].drop_duplicates().itertuples(index=False)) == [
        ("england", "E92000001")]
    assert set(t["sex"]) == {"male", "female"}
    for col in ("sii", "sii_lo", "sii_hi", "rii", "rii_lo", "rii_hi", "gap", "n_areas",
                "method"):
        assert col in t.columns and t[col].notna().all(), col
    assert (t["quantiles"] == 10).all()  # 88 MSOAs with a value: deciles
    direct = SlopeIndex(value="le_male", population="population", score="imd_score",
                        n_quantiles=10, repetitions=20_000,
                        seed=2019).fit(f[f["le_male"].notna()])
    male = t[t["sex"] == "male"].iloc[0]
    assert male["rii"] == direct.rii_ and male["sii_pooled_lo"] == direct.sii_ci_[0]
    # issue #23: the headline interval is the spatial block bootstrap, the pooled one labelled
    assert male["interval"] == "spatial block bootstrap" and male["bootstrap_blocks"] == 9
    assert male["sii_lo"] < male["sii"] < male["sii_hi"]
    assert male["sii_hi"] - male["sii_lo"] > male["sii_pooled_hi"] - male["sii_pooled_lo"]
    assert "not PHE's life tables" in male["method"] and "sii_pooled_lo" in male["method"]
    assert male["n_areas"] == 88
    # grouped by a column, any level name flows through; small groups are skipped and named
    nb = sii_table(f, level="neighbourhood", by="place_code", values=("le_male",),
                   population="population", seed=2019)
    assert set(nb.table["level"]) == {"neighbourhood"}
    n_with_value = f[f["le_male"].notna()].groupby("place_code").size()
    assert set(nb.table["code"]) == set(n_with_value.index[n_with_value >= 15])
    assert nb.notes and "fewer than 15" in nb.notes[-1]
    assert quantiles_for(14) == 0 and quantiles_for(15) == 5 and quantiles_for(40) == 10
    with pytest.raises(ParameterError, match="exactly one"):
        sii_table(f, level="place", seed=1)
