"""What the atlas pages search and label besides their own layers: wards, postcodes, practices.

Built once per atlas from the build's area and its data directory, and written by
:func:`healthgap.maps.atlas.write_atlas` as one shared ``search.js`` that every map page loads,
so the postcodes of the area are stored once, not once per page. Only the area's own postcodes
go in (grouped by small area, without spaces: about 8 bytes each).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import pandas as pd
from healthgap.geo.areas import StudyArea

log = logging.getLogger(__name__)

_DP = 4  # decimals of degrees kept (about 10 m)


def _bbox(geom: Any) -> list[float]:
    w, s, e, n = geom.bounds
    return [round(s, _DP), round(w, _DP), round(n, _DP), round(e, _DP)]


def _path(data: Any, key: str) -> Any:
    return data.optional(key) if data is not None and hasattr(data, "optional") else None


def place_population(data: Any, codes: Iterable[str]) -> dict[str, float]:
    """Return the residents of each whole local authority of ``codes`` (all its LSOAs).

    Parameters
    ----------
    data
        The build's :class:`~healthgap.data.layout.DataDir`, or None (then empty).
    codes
        Local authority codes (``place_code``).
    """
    from healthgap.data.readers import read_lsoa_lookup, read_population

    lookup, pop = _path(data, "lsoa_lookup"), _path(data, "population")
    if lookup is None or pop is None:
        return {}
    wanted = set(map(str, codes))
    lk = read_lsoa_lookup(lookup)
    lk = lk[lk["place_code"].isin(wanted)]
    people = read_population(pop).reindex(lk.index)
    return {str(k): float(v) for k, v in people.groupby(lk["place_code"]).sum().items()}


def _wards(area: StudyArea, data: Any) -> list[list[Any]]:
    from healthgap.data.readers import read_ward_names

    path = _path(data, "lsoa21_wards")
    inside = area.inside
    if path is None or inside.empty:
        return []
    names, unmatched = read_ward_names(path, list(inside.index),
                                       bridge_path=_path(data, "lsoa11_lsoa21_lookup"))
    if unmatched:
        log.info("ward names: %d LSOA(s) have no ward in %s", len(unmatched), path.name)
    if names.empty:
        return []
    lsoa = inside[["geometry"]].join(names, how="inner")
    wards = lsoa.dissolve(by="ward_cd", aggfunc={"ward_nm": "first"})
    wgs = wards.to_crs(4326)
    label = wards.geometry.representative_point().to_crs(4326)
    return [[str(r["ward_nm"]), str(code), round(label[code].y, _DP), round(label[code].x, _DP),
             _bbox(r.geometry)] for code, r in wgs.iterrows()]


def _areas(frame: pd.DataFrame | None, name_col: str) -> list[list[Any]]:
    if frame is None or not isinstance(frame, gpd.GeoDataFrame) or frame.empty:
        return []
    if "in_area" in frame.columns:
        frame = frame[frame["in_area"].astype(bool)]
    wgs = frame.to_crs(4326)
    names = frame[name_col] if name_col in frame.columns else pd.Series(dtype=object)
    return [[str(names.get(code, code)), str(code), _bbox(geom)]
            for code, geom in wgs.geometry.items()]


def _practices(facilities: pd.DataFrame | None) -> list[list[Any]]:
    if facilities is None or not isinstance(facilities, gpd.GeoDataFrame) or facilities.empty:
        return []
    fac = facilities[facilities["kind"] == "gp"] if "kind" in facilities.columns else facilities
    fac = fac[fac.geometry.notna() & fac["name"].notna()] if "name" in fac.columns else fac[:0]
    wgs = fac.to_crs(4326)
    return [[str(r["name"]).title() if str(r["name"]).isupper() else str(r["name"]),
             str(r["code"]), round(r.geometry.y, _DP), round(r.geometry.x, _DP)]
            for _, r in wgs.iterrows()]


def _postcodes(area: StudyArea, data: Any, lsoa_codes: list[str]) -> dict[str, str]:
    """Return the area's postcodes (no spaces) grouped by the index of their LSOA.

    The ONS postcode lookup is keyed by 2011 LSOAs. An LSOA it does not know (a 2021 LSOA that
    was split, merged or redrawn, in a 2025-vintage build) takes the postcodes whose Code-Point
    Open position falls inside its boundary.
    """
    from healthgap.data.readers import read_area_postcodes

    groups: dict[str, list[str]] = {}
    path = _path(data, "postcode_lookup")
    if path is not None:
        pcs = read_area_postcodes(path, lsoa_codes)
        compact = pcs["pcds"].str.replace(" ", "", regex=False)
        groups = {str(k): list(v) for k, v in compact.groupby(pcs["lsoa_code"].to_numpy())}
    missing = [c for c in lsoa_codes if c not in groups]
    if missing and (points := _path(data, "postcodes")) is not None:
        groups.update(_postcodes_by_position(area, points, missing))
    pos = {c: str(i) for i, c in enumerate(lsoa_codes)}
    return {pos[k]: " ".join(v) for k, v in groups.items() if k in pos and v}


def _postcodes_by_position(area: StudyArea, path: Any, codes: list[str]) -> dict[str, list[str]]:
    """Postcodes whose Code-Point Open position lies in each of ``codes``' LSOA polygons."""
    import geopandas as gpd
    from healthgap.data.access_inputs import read_postcodes

    polys = area.lsoa.loc[area.lsoa.index.intersection(codes), ["geometry"]]
    if polys.empty:
        return {}
    x0, y0, x1, y1 = polys.total_bounds
    pts = read_postcodes(path)
    pts = pts[pts["easting"].between(x0, x1) & pts["northing"].between(y0, y1)]
    located = gpd.sjoin(
        gpd.GeoDataFrame({"pcd": pts.index.astype(str)},
                         geometry=gpd.points_from_xy(pts["easting"], pts["northing"]),
                         crs=polys.crs),
        polys.rename_axis("lsoa_code").reset_index(), predicate="within")
    return {str(k): sorted(v) for k, v in located.groupby("lsoa_code")["pcd"]}


def search_index(area: StudyArea, data: Any, facilities: pd.DataFrame | None) -> dict[str, Any]:
    """Return the atlas's search and label index (JSON-ready).

    Keys: ``wards`` ([name, code, lat, lon, [s, w, n, e]]), ``lsoa``, ``msoa`` and
    ``neighbourhood`` ([name, code, bbox]), ``practices`` ([name, code, lat, lon]) and
    ``postcodes`` ({index of the LSOA in ``lsoa``: "LE156AA LE156AB ..."}).
    """
    lsoa = _areas(area.lsoa, "lsoa_name")
    nbhd = getattr(area, "neighbourhood", None)
    out: dict[str, Any] = {
        "wards": _wards(area, data),
        "lsoa": lsoa,
        "msoa": _areas(area.msoa, "msoa_name"),
        "neighbourhood": _areas(nbhd, "nbhd_nm"),
        "practices": _practices(facilities),
        "postcodes": _postcodes(area, data, [r[1] for r in lsoa]),
    }
    return out
