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
from healthgap.geo.columns import COLUMNS
from healthgap.geo.indicators import IMD_DOMAINS, INDICATORS, describe
from healthgap.maps import PageOptions
from healthgap.maps.story import StoryInputs, story_html
from healthgap.services.results import StatisticsResults, WeightsUsed

from healthgap.errors import NothingToDrawError

log = logging.getLogger(__name__)

#: LSOA choropleths, in index order: (column, slug, summary).
LSOA_PAGES = [
    ("imd_score", "lsoa-imd-score",
     "Index of Multiple Deprivation 2019 score by small area (LSOA)."),
    ("imd_decile", "lsoa-imd-decile", "National IMD decile (1 = most deprived tenth of England)."),
    ("imd_decile_area", "lsoa-imd-decile-area",
     "IMD decile within this area (1 = the area's most deprived tenth)."),
    *[(f"{d}_decile", f"lsoa-{d.replace('_', '-')}-decile", f"IMD 2019 {label} domain decile.")
      for d, label in IMD_DOMAINS.items()],
    ("air_quality_ratio_sum", "lsoa-air-quality", "IMD air-quality indicator (NO2, PM, benzene, "
     "SO2 relative to limits)."),
    ("green_share", "lsoa-green-space", "Share of each small area's land that is green space "
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
    ("smr_all_causes_u75", "msoa-smr-under75", "Deaths under 75 from all causes by MSOA, "
     "standardised ratio (England = 100)."),
    ("smr_preventable_u75", "msoa-smr-preventable", "Deaths under 75 from causes considered "
     "preventable by MSOA, standardised ratio (England = 100)."),
    ("sar_emergency_all", "msoa-emergency-admissions", "Emergency hospital admissions by MSOA, "
     "standardised ratio (England = 100)."),
]

#: Neighbourhood choropleths (30-50k people; issue #14), drawn when the build has the level.
NEIGHBOURHOOD_PAGES = [
    ("core20_pct", "neighbourhood-core20", "Share of each neighbourhood's residents who live "
     "in Core20 LSOAs (England's 20% most deprived by IMD 2019)."),
    ("le_male_pwmean", "neighbourhood-le-male", "Male life expectancy by neighbourhood "
     "(population-weighted mean of its MSOAs, an approximation)."),
    ("le_female_pwmean", "neighbourhood-le-female", "Female life expectancy by neighbourhood "
     "(population-weighted mean of its MSOAs, an approximation)."),
]

#: Place choropleths.
PLACE_PAGES = [
    ("le_male_pwmean", "place-le-male", "Male life expectancy by place (population-weighted "
     "mean of its MSOAs)."),
    ("le_male_range", "place-le-male-gap", "Gap in male life expectancy between the highest "
     "and lowest MSOA of each place."),
]


LEVEL_WORDS = {"icb": "integrated care system", "sicb": "sub-ICB location",
               "lad": "local authority", "msoa": "small area", "england": "country"}
"""What a build's area is, in words (a local-authority build is not an "integrated care
system")."""


def _boundaries(area: StudyArea) -> dict[str, pd.DataFrame]:
    level = area.ref.level
    system_word = {"icb": "System (integrated care board)", "sicb": "Sub-ICB location",
                   "lad": "Local authority", "england": "England"}.get(level, "Area")
    out: dict[str, pd.DataFrame] = {}
    nbhd = getattr(area, "neighbourhood", None)  # issue #14's layer, where the build has it
    if isinstance(nbhd, pd.DataFrame) and len(nbhd) and "geometry" in nbhd.columns:
        out["Neighbourhoods"] = nbhd  # thinnest outline first
    out["Places (local authorities)"] = area.place
    if level != "lad":
        out[system_word] = area.system
    return out


def _period(cols: list[str]) -> str:
    periods = [describe(c).period for c in cols if describe(c).period]
    return "; ".join(dict.fromkeys(periods))


def build_atlas(area: StudyArea, *, out_dir: Path, layers: dict[str, pd.DataFrame],
                tables: dict[str, pd.DataFrame], manifest: dict[str, Any],
                england: dict[str, float], synthetic: bool,
                statistics: StatisticsResults | None, alpha: float, correction: str,
                data: Any = None) -> Path:
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
    statistics
        What each local statistic used (permutations, spatial weights), stated in the cluster
        maps' legends; None when the statistics did not run.
    alpha, correction
        The statistics' settings, stated in the cluster maps' legends.
    data
        The build's data directory (:class:`healthgap.data.layout.DataDir`), for ward names,
        postcodes and whole local-authority populations; None leaves them out.

    Raises
    ------
    NothingToDrawError
        When no page can be drawn (too few areas with a value for any map).
    """
    from healthgap.maps.atlas import write_atlas

    pages: list[Any] = []
    skipped: list[str] = []
    base = PageOptions(boundaries=_boundaries(area), synthetic=synthetic)
    ctx = _Pages(area, england, base, pages)
    for col, slug, summary in LSOA_PAGES:
        ctx.choropleth(area.lsoa, col, slug, summary)
    for col, slug, summary in MSOA_PAGES:
        ctx.choropleth(area.msoa, col, slug, summary, system_col=COLUMNS.of(col, "pwmean"))
        ctx.versus_england(area.msoa, col, f"{slug}-vs-england")
    nbhd = getattr(area, "neighbourhood", None)
    if nbhd is not None and "core20_share" in nbhd.columns:
        nbhd = nbhd.assign(core20_pct=100 * nbhd["core20_share"])  # drawn as a percentage
    for col, slug, summary in NEIGHBOURHOOD_PAGES if nbhd is not None else []:
        ctx.choropleth(nbhd, col, slug, summary)
    for col, slug, summary in PLACE_PAGES:
        ctx.choropleth(area.place, col, slug, summary)
    ctx.access(layers.get("facilities"))
    ctx.extras()
    skipped += ctx.clusters(statistics, alpha, correction)
    ctx.cliffs(layers.get("cliffs"), tables)

    if not pages:
        raise NothingToDrawError(f"atlas of {area.ref.name}: no page could be drawn")
    link_static_images(pages, out_dir.parent / "report" / "maps")
    sources = _sources(manifest)
    atlas_manifest = dict(manifest)
    atlas_manifest["inputs"] = [{"name": k, **v} for k, v in manifest.get("inputs", {}).items()]
    title = f"healthgap atlas: {area.ref.name}"
    word = LEVEL_WORDS.get(area.ref.level, "area")
    intro = (f"{area.ref.name} ({word}): {len(area.inside)} LSOAs in "
             f"{int(area.msoa['in_area'].sum())} MSOAs, {len(area.place)} place(s). Life "
             "expectancy is published by MSOA; deprivation by LSOA.")
    from healthgap.geo.england import ONS_REFERENCE
    from healthgap.services.atlas_index import place_population, search_index

    story = StoryInputs(
        area_name=area.ref.name, level_word=word, msoa=area.msoa, place=area.place,
        system=area.system, sii=tables.get("model_sii"),
        neighbourhood=getattr(area, "neighbourhood", None), england=england,
        gradient=tables.get("model_gradient_vs_england"),
        notes=list(area.notes), sources=sources,
        period=_periods(manifest.get("vintage")),
        synthetic=synthetic, sii_vs_england=tables.get("model_sii_vs_england"),
        place_population=place_population(data, area.place.index),
        ons_reference=ONS_REFERENCE,
    )
    index = search_index(area, data, layers.get("facilities"))
    return write_atlas(out_dir, pages=pages, manifest=atlas_manifest, sources=sources,
                       synthetic=synthetic, title=title, intro=intro,
                       story_html=story_html(story), skipped=skipped, search_index=index,
                       whatif_href="whatif.html" if (out_dir / "whatif.html").exists() else None,
                       **_vintage_methods(manifest.get("vintage")))


def _periods(vintage: dict[str, Any] | None) -> list[str]:
    """Return the story page's data periods (the build's vintage where recorded)."""
    if not vintage or vintage.get("name") == "2019":
        out = [f"Life expectancy {describe('le_male').period}",
               f"deprivation {describe('imd_score').period}",
               f"population {describe('population').period}"]
        return out + ([f"geography: {vintage['label']}"] if vintage else [])
    return [f"Life expectancy {vintage['life_expectancy']}",
            f"deprivation {vintage['deprivation_period']}",
            f"population {vintage['population']} ({vintage['population_period']})",
            f"geography: {vintage['label']}"]


def _vintage_methods(vintage: dict[str, Any] | None) -> dict[str, str]:
    """Return the methods note with a paragraph on the build's geography vintage."""
    from html import escape as _esc

    from healthgap.maps.atlas import METHODS_NOTE

    if not vintage:
        return {}
    return {"methods_html": METHODS_NOTE + (
        f"<p><b>Geography.</b> {_esc(vintage['label'])}. Life expectancy: "
        f"{_esc(vintage['life_expectancy'])}. Deprivation: "
        f"{_esc(vintage['deprivation_period'])}. Population weight: "
        f"{_esc(vintage['population'])}.</p>")}


