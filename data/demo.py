"""Generate the synthetic demo area: a data directory laid out exactly like ``../shared/data``.

The demo lets ``healthgap demo`` and ``healthgap build --area E54900001 --data <dir>`` run with
no internet and no real data. Everything is generated from one seed with
``np.random.default_rng``; the same seed gives the same bytes in every file.

The area is fictitious and sits in the open North Sea, about 15-55 km north of the north
Norfolk coast (British National Grid easting about 600,000-640,000, northing about
360,000-400,000), so it cannot be mistaken for a real place. It is kept inside the 700 km x
1,300 km extent of the National Grid so that range checks on BNG coordinates accept it.
Every code is well formed but synthetic and cannot collide with a real one: LSOAs
``E019xxxxx``, MSOAs ``E029xxxxx``, local authorities ``E069xxxxx``, sub-ICBs ``E389xxxxx``,
ICBs ``E549xxxxx``, GP practices ``Z0xxxx``.

What is generated
-----------------
* About ``n_lsoa`` LSOAs (Voronoi cells around density-weighted seed points, clipped to a smooth
  outline, in EPSG:27700 and written in CRS84 as the ONS file is) grouped into MSOAs of about
  5 contiguous LSOAs, in 4 local authorities, 2 sub-ICBs and one ICB (`DEMO_ICB`), plus a ring of
  about ``n_lsoa / 8`` LSOAs around it in a neighbouring synthetic ICB (`NEIGHBOUR_ICB`).
* A town (Demoton) with a deprived core and an affluent periphery, a smaller deprived town
  (Synthby) and rural districts. The IMD score is a deprivation gradient plus a smooth random field
  plus noise, so it is spatially autocorrelated; ranks and deciles are consistent with the score
  and relative to England's 32,844 LSOAs (1 = most deprived).
* Life expectancy at MSOA that follows deprivation (male gap of more than 10 years between the
  most and least deprived MSOAs, female a little smaller) with two MSOAs suppressed.
* GP practices in the ODS ``epraccur`` schema, hospitals, an OSM XML road network with parks,
  fast-food outlets and off-licences, and an NO2-like exposure raster and 1 km CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import shapely
from healthgap.data._checksum import sha256_file
from healthgap.data.layout import LAYOUT
from pyproj import Transformer
from scipy.special import ndtr

from healthgap.errors import ParameterError

#: The ICB of the demo area (``healthgap build --area E54900001``).
DEMO_ICB = "E54900001"
DEMO_ICB_NAME = "NHS Synthetic Demo Integrated Care Board (SYNTHETIC DATA)"
#: The neighbouring synthetic ICB that holds the edge ring of LSOAs around the demo area.
NEIGHBOUR_ICB = "E54900002"
NEIGHBOUR_ICB_NAME = "NHS Synthetic Neighbour Integrated Care Board (SYNTHETIC DATA)"

#: Where the area sits, for the manifest and the README.
LOCATION_NOTE = (
    "Fictitious area placed in the open North Sea about 15-55 km north of the north Norfolk "
    "coast (British National Grid easting ~600,000-640,000, northing ~360,000-400,000; about "
    "53.1-53.45 N, 1.0-1.6 E) so that it cannot be mistaken for a real place, yet inside the "
    "National Grid's extent. All codes, names and values are synthetic."
)

#: The inputs `generate_demo` writes, in the order the generator fills them (paths from
#: `data.layout.LAYOUT`, the one list of data-file paths).
DEMO_INPUTS: tuple[str, ...] = (
    "lsoa_boundaries", "msoa_boundaries", "lsoa_lookup", "icb_lookup", "rural_urban", "imd",
    "imd_indicators", "imd_msoa", "life_expectancy", "population", "population_denominators",
    "centroids", "gp_practices", "hospitals",
)
#: Relative paths of the files `generate_demo` writes (besides README.txt and the manifest).
DEMO_FILES: tuple[str, ...] = (
    *(LAYOUT[k] for k in DEMO_INPUTS),
    "osm/demo.osm",
    "environment/demo_no2_100m.tif",
    "environment/demo_no2_1km.csv",
)
MANIFEST_NAME = "demo_manifest.json"
README_NAME = "README.txt"

_ENGLAND_LSOAS = 32_844
_CENTRE = (620_000.0, 380_000.0)
_BNG_TO_CRS84 = "EPSG:27700"
_MIN_LSOA, _MAX_LSOA = 40, 3000
_NODATA = -9999.0
_OSM_STEP = 250.0  # metres between lattice nodes of the synthetic street grid
_OSM_MARGIN = 5_000.0
_TIMESTAMP = "2019-09-26T00:00:00Z"


@dataclass(frozen=True)
class DemoManifest:
    """What `generate_demo` wrote.

    Attributes
    ----------
    out_dir
        The directory the demo was written to.
    seed
        The seed everything was generated from.
    icb22cd, icb22nm
        Code and name of the demo ICB.
    n_lsoa
        LSOAs inside the demo ICB.
    n_ring
        LSOAs of the edge ring in the neighbouring synthetic ICB.
    n_msoa
        MSOAs inside the demo ICB.
    lads
        Local authority code -> name, demo ICB first, then the ring.
    bbox_bng
        ``(minx, miny, maxx, maxy)`` of every LSOA in EPSG:27700 metres.
    location
        Where the area is and why.
    files
        Relative path -> SHA-256 of every file written (the manifest itself excluded).
    """

    out_dir: Path
    seed: int
    icb22cd: str
    icb22nm: str
    n_lsoa: int
    n_ring: int
    n_msoa: int
    lads: dict[str, str]
    bbox_bng: tuple[float, float, float, float]
    location: str
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict; ``out_dir`` is left out so the JSON is byte-reproducible."""
        return {
            "synthetic": True,
            "generator": "healthgap data/demo.py",
            # the demo is laid out as the 2019 vintage (LSOA/MSOA 2011 files): a build of this
            # directory without --vintage uses it (healthgap.data.vintages.declared_vintage)
            "vintage": "2019",
            "seed": self.seed,
            "icb22cd": self.icb22cd,
            "icb22nm": self.icb22nm,
            "n_lsoa": self.n_lsoa,
            "n_ring": self.n_ring,
            "n_msoa": self.n_msoa,
            "lads": self.lads,
            "bbox_bng": list(self.bbox_bng),
            "location": self.location,
            "files": self.files,
        }


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def generate_demo(out_dir: str | Path, *, seed: int = 2019, n_lsoa: int = 320) -> DemoManifest:
    """Write the synthetic demo area into ``out_dir``, laid out like ``../shared/data``.

    Parameters
    ----------
    out_dir
        Directory to write into; created if missing. Files of the same names are overwritten,
        nothing else in it is touched.
    seed
        Seed of ``np.random.default_rng``; the same seed writes the same bytes.
    n_lsoa
        LSOAs inside the demo ICB (40-3000). About ``n_lsoa / 8`` more form the edge ring in the
        neighbouring ICB and about ``n_lsoa / 5`` MSOAs are made.

    Returns
    -------
    DemoManifest
        What was written, with the SHA-256 of every file; also written as
        ``demo_manifest.json``.

    Raises
    ------
    ParameterError
        If ``n_lsoa`` or ``seed`` is out of range.
    """
    if isinstance(n_lsoa, bool) or not isinstance(n_lsoa, (int, np.integer)):
        raise ParameterError(f"n_lsoa={n_lsoa!r}: expected an integer in "
                             f"{_MIN_LSOA}-{_MAX_LSOA}")
    if not _MIN_LSOA <= int(n_lsoa) <= _MAX_LSOA:
        raise ParameterError(f"n_lsoa={n_lsoa}: allowed {_MIN_LSOA}-{_MAX_LSOA}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed={seed!r}: expected a non-negative integer")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(int(seed))

    area = _build_area(rng, int(n_lsoa))
    fields = _Fields(rng, area.scale)
    attrs = _lsoa_attributes(rng, area, fields)
    practices = _gp_practices(rng, area, attrs)
    osm = _osm_network(rng, area, attrs)
    raster = _no2_surface(rng, area, fields, osm)
    indicators = _indicators(rng, area, attrs, practices, raster)
    msoa = _msoa_attributes(rng, area, attrs, fields)

    to84 = Transformer.from_crs(_BNG_TO_CRS84, "OGC:CRS84", always_xy=True)
    gids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(area.n)]
    _write_lsoa_geojson(out, area, to84, gids)
    _write_msoa_geojson(out, area, to84)
    _write_lookups(out, area, attrs)
    _write_imd(out, area, attrs, indicators, msoa)
    _write_life_expectancy(out, area, msoa)
    _write_population(out, area, attrs, to84)
    _write_health_services(out, area, practices, to84)
    _write_osm(out, osm, to84)
    _write_raster(out, raster)
    _write_readme(out, int(seed), area)

    files = {rel: sha256_file(out / rel) for rel in (*DEMO_FILES, README_NAME)}
    manifest = DemoManifest(
        out_dir=out, seed=int(seed), icb22cd=DEMO_ICB, icb22nm=DEMO_ICB_NAME,
        n_lsoa=int(area.in_area.sum()), n_ring=int((~area.in_area).sum()),
        n_msoa=len({m for m, a in zip(area.msoa_of, area.in_area, strict=True) if a}),
        lads={c: n for c, n in zip(area.lad_codes, area.lad_names, strict=True)},
        bbox_bng=tuple(float(round(v, 1)) for v in area.bbox),  # type: ignore[arg-type]
        location=LOCATION_NOTE, files=files)
    text = json.dumps(manifest.to_dict(), indent=2, sort_keys=False) + "\n"
    (out / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return manifest


# --------------------------------------------------------------------------------------------
# geometry: outline, seed points, Voronoi cells, local authorities, MSOAs, codes and names
# --------------------------------------------------------------------------------------------


@dataclass
class _Area:
    scale: float
    town_a: tuple[float, float]
    town_b: tuple[float, float]
    cells: list[shapely.Polygon | shapely.MultiPolygon]  # EPSG:27700, ordered by code
    seeds: np.ndarray                     # (n, 2) seed points, same order
    in_area: np.ndarray                   # bool
    codes: list[str]
    names: list[str]
    lad_of: list[int]                     # index into lad_codes
    msoa_of: list[int]                    # index into msoa_codes
    msoa_codes: list[str]
    msoa_names: list[str]
    msoa_lad: list[int]
    msoa_geoms: list[shapely.MultiPolygon]
    lad_codes: list[str]
    lad_names: list[str]
    lad_sicbl: list[int]                  # index into _SICBL
    bbox: tuple[float, float, float, float]

    @property
    def n(self) -> int:
        return len(self.codes)


# (code, name, NHS short code, ICB index)
_SICBL: tuple[tuple[str, str, str, int], ...] = (
    ("E38900001", "NHS Synthetic Demo ICB - Z9A", "Z9A", 0),
    ("E38900002", "NHS Synthetic Demo ICB - Z9B", "Z9B", 0),
    ("E38900003", "NHS Synthetic Neighbour ICB - Z9M", "Z9M", 1),
)
# (code, name, NHS short code)
_ICB: tuple[tuple[str, str, str], ...] = (
    (DEMO_ICB, DEMO_ICB_NAME, "Z9D"),
    (NEIGHBOUR_ICB, NEIGHBOUR_ICB_NAME, "Z9N"),
)
# (code, name, sub-ICB index); the first four are the demo ICB, the last the edge ring.
_LADS: tuple[tuple[str, str, int], ...] = (
    ("E06900001", "Demoton", 0),
    ("E06900002", "Synthby", 1),
    ("E06900003", "Mockwold", 0),
    ("E06900004", "Nullmarsh", 1),
    ("E06900005", "Outerdemo", 2),
)


def _outline(rng: np.random.Generator, radius: float, n_vertices: int = 256) -> np.ndarray:
    """Return radius(theta) of a smooth blob as Fourier-perturbed circle coefficients."""
    theta = np.linspace(0.0, 2.0 * math.pi, n_vertices, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3, 4, 5):
        amp = rng.uniform(0.02, 0.07) / (k - 1) ** 0.5
        r += amp * np.cos(k * theta + rng.uniform(0.0, 2.0 * math.pi))
    return radius * r


def _polygon_from_radii(radii: np.ndarray) -> shapely.Polygon:
    theta = np.linspace(0.0, 2.0 * math.pi, len(radii), endpoint=False)
    xs = _CENTRE[0] + radii * np.cos(theta)
    ys = _CENTRE[1] + radii * np.sin(theta)
    return shapely.Polygon(np.column_stack([xs, ys]))


def _density(xy: np.ndarray, town_a: tuple[float, float], town_b: tuple[float, float],
             scale: float) -> np.ndarray:
    """Relative density of LSOAs (≈ of people) at points ``xy``: two towns on a rural base."""
    da2 = (xy[:, 0] - town_a[0]) ** 2 + (xy[:, 1] - town_a[1]) ** 2
    db2 = (xy[:, 0] - town_b[0]) ** 2 + (xy[:, 1] - town_b[1]) ** 2
    return (1.0 + 16.0 * np.exp(-da2 / (2 * (2_300.0 * scale) ** 2))
            + 9.0 * np.exp(-db2 / (2 * (1_300.0 * scale) ** 2)))


def _build_area(rng: np.random.Generator, n_lsoa: int) -> _Area:
    scale = math.sqrt(n_lsoa / 320.0)
    town_a = (_CENTRE[0] - 3_000.0 * scale, _CENTRE[1] + 1_500.0 * scale)
    town_b = (_CENTRE[0] + 5_000.0 * scale, _CENTRE[1] - 4_500.0 * scale)
    r_in = _outline(rng, 15_000.0 * scale)
    ring_width = 4_000.0 * scale
    inner = _polygon_from_radii(r_in)
    outer = _polygon_from_radii(r_in + ring_width)
    n_ring = max(12, round(n_lsoa / 8))

    # the ring: evenly spread around the annulus, jittered
    theta = (np.arange(n_ring) + rng.uniform(-0.25, 0.25, n_ring)) * 2 * math.pi / n_ring
    idx = (theta / (2 * math.pi) * len(r_in)).astype(int) % len(r_in)
    rad = r_in[idx] + ring_width * rng.uniform(0.4, 0.6, n_ring)
    ring_pts = np.column_stack([_CENTRE[0] + rad * np.cos(theta),
                                _CENTRE[1] + rad * np.sin(theta)])

    inner_pts = _sample_seeds(rng, inner, n_lsoa, town_a, town_b, scale, ring_pts)
    pts = np.vstack([inner_pts, ring_pts])
    in_area = np.r_[np.ones(len(inner_pts), bool), np.zeros(n_ring, bool)]

    # Voronoi cells in input order, clipped to the outer outline, snapped to a 0.1 m grid so
    # that neighbours share their vertices exactly.
    extent = shapely.box(*outer.buffer(20_000.0).bounds)
    vor = shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=extent, ordered=True)
    cells = shapely.set_precision(
        shapely.intersection(np.asarray(vor.geoms, dtype=object), outer), 0.1)
    cells = np.array([_largest_polygon(c) for c in cells], dtype=object)

    # local authorities from the seed points: two town districts and two rural halves
    lad = np.empty(len(pts), int)
    da = np.hypot(pts[:, 0] - town_a[0], pts[:, 1] - town_a[1])
    db = np.hypot(pts[:, 0] - town_b[0], pts[:, 1] - town_b[1])
    north = (pts[:, 1] - _CENTRE[1]) > 0.3 * (pts[:, 0] - _CENTRE[0])
    lad[:] = np.where(north, 2, 3)
    lad[db < 3_000.0 * scale] = 1
    lad[da < 5_000.0 * scale] = 0
    lad[~in_area] = 4

    adjacency = _rook_adjacency(list(cells))
    groups = _group_msoas(rng, list(cells), lad, adjacency)

    # order: LAD, then MSOA north -> south (the ONS convention), then LSOA west -> east
    cent = np.array([[c.centroid.x, c.centroid.y] for c in cells])
    msoa_keys = []
    for g, members in enumerate(groups):
        gy = float(np.mean(cent[members, 1]))
        gx = float(np.mean(cent[members, 0]))
        msoa_keys.append((int(lad[members[0]]), -round(gy, 1), round(gx, 1), g))
    msoa_order = [k[3] for k in sorted(msoa_keys)]
    lsoa_order: list[int] = []
    msoa_codes, msoa_names, msoa_lad, msoa_of_old = [], [], [], {}
    lsoa_names_old: dict[int, str] = {}
    number_in_lad: dict[int, int] = {}
    for new_m, g in enumerate(msoa_order):
        members = sorted(groups[g], key=lambda i: (round(cent[i, 0], 1), round(cent[i, 1], 1)))
        ld = int(lad[members[0]])
        number_in_lad[ld] = number_in_lad.get(ld, 0) + 1
        mname = f"{_LADS[ld][1]} {number_in_lad[ld]:03d}"
        msoa_codes.append(f"E029{new_m + 1:05d}")
        msoa_names.append(mname)
        msoa_lad.append(ld)
        for k, i in enumerate(members):
            msoa_of_old[i] = new_m
            lsoa_names_old[i] = f"{mname}{_letters(k)}"
            lsoa_order.append(i)

    order = np.array(lsoa_order)
    cells_sorted = [cells[i] for i in order]
    msoa_of = [msoa_of_old[i] for i in order]
    # Like real coastal LSOAs, one LSOA of the ring owns a small islet offshore, so the
    # boundary file mixes Polygon and MultiPolygon features as the ONS file does.
    ring_ids = [k for k, i in enumerate(order) if not in_area[i]]
    east = max(ring_ids, key=lambda k: (pts[order[k], 0], k))
    cells_sorted[east] = _with_islet(rng, cells_sorted[east], outer)
    msoa_geoms = []
    for m in range(len(msoa_codes)):
        parts = [cells_sorted[i] for i in range(len(order)) if msoa_of[i] == m]
        union = shapely.set_precision(shapely.union_all(parts), 0.1)
        msoa_geoms.append(_as_multipolygon(union))
    all_cells = shapely.union_all(cells_sorted)
    return _Area(
        scale=scale, town_a=town_a, town_b=town_b, cells=cells_sorted, seeds=pts[order],
        in_area=in_area[order], codes=[f"E019{k + 1:05d}" for k in range(len(order))],
        names=[lsoa_names_old[i] for i in order], lad_of=[int(lad[i]) for i in order],
        msoa_of=msoa_of, msoa_codes=msoa_codes, msoa_names=msoa_names, msoa_lad=msoa_lad,
        msoa_geoms=msoa_geoms, lad_codes=[x[0] for x in _LADS], lad_names=[x[1] for x in _LADS],
        lad_sicbl=[x[2] for x in _LADS], bbox=tuple(all_cells.bounds))  # type: ignore[arg-type]


