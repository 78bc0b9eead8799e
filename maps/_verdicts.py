"""Verdict sentences of the atlas front page, in one place.

A verdict in words ("wider than England's", "higher than England's") is drawn only from an
interval that supports it (CONVENTIONS 16); where there is none the sentence gives the numbers
and says no verdict is drawn. Issue #23 ("honest inference") supplies its own verdict
functions in geo/; swapping them in means changing only this module.
"""

from __future__ import annotations

import math

NO_INTERVAL_VERDICT = "the source gives no interval, so no verdict is drawn"


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(float(v)) for v in values)


def sii_verdict(difference: float | None, lo: float | None, hi: float | None,
                *, given: str | None = None) -> str:
    """Return the verdict on an area's slope index against England's, as a clause.

    Parameters
    ----------
    difference, lo, hi
        The area's SII minus England's (same method) and the 95% interval of the difference.
    given
        The build's own verdict word (``model_sii_vs_england.compared_with_england``:
        ``more unequal``, ``less unequal``, ``similar``), used when present.

    Returns
    -------
    str
        E.g. "wider than England's (the 95% interval of the difference lies above zero)".
    """
    if not _finite(difference, lo, hi):
        return "no verdict is drawn (the difference has no interval)"
    word = given
    if word not in ("more unequal", "less unequal", "similar"):
        word = ("more unequal" if float(lo) > 0 else  # type: ignore[arg-type]
                "less unequal" if float(hi) < 0 else "similar")  # type: ignore[arg-type]
    return {
        "more unequal": "wider than England's (the 95% interval of the difference lies above "
                        "zero)",
        "less unequal": "narrower than England's (the 95% interval of the difference lies "
                        "below zero)",
        "similar": "not distinguishable from England's (the 95% interval of the difference "
                   "includes zero)",
    }[word]


def level_verdict(value: float, england: float, interval: tuple[float, float] | None) -> str:
    """Return whether a value is significantly above or below England's, as a clause.

    Parameters
    ----------
    value
        The area's value.
    england
        England's value (taken as known exactly).
    interval
        The 95% interval of ``value``, or None when the source gives none.
    """
    if interval is None or not _finite(*interval):
        return NO_INTERVAL_VERDICT
    lo, hi = interval
    if lo > england:
        return "significantly above England's (the 95% interval lies wholly above it)"
    if hi < england:
        return "significantly below England's (the 95% interval lies wholly below it)"
    return "not significantly different from England's (the 95% interval includes it)"
