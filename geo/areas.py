"""A study area: its neighbourhoods with an edge ring, and its places and system.

The edge ring is the adjacent LSOAs outside the area, kept and flagged ``in_area = False`` so that
spatial statistics near the boundary see their real neighbours; results are reported for the
area only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo import BNG
from healthgap.geo._validation import require_bng
from healthgap.geo.hierarchy import AreaRef, Hierarchy
from healthgap.geo.joins import REPORT_COLUMNS, join_columns, join_on_code
from healthgap.geo.rollup import dissolved, weighted_centre

from healthgap.errors import JoinError, ParameterError, preview

#: The level frames of a study area, small to large (`StudyArea.frame`, `StudyArea.with_columns`).
LEVELS = ("lsoa", "msoa", "neighbourhood", "place", "system")


@dataclass(frozen=True, eq=False)
class StudyArea:
    """Neighbourhoods of one area, with their ring, and the levels above them.

    Immutable: no frame of a study area is ever reassigned. A step that adds to an area returns
    a new one, through `with_columns` (columns joined to one level by the one validated join,
    `healthgap.geo.joins.join_columns`), `with_report`, `with_notes`, or `dataclasses.replace`
    for a whole-frame change; the area it was given is left as it was. Frames are shared between
    the old and the new area, so they must not be modified in place either.

    Attributes
    ----------
    ref
        The area.
    lsoa
        LSOAs of the area and its ring (EPSG:27700), columns as in ARCHITECTURE.md.
    msoa
        MSOAs with at least one LSOA in ``lsoa``; ``in_area`` when any of their LSOAs is in the
        area, ``share_in_area`` the population share inside (below 1 for an MSOA split by the
        area's boundary), ``population``, ``population_in_area``, ``pw_x``, ``pw_y``.
    place
        Local authorities (dissolved from the area's LSOAs).
    system
        ICBs (dissolved from the area's LSOAs).
    report
        Unmatched codes of every join so far (`geo.joins.REPORT_COLUMNS`).
    notes
        Things the user should know (ring size, Welsh neighbours left out, fallbacks used), in
        the order they arose.
    members
        Every English LSOA of every MSOA in ``msoa`` (not only those of the area and ring),
        indexed by ``lsoa_code``: ``msoa_code, place_code, system_code, population, pw_x, pw_y,
        in_area`` and, once joined, the LSOA indicators. MSOA values are built from these
        (`SPLIT_MSOA_RULE`), so an MSOA's figures never depend on where the area's boundary
        or ring cuts it.
    neighbourhood
        Neighbourhoods of 30-50k people indexed by ``nbhd_cd`` (`geo.neighbourhoods`), once
        attached; None before.
    """

    ref: AreaRef
    lsoa: gpd.GeoDataFrame
    msoa: gpd.GeoDataFrame
    place: gpd.GeoDataFrame
    system: gpd.GeoDataFrame
    report: pd.DataFrame
    notes: tuple[str, ...] = ()
    members: pd.DataFrame = field(default_factory=pd.DataFrame)
    neighbourhood: gpd.GeoDataFrame | None = None

    @property
    def inside(self) -> gpd.GeoDataFrame:
        """The LSOAs inside the area (the ring left out)."""
        return self.lsoa[self.lsoa["in_area"]]

    def frame(self, level: str) -> pd.DataFrame:
        """Return the frame of ``level`` (one of `LEVELS`; ``neighbourhood`` once attached)."""
        frame = getattr(self, level, None) if level in LEVELS else None
        if frame is None:
            have = [name for name in LEVELS if getattr(self, name) is not None]
            raise ParameterError(f"level {level!r}: the study area has {', '.join(have)}")
        return frame

    def with_columns(self, level: str, table: pd.DataFrame, *, source: str) -> StudyArea:
        """Return a new area whose ``level`` frame has ``table``'s columns joined by code.

        The join is `healthgap.geo.joins.join_columns`: every row of the level is kept, and a
        column already present is accepted only with the same values (`LayerClashError`
        otherwise, naming ``source``).
        """
        return replace(self, **{level: join_columns(self.frame(level), table, source=source)})

    def with_report(self, report: pd.DataFrame) -> StudyArea:
        """Return a new area with ``report`` (`REPORT_COLUMNS`) appended to its join report."""
        return replace(self, report=pd.concat([self.report, report], ignore_index=True))

    def with_notes(self, *notes: str) -> StudyArea:
        """Return a new area with ``notes`` appended to its notes."""
        return replace(self, notes=(*self.notes, *notes))


def select_area(hierarchy: Hierarchy, boundaries: gpd.GeoDataFrame, ref: AreaRef, *,
                population: pd.Series, centroids: pd.DataFrame | None = None,
                msoa_boundaries: gpd.GeoDataFrame | None = None, ring: int = 1,
                max_loss: float = 0.0) -> StudyArea:
    """Build the study area for ``ref`` from national frames.

    Parameters
    ----------
    hierarchy
        The LSOA hierarchy.
    boundaries
        LSOA polygons in EPSG:27700 indexed by ``lsoa_code``, covering the area and its
        surroundings (more is fine).
    ref
        The area, from `Hierarchy.resolve`.
    population
        LSOA population indexed by ``lsoa_code``.
    centroids
        Population-weighted LSOA centres (``pw_x``, ``pw_y``, ``centroid_source``); LSOAs
        without one get a representative point, flagged in ``centroid_source``.
    msoa_boundaries
        MSOA polygons; when absent, MSOAs are dissolved from their LSOAs.
    ring
        How many rings of adjacent LSOAs outside the area to keep (0 for none).
    max_loss
        Largest share of area LSOAs allowed to lack a boundary or population.
    """
    require_bng(boundaries, name="LSOA boundaries")
    if ring < 0:
        raise ParameterError(f"ring={ring}: allowed 0 or more")
    inside_codes = hierarchy.lsoas_in(ref)
    report_parts: list[pd.DataFrame] = []
    notes: list[str] = []

    geo_join = join_on_code(pd.DataFrame(index=inside_codes), boundaries[[]], name="boundaries",
                            max_loss=max_loss, right_scope=pd.Index([]),
                            reason="LSOA in the lookup has no boundary")
    report_parts.append(geo_join.report)
    have = inside_codes.difference(pd.Index(geo_join.unmatched_left))
    inside = boundaries.loc[have]

    codes = list(have)
    if ring and ref.level != "england":
        english = boundaries[boundaries.index.str.startswith("E01")
                             & boundaries.index.isin(hierarchy.frame.index)]
        welsh_near = 0
        frontier = inside
        ring_codes: list[str] = []
        for _ in range(ring):
            hits = english.sindex.query(frontier.geometry.values, predicate="intersects")[1]
            new = english.index[np.unique(hits)].difference(pd.Index(codes))
            if not len(new):
                break
            ring_codes.extend(new)
            codes.extend(new)
            frontier = english.loc[new]
            others = boundaries[~boundaries.index.isin(english.index)]
            if len(others):
                welsh_near += len(np.unique(others.sindex.query(frontier.geometry.values,
                                                                predicate="intersects")[1]))
        notes.append(f"edge ring: {len(ring_codes)} adjacent LSOA(s) outside the area kept "
                     f"as neighbours ({ring} ring(s)); results are for the area only")
        if welsh_near:
            notes.append(f"{welsh_near} adjacent non-English LSOA(s) left out of the ring "
                         "(IMD and the ICS lookups cover England only)")

    lsoa = gpd.GeoDataFrame(boundaries.loc[codes, ["geometry"]], geometry="geometry", crs=BNG)
    lsoa.index.name = "lsoa_code"
    hier_cols = ["lsoa_name", "msoa_code", "msoa_name", "place_code", "place_name", "subicb_code",
                 "subicb_name", "system_code", "system_name"]
    lsoa = lsoa.join(hierarchy.frame[hier_cols])
    lsoa["in_area"] = lsoa.index.isin(inside_codes)

    pop = join_on_code(lsoa[[]], population.to_frame("population"), name="population",
                       max_loss=max_loss, right_scope=pd.Index([]),
                       reason="no population estimate")
    report_parts.append(pop.report)
    lsoa["population"] = pop.frame["population"]
    missing_pop = lsoa["population"].isna()
    if missing_pop.any():
        notes.append(f"{int(missing_pop.sum())} LSOA(s) without a population estimate: "
                     f"{preview(lsoa.index[missing_pop])}; weighted as 0")
        lsoa["population"] = lsoa["population"].fillna(0.0)

    rep_points = lsoa.geometry.representative_point()
    lsoa["pw_x"], lsoa["pw_y"] = rep_points.x, rep_points.y
    lsoa["centroid_source"] = "representative point (no population-weighted centre)"
    if centroids is not None:
        c = centroids.reindex(lsoa.index)
        has = c["pw_x"].notna() & c["pw_y"].notna()
        lsoa.loc[has, "pw_x"] = c.loc[has, "pw_x"]
        lsoa.loc[has, "pw_y"] = c.loc[has, "pw_y"]
        lsoa.loc[has, "centroid_source"] = c.loc[has, "centroid_source"]
        if (~has).any():
            notes.append(f"{int((~has).sum())} LSOA(s) use a representative point instead of "
                         f"a population-weighted centre: {preview(lsoa.index[~has])}")

    members = msoa_members(hierarchy, lsoa["msoa_code"].unique(), population=population,
                           centroids=centroids, inside=inside_codes, fallback=lsoa)
    if (members["centroid_source"] == "none").any():
        lacking = members.index[members["centroid_source"] == "none"]
        notes.append(f"{len(lacking)} LSOA(s) of the area's MSOAs have no centre and are left "
                     f"out of their MSOA's centre (not its population): {preview(lacking)}")
    msoa = _msoa_frame(members, boundaries, msoa_boundaries, report_parts)
    split = msoa.index[msoa["in_area"] & (msoa["share_in_area"] < 1)]
    if len(split):
        notes.append(f"{len(split)} MSOA(s) lie partly inside the area: {preview(split)}; "
                     "their values come from all their LSOAs and they count in the area's "
                     "figures weighted by their population inside (the split-MSOA rule)")
    area_lsoa = lsoa[lsoa["in_area"]]
    place = _dissolve(area_lsoa, "place_code", "place_name")
    system = _dissolve(area_lsoa, "system_code", "system_name")
    report = pd.concat([p for p in report_parts if len(p)] or
                       [pd.DataFrame(columns=REPORT_COLUMNS)], ignore_index=True)
    return StudyArea(ref=ref, lsoa=lsoa, msoa=msoa, place=place, system=system,
                     report=report, notes=tuple(notes), members=members)


SPLIT_MSOA_RULE = (
    "An MSOA is built from all of its LSOAs, wherever the study area's boundary or edge ring "
    "cuts it: its population, population-weighted centre and every LSOA indicator rolled up to "
    "it (IMD score, Core20 share) are those of the whole MSOA, as in a national build. An MSOA "
    "split by a boundary belongs to every area (system, place, neighbourhood) that holds at "
    "least one of its LSOAs, and counts in that area's figures (means, quantiles, SII) with the "
    "population of its LSOAs inside that area. Its own row carries population_in_area and "
    "share_in_area for the build's area, and is labelled with the local authority and ICB "
    "holding most of its population. An ICS's, place's or neighbourhood's figures are "
    "therefore the same whether it is built alone, in a batch or inside the England build; a "
    "place (local authority) split between two ICSs is, in an ICS build, the part inside the "
    "system."
)
"""The one rule for MSOAs split by a boundary, applied in every build (methods text)."""

MEMBER_COLUMNS = ("msoa_code", "msoa_name", "place_code", "place_name", "system_code",
                  "system_name", "population", "pw_x", "pw_y", "centroid_source", "in_area")


def msoa_members(hierarchy: Hierarchy, msoa_codes: Iterable[str], *, population: pd.Series,
                 centroids: pd.DataFrame | None = None, inside: pd.Index | None = None,
                 fallback: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every English LSOA of the given MSOAs, with population, centre and area flag.

    Parameters
    ----------
    hierarchy
        The LSOA hierarchy (the national lookup: every LSOA of an MSOA is found, not only
        those read for the area).
    msoa_codes
        The MSOAs wanted.
    population
        National LSOA population indexed by ``lsoa_code``; an LSOA without one weighs 0.
    centroids
        Population-weighted LSOA centres (``pw_x``, ``pw_y``, ``centroid_source``).
    inside
        LSOA codes inside the study area (``in_area``); all when None (a national frame).
    fallback
        Frame with ``pw_x``, ``pw_y``, ``centroid_source`` for LSOAs without a centre in
        ``centroids`` (the study area's LSOAs with their representative points).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``lsoa_code``, columns `MEMBER_COLUMNS`; ``centroid_source == "none"``
        where no centre was found (left out of centres, kept in populations).
    """
    wanted = pd.Index(pd.unique(pd.Index(list(msoa_codes), dtype=object)))
    unknown = wanted.difference(pd.Index(hierarchy.frame["msoa_code"].unique()))
    if len(unknown):
        raise JoinError(f"MSOA code(s) not in the LSOA lookup: {preview(unknown)}")
    h = hierarchy.frame
    rows = h[h["msoa_code"].isin(wanted)]
    out = pd.DataFrame(rows[["msoa_code", "msoa_name", "place_code", "place_name", "system_code",
                             "system_name"]])
    out.index.name = "lsoa_code"
    out["population"] = pd.to_numeric(population.reindex(out.index),
                                       errors="coerce").fillna(0.0).astype(float)
    out["pw_x"] = np.nan
    out["pw_y"] = np.nan
    out["centroid_source"] = "none"
    for src in (fallback, centroids):
        if src is None:
            continue
        c = src.reindex(out.index)
        has = c["pw_x"].notna() & c["pw_y"].notna()
        out.loc[has, "pw_x"] = c.loc[has, "pw_x"].astype(float)
        out.loc[has, "pw_y"] = c.loc[has, "pw_y"].astype(float)
        out.loc[has, "centroid_source"] = c.loc[has, "centroid_source"].astype(str)
    out["in_area"] = True if inside is None else out.index.isin(inside)
    return out


def msoa_from_members(members: pd.DataFrame) -> pd.DataFrame:
    """MSOA population, area share, centre and labels from all of its LSOAs.

    Parameters
    ----------
    members
        From `msoa_members` (every LSOA of each MSOA).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``msoa_code``: ``msoa_name, place_code, place_name, system_code,
        system_name, population, population_in_area, share_in_area, n_lsoa, n_lsoa_in_area,
        in_area, pw_x, pw_y``.
        The local authority and ICB are those holding most of the MSOA's population (ties to
        the lower code); membership of every area it touches is kept in ``members``.
    """
    g = members.groupby("msoa_code", sort=True)
    pop_in = members["population"].where(members["in_area"], 0.0)
    stats = pd.DataFrame({
        "msoa_name": g["msoa_name"].first(),
        "population": g["population"].sum(),
        "population_in_area": pop_in.groupby(members["msoa_code"]).sum(),
        "n_lsoa": g.size(),
        "n_lsoa_in_area": members["in_area"].astype(int).groupby(members["msoa_code"]).sum(),
        "in_area": g["in_area"].any(),
    })
    for code, name in (("place_code", "place_name"), ("system_code", "system_name")):
        by = members.groupby(["msoa_code", code, name])["population"].sum().reset_index()
        by = by.sort_values(["msoa_code", "population", code], ascending=[True, False, True])
        top = by.drop_duplicates("msoa_code").set_index("msoa_code")
        stats[code] = top[code]
        stats[name] = top[name]
    share = stats["population_in_area"] / stats["population"].replace(0, np.nan)
    stats["share_in_area"] = share.fillna(stats["n_lsoa_in_area"] / stats["n_lsoa"])
    located = members[members["centroid_source"] != "none"]
    stats = stats.join(weighted_centre(located, by="msoa_code"))
    stats.index.name = "msoa_code"
    return stats


def _msoa_frame(members: pd.DataFrame, boundaries: gpd.GeoDataFrame,
                msoa_boundaries: gpd.GeoDataFrame | None,
                report_parts: list[pd.DataFrame]) -> gpd.GeoDataFrame:
    stats = msoa_from_members(members)
    if msoa_boundaries is not None:
        require_bng(msoa_boundaries, name="MSOA boundaries")
        joined = join_on_code(stats, msoa_boundaries[["geometry"]], name="msoa_boundaries",
                              max_loss=0.0, right_scope=pd.Index([]),
                              reason="MSOA has no boundary")
        report_parts.append(joined.report)
        return gpd.GeoDataFrame(joined.frame, geometry="geometry", crs=BNG)
    have = members.index.intersection(boundaries.index)
    parts = gpd.GeoDataFrame(members.loc[have, ["msoa_code"]],
                             geometry=boundaries.geometry.reindex(have), crs=BNG)
    geom = dissolved(parts, by="msoa_code")
    return gpd.GeoDataFrame(stats, geometry=geom.reindex(stats.index), crs=BNG)


def _dissolve(lsoa: gpd.GeoDataFrame, code: str, name: str) -> gpd.GeoDataFrame:
    if lsoa.empty:
        raise JoinError(f"no LSOA inside the area to dissolve into {code}")
    grouped = lsoa.groupby(code)
    attrs = pd.DataFrame({name: grouped[name].first(), "population": grouped["population"].sum()})
    out = gpd.GeoDataFrame(dissolved(lsoa, by=code).to_frame(), crs=BNG).join(attrs)
    out["n_lsoa"] = lsoa.groupby(code).size()
    centre = weighted_centre(lsoa, by=code)
    return gpd.GeoDataFrame(out.join(centre), geometry="geometry", crs=BNG)