def _with_islet(rng: np.random.Generator, cell: shapely.Polygon,
                outer: shapely.Polygon) -> shapely.MultiPolygon:
    """Return ``cell`` with a small islet 400-700 m beyond the outer outline."""
    c = cell.centroid
    dx, dy = c.x - _CENTRE[0], c.y - _CENTRE[1]
    norm = math.hypot(dx, dy)
    ux, uy = dx / norm, dy / norm
    edge = shapely.intersection(outer.exterior, shapely.LineString(
        [(c.x, c.y), (c.x + ux * 50_000.0, c.y + uy * 50_000.0)]))
    ex, ey = shapely.get_coordinates(edge)[0]
    dist = rng.uniform(400.0, 700.0)
    ix, iy = ex + ux * dist, ey + uy * dist
    angles = np.sort(rng.uniform(0.0, 2 * math.pi, 7))
    radii = rng.uniform(80.0, 160.0, 7)
    islet = shapely.Polygon(np.column_stack([ix + radii * np.cos(angles),
                                             iy + radii * np.sin(angles)]))
    islet = shapely.set_precision(islet, 0.1)
    return shapely.MultiPolygon([cell, islet])


def _letters(k: int) -> str:
    """Return the LSOA letter suffix: 0 -> A, 25 -> Z, 26 -> AA (as ONS does past Z)."""
    out = ""
    k += 1
    while k:
        k, rem = divmod(k - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def _sample_seeds(rng: np.random.Generator, inner: shapely.Polygon, n: int,
                  town_a: tuple[float, float], town_b: tuple[float, float], scale: float,
                  fixed: np.ndarray) -> np.ndarray:
    """Density-weighted Poisson-disk sample of ``n`` seed points inside ``inner``."""
    minx, miny, maxx, maxy = inner.bounds
    gx, gy = np.meshgrid(np.linspace(minx, maxx, 160), np.linspace(miny, maxy, 160))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    inside = shapely.contains_xy(inner, grid[:, 0], grid[:, 1])
    rho = _density(grid, town_a, town_b, scale)
    cell_area = (maxx - minx) / 159 * (maxy - miny) / 159
    total = float(rho[inside].sum() * cell_area)
    rho_max = float(rho[inside].max())
    factor = 0.62
    pts: list[np.ndarray] = []
    placed = np.array(fixed, dtype=float).reshape(-1, 2)
    failures = 0
    while len(pts) < n:
        cand = rng.uniform([minx, miny], [maxx, maxy], size=(256, 2))
        ok = shapely.contains_xy(inner, cand[:, 0], cand[:, 1])
        dens = _density(cand, town_a, town_b, scale)
        ok &= rng.uniform(0.0, rho_max, 256) < dens
        for c, d in zip(cand[ok], dens[ok], strict=True):
            spacing = 1.0 / math.sqrt(n * d / total)
            if len(placed) and np.min(np.hypot(*(placed - c).T)) < factor * spacing:
                failures += 1
                if failures > 4_000:
                    factor *= 0.9
                    failures = 0
                continue
            pts.append(c)
            placed = np.vstack([placed, c])
            failures = 0
            if len(pts) == n:
                break
    return np.array(pts)


def _largest_polygon(geom: shapely.Geometry) -> shapely.Polygon:
    if isinstance(geom, shapely.Polygon):
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, shapely.Polygon)]
    if not polys:  # pragma: no cover - Voronoi cells of distinct points are never empty
        raise ParameterError("demo tessellation produced an empty cell; try another seed")
    return max(polys, key=lambda p: p.area)


