"""Service locations (GP practices, hospitals, ...) as points in EPSG:27700, with a report.

Two readers share one locating step:

* :func:`read_gp_practices` reads the NHS ODS ``epraccur`` layout (optionally geocoded with
  ``easting``/``northing``/``lsoa11cd`` columns); an active GP practice is ``status_code == "A"``
  and ``prescribing_setting == 4``.
* :func:`read_facilities` reads any CSV or frame with a name and either ``lon``/``lat``,
  ``easting``/``northing`` or a postcode (looked up in OS Code-Point Open, see
  `healthgap.data.access_inputs.read_postcodes`).

A row is located from its own coordinates when it has them, else from its postcode. Nothing is
dropped silently: every input row is either in ``FacilityRead.facilities`` or in
``FacilityRead.report`` with a reason (see :data:`REASONS`), so
``len(input) == len(facilities) + len(report)``.

The England check uses, in order, what is available for the row: the ``lsoa11cd`` column of a
geocoded ODS file (``E01`` = England), the country of the postcode in Code-Point Open
(``E92000001``), or the ``england`` polygon if one is given. A row none of these can decide is
kept (``country_checked`` is False); coordinates are always checked to lie in Great Britain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.data.access_inputs import normalise_postcode, read_facility_table, read_postcodes
from healthgap.geo import BNG
from pyproj import Transformer
from shapely import points

from healthgap.errors import CRSError, InputError, MissingColumnError, ParameterError

ENGLAND_CODE = "E92000001"

REASONS = {
    "inactive": "status is not active",
    "not_gp_practice": "prescribing setting is not a GP practice (4)",
    "no_coordinates": "no coordinates and no postcode to look up",
    "postcode_not_found": "postcode not in the postcode lookup (or the lookup has no position)",
    "coordinates_out_of_range": "coordinates outside Great Britain",
    "outside_england": "located outside England",
    "invalid_supply": "supply missing, not a number or negative",
    "duplicate_code": "code already used by an earlier row",
}
"""Reasons a row can be reported instead of used."""

FACILITY_COLUMNS = ["code", "name", "kind", "supply", "located_by", "country_checked", "geometry"]

# Great Britain in EPSG:27700 (with a margin) and in lon/lat
_GB_BNG = (-10_000.0, -10_000.0, 700_000.0, 1_250_000.0)
_GB_LONLAT = (-9.0, 49.0, 2.5, 61.5)


@dataclass(frozen=True)
class FacilityRead:
    """The facilities that could be used, and one report row per input row that could not.

    Attributes
    ----------
    facilities
        GeoDataFrame (EPSG:27700) with :data:`FACILITY_COLUMNS`; ``row`` index = position of
        the row in the input.
    report
        DataFrame with ``row, code, name, reason, detail`` (reasons from :data:`REASONS`).
    """

    facilities: gpd.GeoDataFrame
    report: pd.DataFrame

    @property
    def n_input(self) -> int:
        """Rows read from the input."""
        return len(self.facilities) + len(self.report)


def _require(frame: pd.DataFrame, columns: Sequence[str], label: str) -> None:
    """Raise MissingColumnError naming the missing columns and those found."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumnError(
            f"{label}: missing column(s) {missing}; found {list(frame.columns)}"
        )


