"""Local statistics and the permutation engine, against esda and a brute-force reference.

Observed values and analytical moments must equal esda's to 1e-9. Pseudo p-values cannot
(esda draws different permutations), so they are compared within Monte Carlo error: an
estimate of p from P permutations has standard error sqrt(p (1 - p) / P); two independent
estimates differ by at most ~5 sqrt(2 p (1 - p) / P) with overwhelming probability (a 5-sigma
band; with 49 areas the chance of any area outside it by chance is below 1e-4). The seeds are
fixed, so the tests are deterministic anyway.

esda's pseudo p-values for Columbus were computed once and are written below (compiling esda's
numba kernels takes 15-30 s per statistic, too long for the unit suite); set
``HEALTHGAP_SLOW=1`` to recompute them live (``test_stored_esda_p_values_are_current``).
Observed values and moments are always compared with esda live (no permutations needed).
"""

from __future__ import annotations

import os
import warnings

import esda
import numpy as np
import pandas as pd
import pytest
from healthgap.geo._permutation import conditional_randomization, draw_neighbour_samples
from healthgap.geo.local import (
    BivariateLocalMoran,
    LocalGeary,
    LocalGetisOrdGStar,
    LocalMoran,
    cluster_stability,
    hotspot_band,
)
from healthgap.geo.multiple_testing import min_permutations_for_fdr
from healthgap.geo.weights import build_weights
from libpysal.graph import Graph
from scipy import sparse

from healthgap.errors import InputError, JoinError, MissingColumnError, ParameterError
from tests.geo._stats_data import SCILLY, scilly_frame

P = 9999
SEED = 12345

# esda 2.9.0 / libpysal 4.14.1 on libpysal's Columbus, queen weights from build_weights
# (row-standardised), CRIME (and INC for the bivariate case), permutations=9999, seed=12345:
#   Moran_Local(y, w, permutations=P, seed=SEED).p_sim
#   G_Local(y, w, transform="B", star=True, permutations=P, seed=SEED, n_jobs=1).p_sim
#   Geary_Local(Graph.from_sparse(w.sparse), permutations=P, seed=SEED).fit(y).p_sim
#   Moran_Local_BV(inc, y, w, permutations=P, seed=SEED).p_sim
# stored as p_sim * (P + 1), which is a whole number (the count m + 1). esda's Geary_Local does
# not pass its seed on to the permutation engine, so its p-values change from run to run.
ESDA_P_COUNTS = {
    "moran": [1805, 1641, 2356, 4654, 1540, 3298, 374, 1657, 3867, 1099, 159, 924, 3540, 1047,
              88, 2, 323, 239, 1177, 2264, 1897, 4584, 342, 3, 13, 187, 4209, 54, 13, 201, 377,
              16, 3956, 523, 3681, 76, 52, 857, 182, 184, 615, 790, 4364, 4820, 3443, 414, 581,
              2028, 1944],
    "g_star": [1796, 1641, 2356, 4654, 1540, 3309, 374, 1657, 3867, 1099, 159, 924, 3540, 1047,
               88, 2, 323, 239, 1177, 2264, 1897, 4584, 342, 3, 13, 187, 4209, 54, 13, 201, 376,
               16, 3956, 523, 3681, 76, 52, 857, 182, 184, 615, 776, 4364, 4820, 3443, 410, 572,
               2028, 1944],
    "geary": [1225, 791, 2879, 1829, 624, 4859, 520, 1373, 3369, 4276, 67, 3396, 1928, 2920,
              211, 3, 1088, 628, 622, 1410, 2730, 2734, 2472, 2476, 17, 2463, 2216, 9, 17, 183,
              124, 368, 1517, 1002, 2011, 7, 3650, 464, 100, 480, 247, 501, 307, 2218, 535, 276,
              2833, 64, 207],
    "bivariate": [1796, 1641, 2356, 4654, 1540, 3298, 374, 1657, 3867, 1099, 159, 924, 3540,
                  1047, 88, 2, 323, 239, 1176, 2264, 1897, 4584, 342, 3, 13, 187, 4209, 54, 13,
                  201, 376, 16, 3956, 523, 3681, 76, 52, 857, 182, 184, 615, 776, 4364, 4820,
                  3443, 410, 572, 2028, 1944],
}  # fmt: skip


