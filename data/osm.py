"""Reading local OpenStreetMap files with pyosmium, for geo/network.py and geo/osm_features.py.

Nothing here touches the network: every function reads a local ``.osm.pbf`` or ``.osm`` (XML)
file, and `write_network_xml` writes the ways of one travel mode to an XML extract that
`healthgap.geo.network.read_network` reads.

The way filters reproduce osmnx 2.x's Overpass filters for ``network_type="drive"`` and ``"walk"``
(``osmnx._overpass._get_network_filter``), because ``osmnx.graph_from_xml`` builds a graph from
*every* way in the file it is given: the filtering has to happen while the extract is written.
An Overpass ``["key"!~"regex"]`` clause passes when the key is absent or its value does not
contain a match of the regex (an unanchored search), which is what :func:`_passes` does.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import osmium

from healthgap.errors import InputError, ParameterError

# key -> regex that must NOT be found in the value (absent key passes); "highway" must be present.
_DRIVE_EXCLUDE: dict[str, str] = {
    "area": "yes",
    "access": "private",
    "highway": (
        "abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|escalator|"
        "footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|rest_area|service|"
        "services|steps|track"
    ),
    "motor_vehicle": "no",
    "motorcar": "no",
    "service": "alley|driveway|emergency_access|parking|parking_aisle|private",
}
_WALK_EXCLUDE: dict[str, str] = {
    "area": "yes",
    "access": "private",
    "highway": (
        "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed|"
        "raceway|razed|rest_area|services"
    ),
    "foot": "no",
    "service": "private",
    "sidewalk": "separate",
    "sidewalk:both": "separate",
    "sidewalk:left": "separate",
    "sidewalk:right": "separate",
}
WAY_FILTERS: dict[str, dict[str, re.Pattern[str]]] = {
    mode: {key: re.compile(rx) for key, rx in rules.items()}
    for mode, rules in (("drive", _DRIVE_EXCLUDE), ("walk", _WALK_EXCLUDE))
}
MODES = tuple(WAY_FILTERS)


def _passes(tags: Mapping[str, str], rules: Mapping[str, re.Pattern[str]]) -> bool:
    """Return True if a way with ``tags`` is kept by an osmnx-style exclusion filter."""
    if "highway" not in tags:
        return False
    for key, pattern in rules.items():
        value = tags.get(key)
        if value is not None and pattern.search(value):
            return False
    return True


@dataclass(frozen=True)
class Extract:
    """What :func:`write_network_xml` wrote."""

    path: Path
    ways: int
    cached: bool


def check_osm_file(path: str | Path) -> Path:
    """Return ``path`` as a Path if it is a readable OSM file, else raise InputError."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"OSM file not found: {p}")
    if not (p.name.endswith(".osm.pbf") or p.suffix in {".pbf", ".osm", ".xml"}):
        raise InputError(f"{p}: expected an OpenStreetMap .osm.pbf or .osm (XML) file")
    return p


