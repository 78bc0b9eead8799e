"""The build's stages: each reads the build so far and returns a new, extended one.

`services.build.build` runs them in order (`_stage_area` on the setup, then each stage on the
result of the one before); the write stage joins the computed columns and assembles the
layers of the GeoPackage.
"""

from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from cachetools import LRUCache, cached
from healthgap.data import contracts, readers, sha256_file
from healthgap.data.cache import file_key
from healthgap.data.layout import DataDir
from healthgap.data.vintages import Vintage, get_vintage
from healthgap.geo.areas import LEVELS, StudyArea, select_area
from healthgap.geo.hierarchy import AreaRef, Hierarchy
from healthgap.geo.layers import (
    england_comparators,
    national_msoa,
    with_imd,
    with_life_expectancy,
    with_rollups,
)
from healthgap.services.build_options import BuildOptions
from healthgap.services.features import write_feature_files
from healthgap.services.results import StatisticsResults
from healthgap.services.store import BuildStore, StagedBuild, pause_point
from healthgap.services.vintage_inputs import VintageInputs, cached_hierarchy

from healthgap.errors import (
    LayerClashError,
    MissingColumnError,
    NothingToDrawError,
)

log = logging.getLogger(__name__)

#: Packages whose versions every manifest records.
VERSIONED = ("healthgap", "numpy", "pandas", "scipy", "geopandas", "shapely", "pyogrio",
             "pyproj", "libpysal", "esda", "spreg", "mgwr", "access", "osmnx", "networkx",
             "rasterio", "exactextract", "numba", "statsmodels", "folium", "mapclassify")


def package_versions() -> dict[str, str]:
    """Return the versions of Python and the packages a result depends on."""
    from healthgap.geo import package_versions as versions

    return {"python": platform.python_version(), **versions(*VERSIONED)}


def load_area(data: DataDir, ref: AreaRef, hierarchy: Hierarchy, *, ring: int = 1,
              max_loss: float = 0.0, vintage: str | Vintage = "2019",
              allow_incomplete: bool = False) -> StudyArea:
    """Read the boundaries, population and centres an area needs and select it.

    Only the features near the area are read from the national boundary files (a box around
    the area's LSOA centres, 10 km wider than the ring needs). The boundary files must cover
    every LSOA and MSOA of the area (their `data.contracts.COVERAGE`): a shortfall is refused
    naming the file and the first missing codes, or with ``allow_incomplete`` reported in the
    join report and the notes (and those areas left out).
    """
    vin = VintageInputs(data, get_vintage(vintage))
    centroids = vin.centroids()
    bbox = None
    if ref.level != "england":
        codes = hierarchy.lsoas_in(ref)
        c = centroids.reindex(codes).dropna(subset=["pw_x", "pw_y"])
        if len(c) == len(codes):
            margin = 10_000.0 * max(ring, 1)
            bbox = (c["pw_x"].min() - margin, c["pw_y"].min() - margin,
                    c["pw_x"].max() + margin, c["pw_y"].max() + margin)
    lsoa_b, lsoa_rep = readers.read_boundaries(vin.path("lsoa_boundaries"), level="lsoa",
                                               bbox=bbox)
    msoa_path = vin.optional("msoa_boundaries")
    msoa_b = None
    if msoa_path is not None:
        msoa_b, _ = readers.read_boundaries(msoa_path, level="msoa", bbox=bbox)
    universe = contracts.universe_from(hierarchy.frame, area_lsoas=hierarchy.lsoas_in(ref))
    short = [s for s in (contracts.check_coverage(contracts.COVERAGE[key], path, frame.index,
                                                  universe)
                         for key, path, frame in (("lsoa_boundaries",
                                                   vin.path("lsoa_boundaries"), lsoa_b),
                                                  ("msoa_boundaries", msoa_path, msoa_b))
                         if frame is not None and path is not None) if s is not None]
    if short and not allow_incomplete:
        contracts.refuse(short)
    # asked to go on: the missing boundaries are a loss the join may take
    lost = max([len(s.missing) / s.expected for s in short] + [0.0])
    area = select_area(hierarchy, lsoa_b, ref, population=vin.population(),
                       centroids=centroids, msoa_boundaries=msoa_b, ring=ring,
                       max_loss=max(max_loss, min(lost + 1e-9, 0.999)))
    area = with_shortfalls(area, short)
    if lsoa_rep.repaired:
        area = area.with_notes(f"{len(lsoa_rep.repaired)} LSOA geometr(y/ies) repaired with "
                               f"make_valid: {', '.join(lsoa_rep.repaired[:10])}")
    return area


