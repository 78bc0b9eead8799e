"""What-if access scenarios on a finished build: one function for the CLI and the API.

:func:`run_whatif` reads a build (its LSOAs, facilities and manifest), rebuilds the road network
from the OSM extract the build used (reusing the build's filtered extract in ``<out>/.cache``),
routes the baseline once per process (kept in a small in-memory cache, so a second scenario on
the same build is answered from memory), applies the scenario with
:class:`healthgap.geo.scenarios.AccessScenarios` and, when asked, writes the result into the
build as a build writes (`services.store.StagedBuild`): it takes the build folder's lock before
any work (a what-if during a build, or a build during a what-if, is refused), copies the build
into the staging sibling ``.<out>.tmp-<pid>``, writes the ``whatif_*`` layers and
``atlas/whatif.html`` there, checks the copy and swaps it in whole. An error or a signal
(SIGINT, SIGTERM) removes the staging folder; one left by a killed process (SIGKILL) is removed
when the next build or what-if of that folder starts.

A build without a road network (no OSM extract covered it, or ``--no-access``) can still be
asked for a straight-line estimate (``straight_line=True``): the practices and hospitals are
then read from the build's data directory when the build has no facilities layer.

Layers written: ``whatif_lsoa`` (polygons, one row per LSOA with before/after/change),
``whatif_facilities`` (points of the facilities the scenario closes, opens, moves or resizes),
``whatif_summary`` (crossings and access gap rows), ``whatif_shares`` (per place / neighbourhood
share beyond each threshold) and ``whatif_scenario`` (the resolved scenario, key/value JSON).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from healthgap.geo.access import ServiceAccess
from healthgap.geo.scenarios import (
    AccessScenarios,
    Scenario,
    ScenarioResult,
    ScenarioSummary,
    check_openings,
    parse_scenario,
    summarise,
)
from healthgap.services.runkinds import jsonable
from healthgap.services.store import (
    BuildStore,
    StagedBuild,
    pause_point,
    require_build,
    sigterm_raises,
)

from healthgap.errors import InputError, ParameterError

log = logging.getLogger(__name__)

POSTCODE_FILES = ("postcodes/codepoint_open_*.csv.gz", "postcodes/codepoint_open_*.csv")
"""Where the postcode lookup (OS Code-Point Open) sits inside a data directory."""

WHATIF_LAYERS = ("whatif_lsoa", "whatif_facilities", "whatif_summary", "whatif_shares",
                 "whatif_scenario")

_LOCK = threading.Lock()
_BASELINES: OrderedDict[tuple[str, bool], Baseline] = OrderedDict()
_POSTCODES: dict[str, pd.DataFrame] = {}


@dataclass(frozen=True)
class Baseline:
    """A build's LSOAs and facilities with their routed baseline (shared by copies of it)."""

    lsoa: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    engine: AccessScenarios
    data_dir: Path | None
    network_note: str


@dataclass(frozen=True)
class Outcome:
    """What :func:`run_whatif` computed (and wrote)."""

    scenario: Scenario
    result: ScenarioResult
    summary: ScenarioSummary
    written: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the numbers as JSON-friendly values (what the API run returns)."""
        table = self.result.table
        return jsonable({
            "scenario": self.scenario.to_dict(),
            "method": self.result.method,
            "touched": self.result.touched,
            "crossings": self.summary.crossings,
            "gap": self.summary.gap,
            "shares": self.summary.shares,
            "sentences": list(self.summary.sentences),
            "lsoa": table.reset_index().rename(columns={"index": "lsoa_code"}),
            "written": list(self.written),
        })


def merge_spec(file_spec: Mapping[str, Any] | None, *, close: list[str] | None = None,
               open_: list[str] | None = None, supply: list[str] | None = None,
               name: str | None = None) -> dict[str, Any]:
    """Add command-line changes (``--close``, ``--open``, ``--supply CODE=N``) to a file's."""
    spec: dict[str, Any] = dict(file_spec or {})
    if close:
        spec["close"] = [*_listed(spec.get("close")), *close]
    if open_:
        spec["open"] = [*_listed(spec.get("open")), *open_]
    if supply:
        extra: dict[str, Any] = {}
        for item in supply:
            if "=" not in item:
                raise ParameterError(f"--supply {item!r}: expected CODE=NUMBER")
            code, value = (s.strip() for s in item.split("=", 1))
            extra[code] = value
        base = spec.get("supply") or {}
        if not isinstance(base, Mapping):
            raise ParameterError("--supply cannot be combined with a scenario file whose supply "
                                 "is a list; use a mapping code: supply")
        spec["supply"] = {**base, **extra}
    if name:
        spec["name"] = name
    return spec


