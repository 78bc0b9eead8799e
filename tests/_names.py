"""Make a frame read straight from a file use healthgap's neutral key column names.

Tests read the ONS input files (``lsoa11cd``, ``lad22cd``...) and build GeoPackages (each
vintage's published names) directly; `neutral` renames those columns and index levels to the
names healthgap's frames use (``lsoa_code``, ``place_code``...), so a test compares like with
like. Other columns (``LSOA11CD``, ``lsoa11_code``, ``icb22_code``...) are left as they are.
"""

from __future__ import annotations

from typing import TypeVar

import pandas as pd
from healthgap.data.readers import FILE_2019_COLUMNS
from healthgap.data.vintages import PUBLISHED_TO_NEUTRAL

#: every file or published key name -> its neutral name
NAMES = {**PUBLISHED_TO_NEUTRAL, **FILE_2019_COLUMNS}

F = TypeVar("F")


def neutral(frame: F) -> F:
    """Return ``frame`` with its key columns and index levels under their neutral names.

    Anything but a DataFrame or Series (a count of rows read...) is returned as it is.
    """
    if not isinstance(frame, (pd.DataFrame, pd.Series)):
        return frame
    out = frame.rename_axis(index=[NAMES.get(n, n) if n else n for n in frame.index.names])
    if isinstance(out, pd.DataFrame):
        out = out.rename(columns=lambda c: NAMES.get(c, c) if isinstance(c, str) else c)
    return out