def esda_p(name: str) -> np.ndarray:
    return np.asarray(ESDA_P_COUNTS[name]) / (P + 1)


def esda_quiet(cls, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # esda's deprecation notice about `alternative`
        return cls(*args, **kwargs)


def assert_p_close(ours: np.ndarray, ref: np.ndarray, permutations: int = P) -> None:
    p = np.clip((ours + ref) / 2, 1 / (permutations + 1), 0.5)
    band = 5 * np.sqrt(2 * p * (1 - p) / permutations) + 2 / (permutations + 1)
    assert (np.abs(ours - ref) <= band).all(), np.abs(ours - ref).max()


# --------------------------------------------------------------------------------------
# The engine against a brute-force implementation with the same draws
# --------------------------------------------------------------------------------------


def brute_force(w: sparse.csr_array, u, b, a, v, c, observed, permutations, seed):
    """Straight numpy: for every area, map the draws, sum, and count, one row at a time."""
    n = w.shape[0]
    max_k = int(np.diff(w.indptr).max())
    draws = draw_neighbour_samples(n - 1, max_k, permutations, np.random.default_rng(seed))
    ge, le, mean, std = (np.full(n, -1), np.full(n, -1), np.full(n, np.nan), np.full(n, np.nan))
    for i in range(n):
        lo, hi = w.indptr[i], w.indptr[i + 1]
        if hi == lo:
            continue
        wi = w.data[lo:hi]
        idx = draws[:, : hi - lo].astype(np.int64)
        idx[idx == i] = n - 1  # the draw that would be i stands for area n - 1
        r = a[i] + b[i] * (u[idx] @ wi) + (c[i] * (v[idx] @ wi) if v is not None else 0.0)
        tol = 1e-10 * (abs(a[i]) + abs(b[i]) * np.abs(wi).sum() * np.abs(u).max()
                       + (abs(c[i]) * np.abs(wi).sum() * np.abs(v).max() if v is not None else 0))
        ge[i] = (r >= observed[i] - tol).sum()
        le[i] = (r <= observed[i] + tol).sum()
        mean[i], std[i] = r.mean(), r.std()
    return ge, le, mean, std


@pytest.mark.parametrize("unequal", [False, True])
@pytest.mark.parametrize("second_vector", [False, True])
@pytest.mark.parametrize("sort_factor", [1e9, 0.0])  # scan every permutation / bisect sorted
def test_engine_equals_brute_force(unequal, second_vector, sort_factor, monkeypatch):
    """Counts by scanning and by bisection of the sorted prefix sums both equal brute force."""
    from healthgap.geo import _permutation

    monkeypatch.setattr(_permutation, "SORT_FACTOR", sort_factor)
    rng = np.random.default_rng(5)
    n = 80
    adj = np.triu(rng.random((n, n)) < 0.07, 1)
    adj = (adj | adj.T).astype(float)
    adj[0] = adj[:, 0] = 0  # an island
    w = adj / np.maximum(adj.sum(axis=1, keepdims=True), 1)
    if unequal:  # kernel-like rows take the direct-sum path
        w = w * rng.uniform(0.2, 1.0, w.shape)
    w = sparse.csr_array(w)
    z = np.round(rng.normal(size=n), 1)  # rounded: many simulated values tie the observed
    z = (z - z.mean()) / z.std()
    a, b = rng.normal(size=n), rng.normal(size=n)
    b[::7] = 0.0  # and some constant ones
    v, c = (z * z, rng.normal(size=n)) if second_vector else (None, None)
    observed = a + b * (w @ z) + (c * (w @ v) if second_vector else 0.0)
    res = conditional_randomization(w, u=z, b=b, a=a, v=v, c=c, observed=observed,
                                    permutations=1999, seed=3)  # fmt: skip
    ge, le, mean, std = brute_force(w, z, b, a, v, c, observed, 1999, 3)
    np.testing.assert_array_equal(res.n_ge, ge)
    np.testing.assert_array_equal(res.n_le, le)
    np.testing.assert_allclose(res.mean, mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.std, std, rtol=1e-9, atol=1e-12)
    # pseudo p-values from the counts, by their definitions
    folded = (np.minimum(ge, 1999 - ge) + 1) / 2000
    two = np.minimum(1, 2 * (np.minimum(ge, le) + 1) / 2000)
    np.testing.assert_array_equal(res.p_folded()[1:], folded[1:])
    np.testing.assert_array_equal(res.p_two_sided()[1:], two[1:])
    assert np.isnan(res.p_folded()[0]) and res.n_ge[0] == -1


def test_shared_draws_give_the_results_of_fresh_draws():
    """Indicators over the same areas reuse one set of draws, with identical results."""
    from healthgap.geo import _permutation

    rng = np.random.default_rng(9)
    n = 60
    adj = np.triu(rng.random((n, n)) < 0.1, 1)
    w = sparse.csr_array((adj | adj.T).astype(float))
    z = rng.normal(size=n)
    kw = {"u": z, "b": z, "observed": z * (w @ z), "permutations": 999, "seed": 77}
    fresh = conditional_randomization(w, **kw)  # outside a block: nothing kept
    assert _permutation._draws.get() is None
    with _permutation.reusing_draws():
        first = conditional_randomization(w, **kw)
        again = conditional_randomization(w, **kw)  # from the cache
        cache = _permutation._draws.get()
        assert cache is not None and len(cache) == 1
        g1 = _permutation.total_randomization(w, z, permutations=199, seed=5)
        g2 = _permutation.total_randomization(w, z, permutations=199, seed=5)
    assert _permutation._draws.get() is None  # freed with the block
    for f in ("n_ge", "n_le", "mean", "std"):
        np.testing.assert_array_equal(getattr(fresh, f), getattr(first, f))
        np.testing.assert_array_equal(getattr(fresh, f), getattr(again, f))
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(g1, _permutation.total_randomization(w, z, permutations=199,
                                                                       seed=5))
    # the cached permutations are the ones a fresh generator gives, row by row
    rows = np.random.default_rng(5).permuted(np.broadcast_to(np.arange(n), (199, n)), axis=1)
    z_p = z[rows]
    np.testing.assert_allclose(g1[:, 0], np.einsum("pi,pi->p", z_p, (w @ z_p.T).T), rtol=1e-12)


def test_draws_are_uniform_samples_without_replacement():
    rng = np.random.default_rng(0)
    draws = draw_neighbour_samples(30, 6, 20000, rng)
    assert all(len(set(row)) == 6 for row in draws[:2000])
    # every value equally likely in every column: chi-square against uniform, 29 dof
    for col in range(6):
        counts = np.bincount(draws[:, col], minlength=30)
        chi2 = ((counts - 20000 / 30) ** 2 / (20000 / 30)).sum()
        assert chi2 < 70  # P(chi2_29 > 70) ~ 3e-5


@pytest.mark.parametrize("n, permutations", [(33_755, 20), (6_856, 99), (2, 50), (1, 3)])
def test_compiled_shuffles_equal_numpys_permuted(n, permutations):
    """The global statistics' permutations are numpy's ``Generator.permuted``, value for value."""
    from healthgap.geo._permutation import _permutations

    want = np.random.default_rng(5).permuted(
        np.broadcast_to(np.arange(n, dtype=np.int32), (permutations, n)), axis=1)
    got = _permutations(n, permutations, 5)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def _numpy_draws(n_others, size, permutations, rng):
    """The draws as two numpy calls make them: uniform integers, repeats redrawn by choice."""
    draws = rng.integers(0, n_others, size=(permutations, size), dtype=np.int64)
    for p in range(permutations):
        if len(set(draws[p].tolist())) < size:
            draws[p] = rng.choice(n_others, size=size, replace=False)
    return draws.astype(np.int32)


@pytest.mark.parametrize("n_others, size, permutations", [
    (33_754, 250, 400),   # England's LSOAs, a wide distance band: most rows redrawn (Floyd)
    (12_000, 300, 200),   # size > n // 50 above 10,000 areas: numpy's tail-shuffle branch
    (500, 30, 999),       # an ICB
    (20, 19, 50),         # nearly every other area is a neighbour
    (1, 1, 10),           # a single other area: nothing random is drawn
    (100, 1, 30),
])
def test_compiled_draws_equal_numpys_and_leave_the_generator_alike(n_others, size, permutations):
    """The compiled sampler is numpy's integers-then-choice draw, value for value."""
    ours, theirs = np.random.default_rng(11), np.random.default_rng(11)
    got = draw_neighbour_samples(n_others, size, permutations, ours)
    want = _numpy_draws(n_others, size, permutations, theirs)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)
    # the generator is left in the same state: the next draws agree too
    assert ours.integers(0, 2**40, size=4).tolist() == theirs.integers(0, 2**40, size=4).tolist()