def _cache_key(src: Path, mode: str, bbox: tuple[float, float, float, float]) -> str:
    """Return a short hash that changes when the source file, mode or box changes."""
    stat = src.stat()
    text = f"{src.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{mode}|" + ",".join(
        f"{v:.6f}" for v in bbox
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_network_xml(
    src: str | Path,
    *,
    mode: str,
    bbox: tuple[float, float, float, float],
    cache_dir: str | Path,
    tmp_dir: str | Path | None = None,
) -> Extract:
    """Write the ways of one travel mode that touch a lon/lat box to an OSM XML file.

    A way is kept whole when any of its nodes lies inside the box, so roads that cross the box
    edge are not cut. Referenced nodes are added by ``osmium.BackReferenceWriter`` (tags removed).
    The output is cached in ``cache_dir`` under a name derived from the source file's path, size
    and modification time, the mode and the box; a second call with the same inputs reuses it.

    Parameters
    ----------
    src
        Local ``.osm.pbf`` or ``.osm`` file.
    mode
        ``"drive"`` or ``"walk"``.
    bbox
        ``(west, south, east, north)`` in degrees (EPSG:4326).
    cache_dir
        Folder for the XML files.
    tmp_dir
        Folder for the file while it is written (default ``cache_dir``); a build passes its
        staging folder, so a write cut short (an error, a signal, a full disk) goes with it.
        The half-written file is removed on any failure.

    Returns
    -------
    Extract
        The XML path, the number of ways written and whether the cache was used.
    """
    src_path = check_osm_file(src)
    if mode not in WAY_FILTERS:
        raise ParameterError(f"mode must be one of {MODES}, got {mode!r}")
    west, south, east, north = bbox
    if not (west < east and south < north):
        raise ParameterError(f"bbox must be (west, south, east, north) with west<east, got {bbox}")
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{src_path.name.split('.')[0]}_{mode}_{_cache_key(src_path, mode, bbox)}.osm"
    if out.is_file() and out.stat().st_size > 0:
        return Extract(out, -1, True)

    tmp = (Path(tmp_dir) if tmp_dir is not None else folder) / out.with_suffix(".tmp.osm").name
    try:
        ways = _filter_ways(src_path, tmp, WAY_FILTERS[mode], bbox)
        if ways == 0:
            raise InputError(
                f"{src_path}: no {mode} ways inside lon/lat box {bbox}; "
                "is the area covered by this extract?"
            )
        try:
            tmp.replace(out)
        except OSError:  # another file system: copy, then rename within the cache
            shutil.copyfile(tmp, out.with_suffix(".part"))
            out.with_suffix(".part").replace(out)
    finally:
        tmp.unlink(missing_ok=True)
        out.with_suffix(".part").unlink(missing_ok=True)
    return Extract(out, ways, False)


def _filter_ways(src: Path, tmp: Path, rules: Mapping[str, re.Pattern[str]],
                 bbox: tuple[float, float, float, float]) -> int:
    """Write the ways passing ``rules`` that touch ``bbox`` to ``tmp``; return how many."""
    west, south, east, north = bbox
    ways = 0
    try:
        processor = osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY)
        with osmium.BackReferenceWriter(str(tmp), ref_src=str(src), overwrite=True) as writer:
            for obj in processor.with_locations():
                if not isinstance(obj, osmium.osm.Way):
                    continue
                tags = {t.k: t.v for t in obj.tags}
                if not _passes(tags, rules):
                    continue
                for node in obj.nodes:
                    loc = node.location
                    if loc.valid() and west <= loc.lon <= east and south <= loc.lat <= north:
                        writer.add_way(obj)
                        ways += 1
                        break
    except RuntimeError as exc:  # libosmium's "PBF error: ..." of a damaged extract
        raise InputError(f"{src}: not a readable OSM file ({exc})") from None
    return ways


def file_bounds(src: str | Path) -> tuple[float, float, float, float] | None:
    """Return the ``(west, south, east, north)`` box in the OSM file header, if it has one."""
    try:
        reader = osmium.io.Reader(str(check_osm_file(src)), osmium.osm.NOTHING)
    except RuntimeError as exc:  # libosmium's "PBF error: ..." of an empty or damaged file
        raise InputError(f"{src}: not a readable OSM file ({exc})") from None
    try:
        box = reader.header().box()
    except RuntimeError as exc:
        raise InputError(f"{src}: not a readable OSM file ({exc})") from None
    finally:
        reader.close()
    if not box.valid():
        return None
    return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)


def read_network_graph(src: str | Path, *, mode: str, bbox: tuple[float, float, float, float],
                       simplify: bool, cache_dir: str | Path,
                       tmp_dir: str | Path | None = None) -> Any:
    """Read the street graph of one travel mode around a lon/lat box from a local OSM file.

    The mode's ways are written to a cached XML extract (`write_network_xml`), which
    ``osmnx.graph_from_xml`` reads (a local file only; osmnx's global settings, process-wide
    and not thread-safe, are left alone). Walk graphs are bidirectional; every weakly
    connected part is kept. Returns the ``networkx.MultiDiGraph`` in longitude/latitude, as
    osmnx builds it.
    """
    import osmnx as ox

    extract = write_network_xml(src, mode=mode, bbox=bbox, cache_dir=cache_dir, tmp_dir=tmp_dir)
    return ox.graph_from_xml(extract.path, bidirectional=(mode == "walk"), simplify=simplify,
                             retain_all=True)
