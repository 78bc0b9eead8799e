"""Global statistics against published R values, esda on the same weights, and real data.

Permutation p-values and moments cannot equal esda's (different random draws); they are
compared within Monte Carlo error: with P permutations the standard error of a simulated
mean is sd / sqrt(P) and of a variance about var * sqrt(2 / P); we allow 5 standard errors
of the difference of two independent estimates.
"""

from __future__ import annotations

import json

import esda
import numpy as np
import pandas as pd
import pytest
from healthgap.geo.autocorrelation import BivariateMoran, GlobalGeary, GlobalGetisOrdG, GlobalMoran

from healthgap.errors import InputError, JoinError, ParameterError

P = 999
SEED = 20240517


def mc_close(ours: float, ref: float, sd: float, permutations: int = P) -> bool:
    return abs(ours - ref) <= 5 * np.sqrt(2) * sd / np.sqrt(permutations)


def test_moran_columbus_matches_published_r_spdep(columbus_case):
    # R spdep, poly2nb(columbus) queen contiguity, nb2listw(style="W"):
    #   moran.test(col_sf$CRIME, lw) -> I = 0.500188557, E = -0.020833333,
    #   Var (randomisation) = 0.008689289, standard deviate = 5.5894, p (greater) = 1.139e-08
    # Published by Roger Bivand in rsbivand/ectqg19-workshop, sources/s4b_py.md
    # (commit f9831996dab0fe10c6bfd43a12b3150215d1e569); libpysal's columbus.shp is the same
    # data and its queen neighbours are poly2nb's (236 links).
    _, wr, crime, _ = columbus_case
    m = GlobalMoran(permutations=P, seed=SEED).fit(crime, wr)
    assert m.I_ == pytest.approx(0.500188557, abs=5e-10)
    assert m.expected_ == pytest.approx(-0.020833333, abs=5e-10)
    assert m.var_rand_ == pytest.approx(0.008689289, abs=5e-10)
    assert m.z_rand_ == pytest.approx(5.5894, abs=5e-5)
    assert m.p_rand_ / 2 == pytest.approx(1.139e-08, rel=1e-3)  # ours is two-sided
    assert int(wr.graph.cardinalities.sum()) == 236


def test_moran_matches_esda(columbus_case):
    _, wr, crime, _ = columbus_case
    m = GlobalMoran(permutations=P, seed=SEED).fit(crime, wr)
    np.random.seed(SEED)
    e = esda.Moran(crime.to_numpy(), wr.graph, permutations=P)
    for ours, ref in [(m.I_, e.I), (m.expected_, e.EI), (m.var_norm_, e.VI_norm),
                      (m.var_rand_, e.VI_rand), (m.z_norm_, e.z_norm), (m.z_rand_, e.z_rand),
                      (m.p_norm_, e.p_norm), (m.p_rand_, e.p_rand)]:  # fmt: skip
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-12)
    sd = np.sqrt(e.VI_sim)
    assert mc_close(m.expected_sim_, e.EI_sim, sd)
    assert abs(m.var_sim_ - e.VI_sim) <= 5 * e.VI_sim * np.sqrt(4 / P)
    # I is far in the upper tail: neither run sees a permuted I as large
    assert m.p_sim_ == e.p_sim == 1 / (P + 1)
    assert m.p_sim_two_sided_ == 2 / (P + 1)


def test_geary_getis_ord_and_bivariate_match_esda(columbus_case):
    _, wr, crime, inc = columbus_case
    y = crime.to_numpy()
    g = GlobalGeary(permutations=P, seed=SEED).fit(crime, wr)
    e = esda.Geary(y, wr.graph, permutations=P)
    for ours, ref in [(g.C_, e.C), (g.expected_, e.EC), (g.var_norm_, e.VC_norm),
                      (g.var_rand_, e.VC_rand), (g.z_norm_, e.z_norm), (g.z_rand_, e.z_rand),
                      (g.p_rand_, 2 * e.p_rand), (g.p_norm_, 2 * e.p_norm)]:  # fmt: skip
        assert ours == pytest.approx(ref, rel=1e-9)
    assert mc_close(g.expected_sim_, e.EC_sim, np.sqrt(e.VC_sim))

    G = GlobalGetisOrdG(permutations=P, seed=SEED).fit(crime, wr)
    e = esda.G(y, wr.graph, permutations=P)
    for ours, ref in [(G.G_, e.G), (G.expected_, e.EG), (G.variance_, e.VG),
                      (G.z_norm_, e.z_norm), (G.p_norm_, 2 * e.p_norm)]:  # fmt: skip
        assert ours == pytest.approx(ref, rel=1e-9)
    assert mc_close(G.expected_sim_, e.EG_sim, np.sqrt(e.VG_sim))
    assert G.transformation_ == "b"

    b = BivariateMoran(permutations=P, seed=SEED).fit(inc, crime, wr)
    e = esda.Moran_BV(inc.to_numpy(), y, wr.graph, permutations=P)
    assert b.I_ == pytest.approx(e.I, rel=1e-9)
    assert mc_close(b.expected_sim_, e.EI_sim, np.sqrt(e.VI_sim))
    assert b.p_sim_ == e.p_sim == 1 / (P + 1)
    assert b.indicator_ == "inc ~ lag(crime)"


