"""Population-weighted roll-ups of neighbourhood indicators to MSOA, place and system."""

from __future__ import annotations

import numpy as np
import pandas as pd
from healthgap.geo._validation import require_columns

from healthgap.errors import ParameterError


def weighted_rollup(frame: pd.DataFrame, columns: list[str], *, by: str,
                    weight: str = "population") -> pd.DataFrame:
    """Population-weighted mean of ``columns`` within each group of ``by``.

    Missing values are left out of the mean of their group (never treated as zero), and the
    share of the group's weight that had a value is reported as ``<column>_coverage``; a group
    with no value at all gets a missing mean.

    Parameters
    ----------
    frame
        One row per neighbourhood.
    columns
        Numeric indicator columns to roll up.
    by
        The column holding the parent code (``msoa11cd``, ``lad22cd``, ``icb22cd``...).
    weight
        The weight column (population); must be non-negative.

    Returns
    -------
    pandas.DataFrame
        Indexed by the parent code, with the summed weight, ``n_children`` and, per column, the
        weighted mean and its coverage.
    """
    require_columns(frame, [by, weight, *columns], name="roll-up input")
    w = pd.to_numeric(frame[weight], errors="coerce")
    if (w < 0).any() or w.isna().any():
        raise ParameterError(f"weight column {weight!r} must be non-negative and present for "
                             "every row")
    groups = frame[by]
    out = pd.DataFrame({weight: w.groupby(groups).sum(),
                        "n_children": groups.groupby(groups).size()})
    out.index.name = by
    for col in columns:
        v = pd.to_numeric(frame[col], errors="coerce")
        has = v.notna()
        wv = (w * v).where(has, 0.0).groupby(groups).sum()
        wsum = w.where(has, 0.0).groupby(groups).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[col] = np.where(wsum > 0, wv / wsum.replace(0, np.nan), np.nan)
        out[f"{col}_coverage"] = (wsum / out[weight].replace(0, np.nan)).fillna(0.0)
    return out


def weighted_centre(frame: pd.DataFrame, *, by: str, x: str = "pw_x", y: str = "pw_y",
                    weight: str = "population") -> pd.DataFrame:
    """Population-weighted centre of each group from its members' centres (EPSG:27700)."""
    require_columns(frame, [by, x, y, weight], name="centre input")
    w = frame[weight].astype(float)
    g = frame[by]
    tot = w.groupby(g).sum().replace(0, np.nan)
    return pd.DataFrame({x: (frame[x] * w).groupby(g).sum() / tot,
                         y: (frame[y] * w).groupby(g).sum() / tot})