def with_shortfalls(area: StudyArea, shortfalls: list[contracts.Shortfall]) -> StudyArea:
    """Return ``area`` with incomplete inputs in its join report and one note (story page)."""
    if not shortfalls:
        return area
    return area.with_report(pd.concat([s.report_rows() for s in shortfalls],
                                      ignore_index=True)).with_notes(contracts.note(shortfalls))



@dataclass(frozen=True, eq=False)
class _Setup:
    """What every stage reads and none changes: options, inputs, hierarchy, area, staging."""

    options: BuildOptions
    data: DataDir
    hierarchy: Hierarchy
    ref: AreaRef
    staged: StagedBuild
    extra_manifest: Mapping[str, Any]
    vin: VintageInputs
    shortfalls: tuple[contracts.Shortfall, ...] = field(default=(), kw_only=True)


@dataclass(frozen=True, eq=False)
class _Ctx(_Setup):
    """The build between two stages: each stage returns a new one and leaves its input as it was.

    ``area`` is always there (the first stage selects it). The columns the statistics and the
    models computed for the area's levels wait in ``columns`` as ``(source, {level: table})``
    until the write stage joins them into the area, in one step, before assembling the layers.
    ``national`` is England's MSOA frame and its members, once read.
    """

    area: StudyArea
    inputs: Mapping[str, Path] = field(default_factory=dict)
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    layers: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    columns: tuple[tuple[str, Mapping[str, pd.DataFrame]], ...] = ()
    results: Mapping[str, Any] = field(default_factory=dict)
    statistics: StatisticsResults | None = None
    england: Mapping[str, float] = field(default_factory=dict)
    national: tuple[pd.DataFrame, pd.DataFrame] | None = None
    manifest: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Path] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    peak_mb: Mapping[str, float] = field(default_factory=dict)
    #: the models running beside the statistics at England scale (services._background)
    background: Any = None
    #: layers already written (`_write_ahead`) and how many ``columns`` entries they hold
    ahead: tuple[tuple[str, ...], int] = ((), 0)

    def add(self, *, area: StudyArea | None = None, inputs: Mapping[str, Path] | None = None,
            tables: Mapping[str, pd.DataFrame] | None = None,
            layers: Mapping[str, pd.DataFrame] | None = None,
            results: Mapping[str, Any] | None = None, notes: Iterable[str] = (),
            outputs: Mapping[str, Path] | None = None) -> _Ctx:
        """Return a new context with ``area`` (when given), these entries and notes added.

        An entry whose name is already there replaces it in place (as `dict.update` would):
        England's ``model_sii`` extends the models' table of that name, for example.
        """
        return replace(self, area=(self.area if area is None else area).with_notes(*notes),
                       inputs={**self.inputs, **(inputs or {})},
                       tables={**self.tables, **(tables or {})},
                       layers={**self.layers, **(layers or {})},
                       results={**self.results, **(results or {})},
                       outputs={**self.outputs, **(outputs or {})})


Stage = Callable[[_Ctx], _Ctx]


def _stage_area(setup: _Setup) -> _Ctx:
    o, vin = setup.options, setup.vin
    inputs = {role: vin.path(role) for role in ("lsoa_lookup", "icb_lookup",
                                                "lsoa_boundaries", "population", "centroids")}
    if (p := vin.optional("msoa_boundaries")) is not None:
        inputs["msoa_boundaries"] = p
    if o.footprint is not None:
        inputs["footprint"] = Path(o.footprint)
    area = load_area(setup.data, setup.ref, setup.hierarchy, ring=o.ring, max_loss=o.max_loss,
                     vintage=vin.vintage, allow_incomplete=o.allow_incomplete)
    area = with_shortfalls(area, list(setup.shortfalls))
    footprint = getattr(setup.hierarchy, "footprint", None)
    if footprint is not None:
        from healthgap.geo.footprint import footprint_notes

        area = area.with_notes(*footprint_notes(footprint, area.inside))
    return _Ctx(**{f.name: getattr(setup, f.name) for f in fields(_Setup)}, area=area,
                inputs=inputs)