def _numbers(frame: pd.DataFrame, column: str | None) -> pd.Series:
    """Return ``column`` as floats (NaN where absent or not numeric)."""
    if column is None or column not in frame:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _locate(
    frame: pd.DataFrame,
    *,
    label: str,
    kind: str,
    codes: pd.Series,
    names: pd.Series,
    supply: str | None,
    lon: str | None,
    lat: str | None,
    easting: str | None,
    northing: str | None,
    postcode: str | None,
    postcodes: pd.DataFrame | None,
    england: Any,
    lsoa: str | None,
    skip: pd.Series,
) -> FacilityRead:
    """Locate the rows not already in ``skip`` (row -> reason) and build the result."""
    n = len(frame)
    reason = pd.Series(pd.NA, index=frame.index, dtype="string")
    detail = pd.Series("", index=frame.index, dtype="string")
    reason[skip.index] = skip.values

    x = _numbers(frame, easting)
    y = _numbers(frame, northing)
    located_by = pd.Series(pd.NA, index=frame.index, dtype="string")
    has_xy = x.notna() & y.notna()
    located_by[has_xy] = "easting_northing"

    lo, la = _numbers(frame, lon), _numbers(frame, lat)
    use_ll = ~has_xy & lo.notna() & la.notna()
    if use_ll.any():
        w, s, e, nn = _GB_LONLAT
        bad_ll = use_ll & ~(lo.between(w, e) & la.between(s, nn))
        reason[bad_ll & reason.isna()] = "coordinates_out_of_range"
        detail[bad_ll] = [f"lon={a}, lat={b}" for a, b in zip(lo[bad_ll], la[bad_ll], strict=True)]
        good = use_ll & ~bad_ll
        tr = Transformer.from_crs("EPSG:4326", BNG, always_xy=True)
        gx, gy = tr.transform(lo[good].to_numpy(), la[good].to_numpy())
        x[good], y[good] = gx, gy
        located_by[good] = "lon_lat"

    country = pd.Series(pd.NA, index=frame.index, dtype="string")
    pcs = normalise_postcode(frame[postcode]) if postcode and postcode in frame else None
    if pcs is not None and postcodes is not None:
        pos = postcodes.index.get_indexer(pcs.fillna("").astype(object))
        found = pd.Series(pos >= 0, index=frame.index)
        country[found] = postcodes["country"].to_numpy()[pos[found.to_numpy()]]
        need = located_by.isna() & reason.isna()
        by_pc = need & found
        take = pos[by_pc.to_numpy()]
        x[by_pc] = postcodes["easting"].to_numpy(dtype=float)[take]
        y[by_pc] = postcodes["northing"].to_numpy(dtype=float)[take]
        located_by[by_pc] = "postcode"
        missing_pc = need & ~found & pcs.notna()
        reason[missing_pc] = "postcode_not_found"
        detail[missing_pc] = frame.loc[missing_pc, postcode].astype("string")

    no_xy = located_by.isna() & reason.isna()
    reason[no_xy] = "no_coordinates"

    w, s, e, nn = _GB_BNG
    out_gb = located_by.notna() & reason.isna() & ~(x.between(w, e) & y.between(s, nn))
    reason[out_gb] = "coordinates_out_of_range"
    detail[out_gb] = [f"x={a}, y={b}" for a, b in zip(x[out_gb], y[out_gb], strict=True)]

    # England: LSOA code first, then postcode country, then polygon
    checked = pd.Series(False, index=frame.index)
    if lsoa and lsoa in frame:
        code = frame[lsoa].astype("string")
        known = code.notna() & code.str.len().gt(0)
        bad = known & ~code.str.startswith("E01") & reason.isna()
        reason[bad] = "outside_england"
        detail[bad] = "lsoa11cd " + code[bad]
        checked |= known
    cc = country.notna() & ~checked
    bad = cc & country.ne(ENGLAND_CODE) & reason.isna()
    reason[bad] = "outside_england"
    detail[bad] = "postcode country " + country[bad]
    checked |= cc
    if england is not None:
        poly = _england_geometry(england)
        todo = ~checked & reason.isna()
        if todo.any():
            inside = np.asarray(poly.covers(points(x[todo].to_numpy(), y[todo].to_numpy())))
            bad = x[todo].index[~inside]
            reason[bad] = "outside_england"
            detail[bad] = "outside the england polygon"
            checked[todo] = True

    sup = pd.Series(1.0, index=frame.index)
    if supply is not None:
        sup = _numbers(frame, supply)
        bad = reason.isna() & (sup.isna() | (sup < 0))
        reason[bad] = "invalid_supply"
        detail[bad] = frame.loc[bad, supply].astype("string").fillna("<missing>")

    keep = reason.isna()
    dup = pd.Series(False, index=frame.index)
    seen: set[Any] = set()
    for i in frame.index[keep]:  # a code repeats only against rows that are themselves kept
        if codes[i] in seen:
            dup[i] = True
        seen.add(codes[i])
    reason[dup] = "duplicate_code"
    detail[dup] = codes[dup].astype("string")
    keep = reason.isna()

    facilities = gpd.GeoDataFrame(
        {
            "code": codes[keep].astype("string"),
            "name": names[keep].astype("string"),
            "kind": pd.Series(kind, index=frame.index[keep], dtype="string"),
            "supply": sup[keep].astype(float),
            "located_by": located_by[keep],
            "country_checked": checked[keep].astype(bool),
        },
        geometry=points(x[keep].to_numpy(), y[keep].to_numpy()),
        crs=BNG,
    )
    facilities.index = pd.Index(frame.index[keep], name="row")
    report = pd.DataFrame(
        {
            "row": frame.index[~keep],
            "code": codes[~keep].astype("string").to_numpy(),
            "name": names[~keep].astype("string").to_numpy(),
            "reason": reason[~keep].to_numpy(),
            "detail": detail[~keep].to_numpy(),
        }
    )
    if len(facilities) + len(report) != n:  # pragma: no cover - guards the accounting itself
        raise InputError(f"{label}: {n} rows in but {len(facilities)} + {len(report)} out")
    return FacilityRead(facilities, report)