def test_frimley_imd_reports_in_area_only(frimley_case):
    frame, wr, imd = frimley_case
    m = GlobalMoran(permutations=P, seed=SEED).fit(imd, wr)
    inside = frame.index[frame["in_area"]]
    sub = wr.graph.subgraph(inside)  # the ring is left out of a global statistic
    e = esda.Moran(imd.reindex(inside).to_numpy(), sub, permutations=0)
    assert m.n_ == 440 and list(m.codes_) == list(inside)
    assert m.I_ == pytest.approx(e.I, rel=1e-9)
    assert m.var_rand_ == pytest.approx(e.VI_rand, rel=1e-9)
    assert m.I_ > 0.3 and m.p_sim_ == 1 / (P + 1)  # deprivation clusters strongly
    ring = int((~frame["in_area"]).sum())
    assert m.to_dict()["edge_ring"].startswith(f"{ring} area(s) outside the report left out")
    everything = GlobalMoran(permutations=P, seed=SEED).fit(imd, wr, report=frame.index)
    e_all = esda.Moran(imd.to_numpy(), wr.graph, permutations=0)
    assert everything.n_ == len(frame) and everything.I_ == pytest.approx(e_all.I, rel=1e-9)
    g = GlobalGetisOrdG(permutations=P, seed=SEED).fit(imd, wr)
    assert g.G_ == pytest.approx(esda.G(imd.reindex(inside).to_numpy(), sub, permutations=0).G,
                                 rel=1e-9)  # fmt: skip


def test_to_dict_is_json_row(columbus_case):
    _, wr, crime, inc = columbus_case
    for stat in (GlobalMoran(seed=1).fit(crime, wr), GlobalGeary(seed=1).fit(crime, wr),
                 GlobalGetisOrdG(seed=1).fit(crime, wr),
                 BivariateMoran(seed=1).fit(inc, crime, wr)):  # fmt: skip
        row = stat.to_dict()
        assert json.loads(json.dumps(row)) == row
        for key in ("statistic", "value", "expected", "variance", "z", "p_value", "p_sim",
                    "permutations", "seed", "weights_kind"):  # fmt: skip
            assert key in row
        assert row["seed"] == 1 and row["permutations"] == 999 and row["weights_kind"] == "queen"
        # each p-value names its sidedness (issue #13 item 6)
        permutation_only = isinstance(stat, BivariateMoran)
        assert row["p_value_sides"] == ("one-sided (folded, permutation)" if permutation_only
                                        else "two-sided")
        assert row["p_sim_sides"].startswith("one-sided")
        assert row["edge_ring"] == "none"


def test_seed_determinism(columbus_case):
    _, wr, crime, _ = columbus_case
    a = GlobalMoran(permutations=199, seed=7).fit(crime, wr).to_dict()
    b = GlobalMoran(permutations=199, seed=7).fit(crime, wr).to_dict()
    c = GlobalMoran(permutations=199, seed=8).fit(crime, wr).to_dict()
    assert a == b
    assert a["expected_sim"] != c["expected_sim"] and a["var_sim"] != c["var_sim"]
    unseeded = GlobalMoran(permutations=19).fit(crime, wr)
    again = GlobalMoran(permutations=19, seed=unseeded.seed_).fit(crime, wr)
    assert unseeded.to_dict() == again.to_dict()  # the drawn seed reproduces the run


def test_errors_name_the_problem(columbus_case):
    gdf, wr, crime, _ = columbus_case
    bad = crime.copy()
    bad.iloc[[4, 9]] = np.nan
    with pytest.raises(InputError, match=r"'crime' is missing .* 2 area\(s\): C05, C10"):
        GlobalMoran(seed=1).fit(bad, wr)
    with pytest.raises(JoinError, match="C49"):
        GlobalMoran(seed=1).fit(crime.iloc[:-1], wr)
    extra = pd.concat([crime, pd.Series([1.0], index=["X99"])])
    with pytest.raises(JoinError, match="X99"):
        GlobalMoran(seed=1).fit(extra, wr)
    for bad_p in (0, -3, 2.5, True):
        with pytest.raises(ParameterError, match="permutations"):
            GlobalMoran(permutations=bad_p, seed=1).fit(crime, wr)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="non-negative"):
        GlobalGetisOrdG(seed=1).fit(crime - 100, wr)
    with pytest.raises(InputError, match="constant"):
        GlobalMoran(seed=1).fit(crime * 0 + 1, wr)
    with pytest.raises(InputError, match="WeightsResult or a libpysal"):
        GlobalMoran(seed=1).fit(crime, gdf)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="seed"):
        GlobalMoran(seed=-1).fit(crime, wr)
