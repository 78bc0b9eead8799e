"""Multiple-testing corrections for local statistics, and how many permutations they need.

A local statistic tests every area at once, so a 5% threshold per area flags about 5% of areas
even when there is no pattern at all. Two corrections are offered:

* **Benjamini–Hochberg** false discovery rate (``"fdr"``): among the areas flagged, the expected
  share of false discoveries is at most ``alpha``.
* **Bonferroni** (``"bonferroni"``): the chance of any false discovery is at most ``alpha``.

Permutation p-values are discrete: with ``P`` permutations the smallest attainable value is
``1 / (P + 1)`` (``2 / (P + 1)`` for the two-sided p-value). Bonferroni flags an area only if
its p-value reaches ``alpha / n``. BH is a step-up procedure: the ``k`` smallest p-values are
flagged when the ``k``-th is at most ``k alpha / n``, so with too few permutations BH can still
flag areas, but only when at least ``n / (alpha (P + 1))`` of them sit at the smallest
p-value; a single strong cluster among many null areas is missed. The correction is
*attainable* for every area on its own when ``1 / (P + 1) <= alpha / n``;
:func:`min_permutations_for_fdr` gives the smallest ``P`` for which ``1 / (P + 1)`` is
strictly below ``alpha / n``, so that no floating-point tie decides it.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

import numpy as np

from healthgap.errors import ParameterError

__all__ = [
    "CORRECTIONS",
    "adjust",
    "benjamini_hochberg",
    "bonferroni",
    "min_permutations_for_fdr",
    "min_tied_for_fdr",
    "smallest_pseudo_p",
]

Correction = Literal["fdr", "bonferroni"] | None
CORRECTIONS = ("fdr", "bonferroni", None)


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ParameterError(f"alpha must be a number strictly between 0 and 1; got {alpha!r}")
    return float(alpha)


def _as_p(p: object) -> np.ndarray:
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1:
        raise ParameterError(f"p-values must be a 1-d array; got shape {arr.shape}")
    finite = arr[~np.isnan(arr)]
    if ((finite < 0) | (finite > 1)).any():
        raise ParameterError("p-values must lie in [0, 1]")
    return arr


def benjamini_hochberg(p: object, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini–Hochberg step-up procedure.

    NaN entries (areas not tested, e.g. without neighbours) are ignored: they do not count
    towards the number of tests, are never rejected and keep a NaN adjusted p-value.

    Parameters
    ----------
    p
        p-values.
    alpha
        False discovery rate to control.

    Returns
    -------
    reject : numpy.ndarray
        Boolean array, True where the null is rejected.
    p_adjusted : numpy.ndarray
        BH-adjusted p-values ``min_{j >= i} n p_(j) / j``, capped at 1.
    """
    alpha = _check_alpha(alpha)
    arr = _as_p(p)
    tested = ~np.isnan(arr)
    adjusted = np.full(arr.shape, np.nan)
    reject = np.zeros(arr.shape, dtype=bool)
    pv = arr[tested]
    m = pv.size
    if m == 0:
        return reject, adjusted
    order = np.argsort(pv, kind="stable")
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adj = np.empty(m)
    adj[order] = np.minimum(ranked, 1.0)
    adjusted[tested] = adj
    # step-up: reject the k smallest, k the largest rank with p_(k) <= k alpha / m
    # (k / m) * alpha exactly as statsmodels computes it, so boundary cases agree
    below = pv[order] <= (np.arange(1, m + 1) / m) * alpha
    k = int(np.flatnonzero(below)[-1]) + 1 if below.any() else 0
    rej = np.zeros(m, dtype=bool)
    rej[order[:k]] = True
    reject[tested] = rej
    return reject, adjusted


