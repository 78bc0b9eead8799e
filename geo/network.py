"""Road and footpath networks from a local OpenStreetMap file, and fast many-to-many routing.

The graph is built with osmnx 2.x from a **local** file only: the ways of the travel mode that
touch the study area's box plus a buffer (default 5 km, so trips that leave the area and come back
are routed) are written to an OSM XML file with pyosmium and read with ``osmnx.graph_from_xml``
(`healthgap.data.osm.read_network_graph`, which reproduces osmnx's ``drive``/``walk`` way
filters), which parses the local file and makes no Overpass or Nominatim call. osmnx's global
settings are never changed (they are process-wide and not thread-safe). Why the XML round trip
stays: see ARCHITECTURE.md.

Travel time
-----------
Each edge gets ``length`` (m, from osmnx), ``speed_kph`` and ``travel_time`` (s).

* ``drive``: the speed of the edge's highway class from :data:`DRIVE_SPEEDS_KPH` (overridable).
  These are typical free-flow speeds, not legal limits: a rural "national speed limit" lane is
  legally 60 mph but driven far slower. Where a way has a numeric ``maxspeed`` tag, the speed is
  ``min(class speed, maxspeed)``: a posted 20 or 30 mph limit lowers the speed, but a limit is
  never taken as the speed itself. Non-numeric limits (``GB:nsl_single``, ``national``) are ignored
  (they are above every default). After simplification an edge may carry several classes or
  limits; their mean is used. There is no junction delay or congestion, so times are optimistic
  for urban peak hours.
* ``walk``: one speed for every edge, :data:`WALK_SPEED_KPH` (4.8 km/h) by default; ``maxspeed``
  is ignored and the graph is bidirectional.

The graph is projected to EPSG:27700. By default it is not simplified (``simplify=False``) so that
every OSM node is a graph node and points snap to the road close to them.

Routing
-------
:class:`RoutingNetwork` turns the graph into a scipy sparse matrix (the fastest of any parallel
edges) and routes many sources at once with ``scipy.sparse.csgraph.dijkstra`` (``limit`` = the
largest time of interest). Distances along the fastest paths are recovered from the predecessor
trees by pointer jumping, without a second search.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numba
import numpy as np
import scipy.sparse as sp
from healthgap.data.osm import MODES, read_network_graph
from healthgap.geo import BNG
from healthgap.geo._validation import number_above_zero
from numpy.typing import NDArray
from pyproj import Transformer
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from healthgap.errors import CRSError, InputError, ParameterError

log = logging.getLogger(__name__)

DRIVE_SPEEDS_KPH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 65.0,
    "primary_link": 40.0,
    "secondary": 55.0,
    "secondary_link": 40.0,
    "tertiary": 45.0,
    "tertiary_link": 35.0,
    "unclassified": 40.0,
    "residential": 30.0,
    "living_street": 15.0,
    "road": 30.0,
    "busway": 30.0,
    "default": 30.0,
}
"""Typical UK free-flow driving speeds (km/h) by OSM ``highway`` class.

