from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from healthgap.geo.multiple_testing import (
    adjust,
    benjamini_hochberg,
    bonferroni,
    min_permutations_for_fdr,
    min_tied_for_fdr,
    smallest_pseudo_p,
)
from statsmodels.stats.multitest import multipletests

from healthgap.errors import ParameterError


@pytest.fixture(scope="module")
def pvalues() -> np.ndarray:
    rng = np.random.default_rng(42)
    # a mix of signal and noise, on the permutation grid (ties included), as local stats give
    p = np.concatenate([rng.uniform(0, 0.0003, 40), rng.uniform(0, 1, 400)])
    return np.round(p * 9999) / 10000 + 0.0001


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_bh_matches_statsmodels(pvalues, alpha):
    reject, adjusted = benjamini_hochberg(pvalues, alpha=alpha)
    ref_reject, ref_adjusted, _, _ = multipletests(pvalues, alpha=alpha, method="fdr_bh")
    assert reject.sum() > 0
    np.testing.assert_array_equal(reject, ref_reject)
    np.testing.assert_allclose(adjusted, ref_adjusted, rtol=0, atol=1e-15)


def test_bonferroni_matches_statsmodels(pvalues):
    reject, adjusted = bonferroni(pvalues, alpha=0.05)
    ref_reject, ref_adjusted, _, _ = multipletests(pvalues, alpha=0.05, method="bonferroni")
    np.testing.assert_array_equal(reject, ref_reject)
    np.testing.assert_allclose(adjusted, ref_adjusted, rtol=0, atol=1e-15)


def test_nan_entries_are_not_tests(pvalues):
    p = pvalues.copy()
    p[[3, 50, 77]] = np.nan
    for method, ref in (("fdr", "fdr_bh"), ("bonferroni", "bonferroni")):
        reject, adjusted = adjust(p, alpha=0.05, correction=method)
        ok = ~np.isnan(p)
        ref_reject, ref_adjusted, _, _ = multipletests(p[ok], alpha=0.05, method=ref)
        np.testing.assert_array_equal(reject[ok], ref_reject)
        np.testing.assert_allclose(adjusted[ok], ref_adjusted, atol=1e-15)
        assert not reject[~ok].any() and np.isnan(adjusted[~ok]).all()


def test_no_correction_compares_with_alpha(pvalues):
    reject, adjusted = adjust(pvalues, alpha=0.05, correction=None)
    np.testing.assert_array_equal(reject, pvalues <= 0.05)
    np.testing.assert_array_equal(adjusted, pvalues)


@pytest.mark.parametrize(("n", "alpha", "two_sided"), [
    (440, 0.05, False), (440, 0.05, True), (32844, 0.05, False), (49, 0.05, False),
    (1000, 0.1, False), (7, 0.01, True), (503, 0.05, False),
    (7, 0.03, False), (503, 0.03, True), (1234, 0.07, False),  # n / alpha not whole: no tie
])  # fmt: skip
def test_min_permutations_is_the_smallest_that_attains_alpha_over_n(n, alpha, two_sided):
    p_perm = min_permutations_for_fdr(n, alpha, two_sided=two_sided)
    # the smallest p is strictly below alpha / n, and with one permutation fewer it is not
    scale = 2 if two_sided else 1
    assert Fraction(scale, p_perm + 1) < Fraction(str(alpha)) / n
    assert Fraction(scale, p_perm) >= Fraction(str(alpha)) / n
    # and BH on a lone signal at the minimum p among nulls flags it with p_perm, and not with
    # one permutation fewer unless that is an exact tie (then floating point decides)
    tie = Fraction(scale, p_perm) == Fraction(str(alpha)) / n
    cases = [(p_perm, True)] + ([] if tie else [(p_perm - 1, False)])
    for perms, flagged in cases:
        p = np.full(n, 0.5)
        p[0] = smallest_pseudo_p(perms, two_sided=two_sided)
        ref_reject = multipletests(p, alpha=alpha, method="fdr_bh")[0]
        assert bool(ref_reject[0]) is flagged
        assert bool(benjamini_hochberg(p, alpha=alpha)[0][0]) is flagged


def test_known_values():
    # n / alpha - 1 = 8799 would give p_min = alpha / n exactly, a float tie; one more is safe
    assert min_permutations_for_fdr(440, 0.05) == 8800
    assert min_permutations_for_fdr(32844, 0.05) == 656880
    assert min_permutations_for_fdr(440, 0.05, two_sided=True) == 17600
    assert min_permutations_for_fdr(49, 0.05) == 980
    assert min_permutations_for_fdr(7, 0.03) == 233  # 7 / 0.03 = 233.3: 233 gives 1/234 < 0.03/7


def test_bh_can_flag_below_the_bound_only_in_numbers():
    n, alpha, perms = 1000, 0.05, 999  # lone-signal bound would need 19999
    p_min = smallest_pseudo_p(perms)
    k = min_tied_for_fdr(n, alpha, perms)
    assert k == 20  # n p_min / alpha = 1000 * 0.001 / 0.05
    for tied, flagged in ((k, True), (k - 1, False)):
        p = np.full(n, 0.9)
        p[:tied] = p_min
        ref = multipletests(p, alpha=alpha, method="fdr_bh")[0]
        ours = benjamini_hochberg(p, alpha=alpha)[0]
        np.testing.assert_array_equal(ours, ref)
        assert bool(ours[:tied].all()) is flagged


def test_errors():
    with pytest.raises(ParameterError, match="alpha"):
        benjamini_hochberg([0.1, 0.2], alpha=1.5)
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        bonferroni([0.1, 1.2])
    with pytest.raises(ParameterError, match="correction"):
        adjust([0.1], correction="holm")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="n_tests"):
        min_permutations_for_fdr(0)