def bonferroni(p: object, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Bonferroni correction (NaN entries are not tests, as in :func:`benjamini_hochberg`).

    Parameters
    ----------
    p
        p-values.
    alpha
        Family-wise error rate to control.

    Returns
    -------
    reject : numpy.ndarray
        Boolean array, True where ``p <= alpha / n``.
    p_adjusted : numpy.ndarray
        ``min(1, n p)``.
    """
    alpha = _check_alpha(alpha)
    arr = _as_p(p)
    m = int((~np.isnan(arr)).sum())
    adjusted = np.minimum(arr * m, 1.0)
    with np.errstate(invalid="ignore"):
        reject = np.where(np.isnan(arr), False, arr <= alpha / max(m, 1))
    return reject.astype(bool), adjusted


def adjust(
    p: object, *, alpha: float = 0.05, correction: Correction = "fdr"
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the chosen correction; ``None`` compares each p-value with ``alpha`` as it is.

    Parameters
    ----------
    p
        p-values (NaN = not tested).
    alpha
        Error rate.
    correction
        ``"fdr"`` (Benjamini–Hochberg), ``"bonferroni"`` or None.

    Returns
    -------
    reject : numpy.ndarray
        Boolean array of rejections.
    p_adjusted : numpy.ndarray
        Adjusted p-values (the p-values themselves for ``None``).
    """
    if correction == "fdr":
        return benjamini_hochberg(p, alpha=alpha)
    if correction == "bonferroni":
        return bonferroni(p, alpha=alpha)
    if correction is None:
        alpha = _check_alpha(alpha)
        arr = _as_p(p)
        with np.errstate(invalid="ignore"):
            reject = np.where(np.isnan(arr), False, arr <= alpha)
        return reject.astype(bool), arr.copy()
    raise ParameterError(f"correction must be 'fdr', 'bonferroni' or None; got {correction!r}")


def min_tied_for_fdr(
    n_tests: int, alpha: float, permutations: int, *, two_sided: bool = False
) -> int:
    """Fewest areas that must share the smallest p-value for BH to flag any with ``P`` permutations.

    BH flags the ``k`` smallest p-values when ``p_(k) <= k alpha / n``; with every one of
    them at the minimum ``p_min`` that needs ``k >= n p_min / alpha``.

    Parameters
    ----------
    n_tests
        Number of areas tested.
    alpha
        The FDR level.
    permutations
        Number of permutations.
    two_sided
        True for two-sided p-values.
    """
    p_min = Fraction(2 if two_sided else 1, permutations + 1)
    return max(1, math.ceil(Fraction(n_tests) * p_min / Fraction(str(_check_alpha(alpha)))))


def smallest_pseudo_p(permutations: int, *, two_sided: bool = False) -> float:
    """Return the smallest pseudo p-value ``P`` permutations can give.

    Parameters
    ----------
    permutations
        Number of permutations.
    two_sided
        True for the two-sided p-value (twice the one-sided minimum).
    """
    return (2.0 if two_sided else 1.0) / (permutations + 1)


def min_permutations_for_fdr(n_tests: int, alpha: float = 0.05, *, two_sided: bool = False) -> int:
    """Smallest number of permutations with which BH (or Bonferroni) can flag a single area.

    BH's strictest threshold, the one a lone significant area must pass, is ``alpha / n``
    (Bonferroni uses it for every area). A permutation p-value is at least ``1 / (P + 1)``,
    so that threshold is attainable only if ``1 / (P + 1) <= alpha / n``, i.e.
    ``P >= n / alpha - 1`` (``2 n / alpha - 1`` for two-sided p-values). When ``n / alpha``
    is a whole number that bound is an exact tie, which floating-point BH implementations
    (statsmodels, ours) may resolve either way, so the value returned is the smallest ``P``
    with ``1 / (P + 1) < alpha / n`` strictly: ``floor(n / alpha)`` (e.g. 8800 for
    ``n=440, alpha=0.05``; 8799 would tie). Computed in exact rational arithmetic.

    Parameters
    ----------
    n_tests
        Number of areas tested.
    alpha
        The FDR (or family-wise) level.
    two_sided
        True if the two-sided p-value will be corrected.

    Returns
    -------
    int
        The minimum number of permutations (at least 1).
    """
    alpha = _check_alpha(alpha)
    if isinstance(n_tests, bool) or not isinstance(n_tests, int | np.integer) or n_tests < 1:
        raise ParameterError(f"n_tests must be a whole number >= 1; got {n_tests!r}")
    a = Fraction(str(alpha))
    return max(1, math.floor(Fraction(int(n_tests) * (2 if two_sided else 1)) / a))