def _stage_layers(ctx: _Ctx) -> _Ctx:
    from healthgap.services import _background

    if ctx.options.models and _background.wanted(ctx.area):
        # England: the models' child starts now and imports while this stage joins
        ctx = replace(ctx, background=_background.BackgroundModels())
    try:
        return _join_layers(ctx)
    except BaseException:
        if ctx.background is not None:
            ctx.background.cancel()
        raise


def _join_layers(ctx: _Ctx) -> _Ctx:
    o, vin = ctx.options, ctx.vin
    ctx = ctx.add(inputs={"imd": vin.path("imd"),
                          "life_expectancy": vin.path("life_expectancy")})
    imd = vin.imd()
    le = vin.life_expectancy()
    area = with_imd(ctx.area, imd, max_loss=o.max_loss)
    area = with_rollups(with_life_expectancy(area, le, max_loss=o.max_loss))
    population = vin.population()
    ctx = replace(ctx, area=area,
                  england=england_comparators(imd, le, population, ctx.hierarchy))
    ctx = _carry_notes(ctx)
    ctx = _stage_neighbourhoods(ctx, imd, population)
    # England by the same method as the area (every English MSOA from all its LSOAs)
    return _stage_outcomes(replace(ctx, national=national_frames(ctx.data, vin.vintage)))


def _carry_notes(ctx: _Ctx) -> _Ctx:
    """Report how life expectancy reached a vintage's areas (every LSOA not carried 1:1)."""
    from healthgap.geo.carry import carry_summary

    carried = ctx.vin.carried()
    if carried is None:
        return ctx
    report, note, results = carry_summary(carried, ctx.area.inside.index)
    return ctx.add(area=ctx.area.with_report(report).with_notes(note),
                   inputs={k: ctx.vin.path(k) for k in
                           ("carry_lookup", "carry_population", "carry_lsoa_lookup")},
                   results={"life_expectancy_carry": results})


_NATIONAL_INPUTS = ("lsoa_lookup", "icb_lookup", "imd", "life_expectancy", "population",
                    "centroids")  # centres: the SII's spatial block bootstrap (issue #23)


def _national_paths(data: DataDir, vintage: Vintage) -> tuple[Path, ...]:
    vin = VintageInputs(data, vintage)
    return tuple(vin.path(k) for k in _NATIONAL_INPUTS)


