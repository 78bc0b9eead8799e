"""Which static map images a build gets, under the names of its atlas pages.

The atlas pages are chosen in :mod:`healthgap.services.atlas` (``LSOA_PAGES``, ``MSOA_PAGES``,
``NEIGHBOURHOOD_PAGES``, ``PLACE_PAGES``, the cluster and access pages); this module draws a
print image for each page of those lists that the build's GeoPackage can fill, with the same
slug, so ``atlas/<slug>.html`` and ``report/maps/<slug>.png`` are one map in two forms. Pages
that are not one classed layer (bivariate maps, cliffs, the IMD domains grid, Gi* hot spots)
have no static image.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
from healthgap.geo.indicators import describe
from healthgap.services.store import BuildStore

if TYPE_CHECKING:
    from healthgap.services.report import ReportData

log = logging.getLogger(__name__)

#: Cluster pages of the atlas: (layer, column, level word), as ``_Pages.clusters`` draws them.
CLUSTER_PAGES = (("lsoa", "imd_score", "LSOA"), ("msoa", "imd_score", "MSOA"),
                 ("msoa", "le_male", "MSOA"), ("msoa", "le_female", "MSOA"))
ACCESS_KINDS = ("gp", "hospital")
BOUNDARY_CREDIT = ("Boundaries: Source: Office for National Statistics licensed under the Open "
                   "Government Licence v.3.0. Contains OS data © Crown copyright and database "
                   "right.")


@dataclass(frozen=True)
class StaticSpec:
    """One static map: the atlas page it stands for and what it fills."""

    slug: str
    layer: str
    column: str
    kind: str  # "choropleth", "clusters" or "access"
    title: str


def static_specs(layers: dict[str, list[str]]) -> list[StaticSpec]:
    """Return the static maps a build can have, given ``{layer: columns}`` of its GeoPackage."""
    from healthgap.services.atlas import (
        LSOA_PAGES,
        MSOA_PAGES,
        NEIGHBOURHOOD_PAGES,
        PLACE_PAGES,
    )

    out: list[StaticSpec] = []
    for layer, pages in (("lsoa", LSOA_PAGES), ("msoa", MSOA_PAGES),
                         ("neighbourhood", NEIGHBOURHOOD_PAGES), ("place", PLACE_PAGES)):
        cols = set(layers.get(layer, []))
        if layer == "neighbourhood" and "core20_share" in cols:
            cols.add("core20_pct")
        out += [StaticSpec(slug, layer, col, "choropleth", describe(col).label)
                for col, slug, _ in pages if col in cols]
    for kind in ACCESS_KINDS:
        col = f"{kind}_time_min"
        if col in layers.get("lsoa", []) and "facilities" in layers:
            out.append(StaticSpec(f"access-{kind}", "lsoa", col, "access", describe(col).label))
    for layer, col, level in CLUSTER_PAGES:
        if f"lisa_{col}" in layers.get(layer, []):
            out.append(StaticSpec(f"lisa-{level.lower()}-{col.replace('_', '-')}", layer, col,
                                  "clusters", f"Clusters of {describe(col).words} ({level}s)"))
    return out


def _inside(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if "in_area" in frame.columns:
        return frame[frame["in_area"].astype(bool)]
    return frame


def _frames(data: ReportData, specs: Iterable[StaticSpec]) -> dict[str, gpd.GeoDataFrame]:
    store = BuildStore(data.directory)
    need = {s.layer for s in specs} | ({"facilities"} if any(s.kind == "access" for s in specs)
                                        else set())
    frames = {k: v for k, v in data.layers.items() if isinstance(v, gpd.GeoDataFrame)}
    for name in need - set(frames):
        frames[name] = store.read_layer(name)
    from healthgap.maps.static import simplified

    for name in {s.layer for s in specs}:  # once per layer, not once per map
        f = _inside(frames[name])
        frames[name] = f.set_geometry(gpd.GeoSeries(simplified(f), index=f.index, crs=f.crs))
    if "neighbourhood" in frames and "core20_share" in frames["neighbourhood"].columns:
        nb = frames["neighbourhood"]
        frames["neighbourhood"] = nb.assign(core20_pct=100 * nb["core20_share"])
    return frames


def _boundaries(data: ReportData, frames: dict[str, gpd.GeoDataFrame]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "neighbourhood" in frames:
        out["Neighbourhoods"] = _inside(frames["neighbourhood"])
    out["Places (local authorities)"] = frames["place"]
    if data.level != "lad":
        out["System (integrated care board)"] = frames["system"]
    return out


def _job(data: ReportData, spec: StaticSpec, frames: dict[str, gpd.GeoDataFrame],
         boundaries: dict[str, Any], folder: Path) -> tuple[str, Path]:
    from healthgap.maps.clusters import empty_note
    from healthgap.maps.static import (
        PageText,
        cluster_classes,
        indicator_classes,
        save_static,
        static_map,
    )

    frame = _inside(frames[spec.layer])
    ind = describe(spec.column)
    points = None
    if spec.kind == "clusters":
        labels = frame[f"lisa_{spec.column}"].where(frame[f"lisa_{spec.column}"].notna(), None)
        perms = (data.manifest.get("results", {}).get("statistics", {})
                 .get(f"lisa_{spec.layer}_{spec.column}", {}).get("permutations"))
        params = data.manifest.get("parameters", {})
        method = (f"Local Moran's I, {params.get('weights', '?')} contiguity weights, "
                  f"{perms if perms else 'conditional'} permutations, "
                  f"{str(params.get('correction', '?')).upper()} at "
                  f"{100 * float(params.get('alpha', 0.05)):g}%.")
        classes = cluster_classes(labels, ind, method=method, empty=empty_note(
            str(params.get("correction", "fdr")), float(params.get("alpha", 0.05))))
    else:
        kw = {"rank_total": 32844} if spec.column.endswith("_rank") else {}
        classes = indicator_classes(frame[spec.column], ind, **kw)
        if spec.kind == "access":
            fac = frames["facilities"]
            kind = spec.slug.removeprefix("access-")
            points = fac[fac["kind"] == kind] if "kind" in fac.columns else fac
    period = ind.period
    title = f"{spec.title}, {data.name}" + (f", {period}" if period else "")
    credit = f"Source: {ind.source}. {BOUNDARY_CREDIT}"
    if ind.uses_osm and "OpenStreetMap" not in credit:
        credit += " © OpenStreetMap contributors (ODbL)."
    text = PageText(title=title, subtitle=ind.scale, credits=credit,
                    banner="SYNTHETIC DEMO DATA: describes no real place" if data.synthetic
                    else "")
    fig = static_map(frame, classes, text=text, boundaries=boundaries, points=points,
                     points_label="GP practices" if spec.slug == "access-gp" else "Hospitals",
                     simplify=False)
    png, _ = save_static(fig, folder / spec.slug)
    return spec.slug, png


def write_static_maps(data: ReportData, folder: Path, *,
                      only: Iterable[str] | None = None, workers: int = 2) -> dict[str, Path]:
    """Draw the static maps of a build into ``folder``; return ``{slug: png}``.

    Parameters
    ----------
    data
        The report's data (:func:`healthgap.services.report.load_report`).
    folder
        Where ``<slug>.png`` and ``<slug>.svg`` go.
    only
        Draw only these slugs (the deck's maps when no PNG was asked for).
    workers
        Processes drawing in parallel (1 = in this process).
    """
    store = BuildStore(data.directory)
    present = store.layers()
    cols = {name: _columns(store, name) for name in ("lsoa", "msoa", "neighbourhood", "place")
            if name in present}
    if "facilities" in present:
        cols["facilities"] = []
    specs = static_specs(cols)
    if only is not None:
        wanted = set(only)
        specs = [s for s in specs if s.slug in wanted]
    if not specs:
        return {}
    frames = _frames(data, specs)
    boundaries = _boundaries(data, frames)
    folder.mkdir(parents=True, exist_ok=True)
    if workers <= 1 or len(specs) < 4:
        return dict(_job(data, s, frames, boundaries, folder) for s in specs)
    slim = _slim(data)
    chunks = [specs[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_jobs, slim, c, frames, boundaries, folder) for c in chunks if c]
        return {slug: png for f in futures for slug, png in f.result()}


def _jobs(data: ReportData, specs: list[StaticSpec], frames: dict[str, gpd.GeoDataFrame],
          boundaries: dict[str, Any], folder: Path) -> list[tuple[str, Path]]:
    return [_job(data, s, frames, boundaries, folder) for s in specs]


def _slim(data: ReportData) -> ReportData:
    """Return the report data without its layers (the workers get the frames on their own)."""
    from dataclasses import replace

    return replace(data, layers={})


def _columns(store: BuildStore, name: str) -> list[str]:
    return store.fields(name)


__all__ = ["StaticSpec", "static_specs", "write_static_maps"]
