"""The build pipeline: read inputs, build an area's layers, statistics and models, write the store.

One function, `build`, runs the stages in order and reports each to an ``on_stage`` callback (the
CLI draws a progress bar from it; the API's job runner records it as the job's status).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from healthgap.data import contracts, readers
from healthgap.data.cache import read_cached
from healthgap.data.layout import DataDir
from healthgap.data.vintages import resolve_vintage
from healthgap.geo.areas import StudyArea
from healthgap.geo.hierarchy import Hierarchy
from healthgap.geo.indicators import vintage_wording
from healthgap.services.build_options import BuildOptions
from healthgap.services.build_stages import (
    Stage,
    _Ctx,
    _Setup,
    _stage_access,
    _stage_area,
    _stage_atlas,
    _stage_commit,
    _stage_layers,
    _stage_models,
    _stage_report,
    _stage_statistics,
    _stage_write,
    choose_neighbourhoods,
    join_computed_columns,
    load_area,
    package_versions,
)
from healthgap.services.store import BuildStore, StagedBuild, sigterm_raises
from healthgap.services.vintage_inputs import VintageInputs, load_hierarchy

from healthgap.errors import (
    OutputError,
)

log = logging.getLogger(__name__)

# build() is the orchestration; the options are services/build_options.py, the stages and the
# readers they share services/build_stages.py. Their public names are offered here too.
__all__ = [
    "BuildOptions", "BuildResult", "StageCallback", "build", "check_build_inputs",
    "choose_neighbourhoods", "join_computed_columns", "load_area", "load_hierarchy",
    "package_versions", "read_cached",
]

StageCallback = Callable[[str, int, int], None]


@dataclass
class BuildResult:
    """What a build produced."""

    area: StudyArea
    store: BuildStore
    manifest: dict[str, Any]
    outputs: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)


#: Inputs a build reads when the data directory has them.
OPTIONAL_INPUTS = ("msoa_boundaries", "imd_indicators", "gp_practices", "hospitals",
                   "gp_registrations", "epcn")


def check_build_inputs(data: DataDir, hierarchy: Hierarchy, options: BuildOptions,
                       vin: VintageInputs | None = None) -> list[contracts.Shortfall]:
    """Check every file a build reads, before any computing; return the allowed shortfalls.

    Each file must be whole for its format (`data.contracts.check_file`: OSM extracts and a
    ``--neighbourhoods`` file included), each national input must read cleanly and cover
    England as the vintage's lookup gives it (`data.contracts.check_inputs`; the frames are
    read through the vintage's cached readers, so the build then reuses them). Life expectancy
    carried from 2011 MSOAs is checked against England's 2011 MSOAs, the geography it is
    published on. A fault raises naming the file.
    """
    vin = vin or VintageInputs(data, resolve_vintage(options.vintage, data.root))
    roles = [r for r in vin.vintage.files if r not in ("lsoa_boundaries", "msoa_boundaries")]
    files = {r: p for r in roles if (p := vin.optional(r)) is not None}
    files.update({k: p for k in OPTIONAL_INPUTS if k not in files
                  and (p := data.optional(k)) is not None})
    extra = [*data.osm_files()] if options.access else []
    if options.neighbourhoods is not None:
        extra.append(Path(options.neighbourhoods))
    contracts.check_files([*dict.fromkeys([*files.values(), vin.path("lsoa_boundaries"),
                                           *vin.paths("msoa_boundaries").values(), *extra])])
    if options.neighbourhoods is not None:  # its columns, before any computing
        readers.read_neighbourhood_lookup(options.neighbourhoods)
    if vin.vintage.carry is None:
        return contracts.check_inputs(files, contracts.universe_from(hierarchy.frame),
                                      read_cached, allow_incomplete=options.allow_incomplete)
    own: dict[Callable[[Path], Any], Callable[[], Any]] = {
        readers.read_imd: vin.imd, readers.read_population: vin.population,
        readers.read_centroids: vin.centroids}

    def read(reader: Callable[[Path], Any], path: Path) -> Any:
        return own[reader]() if reader in own else read_cached(reader, path)

    national = {k: p for k, p in files.items() if k != "life_expectancy"}
    short = contracts.check_inputs(national, contracts.universe_from(hierarchy.frame), read,
                                   allow_incomplete=True)
    lookup11 = read_cached(readers.read_lsoa_lookup, vin.path("carry_lsoa_lookup"))
    # the 2011 files the carry reads are checked against England's 2011 geography
    short += contracts.check_inputs({"life_expectancy": vin.path("life_expectancy"),
                                     "population": vin.path("carry_population")},
                                    contracts.universe_from(lookup11), read_cached,
                                    allow_incomplete=True)
    if not options.allow_incomplete:
        contracts.refuse(short)
    return short


def build(options: BuildOptions, *, on_stage: StageCallback | None = None,
          extra_manifest: dict[str, Any] | None = None) -> BuildResult:
    """Run every stage for one area and write ``<out_dir>/healthgap.gpkg`` atomically.

    Every option, the output folder, the required input files and the area are checked before
    any computing. The build is written into a temporary sibling of ``out_dir``, checked and
    swapped into place (`StagedBuild`): a failure or an interrupt (SIGINT, SIGTERM, a full
    disk) leaves the previous build as it was. A second build into the same ``out_dir`` at the
    same time is refused.

    Parameters
    ----------
    options
        What to build, from what, and with which parameters.
    on_stage
        Called as ``on_stage(stage, index, total)`` when each stage starts.
    extra_manifest
        More key / value rows for the manifest (batch records its fingerprint there).
    """
    options.validate()
    data = DataDir(Path(options.data_dir))
    vin = VintageInputs(data, resolve_vintage(options.vintage, data.root))
    vin.require()
    hierarchy = load_hierarchy(data, vin.vintage, options.footprint)
    if options.footprint is not None:  # its systems and places, under their neutral names
        vin = replace(vin, vintage=vin.vintage.for_footprint())
    ref = hierarchy.resolve(options.area)
    shortfalls = check_build_inputs(data, hierarchy, options, vin)
    if shortfalls:
        extra_manifest = {**(extra_manifest or {}), "incomplete_inputs": {
            s.input: s.to_dict() for s in shortfalls}}
    # each stage takes the build so far and returns a new, extended one (nothing is modified)
    first: tuple[str, Callable[[_Setup], _Ctx]] = ("read inputs and select the area", _stage_area)
    stages: list[tuple[str, Stage]] = [
        ("join deprivation and life expectancy", _stage_layers),
        ("service access and environment", _stage_access),
        ("spatial statistics", _stage_statistics),
        ("life-expectancy models", _stage_models),
        ("write the GeoPackage", _stage_write),
        ("write the board pack", _stage_report),
        ("write the HTML atlas", _stage_atlas),
        ("check the build and swap it into place", _stage_commit),
    ]
    with StagedBuild(options.out_dir, vintage=vin.vintage) as staged, _sigterm_raises():
        setup = _Setup(options=options, data=data, hierarchy=hierarchy, ref=ref, staged=staged,
                       extra_manifest=dict(extra_manifest or {}), vin=vin,
                       shortfalls=tuple(shortfalls))
        try:  # every stage in the words of the build's vintage (titles, legends, periods)
            with vintage_wording(vin.vintage.wording):
                ctx = _run_stages(setup, first, stages, on_stage)
        except Exception as exc:
            if _disk_full(exc, staged.staging):
                raise OutputError(f"--out {options.out_dir}: the disk is full ({exc}); the "
                                  "previous build is unchanged") from exc
            raise
    # the result's manifest is the one written, timing every stage
    manifest = {**ctx.manifest, "timings_s": dict(ctx.timings)}
    return BuildResult(area=ctx.area, store=BuildStore(staged.final), manifest=manifest,
                       outputs=dict(ctx.outputs), timings=dict(ctx.timings),
                       peak_mb=dict(ctx.peak_mb))


#: Inputs every build of the 2019 vintage reads (`Vintage.required` gives any vintage's).
REQUIRED_INPUTS = ("lsoa_lookup", "icb_lookup", "lsoa_boundaries", "population", "centroids",
                   "imd", "life_expectancy")


def _run_stages(setup: _Setup, first: tuple[str, Callable[[_Setup], _Ctx]],
                stages: list[tuple[str, Stage]], on_stage: StageCallback | None) -> _Ctx:
    """Run ``first`` on the setup, then each stage on the result of the one before."""
    total = 1 + len(stages)

    def timed(i: int, name: str, run: Callable[[], _Ctx]) -> _Ctx:
        if on_stage:
            on_stage(name, i, total)
        t0 = time.perf_counter()
        ctx = run()
        seconds = round(time.perf_counter() - t0, 3)
        peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        log.info("%s: %.1f s, peak %.0f MB", name, seconds, peak)
        return replace(ctx, timings={**ctx.timings, name: seconds},
                       peak_mb={**ctx.peak_mb, name: peak})

    ctx = timed(0, first[0], partial(first[1], setup))
    for i, (name, stage) in enumerate(stages, start=1):
        try:
            ctx = timed(i, name, partial(stage, ctx))
        except BaseException:  # the models' child of an England build is of no use now
            if ctx.background is not None:
                ctx.background.cancel()
            raise
    if on_stage:
        on_stage("done", total, total)
    return ctx


#: Free bytes below which a failed write is put down to a full disk (GDAL and SQLite often
#: report only "Failed to commit transaction").
DISK_FULL_BYTES = 1 << 20


def _disk_full(exc: BaseException, where: Path) -> bool:
    """Say whether an exception (or its cause) reports a full disk, or ``where`` has no room."""
    with contextlib.suppress(OSError):
        if shutil.disk_usage(where).free < DISK_FULL_BYTES:
            return True
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen).lower()
        if "no space left" in text or "disk is full" in text or "disk full" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


#: SIGTERM becomes SystemExit(143) during a build, so clean-up runs (shared with what-if).
_sigterm_raises = sigterm_raises
