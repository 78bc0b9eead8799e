"""Readers of the access and environment inputs that geo/ works on as frames.

* OS Code-Point Open, the postcode lookup (whole, or a few postcodes streamed): indexed by the
  normalised postcode (upper case, no spaces) with ``easting, northing, country``; postcodes
  without a position (``pqi == 90`` or a zero easting) are left out, so they report as not
  found. `healthgap.geo.facilities` locates facilities with it.
* Facility tables (`read_facility_table`: a CSV, or a frame passed through).
* IoD2019's access and environment indicators per LSOA (`read_imd_indicators`).
* Gridded values in a CSV (`read_grid_csv`), for `healthgap.geo.raster.grid_csv_to_geotiff`.
* A what-if scenario file, YAML or JSON (`read_scenario_file`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from healthgap.data import readers

from healthgap.errors import DuplicateCodeError, InputError, MissingColumnError, preview


def normalise_postcode(values: pd.Series) -> pd.Series:
    """Return postcodes upper-cased without whitespace (``"le15 6nt"`` -> ``"LE156NT"``)."""
    return values.astype("string").str.upper().str.replace(r"\s+", "", regex=True)


def read_postcodes(path: str | Path, *, countries: Sequence[str] | None = None) -> pd.DataFrame:
    """Read OS Code-Point Open (``pcd, pqi, easting, northing, country``) into a lookup.

    Parameters
    ----------
    path
        CSV (optionally gzipped) with at least ``pcd, easting, northing``; ``pqi`` and
        ``country`` are used when present.
    countries
        Keep only these country codes (e.g. ``["E92000001"]``); all by default.

    Returns
    -------
    pandas.DataFrame
        Indexed by normalised postcode (see :func:`normalise_postcode`), columns
        ``easting, northing, country``. Postcodes without a position (``pqi == 90`` or a zero
        easting) are left out, so they report as ``postcode_not_found``.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"postcode lookup not found: {p}")
    head = pd.read_csv(p, nrows=0)
    need = {"pcd", "easting", "northing"}
    if not need <= set(head.columns):
        raise MissingColumnError(
            f"{p}: postcode lookup needs columns {sorted(need)}; found {list(head.columns)}"
        )
    cols = [c for c in ("pcd", "pqi", "easting", "northing", "country") if c in head.columns]
    frame = pd.read_csv(p, usecols=cols, dtype={"pcd": "string", "country": "string"})
    if countries is not None and "country" in frame:
        frame = frame[frame["country"].isin(list(countries))]
    return read_postcodes_frame(frame)


def lookup_postcodes(path: str | Path, postcodes: Sequence[str]) -> pd.DataFrame:
    """Look up a few postcodes in OS Code-Point Open without reading the whole file into memory.

    Streams the CSV (optionally gzipped) once and keeps only the rows asked for, so a handful of
    postcodes costs about a second where :func:`read_postcodes` builds a table of 1.7 million.
    The result has the same shape and rules as :func:`read_postcodes` (postcodes without a
    position, ``pqi == 90`` or a zero easting, are left out).

    Parameters
    ----------
    path
        The Code-Point Open CSV (``pcd, pqi, easting, northing, country``).
    postcodes
        Postcodes in any spacing or case.

    Returns
    -------
    pandas.DataFrame
        Indexed by normalised postcode: ``easting, northing, country``.
    """
    import csv
    import gzip

    p = Path(path)
    if not p.is_file():
        raise InputError(f"postcode lookup not found: {p}")
    wanted = set(normalise_postcode(pd.Series(list(postcodes), dtype="string")).dropna())
    opener = gzip.open if p.suffix == ".gz" else open
    rows: list[dict[str, str]] = []
    with opener(p, "rt", encoding="utf-8", newline="") as fh:  # type: ignore[operator]
        header = next(csv.reader([fh.readline()]))
        need = {"pcd", "easting", "northing"}
        if not need <= set(header):
            raise MissingColumnError(
                f"{p}: postcode lookup needs columns {sorted(need)}; found {header}"
            )
        for line in fh:
            key = line.split(",", 1)[0].strip('"').replace(" ", "").upper()
            if key in wanted:
                rows.append(dict(zip(header, next(csv.reader([line])), strict=False)))
    frame = pd.DataFrame(rows, columns=header)
    if frame.empty:
        return pd.DataFrame(columns=["easting", "northing", "country"],
                            index=pd.Index([], name="postcode", dtype=object))
    for col in ("easting", "northing", "pqi"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return read_postcodes_frame(frame)


def read_postcodes_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply :func:`read_postcodes`' rules to a frame already read (see there).

    An object index keeps its hash table between lookups (a string-dtype index rebuilds it).
    """
    positioned = (frame["easting"] > 0) & (frame["northing"] > 0)
    if "pqi" in frame:
        positioned &= frame["pqi"] != 90
    frame = frame[positioned]
    frame = frame.assign(key=normalise_postcode(frame["pcd"])).drop_duplicates("key")
    frame.index = pd.Index(frame.pop("key").to_numpy(dtype=object), dtype=object, name="postcode")
    if "country" not in frame:
        frame["country"] = pd.array([pd.NA] * len(frame), dtype="string")
    return frame[["easting", "northing", "country"]]


def read_facility_table(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Return the input as a frame with a clean RangeIndex, and a label for messages."""
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True), "frame"
    p = Path(source)
    if not p.is_file():
        raise InputError(f"facility file not found: {p}")
    return pd.read_csv(p, dtype=str, keep_default_na=True), str(p)