def _as_multipolygon(geom: shapely.Geometry) -> shapely.MultiPolygon:
    if isinstance(geom, shapely.MultiPolygon):
        return geom
    if isinstance(geom, shapely.Polygon):
        return shapely.MultiPolygon([geom])
    polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, shapely.Polygon)]
    return shapely.MultiPolygon(polys)


def _rook_adjacency(cells: list[shapely.Polygon]) -> list[set[int]]:
    """Neighbours sharing an edge (two or more exactly equal vertices)."""
    owners: dict[tuple[float, float], list[int]] = {}
    for i, c in enumerate(cells):
        for xy in set(map(tuple, np.asarray(c.exterior.coords)[:-1])):
            owners.setdefault(xy, []).append(i)  # type: ignore[arg-type]
    shared: dict[tuple[int, int], int] = {}
    for ids in owners.values():
        for a in ids:
            for b in ids:
                if a < b:
                    shared[(a, b)] = shared.get((a, b), 0) + 1
    adj: list[set[int]] = [set() for _ in cells]
    for (a, b), count in shared.items():
        if count >= 2:
            adj[a].add(b)
            adj[b].add(a)
    return adj


def _group_msoas(rng: np.random.Generator, cells: list[shapely.Polygon], lad: np.ndarray,
                 adj: list[set[int]]) -> list[list[int]]:
    """Grow contiguous groups of about five LSOAs inside each local authority."""
    cent = np.array([[c.centroid.x, c.centroid.y] for c in cells])
    groups: list[list[int]] = []
    for ld in range(len(_LADS)):
        members = [i for i in range(len(cells)) if lad[i] == ld]
        if not members:
            continue
        todo = sorted(members, key=lambda i: (-round(cent[i, 1], 1), round(cent[i, 0], 1)))
        free = set(members)
        lad_groups: list[list[int]] = []
        for start in todo:
            if start not in free:
                continue
            target = int(rng.choice([4, 5, 5, 5, 6]))
            group = [start]
            free.discard(start)
            while len(group) < target:
                cand = sorted({j for g in group for j in adj[g] if j in free})
                if not cand:
                    break
                gc = cent[group].mean(axis=0)
                best = min(cand, key=lambda j: (float(np.hypot(*(cent[j] - gc))), j))
                group.append(best)
                free.discard(best)
            lad_groups.append(group)
        # fold groups of fewer than 3 LSOAs into their smallest neighbouring group
        changed = True
        while changed:
            changed = False
            for gi, group in enumerate(lad_groups):
                if 0 < len(group) < 3:
                    nbrs = sorted({hj for g in group for j in adj[g]
                                   for hj, h in enumerate(lad_groups)
                                   if hj != gi and h and j in h})
                    if nbrs:
                        target_g = min(nbrs, key=lambda hj: (len(lad_groups[hj]), hj))
                        lad_groups[target_g].extend(group)
                        lad_groups[gi] = []
                        changed = True
        groups.extend(g for g in lad_groups if g)
    return groups


# --------------------------------------------------------------------------------------------
# smooth random fields
# --------------------------------------------------------------------------------------------