# --------------------------------------------------------------------------------------
# Against esda on Columbus
# --------------------------------------------------------------------------------------


def test_local_moran_matches_esda(columbus_case):
    _, wr, crime, _ = columbus_case
    m = LocalMoran(permutations=P, seed=SEED, correction=None).fit(crime, wr)
    e = esda_quiet(esda.Moran_Local, crime.to_numpy(), wr.graph, permutations=0)
    np.testing.assert_allclose(m.Is_, e.Is, rtol=1e-9, atol=1e-12)
    for ours, ref in [(m.expected_, e.EI), (m.variance_, e.VI), (m.expected_cond_, e.EIc),
                      (m.variance_cond_, e.VIc)]:  # fmt: skip
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(m.quadrant_, e.q)
    assert_p_close(m.p_sim_.to_numpy(), esda_p("moran"))
    # simulated moments against the exact moments of conditional randomisation: the lag is the
    # mean of k_i values drawn without replacement from the N = n - 1 others, so
    # E = mean(z_-i), Var = var(z_-i) / k (N - k) / (N - 1). (esda's EIc/VIc follow Sokal
    # 1998 with a n / Σz² scaling, not the (n - 1) / Σz² of its Is, so they are off by n/(n-1).)
    y = crime.to_numpy()
    z = (y - y.mean()) / y.std()
    n, big_n = z.size, z.size - 1
    k = wr.graph.cardinalities.to_numpy()
    scale = (n - 1) / (z @ z) * z
    mean_others = -z / big_n
    var_others = (z @ z - z**2) / big_n - mean_others**2
    exact_mean = scale * mean_others
    exact_var = scale**2 * var_others / k * (big_n - k) / (big_n - 1)
    assert (np.abs(m.expected_sim_ - exact_mean) <= 5 * np.sqrt(exact_var / P)).all()
    # relative s.e. of a variance estimate ~ sqrt(2 / P) = 1.4%; allow 5 of them
    np.testing.assert_allclose(m.var_sim_, exact_var, rtol=5 * np.sqrt(2 / P))
    # labels: quadrant for p <= alpha (no correction), else not significant
    names = {1: "High-High", 2: "Low-High", 3: "Low-Low", 4: "High-Low"}
    expected = np.where(m.p_sim_ <= 0.05, [names[q] for q in m.quadrant_], "Not significant")
    np.testing.assert_array_equal(m.labels_, expected)
    assert list(m.Is_.index) == list(crime.index)