def link_static_images(pages: list[Any], folder: Path) -> None:
    """Link each map page to its print image (``report/maps/<slug>.png``) where one was drawn."""
    for page in pages:
        m = getattr(page, "map", None)
        if m is not None and (folder / f"{page.slug}.png").is_file():
            m.print_href = f"../{folder.parent.name}/{folder.name}/{page.slug}.png"


class _Pages:
    """Adds the atlas pages of one build to a list (one method per kind of page)."""

    def __init__(self, area: StudyArea, england: dict[str, float], base: PageOptions,
                 pages: list[Any]) -> None:
        self.area, self.england, self.base, self.pages = area, england, base, pages

    def page(self, cols: list[str], title: str) -> PageOptions:
        """Return page options with the indicator, the area and the period in the title."""
        period = _period(cols)
        return self.base.with_(title=f"{title}, {self.area.ref.name}"
                               + (f", {period}" if period else ""),
                               subtitle=describe(cols[0]).source)

    def compare(self, col: str, system_col: str | None = None) -> dict[str, float]:
        out: dict[str, float] = {}
        if col == "core20_pct" and "core20_share" in self.england:
            out["England"] = 100 * self.england["core20_share"]
            system_col = system_col or "core20_share"
        if col in self.england:
            out["England"] = self.england[col]
        sys_col = system_col or col
        system = self.area.system
        scale = 100.0 if col == "core20_pct" else 1.0
        if sys_col in system.columns and system[sys_col].notna().any():
            out[f"This {LEVEL_WORDS.get(self.area.ref.level, 'area')}"] = scale * float(
                system[sys_col].iloc[0])
        return out

    def choropleth(self, frame: pd.DataFrame, col: str, slug: str, summary: str,
                   system_col: str | None = None) -> None:
        from healthgap.maps.atlas import Page
        from healthgap.maps.choropleth import Classing, choropleth

        if col not in frame.columns or frame[col].notna().sum() < 2:
            return
        ind = describe(col)
        # ranks in deciles of England's LSOAs; standardised ratios with a class edge at 100
        classing = Classing(rank_total=32844 if col.endswith("_rank") else None,
                            pivot=100.0 if col.startswith(("smr_", "sar_")) else None)
        # the build has the interval: the tooltips give it
        m = choropleth(frame, col, indicator=ind, classing=classing,
                       compare=self.compare(col, system_col) or None,
                       ci=_interval_columns(frame, col), page=self.page([col], ind.label))
        self.pages.append(Page(slug=slug, title=ind.label, map=m, summary=summary,
                               group=_group(col)))

    def versus_england(self, frame: pd.DataFrame, col: str, slug: str) -> None:
        """Add the England-relative view of a life expectancy or outcome ratio."""
        from healthgap.maps.atlas import Page
        from healthgap.maps.england_view import england_relative_map

        if col not in frame.columns or frame[col].notna().sum() < 2 or col not in self.england:
            return
        ind = describe(col)
        ci = _interval_columns(frame, col)
        title = f"{ind.label} compared with England"
        m = england_relative_map(frame, col, indicator=ind, england=self.england[col], ci=ci,
                                 page=self.page([col], title))
        england = ("100" if col.startswith(("smr_", "sar_"))
                   else f"{self.england[col]:.1f} years")
        self.pages.append(Page(slug=slug, title=title, map=m, group=_group(col),
                               summary=f"Each small area's difference from England's {england}, "
                               "on the same classes everywhere (dark red = worse than "
                               "England, blue = better)."))

    def extras(self) -> None:
        """Add the bivariate deprivation × life-expectancy maps and the IMD domains page."""
        from healthgap.maps.atlas import Page
        from healthgap.maps.bivariate import bivariate_map
        from healthgap.maps.multiples import MAX_AREAS, imd_domains_page

        msoa = self.area.msoa
        for sex in ("male", "female"):
            col = f"le_{sex}"
            if {"imd_score", col} <= set(msoa.columns) and msoa[col].notna().sum() >= 9:
                words = describe(col).words
                title = f"Deprivation and {words}"
                m = bivariate_map(msoa, x_col="imd_score", y_col=col,
                                  page=self.page(["imd_score", col], title))
                self.pages.append(Page(slug=f"bivariate-imd-le-{sex}", title=title, map=m,
                                       summary="Thirds of deprivation against thirds of "
                                       f"{words}: where the two go together and where not.",
                                       group="Life expectancy"))
        lsoa = self.area.lsoa
        cols = [f"{d}_decile" for d in IMD_DOMAINS]
        if set(cols) <= set(lsoa.columns) and len(self.area.inside) <= MAX_AREAS:
            self.pages.append(imd_domains_page(lsoa, area_name=self.area.ref.name))

    def access(self, facilities: pd.DataFrame | None) -> None:
        from healthgap.maps.access import access_map
        from healthgap.maps.atlas import Page

        lsoa = self.area.lsoa
        for kind in ("gp", "hospital"):
            col = f"{kind}_time_min"
            if facilities is None or col not in lsoa.columns or not lsoa[col].notna().any():
                continue
            fac = facilities[facilities["kind"] == kind]
            ind = describe(col)
            m = access_map(lsoa, col, fac, indicator=ind, page=self.page([col], ind.label))
            if kind == "gp":
                m.links.append(("whatif.html", "What if a practice closes or opens"))
            self.pages.append(Page(slug=f"access-{kind}", title=ind.label, map=m,
                                   summary="Network drive time from each small area's "
                                   "population-weighted centre; facilities as markers. The "
                                   "what-if page (written by `healthgap whatif`) uses the "
                                   "same colours and classes.",
                                   group="Service access"))

    def clusters(self, statistics: StatisticsResults | None, alpha: float,
                 correction: str) -> list[str]:
        from healthgap.maps.atlas import Page
        from healthgap.maps.clusters import gistar_map, lisa_map, same_pattern

        skipped: list[str] = []
        if statistics is None:
            return skipped

        def method_page(col: str, title: str, weights: WeightsUsed,
                        permutations: int) -> PageOptions:
            """Return the page options of a cluster map, with the method behind its statistic."""
            return self.page([col], title).with_(
                weights=_weights_words(weights), permutations=permutations,
                correction=correction, alpha=alpha)

        for frame, col, level in _cluster_targets(self.area):
            lab = COLUMNS.of(col, "lisa")
            run = statistics.find(level.lower(), col)
            if lab not in frame.columns or col not in frame.columns or run is None:
                continue
            ind = describe(col)
            p_col = _column_if_present(frame, COLUMNS.of(col, "lisa_p"))
            title = f"Clusters of {ind.words} ({level}s)"
            page = method_page(col, title, run.weights, run.permutations)
            m = lisa_map(frame, lab, indicator=ind, value_col=col, p_col=p_col, page=page)
            slug = f"lisa-{level.lower()}-{col.replace('_', '-')}"
            self.pages.append(Page(slug=slug, title=title, map=m,
                                   summary="Local Moran's I: small areas alike their "
                                   "neighbours (clusters of high or low values) or unlike them "
                                   "(outliers), beyond chance.", group="Spatial clusters"))
            gi, gz = COLUMNS.of(col, "gi"), COLUMNS.of(col, "gi_z")
            if gi not in frame.columns or gz not in frame.columns:
                continue
            inside = frame[frame["in_area"].astype(bool)] if "in_area" in frame else frame
            if same_pattern(inside[lab], inside[gi]):
                skipped.append(f"Gi* hot and cold spots of {ind.words} ({level}s) are not drawn: "
                               "they mark exactly the areas of the local Moran's I clusters.")
                continue
            gp = _column_if_present(frame, COLUMNS.of(col, "gi_p"))
            title = f"Hot and cold spots of {ind.words} ({level}s)"
            page = method_page(col, title, run.gi_weights, run.gi_permutations)
            m = gistar_map(frame, gz, indicator=ind, label_col=gi, p_col=gp, value_col=col,
                           page=page)
            self.pages.append(Page(slug=f"gistar-{level.lower()}-{col.replace('_', '-')}",
                                   title=title, map=m, summary="Getis-Ord Gi*: groups of areas, "
                                   "each area counted with its neighbours, whose values "
                                   "together are high or low beyond chance. It can differ from "
                                   "the local Moran's I map: it does not ask whether an area "
                                   "is like its neighbours.",
                                   group="Spatial clusters"))
        return skipped

    def cliffs(self, cliffs: pd.DataFrame | None, tables: dict[str, pd.DataFrame]) -> None:
        from healthgap.maps.atlas import Page
        from healthgap.maps.charts import add_chart_panel, sii_chart
        from healthgap.maps.cliffs import cliffs_map

        msoa = self.area.msoa
        if cliffs is None or not len(cliffs):
            return
        for sex in ("male", "female"):
            c = cliffs[cliffs["sex"] == sex]
            col = f"le_{sex}"
            if c.empty or col not in msoa.columns:
                continue
            ind = describe(col)
            title = f"Life-expectancy cliffs: {ind.words}"
            verdict = None
            if "cliff" in c.columns and "p_value" in c.columns:
                from healthgap.geo.verdicts import cliffs_verdict

                verdict = cliffs_verdict(int(c["cliff"].sum()), len(c),
                                         n_raw=int((c["p_value"] < 0.05).sum()),
                                         alpha=0.05).sentence
            m = cliffs_map(msoa, c, column=col, indicator=ind, top=20,
                           gradient_col="abs_diff", page=self.page([col], title),
                           cliff_col="cliff" if "cliff" in c.columns else None,
                           verdict=verdict)
            sii = tables.get("model_sii")
            groups = tables.get("model_sii_groups")
            if sii is not None and groups is not None:
                row = sii[(sii["sex"] == sex) & (sii["level"] == "system")]
                g = groups[(groups["sex"] == sex) & (groups["level"] == "system")]
                if len(row) and len(g):
                    add_chart_panel(m, [_sii_chart(g, col, row.iloc[0], sii_chart)],
                                    title="Inequality chart")
            self.pages.append(Page(slug=f"cliffs-le-{sex}", title=title, map=m,
                                   summary="The largest differences in life expectancy "
                                   "between neighbouring small areas (MSOAs), in years; only "
                                   "borders passing a 5% false discovery rate are drawn as "
                                   "cliffs.",
                                   group="Life-expectancy models"))


