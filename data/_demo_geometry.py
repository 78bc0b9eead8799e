"""The demo area's geometry: outline, seed points, Voronoi cells, local authorities, MSOAs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from healthgap.data._demo_base import (
    _CENTRE,
    DEMO_ICB,
    DEMO_ICB_NAME,
    NEIGHBOUR_ICB,
    NEIGHBOUR_ICB_NAME,
)

from healthgap.errors import ParameterError

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