def test_gi_star_matches_esda(columbus_case):
    _, wr, crime, _ = columbus_case
    g = LocalGetisOrdGStar(permutations=P, seed=SEED, correction=None).fit(crime, wr)
    e = esda_quiet(esda.G_Local, crime.to_numpy(), wr.graph, transform="B", star=True,
                   permutations=0)  # fmt: skip
    for ours, ref in [(g.Gs_, e.Gs), (g.expected_, e.EGs), (g.variance_, e.VGs), (g.z_, e.Zs),
                      (g.p_norm_, 2 * e.p_norm)]:  # fmt: skip
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-15)
    assert_p_close(g.p_sim_.to_numpy(), esda_p("g_star"))
    hot = g.labels_ == "Hot spot"
    assert hot.any() and (g.z_[hot] > 0).all() and (g.z_[g.labels_ == "Cold spot"] < 0).all()
    rowstd = LocalGetisOrdGStar(permutations=99, seed=1, transformation="r").fit(crime, wr)
    e_r = esda_quiet(esda.G_Local, crime.to_numpy(), wr.graph.transform("B"), transform="R",
                     star=True, permutations=0)  # fmt: skip
    np.testing.assert_allclose(rowstd.Gs_, e_r.Gs, rtol=1e-9)


def test_local_geary_matches_esda(columbus_case):
    _, wr, crime, _ = columbus_case
    c = LocalGeary(permutations=P, seed=SEED, correction=None).fit(crime, wr)
    # esda's Geary_Local re-orders its output by sorted id when ids are strings, so it is
    # given the same weights with positional ids
    positional = Graph.from_sparse(wr.graph.sparse)
    e = esda_quiet(esda.Geary_Local, positional, permutations=0).fit(crime.to_numpy())
    np.testing.assert_allclose(c.C_, e.localG, rtol=1e-9, atol=1e-12)
    assert_p_close(c.p_sim_.to_numpy(), esda_p("geary"))
    allowed = {"High-High", "Low-Low", "Other positive", "Negative", "Not significant"}
    assert set(c.labels_) <= allowed and (c.labels_ != "Not significant").sum() > 0


