"""The atlas stage of a build: which maps/ pages to draw from an area's layers and models.

Chooses the indicators (those the build produced), their labels and units (geo/indicators.py),
the England and ICS comparators, and hands the frames to maps/. Draws nothing itself.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from healthgap.geo.areas import StudyArea
from healthgap.geo.indicators import IMD_DOMAINS, describe

log = logging.getLogger(__name__)

#: LSOA choropleths, in index order: (column, slug, summary).
LSOA_PAGES = [
    ("imd_score", "lsoa-imd-score", "Index of Multiple Deprivation 2019 score by neighbourhood."),
    ("imd_decile", "lsoa-imd-decile", "National IMD decile (1 = most deprived tenth of England)."),
    ("imd_decile_area", "lsoa-imd-decile-area",
     "IMD decile within this area (1 = the area's most deprived tenth)."),
    *[(f"{d}_decile", f"lsoa-{d.replace('_', '-')}-decile", f"IMD 2019 {label} domain decile.")
      for d, label in IMD_DOMAINS.items()],
    ("air_quality_ratio_sum", "lsoa-air-quality", "IMD air-quality indicator (NO2, PM, benzene, "
     "SO2 relative to limits)."),
    ("green_share", "lsoa-green-space", "Share of each neighbourhood's area that is green space "
     "(OpenStreetMap)."),
    ("fast_food_per_1000", "lsoa-fast-food", "Fast-food outlets per 1,000 residents (OSM)."),
    ("gp_road_distance_km", "lsoa-gp-road-distance", "IMD road distance to a GP surgery."),
    ("gp_e2sfca_per_1000", "lsoa-gp-e2sfca", "GP accessibility: enhanced two-step floating "
     "catchment (practices per 1,000 residents, Gaussian decay)."),
]

#: MSOA choropleths.
MSOA_PAGES = [
    ("le_male", "msoa-le-male", "Male life expectancy at birth 2015-19 by MSOA."),
    ("le_female", "msoa-le-female", "Female life expectancy at birth 2015-19 by MSOA."),
]

#: Place choropleths.
PLACE_PAGES = [
    ("le_male_pwmean", "place-le-male", "Male life expectancy by place (population-weighted "
     "mean of its MSOAs)."),
    ("le_male_range", "place-le-male-gap", "Gap in male life expectancy between the highest "
     "and lowest MSOA of each place."),
]


def _england_mean(values: pd.Series | None) -> float | None:
    if values is None or values.dropna().empty:
        return None
    return float(values.dropna().mean())


def build_atlas(area: StudyArea, *, out_dir: Path, layers: dict[str, pd.DataFrame],
                tables: dict[str, pd.DataFrame], manifest: dict[str, Any],
                england: dict[str, float], synthetic: bool, weights: str,
                alpha: float, correction: str) -> Path:
    """Write the atlas of an area into ``out_dir`` and return the path of its index.html.

    Parameters
    ----------
    area
        The built study area (layers joined, statistics and models added).
    out_dir
        The atlas folder.
    layers, tables
        Extra layers (``facilities``, ``cliffs``) and model tables from the build.
    manifest
        The run manifest.
    england
        England comparators by column (population-weighted national values).
    synthetic
        Say on every page that the data is synthetic.
    weights, alpha, correction
        The statistics' settings, stated in the cluster maps' legends.
    """
    from healthgap.data.fetch import load_sources
    from healthgap.maps.access import access_map
    from healthgap.maps.atlas import Page, write_atlas
    from healthgap.maps.charts import add_chart_panel, sii_chart
    from healthgap.maps.choropleth import choropleth
    from healthgap.maps.cliffs import cliffs_map
    from healthgap.maps.clusters import gistar_map, lisa_map

    lsoa = area.lsoa
    msoa = area.msoa
    boundaries = [area.place, area.system]
    common = {"boundaries": boundaries, "synthetic": synthetic}
    pages: list[Any] = []

    def compare(level_frame: pd.DataFrame, col: str, system_col: str | None = None) -> dict:
        out: dict[str, float] = {}
        if col in england:
            out["England"] = england[col]
        sys_col = system_col or col
        if sys_col in area.system.columns and area.system[sys_col].notna().any():
            out["This system"] = float(area.system[sys_col].iloc[0])
        return out

    def add_choropleth(frame: pd.DataFrame, col: str, slug: str, summary: str,
                       system_col: str | None = None) -> None:
        if col not in frame.columns or frame[col].notna().sum() < 2:
            return
        ind = describe(col)
        kw: dict[str, Any] = {}
        if col.endswith("_rank"):
            kw["rank_total"] = 32844
        m = choropleth(frame, col, label=ind.label, units=ind.units,
                       reverse=ind.higher_is_worse is False and ind.kind == "continuous",
                       compare=compare(frame, col, system_col) or None, **common, **kw)
        pages.append(Page(slug=slug, title=ind.label, map=m, summary=summary,
                          group=_group(col)))

    for col, slug, summary in LSOA_PAGES:
        add_choropleth(lsoa, col, slug, summary)
    for col, slug, summary in MSOA_PAGES:
        add_choropleth(msoa, col, slug, summary, system_col=f"{col}_pwmean")
    for col, slug, summary in PLACE_PAGES:
        add_choropleth(area.place, col, slug, summary)

    facilities = layers.get("facilities")
    for kind in ("gp", "hospital"):
        col = f"{kind}_time_min"
        if facilities is not None and col in lsoa.columns and lsoa[col].notna().any():
            fac = facilities[facilities["kind"] == kind]
            m = access_map(lsoa, col, fac, label=f"Drive time to the nearest "
                           f"{'GP practice' if kind == 'gp' else 'hospital'}",
                           units="minutes", **common)
            what = "GP practice" if kind == "gp" else "hospital"
            pages.append(Page(slug=f"access-{kind}", title=f"Drive time to a {what}",
                              map=m, summary="Network drive time from each neighbourhood's "
                              "population-weighted centre; facilities as markers.",
                              group="Service access"))

    wdesc = f"{weights} contiguity, row-standardised"
    for frame, col, level in ((lsoa, "imd_score", "LSOA"), (msoa, "le_male", "MSOA"),
                              (msoa, "le_female", "MSOA")):
        lab = f"lisa_{col}"
        if lab not in frame.columns:
            continue
        perms = _permutations(manifest, level.lower(), col)
        m = lisa_map(frame, lab, label=describe(col).label,
                     weights_desc=wdesc, permutations=perms, correction=correction,
                     alpha=alpha, value_col=col, units=describe(col).units, **common)
        pages.append(Page(slug=f"lisa-{level.lower()}-{col.replace('_', '-')}",
                          title=f"LISA clusters: {describe(col).label} ({level})", map=m,
                          summary="Local Moran's I with conditional permutation inference.",
                          group="Spatial clusters"))
        gi = f"gi_{col}"
        if gi in frame.columns:
            m = gistar_map(frame, f"{gi}_z", label=describe(col).label,
                           weights_desc=wdesc, label_col=gi,
                           permutations=perms, correction=correction, alpha=alpha, **common)
            pages.append(Page(slug=f"gistar-{level.lower()}-{col.replace('_', '-')}",
                              title=f"Gi* hot and cold spots: {describe(col).label} ({level})",
                              map=m, summary="Getis-Ord Gi* with permutation inference.",
                              group="Spatial clusters"))

    cliffs = layers.get("cliffs")
    if cliffs is not None and len(cliffs):
        for sex in ("male", "female"):
            c = cliffs[cliffs["sex"] == sex]
            col = f"le_{sex}"
            if c.empty or col not in msoa.columns:
                continue
            m = cliffs_map(msoa, c, column=col, label=describe(col).label, top=20,
                           gradient_col="abs_diff", **common)
            sii = tables.get("model_sii")
            charts = []
            if sii is not None:
                row = sii[(sii["sex"] == sex) & (sii["level"] == "system")]
                groups = tables.get("model_sii_groups")
                if len(row) and groups is not None:
                    g = groups[(groups["sex"] == sex) & (groups["level"] == "system")]
                    charts.append(_sii_chart(g, col, row.iloc[0], sii_chart))
            if charts:
                add_chart_panel(m, charts, title="Inequality charts")
            pages.append(Page(slug=f"cliffs-le-{sex}", title=f"Health cliffs: {sex} life "
                              "expectancy", map=m, summary="The steepest differences in life "
                              "expectancy between neighbouring MSOAs, in years per mile.",
                              group="Life-expectancy models"))

    sources = []
    try:
        by_path = {s.path: s for s in load_sources()}
        for entry in manifest.get("inputs", {}).values():
            rel = next((p for p in by_path if str(entry.get("path", "")).endswith(p)), None)
            if rel:
                s = by_path[rel]
                sources.append({"name": s.title, "publisher": s.publisher, "licence": s.licence,
                                "attribution": s.attribution, "url": s.url or ""})
    except Exception as exc:  # the atlas still lists inputs from the manifest
        log.warning("could not read data/sources.yml: %s", exc)
    if not sources:
        sources = [{"name": k, "licence": "see SOURCES.md"} for k in manifest.get("inputs", {})]
    atlas_manifest = dict(manifest)
    atlas_manifest["inputs"] = [{"name": k, **v} for k, v in manifest.get("inputs", {}).items()]
    title = f"healthgap atlas: {area.ref.name}"
    intro = (f"{len(area.inside)} neighbourhoods (LSOAs) in {int(msoa['in_area'].sum())} MSOAs, "
             f"{len(area.place)} place(s). Life expectancy is published by MSOA; deprivation "
             "by LSOA.")
    return write_atlas(out_dir, pages=pages, manifest=atlas_manifest, sources=sources,
                       synthetic=synthetic, title=title, intro=intro)


def _group(col: str) -> str:
    if col.startswith("le_"):
        return "Life expectancy"
    if col.startswith(("imd_", *IMD_DOMAINS)):
        return "Deprivation"
    if col.startswith(("gp_", "hospital_")):
        return "Service access"
    return "Built environment"


def _permutations(manifest: dict[str, Any], level: str, col: str) -> int | None:
    res = manifest.get("results", {}).get("statistics", {}).get(f"lisa_{level}_{col}", {})
    p = res.get("permutations")
    return int(p) if p is not None else None


def _sii_chart(groups: pd.DataFrame, col: str, row: pd.Series, sii_chart: Any) -> Any:
    pts = groups.rename(columns={"quantile": "q"})
    return sii_chart(pts, slope=float(row["sii"]), intercept=float(row["intercept"]),
                     label=describe(col).label, units="years",
                     slope_ci=(float(row["sii_lo"]), float(row["sii_hi"])),
                     caption=f"{int(row['quantiles'])} population-weighted IMD groups of MSOAs; "
                             "line fitted by weighted least squares (PHE method).")