def _england_geometry(england: Any) -> Any:
    """Return one shapely geometry in EPSG:27700 from a frame, series or geometry."""
    if isinstance(england, gpd.GeoDataFrame | gpd.GeoSeries):
        if england.crs is None or not england.crs.equals(BNG):
            raise CRSError(f"england must be in {BNG}, got {england.crs}")
        return england.union_all()
    if hasattr(england, "geom_type"):
        return england
    raise ParameterError(
        f"england must be a GeoDataFrame/GeoSeries in {BNG} or a shapely geometry, got "
        f"{type(england).__name__}"
    )


def _postcode_frame(postcodes: str | Path | pd.DataFrame | None) -> pd.DataFrame | None:
    """Return the postcode lookup, reading it if a path was given."""
    if postcodes is None or isinstance(postcodes, pd.DataFrame):
        return postcodes
    return read_postcodes(postcodes)


def read_gp_practices(
    source: str | Path | pd.DataFrame,
    *,
    kind: str = "gp",
    supply: str | None = None,
    postcodes: str | Path | pd.DataFrame | None = None,
    england: Any = None,
) -> FacilityRead:
    """Read active GP practices from an NHS ODS ``epraccur`` file.

    Parameters
    ----------
    source
        The CSV (named columns: ``org_code, name, postcode, status_code, prescribing_setting``,
        and optionally ``easting, northing, lsoa11cd`` from geocoding) or a frame.
    kind
        Value of the ``kind`` column.
    supply
        Column holding the supply (e.g. a registered list size joined in); 1 per practice if None.
    postcodes
        Code-Point Open lookup (path or :func:`read_postcodes` frame) to locate practices without
        coordinates and to check the country.
    england
        Optional England polygon (EPSG:27700) for rows the LSOA code and postcode cannot decide.

    Returns
    -------
    FacilityRead
        Active practices, and the other rows with reasons ``inactive`` (status not ``A``),
        ``not_gp_practice`` (setting not 4), ``no_coordinates``, ``postcode_not_found``,
        ``outside_england``, ...
    """
    frame, label = read_facility_table(source)
    _require(frame, ["org_code", "name", "status_code", "prescribing_setting"], label)
    status = frame["status_code"].astype("string").str.strip()
    setting = pd.to_numeric(frame["prescribing_setting"], errors="coerce")
    skip = pd.Series(pd.NA, index=frame.index, dtype="string")
    skip[status.ne("A").fillna(True)] = "inactive"
    skip[skip.isna() & setting.ne(4).fillna(True)] = "not_gp_practice"
    skip = skip.dropna()
    return _locate(
        frame,
        label=label,
        kind=kind,
        codes=frame["org_code"].astype("string").str.strip(),
        names=frame["name"].astype("string"),
        supply=supply,
        lon="lon" if "lon" in frame else None,
        lat="lat" if "lat" in frame else None,
        easting="easting" if "easting" in frame else None,
        northing="northing" if "northing" in frame else None,
        postcode="postcode" if "postcode" in frame else None,
        postcodes=_postcode_frame(postcodes),
        england=england,
        lsoa="lsoa11cd" if "lsoa11cd" in frame else None,
        skip=skip,
    )


