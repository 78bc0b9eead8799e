"""What identifies the features of a build's layers: shared by the build and the API.

The build writes ``features/<layer>.geojson`` (`services.features`) and the API serves the same
layers (`services.api.catalog`); both ask this module which tables are private and which column
(or columns) give each feature its stable id, so neither imports the other.
"""

from __future__ import annotations

import pandas as pd

#: Tables the API never serves as data (the manifest has its own, path-free endpoint).
PRIVATE_LAYERS = frozenset({"manifest"})
#: The code column of each layer whose features are areas or facilities.
CODE_COLUMNS = {"lsoa": "lsoa_code", "msoa": "msoa_code", "place": "place_code",
                "system": "system_code", "neighbourhood": "nbhd_cd", "facilities": "code"}
#: Layers whose features are identified by several columns together (joined with ``~``).
KEY_COLUMNS = {"cliffs": ("sex", "code_a", "code_b")}
#: Name of the index made from `KEY_COLUMNS` (written as the first property).
KEY_INDEX = "feature_id"


def code_column(name: str, frame: pd.DataFrame) -> str | None:
    """Return the column that identifies a layer's features (unique, non-null), if there is one."""
    candidates = [CODE_COLUMNS[name]] if name in CODE_COLUMNS else []
    candidates += [c for c in frame.columns[:1] if str(c).endswith("cd") or c in ("code", "id")]
    for col in candidates:
        if col in frame.columns:
            s = frame[col]
            if s.notna().all() and s.is_unique:
                return str(col)
    return None


def with_feature_ids(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` indexed by its stable feature id (a code, or a key of several columns).

    A layer with neither keeps its row positions (ids are then positions, which change when
    the build does).
    """
    code = code_column(name, frame)
    if code is not None:
        return frame.set_index(code)
    key = KEY_COLUMNS.get(name)
    if key and set(key) <= set(frame.columns) and frame[list(key)].notna().all().all():
        parts = frame[list(key)].astype(str)  # joined column-wise: "~".join of each row
        ids = parts[key[0]].str.cat([parts[c] for c in key[1:]], sep="~")
        if ids.is_unique:
            out = frame.copy()
            out.index = pd.Index(ids.to_numpy(), name=KEY_INDEX)
            return out
    return frame
