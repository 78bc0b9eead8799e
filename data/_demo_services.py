"""The demo area's services: GP practices, the OSM road network, the NO2-like surface."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from healthgap.data._demo_base import _CENTRE, _NODATA, _OSM_MARGIN, _OSM_STEP
from healthgap.data._demo_geometry import _Area
from healthgap.data._demo_population import _Fields, _LsoaAttrs

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