def _interval_columns(frame: pd.DataFrame, col: str) -> tuple[str, str] | None:
    """Return the 95% interval columns of ``col`` when the build has them, else None."""
    for lo, hi in ((f"{col}_lo", f"{col}_hi"), (f"{col}_lci", f"{col}_uci")):
        if lo in frame.columns and hi in frame.columns and frame[lo].notna().any():
            return lo, hi
    return None


def _sources(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    from healthgap.data.fetch import load_sources

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
    return sources


def _group(col: str) -> str:
    if col.startswith("le_"):
        return "Life expectancy"
    if col.startswith(("imd_", *IMD_DOMAINS)):
        return "Deprivation"
    if col.startswith(("gp_", "hospital_")):
        return "Service access"
    return "Built environment"


#: The cluster maps every build draws, when their columns are there: (level, indicator).
CLUSTER_PAGES = (("lsoa", "imd_score"), ("msoa", "imd_score"), ("msoa", "le_male"),
                 ("msoa", "le_female"))


def _cluster_targets(area: StudyArea) -> list[tuple[pd.DataFrame, str, str]]:
    """Return (frame, indicator, level word) of each cluster map.

    The fixed ones first, then any catalogue entry registered with ``stat_levels``
    (`geo.indicators.Indicator`).
    """
    wanted = list(CLUSTER_PAGES)
    wanted += [(level, e.name) for e in INDICATORS.values() for level in e.stat_levels
               if (level, e.name) not in wanted]
    out = []
    for level, col in wanted:
        frame = getattr(area, level, None)
        if frame is not None:
            out.append((frame, col, level.upper()))
    return out


def _column_if_present(frame: pd.DataFrame, column: str) -> str | None:
    """Return ``column`` if ``frame`` has it, else None."""
    return column if column in frame.columns else None


def _weights_words(w: WeightsUsed) -> str:
    from healthgap.maps.clusters import weights_sentence

    return weights_sentence(w.kind, transform=w.transform, k=w.k, threshold_m=w.threshold_m,
                            points=w.points, self_included=w.self_included)


def _sii_chart(groups: pd.DataFrame, col: str, row: pd.Series, sii_chart: Any) -> Any:
    pts = groups.rename(columns={"quantile": "q"})
    lo, hi = ("sii_lo", "sii_hi") if "sii_lo" in row.index else ("sii_lci", "sii_uci")
    return sii_chart(pts, slope=float(row["sii"]), intercept=float(row["intercept"]),
                     label=describe(col).label, units="years",
                     slope_ci=(float(row[lo]), float(row[hi])),
                     caption=f"{int(row['quantiles'])} population-weighted IMD groups of MSOAs; "
                             "line fitted by weighted least squares (PHE method).")
