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


def sii_verdict(difference: float | None, lo: float | None, hi: float | None) -> str:
    """Return what may be said of an area's slope index against England's, as a clause.

    No verdict in words is drawn from the SII difference, whatever its interval (issue #23):
    the SII on an area's own tenths grows with the range of deprivation the area spans, so a
    smaller SII is a range effect, not less inequality. The verdict comes from the gradient per
    10 IMD points over the area's own range (`healthgap.geo.verdicts.steepness_verdict`).

    Parameters
    ----------
    difference, lo, hi
        The area's SII minus England's (same method) and the 95% interval of the difference.
    """
    if not _finite(difference, lo, hi):
        return "no verdict is drawn (the difference has no interval)"
    return ("no verdict is drawn from the SII alone: it grows with the range of deprivation an "
            "area spans; the gradient over the area's own range decides")


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