def test_bivariate_local_moran_matches_esda(columbus_case):
    _, wr, crime, inc = columbus_case
    b = BivariateLocalMoran(permutations=P, seed=SEED, correction=None).fit(inc, crime, wr)
    e = esda_quiet(esda.Moran_Local_BV, inc.to_numpy(), crime.to_numpy(), wr.graph,
                   permutations=0)  # fmt: skip
    np.testing.assert_allclose(b.Is_, e.Is, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(b.quadrant_, e.q)
    assert_p_close(b.p_sim_.to_numpy(), esda_p("bivariate"))
    assert b.indicator_ == "inc ~ lag(crime)"


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("HEALTHGAP_SLOW"), reason="set HEALTHGAP_SLOW=1 (~1 min)")
def test_stored_esda_p_values_are_current(columbus_case):
    _, wr, crime, inc = columbus_case
    y = crime.to_numpy()
    live = {
        "moran": esda_quiet(esda.Moran_Local, y, wr.graph, permutations=P, seed=SEED).p_sim,
        "g_star": esda_quiet(esda.G_Local, y, wr.graph, transform="B", star=True,
                             permutations=P, seed=SEED, n_jobs=1).p_sim,
        "geary": esda_quiet(esda.Geary_Local, Graph.from_sparse(wr.graph.sparse),
                            permutations=P, seed=SEED).fit(y).p_sim,
        "bivariate": esda_quiet(esda.Moran_Local_BV, inc.to_numpy(), y, wr.graph,
                                permutations=P, seed=SEED).p_sim,
    }  # fmt: skip
    for name, p in live.items():
        if name == "geary":  # unseeded in esda: only equal within Monte Carlo error
            assert_p_close(np.asarray(p, dtype=float), esda_p(name))
        else:
            np.testing.assert_allclose(p, esda_p(name), atol=1e-12, err_msg=name)


# --------------------------------------------------------------------------------------
# Real data: Frimley with its edge ring
# --------------------------------------------------------------------------------------


def test_frimley_ring_used_as_neighbours_but_not_reported(frimley_case):
    frame, wr, imd = frimley_case
    m = LocalMoran(permutations="auto", seed=SEED).fit(imd, wr)
    inside = frame["in_area"].to_numpy()
    e = esda_quiet(esda.Moran_Local, imd.to_numpy(), wr.graph, permutations=0)
    assert list(m.Is_.index) == list(frame.index[inside])
    np.testing.assert_allclose(m.Is_, e.Is[inside], rtol=1e-9, atol=1e-12)
    assert m.n_tests_ == 440 and m.n_reported_ == 440
    assert m.permutations_ == min_permutations_for_fdr(440, 0.05) == 8800
    assert m.attainable_ and "8800" in m.permutations_rule_
    s = m.summary()
    assert s["labels"]["High-High"] > 0 and s["labels"]["Low-Low"] > 0
    assert sum(s["labels"].values()) == 440
    # BH over the 440 reported areas, by statsmodels
    from statsmodels.stats.multitest import multipletests

    ref = multipletests(m.p_sim_.to_numpy(), alpha=0.05, method="fdr_bh")
    np.testing.assert_array_equal(m.significant_, ref[0])
    np.testing.assert_allclose(m.p_adjusted_, ref[1], atol=1e-15)
    frame_out = m.to_frame()
    assert frame_out.shape[0] == 440 and {"Is", "p_sim", "labels"} <= set(frame_out.columns)


