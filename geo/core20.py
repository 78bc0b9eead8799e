"""Core20: the residents of the 20% most deprived LSOAs in England (NHS England, Core20PLUS5).

An LSOA is Core20 when its **national** IMD 2019 decile is 1 or 2, never its decile within the
study area. This module is the one definition every layer, table, map and API field uses.
"""

from __future__ import annotations

import pandas as pd

from healthgap.errors import MissingColumnError

CORE20_DECILES = (1, 2)
"""National IMD 2019 deciles that make up Core20 (1 = most deprived tenth of England)."""


def core20_flag(lsoa: pd.DataFrame, *, decile_column: str = "imd_decile") -> pd.Series:
    """Return whether each LSOA is in England's 20% most deprived (nullable boolean).

    Parameters
    ----------
    lsoa
        LSOAs indexed by code with the national IMD decile.
    decile_column
        The column holding the **national** decile (1 = most deprived).

    Returns
    -------
    pandas.Series
        ``True``/``False`` per LSOA, ``<NA>`` where the decile is missing, named ``core20``.
    """
    if decile_column not in lsoa.columns:
        raise MissingColumnError(f"core20: column {decile_column!r} (national IMD decile) not "
                                 f"found; columns: {', '.join(map(str, lsoa.columns[:20]))}")
    dec = pd.to_numeric(lsoa[decile_column], errors="coerce")
    flag = dec.isin(CORE20_DECILES).astype("boolean")
    flag[dec.isna()] = pd.NA
    return flag.rename("core20")