def read_facilities(
    source: str | Path | pd.DataFrame,
    *,
    kind: str,
    name: str = "name",
    code: str | None = None,
    supply: str | None = None,
    lon: str | None = "lon",
    lat: str | None = "lat",
    easting: str | None = "easting",
    northing: str | None = "northing",
    postcode: str | None = "postcode",
    postcodes: str | Path | pd.DataFrame | None = None,
    england: Any = None,
) -> FacilityRead:
    """Read facilities from a plain CSV or frame with coordinates or postcodes.

    Each row is located from ``easting``/``northing`` (EPSG:27700) if it has both, else from
    ``lon``/``lat`` (EPSG:4326), else from ``postcode`` through ``postcodes``. Column options that
    name a column absent from the file are ignored, so the defaults fit most files; at least one
    way of locating must exist.

    Parameters
    ----------
    source
        CSV path or frame.
    kind
        Facility kind, e.g. ``"hospital"``.
    name
        Column with the facility name (e.g. ``"hospital_name"``).
    code
        Column with a stable identifier; if None, codes are ``"<kind>:<row>"`` (row = 0-based
        position in the input), which are stable only for the same file.
    supply
        Column with the supply (staff, beds, list size); 1 per facility if None.
    lon, lat, easting, northing, postcode
        Coordinate and postcode column names.
    postcodes
        Code-Point Open lookup (path or :func:`read_postcodes` frame).
    england
        Optional England polygon (EPSG:27700) used when the postcode country is unknown.

    Returns
    -------
    FacilityRead
        Facilities and the report of rows not used.
    """
    frame, label = read_facility_table(source)
    _require(frame, [name] + ([code] if code else []) + ([supply] if supply else []), label)
    has = {c: (c is not None and c in frame) for c in (lon, lat, easting, northing, postcode)}
    ll = bool(lon and lat and has[lon] and has[lat])
    en = bool(easting and northing and has[easting] and has[northing])
    pc = bool(postcode and has[postcode])
    if not (ll or en or pc):
        raise MissingColumnError(
            f"{label}: no way to locate facilities: expected {lon!r}/{lat!r}, "
            f"{easting!r}/{northing!r} or {postcode!r}; found {list(frame.columns)}"
        )
    if pc and not (ll or en) and postcodes is None:
        raise ParameterError(f"{label}: only postcodes to locate by, so 'postcodes' is required")
    codes = (
        frame[code].astype("string").str.strip()
        if code
        else pd.Series([f"{kind}:{i}" for i in frame.index], index=frame.index, dtype="string")
    )
    return _locate(
        frame,
        label=label,
        kind=kind,
        codes=codes,
        names=frame[name].astype("string"),
        supply=supply,
        lon=lon if ll else None,
        lat=lat if ll else None,
        easting=easting if en else None,
        northing=northing if en else None,
        postcode=postcode if pc else None,
        postcodes=_postcode_frame(postcodes),
        england=england,
        lsoa=None,
        skip=pd.Series(dtype="string"),
    )