def test_determinism_byte_for_byte(frimley_case):
    _, wr, imd = frimley_case
    a = LocalMoran(permutations=999, seed=3).fit(imd, wr)
    b = LocalMoran(permutations=999, seed=3).fit(imd, wr)
    c = LocalMoran(permutations=999, seed=4).fit(imd, wr)
    for attr in ("p_sim_", "p_sim_two_sided_", "expected_sim_", "var_sim_", "z_sim_"):
        assert getattr(a, attr).to_numpy().tobytes() == getattr(b, attr).to_numpy().tobytes()
    assert not np.array_equal(a.p_sim_, c.p_sim_)
    assert not np.array_equal(a.expected_sim_, c.expected_sim_)
    # the same bytes whatever the number of threads the numba kernels run on
    import numba

    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = LocalMoran(permutations=999, seed=3).fit(imd, wr)
    finally:
        numba.set_num_threads(threads)
    for attr in ("p_sim_", "expected_sim_", "var_sim_"):
        assert getattr(a, attr).to_numpy().tobytes() == getattr(single, attr).to_numpy().tobytes()
    kernel = build_weights(frimley_case[0], kind="kernel", k=8)  # unequal weights: direct-sum path
    k1 = LocalGeary(permutations=499, seed=9).fit(imd, kernel)
    k2 = LocalGeary(permutations=499, seed=9).fit(imd, kernel)
    assert k1.p_sim_.to_numpy().tobytes() == k2.p_sim_.to_numpy().tobytes()


def test_two_sided_p_and_bonferroni(frimley_case):
    _, wr, imd = frimley_case
    m = LocalMoran(permutations=999, seed=3, correction="bonferroni", p_value="two-sided")
    m.fit(imd, wr)
    two, folded = m.p_sim_two_sided_.to_numpy(), m.p_sim_.to_numpy()
    # doubling the folded tail count, up to ties in the simulated values
    assert (two >= folded).all() and (two <= np.minimum(1, 2 * folded + 2 / 1000)).all()
    np.testing.assert_array_equal(m.significant_, two <= 0.05 / 440)
    assert not m.attainable_  # 999 permutations cannot reach 0.05 / 440


def test_island_kept_is_reported_not_tested(shared_data):
    frame = scilly_frame(shared_data)
    wr = build_weights(frame, islands="keep")
    m = LocalMoran(permutations=99, seed=1).fit(frame["imd_score"], wr)
    assert m.labels_[SCILLY] == "No neighbours" and np.isnan(m.p_sim_[SCILLY])
    assert m.n_tests_ == len(frame) - 1 and not m.significant_[SCILLY]
    joined = LocalMoran(permutations=99, seed=1).fit(frame["imd_score"], build_weights(frame))
    assert joined.labels_[SCILLY] != "No neighbours" and joined.n_tests_ == len(frame)


def test_cluster_stability(frimley_case):
    frame, wr, imd = frimley_case
    res = cluster_stability(frame, "imd_score", permutations=999, seed=2,
                            weights_options={"knn": {"k": 6}})  # fmt: skip
    assert list(res.labels.columns) == ["queen", "knn", "distance_band"]
    assert len(res.labels) == 440
    queen = LocalMoran(permutations=999, seed=2).fit(imd, wr)
    pd.testing.assert_series_equal(res.labels["queen"], queen.labels_, check_names=False)
    same = (res.labels.nunique(axis=1) == 1).to_numpy()
    np.testing.assert_array_equal(res.stable, same)
    assert res.share_stable == pytest.approx(same.mean())
    assert 0 < res.share_stable < 1
    s = res.summary()
    assert s["weights"]["knn"]["params"]["k"] == 6 and s["n_areas"] == 440


def test_errors_name_the_problem(columbus_case):
    gdf, wr, crime, _ = columbus_case
    for bad in (0, -1, 1.5, "lots"):
        with pytest.raises(ParameterError, match="permutations"):
            LocalMoran(permutations=bad, seed=1).fit(crime, wr)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="correction"):
        LocalMoran(correction="holm", seed=1).fit(crime, wr)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="p_value"):
        LocalMoran(p_value="one-sided", seed=1).fit(crime, wr)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="alpha"):
        LocalMoran(alpha=0, seed=1).fit(crime, wr)
    nan = crime.copy()
    nan.iloc[7] = np.nan
    with pytest.raises(InputError, match="C08"):
        LocalMoran(seed=1).fit(nan, wr)
    with pytest.raises(JoinError, match="C01"):
        LocalMoran(seed=1).fit(crime.iloc[1:], wr)
    with pytest.raises(InputError, match="non-negative"):
        LocalGetisOrdGStar(seed=1).fit(crime - 50, wr)
    with pytest.raises(MissingColumnError, match="le_male"):
        cluster_stability(gdf, "le_male")
    with pytest.raises(ParameterError, match="two weights kinds"):
        cluster_stability(gdf, "CRIME", kinds=["queen"])
    with pytest.raises(ParameterError, match="not fitted"):
        LocalMoran().to_frame()


