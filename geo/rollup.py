"""Population-weighted roll-ups of neighbourhood indicators to MSOA, place and system."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
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
        The column holding the parent code (``msoa_code``, ``place_code``, ``system_code``...).
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


def membership(members: pd.DataFrame, *, by: str, parent: str = "msoa_code",
               weight: str = "population") -> pd.DataFrame:
    """Return which MSOAs make up each area of ``by``, with how many people (split-MSOA rule).

    An MSOA belongs to every area holding at least one of its LSOAs inside the study area,
    weighted by the population of those LSOAs; see `healthgap.geo.areas.SPLIT_MSOA_RULE`.

    Parameters
    ----------
    members
        LSOAs of the MSOAs (`healthgap.geo.areas.msoa_members`), with ``in_area``.
    by
        The area code column (``place_code``, ``system_code``, ``nbhd_cd``...).
    parent
        The MSOA code column.
    weight
        The LSOA population column.

    Returns
    -------
    pandas.DataFrame
        One row per (area, MSOA): ``by``, ``parent``, ``population_in_group`` (people of the
        MSOA inside the area) and ``share_of_msoa``.
    """
    require_columns(members, [by, parent, weight, "in_area"], name="membership input")
    inside = members[members["in_area"].astype(bool) & members[by].notna()]
    w = pd.to_numeric(inside[weight], errors="coerce").fillna(0.0)
    out = w.groupby([inside[by], inside[parent]]).sum().rename("population_in_group")
    out = out.reset_index()
    total = pd.to_numeric(members[weight], errors="coerce").fillna(0.0).groupby(
        members[parent]).sum()
    out["share_of_msoa"] = (out["population_in_group"]
                            / out[parent].map(total).replace(0, np.nan)).fillna(0.0)
    return out


def group_frame(msoa: pd.DataFrame, member_rows: pd.DataFrame, *, by: str, code: str,
                parent: str = "msoa_code") -> pd.DataFrame:
    """Return the MSOAs of one area with their values and their population inside it.

    Parameters
    ----------
    msoa
        MSOA values indexed by ``parent``.
    member_rows
        From `membership`.
    by, code
        The area column and the area's code.
    parent
        The MSOA code column.

    Returns
    -------
    pandas.DataFrame
        Rows of ``msoa`` for the area's MSOAs (sorted by code), with ``population_in_group``.
    """
    rows = member_rows[member_rows[by] == code].set_index(parent)["population_in_group"]
    rows = rows.sort_index()
    frame = pd.DataFrame(msoa.reindex(rows.index))
    frame["population_in_group"] = rows
    return frame


def lsoa_to_msoa(members: pd.DataFrame, lsoa: pd.DataFrame, columns: list[str], *,
                 parent: str = "msoa_code", weight: str = "population") -> pd.DataFrame:
    """Roll LSOA indicators up to MSOAs from *all* of each MSOA's LSOAs (split-MSOA rule).

    The one LSOA -> MSOA roll-up of a build (`healthgap.geo.areas.SPLIT_MSOA_RULE`): an MSOA's
    value is the population-weighted mean over every English LSOA of the MSOA (``members``),
    whether inside the area, in its ring or beyond, so it does not depend on where the area's
    boundary cuts the MSOA. A column the members lack is taken from ``lsoa`` (the area and ring
    LSOAs, e.g. a drive time routed only there) for the members it covers; LSOAs with no value
    are left out of the mean and counted in ``<column>_coverage`` (share of the MSOA's people
    behind the value).

    Parameters
    ----------
    members
        Every LSOA of the MSOAs (`healthgap.geo.areas.msoa_members`), indexed by LSOA code,
        with ``parent`` and ``weight``. Empty: ``lsoa`` is used alone.
    lsoa
        The area's LSOA frame (area and ring), indexed by LSOA code.
    columns
        Indicator columns to roll up (each in ``members`` or ``lsoa``).
    parent, weight
        MSOA code and population columns.

    Returns
    -------
    pandas.DataFrame
        Indexed by MSOA code: the weighted mean and ``<column>_coverage`` of each column.
    """
    missing = [c for c in columns if c not in members.columns and c not in lsoa.columns]
    if missing:
        raise ParameterError(f"lsoa_to_msoa: column(s) {missing} are in neither the members "
                             "nor the LSOA frame")
    if not len(members):
        src = pd.DataFrame(lsoa)
    else:
        src = pd.DataFrame(members)
        extra = [c for c in columns if c not in src.columns]
        if extra:
            src = src.join(lsoa[extra])
    up = weighted_rollup(src, list(columns), by=parent, weight=weight)
    return up[[c for col in columns for c in (col, f"{col}_coverage")]]


def place_units(msoa: pd.DataFrame, members: pd.DataFrame, columns: list[str], *,
                place: str = "place_code", system: str = "system_code") -> pd.DataFrame:
    """Return each MSOA's part in each place, by the split-MSOA rule (the Theil units).

    A split MSOA counts in every (place, system) holding one of its in-area LSOAs, with its
    people there (`membership`, the rule of every other roll-up), so it is never filed wholly
    under a neighbouring system. A place is a (local authority, ICB) pair, as a few local
    authorities are split between ICBs.

    Parameters
    ----------
    msoa
        MSOA values indexed by ``msoa_code``.
    members
        The LSOAs of those MSOAs with ``in_area``, ``population``, ``place`` and ``system``.
    columns
        Columns of ``msoa`` carried to the units.
    place, system
        The place and system code columns of ``members``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``msoa_code|place_in_system``: ``columns``, ``place_in_system``,
        ``system`` and ``population_in_group``.
    """
    keyed = members.assign(place_in_system=members[place].astype(str) + "|"
                           + members[system].astype(str))
    rows = membership(keyed, by="place_in_system")
    rows = rows[rows["population_in_group"] > 0]
    units = msoa[list(columns)].reindex(rows["msoa_code"]).reset_index(drop=True)
    units["place_in_system"] = rows["place_in_system"].to_numpy()
    units[system] = units["place_in_system"].str.split("|").str[1]
    units["population_in_group"] = rows["population_in_group"].to_numpy()
    units.index = pd.Index(rows["msoa_code"].to_numpy() + "|" + units["place_in_system"],
                           name="unit")
    return units


def dissolved(frame: gpd.GeoDataFrame, *, by: str, threads: int = 2) -> gpd.GeoSeries:
    """Return the union of each group's geometries, as ``frame.dissolve(by=by).geometry`` does.

    The same unions (``shapely.union_all`` of each group's geometries in frame order; groups
    sorted by key, rows without a key left out), computed on ``threads`` threads, largest
    groups first: GEOS releases the GIL, so England's places, systems and neighbourhoods are
    dissolved on both cores.
    """
    codes, keys = pd.factorize(frame[by], sort=True)
    have = codes >= 0
    order = np.argsort(codes[have], kind="stable")
    rows = np.flatnonzero(have)[order]
    bounds = np.searchsorted(codes[rows], np.arange(len(keys) + 1))
    geoms = np.asarray(frame.geometry.array, dtype=object)
    groups = [geoms[rows[bounds[k]:bounds[k + 1]]] for k in range(len(keys))]
    unions: list[object] = [None] * len(groups)
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="dissolve") as pool:
        jobs = {pool.submit(shapely.union_all, groups[k]): k
                for k in sorted(range(len(groups)), key=lambda k: -len(groups[k]))}
        for job, k in jobs.items():
            unions[k] = job.result()
    index = pd.Index(keys, name=by)
    return gpd.GeoSeries(unions, index=index, crs=frame.crs, name=frame.geometry.name)
