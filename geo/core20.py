"""Core20: the residents of the 20% most deprived LSOAs in England (NHS England, Core20PLUS5).

An LSOA is Core20 when its **national** IMD 2019 decile is 1 or 2, never its decile within the
study area. This module is the one definition every layer, table, map and API field uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from healthgap.geo.columns import COLUMNS

from healthgap.errors import MissingColumnError

if TYPE_CHECKING:
    from healthgap.geo.areas import StudyArea

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


#: The Core20 columns every level above the LSOA carries.
CORE20_COLUMNS = ("core20_pop", "core20_share")


def core20_rollup(lsoa: pd.DataFrame, *, by: str, population: str = "population") -> pd.DataFrame:
    """Core20 population and share of each group of LSOAs.

    Parameters
    ----------
    lsoa
        LSOAs with a ``core20`` column (from `core20_flag`), the group column and population.
    by
        The column holding the group code (``msoa_code``, ``nbhd_cd``, ``place_code``,
        ``system_code``).
    population
        The population column (the build's population).

    Returns
    -------
    pandas.DataFrame
        Indexed by group code: ``core20_pop`` (residents of Core20 LSOAs), ``core20_share``
        (of the group's population with a known decile; missing when that is 0) and
        ``core20_unknown_pop`` (residents of LSOAs without a national decile).
    """
    for col in ("core20", by, population):
        if col not in lsoa.columns:
            raise MissingColumnError(f"core20 roll-up: column {col!r} not found; columns: "
                                     f"{', '.join(map(str, lsoa.columns[:20]))}")
    pop = pd.to_numeric(lsoa[population], errors="coerce").fillna(0.0)
    flag = lsoa["core20"].astype("boolean")
    known = flag.notna()
    groups = lsoa[by]
    core = pop.where(known & flag.fillna(False), 0.0).groupby(groups).sum()
    denom = pop.where(known, 0.0).groupby(groups).sum()
    out = pd.DataFrame({"core20_pop": core,
                        "core20_share": core / denom.where(denom > 0),
                        "core20_unknown_pop": pop.where(~known, 0.0).groupby(groups).sum()})
    out.index.name = by
    return out


def england_core20(imd: pd.DataFrame, population: pd.Series) -> dict[str, float]:
    """England's Core20 population and share, from every English LSOA with a decile.

    Parameters
    ----------
    imd
        National IMD 2019 indexed by LSOA code with ``imd_decile``.
    population
        LSOA population (the build's population), indexed by LSOA code.
    """
    flag = core20_flag(imd)
    pop = population.reindex(flag.index)
    ok = pop.notna() & flag.notna()
    core = float(pop[ok & flag.fillna(False)].sum())
    total = float(pop[ok].sum())
    return {"core20_pop": core, "core20_share": core / total if total else float("nan")}


def core20_life_expectancy(lsoa: pd.DataFrame, msoa: pd.DataFrame, *, by: str,
                           le_columns: tuple[str, ...] = ("le_male", "le_female"),
                           population: str = "population") -> pd.DataFrame:
    """Approximate life expectancy of Core20 and non-Core20 residents of each group.

    Life expectancy is published for MSOAs only. Each LSOA takes its MSOA's value; the Core20
    figure of a group is the mean of those values weighted by the population of its Core20
    LSOAs, and the non-Core20 figure the same over its other LSOAs. This is an approximation
    (it assumes every LSOA of an MSOA shares the MSOA's life expectancy), so the columns are
    named ``<le>_core20_pwmean``, ``<le>_noncore20_pwmean`` and ``<le>_core20_gap``
    (non-Core20 minus Core20; positive when Core20 residents live shorter lives).

    An MSOA's life expectancy describes all its residents, Core20 or not, so a group's Core20
    figure may rest on MSOAs where Core20 residents are a minority. When ``msoa`` has
    ``core20_share`` (over all the MSOA's LSOAs), ``<le>_core20_basis_share`` says how Core20
    the MSOAs behind the figure are: their Core20 share, weighted as the figure is (by the
    group's Core20 residents in each). Near 1, the figure is about Core20 residents; below
    0.5, mostly about their non-Core20 neighbours.

    Parameters
    ----------
    lsoa
        LSOAs with ``core20``, ``msoa_code``, the group column and population.
    msoa
        MSOAs indexed by ``msoa_code`` with the life-expectancy columns.
    by
        The group column of ``lsoa``.
    le_columns
        Life-expectancy columns of ``msoa`` (those absent are skipped).
    population
        The population column of ``lsoa``.
    """
    for col in ("core20", "msoa_code", by, population):
        if col not in lsoa.columns:
            raise MissingColumnError(f"core20 life expectancy: column {col!r} not found")
    pop = pd.to_numeric(lsoa[population], errors="coerce").fillna(0.0)
    flag = lsoa["core20"].astype("boolean")
    groups = lsoa[by]
    out = pd.DataFrame(index=pd.Index(groups.dropna().unique(), name=by))
    for col in le_columns:
        if col not in msoa.columns:
            continue
        le = lsoa["msoa_code"].map(msoa[col])
        for name, member in (("core20", flag.fillna(False)), ("noncore20", ~flag.fillna(True))):
            w = pop.where(member & le.notna(), 0.0)
            wsum = w.groupby(groups).sum()
            mean = (w * le.fillna(0.0)).groupby(groups).sum() / wsum.where(wsum > 0)
            out[COLUMNS.of(f"{col}_{name}", "pwmean")] = mean
            if name == "core20" and "core20_share" in msoa.columns:
                # how Core20 the MSOAs behind the figure are, weighted as the figure is
                share = lsoa["msoa_code"].map(msoa["core20_share"])
                ws = w.where(share.notna(), 0.0)
                wsum_s = ws.groupby(groups).sum()
                out[f"{col}_core20_basis_share"] = ((ws * share.fillna(0.0)).groupby(groups)
                                                    .sum() / wsum_s.where(wsum_s > 0))
        out[f"{col}_core20_gap"] = (out[COLUMNS.of(f"{col}_noncore20", "pwmean")]
                                    - out[COLUMNS.of(f"{col}_core20", "pwmean")])
    return out


def _members_core20(area: StudyArea) -> pd.DataFrame:
    """Every LSOA of every MSOA with its Core20 flag (the area's LSOAs without members)."""
    members = area.members
    if not len(members) or "imd_decile" not in members.columns:
        return area.lsoa
    return members.assign(core20=core20_flag(members))


#: Levels above the LSOA with their code column, in the order they are rolled up.
CORE20_LEVELS = (("msoa", "msoa_code"), ("neighbourhood", "nbhd_cd"), ("place", "place_code"),
                 ("system", "system_code"))


def with_core20(area: StudyArea) -> StudyArea:
    """Return a new area with Core20 LSOAs flagged and their population rolled up to every level.

    The new area's ``lsoa`` gains ``core20``; each level frame (``msoa``, ``neighbourhood`` when
    attached, ``place``, ``system``) gains `core20_rollup`'s columns (MSOAs over all their
    LSOAs, like their ``population``; the others over in-area LSOAs) and, above the MSOA,
    `core20_life_expectancy`'s approximate Core20 and non-Core20 life expectancy.
    """
    area = area.with_columns("lsoa", core20_flag(area.lsoa).to_frame(), source="core20 flag")
    inside = area.inside
    for level, by in CORE20_LEVELS:
        if getattr(area, level, None) is None:
            continue
        # an MSOA over all its LSOAs (geo.areas.SPLIT_MSOA_RULE), not only those read
        src = (_members_core20(area) if level == "msoa" else inside)
        src = src[src[by].notna()]
        add = core20_rollup(src, by=by)
        if level != "msoa":
            add = add.join(core20_life_expectancy(src, area.msoa, by=by))
        area = area.with_columns(level, add, source=f"core20 rolled up to {level}")
    return area
