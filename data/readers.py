"""Readers that turn the public files people download into validated frames.

Each reader names the file in every error, detects the code column in the spellings ONS and
others use, checks that codes are unique and well formed, and returns frames indexed by code.
Boundary readers repair invalid geometries with ``make_valid`` and say what they repaired.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
from healthgap.geo import BNG

from healthgap.errors import (
    CodeFormatError,
    CRSError,
    DuplicateCodeError,
    GeometryError,
    InputError,
    MissingColumnError,
    ParameterError,
    preview,
)

log = logging.getLogger(__name__)

#: Well-formed area codes by geography (ONS GSS codes).
CODE_PATTERNS: dict[str, re.Pattern[str]] = {
    "lsoa": re.compile(r"^[EW]01\d{6}$"),
    "msoa": re.compile(r"^[EW]02\d{6}$"),
    "lad": re.compile(r"^(E06|E07|E08|E09|W06)\d{6}$"),
    "sicb": re.compile(r"^E38\d{6}$"),
    "icb": re.compile(r"^E54\d{6}$"),
}

#: Code columns looked for in boundary files, by level, in order of preference.
CODE_COLUMNS: dict[str, tuple[str, ...]] = {
    "lsoa": ("lsoa11cd", "lsoa21cd", "lsoa11_code", "lsoa21_code", "lsoa_code", "lsoacd"),
    "msoa": ("msoa11cd", "msoa21cd", "msoa11_code", "msoa21_code", "msoa_code", "msoacd"),
}

#: The index name each level's frames carry (neutral: `healthgap.data.vintages.NEUTRAL_KEYS`).
INDEX_NAMES = {"lsoa": "lsoa_code", "msoa": "msoa_code", "lad": "place_code",
               "sicb": "subicb_code", "icb": "system_code"}

#: The name column each level's boundary frame carries.
NAME_COLUMNS = {"lsoa": "lsoa_name", "msoa": "msoa_name"}

#: Column names of the 2019 vintage's ONS files (LSOA/MSOA 2011, local authority 2022) -> the
#: neutral names the readers return.
FILE_2019_COLUMNS = {"lsoa11cd": "lsoa_code", "lsoa11nm": "lsoa_name", "msoa11cd": "msoa_code",
                     "msoa11nm": "msoa_name", "lad22cd": "place_code", "lad22nm": "place_name"}


@dataclass
class ReadReport:
    """What a reader did to its input besides reading it.

    Attributes
    ----------
    source
        The file read.
    rows_read
        Rows in the file (after any ``where`` or ``bbox`` filter).
    repaired
        Codes whose geometry was invalid and repaired with ``make_valid``.
    dropped
        Codes left out, with the reason, as ``{code: reason}``.
    notes
        Other things the user should know (the code column used, a CRS assumed, ...).
    """

    source: str
    rows_read: int = 0
    repaired: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable summary."""
        return {"source": self.source, "rows_read": self.rows_read,
                "repaired": self.repaired, "dropped": self.dropped, "notes": self.notes}


