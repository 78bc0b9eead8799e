"""Deprivation and outcome layers joined to a study area's neighbourhoods, and rolled up.

IMD 2019 is joined to every LSOA (area and ring) with national deciles as published and deciles
within the area; life expectancy is joined to MSOAs, where it is published, and never spread to
LSOAs. Suppressed values stay missing and are reported.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from healthgap.geo.areas import StudyArea
from healthgap.geo.columns import COLUMNS
from healthgap.geo.joins import REPORT_COLUMNS, join_on_code
from healthgap.geo.rollup import lsoa_to_msoa, membership, weighted_rollup

from healthgap.errors import InputError

#: Indicators rolled up from LSOA to MSOA, place and system by population weight.
LSOA_ROLLUP = ("imd_score", "income_score_rate_approx", "employment_score_rate_approx")

#: Standardised outcome ratios (England = 100) joined by `healthgap.geo.outcomes`.
OUTCOME_COLUMNS = ("smr_all_causes", "smr_all_causes_u75", "smr_preventable_u75", "smr_cancer",
                   "smr_cancer_u75", "smr_circulatory", "smr_circulatory_u75", "smr_chd",
                   "smr_stroke", "smr_respiratory", "sar_emergency_all", "sar_emergency_chd",
                   "sar_emergency_stroke", "sar_emergency_mi", "sar_emergency_copd",
                   "sar_emergency_hip_fracture_65")

#: Life-expectancy columns, by sex.
LE_COLUMNS = ("le_male", "le_female")


def area_deciles(values: pd.Series, *, most_deprived_high: bool = True) -> pd.Series:
    """Deciles within a set of areas, 1 = most deprived tenth, as equal counts by rank.

    Parameters
    ----------
    values
        Deprivation scores (missing values get a missing decile).
    most_deprived_high
        True when a higher value means more deprived (IMD score).
    """
    ranks = values.rank(ascending=not most_deprived_high, method="first")
    n = int(values.notna().sum())
    if n == 0:
        return pd.Series(np.nan, index=values.index)
    return np.ceil(ranks * 10 / n).clip(1, 10)


def with_imd(area: StudyArea, imd: pd.DataFrame, *, max_loss: float = 0.0) -> StudyArea:
    """Return a new area with IMD 2019 joined to every LSOA of the area and its ring.

    Adds every column of ``imd`` and ``imd_decile_area`` (deciles of the IMD score among the
    LSOAs inside the area; missing for the ring), and the IMD columns to ``members``. An area
    LSOA without IMD raises unless ``max_loss`` allows it; every miss is in the new area's
    ``report``.
    """
    res = join_on_code(area.lsoa, imd, name="imd", max_loss=max_loss,
                       right_scope=pd.Index([]), reason="no IMD 2019 row")
    lsoa = res.frame
    lsoa["imd_decile_area"] = np.nan
    inside = lsoa["in_area"]
    lsoa.loc[inside, "imd_decile_area"] = area_deciles(lsoa.loc[inside, "imd_score"])
    members = _join_members(area.members, imd) if len(area.members) else area.members
    return replace(area, lsoa=lsoa, members=members).with_report(res.report)


def with_lsoa_indicators(area: StudyArea, indicators: pd.DataFrame, *, name: str,
                         max_loss: float = 0.0) -> StudyArea:
    """Return a new area with LSOA indicators joined to its LSOAs and to every member LSOA.

    ``indicators`` (indexed by LSOA code) must cover the area's LSOAs and the members, so
    that an MSOA is rolled up from all its LSOAs (`healthgap.geo.rollup.lsoa_to_msoa`); a miss
    on the area's LSOAs is reported (and refused beyond ``max_loss``).
    """
    res = join_on_code(area.lsoa, indicators, name=name, max_loss=max_loss,
                       right_scope=pd.Index([]), reason=f"no {name} row")
    members = _join_members(area.members, indicators) if len(area.members) else area.members
    return replace(area, lsoa=res.frame, members=members).with_report(res.report)


def _join_members(members: pd.DataFrame, imd: pd.DataFrame) -> pd.DataFrame:
    """Add the IMD columns to every LSOA of the area's MSOAs.

    A member without IMD is left out of its MSOA's mean and shows in the
    ``<column>_coverage`` of the roll-up.
    """
    cols = [c for c in imd.columns if c not in members.columns]
    return members.join(imd[cols])


def with_life_expectancy(area: StudyArea, le: pd.DataFrame, *,
                         max_loss: float = 0.0) -> StudyArea:
    """Return a new area with MSOA life expectancy joined; suppressed values stay missing.

    An MSOA absent from the file is an error beyond ``max_loss``; an MSOA present but
    suppressed is kept with a missing value and a ``suppressed`` row in the new area's
    ``report``.
    """
    cols = [c for c in le.columns if c.startswith("le_")]
    if not cols:
        raise InputError("life expectancy frame has no le_* column")
    res = join_on_code(area.msoa, le[cols], name="life_expectancy", max_loss=max_loss,
                       right_scope=pd.Index([]), reason="MSOA not in the life-expectancy file")
    msoa = res.frame
    rows = []
    for sex in LE_COLUMNS:
        flag = f"{sex}_suppressed"
        if flag not in msoa:
            continue
        msoa[flag] = msoa[flag].fillna(False).astype(bool)
        for code in msoa.index[msoa[flag] & msoa["in_area"]]:
            rows.append(("life_expectancy", "suppressed", str(code),
                         f"{sex.replace('le_', '')} life expectancy suppressed in the source"))
    out = replace(area, msoa=msoa).with_report(res.report)
    return out.with_report(pd.DataFrame(rows, columns=REPORT_COLUMNS)) if rows else out


def with_rollups(area: StudyArea) -> StudyArea:
    """Return a new area with LSOA indicators and MSOA LE rolled up the levels.

    LSOA indicators go to MSOA, place and system; MSOA life expectancy to place and system.
    Means are population-weighted over the LSOAs (or MSOAs) inside the area; a place or system
    LE is the population-weighted mean of its MSOAs' published LE, an approximation to the LE of
    the combined population (which would need the deaths and populations by age), and is
    labelled ``*_pwmean`` to say so.
    """
    inside = area.inside
    cols = [c for c in LSOA_ROLLUP if c in inside.columns]
    # every MSOA from all its LSOAs (geo.areas.SPLIT_MSOA_RULE), by the one roll-up function
    area = area.with_columns("msoa", lsoa_to_msoa(area.members, area.lsoa, cols),
                             source="LSOA indicators rolled up to msoa")
    for level, code in (("place", "place_code"), ("system", "system_code")):
        up = weighted_rollup(pd.DataFrame(inside), cols, by=code)  # LSOAs are never split
        area = area.with_columns(level, up.drop(columns=["population", "n_children"]),
                                 source=f"LSOA indicators rolled up to {level}")
    le_cols = [c for c in LE_COLUMNS if c in area.msoa.columns]
    if le_cols:
        for level, code in (("place", "place_code"), ("system", "system_code")):
            area = area.with_columns(level, msoa_rollup(area, area.frame(level), le_cols,
                                                        by=code, ranges=True),
                                     source=f"MSOA life expectancy rolled up to {level}")
    return area


def msoa_rollup(area: StudyArea, frame: pd.DataFrame, columns: list[str], *, by: str,
                ranges: bool = False) -> pd.DataFrame:
    """Roll MSOA values up to the areas of ``frame`` by the split-MSOA rule.

    Each area's value is the mean of its MSOAs weighted by their population inside the area
    (`healthgap.geo.rollup.membership`), labelled ``<column>_pwmean``; with ``ranges`` also
    ``_min``, ``_max`` and ``_range`` over those MSOAs. Returns those columns only, indexed
    like ``frame`` (join them with `StudyArea.with_columns`).
    """
    if len(area.members):
        rows = membership(area.members, by=by)
    else:  # a frame built without members: each MSOA in the area of its own label
        msoa_in = area.msoa[area.msoa["in_area"]]
        rows = pd.DataFrame({by: msoa_in[by], "msoa_code": msoa_in.index,
                             "population_in_group": msoa_in["population_in_area"]})
    vals = pd.DataFrame(area.msoa[columns]).reindex(rows["msoa_code"])
    vals.index = rows.index
    src = pd.concat([rows, vals], axis=1)
    up = weighted_rollup(src, columns, by=by, weight="population_in_group")
    out = pd.DataFrame(index=frame.index)
    for c in columns:
        out[COLUMNS.of(c, "pwmean")] = up[c]
        if ranges:
            out[f"{c}_min"] = src.groupby(by)[c].min()
            out[f"{c}_max"] = src.groupby(by)[c].max()
            out[f"{c}_range"] = out[f"{c}_max"] - out[f"{c}_min"]
    return out


def england_comparators(imd: pd.DataFrame, le: pd.DataFrame, population: pd.Series,
                        hierarchy: Any) -> dict[str, float]:
    """England values for map and table comparisons, population-weighted.

    IMD-based columns are weighted by LSOA population over every English LSOA in the IMD file;
    life expectancy by MSOA population (the sum of its LSOAs) over the MSOAs with a published
    value. The England LE so formed is a population-weighted mean of MSOA LE, not ONS's
    national life table figure, and is used only as a reference line. ``core20_share`` is the
    share of England's population in Core20 LSOAs; the standardised mortality and admission
    ratios are 100 for England by definition.
    """
    out: dict[str, float] = {}
    pop = population.reindex(imd.index)
    ok = pop.notna()
    for col in ("imd_score", "income_score_rate_approx", "employment_score_rate_approx"):
        if col in imd.columns:
            v = imd.loc[ok, col]
            has = v.notna()
            out[col] = float(np.average(v[has], weights=pop[ok][has]))
    if "imd_decile" in imd.columns:  # Core20: England's 20 % most deprived LSOAs (by people)
        from healthgap.geo.core20 import core20_flag

        flag = core20_flag(imd).fillna(False).astype(bool)[ok]
        out["core20_share"] = float(pop[ok][flag].sum() / pop[ok].sum())
    for name in OUTCOME_COLUMNS:  # standardised ratios: England = 100 by definition
        out[name] = 100.0
    msoa_of = hierarchy.frame["msoa_code"]
    msoa_pop = population.reindex(msoa_of.index).groupby(msoa_of).sum()
    for col in LE_COLUMNS:
        if col in le.columns:
            v = le[col].dropna()
            w = msoa_pop.reindex(v.index)
            has = w.notna() & (w > 0)
            if has.any():
                out[col] = float(np.average(v[has], weights=w[has]))
                out[COLUMNS.of(col, "pwmean")] = out[col]
    return out


def national_msoa(hierarchy: Any, imd: pd.DataFrame, le: pd.DataFrame, population: pd.Series,
                  *, centroids: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every English MSOA built from all its LSOAs, as a national build builds it.

    The same functions as `select_area`, `with_imd` and `with_rollups` (`msoa_members`,
    `msoa_from_members`, `weighted_rollup`), without geometry: England as a comparator costs
    a second or two from national tables a build has already read.

    Parameters
    ----------
    hierarchy
        The LSOA hierarchy (`healthgap.geo.hierarchy.Hierarchy`).
    imd
        IMD 2019 by LSOA (`read_imd`).
    le
        MSOA life expectancy (`read_life_expectancy`).
    population
        LSOA population.
    centroids
        LSOA centres (optional; only the MSOA centres need them).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The MSOA frame (``population``, ``population_in_area``, the `LSOA_ROLLUP` columns and
        the ``le_*`` columns) and its members (every English LSOA with its IMD columns).
    """
    from healthgap.geo.areas import msoa_from_members, msoa_members

    codes = hierarchy.frame["msoa_code"].unique()
    members = msoa_members(hierarchy, codes, population=population, centroids=centroids)
    members = _join_members(members, imd)
    msoa = msoa_from_members(members)
    cols = [c for c in LSOA_ROLLUP if c in members.columns]
    up = weighted_rollup(pd.DataFrame(members), cols, by="msoa_code")
    msoa = msoa.join(up.drop(columns=["population", "n_children"]))
    le_cols = [c for c in le.columns if c.startswith("le_")]
    # an MSOA absent from the file gets a missing value, left out of (and counted in) the SII
    msoa = msoa.join(le[le_cols])
    return msoa, members