class _Fields:
    """Smooth Gaussian random fields (random Fourier features), unit variance."""

    def __init__(self, rng: np.random.Generator, scale: float) -> None:
        self._specs = {}
        for name, length in (("deprivation", 4_000.0), ("life", 5_000.0), ("no2", 3_000.0)):
            k = 64
            w = rng.normal(0.0, 1.0 / (length * scale), size=(k, 2))
            b = rng.uniform(0.0, 2 * math.pi, size=k)
            self._specs[name] = (w, b)

    def __call__(self, name: str, xy: np.ndarray) -> np.ndarray:
        w, b = self._specs[name]
        xy = np.asarray(xy, dtype=float).reshape(-1, 2) - np.array(_CENTRE)
        return np.sqrt(2.0 / len(b)) * np.cos(xy @ w.T + b).sum(axis=1)

    def grid(self, name: str, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Evaluate on the grid ``ys`` (rows) x ``xs`` (columns), fast.

        Uses cos(a + b) = cos a cos b - sin a sin b, with ``a`` depending on the column only.
        """
        w, b = self._specs[name]
        ax = np.outer(np.asarray(xs, dtype=float) - _CENTRE[0], w[:, 0])
        by = np.outer(np.asarray(ys, dtype=float) - _CENTRE[1], w[:, 1]) + b
        total = np.cos(by) @ np.cos(ax).T - np.sin(by) @ np.sin(ax).T
        return np.sqrt(2.0 / len(b)) * total


# --------------------------------------------------------------------------------------------
# LSOA attributes: deprivation, domains, population, centroids, rural-urban class
# --------------------------------------------------------------------------------------------

_DOMAINS = ("income", "employment", "education", "health", "crime", "housing_and_access",
            "environment")
_SUBDOMAINS = ("children_and_young_people", "adult_skills", "geographical_barriers",
               "wider_barriers", "indoors", "outdoors")


@dataclass
class _LsoaAttrs:
    z: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    decile: np.ndarray
    dz: dict[str, np.ndarray]
    drank: dict[str, np.ndarray]
    ddecile: dict[str, np.ndarray]
    urban: np.ndarray
    town_km: np.ndarray
    pop2017: np.ndarray
    pop2015: np.ndarray
    pop_0_15: np.ndarray
    pop_16_59: np.ndarray
    pop_60: np.ndarray
    pop_wa: np.ndarray
    pw: np.ndarray          # population-weighted centroid proxy (n, 2) BNG
    n_postcodes: np.ndarray
    ruc: list[str]


def _national_rank(z: np.ndarray) -> np.ndarray:
    """Rank among England's 32,844 LSOAs for a deprivation z (standard normal nationally)."""
    return (1 + np.floor((_ENGLAND_LSOAS - 1) * (1.0 - ndtr(z)))).astype(int)


def _decile(rank: np.ndarray) -> np.ndarray:
    return np.clip(np.ceil(rank * 10 / _ENGLAND_LSOAS), 1, 10).astype(int)


def _lsoa_attributes(rng: np.random.Generator, area: _Area, fields: _Fields) -> _LsoaAttrs:
    s = area.scale
    xy = np.array([[c.centroid.x, c.centroid.y] for c in area.cells])
    da = np.hypot(xy[:, 0] - area.town_a[0], xy[:, 1] - area.town_a[1])
    db = np.hypot(xy[:, 0] - area.town_b[0], xy[:, 1] - area.town_b[1])
    core_a = 2.3 * np.exp(-da**2 / (2 * (1_600.0 * s) ** 2))
    suburb_a = -1.2 * np.exp(-(da - 3_600.0 * s) ** 2 / (2 * (1_100.0 * s) ** 2))
    core_b = 2.0 * np.exp(-db**2 / (2 * (1_300.0 * s) ** 2))
    n = area.n
    z = (-0.35 + core_a + suburb_a + core_b + 0.45 * fields("deprivation", xy)
         + rng.normal(0.0, 0.22, n))
    z = np.clip(z, -2.6, 2.55)  # keeps the score inside England's range (0.5-92.7)
    score = np.round(np.exp(2.868 + 0.647 * z), 3)
    rank = _national_rank(z)
    urban = np.clip(np.exp(-da**2 / (2 * (2_500.0 * s) ** 2))
                    + 0.7 * np.exp(-db**2 / (2 * (1_600.0 * s) ** 2)), 0.0, 1.0)
    town_km = np.minimum(da, db) / 1000.0 / s
    remote = town_km / 6.0 - 1.0

    def mix(base: np.ndarray, noise: float) -> np.ndarray:
        return base + rng.normal(0.0, noise, n)

    dz = {
        "income": mix(0.95 * z, 0.31),
        "employment": mix(0.92 * z, 0.39),
        "education": mix(0.85 * z, 0.5),
        "health": mix(0.85 * z, 0.5),
        "crime": mix(0.55 * z + 0.6 * urban - 0.2, 0.5),
        "housing_and_access": mix(0.25 * z + 1.0 * remote, 0.5),
        "environment": mix(0.35 * z + 1.2 * urban - 0.4, 0.5),
    }
    dz["children_and_young_people"] = mix(0.9 * dz["education"], 0.44)
    dz["adult_skills"] = mix(0.9 * dz["education"], 0.44)
    dz["geographical_barriers"] = mix(1.6 * remote, 0.4)
    dz["wider_barriers"] = mix(0.5 * z + 0.8 * urban - 0.3, 0.4)
    dz["indoors"] = mix(0.4 * z + 0.5 * (1 - urban), 0.6)
    dz["outdoors"] = mix(0.3 * z + 1.5 * urban - 0.5, 0.5)
    drank = {k: _national_rank(v) for k, v in dz.items()}
    ddecile = {k: _decile(v) for k, v in drank.items()}

    pop2017 = np.clip(np.round(1_550 + rng.normal(0, 330, n) + 250 * urban + 60 * z),
                      1_000, 3_000).astype(int)
    pop2015 = np.round(pop2017 * rng.uniform(0.955, 0.995, n)).astype(int)
    child_share = np.clip(0.18 + 0.025 * z + rng.normal(0, 0.02, n), 0.08, 0.32)
    old_share = np.clip(0.24 - 0.05 * urban - 0.02 * z + 0.03 * np.clip(remote, 0, 2)
                        + rng.normal(0, 0.03, n), 0.06, 0.45)
    pop_0_15 = np.round(pop2015 * child_share).astype(int)
    pop_60 = np.round(pop2015 * old_share).astype(int)
    pop_16_59 = pop2015 - pop_0_15 - pop_60
    pop_wa = np.round(pop_16_59 * 0.955 + pop_60 * 0.11).astype(int)

    pw = np.empty((n, 2))
    for i, cell in enumerate(area.cells):
        minx, miny, maxx, maxy = cell.bounds
        cand = rng.uniform([minx, miny], [maxx, maxy], size=(96, 2))
        cand = cand[shapely.contains_xy(cell, cand[:, 0], cand[:, 1])]
        if len(cand) >= 3:
            w = _density(cand, area.town_a, area.town_b, s) ** 2
            p = (cand * w[:, None]).sum(axis=0) / w.sum()
            if shapely.contains_xy(cell, p[0], p[1]):
                pw[i] = p
                continue
        rp = cell.representative_point()
        pw[i] = (rp.x, rp.y)
    pw = np.round(pw, 1)
    n_postcodes = np.maximum(5, np.round(pop2017 / 38 + rng.normal(0, 5, n))).astype(int)

    area_km2 = np.array([c.area for c in area.cells]) / 1e6
    ruc = ["C1" if (u > 0.25 or a < 1.2) else ("D1" if a < 6.0 else "E1")
           for u, a in zip(urban, area_km2, strict=True)]
    return _LsoaAttrs(z=z, score=score, rank=rank, decile=_decile(rank), dz=dz, drank=drank,
                      ddecile=ddecile, urban=urban, town_km=town_km, pop2017=pop2017,
                      pop2015=pop2015, pop_0_15=pop_0_15, pop_16_59=pop_16_59, pop_60=pop_60,
                      pop_wa=pop_wa, pw=pw, n_postcodes=n_postcodes, ruc=ruc)


_RUC_LABELS = {"C1": ("Urban", "Urban city and town"), "D1": ("Rural", "Rural town and fringe"),
               "E1": ("Rural", "Rural village")}


# --------------------------------------------------------------------------------------------
# GP practices
# --------------------------------------------------------------------------------------------


@dataclass
class _Practice:
    code: str
    name: str
    lsoa: int
    xy: tuple[float, float] | None
    status: str
    setting: int
    open_date: str
    close_date: str
    postcode: str
    address: tuple[str, str, str, str, str]
    telephone: str


_STREETS = ("HIGH STREET", "STATION ROAD", "CHURCH LANE", "MARKET PLACE", "MILL ROAD")


def _gp_practices(rng: np.random.Generator, area: _Area, attrs: _LsoaAttrs) -> list[_Practice]:
    n_active = max(6, round(area.n / 5.5))
    kinds = ("MEDICAL CENTRE", "SURGERY", "HEALTH CENTRE", "FAMILY PRACTICE", "MEDICAL PRACTICE")
    # (status, setting): active GP practices first, then the rows a reader must filter out
    plan = [("A", 4)] * n_active + [("C", 4)] * 6 + [("D", 4), ("P", 4), ("A", 0), ("A", 8),
                                                       ("A", 9)]
    weights = attrs.pop2017 * (1.0 + 2.0 * attrs.urban)
    weights = weights / weights.sum()
    no_coords = 3  # one active practice has a terminated postcode and no coordinates
    out = []
    for k, (status, setting) in enumerate(plan):
        i = int(rng.choice(area.n, p=weights))
        cell = area.cells[i]
        xy = None
        for _ in range(30):
            p = attrs.pw[i] + rng.normal(0.0, 180.0, 2)
            if shapely.contains_xy(cell, p[0], p[1]):
                xy = (float(round(p[0])), float(round(p[1])))
                break
        if xy is None:
            xy = (float(round(attrs.pw[i][0])), float(round(attrs.pw[i][1])))
        if k == no_coords:
            xy = None
        lad_name = area.lad_names[area.lad_of[i]]
        year = int(rng.integers(1974, 2016))
        open_date = "19740401" if year < 1980 else f"{year}{int(rng.integers(1, 13)):02d}01"
        close_date = ""
        if status == "C":
            cy = int(rng.integers(max(year + 1, 2014), 2023))
            close_date = f"{cy}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
        district = area.lad_of[i] + 1
        postcode = (f"ZD{district} {k % 10}"
                    f"{chr(65 + (k // 10) % 26)}{chr(65 + (k * 7) % 26)}")
        street = f"{int(rng.integers(1, 200))} {_STREETS[k % len(_STREETS)]}"
        name = f"{lad_name.upper()} {kinds[k % len(kinds)]} {k + 1:02d} (SYNTHETIC)"
        out.append(_Practice(
            code=f"Z{k + 1:05d}", name=name, lsoa=i, xy=xy, status=status, setting=setting,
            open_date=open_date, close_date=close_date, postcode=postcode,
            address=(kinds[k % len(kinds)], street, lad_name.upper(), "SYNTHETICSHIRE", ""),
            telephone=f"01999 {700000 + k:06d}"))
    return out


# --------------------------------------------------------------------------------------------
# OSM road network on a lattice, plus parks, fast food and off-licences
# --------------------------------------------------------------------------------------------

_CLASS_RANK = {"residential": 1, "footway": 1, "tertiary": 2, "secondary": 3, "primary": 4}

# lattice edges: (node a, node b) with a < b -> tags (and "_dir" of a one-way)
_Edges = dict[tuple[tuple[int, int], tuple[int, int]], dict[str, str]]


@dataclass
class _Osm:
    origin: tuple[float, float]
    nodes: dict[int, tuple[float, float]]            # id -> BNG x, y
    node_tags: dict[int, dict[str, str]]
    ways: list[tuple[list[int], dict[str, str]]]
    motorway_x: float
    primary_lines: tuple[float, float]               # x of the N-S and y of the E-W primary
    secondary_lines: tuple[float, float]
    bbox: tuple[float, float, float, float]


def _osm_network(rng: np.random.Generator, area: _Area, attrs: _LsoaAttrs) -> _Osm:
    step = _OSM_STEP
    minx, miny, maxx, maxy = area.bbox
    x0 = math.floor((minx - _OSM_MARGIN) / 2_000.0) * 2_000.0
    y0 = math.floor((miny - _OSM_MARGIN) / 2_000.0) * 2_000.0
    ni = int(math.ceil((maxx + _OSM_MARGIN - x0) / 2_000.0)) * 8
    nj = int(math.ceil((maxy + _OSM_MARGIN - y0) / 2_000.0)) * 8

    def lattice(p: tuple[float, float]) -> tuple[int, int]:
        return (int(round((p[0] - x0) / 2_000.0)) * 8, int(round((p[1] - y0) / 2_000.0)) * 8)

    ia, ja = lattice(area.town_a)
    ib, jb = lattice(area.town_b)
    if ib == ia:
        ib += 8
    if jb == ja:
        jb -= 8
    ra = 3_000.0 * area.scale / step
    rb = 1_750.0 * area.scale / step

    town_nodes = _town_nodes(((ia, ja), ra), ((ib, jb), rb), ni, nj)

    edges = _lattice_edges(rng, town_nodes, (ia, ja), (ib, jb), ni, nj, ra)

    node_id, nodes = _jittered_nodes(rng, edges, x0, y0, step)

    ways = _lattice_ways(edges, node_id, rng)

    # motorway: two one-way carriageways 5 km west of Demoton, joined at the junctions with the
    # main roads and at both ends
    im = ia - 20 if ia >= 24 else 4
    xm = x0 + im * step
    next_id = len(nodes) + 1
    junctions = {j for j in (0, ja, jb, nj) if (im, j) in node_id}
    next_id = _add_motorway(nodes, node_id, ways, (im, xm, y0, step), nj, junctions, next_id)

    ways = _largest_component(ways)

    # parks (closed ways with their own nodes), fast food and off-licences (tagged nodes)
    node_tags: dict[int, dict[str, str]] = {}
    next_id = _add_parks(rng, area, nodes, ways, next_id)
    next_id = _add_outlets(rng, area, attrs, nodes, node_tags, next_id)

    used_ids = {r for refs, _ in ways for r in refs} | set(node_tags)
    nodes = {k: v for k, v in nodes.items() if k in used_ids}
    xs = [v[0] for v in nodes.values()]
    ys = [v[1] for v in nodes.values()]
    return _Osm(origin=(x0, y0), nodes=nodes, node_tags=node_tags, ways=ways, motorway_x=xm,
                primary_lines=(x0 + ia * step, y0 + ja * step),
                secondary_lines=(x0 + ib * step, y0 + jb * step),
                bbox=(min(xs), min(ys), max(xs), max(ys)))


def _town_nodes(a: tuple[tuple[int, int], float], b: tuple[tuple[int, int], float], ni: int,
                nj: int) -> set[tuple[int, int]]:
    """Return the lattice nodes within the radius of either town centre."""
    town_nodes: set[tuple[int, int]] = set()
    for (ci, cj), r in (a, b):
        for i in range(int(ci - r), int(ci + r) + 1):
            for j in range(int(cj - r), int(cj + r) + 1):
                if (i - ci) ** 2 + (j - cj) ** 2 <= r * r and 0 <= i <= ni and 0 <= j <= nj:
                    town_nodes.add((i, j))
    return town_nodes


def _claim(edges: _Edges, a: tuple[int, int], b: tuple[int, int], tags: dict[str, str]) -> None:
    """Put a lattice edge a-b in ``edges`` unless a higher road class already holds it."""
    key = (a, b) if a < b else (b, a)
    old = edges.get(key)
    if old is None or _CLASS_RANK[tags["highway"]] > _CLASS_RANK[old["highway"]] or (
            "oneway" in tags and old["highway"] == tags["highway"]):
        t = dict(tags)
        if "oneway" in t:
            t["_dir"] = "+" if key == (a, b) else "-"
        edges[key] = t


def _lattice_edges(rng: np.random.Generator, town_nodes: set[tuple[int, int]],
                   town_a: tuple[int, int], town_b: tuple[int, int], ni: int, nj: int,
                   ra: float) -> _Edges:
    """Return the road edges of the lattice: streets, grid, main roads, ring road, footpaths."""
    ia, ja = town_a
    # edges keyed by (node a, node b) with a < b in lattice order; value = attributes + direction
    edges: _Edges = {}
    _residential_streets(rng, edges, town_nodes)
    _grid_roads(edges, town_nodes, town_a, town_b, ni, nj)
    # a one-way ring road 1 km around the centre of Demoton, clockwise
    ring = {"highway": "secondary", "oneway": "yes", "name": "Demoton Ring Road (synthetic)",
            "maxspeed": "30 mph"}
    for k in range(-4, 4):
        _claim(edges, (ia + k, ja + 4), (ia + k + 1, ja + 4), ring)  # top, west -> east
        _claim(edges, (ia + 4, ja - k), (ia + 4, ja - k - 1), ring)  # east side, north -> south
        _claim(edges, (ia - k, ja - 4), (ia - k - 1, ja - 4), ring)  # bottom, east -> west
        _claim(edges, (ia - 4, ja + k), (ia - 4, ja + k + 1), ring)  # west side, south -> north
    # footpaths across some blocks of Demoton
    town_a_nodes = sorted(p for p in town_nodes if (p[0] - ia) ** 2 + (p[1] - ja) ** 2 <= ra**2)
    for _ in range(30):
        i, j = town_a_nodes[int(rng.integers(len(town_a_nodes)))]
        if (i + 1, j + 1) in town_nodes:
            _claim(edges, (i, j), (i + 1, j + 1), {"highway": "footway"})
    return edges


def _residential_streets(rng: np.random.Generator, edges: _Edges,
                         town_nodes: set[tuple[int, int]]) -> None:
    """Add the residential streets in the towns, some dropped to look less regular."""
    for i, j in sorted(town_nodes):
        for di, dj in ((1, 0), (0, 1)):
            nb = (i + di, j + dj)
            if nb in town_nodes and rng.uniform() > 0.12:
                _claim(edges, (i, j), nb, {"highway": "residential"})


def _grid_roads(edges: _Edges, town_nodes: set[tuple[int, int]], town_a: tuple[int, int],
                town_b: tuple[int, int], ni: int, nj: int) -> None:
    """Add the rural grid (every 2 km) and the main roads through the towns."""
    ia, ja = town_a
    ib, jb = town_b
    for j in range(0, nj + 1, 8):
        cls = "primary" if j == ja else ("secondary" if j == jb else "tertiary")
        line = sorted({i for i in range(0, ni + 1, 4)} | {i for (i, jj) in town_nodes if jj == j})
        for a, b in zip(line[:-1], line[1:], strict=True):
            _claim(edges, (a, j), (b, j), {"highway": cls})
    for i in range(0, ni + 1, 8):
        cls = "primary" if i == ia else ("secondary" if i == ib else "tertiary")
        line = sorted({j for j in range(0, nj + 1, 4)} | {j for (ii, j) in town_nodes if ii == i})
        for a, b in zip(line[:-1], line[1:], strict=True):
            _claim(edges, (i, a), (i, b), {"highway": cls})


def _jittered_nodes(
    rng: np.random.Generator, edges: _Edges, x0: float, y0: float, step: float
) -> tuple[dict[tuple[int, int], int], dict[int, tuple[float, float]]]:
    """Return the ids of the lattice nodes the edges use and their BNG positions with jitter."""
    used = sorted({p for key in edges for p in key})
    node_id: dict[tuple[int, int], int] = {}
    nodes: dict[int, tuple[float, float]] = {}
    for k, (i, j) in enumerate(used):
        node_id[(i, j)] = k + 1
        jit = rng.normal(0.0, 12.0, 2) if (i % 8 and j % 8) else np.zeros(2)
        nodes[k + 1] = (x0 + i * step + float(jit[0]), y0 + j * step + float(jit[1]))
    return node_id, nodes


def _add_motorway(nodes: dict[int, tuple[float, float]], node_id: dict[tuple[int, int], int],
                  ways: list[tuple[list[int], dict[str, str]]],
                  place: tuple[int, float, float, float], nj: int, junctions: set[int],
                  next_id: int) -> int:
    """Add the two motorway carriageways; return the next free node id.

    Two one-way carriageways 5 km west of Demoton, joined at the junctions with the main roads
    and at both ends.
    """
    im, xm, y0, step = place
    for direction, dx in (("north", 15.0), ("south", -15.0)):
        js = list(range(0, nj + 1, 4))
        if direction == "south":
            js = js[::-1]
        refs: list[int] = []
        for j in js:
            if j in junctions:
                refs.append(node_id[(im, j)])
            else:
                nodes[next_id] = (xm + dx, y0 + j * step)
                refs.append(next_id)
                next_id += 1
        ways.append((refs, {"highway": "motorway", "oneway": "yes", "ref": "M99",
                            "name": f"Demo Motorway {direction}bound (synthetic)",
                            "maxspeed": "70 mph", "lanes": "3"}))
    return next_id


def _add_parks(rng: np.random.Generator, area: _Area, nodes: dict[int, tuple[float, float]],
               ways: list[tuple[list[int], dict[str, str]]], next_id: int) -> int:
    """Add parks as closed ways with their own nodes; return the next free node id."""
    parks = [(area.town_a, 2_600.0, 8), (area.town_b, 1_500.0, 4), (_CENTRE, 9_000.0, 3)]
    n_park = 0
    for centre, spread, count in parks:
        for _ in range(count):
            cx = centre[0] + rng.uniform(-spread, spread) * area.scale
            cy = centre[1] + rng.uniform(-spread, spread) * area.scale
            w, h = rng.uniform(120, 320), rng.uniform(90, 260)
            ring_ids = []
            for px, py in ((cx, cy), (cx + w, cy), (cx + w, cy + h), (cx, cy + h)):
                nodes[next_id] = (px, py)
                ring_ids.append(next_id)
                next_id += 1
            n_park += 1
            ways.append((ring_ids + [ring_ids[0]],
                         {"leisure": "park", "name": f"Synthetic Park {n_park}"}))
    return next_id


def _add_outlets(rng: np.random.Generator, area: _Area, attrs: _LsoaAttrs,
                 nodes: dict[int, tuple[float, float]], node_tags: dict[int, dict[str, str]],
                 next_id: int) -> int:
    """Add fast-food outlets and off-licences as tagged nodes; return the next free node id."""
    weight = attrs.pop2017 * np.exp(0.6 * attrs.z) * (0.3 + attrs.urban)
    weight = weight / weight.sum()
    for kind, count in (("fast_food", max(10, area.n // 7)), ("alcohol", max(5, area.n // 14))):
        for k in range(count):
            i = int(rng.choice(area.n, p=weight))
            p = attrs.pw[i] + rng.normal(0.0, 120.0, 2)
            nodes[next_id] = (float(p[0]), float(p[1]))
            node_tags[next_id] = ({"amenity": "fast_food", "name": f"Synth Fried Chicken {k + 1}"}
                                  if kind == "fast_food" else
                                  {"shop": "alcohol", "name": f"Demo Off Licence {k + 1}"})
            next_id += 1
    return next_id


def _lattice_ways(edges: dict[tuple[tuple[int, int], tuple[int, int]], dict[str, str]],
                  node_id: dict[tuple[int, int], int],
                  rng: np.random.Generator) -> list[tuple[list[int], dict[str, str]]]:
    """Merge runs of lattice edges with the same tags along one line into OSM ways."""
    lines: dict[tuple[str, int], list[tuple[tuple[int, int], tuple[int, int], dict[str, str]]]]
    lines = {}
    diagonals = []
    for (a, b), tags in sorted(edges.items()):
        if a[1] == b[1]:
            lines.setdefault(("h", a[1]), []).append((a, b, tags))
        elif a[0] == b[0]:
            lines.setdefault(("v", a[0]), []).append((a, b, tags))
        else:
            diagonals.append((a, b, tags))
    runs: list[tuple[str, int, list[tuple[int, int]], dict[str, str]]] = []
    for (axis, pos), segs in sorted(lines.items()):
        for a, b, tags in segs:
            last = runs[-1] if runs else None
            if (last is not None and last[:2] == (axis, pos) and last[2][-1] == a
                    and last[3] == tags):
                last[2].append(b)
            else:
                runs.append((axis, pos, [a, b], tags))
    speeds = {"primary": "40 mph", "secondary": "30 mph"}
    labels = {"primary": "Demoton Road", "secondary": "Synthby Road", "tertiary": "Demo Lane",
              "residential": "Synth Street"}
    ways: list[tuple[list[int], dict[str, str]]] = []
    for axis, pos, run, run_tags in runs:
        tags = {k: v for k, v in run_tags.items() if not k.startswith("_")}
        refs = [node_id[p] for p in run]
        if run_tags.get("_dir") == "-":
            refs = refs[::-1]
        if "name" not in tags:
            tags["name"] = (f"{labels[tags['highway']]} {'NS' if axis == 'v' else 'EW'}{pos} "
                            "(synthetic)")
        if "maxspeed" not in tags:
            if tags["highway"] in speeds:
                tags["maxspeed"] = speeds[tags["highway"]]
            elif tags["highway"] == "residential" and rng.uniform() < 0.3:
                tags["maxspeed"] = "20 mph"
        ways.append((refs, tags))
    for a, b, tags in diagonals:
        ways.append(([node_id[a], node_id[b]], dict(tags)))
    return ways


def _largest_component(ways: list[tuple[list[int], dict[str, str]]]
                       ) -> list[tuple[list[int], dict[str, str]]]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for refs, _ in ways:
        for r in refs[1:]:
            ra, rb = find(refs[0]), find(r)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    sizes: dict[int, int] = {}
    for x in list(parent):
        root = find(x)
        sizes[root] = sizes.get(root, 0) + 1
    main = min(sizes, key=lambda r: (-sizes[r], r))
    return [w for w in ways if find(w[0][0]) == main]


# --------------------------------------------------------------------------------------------
# NO2-like exposure surface
# --------------------------------------------------------------------------------------------


@dataclass
class _Raster:
    values: np.ndarray      # float32 (rows, cols), north-up
    x0: float               # west edge
    y1: float               # north edge
    cell: float
    lsoa_mean: np.ndarray   # mean NO2 in each LSOA


def _no2_surface(rng: np.random.Generator, area: _Area, fields: _Fields, osm: _Osm) -> _Raster:
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    cell = 100.0
    minx, miny, maxx, maxy = area.bbox
    x0 = math.floor((minx - 2_000.0) / 1_000.0) * 1_000.0
    y0 = math.floor((miny - 2_000.0) / 1_000.0) * 1_000.0
    x1 = math.ceil((maxx + 2_000.0) / 1_000.0) * 1_000.0
    y1 = math.ceil((maxy + 2_000.0) / 1_000.0) * 1_000.0
    cols, rows = int(round((x1 - x0) / cell)), int(round((y1 - y0) / cell))
    xs = x0 + (np.arange(cols) + 0.5) * cell
    ys = y1 - (np.arange(rows) + 0.5) * cell
    gx, gy = np.meshgrid(xs, ys)
    s = area.scale
    da2 = (gx - area.town_a[0]) ** 2 + (gy - area.town_a[1]) ** 2
    db2 = (gx - area.town_b[0]) ** 2 + (gy - area.town_b[1]) ** 2
    px, py = osm.primary_lines
    sx, sy = osm.secondary_lines
    no2 = (7.0 + 16.0 * np.exp(-da2 / (2 * (2_300.0 * s) ** 2))
           + 9.0 * np.exp(-db2 / (2 * (1_400.0 * s) ** 2))
           + 12.0 * np.exp(-np.abs(gx - osm.motorway_x) / 300.0)
           + 6.0 * np.exp(-np.minimum(np.abs(gx - px), np.abs(gy - py)) / 150.0)
           + 3.5 * np.exp(-np.minimum(np.abs(gx - sx), np.abs(gy - sy)) / 120.0))
    smooth = fields.grid("no2", xs, ys)
    no2 = no2 + 1.2 * smooth + rng.normal(0.0, 0.3, gx.shape)
    no2 = np.clip(no2, 2.0, None).astype(np.float32)
    # one 1 km block in the north-east corner has no data (far outside every LSOA)
    no2[:10, -10:] = np.float32(_NODATA)

    transform = from_origin(x0, y1, cell, cell)
    labels = rasterize(((c, k + 1) for k, c in enumerate(area.cells)), out_shape=no2.shape,
                       transform=transform, fill=0, dtype="int32")
    valid = (labels > 0) & (no2 != _NODATA)
    sums = np.bincount(labels[valid], weights=no2[valid].astype(float), minlength=area.n + 1)
    counts = np.bincount(labels[valid], minlength=area.n + 1)
    means = np.empty(area.n)
    for k, c in enumerate(area.cells):
        if counts[k + 1]:
            means[k] = sums[k + 1] / counts[k + 1]
        else:  # a cell smaller than a pixel: take the pixel under its centroid
            col = min(cols - 1, int((c.centroid.x - x0) // cell))
            row = min(rows - 1, int((y1 - c.centroid.y) // cell))
            means[k] = float(no2[row, col])
    return _Raster(values=no2, x0=x0, y1=y1, cell=cell, lsoa_mean=means)


# --------------------------------------------------------------------------------------------
# IoD2019 underlying indicators
# --------------------------------------------------------------------------------------------

_INDICATOR_COLUMNS = (
    "lsoa11cd", "income_domain_numerator",
    "income_deprivation_affecting_children_index_idaci_numerator",
    "income_deprivation_affecting_older_people_index_idaopi_numerator",
    "employment_domain_numerator", "staying_on_in_education_post_16_indicator",
    "entry_to_higher_education_indicator",
    "adult_skills_and_english_language_proficiency_indicator",
    "years_of_potential_life_lost_indicator",
    "comparative_illness_and_disability_ratio_indicator", "acute_morbidity_indicator",
    "mood_and_anxiety_disorders_indicator", "road_distance_to_a_post_office_indicator_km",
    "road_distance_to_a_primary_school_indicator_km",
    "road_distance_to_general_store_or_supermarket_indicator_km",
    "road_distance_to_a_gp_surgery_indicator_km", "household_overcrowding_indicator",
    "homelessness_indicator_rate_per_1000_households",
    "owner_occupation_affordability_component_of_housing_affordability_indicator",
    "private_rental_affordability_component_of_housing_affordability_indicator",
    "housing_affordability_indicator", "housing_in_poor_condition_indicator",
    "houses_without_central_heating_indicator", "road_traffic_accidents_indicator",
    "nitrogen_dioxide_component_of_air_quality_indicator",
    "benzene_component_of_air_quality_indicator",
    "sulphur_dioxide_component_of_air_quality_indicator",
    "particulates_component_of_air_quality_indicator", "air_quality_indicator",
)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _round5(x: np.ndarray) -> np.ndarray:
    """Round counts to the nearest 5 with a floor of 10, as IoD numerators are published."""
    return np.maximum(10, 5 * np.round(x / 5)).astype(int)


def _indicators(rng: np.random.Generator, area: _Area, a: _LsoaAttrs,
                practices: list[_Practice], raster: _Raster) -> dict[str, list[str]]:
    n = area.n
    dz = a.dz
    income_rate = _logistic(-1.95 + 0.75 * dz["income"])
    employment_rate = _logistic(-2.2 + 0.65 * dz["employment"])
    income = _round5(a.pop2015 * income_rate).astype(float)
    idaci = _round5(a.pop_0_15 * np.clip(income_rate * 1.35, 0, 0.9)).astype(float)
    idaopi = _round5(a.pop_60 * np.clip(income_rate * 1.05, 0, 0.9)).astype(float)
    employment = _round5(a.pop_wa * employment_rate).astype(float)
    idaci[rng.uniform(size=n) < 0.10] = np.nan
    idaopi[rng.uniform(size=n) < 0.03] = np.nan
    income[rng.choice(n, size=1, replace=False)] = np.nan
    employment[rng.choice(n, size=2, replace=False)] = np.nan

    gp_xy = np.array([p.xy for p in practices if p.xy is not None and p.status == "A"
                      and p.setting == 4])
    d_gp = np.array([np.min(np.hypot(*(gp_xy - c).T)) for c in a.pw]) / 1000.0 * 1.35
    lad_homeless = np.array([4.2, 3.1, 0.9, 1.2, 1.5])[np.array(area.lad_of)]
    lad_owner = np.array([0.71, 0.66, 0.78, 0.74, 0.69])[np.array(area.lad_of)]
    no2c = np.round(raster.lsoa_mean / 40.0, 2)
    benzene = np.round(np.clip(0.03 + 0.19 * no2c + rng.normal(0, 0.005, n), 0.02, 0.38), 2)
    so2 = np.round(np.clip(0.025 + 0.02 * no2c + rng.normal(0, 0.003, n), 0.01, 0.24), 2)
    pm = np.round(np.clip(0.34 + 0.12 * no2c + rng.normal(0, 0.01, n), 0.2, 0.61), 2)
    cols: dict[str, np.ndarray] = {
        "income_domain_numerator": income,
        "income_deprivation_affecting_children_index_idaci_numerator": idaci,
        "income_deprivation_affecting_older_people_index_idaopi_numerator": idaopi,
        "employment_domain_numerator": employment,
        "staying_on_in_education_post_16_indicator":
            np.clip(0.17 + 0.06 * dz["education"] + rng.normal(0, 0.02, n), 0.04, 0.57),
        "entry_to_higher_education_indicator":
            np.clip(0.89 - 0.03 * dz["education"] + rng.normal(0, 0.01, n), 0.36, 0.99),
        "adult_skills_and_english_language_proficiency_indicator":
            np.clip(0.3 + 0.1 * dz["adult_skills"] + rng.normal(0, 0.02, n), 0.03, 0.75),
        "years_of_potential_life_lost_indicator":
            np.clip(57 + 14 * dz["health"] + rng.normal(0, 4, n), 18.4, 184.7),
        "comparative_illness_and_disability_ratio_indicator":
            np.clip(117 + 45 * dz["health"] + rng.normal(0, 8, n), 31, 405),
        "acute_morbidity_indicator":
            np.clip(118 + 25 * dz["health"] + rng.normal(0, 6, n), 45, 306),
        "mood_and_anxiety_disorders_indicator": 0.8 * dz["health"] + rng.normal(0, 0.2, n),
        "road_distance_to_a_post_office_indicator_km":
            np.clip(0.8 * d_gp * rng.uniform(0.6, 1.3, n) + 0.2, 0.13, 9.17),
        "road_distance_to_a_primary_school_indicator_km":
            np.clip(0.55 * d_gp * rng.uniform(0.6, 1.3, n) + 0.15, 0.07, 7.2),
        "road_distance_to_general_store_or_supermarket_indicator_km":
            np.clip(0.5 * d_gp * rng.uniform(0.5, 1.4, n) + 0.05, 0.04, 12.0),
        "road_distance_to_a_gp_surgery_indicator_km": np.clip(d_gp, 0.11, 15.7),
        "household_overcrowding_indicator":
            np.clip(0.07 + 0.04 * dz["wider_barriers"] + rng.normal(0, 0.01, n), 0.007, 0.7),
        "homelessness_indicator_rate_per_1000_households": lad_homeless,
        "owner_occupation_affordability_component_of_housing_affordability_indicator": lad_owner,
        "private_rental_affordability_component_of_housing_affordability_indicator":
            np.clip(0.48 + 0.1 * dz["wider_barriers"] + rng.normal(0, 0.03, n), 0.05, 0.86),
        "housing_affordability_indicator": 1.2 * dz["wider_barriers"] + rng.normal(0, 0.5, n),
        "housing_in_poor_condition_indicator":
            np.clip(0.19 + 0.06 * dz["indoors"] + rng.normal(0, 0.02, n), 0.022, 0.78),
        "houses_without_central_heating_indicator":
            np.clip(0.027 + 0.012 * dz["indoors"] + rng.normal(0, 0.004, n), 0.002, 0.34),
        "road_traffic_accidents_indicator":
            np.clip(0.55 + 0.012 * (raster.lsoa_mean - 10) + rng.gamma(2.0, 0.1, n), 0.15, 50),
        "nitrogen_dioxide_component_of_air_quality_indicator": no2c,
        "benzene_component_of_air_quality_indicator": benzene,
        "sulphur_dioxide_component_of_air_quality_indicator": so2,
        "particulates_component_of_air_quality_indicator": pm,
        "air_quality_indicator": np.round(no2c + benzene + so2 + pm, 2),
    }
    out: dict[str, list[str]] = {"lsoa11cd": list(area.codes)}
    for name in _INDICATOR_COLUMNS[1:]:
        v = cols[name]
        if name.endswith("numerator"):
            out[name] = ["" if np.isnan(x) else str(int(x)) for x in v]
        elif name.startswith(("nitrogen", "benzene", "sulphur", "particulates", "air_quality")):
            out[name] = [_num(x, 2) for x in v]
        else:
            out[name] = [_num(x, 3) for x in v]
    # the derived approximate rates of imd2019_lsoa11_england.csv use the same numerators
    out["_income_rate"] = ["" if np.isnan(x) else _num(x / p, 4)
                           for x, p in zip(income, a.pop2015, strict=True)]
    out["_employment_rate"] = ["" if np.isnan(x) else _num(x / p, 4)
                               for x, p in zip(employment, a.pop_wa, strict=True)]
    return out


# --------------------------------------------------------------------------------------------
# MSOA attributes: aggregated IMD and Local Health life expectancy / SMRs / SARs
# --------------------------------------------------------------------------------------------

_LE_OTHER = (
    ("Deaths from causes considered preventable, under 75 years, SMR", 0.45, 0.25),
    ("Deaths from respiratory diseases, all ages", 0.35, 0.25),
    ("Deaths from stroke, all ages", 0.2, 0.3),
    ("Deaths from coronary heart disease, all ages", 0.25, 0.25),
    ("Deaths from circulatory disease,  under 75 years", 0.4, 0.3),
    ("Deaths from circulatory disease, all ages", 0.2, 0.18),
    ("Deaths from all cancer,  under 75 years", 0.22, 0.2),
    ("Deaths from all causes,  under 75 years", 0.33, 0.2),
    ("Deaths from all cancer, all ages", 0.16, 0.15),
    ("Deaths from all causes, all ages", 0.22, 0.15),
    ("Severe back pain prevalence, 2012", None, None),
    ("Back pain prevalence, 2012", None, None),
    ("Hospital stays for alcohol related harm (Broad definition)", 0.25, 0.2),
    ("Hospital stays for alcohol related harm (Narrow definition)", 0.25, 0.22),
    ("Limiting long-term illness or disability", None, None),
    ("Hospital stays for self harm", 0.45, 0.35),
    ("Emergency hospital admissions for hip fracture in 65+", 0.08, 0.25),
    ("Emergency hospital admissions for Chronic Obstructive Pulmonary Disease (COPD)", 0.55,
     0.3),
    ("Emergency hospital admissions for Myocardial Infarction (heart attack)", 0.25, 0.3),
    ("Emergency hospital admissions for stroke", 0.18, 0.22),
    ("Emergency hospital admissions for coronary heart disease", 0.25, 0.3),
    ("Emergency hospital admissions for all causes", 0.2, 0.15),
)


@dataclass
class _MsoaAttrs:
    pop: np.ndarray
    score: np.ndarray
    zbar: np.ndarray
    male: np.ndarray        # NaN = suppressed
    female: np.ndarray
    other: dict[str, list[str]]
    imd_agg: dict[str, list[str]]


def _msoa_attributes(rng: np.random.Generator, area: _Area, a: _LsoaAttrs,
                     fields: _Fields) -> _MsoaAttrs:
    m = len(area.msoa_codes)
    idx = np.array(area.msoa_of)
    pop = np.bincount(idx, weights=a.pop2015, minlength=m)

    def wmean(v: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=v * a.pop2015, minlength=m) / pop

    zbar = wmean(a.z)
    score = wmean(a.score)
    cent = np.array([[g.centroid.x, g.centroid.y] for g in area.msoa_geoms])
    life = fields("life", cent)
    male = np.round(np.clip(79.4 - 3.9 * zbar + 0.5 * life + rng.normal(0, 0.35, m), 66, 94), 1)
    female = np.round(np.clip(83.3 - 3.0 * zbar + 0.4 * life + rng.normal(0, 0.35, m), 72, 97),
                      1)
    # suppress two mid-deprivation MSOAs inside the area (male only; then both sexes)
    order = np.argsort(score, kind="stable")
    mid = [int(i) for i in order[m // 3: 2 * m // 3]
           if area.in_area[area.msoa_of.index(int(i))]]
    pick = rng.choice(len(mid), size=2, replace=False)
    male[mid[pick[0]]] = np.nan
    male[mid[pick[1]]] = np.nan
    female[mid[pick[1]]] = np.nan

    other: dict[str, list[str]] = {}
    llti = np.clip(17.8 + 3.5 * zbar + rng.normal(0, 1.2, m), 3.6, 38.9)
    for name, slope, noise in _LE_OTHER:
        if name.startswith("Severe back pain"):
            vals = [str(int(v)) for v in np.clip(np.round(10.4 + 1.3 * zbar
                                                          + rng.normal(0, 0.8, m)), 4, 18)]
        elif name.startswith("Back pain"):
            vals = [str(int(v)) for v in np.clip(np.round(17.0 + 1.6 * zbar
                                                          + rng.normal(0, 0.9, m)), 9, 25)]
        elif name.startswith("Limiting"):
            vals = [_num(v, 1, fixed=True) for v in llti]
        else:
            v = 100.0 * np.exp(float(slope or 0.0) * zbar + rng.normal(0, float(noise or 0.0), m))
            vals = [_num(x, 1, fixed=True) for x in np.round(v, 1)]
        other[name] = vals
    # Local Health suppresses some ratios too: blank two cells in the suppressed MSOA
    for name in ("Deaths from stroke, all ages", "Hospital stays for self harm"):
        other[name][mid[pick[1]]] = ""

    agg = _imd_aggregated(area, a, idx, pop, m)
    return _MsoaAttrs(pop=pop, score=score, zbar=zbar, male=male, female=female, other=other,
                      imd_agg=agg)


def _extent_weight(rank: np.ndarray) -> np.ndarray:
    """IoD 'extent' weight: 1 in the most deprived 10%, falling linearly to 0 at 30%."""
    pct = rank / _ENGLAND_LSOAS
    return np.where(pct <= 0.1, 1.0, np.where(pct <= 0.3, (0.3 - pct) / 0.2, 0.0))


def _imd_aggregated(area: _Area, a: _LsoaAttrs, idx: np.ndarray, pop: np.ndarray,
                    m: int) -> dict[str, list[str]]:
    def wmean(v: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=v * a.pop2015, minlength=m) / pop

    def prop(rank: np.ndarray) -> np.ndarray:
        return wmean((rank <= _ENGLAND_LSOAS // 10).astype(float))

    out: dict[str, list[str]] = {"msoa11cd": list(area.msoa_codes)}
    dom_scores = {
        "": a.score,
        "Income": _logistic(-1.95 + 0.75 * a.dz["income"]),
        "Employment": _logistic(-2.2 + 0.65 * a.dz["employment"]),
        "Education": np.exp(2.85 + 0.75 * a.dz["education"]),
        "Health": 0.8 * a.dz["health"],
        "Crime": 0.7 * a.dz["crime"],
        "Housing_and_Access": np.clip(21.9 + 8.7 * a.dz["housing_and_access"], 1.0, None),
        "Environment": np.clip(21.9 + 13.0 * a.dz["environment"], 0.5, None),
    }
    ranks = {"": a.rank, "Income": a.drank["income"], "Employment": a.drank["employment"],
             "Education": a.drank["education"], "Health": a.drank["health"],
             "Crime": a.drank["crime"], "Housing_and_Access": a.drank["housing_and_access"],
             "Environment": a.drank["environment"]}
    for key, sc in dom_scores.items():
        prefix = f"{key}_" if key else ""
        out[f"{prefix}Score"] = [_num(v, 6, sig=True) for v in wmean(sc)]
        out[f"{prefix}Proportion"] = [_num(v, 6, sig=True) for v in prop(ranks[key])]
        out[f"{prefix}Extent"] = [_num(v, 6, sig=True)
                                  for v in wmean(_extent_weight(ranks[key]))]
    return out


# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------


def _num(x: float, digits: int, *, fixed: bool = False, sig: bool = False) -> str:
    """Format a number for CSV: ``digits`` decimals (or significant digits), no trailing zeros."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if sig:
        text = f"{float(x):.{digits}g}"
        return "0" if text in ("-0", "0") else text
    text = f"{float(x):.{digits}f}"
    if not fixed and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "-0.0") else text


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], *,
               quote_all_text: bool = False) -> None:
    """Write a CSV with Unix line ends.

    ``quote_all_text`` mimics R's ``write.csv``: every text field and header quoted, numbers
    (given as int or float) bare.
    """
    buf = io.StringIO()
    if quote_all_text:
        writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    else:
        writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    _write_text(path, buf.getvalue())


def _coords(ring: np.ndarray, to84: Transformer, digits: int) -> str:
    lon, lat = to84.transform(ring[:, 0], ring[:, 1])
    return "[ " + ", ".join(f"[ {x:.{digits}f}, {y:.{digits}f} ]"
                            for x, y in zip(lon, lat, strict=True)) + " ]"


def _polygon_coords(poly: shapely.Polygon, to84: Transformer, digits: int) -> str:
    # GeoJSON (RFC 7946): exterior counter-clockwise, holes clockwise
    ext = shapely.orient_polygons(shapely.Polygon(poly.exterior), exterior_cw=False)
    rings = [np.asarray(ext.exterior.coords)]
    for hole in poly.interiors:
        h = shapely.orient_polygons(shapely.Polygon(hole), exterior_cw=True)
        rings.append(np.asarray(h.exterior.coords))
    return "[ " + ", ".join(_coords(r, to84, digits) for r in rings) + " ]"


def _props(items: Sequence[tuple[str, object]]) -> str:
    return "{ " + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items) + " }"


def _write_geojson(path: Path, name: str, features: Iterable[str]) -> None:
    head = ('{\n"type": "FeatureCollection",\n'
            f'"name": {json.dumps(name)},\n'
            '"crs": { "type": "name", "properties": { "name": '
            '"urn:ogc:def:crs:OGC:1.3:CRS84" } },\n"features": [\n')
    _write_text(path, head + ",\n".join(features) + "\n]\n}\n")


def _write_lsoa_geojson(out: Path, area: _Area, to84: Transformer, gids: list[str]) -> None:
    feats = []
    for k, (code, name, cell, gid) in enumerate(
            zip(area.codes, area.names, area.cells, gids, strict=True)):
        c = cell.centroid
        lon, lat = to84.transform(c.x, c.y)
        props = _props([
            ("OBJECTID", k + 1), ("LSOA11CD", code), ("LSOA11NM", name), ("LSOA11NMW", name),
            ("BNG_E", int(round(c.x))), ("BNG_N", int(round(c.y))),
            ("LONG", round(float(lon), 5)), ("LAT", round(float(lat), 5)),
            ("Shape__Area", round(float(cell.area), 6)),
            ("Shape__Length", round(float(cell.length), 6)), ("GlobalID", gid)])
        if isinstance(cell, shapely.MultiPolygon):
            polys = ", ".join(_polygon_coords(p, to84, 7) for p in cell.geoms)
            geom = f'{{ "type": "MultiPolygon", "coordinates": [ {polys} ] }}'
        else:
            geom = ('{ "type": "Polygon", "coordinates": '
                    f"{_polygon_coords(cell, to84, 7)} }}")
        feats.append(f'{{ "type": "Feature", "properties": {props}, "geometry": {geom} }}')
    _write_geojson(out / DEMO_FILES[0],
                   "LSOA_(Dec_2011)_Boundaries_Super_Generalised_Clipped_(BSC)_EW_V3", feats)


def _write_msoa_geojson(out: Path, area: _Area, to84: Transformer) -> None:
    feats = []
    for code, name, geom in zip(area.msoa_codes, area.msoa_names, area.msoa_geoms, strict=True):
        polys = ", ".join(_polygon_coords(p, to84, 6) for p in geom.geoms)
        g = f'{{ "type": "MultiPolygon", "coordinates": [ {polys} ] }}'
        props = _props([("msoa11cd", code), ("msoa11nm", name)])
        feats.append(f'{{ "type": "Feature", "properties": {props}, "geometry": {g} }}')
    _write_geojson(out / DEMO_FILES[1], "msoa11_boundaries_ew_generalised", feats)


def _write_lookups(out: Path, area: _Area, a: _LsoaAttrs) -> None:
    rows: list[Sequence[object]] = []
    for code, name, m, ld in zip(area.codes, area.names, area.msoa_of, area.lad_of, strict=True):
        rows.append((code, name, area.msoa_codes[m], area.msoa_names[m], area.lad_codes[ld],
                     area.lad_names[ld]))
    _write_csv(out / DEMO_FILES[2],
               ("lsoa11cd", "lsoa11nm", "msoa11cd", "msoa11nm", "lad22cd", "lad22nm"), rows)
    rows = []
    for code, name, ld in zip(area.codes, area.names, area.lad_of, strict=True):
        sc, sn, sh, icb = _SICBL[area.lad_sicbl[ld]]
        ic, iname, ih = _ICB[icb]
        rows.append((name, code, sn, sc, sh, iname, ic, ih, area.lad_names[ld],
                     area.lad_codes[ld]))
    _write_csv(out / DEMO_FILES[3],
               ("lsoa11_name", "lsoa11_code", "sicbl22_name", "sicbl22_code", "sicbl22_code_h",
                "icb22_name", "icb22_code", "icb22_code_h", "ltla22_name", "ltla22_code"),
               rows, quote_all_text=True)
    rows = [(code, r, *_RUC_LABELS[r]) for code, r in zip(area.codes, a.ruc, strict=True)]
    _write_csv(out / DEMO_FILES[4], ("lsoa11_code", "ruc11_code", "ruc", "classification"),
               rows, quote_all_text=True)


def _write_imd(out: Path, area: _Area, a: _LsoaAttrs, ind: dict[str, list[str]],
               msoa: _MsoaAttrs) -> None:
    header = ["lsoa11cd", "lsoa11nm", "lad19cd", "lad19nm", "imd_score", "imd_rank",
              "imd_decile", "income_score_rate_approx", "employment_score_rate_approx"]
    header += [f"{d}_decile" for d in _DOMAINS] + [f"{d}_rank" for d in _DOMAINS]
    header += [f"sub_{d}_decile" for d in _SUBDOMAINS] + [f"sub_{d}_rank" for d in _SUBDOMAINS]
    rows = []
    for i in range(area.n):
        ld = area.lad_of[i]
        row = [area.codes[i], area.names[i], area.lad_codes[ld], area.lad_names[ld],
               f"{a.score[i]:.3f}", str(a.rank[i]), str(a.decile[i]),
               ind["_income_rate"][i], ind["_employment_rate"][i]]
        row += [str(a.ddecile[d][i]) for d in _DOMAINS] + [str(a.drank[d][i]) for d in _DOMAINS]
        row += [str(a.ddecile[d][i]) for d in _SUBDOMAINS]
        row += [str(a.drank[d][i]) for d in _SUBDOMAINS]
        rows.append(row)
    _write_csv(out / DEMO_FILES[5], header, rows)
    _write_csv(out / DEMO_FILES[6], _INDICATOR_COLUMNS,
               zip(*(ind[c] for c in _INDICATOR_COLUMNS), strict=True))
    agg = msoa.imd_agg
    _write_csv(out / DEMO_FILES[7], list(agg), zip(*agg.values(), strict=True))


def _write_life_expectancy(out: Path, area: _Area, msoa: _MsoaAttrs) -> None:
    header = ["msoa11cd", "msoa11nm", "le_birth_male_2015_19", "le_birth_female_2015_19",
              *msoa.other]
    rows = []
    for k, code in enumerate(area.msoa_codes):
        rows.append([code, area.msoa_names[k], _num(msoa.male[k], 1, fixed=True),
                     _num(msoa.female[k], 1, fixed=True),
                     *(msoa.other[c][k] for c in msoa.other)])
    _write_csv(out / DEMO_FILES[8], header, rows)


def _write_population(out: Path, area: _Area, a: _LsoaAttrs, to84: Transformer) -> None:
    _write_csv(out / DEMO_FILES[9], ("lsoa11cd", "population_mid2017"),
               ((c, str(p)) for c, p in zip(area.codes, a.pop2017, strict=True)))
    rows: list[Sequence[object]] = []
    for i in range(area.n):
        ld = area.lad_of[i]
        rows.append((area.codes[i], area.names[i], area.lad_codes[ld], area.lad_names[ld],
                     str(a.pop2015[i]), str(a.pop_0_15[i]), str(a.pop_16_59[i]),
                     str(a.pop_60[i]), str(a.pop_wa[i])))
    _write_csv(out / DEMO_FILES[10],
               ("lsoa11cd", "lsoa11nm", "lad19cd", "lad19nm", "pop_total_mid2015",
                "pop_0_15_mid2015", "pop_16_59_mid2015", "pop_60plus_mid2015",
                "pop_working_age_18_59_64_mid2015"), rows)
    lon, lat = to84.transform(a.pw[:, 0], a.pw[:, 1])
    rows[:] = [(area.codes[i], f"{a.pw[i, 0]:.1f}", f"{a.pw[i, 1]:.1f}", str(a.n_postcodes[i]),
             f"{lon[i]:.6f}", f"{lat[i]:.6f}") for i in range(area.n)]
    _write_csv(out / DEMO_FILES[11],
               ("lsoa11cd", "easting", "northing", "n_postcodes", "lon", "lat"), rows)


_EPRACCUR_COLUMNS = (
    "org_code", "name", "national_grouping", "high_level_health_geography", "address1",
    "address2", "address3", "address4", "address5", "postcode", "open_date", "close_date",
    "status_code", "org_subtype_code", "commissioner", "join_provider_date",
    "left_provider_date", "telephone", "provider_purchaser", "prescribing_setting", "easting",
    "northing", "pqi", "lsoa11cd", "lon", "lat")


def _write_health_services(out: Path, area: _Area, practices: list[_Practice],
                           to84: Transformer) -> None:
    rows = []
    for p in practices:
        ld = area.lad_of[p.lsoa]
        sub = _SICBL[area.lad_sicbl[ld]]
        icb = _ICB[sub[3]]
        if p.xy is None:
            geo = ["", "", "", area.codes[p.lsoa], "", ""]
        else:
            lon, lat = to84.transform(p.xy[0], p.xy[1])
            geo = [f"{p.xy[0]:.1f}", f"{p.xy[1]:.1f}", "10.0", area.codes[p.lsoa],
                   f"{lon:.6f}", f"{lat:.6f}"]
        join = max(p.open_date, "20130401")
        rows.append([p.code, p.name, "Y61", icb[2], *p.address, p.postcode, p.open_date,
                     p.close_date, p.status, "B", sub[2], join, p.close_date, p.telephone,
                     sub[2], str(p.setting), *geo])
    _write_csv(out / DEMO_FILES[12], _EPRACCUR_COLUMNS, rows)

    sites = [("Demoton General Hospital (synthetic)", area.town_a, (400.0, -300.0)),
             ("Synthby Community Hospital (synthetic)", area.town_b, (-250.0, 200.0))]
    ring = [i for i in range(area.n) if not area.in_area[i]]
    rc = area.cells[ring[len(ring) // 3]].representative_point()
    sites.append(("Outerdemo Cottage Hospital (synthetic)", (rc.x, rc.y), (0.0, 0.0)))
    hospitals: list[Sequence[object]] = []
    for name, (x, y), (dx, dy) in sites:
        lon, lat = to84.transform(x + dx, y + dy)
        hospitals.append((name, round(float(lon), 6), round(float(lat), 6)))
    _write_csv(out / DEMO_FILES[13], ("hospital_name", "lon", "lat"), hospitals,
               quote_all_text=True)


def _write_osm(out: Path, osm: _Osm, to84: Transformer) -> None:
    ids = sorted(osm.nodes)
    xy = np.array([osm.nodes[i] for i in ids])
    lon, lat = to84.transform(xy[:, 0], xy[:, 1])
    attrs = f'version="1" timestamp="{_TIMESTAMP}" uid="1" user="healthgap-demo" changeset="1"'
    lines = ["<?xml version='1.0' encoding='UTF-8'?>",
             '<osm version="0.6" generator="healthgap data/demo.py (SYNTHETIC DATA)">',
             f'  <bounds minlat="{lat.min():.7f}" minlon="{lon.min():.7f}" '
             f'maxlat="{lat.max():.7f}" maxlon="{lon.max():.7f}"/>']
    for k, nid in enumerate(ids):
        head = f'  <node id="{nid}" {attrs} lat="{lat[k]:.7f}" lon="{lon[k]:.7f}"'
        tags = osm.node_tags.get(nid)
        if not tags:
            lines.append(head + "/>")
            continue
        lines.append(head + ">")
        lines += [f"    <tag k={quoteattr(t)} v={quoteattr(v)}/>" for t, v in sorted(tags.items())]
        lines.append("  </node>")
    for wid, (refs, tags) in enumerate(osm.ways, start=1):
        lines.append(f'  <way id="{wid}" {attrs}>')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f"    <tag k={quoteattr(t)} v={quoteattr(v)}/>" for t, v in sorted(tags.items())]
        lines.append("  </way>")
    lines.append("</osm>")
    _write_text(out / DEMO_FILES[14], "\n".join(lines) + "\n")


def _write_raster(out: Path, r: _Raster) -> None:
    import rasterio
    from rasterio.transform import from_origin

    path = out / DEMO_FILES[15]
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, cols = r.values.shape
    profile = {"driver": "GTiff", "height": rows, "width": cols, "count": 1,
               "dtype": "float32", "crs": "EPSG:27700",
               "transform": from_origin(r.x0, r.y1, r.cell, r.cell), "nodata": _NODATA,
               "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(r.values, 1)
        dst.update_tags(SYNTHETIC="SYNTHETIC DATA generated by healthgap data/demo.py",
                        UNITS="ug/m3 (NO2-like, synthetic)")

    # the Defra PCM 1 km grid schema: ukgridcode, x, y (cell centres), value
    block = int(round(1_000.0 / r.cell))
    out_rows = []
    for bi in range(rows // block):
        for bj in range(cols // block):
            v = r.values[bi * block:(bi + 1) * block, bj * block:(bj + 1) * block]
            if np.any(v == _NODATA):
                continue
            x = r.x0 + (bj + 0.5) * 1_000.0
            y = r.y1 - (bi + 0.5) * 1_000.0
            code = 9_000_000 + int((y // 1_000) % 1_000) * 1_000 + int((x // 1_000) % 1_000)
            out_rows.append((str(code), str(int(x)), str(int(y)),
                             _num(float(v.astype(float).mean()), 5)))
    _write_csv(out / DEMO_FILES[16], ("ukgridcode", "x", "y", "no22019"), out_rows)


def _write_readme(out: Path, seed: int, area: _Area) -> None:
    text = (
        "SYNTHETIC DATA generated by healthgap data/demo.py — not real\n"
        "\n"
        f"seed: {seed}\n"
        f"ICB: {DEMO_ICB} {DEMO_ICB_NAME}\n"
        f"LSOAs in the ICB: {int(area.in_area.sum())}; edge ring in {NEIGHBOUR_ICB}: "
        f"{int((~area.in_area).sum())}\n"
        f"{LOCATION_NOTE}\n"
        "\n"
        "The files are laid out, named and formatted like the real public data in\n"
        "../shared/data (see its SOURCES.md) so the same readers and\n"
        f"`healthgap build --area {DEMO_ICB} --data <this directory>` run on them.\n"
        "No value here describes any real person, place or service.\n"
        "OSM-style data generated by healthgap; not OpenStreetMap data.\n"
    )
    _write_text(out / README_NAME, text)