def read_table(path: str | Path, *, required: tuple[str, ...] = (),
               dtype: dict[str, object] | None = None,
               usecols: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV (optionally gzipped) as published: BOM, thousands separators, quotes.

    Parameters
    ----------
    path
        The file.
    required
        Columns that must be present; a missing one raises `MissingColumnError` naming the
        file, the column and the columns that were found.
    dtype
        Column types passed to pandas; code columns are always read as strings.
    usecols
        Read only these columns (they are checked like ``required``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    header = read_csv(path, nrows=0, encoding="utf-8-sig")
    columns = [c.strip() for c in header.columns]
    wanted = list(dict.fromkeys([*required, *(usecols or [])]))
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise MissingColumnError(
            f"{path}: missing column(s) {', '.join(missing)}; found: {', '.join(columns)}")
    types: dict[str, object] = {c: str for c in columns if _looks_like_code_column(c)}
    types.update(dtype or {})
    frame = read_csv(path, encoding="utf-8-sig", thousands=",", dtype=types,
                     usecols=lambda c: usecols is None or c.strip() in usecols,
                     skipinitialspace=True, low_memory=False)
    frame.columns = [c.strip() for c in frame.columns]
    return frame


#: What pandas raises on a file that is not a whole CSV (bad quoting, bad bytes, a gzip stream
#: cut short, an empty file).
_CSV_ERRORS = (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError,
               zlib.error, gzip.BadGzipFile)


def read_csv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Run `pandas.read_csv`, turning an unreadable or cut-short file into `InputError`.

    Parameters
    ----------
    path
        The file (named in the error).
    **kwargs
        Passed to `pandas.read_csv`.
    """
    try:
        return pd.read_csv(path, **kwargs)
    except _CSV_ERRORS as exc:
        what = "an empty file" if isinstance(exc, pd.errors.EmptyDataError) else \
            f"not a readable CSV file ({type(exc).__name__}: {exc})"
        raise InputError(f"{path}: {what}") from None


#: What the sources use for a suppressed or missing value (SOURCES.md: an empty cell, or an
#: ``NA`` written by R), as pandas reads them; anything else in a numeric column is an error.
SUPPRESSION_MARKERS = ("", "NA")


def to_numbers(values: pd.Series, *, source: str, column: str,
               codes: pd.Index | pd.Series) -> pd.Series:
    """Return ``values`` as floats; text that is not a number is an error, not a missing value.

    Only the documented suppression markers (`SUPPRESSION_MARKERS`: an empty cell or ``NA``,
    which the CSV reader has already turned into missing values) become missing.

    Parameters
    ----------
    values
        A column as read.
    source, column
        Named in the error.
    codes
        The area code of each row, named in the error.

    Raises
    ------
    InputError
        Naming the file, the column, how many rows hold text and the first codes and values.
    """
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        bad &= ~values.astype("string").str.strip().isin(SUPPRESSION_MARKERS).fillna(True)
    if bad.any():
        mask = bad.to_numpy()
        where = [f"{c} ({v!r})" for c, v in zip(pd.Index(codes)[mask], values[mask],
                                                 strict=True)]
        raise InputError(f"{source}: column {column!r} has text that is not a number in "
                         f"{int(mask.sum())} row(s): {preview(where, most=5)}; only an empty "
                         "cell or NA marks a suppressed value")
    return numbers.astype(float)


def _looks_like_code_column(name: str) -> bool:
    n = name.lower()
    return n.endswith(("cd", "_code", "_code_h")) or n in {"pcd", "org_code", "postcode"}


def check_codes(codes: pd.Series, *, level: str, source: str, column: str) -> None:
    """Raise if codes are missing, malformed for ``level`` or duplicated.

    Parameters
    ----------
    codes
        The codes as read.
    level
        One of ``lsoa, msoa, lad, sicb, icb``.
    source, column
        Named in the error message.
    """
    if level not in CODE_PATTERNS:
        raise ParameterError(f"level={level!r}: allowed {', '.join(CODE_PATTERNS)}")
    codes = codes.astype("string")
    blank = codes.isna() | (codes.str.strip() == "")
    if blank.any():
        raise CodeFormatError(f"{source}: column {column!r} has {int(blank.sum())} empty "
                              f"code(s) at row(s) {preview((np.flatnonzero(blank) + 1).tolist())}")
    bad = ~codes.str.match(CODE_PATTERNS[level].pattern)
    if bad.any():
        raise CodeFormatError(
            f"{source}: column {column!r} has {int(bad.sum())} code(s) that are not well-formed "
            f"{level.upper()} codes (expected {CODE_PATTERNS[level].pattern}): "
            f"{preview(codes[bad].unique())}")
    dup = codes[codes.duplicated()].unique()
    if len(dup):
        raise DuplicateCodeError(
            f"{source}: column {column!r} has {len(dup)} duplicated code(s): {preview(dup)}")


def detect_code_column(columns: list[str], *, level: str, source: str) -> str:
    """Return the column that holds ``level`` codes, matching case-insensitively.

    Raises `MissingColumnError` naming the candidates looked for and the columns found.
    """
    lower = {c.lower(): c for c in columns}
    for candidate in CODE_COLUMNS[level]:
        if candidate in lower:
            return lower[candidate]
    raise MissingColumnError(
        f"{source}: no {level.upper()} code column; looked for "
        f"{', '.join(c.upper() for c in CODE_COLUMNS[level])} (any case); found: "
        f"{', '.join(columns)}")


def read_boundaries(path: str | Path, *, level: str, codes: list[str] | None = None,
                    bbox: tuple[float, float, float, float] | None = None,
                    layer: str | None = None,
                    recode: pd.Series | None = None) -> tuple[gpd.GeoDataFrame, ReadReport]:
    """Read LSOA or MSOA boundaries from GeoJSON, GeoPackage or Shapefile into EPSG:27700.

    Parameters
    ----------
    path
        The boundary file, as downloaded from the ONS Open Geography Portal or elsewhere.
    level
        ``"lsoa"`` or ``"msoa"``.
    codes
        Read only these codes (filtered in the file driver, so large files read fast).
    bbox
        Read only features intersecting this box, given in EPSG:27700 metres.
    layer
        The layer of a multi-layer file (GeoPackage).
    recode
        A map from the file's codes to 2011 codes (for example LSOA 2021 → 2011, indexed by
        the 2021 code). Features whose code maps to several are dissolved into one; codes not in
        the map are dropped and reported.

    Returns
    -------
    tuple
        The frame indexed by ``lsoa_code`` / ``msoa_code`` with a name column and geometry in
        EPSG:27700, and a `ReadReport` of what was repaired or dropped.
    """
    if level not in CODE_COLUMNS:
        raise ParameterError(f"level={level!r}: allowed 'lsoa' or 'msoa'")
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise InputError(f"{source}: file not found")
    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputError(f"{source}: not a readable vector file ({exc})") from exc
    fields = list(info["fields"])
    code_col = detect_code_column(fields, level=level, source=source)
    report = ReadReport(source=source, notes=[f"code column {code_col!r}"])
    if info["crs"] is None:
        raise CRSError(f"{source}: the file has no CRS; set one (e.g. EPSG:27700 for British "
                       "National Grid or EPSG:4326 for longitude/latitude) and read it again")
    kwargs: dict[str, object] = {"layer": layer}
    if codes is not None:
        if not codes:
            raise ParameterError("codes: empty list; pass None to read every feature")
        quoted = ",".join("'" + str(c).replace("'", "''") + "'" for c in codes)
        kwargs["where"] = f"{code_col} IN ({quoted})"
    if bbox is not None:
        box = gpd.GeoSeries([shapely.box(*bbox)], crs=BNG).to_crs(info["crs"])
        kwargs["bbox"] = tuple(box.total_bounds)
    try:
        gdf = gpd.read_file(path, engine="pyogrio", **kwargs)
    except Exception as exc:  # pyogrio's DataSourceError and GDAL's errors of a damaged file
        raise InputError(f"{source}: not a readable vector file ({exc})") from None
    if gdf.empty and (bbox is not None or codes is not None):
        _check_file_extent(path, layer=layer, source=source)
        raise InputError(f"{source}: no {level.upper()} feature "
                         f"{'inside the box ' + _box(bbox) if bbox is not None else ''}"
                         f"{' with the codes asked for' if codes is not None else ''}; is it "
                         "the right file?")
    report.rows_read = len(gdf)
    index_name = INDEX_NAMES[level]
    gdf = gdf.rename(columns={code_col: index_name})
    gdf[index_name] = gdf[index_name].astype(str).str.strip()
    if recode is not None:
        gdf = _recode(gdf, recode, index_name=index_name, report=report)
    check_codes(gdf[index_name], level=level, source=source, column=code_col)
    name_col = _find_name_column(list(gdf.columns), level)
    out = gdf.set_index(index_name)
    out = out.rename(columns={name_col: NAME_COLUMNS[level]}) if name_col else out
    if gdf.crs is None:  # pragma: no cover - read_info checked above
        raise CRSError(f"{source}: the file has no CRS")
    out = _clean_geometries(out, source=source, report=report)
    _check_extent(out, source=source)
    if out.crs is not None and not out.crs.equals(BNG):
        out = out.to_crs(BNG)
    _check_extent(out, source=source)
    keep = [c for c in (NAME_COLUMNS[level],) if c in out.columns]
    return gpd.GeoDataFrame(out[keep], geometry=out.geometry, crs=BNG), report


#: Generous bounds of Great Britain in British National Grid metres.
_GB_BNG = (-120_000.0, -20_000.0, 800_000.0, 1_300_000.0)


def _box(bbox: tuple[float, float, float, float] | None) -> str:
    return "" if bbox is None else "({:.0f}, {:.0f}) – ({:.0f}, {:.0f}) EPSG:27700".format(*bbox)


def _check_file_extent(path: Path, *, layer: str | None, source: str) -> None:
    """Raise `CRSError` when the whole file's extent cannot be in the CRS it declares."""
    info = pyogrio.read_info(path, layer=layer, force_total_bounds=True)
    bounds = info.get("total_bounds")
    if info["crs"] is None or bounds is None:
        return
    _check_bounds(tuple(bounds), pyproj.CRS.from_user_input(info["crs"]), source=source)


def _check_extent(gdf: gpd.GeoDataFrame, *, source: str) -> None:
    """Raise `CRSError` when coordinates cannot be in the CRS the file declares."""
    if gdf.empty:
        return
    _check_bounds(tuple(gdf.total_bounds), gdf.crs, source=source)


def _check_bounds(bounds: tuple[float, ...], crs: pyproj.CRS, *, source: str) -> None:
    x0, y0, x1, y1 = bounds
    if crs.is_geographic and (x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90):
        raise CRSError(f"{source}: coordinates ({x0:.0f}, {y0:.0f}) – ({x1:.0f}, {y1:.0f}) "
                       f"cannot be longitude/latitude, but the file declares "
                       f"{crs.to_string()}; the declared CRS is wrong (British National Grid "
                       "metres would be EPSG:27700)")
    if crs.equals(BNG) and (x0 < _GB_BNG[0] or y0 < _GB_BNG[1] or x1 > _GB_BNG[2]
                            or y1 > _GB_BNG[3]):
        raise CRSError(f"{source}: features fall outside Great Britain in EPSG:27700 "
                       f"(bounds {x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f}); the declared CRS is "
                       "probably wrong")


def _find_name_column(columns: list[str], level: str) -> str | None:
    lower = {c.lower(): c for c in columns}
    for cand in (f"{level}11nm", f"{level}21nm", f"{level}_name", f"{level}11_name",
                 f"{level}21_name"):
        if cand in lower:
            return lower[cand]
    return None


def _recode(gdf: gpd.GeoDataFrame, recode: pd.Series, *, index_name: str,
            report: ReadReport) -> gpd.GeoDataFrame:
    mapped = gdf[index_name].map(recode)
    for code in gdf.loc[mapped.isna(), index_name]:
        report.dropped[str(code)] = "code not in the recode lookup"
    gdf = gdf.loc[mapped.notna()].copy()
    gdf[index_name] = mapped[mapped.notna()].astype(str)
    if gdf[index_name].duplicated().any():
        merged = gdf[index_name][gdf[index_name].duplicated()].unique()
        report.notes.append(f"{len(merged)} code(s) dissolved from several source features")
        gdf = gdf.dissolve(by=index_name, as_index=False)
    return gdf


def _clean_geometries(gdf: gpd.GeoDataFrame, *, source: str,
                      report: ReadReport) -> gpd.GeoDataFrame:
    geom = gdf.geometry
    empty = geom.isna() | geom.is_empty
    if empty.any():
        raise GeometryError(f"{source}: {int(empty.sum())} feature(s) with a missing or empty "
                            f"geometry: {preview(gdf.index[empty])}")
    invalid = ~geom.is_valid
    if invalid.any():
        reasons = shapely.is_valid_reason(geom[invalid].values)
        repaired = shapely.make_valid(geom[invalid].values)
        # keep only the polygonal part of what make_valid returns
        repaired = np.array([_polygonal(g) for g in repaired], dtype=object)
        bad = [code for code, g in zip(gdf.index[invalid], repaired, strict=True)
               if g is None or g.is_empty]
        if bad:
            raise GeometryError(f"{source}: invalid geometry that make_valid could not repair "
                                f"into a polygon: {preview(bad)}")
        gdf = gdf.copy()
        gdf.loc[invalid, gdf.geometry.name] = repaired
        for code, why in zip(gdf.index[invalid], reasons, strict=True):
            report.repaired.append(str(code))
            log.info("%s: repaired %s (%s)", source, code, why)
        report.notes.append(f"repaired {int(invalid.sum())} invalid geometr(y/ies) with "
                            "make_valid")
    return gdf


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    if geom is None:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return shapely.union_all(parts)


def read_lsoa_lookup(path: str | Path) -> pd.DataFrame:
    """Read the ONS LSOA 2011 → MSOA 2011 → local authority (2022) lookup.

    Returns a frame indexed by ``lsoa_code`` with ``lsoa_name, msoa_code, msoa_name,
    place_code, place_name`` (the file's ``lsoa11cd, ..., lad22nm``).
    """
    cols = tuple(FILE_2019_COLUMNS)
    frame = read_table(path, required=cols)[list(cols)]
    check_codes(frame["lsoa11cd"], level="lsoa", source=str(path), column="lsoa11cd")
    return frame.rename(columns=FILE_2019_COLUMNS).set_index("lsoa_code")


#: Column names of the ONS LSOA11 → SICBL22 → ICB22 → LAD22 lookup, and ours (the lookup's
#: own local authority is kept as ``lookup_place_*`` to cross-check the LSOA lookup's).
_ICB_LOOKUP_COLUMNS = {
    "lsoa11_code": "lsoa_code", "sicbl22_code": "subicb_code", "sicbl22_name": "subicb_name",
    "sicbl22_code_h": "subicb_nhs_code", "icb22_code": "system_code",
    "icb22_name": "system_name", "icb22_code_h": "system_nhs_code",
    "ltla22_code": "lookup_place_code", "ltla22_name": "lookup_place_name",
}


def read_icb_lookup(path: str | Path) -> pd.DataFrame:
    """Read the ONS LSOA 2011 → sub-ICB location → ICB (2022) lookup for England.

    Returns a frame indexed by ``lsoa_code`` with ``subicb_code, subicb_name,
    subicb_nhs_code, system_code, system_name, system_nhs_code, lookup_place_code,
    lookup_place_name`` (``nhs_code`` = the NHS short code, e.g. ``QNQ``).
    """
    frame = read_table(path, required=tuple(_ICB_LOOKUP_COLUMNS))
    frame = frame[list(_ICB_LOOKUP_COLUMNS)]
    check_codes(frame["lsoa11_code"], level="lsoa", source=str(path), column="lsoa11_code")
    for col, level in (("sicbl22_code", "sicb"), ("icb22_code", "icb")):
        bad = ~frame[col].astype(str).str.match(CODE_PATTERNS[level].pattern)
        if bad.any():
            raise CodeFormatError(f"{path}: column {col!r} has malformed code(s): "
                                  f"{preview(frame.loc[bad, col].unique())}")
    return frame.rename(columns=_ICB_LOOKUP_COLUMNS).set_index("lsoa_code")


#: IMD 2019 columns every build needs; the domain and sub-domain columns are kept as found.
IMD_REQUIRED = ("lsoa11cd", "imd_score", "imd_rank", "imd_decile")


def read_imd(path: str | Path) -> pd.DataFrame:
    """Read IMD 2019 for English LSOAs: score, rank, decile, domain and sub-domain ranks/deciles.

    Returns a frame indexed by ``lsoa_code`` (the file's ``lsoa11cd``) with every numeric
    column of the file, names as published (``imd_score``, ``income_rank``, ...).
    """
    frame = read_table(path, required=IMD_REQUIRED)
    check_codes(frame["lsoa11cd"], level="lsoa", source=str(path), column="lsoa11cd")
    frame = frame.set_index("lsoa11cd").rename_axis("lsoa_code")
    keep = [c for c in frame.columns
            if c.startswith(("imd_", "sub_")) or c.endswith(("_rank", "_decile", "_approx"))]
    out = pd.DataFrame({c: to_numbers(frame[c], source=str(path), column=c, codes=frame.index)
                        for c in keep}, index=frame.index)
    bad = out["imd_score"].isna()
    if bad.any():
        raise InputError(f"{path}: column 'imd_score' is missing or not numeric for "
                         f"{int(bad.sum())} LSOA(s): {preview(out.index[bad])}")
    return out


#: Life-expectancy column spellings: (our name, candidates in the file).
_LE_COLUMNS = {
    "le_male": ("le_birth_male_2015_19", "le_male", "male_le", "life_expectancy_male"),
    "le_female": ("le_birth_female_2015_19", "le_female", "female_le",
                  "life_expectancy_female"),
}


def read_life_expectancy(path: str | Path) -> pd.DataFrame:
    """Read MSOA life expectancy at birth in the OHID Local Health format.

    Suppressed values stay missing (they are never filled in); a ``<sex>_suppressed`` flag marks
    them. Confidence limits are read when the file gives them as ``<col>_lci`` / ``<col>_uci``
    (or ``_lower`` / ``_upper``) and named ``le_male_lci`` etc.

    Returns a frame indexed by ``msoa_code`` with ``msoa_name, le_male, le_female`` (years),
    ``le_male_suppressed, le_female_suppressed`` and any confidence limits found.
    """
    frame = read_table(path, required=("msoa11cd",))
    check_codes(frame["msoa11cd"], level="msoa", source=str(path), column="msoa11cd")
    out = pd.DataFrame(index=pd.Index(frame["msoa11cd"], name="msoa_code"))
    if "msoa11nm" in frame.columns:
        out["msoa_name"] = frame["msoa11nm"].to_numpy()
    lower = {c.lower(): c for c in frame.columns}
    found_any = False
    for ours, candidates in _LE_COLUMNS.items():
        col = next((lower[c] for c in candidates if c in lower), None)
        if col is None:
            continue
        found_any = True
        values = to_numbers(frame[col], source=str(path), column=col,
                            codes=frame["msoa11cd"]).to_numpy()
        out[ours] = values
        out[f"{ours}_suppressed"] = np.isnan(values)
        for suffix, alts in (("lci", ("_lci", "_lower", "_lower_ci")),
                             ("uci", ("_uci", "_upper", "_upper_ci"))):
            ci = next((lower[col.lower() + a] for a in alts if col.lower() + a in lower), None)
            if ci is not None:
                out[f"{ours}_{suffix}"] = to_numbers(frame[ci], source=str(path), column=ci,
                                                     codes=frame["msoa11cd"]).to_numpy()
    if not found_any:
        raise MissingColumnError(
            f"{path}: no life-expectancy column; looked for "
            f"{', '.join(c for cs in _LE_COLUMNS.values() for c in cs)}; found: "
            f"{', '.join(frame.columns[:12])}{' …' if len(frame.columns) > 12 else ''}")
    absent = [ours for ours in _LE_COLUMNS if ours not in out]
    if absent:
        raise MissingColumnError(
            f"{path}: no {' or '.join(absent)} column; looked for "
            f"{', '.join(c for a in absent for c in _LE_COLUMNS[a])}; found: "
            f"{', '.join(frame.columns[:12])}{' …' if len(frame.columns) > 12 else ''}")
    for ours in _LE_COLUMNS:
        if ours in out:
            v = out[ours]
            implausible = v.notna() & ((v < 40) | (v > 110))
            if implausible.any():
                raise InputError(f"{path}: {ours} outside 40-110 years for "
                                 f"{preview(out.index[implausible])}")
    return out


def read_population(path: str | Path) -> pd.Series:
    """Read LSOA population (ONS mid-year estimates, or the IoD2019 denominators).

    Returns a Series named ``population`` indexed by ``lsoa_code`` (the file's ``lsoa11cd``).
    """
    frame = read_table(path, required=("lsoa11cd",))
    col = next((c for c in frame.columns if c.startswith(("population", "pop_total",
                                                          "all_ages"))), None)
    if col is None:
        raise MissingColumnError(f"{path}: no population column (population*, pop_total*, "
                                 f"all_ages); found: {', '.join(frame.columns)}")
    check_codes(frame["lsoa11cd"], level="lsoa", source=str(path), column="lsoa11cd")
    values = to_numbers(frame[col], source=str(path), column=col, codes=frame["lsoa11cd"])
    bad = values.isna() | (values < 0)
    if bad.any():
        raise InputError(f"{path}: column {col!r} is missing, negative or not a number for "
                         f"{preview(frame.loc[bad, 'lsoa11cd'])}")
    return pd.Series(values.to_numpy(), index=pd.Index(frame["lsoa11cd"], name="lsoa_code"),
                     name="population")


def read_centroids(path: str | Path) -> pd.DataFrame:
    """Read population-weighted LSOA centres (easting/northing, EPSG:27700).

    The bundled file is a postcode-based proxy, not the ONS population-weighted centroids;
    the ``centroid_source`` column says which file was used.
    """
    frame = read_table(path, required=("lsoa11cd", "easting", "northing"))
    check_codes(frame["lsoa11cd"], level="lsoa", source=str(path), column="lsoa11cd")
    xy = {k: to_numbers(frame[c], source=str(path), column=c, codes=frame["lsoa11cd"])
          for k, c in (("pw_x", "easting"), ("pw_y", "northing"))}
    out = pd.DataFrame({k: v.to_numpy() for k, v in xy.items()},
                       index=pd.Index(frame["lsoa11cd"], name="lsoa_code"))
    out["centroid_source"] = f"postcode-weighted proxy ({Path(path).name})"
    return out


#: Local Health outcome columns (standardised mortality and emergency admission ratios,
#: England = 100): our name -> the file's heading, lower-cased with spaces and commas squeezed.
LOCAL_HEALTH_OUTCOMES: dict[str, str] = {
    "smr_all_causes": "deaths from all causes all ages",
    "smr_all_causes_u75": "deaths from all causes under 75 years",
    "smr_preventable_u75": "deaths from causes considered preventable under 75 years smr",
    "smr_cancer": "deaths from all cancer all ages",
    "smr_cancer_u75": "deaths from all cancer under 75 years",
    "smr_circulatory": "deaths from circulatory disease all ages",
    "smr_circulatory_u75": "deaths from circulatory disease under 75 years",
    "smr_chd": "deaths from coronary heart disease all ages",
    "smr_stroke": "deaths from stroke all ages",
    "smr_respiratory": "deaths from respiratory diseases all ages",
    "sar_emergency_all": "emergency hospital admissions for all causes",
    "sar_emergency_chd": "emergency hospital admissions for coronary heart disease",
    "sar_emergency_stroke": "emergency hospital admissions for stroke",
    "sar_emergency_mi": "emergency hospital admissions for myocardial infarction (heart attack)",
    "sar_emergency_copd": "emergency hospital admissions for chronic obstructive pulmonary "
                          "disease (copd)",
    "sar_emergency_hip_fracture_65": "emergency hospital admissions for hip fracture in 65+",
}


def _heading_key(name: str) -> str:
    return " ".join(str(name).replace(",", " ").lower().split())


def read_local_health_outcomes(path: str | Path) -> pd.DataFrame:
    """Read the MSOA standardised mortality and emergency admission ratios of Local Health.

    The OHID Local Health file that carries MSOA life expectancy also has SMRs and emergency
    admission ratios (England = 100) under long multi-line headings; they are renamed as in
    `LOCAL_HEALTH_OUTCOMES`. Empty cells (suppressed in the source) stay missing; text in a
    ratio column, or a negative ratio, is an error naming the file, column and MSOAs. Lower
    and upper 95 % limits are read when the file has them as ``<heading> lower/upper CI`` and
    named ``<ours>_lci`` / ``<ours>_uci`` (this copy has none).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``msoa_code`` (the file's ``msoa11cd``), one float column per outcome.
    """
    read_table(path, required=("msoa11cd",), usecols=["msoa11cd"])  # file and heading checks
    # every cell as text, pandas' default NA spellings off: "n/a" in a ratio is an error, and
    # only an empty cell (suppressed in the source) is missing
    frame = read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.columns = [c.strip() for c in frame.columns]
    check_codes(frame["msoa11cd"], level="msoa", source=str(path), column="msoa11cd")
    keys = {_heading_key(c): c for c in frame.columns}
    out = pd.DataFrame(index=pd.Index(frame["msoa11cd"], name="msoa_code"))
    for ours, heading in LOCAL_HEALTH_OUTCOMES.items():
        col = keys.get(heading)
        if col is None:
            continue
        out[ours] = _ratio_column(frame[col], path=path, column=col, codes=out.index)
        for suffix, tail in (("lci", " lower ci"), ("uci", " upper ci")):
            ci = keys.get(heading + tail)
            if ci is not None:
                out[f"{ours}_{suffix}"] = _ratio_column(frame[ci], path=path, column=ci,
                                                        codes=out.index)
    if out.empty or not len(out.columns):
        raise MissingColumnError(
            f"{path}: no Local Health SMR or admission-ratio column; looked for headings like "
            f"{LOCAL_HEALTH_OUTCOMES['smr_all_causes']!r}; found: "
            f"{', '.join(_heading_key(c) for c in frame.columns[:8])} …")
    return out


def _ratio_column(values: pd.Series, *, path: str | Path, column: str,
                  codes: pd.Index) -> np.ndarray:
    text = values.astype("string").str.strip().str.replace(",", "", regex=False)
    num = pd.to_numeric(text.replace("", pd.NA), errors="coerce")
    bad = (num.isna() & text.notna() & (text != "")).to_numpy() | (num < 0).fillna(False)
    if bad.any():
        raise InputError(f"{path}: column {_heading_key(column)!r} has text or a negative "
                         f"ratio for {preview(codes[np.asarray(bad)])}")
    return num.to_numpy(dtype=float, na_value=np.nan)




# --------------------------------------------------------------------------- neighbourhoods

#: Columns of NHS England's "Patients registered at a GP practice", LSOA file
#: (``gp-reg-pat-prac-lsoa-all.csv``); early releases spell the count "Number of Patients".
GP_REG_COLUMNS = ("PUBLICATION", "EXTRACT_DATE", "PRACTICE_CODE", "PRACTICE_NAME", "LSOA_CODE",
                  "SEX", "NUMBER_OF_PATIENTS")

#: Columns of NHS ODS's ePCN "PCN Core Partner Details" (``epcncorepartnerdetails.csv`` is
#: published without a header row; the ePCN.xlsx sheet of that name has one).
EPCN_COLUMNS = ("Partner Organisation Code", "Partner Name",
                "Practice Parent Sub ICB Location Code", "Practice Parent Sub ICB Location Name",
                "PCN Code", "PCN Name", "PCN Parent Sub ICB Location Code",
                "PCN Parent Sub ICB Location Name", "Practice to PCN Relationship Start Date",
                "Practice to PCN Relationship End Date",
                "Practice Sub ICB and PCN Sub ICB Match?")


def read_gp_registrations(path: str | Path) -> tuple[pd.DataFrame, ReadReport]:
    """Read registered patients by GP practice and LSOA (NHS England, quarterly).

    Only the ``SEX == "ALL"`` rows are used (the male and female rows would count patients
    twice). Rows whose ``LSOA_CODE`` is not an LSOA code (the file has placeholders for
    patients with no LSOA) are left out and counted in the report.

    Returns
    -------
    tuple
        A frame with ``practice_code``, ``practice_name``, ``lsoa_code``, ``patients`` and
        ``extract_date``, and a `ReadReport` (``dropped`` maps each non-LSOA code to its
        patients).
    """
    header: list[str] = []
    if Path(path).is_file():
        header = [c.strip() for c in read_csv(path, nrows=0, encoding="utf-8-sig").columns]
    count = next((c for c in header if c.upper().replace(" ", "_") == "NUMBER_OF_PATIENTS"),
                 "NUMBER_OF_PATIENTS")
    frame = read_table(path, required=("PRACTICE_CODE", "LSOA_CODE", "SEX", count))
    report = ReadReport(source=str(path), rows_read=len(frame))
    frame = frame[frame["SEX"].astype(str).str.strip().str.upper() == "ALL"]
    if frame.empty:
        raise InputError(f"{path}: no row with SEX == 'ALL' (the all-persons counts)")
    patients = pd.to_numeric(frame[count], errors="coerce")
    bad = patients.isna() | (patients < 0)
    if bad.any():
        raise InputError(f"{path}: column {count!r} is missing, negative or not a number on "
                         f"{int(bad.sum())} row(s) (practices "
                         f"{preview(frame.loc[bad, 'PRACTICE_CODE'].unique())})")
    lsoa = frame["LSOA_CODE"].astype(str).str.strip()
    ok = lsoa.str.match(CODE_PATTERNS["lsoa"].pattern)
    for code, n in patients[~ok].groupby(lsoa[~ok]).sum().items():
        report.dropped[str(code)] = f"not an LSOA code; {int(n)} patient(s)"
    out = pd.DataFrame({"practice_code": frame["PRACTICE_CODE"].astype(str).str.strip(),
                        "practice_name": frame.get("PRACTICE_NAME", pd.Series(dtype=str)),
                        "lsoa_code": lsoa, "patients": patients,
                        "extract_date": frame.get("EXTRACT_DATE", pd.Series(dtype=str))})[ok]
    dup = out.duplicated(["practice_code", "lsoa_code"])
    if dup.any():
        pairs = out.loc[dup, "practice_code"] + "/" + out.loc[dup, "lsoa_code"]
        raise DuplicateCodeError(f"{path}: {int(dup.sum())} (PRACTICE_CODE, LSOA_CODE) pair(s) "
                                 f"repeated for SEX == 'ALL': {preview(pairs)}")
    return out.reset_index(drop=True), report


def read_epcn(path: str | Path) -> pd.DataFrame:
    """Read the current practice-to-PCN membership from ePCN "PCN Core Partner Details" (CSV).

    Accepts the ODS CSV without a header row or the sheet saved as CSV with its header. Only
    memberships with no end date are current; a practice in two current PCNs is an error
    naming it.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``practice_code``: ``pcn_code``, ``pcn_name``, ``start_date``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() in (".xlsx", ".xls"):
        raise InputError(f"{path}: save the 'PCN Core Partner Details' sheet as CSV first "
                         "(or use epcncorepartnerdetails.csv from NHS ODS)")
    first = read_csv(path, nrows=1, header=None, dtype=str, encoding="utf-8-sig")
    has_header = str(first.iloc[0, 0]).strip() == EPCN_COLUMNS[0]
    frame = read_csv(path, header=0 if has_header else None, dtype=str,
                        encoding="utf-8-sig", keep_default_na=False)
    if not has_header:
        if frame.shape[1] < len(EPCN_COLUMNS) - 1:
            raise MissingColumnError(f"{path}: {frame.shape[1]} column(s) without a header; "
                                     f"ePCN core partner details has {len(EPCN_COLUMNS)}: "
                                     f"{', '.join(EPCN_COLUMNS)}")
        frame.columns = list(EPCN_COLUMNS[:frame.shape[1]])
    frame.columns = [str(c).strip() for c in frame.columns]
    need = ["Partner Organisation Code", "PCN Code", "PCN Name",
            "Practice to PCN Relationship End Date"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"{path}: missing column(s) {', '.join(missing)}; found: "
                                 f"{', '.join(frame.columns)}")
    current = frame[frame["Practice to PCN Relationship End Date"].str.strip() == ""]
    code = current["Partner Organisation Code"].str.strip()
    dup = code[code.duplicated()].unique()
    if len(dup):
        raise DuplicateCodeError(f"{path}: {len(dup)} practice(s) in more than one current "
                                 f"PCN: {preview(dup)}")
    start = current.get("Practice to PCN Relationship Start Date",
                        pd.Series("", index=current.index))
    return pd.DataFrame({"pcn_code": current["PCN Code"].str.strip().to_numpy(),
                         "pcn_name": current["PCN Name"].str.strip().to_numpy(),
                         "start_date": start.str.strip().to_numpy()},
                        index=pd.Index(code.to_numpy(), name="practice_code"))


def read_neighbourhood_lookup(path: str | Path) -> pd.DataFrame:
    """Read a neighbourhood lookup (``lsoa_code,nbhd_cd,nbhd_nm``) as written, unvalidated.

    The LSOA column may be spelt ``lsoa_code`` or as a published build names it (``lsoa11cd``,
    ``lsoa21cd``); it is returned as ``lsoa_code``. The rows are returned as they are
    (duplicates and bad codes included) so that `geo.neighbourhoods.validate_lookup` can report
    every problem at once.
    """
    header: list[str] = []
    if Path(path).is_file():
        header = [c.strip() for c in read_csv(path, nrows=0, encoding="utf-8-sig").columns]
    lsoa = next((c for c in CODE_COLUMNS["lsoa"] if c in header), "lsoa_code")
    frame = read_table(path, required=(lsoa, "nbhd_cd"),
                       dtype={"nbhd_cd": str, "nbhd_nm": str}).rename(columns={lsoa: "lsoa_code"})
    frame.attrs["source"] = str(path)
    return frame


def read_ward_names(ward_path: str | Path, lsoa_codes: list[str], *,
                    bridge_path: str | Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Return the electoral ward of each LSOA of a build, by the build's own LSOA codes.

    The ward lookup is keyed by 2021 LSOAs. Codes found in it directly (a build on 2021 LSOAs,
    or a 2011 LSOA unchanged in 2021) take their ward; other 2011 codes go through the
    2011 → 2021 lookup and take the ward of most of their 2021 LSOAs (ties: the lowest ward
    code), so the join works for either vintage.

    Parameters
    ----------
    ward_path
        ``geography/lsoa21_ward24_ltla24_lookup_ew.csv`` (``lsoa21_code, ward24_code,
        ward24_name``).
    lsoa_codes
        The build's LSOA codes.
    bridge_path
        ``geography/lsoa11_lsoa21_ltla22_lookup_ew.csv``, or None for 2021 codes only.

    Returns
    -------
    tuple
        A frame indexed by LSOA code with ``ward_cd`` and ``ward_nm``, and the codes that
        found no ward (reported, not dropped silently).
    """
    wards = read_table(ward_path, required=("lsoa21_code", "ward24_code", "ward24_name"))
    wards = wards.drop_duplicates("lsoa21_code").set_index("lsoa21_code")
    codes = pd.Index(pd.unique(pd.Series(lsoa_codes, dtype=str)), name="lsoa_code")
    direct = codes[codes.isin(wards.index)]
    out = pd.DataFrame({"ward_cd": wards.loc[direct, "ward24_code"].to_numpy(),
                        "ward_nm": wards.loc[direct, "ward24_name"].to_numpy()},
                       index=pd.Index(direct, name="lsoa_code"))
    rest = codes[~codes.isin(wards.index)]
    if len(rest) and bridge_path is not None:
        bridge = read_table(bridge_path, required=("lsoa11_code", "lsoa21_code"))
        b = bridge[bridge["lsoa11_code"].isin(rest)]
        b = b.join(wards[["ward24_code", "ward24_name"]], on="lsoa21_code", how="inner")
        counts = (b.groupby(["lsoa11_code", "ward24_code", "ward24_name"]).size()
                  .rename("n").reset_index()
                  .sort_values(["lsoa11_code", "n", "ward24_code"],
                               ascending=[True, False, True], kind="mergesort")
                  .drop_duplicates("lsoa11_code").set_index("lsoa11_code"))
        out = pd.concat([out, pd.DataFrame(
            {"ward_cd": counts["ward24_code"], "ward_nm": counts["ward24_name"]},
            index=pd.Index(counts.index, name="lsoa_code"))])
    unmatched = sorted(set(codes) - set(out.index))
    return out, unmatched


def read_area_postcodes(path: str | Path, lsoa_codes: list[str]) -> pd.DataFrame:
    """Return the live postcodes of some LSOAs: ``pcds`` (e.g. ``LE15 6AA``) and ``lsoa_code``.

    Parameters
    ----------
    path
        ``postcodes/postcode_oa11_lsoa11_msoa11_lad22_lookup_ew_live_may22.csv.gz``.
    lsoa_codes
        The LSOAs (2011 codes) whose postcodes are wanted.
    """
    frame = read_table(path, usecols=["pcds", "lsoa11cd"])
    frame = frame[frame["lsoa11cd"].isin(set(lsoa_codes)) & frame["pcds"].notna()]
    frame = frame.rename(columns={"lsoa11cd": "lsoa_code"})
    frame = frame.assign(pcds=frame["pcds"].str.upper().str.strip())
    return frame.sort_values("pcds", kind="mergesort").reset_index(drop=True)


def read_footprint_file(path: str | Path) -> pd.DataFrame:
    """Read a footprint CSV as text: header names stripped, empty cells missing.

    Its columns and codes are checked against the hierarchy by
    `healthgap.geo.footprint.validate_footprint`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--footprint {path}: file not found")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw.replace("", pd.NA)