def _listed(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list | tuple) else [value]


def _postcodes(data_dir: Path | None, wanted: list[str]) -> pd.DataFrame | None:
    """Return the rows of the postcode lookup for the postcodes a scenario names."""
    if not wanted:
        return None
    if data_dir is None:
        raise InputError("the scenario names a postcode but the build's data directory is "
                         "unknown; give --data")
    files = [f for pattern in POSTCODE_FILES for f in sorted(data_dir.glob(pattern))]
    if not files:
        raise InputError(f"{data_dir}: no postcode lookup ({' or '.join(POSTCODE_FILES)}); "
                         "give the opening as x,y or lon,lat instead")
    key = str(files[0])
    cached = _POSTCODES.get(key)
    todo = [w for w in wanted if cached is None or w not in cached.attrs.get("asked", set())]
    if todo:
        from healthgap.data.access_inputs import lookup_postcodes

        try:
            found = lookup_postcodes(files[0], todo)
        except (EOFError, OSError, UnicodeDecodeError) as exc:  # a cut or damaged gzip file
            raise InputError(f"{files[0]}: not a whole postcode lookup ({exc}); download it "
                             "again") from None
        merged = found if cached is None else pd.concat([cached, found])
        merged = merged[~merged.index.duplicated()]
        merged.attrs["asked"] = set(cached.attrs.get("asked", set()) if cached is not None
                                    else set()) | set(todo)
        _POSTCODES[key] = merged
    return _POSTCODES[key]


def _named_postcodes(spec: Mapping[str, Any]) -> list[str]:
    """Return the postcodes a scenario names (in openings and moves)."""
    from healthgap.data.access_inputs import normalise_postcode
    from healthgap.geo.scenarios import parse_open_option

    out = []
    for it in [*_listed(spec.get("open")), *_listed(spec.get("move"))]:
        if isinstance(it, str):
            it = parse_open_option(it)
        if isinstance(it, Mapping) and "postcode" in it:
            out.append(str(it["postcode"]))
    return list(normalise_postcode(pd.Series(out, dtype="string")).dropna()) if out else []


def _network(build_dir: Path, manifest: Mapping[str, Any], lsoa: gpd.GeoDataFrame,
             tmp_dir: Path | None = None) -> Any:
    """Return the build's routing network, or None with no OSM extract."""
    from healthgap.geo.network import RoutingNetwork, read_network

    osm = [v for k, v in (manifest.get("inputs") or {}).items() if k.startswith("osm/")]
    if not osm:
        return None
    path = Path(osm[0]["path"] if isinstance(osm[0], Mapping) else osm[0])
    if not path.is_file():
        raise InputError(f"{path}: the OSM extract this build was routed on is not there any "
                         "more; the scenario cannot be routed")
    graph = read_network(path, bounds=lsoa, mode="drive", cache_dir=build_dir / ".cache",
                         tmp_dir=tmp_dir)
    return RoutingNetwork.from_graph(graph)


#: The facility columns a what-if keeps (the PCN where the build's vintage records it).
_FACILITY_COLUMNS = ("code", "name", "kind", "supply", "pcn_code", "pcn_name", "geometry")


def _why_no_network(manifest: Mapping[str, Any]) -> str:
    """Say why a build has no road network, from its parameters and inputs."""
    if (manifest.get("parameters") or {}).get("access") is False:
        return "the build was made with --no-access"
    return "no OpenStreetMap extract in the data directory covered this area when it was built"