def test_gi_star_has_its_own_band_and_differs_from_lisa(frimley_case):
    """Gi* on a fixed band including the area (hot-spot practice) is no copy of the LISA map.

    Issue #13: under the same queen weights and draws the Gi* hot/cold map equalled the LISA
    significance map. References: the band by brute force (scipy cdist), Gi* by esda.G_Local
    (star=True, binary) on the same band graph.
    """
    from scipy.spatial.distance import cdist

    frame, wr, imd = frimley_case
    band = hotspot_band(frame)
    xy = np.column_stack([frame.centroid.x, frame.centroid.y])  # no pw_x/pw_y in this frame
    d = np.sort(cdist(xy, xy), axis=1)[:, 8]  # column 0 is the area itself
    assert band == pytest.approx(np.median(d), rel=1e-12)
    wg = build_weights(frame, kind="distance_band", threshold=band)
    assert np.median(wg.graph.cardinalities) >= 7
    g = LocalGetisOrdGStar(permutations=999, seed=SEED).fit(imd, wg)
    e = esda_quiet(esda.G_Local, imd.to_numpy(), wg.graph, transform="B", star=True,
                   permutations=0)
    inside = frame["in_area"].to_numpy()
    np.testing.assert_allclose(g.z_, e.Zs[inside], rtol=1e-9)
    lisa = LocalMoran(permutations=999, seed=SEED).fit(imd, wr)
    same = LocalGetisOrdGStar(permutations=999, seed=SEED).fit(imd, wr)
    flagged_same = same.labels_.isin(["Hot spot", "Cold spot"]).to_numpy()
    # issue #23: areas with one queen neighbour are not tested by Gi* (two values); over the
    # others the two maps flag the same areas
    two = (same.n_neighbours_ >= 2).to_numpy()
    assert 0 < int((~two).sum()) < 20
    assert not flagged_same[~two].any()
    assert np.array_equal(flagged_same[two],
                          (lisa.labels_ != "Not significant").to_numpy()[two])
    flagged_band = (g.labels_ != "Not significant").to_numpy()
    differ = int((flagged_band != (lisa.labels_ != "Not significant").to_numpy()).sum())
    assert differ >= 20, differ  # a map of its own, not the LISA map again
    with pytest.raises(ParameterError, match="k must"):
        hotspot_band(frame, k=0)


def test_gi_star_does_not_call_an_area_with_one_neighbour_hot_or_cold():
    """Issue #23: Gi* of an area with one neighbour rests on two values; it is flagged, not
    tested (not counted in the correction) and never labelled hot or cold. LISA keeps it."""
    import pandas as pd
    from healthgap.geo.local import TOO_FEW_NEIGHBOURS
    from libpysal.graph import Graph

    codes = [f"A{k}" for k in range(12)]
    # a ring of 11 areas (two neighbours each) and a pendant A11 hanging off A0
    focal = [codes[k] for k in range(11)] + [codes[(k + 1) % 11] for k in range(11)]
    neigh = [codes[(k + 1) % 11] for k in range(11)] + [codes[k] for k in range(11)]
    focal += ["A0", "A11"]
    neigh += ["A11", "A0"]
    g = Graph.from_arrays(focal, neigh, [1.0] * len(focal))
    y = pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 500.0], index=codes)
    gi = LocalGetisOrdGStar(permutations=999, seed=1, correction="fdr").fit(y, g)
    f = gi.to_frame()
    assert f.loc["A11", "labels"] == TOO_FEW_NEIGHBOURS
    assert f.loc["A11", "n_neighbours"] == 1 and not f.loc["A11", "significant"]
    assert np.isnan(f.loc["A11", "p_adjusted"])
    assert gi.n_tests_ == 11
    assert set(f.drop(index="A11")["labels"]) <= {"Hot spot", "Cold spot", "Not significant"}
    lm = LocalMoran(permutations=99, seed=1).fit(y, g).to_frame()
    assert lm.loc["A11", "labels"] != TOO_FEW_NEIGHBOURS