IMD_INDICATORS: dict[str, str] = {
    "road_distance_to_a_gp_surgery_indicator_km": "gp_road_distance_km",
    "road_distance_to_general_store_or_supermarket_indicator_km": "store_road_distance_km",
    "road_distance_to_a_primary_school_indicator_km": "primary_school_road_distance_km",
    "road_distance_to_a_post_office_indicator_km": "post_office_road_distance_km",
    "air_quality_indicator": "air_quality_ratio_sum",
    "nitrogen_dioxide_component_of_air_quality_indicator": "no2_ratio_to_limit",
    "particulates_component_of_air_quality_indicator": "pm_ratio_to_limit",
    "benzene_component_of_air_quality_indicator": "benzene_ratio_to_limit",
    "sulphur_dioxide_component_of_air_quality_indicator": "so2_ratio_to_limit",
    "housing_in_poor_condition_indicator": "housing_poor_condition_share",
    "houses_without_central_heating_indicator": "no_central_heating_share",
    "road_traffic_accidents_indicator": "road_traffic_accident_rate",
}
"""IoD2019 indicator column -> our column name (units in the name).

Road distances are km by road to the nearest service (MHCLG). Air quality: each component is
the modelled concentration divided by its limit value and the indicator is their sum (Defra
data, MHCLG method), so both are dimensionless. Housing indicators are shares of dwellings (0-1).
The road traffic accident indicator is MHCLG's rate of injury accidents to pedestrians and
cyclists relative to the resident and workplace population, as published (no unit is asserted
here).
"""


def read_imd_indicators(
    path: str | Path, *, codes: Sequence[str] | pd.Index | None = None
) -> pd.DataFrame:
    """Read IoD2019 access and environment indicators per LSOA as a layer.

    Parameters
    ----------
    path
        ``imd2019_lsoa11_england_indicators.csv``: the LSOA code first, then the columns of
        :data:`IMD_INDICATORS`.
    codes
        LSOA codes to keep; every code asked for must be present.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``lsoa_code``, columns renamed per :data:`IMD_INDICATORS`.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"IMD indicators file not found: {p}")
    head = pd.read_csv(p, nrows=0)
    if len(head.columns) == 0:
        raise MissingColumnError(f"{p}: no columns")
    key = str(head.columns[0])  # the file's LSOA code column comes first, as published
    need = [key, *IMD_INDICATORS]
    missing = [c for c in need if c not in head.columns]
    if missing:
        raise MissingColumnError(f"{p}: missing column(s) {missing}; found {list(head.columns)}")
    frame = pd.read_csv(p, usecols=need, dtype={key: str}).set_index(key)
    if not frame.index.is_unique:
        raise InputError(f"{p}: {key} repeats")
    frame = frame.rename(columns=IMD_INDICATORS)[list(IMD_INDICATORS.values())]
    if codes is not None:
        wanted = pd.Index(codes)
        absent = wanted.difference(frame.index)
        if len(absent):
            from healthgap.errors import UnknownAreaError, preview

            raise UnknownAreaError(f"{p}: {len(absent)} LSOA code(s) not found: {preview(absent)}")
        frame = frame.loc[wanted]
    frame.index.name = "lsoa_code"
    return frame


def read_grid_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV of gridded values (cell centres and values), as written; named if missing."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"grid CSV not found: {p}")
    return pd.read_csv(p)


def read_scenario_file(path: str | Path) -> dict[str, Any]:
    """Read a scenario from a YAML (``.yml``/``.yaml``) or JSON file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"scenario file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".json":
            spec = json.loads(text)
        elif p.suffix.lower() in (".yml", ".yaml"):
            import yaml

            spec = yaml.safe_load(text)
        else:
            raise InputError(f"{p}: a scenario file is .yaml, .yml or .json")
    except (json.JSONDecodeError, ValueError) as exc:
        raise InputError(f"{p}: not valid {p.suffix[1:].upper()}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError
        if type(exc).__module__.startswith("yaml"):
            raise InputError(f"{p}: not valid YAML: {exc}") from None
        raise
    if not isinstance(spec, dict):
        raise InputError(f"{p}: a scenario is a mapping of keys (name, close, open, move, "
                         f"supply), got {type(spec).__name__}")
    return spec


def read_practice_list_sizes(path: str | Path) -> pd.Series:
    """Read NHS Digital "Patients registered at a GP practice" (practice level) list sizes.

    Only rows for all sexes and ages (``SEX == ALL``, ``AGE == ALL`` where those columns exist)
    are read; a practice given twice is an error naming it.

    Returns
    -------
    pandas.Series
        ``list_size`` indexed by ``practice_code``.
    """
    frame = readers.read_table(path, required=("CODE", "NUMBER_OF_PATIENTS"), dtype={"CODE": str})
    for col in ("SEX", "AGE"):
        if col in frame.columns:
            frame = frame[frame[col].astype(str).str.strip().str.upper() == "ALL"]
    code = frame["CODE"].astype(str).str.strip()
    dup = code[code.duplicated()].unique()
    if len(dup):
        raise DuplicateCodeError(f"{path}: practice code(s) given more than once: "
                                 f"{preview(dup)}")
    size = readers.to_numbers(frame["NUMBER_OF_PATIENTS"], source=str(path),
                      column="NUMBER_OF_PATIENTS", codes=code)
    return pd.Series(size.to_numpy(), index=pd.Index(code.to_numpy(), name="practice_code"),
                     name="list_size")