def national_frames(data: DataDir, vintage: str | Vintage = "2019"
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every English MSOA built from all its LSOAs, and its members (once per process).

    The frames are shared between builds (batch workers), so callers must not modify them.
    """
    v = get_vintage(vintage)
    return _cached_national(data.root, v.name, *_national_paths(data, v))


@cached(LRUCache(maxsize=2), key=lambda root, v, *paths: (v, *file_key(*paths)),
        lock=threading.Lock())
def _cached_national(root: Path, v: str, lookup: Path, icb: Path, imd: Path, le: Path,
                     pop: Path, centres: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    vin = VintageInputs(DataDir(root), get_vintage(v))
    return national_msoa(cached_hierarchy(root, v, lookup, icb), vin.imd(), vin.life_expectancy(),
                         vin.population(), centroids=vin.centroids())


@cached(LRUCache(maxsize=4), key=lambda root, v, *paths, seed: (v, *file_key(*paths), seed),
        lock=threading.Lock())
def _england_gap(root: Path, v: str, *paths: Path, seed: int) -> pd.DataFrame:
    """England's rows of the gap table (the same for every build with this seed)."""
    from healthgap.geo.outcomes import OUTCOMES, outcome_gap

    msoa, members = _cached_national(root, v, *paths)
    outcomes = VintageInputs(DataDir(root), get_vintage(v)).outcomes()
    return outcome_gap(msoa.join(outcomes[[c for c in OUTCOMES if c in outcomes]]), members,
                       columns=[*OUTCOMES, "le_male", "le_female"], seed=seed,
                       level="england", code="E92000001")


#: What a build's area is called in the tables, by the level it was resolved at.
AREA_LEVEL = {"icb": "system", "lad": "place", "sicb": "sicb", "england": "england"}


def _stage_outcomes(ctx: _Ctx) -> _Ctx:
    """Join the Local Health SMRs and admission ratios; the gap table for the area and England."""
    from healthgap.geo.outcomes import OUTCOMES, outcome_gap, with_outcomes

    try:
        outcomes = ctx.vin.outcomes()
    except MissingColumnError as exc:
        return ctx.add(notes=[f"outcomes beyond life expectancy not built: {exc}"])
    area = with_outcomes(ctx.area, outcomes, max_loss=ctx.options.max_loss)
    seed = ctx.options.seed
    cols = [*OUTCOMES, "le_male", "le_female"]
    parts = [outcome_gap(area.msoa, area.members, columns=cols, seed=seed,
                         level=AREA_LEVEL.get(area.ref.level, area.ref.level),
                         code=area.ref.code)]
    if area.ref.level != "england":
        v = ctx.vin.vintage
        parts.append(_england_gap(ctx.data.root, v.name, *_national_paths(ctx.data, v),
                                  seed=seed))
    return ctx.add(area=area, tables={"outcome_gap": pd.concat(parts, ignore_index=True)})


def choose_neighbourhoods(area: StudyArea, *, supplied: Path | None, registrations: Path | None,
                          epcn: Path | None, seed: int) -> Any:
    """Neighbourhoods from the best source available: supplied, PCN catchments, generated."""
    from healthgap.geo.neighbourhoods import (
        generate_neighbourhoods,
        pcn_lookup,
        validate_lookup,
    )

    if supplied is not None:
        return validate_lookup(readers.read_neighbourhood_lookup(supplied), area,
                               source="supplied", name=str(supplied))
    if registrations is not None and epcn is not None:
        reg, rep = readers.read_gp_registrations(registrations)
        nb = pcn_lookup(reg, readers.read_epcn(epcn), area, name=str(registrations))
        if rep.dropped:
            nb = nb.with_notes(
                f"{registrations}: {len(rep.dropped)} non-LSOA code(s) left out: "
                f"{', '.join(f'{k} ({v})' for k, v in list(rep.dropped.items())[:5])}")
        return nb
    return generate_neighbourhoods(area, seed=seed)


def _stage_neighbourhoods(ctx: _Ctx, imd: pd.DataFrame, population: pd.Series) -> _Ctx:
    """Attach the neighbourhood level (issue #14) and Core20 at every level."""
    import re

    from healthgap.geo.core20 import england_core20, with_core20
    from healthgap.geo.neighbourhoods import with_neighbourhoods

    o = ctx.options
    reg, epcn = ctx.data.optional("gp_registrations"), ctx.data.optional("epcn")
    footprint = getattr(ctx.hierarchy, "footprint", None)
    from_footprint = (footprint.neighbourhood_lookup()
                      if footprint is not None and o.neighbourhoods is None else None)
    if from_footprint is not None:
        from healthgap.geo.neighbourhoods import validate_lookup

        nb = validate_lookup(from_footprint, ctx.area, source="supplied", name=str(o.footprint))
    else:
        nb = choose_neighbourhoods(ctx.area, supplied=o.neighbourhoods, registrations=reg,
                                   epcn=epcn, seed=o.seed)
    inputs = {key: Path(p) for key, p in (("neighbourhoods", o.neighbourhoods),
                                          ("gp_registrations", reg), ("epcn", epcn))
              if p is not None and (key == "neighbourhoods" or nb.source == "pcn")}
    area = with_core20(with_neighbourhoods(ctx.area, nb))
    tables = {"neighbourhood_exceptions": nb.exceptions}
    if nb.shares is not None:
        tables["neighbourhood_pcn_shares"] = nb.shares
    pop_path = ctx.vin.path("population")
    year = re.search(r"mid-?(\d{4})", pop_path.name)
    eng = england_core20(imd, population)
    system = area.system
    results = {
        "neighbourhoods": {
            "source": nb.source, "parameters": nb.parameters,
            "count": int(len(area.neighbourhood)) if area.neighbourhood is not None else 0,
            "exceptions": int(len(nb.exceptions))},
        "core20": {
            "definition": ctx.vin.vintage.core20_definition,
            "population_year": year.group(1) if year else ctx.vin.vintage.population_period,
            "population_file": pop_path.name,
            "area_core20_pop": float(system["core20_pop"].sum()),
            "area_core20_share": float(system["core20_pop"].sum() / system["population"].sum()),
            "england_core20_share": eng["core20_share"]}}
    ctx = replace(ctx, england={**ctx.england, "core20_share": eng["core20_share"]})
    return ctx.add(area=area, inputs=inputs, tables=tables, results=results)


def _covering_osm(data: DataDir, area: StudyArea) -> Path | None:
    """Return the first OSM extract whose header box covers the area, if any."""
    from healthgap.data.osm import file_bounds

    box = area.inside.to_crs("EPSG:4326").total_bounds
    for path in data.osm_files():
        b = file_bounds(path)
        if b and b[0] <= box[0] and b[1] <= box[1] and b[2] >= box[2] and b[3] >= box[3]:
            return path
    return None


def _stage_access(ctx: _Ctx) -> _Ctx:
    """Join IMD's own access/environment indicators; route to services; summarise rasters."""
    from healthgap.geo.raster import zonal_stats

    ctx = _imd_indicators(ctx)
    if not ctx.options.access:
        return ctx.add(notes=["service-access layers not built (--no-access)"])
    osm = _covering_osm(ctx.data, ctx.area)
    if osm is None:
        ctx = ctx.add(notes=["no OSM extract in the data directory covers the area: network "
                             "access and OSM features not built"
                             + (" (IMD's own road distances to services are joined instead)"
                                if ctx.vin.vintage.carry is None else "")])
    else:
        ctx = _osm_features(_network_access(ctx.add(inputs={f"osm/{osm.name}": osm}), osm), osm)
    area, inputs = ctx.area, {}
    for raster in ctx.data.rasters():
        inputs[f"environment/{raster.name}"] = raster
        area = area.with_columns("lsoa", zonal_stats(raster, area.lsoa),
                                 source=f"raster {raster.name}")
    return ctx.add(area=area, inputs=inputs)


def _imd_indicators(ctx: _Ctx) -> _Ctx:
    """Join the IoD2019 access and environment indicators to the LSOAs, when in the inputs."""
    from healthgap.data.access_inputs import read_imd_indicators
    from healthgap.geo.layers import with_lsoa_indicators

    if ctx.vin.vintage.carry is not None:
        return ctx.add(notes=[f"{ctx.vin.vintage.deprivation} underlying indicators have no road "
                              "distances or air-quality components in this copy: the IMD "
                              "access and environment columns are not joined"])
    if (p := ctx.data.optional("imd_indicators")) is None:
        return ctx
    area = ctx.area
    # every LSOA of every MSOA gets them too, so MSOAs are rolled up from all their LSOAs
    # (geo.areas.SPLIT_MSOA_RULE, issue #23)
    ind = read_imd_indicators(p, codes=list(area.lsoa.index.union(area.members.index)))
    area = with_lsoa_indicators(area, ind, name="imd_indicators",
                                max_loss=ctx.options.max_loss)
    return ctx.add(area=area, inputs={"imd_indicators": p})


def _network_access(ctx: _Ctx, osm: Path) -> _Ctx:
    """Route every LSOA to its GP practices and hospitals on the OSM road network."""
    from healthgap.geo.access import ServiceAccess
    from healthgap.geo.facilities import read_facilities
    from healthgap.geo.network import read_network

    o, area = ctx.options, ctx.area
    kinds, inputs, tables = [], {}, {}
    if (gp := ctx.data.optional("gp_practices")) is not None:
        inputs.update({"gp_practices": gp, **ctx.vin.paths("gp_list_sizes", "epcn")})
        read = ctx.vin.gp_practices()
        kinds.append(read.facilities)
        tables["facility_report_gp"] = read.report
    if (hosp := ctx.data.optional("hospitals")) is not None:
        inputs["hospitals"] = hosp
        read = read_facilities(hosp, kind="hospital", name="hospital_name")
        kinds.append(read.facilities)
        tables["facility_report_hospital"] = read.report
    ctx = ctx.add(inputs=inputs, tables=tables)
    if not kinds:
        return ctx
    window = area.lsoa.total_bounds + np.array([-1, -1, 1, 1]) * o.facility_buffer_m
    fac = pd.concat(kinds)
    fac = fac.cx[window[0]:window[2], window[1]:window[3]]
    graph = read_network(osm, bounds=area.lsoa, mode="drive",
                         cache_dir=Path(o.out_dir).parent / ".healthgap-cache",
                         tmp_dir=ctx.staged.staging)  # a half-written extract goes with it
    acc = ServiceAccess(max_snap_m=o.max_snap_m).fit(area.lsoa, fac, graph)
    area = area.with_columns("lsoa", acc.result_, source="service access")
    facilities = fac.join(acc.facility_status_[["routable", "snap_m"]],
                          on="code") if "code" in fac else fac
    unrouted = acc.result_.loc[area.lsoa["in_area"]].filter(like="_access_reason")
    results = {"access": {"network": osm.name, "mode": "drive",
                          "facilities": {k: int(v) for k, v in fac["kind"].value_counts().items()},
                          "max_snap_m": o.max_snap_m,
                          "unrouted_lsoa_in_area": int(unrouted.notna().any(axis=1).sum())}}
    return ctx.add(area=area, layers={"facilities": facilities}, results=results)


def _osm_features(ctx: _Ctx, osm: Path) -> _Ctx:
    """Join each LSOA's green-space share and outlet density from the OSM extract."""
    from healthgap.data.osm_features import read_osm_features
    from healthgap.geo.osm_features import green_space_share, outlet_density

    feats = read_osm_features(osm)
    area = ctx.area
    for what, table in (("green space", green_space_share(feats, area.lsoa)),
                        ("outlet density", outlet_density(feats, area.lsoa))):
        area = area.with_columns("lsoa", table, source=what)
    return ctx.add(area=area)


#: The layers no model changes (the models add columns to MSOAs only). A large build writes
#: them, with their GeoJSON, while its models' child finishes (`_write_ahead`); the write stage
#: writes the rest in the same order, so the GeoPackage is the one writing in turn gives.
AHEAD_LAYERS = ("lsoa",)
#: How a large build splits `services.analysis.MODEL_PARTS`: the child started beside the
#: statistics fits the last parts (SII tables, Shapley, the spatial regression); this process
#: fits the first (cliffs) after the statistics and `AHEAD_LAYERS`, so both finish about
#: together, and joins them in order (`services.analysis.Outputs.extend`).
HERE_PARTS = ("cliffs",)
BACKGROUND_PARTS = ("inequality", "shapley", "regression", "distance")


def _stage_statistics(ctx: _Ctx) -> _Ctx:
    """Global and local autocorrelation (geo/autocorrelation, geo/local)."""
    from healthgap.services import _background
    from healthgap.services.analysis import run_statistics

    o = ctx.options
    # at England scale the models run in a second process meanwhile (identical results); this
    # process writes the layers they leave alone once the statistics are done (`_stage_models`)
    # (a failure in any stage stops the child: `services.build._run_stages`)
    bg = ctx.background
    if bg is not None:
        bg.submit(ctx.area, seed=o.seed, weights=o.weights, wording=ctx.vin.vintage.wording,
                  parts=BACKGROUND_PARTS)
    with _background.one_thread() if bg is not None else nullcontext():
        out = run_statistics(ctx.area, weights=o.weights, permutations=o.permutations,
                             seed=o.seed, alpha=o.alpha, correction=o.correction)
    ctx = replace(ctx, columns=(*ctx.columns, ("spatial statistics", out.columns)),
                  statistics=out.statistics, background=bg)
    return ctx.add(tables=out.tables, results={"statistics": out.results}, notes=out.notes)


def _stage_models(ctx: _Ctx) -> _Ctx:
    """Fit the life-expectancy models (geo/gradients, inequality, regression).

    At England scale the child the statistics stage started fits `BACKGROUND_PARTS`; this
    process writes `AHEAD_LAYERS` and fits `HERE_PARTS` meanwhile, so this stage's time
    includes that part of the writing.
    """
    from healthgap.services.analysis import run_models

    if not ctx.options.models:
        return ctx.add(notes=["life-expectancy models not fitted (--no-models)"])
    o = ctx.options
    if ctx.background is not None:
        # the layers the models leave alone are written while the child fits its parts (a
        # failure here stops the child: `services.build._run_stages`)
        ctx = _write_ahead(ctx)
        here = run_models(ctx.area, seed=o.seed, weights=o.weights, parts=HERE_PARTS)
        out = here.extend(ctx.background.result())
    else:
        out = run_models(ctx.area, seed=o.seed, weights=o.weights)
    ctx = replace(ctx, columns=(*ctx.columns, ("life-expectancy models", out.columns)),
                  background=None)
    ctx = ctx.add(layers=out.layers, tables=out.tables, results={"models": out.results},
                  notes=out.notes)
    if ctx.national is not None:
        from healthgap.services.analysis import run_england

        eng = run_england(*ctx.national, seed=ctx.options.seed, tables=ctx.tables)
        ctx = ctx.add(tables=eng.tables, results={"england": eng.results["england"]},
                      notes=eng.notes)
    return ctx


def _stage_atlas(ctx: _Ctx) -> _Ctx:
    """Draw the maps (maps/) into ``<out>/atlas``."""
    o = ctx.options
    if not o.maps:
        return ctx
    from healthgap.services.atlas import build_atlas  # maps/ only when maps are drawn

    staging = ctx.staged.staging
    # the atlas's copy of the manifest times every stage so far (the write stage included)
    manifest = {**ctx.manifest, "timings_s": dict(ctx.timings)}
    try:
        index = build_atlas(ctx.area, out_dir=staging / "atlas", layers=dict(ctx.layers),
                            tables=dict(ctx.tables), manifest=manifest,
                            england=dict(ctx.england), synthetic=o.synthetic,
                            statistics=ctx.statistics, alpha=o.alpha,
                            correction=o.correction, data=ctx.data)
    except NothingToDrawError:
        # too few areas for any map (Isles of Scilly alone: one LSOA): say so, keep the rest
        area = ctx.area.with_notes(
            f"atlas not written: no map can be drawn for {len(ctx.area.inside)} LSOA(s) "
            f"and {int(ctx.area.msoa['in_area'].sum())} MSOA(s) (a map needs at least "
            "two areas with a value); the GeoPackage holds every layer computed")
        manifest = {**manifest, "atlas": False, "notes": list(area.notes)}
        ctx.staged.store.write_manifest(manifest)
        return replace(ctx, area=area, manifest=manifest)
    return ctx.add(outputs={"atlas": ctx.staged.final / Path(index).relative_to(staging)})


def _stage_report(ctx: _Ctx) -> _Ctx:
    """Write the board pack (services/report.py) from the staged GeoPackage, when asked for."""
    if not ctx.options.report:
        return ctx
    from healthgap.services.report import write_report

    paths = write_report(ctx.staged.staging, staged=False, complete=False)
    final = ctx.staged.final
    return ctx.add(outputs={f"report {k}": final / p.relative_to(ctx.staged.staging)
                            for k, p in paths.items()})


def _stage_commit(ctx: _Ctx) -> _Ctx:
    """Check the staged build (manifest, every layer, atlas) and swap it into place."""
    ctx.staged.commit()
    kept = ctx.staged.kept
    notes = [f"kept {len(kept)} file(s) you added to the build folder: {', '.join(kept)}"] \
        if kept else []
    return ctx.add(outputs={"geopackage": BuildStore(ctx.staged.final).path}, notes=notes)


def _stage_write(ctx: _Ctx) -> _Ctx:
    """Join the statistics' and models' columns into the area, then write every layer."""
    o = ctx.options
    area = join_computed_columns(ctx.area, ctx.columns)
    store = ctx.staged.store
    layers = assemble_layers(area, ctx.layers, ctx.tables)
    pause_point("before-write")
    meta = _layer_metadata(ctx.vin.vintage)
    # a layer written ahead is written again if a later stage added columns to it
    later = {level for _, cols in ctx.columns[ctx.ahead[1]:] for level in cols}
    ahead = [name for name in ctx.ahead[0] if name not in later]
    for i, (name, frame) in enumerate((n, f) for n, f in layers.items() if n not in ahead):
        store.write_layer(name, frame, metadata=meta)
        if i == 0:
            pause_point("during-write")
    inside = area.inside
    manifest = {
        "healthgap_version": package_versions()["healthgap"],
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "area": {"level": area.ref.level, "code": area.ref.code, "name": area.ref.name},
        "vintage": ctx.vin.vintage.describe(),
        "synthetic": o.synthetic,
        "parameters": o.to_dict(),
        "inputs": {k: {"file": p.name, "path": str(p), "sha256": sha256_file(p),
                       "bytes": p.stat().st_size} for k, p in sorted(ctx.inputs.items())},
        "versions": package_versions(),
        "counts": {"lsoa_in_area": int(len(inside)),
                   "lsoa_ring": int((~area.lsoa["in_area"]).sum()),
                   "msoa_in_area": int(area.msoa["in_area"].sum()),
                   "neighbourhoods": int(len(area.neighbourhood))
                   if area.neighbourhood is not None else 0,
                   "places": int(len(area.place)), "systems": int(len(area.system)),
                   "lsoa_with_imd": int(inside["imd_score"].notna().sum()),
                   "msoa_le_male": int(area.msoa.loc[area.msoa["in_area"], "le_male"]
                                       .notna().sum()),
                   "msoa_le_male_suppressed": int(area.msoa.loc[area.msoa["in_area"],
                                                                "le_male_suppressed"].sum()),
                   "join_report_rows": int(len(area.report))},
        "notes": list(area.notes),
        "timings_s": dict(ctx.timings),
        "results": dict(ctx.results),
        "layers": list(layers),
        "atlas": bool(o.maps),
        "comparators": dict(ctx.england),  # England's values beside the area's (board pack)
        **ctx.extra_manifest,
    }
    store.write_manifest(manifest)
    # whole-layer GeoJSON for the API, staged with the build so it is swapped in with it
    write_feature_files(ctx.staged.staging, store, skip=ahead, compress_written=ahead)
    return replace(ctx, area=area, columns=(), manifest=manifest, ahead=((), 0))


def _layer_metadata(vintage: Vintage) -> dict[str, str]:
    """Return the GDAL metadata of every layer: the vintage and what its key columns mean."""
    return {"healthgap_vintage": vintage.label,
            "healthgap_key_columns": "; ".join(f"{k} = {v}" for k, v in
                                               vintage.published_meaning().items())}


def _write_ahead(ctx: _Ctx) -> _Ctx:
    """Write `AHEAD_LAYERS` and their GeoJSON now, with the columns computed so far."""
    area = join_computed_columns(ctx.area, ctx.columns)
    store = ctx.staged.store
    names = tuple(n for n in AHEAD_LAYERS if getattr(area, n, None) is not None)
    meta = _layer_metadata(ctx.vin.vintage)
    for name in names:
        store.write_layer(name, getattr(area, name), metadata=meta)
    # their gzip waits for the write stage, when the child no longer needs the other core
    write_feature_files(ctx.staged.staging, store, only=names, compress=False)
    return replace(ctx, ahead=(names, len(ctx.columns)))


def join_computed_columns(area: StudyArea,
                          computed: Iterable[tuple[str, Mapping[str, pd.DataFrame]]]
                          ) -> StudyArea:
    """Return ``area`` with the columns the analysis stages computed joined to their levels.

    The one step where the statistics' and models' level columns (`Outputs.columns`) enter
    the study area, in the order computed, each through `StudyArea.with_columns` (a clashing
    column name with other values raises `LayerClashError` naming its source).

    Parameters
    ----------
    area
        The study area the stages read.
    computed
        ``(source, {level: table})`` per stage, tables indexed by the level's code.
    """
    for source, by_level in computed:
        for level, table in by_level.items():
            area = area.with_columns(level, table, source=source)
    return area


#: Layers written from the study area's level frames, smallest first (those present are written).
LEVEL_LAYERS = LEVELS


def assemble_layers(area: StudyArea, layers: Mapping[str, pd.DataFrame],
                    tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Collect every output layer in write order, refusing clashing layer or column names.

    Parameters
    ----------
    area
        Its level frames (`LEVEL_LAYERS` present) and join report come first.
    layers, tables
        Derived layers (facilities, cliffs, ...) and tables (statistics, models) by name.

    Raises
    ------
    LayerClashError
        A name given twice (or ``manifest``), or a layer with a repeated column name.
    """
    out: dict[str, pd.DataFrame] = {}
    for name in LEVEL_LAYERS:
        frame = getattr(area, name, None)
        if frame is not None:
            out[name] = frame
    out["join_report"] = area.report
    for group, named in (("layers", layers), ("tables", tables)):
        for name, frame in named.items():
            if name in out or name == "manifest":
                raise LayerClashError(f"output layer {name!r} (from the build's {group}) is "
                                      "produced twice; each layer name must be unique")
            out[name] = frame
    for name, frame in out.items():
        cols = list(frame.columns) + ([frame.index.name] if frame.index.name else [])
        dup = sorted({str(c) for c in cols if cols.count(c) > 1})
        if dup:
            raise LayerClashError(f"output layer {name!r}: column(s) {', '.join(dup)} appear "
                                  "more than once")
    return out
