"""Verdicts in words, each from the test that supports it and with its rule stated.

A page, the headline or the API never words a comparison itself: it asks one of these
functions, which returns a `Verdict` (a short word, a sentence a board paper can quote, and the
rule that decided it). When the test cannot decide, the verdict says so and shows no direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Verdict", "cliffs_verdict", "decay_verdict", "steepness_verdict"]


@dataclass(frozen=True)
class Verdict:
    """A verdict: ``word`` (for a table), ``sentence`` (for a page) and the ``rule`` behind it."""

    word: str
    sentence: str
    rule: str


def _fmt(v: float, d: int = 1) -> str:
    return f"{v:.{d}f}"


STEEPNESS_RULE = ("the 95% interval of the difference between the area's life-expectancy "
                  "gradient per 10 IMD points and England's over the area's own IMD range lies "
                  "wholly above zero (steeper) or below it (less steep); otherwise similar")


def steepness_verdict(difference: float, lo: float, hi: float, *, sex: str = "") -> Verdict:
    """Whether life expectancy falls more or less steeply with deprivation than in England.

    Parameters
    ----------
    difference, lo, hi
        The area's fall in life expectancy per 10 IMD points minus England's over the area's
        own IMD range, and its 95% interval (years per 10 IMD points).
    sex
        ``male`` or ``female`` (for the sentence), or empty.
    """
    who = f"{sex} " if sex else ""
    if not all(math.isfinite(v) for v in (difference, lo, hi)):
        return Verdict("no verdict", f"No comparison of the {who}life-expectancy gradient with "
                       "England can be made (no interval).", STEEPNESS_RULE)
    span = f"{_fmt(difference, 2)} years per 10 IMD points, 95% interval {_fmt(lo, 2)} to " \
           f"{_fmt(hi, 2)}"
    if lo > 0:
        return Verdict("steeper", f"Over its own range of deprivation, {who}life expectancy "
                       f"falls more steeply with deprivation than in England ({span}).",
                       STEEPNESS_RULE)
    if hi < 0:
        return Verdict("less steep", f"Over its own range of deprivation, {who}life expectancy "
                       f"falls less steeply with deprivation than in England ({span}).",
                       STEEPNESS_RULE)
    return Verdict("similar", f"Over its own range of deprivation, {who}life expectancy falls "
                   f"with deprivation about as steeply as in England: the difference "
                   f"({span}) is not clear either way.", STEEPNESS_RULE)


def cliffs_verdict(n_cliffs: int, n_borders: int, *, n_raw: int, alpha: float) -> Verdict:
    """How many borders are health cliffs, with the count chance alone would give.

    Parameters
    ----------
    n_cliffs
        Borders passing the Benjamini-Hochberg false discovery rate ``alpha`` across all the
        borders of the area.
    n_borders
        Borders tested.
    n_raw
        Borders with an unadjusted p-value below ``alpha``.
    alpha
        The false discovery rate (and the unadjusted level).
    """
    rule = (f"a border is a cliff when its p-value passes the Benjamini-Hochberg false "
            f"discovery rate of {alpha:.0%} across all {n_borders} borders of the area")
    expected = alpha * n_borders
    raw = (f"{n_raw} of {n_borders} borders have an unadjusted p below {alpha:g}, against "
           f"{_fmt(expected)} expected by chance alone")
    if n_cliffs == 0:
        return Verdict("no cliffs pass", f"No border passes the false discovery rate of "
                       f"{alpha:.0%}: no health cliffs can be named ({raw}).", rule)
    false = alpha * n_cliffs
    return Verdict(f"{n_cliffs} cliff{'s' if n_cliffs != 1 else ''}",
                   f"{n_cliffs} of {n_borders} borders pass the false discovery rate of "
                   f"{alpha:.0%} (of these, about {_fmt(false)} may be false by chance); "
                   f"{raw}.", rule)


def decay_verdict(slope_per_mile: float, lo: float, hi: float, p_value: float, *,
                  alpha: float = 0.05) -> Verdict:
    """Word what the all-pairs distance estimate says about "one year per mile".

    Parameters
    ----------
    slope_per_mile
        Mean absolute life-expectancy difference gained per mile of separation, over every
        pair within the band (years per mile).
    lo, hi
        Its 95% interval.
    p_value
        Permutation p-value (values shuffled over fixed locations).
    alpha
        Level of the test.
    """
    rule = (f"permutation test keeping the locations fixed, one-sided at {alpha:g}; the claim "
            "'one year per mile' holds only if 1 lies within the interval")
    if not all(math.isfinite(v) for v in (slope_per_mile, lo, hi, p_value)):
        return Verdict("no verdict", "The distance estimate could not be formed.", rule)
    span = (f"{_fmt(slope_per_mile, 2)} years per mile, 95% interval {_fmt(lo, 2)} to "
            f"{_fmt(hi, 2)}, permutation p = {p_value:.3g}")
    if p_value >= alpha:
        claim = (": the data rule out one year of life expectancy per mile" if hi < 1.0
                 else "")
        return Verdict("no distance decay", f"Across every pair of MSOAs within the band, "
                       f"life-expectancy differences do not grow with distance beyond what "
                       f"shuffling the values over the same places gives ({span}){claim}.",
                       rule)
    claim = ("consistent with one year per mile" if lo <= 1.0 <= hi
             else "well below one year per mile" if hi < 1.0 else "above one year per mile")
    return Verdict("distance decay", f"Life-expectancy differences grow with distance more "
                   f"than shuffling gives ({span}): {claim}.", rule)