Assumptions of this project, in line with common routing profiles (e.g. OSRM's car profile) and
DfT free-flow speed statistics by road type; ``default`` is used for any other class.
"""

WALK_SPEED_KPH = 4.8
"""Walking speed (km/h) used for the walk network and for the walk to and from the network."""

MPH = 1.609344

_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)


def parse_maxspeed(value: Any) -> float | None:
    """Return an OSM ``maxspeed`` value in km/h, or None if it has no number.

    Parameters
    ----------
    value
        A tag value such as ``"30 mph"``, ``"50"`` (km/h, the OSM default unit),
        ``"30 mph;40 mph"`` or a list of such values (osmnx after simplification). Several values
        give their mean; values without a number (``"GB:nsl_single"``, ``"none"``) are skipped.

    Returns
    -------
    float or None
        Speed in km/h.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    items = value if isinstance(value, list) else [value]
    speeds = []
    for item in items:
        for part in str(item).split(";"):
            match = _MAXSPEED.match(part)
            if match:
                number = float(match.group(1))
                unit = (match.group(2) or "km/h").lower()
                speeds.append(number * MPH if unit == "mph" else number)
    speeds = [s for s in speeds if s > 0]
    return float(np.mean(speeds)) if speeds else None


def _check_speeds(speeds: Mapping[str, float] | None) -> dict[str, float]:
    """Return the default drive speeds updated with ``speeds``, each checked to be > 0."""
    table = dict(DRIVE_SPEEDS_KPH)
    for key, value in (speeds or {}).items():
        table[str(key)] = number_above_zero(
            value, f"speeds[{key!r}] must be a number of km/h > 0, got {value!r}"
        )
    return table


def _class_speed(highway: Any, table: Mapping[str, float]) -> float:
    """Return the mean speed of the highway class(es) on an edge."""
    classes = highway if isinstance(highway, list) else [highway]
    values = [table.get(str(c), table["default"]) for c in classes]
    return float(np.mean(values)) if values else table["default"]


def add_travel_times(
    G: nx.MultiDiGraph,
    *,
    mode: str,
    speeds: Mapping[str, float] | None = None,
    walk_speed_kph: float = WALK_SPEED_KPH,
    use_maxspeed: bool = True,
) -> nx.MultiDiGraph:
    """Set ``speed_kph`` and ``travel_time`` (s) on every edge of ``G`` in place.

    Parameters
    ----------
    G
        Graph whose edges have ``length`` (m) and, for driving, ``highway`` and maybe ``maxspeed``.
    mode
        ``"drive"`` or ``"walk"``.
    speeds
        Overrides of :data:`DRIVE_SPEEDS_KPH` by highway class (``"default"`` for any class not
        listed), km/h.
    walk_speed_kph
        Walking speed, km/h (walk mode).
    use_maxspeed
        Cap the class speed by a numeric ``maxspeed`` tag (drive mode).

    Returns
    -------
    networkx.MultiDiGraph
        The same graph.
    """
    if mode not in MODES:
        raise ParameterError(f"mode must be one of {MODES}, got {mode!r}")
    table = _check_speeds(speeds)
    walk = float(walk_speed_kph)
    if not np.isfinite(walk) or walk <= 0:
        raise ParameterError(f"walk_speed_kph must be > 0, got {walk_speed_kph!r}")
    for _, _, data in G.edges(data=True):
        if "length" not in data:
            raise InputError("graph edges need a 'length' attribute in metres")
        if mode == "walk":
            speed = walk
        else:
            speed = _class_speed(data.get("highway"), table)
            if use_maxspeed:
                posted = parse_maxspeed(data.get("maxspeed"))
                if posted is not None:
                    speed = min(speed, posted)
        data["speed_kph"] = speed
        data["travel_time"] = float(data["length"]) / (speed / 3.6)
    return G


def _bounds_27700(bounds: Any) -> tuple[float, float, float, float]:
    """Return ``(minx, miny, maxx, maxy)`` in EPSG:27700 from a frame, geometry or 4-tuple."""
    if isinstance(bounds, gpd.GeoDataFrame | gpd.GeoSeries):
        if bounds.crs is None or not bounds.crs.equals(BNG):
            raise CRSError(f"bounds frame must be in {BNG}, got {bounds.crs}")
        box = bounds.total_bounds
    elif hasattr(bounds, "bounds") and not isinstance(bounds, tuple | list | np.ndarray):
        box = bounds.bounds
    else:
        box = bounds
    try:
        minx, miny, maxx, maxy = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ParameterError(
            f"bounds must be a GeoDataFrame in {BNG}, a shapely geometry or "
            f"(minx, miny, maxx, maxy) in metres, got {bounds!r}"
        ) from None
    if not (minx <= maxx and miny <= maxy):
        raise ParameterError(f"bounds must have minx<=maxx and miny<=maxy, got {box}")
    if not (-1e5 <= minx <= 8e5 and -1e5 <= miny <= 1.4e6):
        raise CRSError(f"bounds {box} do not look like British National Grid metres")
    return minx, miny, maxx, maxy


def read_network(
    osm_path: str | Path,
    *,
    bounds: Any,
    mode: str = "drive",
    buffer_m: float = 5000.0,
    speeds: Mapping[str, float] | None = None,
    walk_speed_kph: float = WALK_SPEED_KPH,
    use_maxspeed: bool = True,
    simplify: bool = False,
    cache_dir: str | Path | None = None,
    tmp_dir: str | Path | None = None,
) -> nx.MultiDiGraph:
    """Build a drive or walk network for an area from a local OSM file.

    Parameters
    ----------
    osm_path
        Local ``.osm.pbf`` or ``.osm`` (XML) file.
    bounds
        The study area: a GeoDataFrame in EPSG:27700 (its total bounds are used), a shapely
        geometry or ``(minx, miny, maxx, maxy)`` in metres.
    mode
        ``"drive"`` or ``"walk"``; ways are filtered as osmnx's ``network_type`` does.
    buffer_m
        Metres added around the bounds before clipping, >= 0.
    speeds
        Overrides of :data:`DRIVE_SPEEDS_KPH`.
    walk_speed_kph
        Walking speed for the walk network.
    use_maxspeed
        Cap driving speeds with numeric ``maxspeed`` tags.
    simplify
        Simplify the topology with osmnx (fewer nodes, coarser snapping).
    cache_dir
        Folder for the filtered OSM XML (reused across calls); a folder under the system
        temporary directory by default.
    tmp_dir
        Where the filtered extract is written before it enters the cache (a build's staging
        folder); ``cache_dir`` by default.

    Returns
    -------
    networkx.MultiDiGraph
        Projected to EPSG:27700 (``graph["crs"]``), every weakly connected part retained, edges
        with ``length`` (m), ``speed_kph`` and ``travel_time`` (s); ``graph["mode"]`` is set.
    """
    if mode not in MODES:
        raise ParameterError(f"mode must be one of {MODES}, got {mode!r}")
    if not np.isfinite(buffer_m) or buffer_m < 0:
        raise ParameterError(f"buffer_m must be >= 0 metres, got {buffer_m!r}")
    minx, miny, maxx, maxy = _bounds_27700(bounds)
    to_ll = Transformer.from_crs(BNG, "EPSG:4326", always_xy=True)
    west, south, east, north = to_ll.transform_bounds(
        minx - buffer_m, miny - buffer_m, maxx + buffer_m, maxy + buffer_m, densify_pts=21
    )
    folder = (
        Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "healthgap-osm"
    )
    G = read_network_graph(osm_path, mode=mode, bbox=(west, south, east, north),
                           simplify=simplify, cache_dir=folder, tmp_dir=tmp_dir)
    import osmnx as ox

    G = ox.project_graph(G, to_crs=BNG)
    G.graph["mode"] = mode
    G.graph["source"] = str(osm_path)
    add_travel_times(
        G, mode=mode, speeds=speeds, walk_speed_kph=walk_speed_kph, use_maxspeed=use_maxspeed
    )
    log.info("%s network: %d nodes, %d edges", mode, len(G), G.number_of_edges())
    return G


@dataclass(frozen=True)
class RoutingNetwork:
    """A graph compiled for fast routing: sparse matrices over positional node indices.

    Build it with :meth:`from_graph`. ``time`` holds the fastest of any parallel edges (s) and
    ``length`` the length (m) of that same edge, so costs and distances describe one path.
    """

    node_ids: NDArray[np.int64]
    xy: NDArray[np.float64]
    time: sp.csr_matrix
    length: sp.csr_matrix
    component: NDArray[np.int64]
    main: NDArray[np.bool_]
    crs: str
    mode: str

    @classmethod
    def from_graph(cls, G: nx.MultiDiGraph, *, weight: str = "travel_time") -> RoutingNetwork:
        """Compile ``G`` (EPSG:27700, edges with ``weight`` and ``length``).

        Parameters
        ----------
        G
            Projected graph, e.g. from :func:`read_network`; nodes need ``x``/``y``.
        weight
            Edge attribute holding the travel cost in seconds.

        Returns
        -------
        RoutingNetwork
            With ``main`` marking the nodes of the largest strongly connected component.
        """
        crs = G.graph.get("crs")
        if crs is None or not _same_crs(crs, BNG):
            raise CRSError(f"graph must be projected to {BNG}, got crs={crs!r}")
        if len(G) == 0:
            raise InputError("graph has no nodes")
        ids = np.fromiter(G.nodes, dtype=np.int64, count=len(G))
        pos = {n: i for i, n in enumerate(G.nodes)}
        xy = np.array([(d["x"], d["y"]) for _, d in G.nodes(data=True)], dtype=float)
        rows, cols, times, lengths = [], [], [], []
        for u, v, data in G.edges(data=True):
            if u == v:
                continue
            if weight not in data or "length" not in data:
                raise InputError(f"edge ({u}, {v}) lacks {weight!r} or 'length'")
            rows.append(pos[u])
            cols.append(pos[v])
            times.append(float(data[weight]))
            lengths.append(float(data["length"]))
        r = np.asarray(rows, dtype=np.int64)
        c = np.asarray(cols, dtype=np.int64)
        t = np.asarray(times)
        ln = np.asarray(lengths)
        if np.any(~np.isfinite(t)) or np.any(t < 0):
            raise InputError(f"edge attribute {weight!r} must be finite and >= 0")
        # keep the fastest of parallel edges; explicit tiny cost so no edge weighs exactly zero
        order = np.lexsort((t, c, r))
        r, c, t, ln = r[order], c[order], t[order], ln[order]
        first = np.ones(len(r), dtype=bool)
        first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
        r, c, t, ln = r[first], c[first], np.maximum(t[first], 1e-6), ln[first]
        n = len(ids)
        # (r, c) are sorted and unique, so both matrices share one structure, entry for entry
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.add.at(indptr, r + 1, 1)
        indptr = np.cumsum(indptr)
        time = sp.csr_matrix((t, c, indptr), shape=(n, n))
        length = sp.csr_matrix((ln, c.copy(), indptr.copy()), shape=(n, n))
        _, labels = connected_components(time, directed=True, connection="strong")
        counts = np.bincount(labels)
        main = labels == int(np.argmax(counts))
        return cls(
            node_ids=ids,
            xy=xy,
            time=time,
            length=length,
            component=labels.astype(np.int64),
            main=main,
            crs=BNG,
            mode=str(G.graph.get("mode", "")),
        )

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    def snap(
        self, xy: NDArray[np.float64], *, main_only: bool = True
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Return the nearest node (positional index) and its straight-line distance (m).

        Parameters
        ----------
        xy
            ``(k, 2)`` array of EPSG:27700 coordinates.
        main_only
            Snap only to nodes of the largest strongly connected component, so that a point is
            never attached to a fragment it cannot leave; a point far from the main network then
            shows as a long snap distance.

        Returns
        -------
        tuple of numpy.ndarray
            Node indices and distances in metres.
        """
        pts = np.asarray(xy, dtype=float).reshape(-1, 2)
        candidates = np.flatnonzero(self.main) if main_only else np.arange(self.n)
        tree = cKDTree(self.xy[candidates])
        dist, k = tree.query(pts)
        return candidates[np.asarray(k, dtype=np.int64)], np.asarray(dist, dtype=float)

    def _path_lengths(
        self,
        times: NDArray[np.float64],
        pred: NDArray[np.int32],
        targets: NDArray[np.int64],
        *,
        reverse: bool,
    ) -> NDArray[np.float64]:
        """Return the length (m) of the path to each target in the shortest-path trees ``pred``.

        ``times`` and ``pred`` are ``(k, n)`` from scipy (``pred`` < 0 at roots and unreached
        nodes). Each target's chain of predecessors is walked up to a root or to a node already
        measured, then lengths are summed back down (``pred[v] -> v``, or ``v -> pred[v]`` when
        the search ran on the reversed graph), so every node is measured at most once per tree.
        """
        return _tree_lengths(
            np.ascontiguousarray(times, dtype=np.float64),
            np.ascontiguousarray(pred),
            np.ascontiguousarray(targets, dtype=np.int64),
            self.length.indptr.astype(np.int64),
            self.length.indices.astype(np.int64),
            self.length.data.astype(np.float64),
            reverse,
        )

    def costs(
        self,
        sources: NDArray[np.int64],
        targets: NDArray[np.int64],
        *,
        limit_s: float = np.inf,
        reverse: bool = False,
        chunk: int = 64,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return network time (s) and distance (m) from each source node to each target node.

        Parameters
        ----------
        sources, targets
            Positional node indices.
        limit_s
            Search no further than this many seconds; costs above it are ``inf``.
        reverse
            Search the reversed graph, giving the cost from each *target* to each *source*
            (``result[i, j]`` = cost from ``targets[j]`` to ``sources[i]``). Use it to route from
            the smaller side.
        chunk
            Sources searched together (bounds memory to ``chunk * n`` floats).

        Returns
        -------
        tuple of numpy.ndarray
            ``(len(sources), len(targets))`` times and distances; ``inf`` where not reached
            within ``limit_s``.
        """
        sources = np.asarray(sources, dtype=np.int64)
        targets = np.asarray(targets, dtype=np.int64)
        graph = self.time.T.tocsr() if reverse else self.time
        times = np.full((len(sources), len(targets)), np.inf)
        dists = np.full((len(sources), len(targets)), np.inf)
        for start in range(0, len(sources), chunk):
            block = sources[start : start + chunk]
            if len(block) == 0:
                continue
            t, pred = dijkstra(
                graph, directed=True, indices=block, limit=limit_s, return_predecessors=True
            )
            t = np.atleast_2d(t)
            pred = np.atleast_2d(pred)
            times[start : start + len(block)] = t[:, targets]
            dists[start : start + len(block)] = self._path_lengths(
                t, pred, targets, reverse=reverse
            )
        return times, dists

    def nearest(
        self,
        targets: NDArray[np.int64],
        *,
        offsets_s: NDArray[np.float64] | None = None,
        limit_s: float = np.inf,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
        """Return, for every node, the time and distance to its nearest target, and which one.

        One Dijkstra search on the reversed graph from a virtual source joined to every target
        node by an edge of weight ``offsets_s`` (the time from the road to the facility), so the
        cost is ``min over targets (network time to target + offset)``.

        Parameters
        ----------
        targets
            Positional node indices of the targets (may repeat).
        offsets_s
            Extra seconds at each target, >= 0; zeros by default.
        limit_s
            Search no further than this many seconds.

        Returns
        -------
        tuple of numpy.ndarray
            ``time`` (s, including the offset; ``inf`` if none within the limit), ``distance`` (m,
            network only) and ``which`` (position in ``targets``, -1 if none) for each node.
        """
        targets = np.asarray(targets, dtype=np.int64)
        offs = np.zeros(len(targets)) if offsets_s is None else np.asarray(offsets_s, dtype=float)
        if len(targets) == 0:
            return np.full(self.n, np.inf), np.full(self.n, np.inf), np.full(self.n, -1, np.int64)
        # best target per node: the one with the smallest offset
        order = np.lexsort((offs, targets))
        t_sorted, o_sorted = targets[order], offs[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = t_sorted[1:] != t_sorted[:-1]
        nodes, node_off, node_which = t_sorted[first], o_sorted[first], order[first]
        n = self.n
        rev = self.time.T.tocoo()
        virtual = n
        rows = np.concatenate([rev.row, np.full(len(nodes), virtual)])
        cols = np.concatenate([rev.col, nodes])
        data = np.concatenate([rev.data, np.maximum(node_off, 1e-9)])
        graph = sp.csr_matrix((data, (rows, cols)), shape=(n + 1, n + 1))
        t, pred = dijkstra(
            graph, directed=True, indices=virtual, limit=limit_s, return_predecessors=True
        )
        t = np.asarray(t)[:n]
        pred = np.asarray(pred, dtype=np.int64)
        # which target: climb each node's tree to the child of the virtual source
        jump = np.where(pred == virtual, np.arange(n + 1), pred)
        jump[virtual] = virtual
        jump = np.where(jump < 0, np.arange(n + 1), jump)
        while True:
            nxt = jump[jump]
            if np.array_equal(nxt, jump):
                break
            jump = nxt
        root = jump[:n]
        reached = np.isfinite(t)
        which_node = np.where(reached, root, -1)
        lookup = np.full(n, -1, dtype=np.int64)
        lookup[nodes] = node_which
        which = np.where(reached, lookup[np.clip(which_node, 0, n - 1)], -1)
        # network distance: lengths up the tree, stopping below the virtual source
        p = np.where(pred[:n] == virtual, -9999, pred[:n])
        d = self._path_lengths(t[None, :], p[None, :], np.arange(n), reverse=True)[0]
        d = np.where(reached, d, np.inf)
        return t, d, which


def _same_crs(a: Any, b: str) -> bool:
    """Return True if two CRS descriptions are the same."""
    from pyproj import CRS

    try:
        return bool(CRS.from_user_input(a).equals(CRS.from_user_input(b)))
    except Exception:  # noqa: BLE001 - any unparsable CRS is simply not BNG
        return False


@numba.njit(cache=True)
def _tree_lengths(
    times: NDArray[np.float64],
    pred: NDArray[np.integer],
    targets: NDArray[np.int64],
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    lengths: NDArray[np.float64],
    reverse: bool,
) -> NDArray[np.float64]:  # pragma: no cover - compiled
    """Sum edge lengths along shortest-path trees (see ``RoutingNetwork._path_lengths``)."""
    k, n = pred.shape
    m = len(targets)
    out = np.full((k, m), np.inf)
    memo = np.full(n, np.nan)
    stack = np.empty(n, dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    for r in range(k):
        n_touched = 0
        for j in range(m):
            v = targets[j]
            if not np.isfinite(times[r, v]):
                continue
            top = 0
            u = v
            while np.isnan(memo[u]) and pred[r, u] >= 0:
                stack[top] = u
                top += 1
                u = pred[r, u]
            if np.isnan(memo[u]):  # a root
                memo[u] = 0.0
                touched[n_touched] = u
                n_touched += 1
            acc = memo[u]
            while top > 0:
                top -= 1
                w = stack[top]
                p = pred[r, w]
                a = w if reverse else p
                b = p if reverse else w
                edge = np.nan
                for e in range(indptr[a], indptr[a + 1]):
                    if indices[e] == b:
                        edge = lengths[e]
                        break
                acc += edge
                memo[w] = acc
                touched[n_touched] = w
                n_touched += 1
            out[r, j] = memo[v]
        for i in range(n_touched):
            memo[touched[i]] = np.nan
    return out