def _facilities(store: BuildStore, manifest: Mapping[str, Any], *,
                data_dir: str | Path | None, straight_line: bool,
                lsoa: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Return the build's facilities, or (straight-line) those of its data directory.

    A build routed on a road network stores its facilities; one without (no OSM extract, or
    ``--no-access``) does not, and then, for a straight-line estimate, the practices and
    hospitals are read from the data directory (within the build's facility buffer).
    """
    if "facilities" in store.layers():
        fac = store.read_layer("facilities")
        return fac[[c for c in _FACILITY_COLUMNS if c in fac]]
    why = _why_no_network(manifest)
    params = manifest.get("parameters") or {}
    dd = data_dir or params.get("data_dir")
    if not straight_line:
        raise InputError(f"{store.path}: no road network and no facilities layer ({why}); "
                         "re-run with --straight-line for a straight-line estimate from the "
                         f"practices in the data directory{f' ({dd})' if dd else ''}, or "
                         "rebuild with an OSM extract that covers the area")
    from healthgap.data.layout import DataDir
    from healthgap.geo.facilities import read_facilities, read_gp_practices

    if not dd:
        raise InputError(f"{store.path}: the build's data directory is unknown; give --data "
                         "(the practices are read from it for a straight-line estimate)")
    data = DataDir(Path(dd))
    gp = data.optional("gp_practices")
    if gp is None:
        raise InputError(f"{Path(dd) / 'health_services'}: no GP practice file (input "
                         "'gp_practices'), so there is nothing to change for a straight-line "
                         "estimate")
    kinds = [read_gp_practices(gp).facilities]
    if (hosp := data.optional("hospitals")) is not None:
        kinds.append(read_facilities(hosp, kind="hospital", name="hospital_name").facilities)
    fac = gpd.GeoDataFrame(pd.concat(kinds), crs=kinds[0].crs)
    if lsoa is None:
        lsoa = store.read_layer("lsoa")
    buffer = float(params.get("facility_buffer_m", 15_000.0))
    x0, y0, x1, y1 = lsoa.total_bounds
    fac = fac.cx[x0 - buffer:x1 + buffer, y0 - buffer:y1 + buffer]
    return fac[[c for c in _FACILITY_COLUMNS if c in fac]]


def check_routable(store: BuildStore, manifest: Mapping[str, Any], *,
                   straight_line: bool = False) -> None:
    """Raise `InputError` if the build has no road network and no straight line is allowed.

    Cheap (the manifest only), so the API checks it before it accepts a run; the message is
    the one the command line gives.
    """
    routed = ((manifest.get("parameters") or {}).get("access") is not False
              and any(k.startswith("osm/") for k in (manifest.get("inputs") or {})))
    if straight_line or routed:
        return
    raise InputError(f"{store.path}: no road network: {_why_no_network(manifest)}, so access "
                     "cannot be routed. Re-run with --straight-line for a straight-line estimate "
                     "(crow-fly distance x 1.3 at 30 km/h, labelled as an estimate), or add an "
                     "OSM extract and rebuild")


def load_baseline(build_dir: str | Path, *, straight_line: bool = False,
                  data_dir: str | Path | None = None,
                  scenario: Scenario | None = None, tmp_dir: Path | None = None) -> Baseline:
    """Return the build's routed baseline (cached per process, keyed by the build's manifest).

    Parameters
    ----------
    build_dir
        A build directory (holding ``healthgap.gpkg``).
    straight_line
        Where the build has no road network, use a straight-line estimate instead of failing.
    data_dir
        The data directory (default: the one in the build's manifest).
    scenario
        Checked against the network (openings within the snap limit) before the baseline is
        routed.
    tmp_dir
        Where a filtered OSM extract is written before it enters the build's cache (the
        staging folder of a what-if that writes).
    """
    store = require_build(build_dir)
    manifest = store.read_manifest()
    # a build (or a copy of it) is known by its manifest: inputs, parameters and build time
    key = (json.dumps(manifest, sort_keys=True, default=str), straight_line)
    with _LOCK:
        if key in _BASELINES:
            _BASELINES.move_to_end(key)
            return _BASELINES[key]
    lsoa = store.read_layer("lsoa", index="lsoa_code")
    lsoa["in_area"] = lsoa["in_area"].astype(bool)
    fac = _facilities(store, manifest, data_dir=data_dir, straight_line=straight_line,
                      lsoa=lsoa)
    params = manifest.get("parameters") or {}
    network = None if params.get("access") is False else \
        _network(Path(build_dir), manifest, lsoa, tmp_dir)
    note = ""
    if network is None:
        note = f"no road network: {_why_no_network(manifest)}, so access cannot be routed"
        if not straight_line:
            raise InputError(f"{store.path}: {note}. Re-run with --straight-line for a "
                             "straight-line estimate (crow-fly distance x 1.3 at 30 km/h, "
                             "labelled as an estimate), or add an OSM extract and rebuild")
    max_snap_m = float(params.get("max_snap_m", 500.0))
    if scenario is not None:
        check_openings(scenario, network, max_snap_m=max_snap_m)
    engine = AccessScenarios(ServiceAccess(max_snap_m=max_snap_m)).fit(lsoa, fac, network)
    dd = data_dir or params.get("data_dir")
    base = Baseline(lsoa, fac, engine, Path(dd) if dd else None, note)
    with _LOCK:
        _BASELINES[key] = base
        while len(_BASELINES) > 4:
            _BASELINES.popitem(last=False)
    return base


def check_scenario(build_dir: str | Path, spec: Mapping[str, Any], *,
                   data_dir: str | Path | None = None,
                   straight_line: bool = False) -> Scenario:
    """Check a scenario against the build's facilities and the postcode lookup (no routing)."""
    store = require_build(build_dir)
    manifest = store.read_manifest()
    fac = _facilities(store, manifest, data_dir=data_dir, straight_line=straight_line)
    dd = data_dir or (manifest.get("parameters") or {}).get("data_dir")
    postcodes = _postcodes(Path(dd) if dd else None, _named_postcodes(spec))
    return parse_scenario(spec, fac, postcodes=postcodes,
                          source=str(spec.get("name") or "scenario"))


def run_whatif(build_dir: str | Path, spec: Mapping[str, Any], *, straight_line: bool = False,
               data_dir: str | Path | None = None, write: bool = True,
               incremental: bool = True) -> Outcome:
    """Check a scenario, apply it to the build's access and (optionally) write the result.

    Parameters
    ----------
    build_dir
        The build directory.
    spec
        Scenario mapping (see :func:`healthgap.geo.scenarios.parse_scenario`).
    straight_line
        Allow a straight-line estimate where the build has no road network.
    data_dir
        Data directory for the postcode lookup (default: the build's).
    write
        Write the ``whatif_*`` layers into the build (atomically).
    incremental
        Reuse the baseline's routes (default); False recomputes the changed kinds in full.

    Returns
    -------
    Outcome
    """
    require_build(build_dir)
    staged = StagedBuild(build_dir, kind="what-if", option="--store") if write else None
    # a writing what-if holds the build folder's lock from before any work to the swap
    with staged or contextlib.nullcontext(), sigterm_raises():
        scenario = check_scenario(build_dir, spec, data_dir=data_dir,
                                  straight_line=straight_line)
        base = load_baseline(build_dir, straight_line=straight_line, data_dir=data_dir,
                             scenario=scenario,
                             tmp_dir=staged.staging if staged is not None else None)
        result = base.engine.evaluate(scenario, incremental=incremental)
        summary = summarise(result, base.lsoa)
        written: tuple[str, ...] = ()
        if staged is not None:
            write_whatif(staged, base, result, summary)
            written = WHATIF_LAYERS
    return Outcome(scenario, result, summary, written)


def _changed_facilities(base: Baseline, scenario: Scenario) -> gpd.GeoDataFrame:
    """Return the facilities the scenario touches, with their action."""
    fac = base.facilities.assign(code=base.facilities["code"].astype(str))
    rows = []
    for code in scenario.close:
        r = fac[fac["code"] == code].iloc[0]
        action = "moved_from" if code in scenario.moved else "closed"
        rows.append({"code": code, "name": r.get("name"), "kind": r["kind"],
                     "supply": float(r["supply"]), "action": action, "geometry": r.geometry,
                     **_pcn(r)})
    for o in scenario.open:
        action = "moved_to" if o.code in scenario.moved else "opened"
        rows.append({"code": o.code, "name": o.name, "kind": o.kind, "supply": o.supply,
                     "action": action, "geometry": gpd.points_from_xy([o.x], [o.y])[0]})
    for code, s in scenario.supply:
        r = fac[fac["code"] == code].iloc[0]
        rows.append({"code": code, "name": r.get("name"), "kind": r["kind"], "supply": s,
                     "action": f"supply {float(r['supply']):g} -> {s:g}",
                     "geometry": r.geometry, **_pcn(r)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=base.facilities.crs)


def _pcn(row: pd.Series) -> dict[str, Any]:
    """Return the practice's PCN columns when the facilities layer has them (2025 vintage)."""
    return {c: row[c] for c in ("pcn_code", "pcn_name") if c in row.index}


def write_whatif(staged: StagedBuild, base: Baseline, result: ScenarioResult,
                 summary: ScenarioSummary) -> None:
    """Write the ``whatif_*`` layers and the atlas page into a copy of the build, then swap it.

    ``staged`` holds the build folder's lock (entered); its staging folder is filled with a
    copy of the build (`StagedBuild.copy_final`), written, checked and swapped in whole.
    """
    staged.copy_final()
    copy = staged.store
    originals = [n for n in copy.layers() if not n.startswith("whatif_")]
    lsoa = gpd.GeoDataFrame(
        base.lsoa[["lsoa_name", "in_area", "population", "geometry"]
                  if "lsoa_name" in base.lsoa else ["in_area", "population", "geometry"]]
        .join(result.table), geometry="geometry", crs=base.lsoa.crs)
    lsoa.index.name = "lsoa_code"
    tables = {
        "whatif_lsoa": lsoa,
        "whatif_facilities": _changed_facilities(base, result.scenario),
        "whatif_summary": pd.concat(
            [summary.crossings.assign(table="crossings"), summary.gap.assign(table="gap")],
            ignore_index=True),
        "whatif_shares": summary.shares,
        "whatif_scenario": pd.DataFrame(
            {"key": ["scenario", "method", "sentences", "note"],
             "value": [json.dumps(result.scenario.to_dict()), result.method,
                       json.dumps(list(summary.sentences)), base.network_note]}),
    }
    for i, (name, frame) in enumerate(tables.items()):
        copy.write_layer(name, frame)
        if i == 0:
            pause_point("whatif-during-write")
    _check_written(copy, tables)
    lost = [n for n in originals if n not in copy.layers()]
    if lost:
        raise InputError(f"{copy.path}: layer(s) {', '.join(lost)} lost while writing the "
                         "scenario")
    page = staged.staging / "atlas" / "whatif.html"
    page.unlink(missing_ok=True)  # a hard link to the live page: never written in place
    write_page(staged.staging)
    staged.commit()


def _check_written(store: BuildStore, tables: Mapping[str, pd.DataFrame]) -> None:
    """Read the copy back: every layer there with every row, and the original layers intact."""
    layers = store.layers()
    for name, frame in tables.items():
        if name not in layers:
            raise InputError(f"{store.path}: layer {name!r} missing after writing")
        back = store.read_layer(name)
        if len(back) != len(frame):
            raise InputError(f"{store.path}: layer {name!r} has {len(back)} rows, wrote "
                             f"{len(frame)}")
    for name in ("lsoa", "manifest"):
        if name not in layers:
            raise InputError(f"{store.path}: layer {name!r} lost while writing the scenario")


def write_page(build_dir: str | Path, *, kind: str = "gp") -> Path:
    """Write ``<build>/atlas/whatif.html`` from the ``whatif_*`` layers the build holds."""
    from healthgap.maps.whatif import write_whatif_page

    store = BuildStore(build_dir)
    layers = store.layers()
    if "whatif_lsoa" not in layers:
        raise InputError(f"{store.path}: no what-if scenario in this build; run "
                         "`healthgap whatif --store ...` first")
    from healthgap.maps.whatif import access_scale

    meta = store.read_layer("whatif_scenario").set_index("key")["value"]
    area = store.read_manifest().get("area", {})
    col = f"{kind}_time_min"
    lsoa = store.read_layer("lsoa", columns=["in_area", col]) if col in _columns(store) else None
    scale = None
    if lsoa is not None and lsoa[col].notna().sum() >= 2:
        scale = access_scale(lsoa.loc[lsoa["in_area"].astype(bool), col], col)
    changed = store.read_layer("whatif_facilities")
    # practice names: the build's facilities where it has them (a straight-line what-if on a
    # build without a road network has none), and the changed practices' own rows
    names: dict[str, str] = {}
    for fac in ([store.read_layer("facilities", columns=["code", "name"])]
                if "facilities" in layers else []) + [changed]:
        if {"code", "name"} <= set(fac.columns):
            names.update({str(c): str(n) for c, n in zip(fac["code"], fac["name"], strict=True)
                          if isinstance(n, str) and n})
    atlas = Path(build_dir) / "atlas"
    page = write_whatif_page(
        atlas,
        store.read_layer("whatif_lsoa", index="lsoa_code"),
        changed,
        scenario=json.loads(meta["scenario"]), sentences=json.loads(meta["sentences"]),
        method=str(meta["method"]), shares=store.read_layer("whatif_shares"), kind=kind,
        area_name=str(area.get("name", "")), scale=scale,
        practice_names=names,
        access_href=f"access-{kind}.html" if (atlas / f"access-{kind}.html").exists()
        else None)
    _link_from_index(atlas / "index.html", page.name)
    return page


def _columns(store: BuildStore) -> set[str]:
    return set(store.fields("lsoa"))


def _link_from_index(index: Path, name: str) -> None:
    """List the what-if page on the atlas index (once), written atomically."""
    if not index.is_file():
        return
    text = index.read_text(encoding="utf-8")
    if f'href="{name}"' in text or "</section><h2>How these maps" not in text:
        return
    link = (f'<h3>What if</h3><ul class="pages"><li><a href="{name}">What if practices close, '
            "open or move</a></li></ul>")
    text = text.replace("</section><h2>How these maps", link + "</section><h2>How these maps", 1)
    tmp = index.with_name(f".{index.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, index)
