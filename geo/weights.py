"""Spatial weights: who counts as whose neighbour, as a ``libpysal.graph.Graph`` indexed by code.

:func:`build_weights` builds contiguity (queen, rook), k-nearest-neighbour, distance-band or
kernel weights over every row of an area frame, joins *islands* (areas with no neighbour) to
their nearest area unless told not to, and reports islands, the links added and the connected
components in a :class:`WeightsResult`.

Edge ring
---------
Weights are always built over all rows, the edge ring included, so that areas at the edge of a
study area keep their real neighbours. If the frame has a boolean ``in_area`` column it is kept
on the result (``WeightsResult.in_area``); the statistics in :mod:`geo.autocorrelation` and
:mod:`geo.local` then *report* only those rows (see their ``report`` argument).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo import BNG
from libpysal.graph import Graph
from numba import njit
from pyproj import CRS
from scipy.spatial import cKDTree

from healthgap.errors import (
    CRSError,
    DuplicateCodeError,
    GeometryError,
    InputError,
    JoinError,
    ParameterError,
    UnknownAreaError,
    preview,
)

logger = logging.getLogger(__name__)

KINDS = ("queen", "rook", "knn", "distance_band", "kernel")
TRANSFORMS = ("r", "b", "o", "v", "d")
KERNELS = ("triangular", "parabolic", "gaussian", "bisquare", "cosine", "boxcar", "exponential")
_MAX_MEAN_NEIGHBOURS = 200
_SMALL_COMPONENT_CODES = 50

Kind = Literal["queen", "rook", "knn", "distance_band", "kernel"]
Report: TypeAlias = Sequence[str] | pd.Series | np.ndarray | None
"""Areas to report: codes, a boolean Series indexed by code, a boolean array, or None."""


@dataclass
class WeightsResult:
    """Spatial weights and what was done to build them.

    Attributes
    ----------
    graph
        The weights, indexed by area code in the order of the input frame, transformed as
        asked (row-standardised by default).
    kind
        ``"queen"``, ``"rook"``, ``"knn"``, ``"distance_band"`` or ``"kernel"``.
    params
        The parameters used (k, threshold, bandwidth, kernel, transform, islands, points).
    islands
        Codes of the areas that had no neighbour under ``kind``.
    island_links
        ``(island, nearest)`` pairs added as symmetric links (empty with ``islands="keep"``).
    n_components
        Number of connected components after the island links.
    component_sizes
        Component sizes, largest first.
    small_components
        For every component except the largest: its member codes (at most 50 listed each).
    in_area
        The frame's ``in_area`` column (bool, indexed by code) if it had one, else None.
    """

    graph: Graph
    kind: str
    params: dict[str, Any]
    islands: list[str]
    island_links: list[tuple[str, str]]
    n_components: int
    component_sizes: list[int]
    small_components: list[list[str]] = field(default_factory=list)
    in_area: pd.Series | None = None

    def summary(self) -> dict[str, Any]:
        """Return a JSON-serialisable description for the build manifest."""
        card = self.graph.cardinalities
        return {
            "kind": self.kind,
            "params": {k: _jsonable(v) for k, v in self.params.items()},
            "n_areas": int(self.graph.n),
            "n_links": int((card).sum()),
            "neighbours_mean": float(card.mean()) if len(card) else 0.0,
            "neighbours_min": int(card.min()) if len(card) else 0,
            "neighbours_max": int(card.max()) if len(card) else 0,
            "islands": list(self.islands),
            "island_links": [list(p) for p in self.island_links],
            "n_components": int(self.n_components),
            "component_sizes": [int(s) for s in self.component_sizes],
            "small_components": [list(c) for c in self.small_components],
            "n_in_area": None if self.in_area is None else int(self.in_area.sum()),
        }


def build_weights(
    gdf: gpd.GeoDataFrame,
    *,
    kind: Kind = "queen",
    k: int = 8,
    threshold: float | None = None,
    bandwidth: float | None = None,
    kernel: str = "triangular",
    transform: str = "r",
    islands: Literal["nearest", "keep"] = "nearest",
    include: Sequence[str] | pd.Series | np.ndarray | None = None,
) -> WeightsResult:
    """Build spatial weights over the rows of an area frame.

    Parameters
    ----------
    gdf
        Areas indexed by code, in EPSG:27700. Distance-based kinds use the ``pw_x``/``pw_y``
        columns (population-weighted centroids) when both are present, else polygon centroids.
    kind
        ``"queen"``/``"rook"`` contiguity, ``"knn"`` (k nearest points), ``"distance_band"``
        (binary, points within ``threshold`` metres) or ``"kernel"`` (kernel-weighted).
    k
        Neighbours for ``"knn"``; also the truncation of an adaptive ``"kernel"`` when no
        ``bandwidth`` is given.
    threshold
        Distance band in metres. Default: the smallest distance that gives every area at
        least one neighbour (GeoDa's default).
    bandwidth
        Fixed kernel bandwidth in metres for ``"kernel"``. Default: adaptive, k nearest
        neighbours with the largest k-th neighbour distance as bandwidth (libpysal).
    kernel
        Kernel function for ``"kernel"``: one of triangular, parabolic, gaussian, bisquare,
        cosine, boxcar, exponential.
    transform
        ``"r"`` row-standardised (default), ``"b"`` binary, ``"o"`` as built, ``"v"``, ``"d"``.
    islands
        ``"nearest"`` joins each area with no neighbour to its nearest area (polygon distance
        for contiguity, point distance otherwise) by a symmetric link; ``"keep"`` leaves it
        isolated. Either way islands are reported.
    include
        Codes (or a boolean mask aligned with ``gdf``) of the rows to build the weights over;
        the other rows are left out, e.g. rows without a value for the indicator. Default: all.

    Returns
    -------
    WeightsResult
        The graph and a report of islands, links added and connected components.
    """
    frame = _validate_frame(gdf)
    frame = _select(frame, include)
    if kind not in KINDS:
        raise ParameterError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if islands not in ("nearest", "keep"):
        raise ParameterError(f"islands must be 'nearest' or 'keep'; got {islands!r}")
    if not isinstance(transform, str) or transform.lower() not in TRANSFORMS:
        raise ParameterError(f"transform must be one of {', '.join(TRANSFORMS)}; got {transform!r}")
    n = len(frame)
    if n < 2:
        raise InputError(f"spatial weights need at least 2 areas; got {n}")
    params: dict[str, Any] = {"transform": transform.lower(), "islands": islands}
    ids = frame.index

    if kind in ("queen", "rook"):
        raw = (_queen_graph(frame) if kind == "queen" else
               Graph.build_contiguity(frame.geometry, rook=True, strict=False))
        points_source = None
    else:
        xy, points_source = _points(frame)
        params["points"] = points_source
        _check_coincident(xy, ids)
        raw = _point_graph(kind, xy, ids, k=k, threshold=threshold, bandwidth=bandwidth,
                           kernel=kernel, params=params)  # fmt: skip

    isolated = [str(c) for c in raw.isolates]
    links: list[tuple[str, str]] = []
    graph = raw
    if isolated and islands == "nearest":
        links = _nearest_links(frame, isolated, kind)
        binary = kind in ("queen", "rook", "knn", "distance_band")
        positive = raw.adjacency[raw.adjacency > 0]
        link_weight = 1.0 if binary or positive.empty else float(positive.min())
        graph = _add_links(raw, ids, links, link_weight)
    if isolated:
        logger.info("%s weights: %d island(s) %s; links %s", kind, len(isolated),
                    preview(isolated), links)  # fmt: skip
    graph = graph.transform(transform.upper())

    labels = graph.component_labels
    sizes = labels.value_counts()
    small = [
        [str(c) for c in labels.index[labels == lab][:_SMALL_COMPONENT_CODES]]
        for lab in sizes.index[1:]
    ]
    in_area = None
    if "in_area" in frame.columns:
        in_area = frame["in_area"].astype(bool).rename("in_area")
    return WeightsResult(
        graph=graph,
        kind=kind,
        params=params,
        islands=isolated,
        island_links=links,
        n_components=int(graph.n_components),
        component_sizes=[int(s) for s in sizes.to_numpy()],
        small_components=small,
        in_area=in_area,
    )


# ------------------------------------------------------------------------------------------
# Helpers shared with the statistics modules
# ------------------------------------------------------------------------------------------


def resolve_weights(weights: Graph | WeightsResult) -> tuple[Graph, str, pd.Series | None]:
    """Return ``(graph, kind, in_area)`` from a :class:`WeightsResult` or a bare ``Graph``.

    Parameters
    ----------
    weights
        What the caller passed as weights.
    """
    if isinstance(weights, WeightsResult):
        return weights.graph, weights.kind, weights.in_area
    if isinstance(weights, Graph):
        return weights, "custom", None
    raise InputError(
        f"weights must be a WeightsResult or a libpysal.graph.Graph; got {type(weights).__name__}"
    )


def report_mask(
    report: Sequence[str] | pd.Series | np.ndarray | None,
    ids: pd.Index,
    default: pd.Series | None = None,
) -> np.ndarray:
    """Return a boolean array over ``ids`` of the areas whose results are reported.

    Parameters
    ----------
    report
        Codes to report, or a boolean Series indexed by code, or a boolean array aligned with
        ``ids``. None uses ``default`` (the weights' ``in_area``) or, failing that, all areas.
    ids
        The graph's codes, in graph order.
    default
        Fallback mask (bool Series indexed by code).
    """
    if report is None:
        report = default
    if report is None:
        return np.ones(len(ids), dtype=bool)
    if isinstance(report, pd.Series) and report.dtype == bool:
        missing = ids.difference(report.index)
        if len(missing):
            raise UnknownAreaError(
                f"report mask has no entry for {len(missing)} area(s) of the weights: "
                f"{preview(missing)}"
            )
        return report.reindex(ids).to_numpy(dtype=bool)
    arr = np.asarray(report)
    if arr.dtype == bool:
        if arr.shape != (len(ids),):
            raise InputError(
                f"report mask has {arr.size} entries but the weights have {len(ids)} areas"
            )
        return arr.copy()
    codes = pd.Index(arr)
    unknown = codes.difference(ids)
    if len(unknown):
        raise UnknownAreaError(
            f"report lists {len(unknown)} code(s) not in the weights: {preview(unknown)}"
        )
    return ids.isin(codes)


def align_values(y: object, ids: pd.Index, name: str | None = None) -> tuple[np.ndarray, str]:
    """Return the indicator as a float array in graph order, and its name.

    Missing values are an error, not silently dropped: build the weights over the areas that
    have a value (``build_weights(..., include=codes)``) to leave the others out explicitly.

    Parameters
    ----------
    y
        A Series indexed by area code (preferred) or an array already in graph order.
    ids
        The graph's codes, in graph order.
    name
        Indicator name for messages; defaults to the Series name.
    """
    if isinstance(y, pd.Series):
        label = name or (str(y.name) if y.name is not None else "indicator")
        dup = y.index[y.index.duplicated()]
        if len(dup):
            raise DuplicateCodeError(
                f"indicator {label!r} has repeated codes: {preview(pd.unique(dup))}"
            )
        missing = ids.difference(y.index)
        extra = y.index.difference(ids)
        if len(missing) or len(extra):
            raise JoinError(
                f"indicator {label!r} and the weights do not cover the same areas: "
                f"{len(missing)} area(s) of the weights have no value ({preview(missing)}); "
                f"{len(extra)} value(s) are for areas not in the weights ({preview(extra)}); "
                "select them explicitly, e.g. y.reindex(weights.graph.unique_ids)"
            )
        try:
            values = y.reindex(ids).to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(f"indicator {label!r} is not numeric ({y.dtype})") from exc
    else:
        label = name or "indicator"
        try:
            values = np.asarray(y, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(f"indicator {label!r} is not numeric") from exc
        if values.shape != (len(ids),):
            raise InputError(
                f"indicator {label!r} has shape {values.shape} but the weights have "
                f"{len(ids)} areas; pass a Series indexed by area code"
            )
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(
            f"indicator {label!r} is missing (NaN or infinite) for {int(bad.sum())} area(s): "
            f"{preview(ids[bad])}; leave them out explicitly, e.g. "
            "build_weights(gdf, include=codes_with_values)"
        )
    if values.size and np.ptp(values) == 0:
        raise InputError(f"indicator {label!r} is constant; spatial statistics are undefined")
    return values, label


# ------------------------------------------------------------------------------------------
# Private helpers
# ------------------------------------------------------------------------------------------


def _validate_frame(gdf: object) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"expected GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None:
        raise CRSError(f"area frame has no CRS; expected {BNG} (British National Grid)")
    if CRS.from_user_input(gdf.crs) != CRS.from_user_input(BNG):
        raise CRSError(
            f"area frame is in {gdf.crs.to_string()}; expected {BNG} (British National Grid). "
            "Reproject a copy with gdf.to_crs('EPSG:27700')"
        )
    dup = gdf.index[gdf.index.duplicated()]
    if len(dup):
        raise DuplicateCodeError(
            f"area frame index ({gdf.index.name or 'codes'}) repeats {len(dup)} code(s): "
            f"{preview(pd.unique(dup))}"
        )
    geom = gdf.geometry
    bad = gdf.index[geom.isna() | geom.is_empty]
    if len(bad):
        raise GeometryError(f"{len(bad)} area(s) have missing or empty geometry: {preview(bad)}")
    return gdf


def _select(frame: gpd.GeoDataFrame, include: object) -> gpd.GeoDataFrame:
    if include is None:
        return frame
    if isinstance(include, pd.Series) and include.dtype == bool:
        missing = frame.index.difference(include.index)
        if len(missing):
            raise UnknownAreaError(
                f"include mask has no entry for {len(missing)} area(s): {preview(missing)}"
            )
        return frame[include.reindex(frame.index).to_numpy()]
    arr = np.asarray(include)
    if arr.dtype == bool:
        if arr.shape != (len(frame),):
            raise InputError(
                f"include mask has {arr.size} entries but the frame has {len(frame)} rows"
            )
        return frame[arr]
    codes = pd.Index(arr)
    unknown = codes.difference(frame.index)
    if len(unknown):
        raise UnknownAreaError(
            f"include lists {len(unknown)} code(s) not in the frame: {preview(unknown)}"
        )
    return frame[frame.index.isin(codes)]


def _points(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, str]:
    if {"pw_x", "pw_y"} <= set(frame.columns):
        xy = frame[["pw_x", "pw_y"]].to_numpy(dtype=float)
        bad = frame.index[~np.isfinite(xy).all(axis=1)]
        if len(bad):
            raise InputError(
                f"columns pw_x/pw_y are missing for {len(bad)} area(s): {preview(bad)}; "
                "fill them (e.g. with polygon centroids) before building distance weights"
            )
        return xy, "pw_x/pw_y"
    cent = frame.geometry.centroid
    return np.column_stack([cent.x.to_numpy(), cent.y.to_numpy()]), "centroid"


def _check_coincident(xy: np.ndarray, ids: pd.Index) -> None:
    dup = pd.DataFrame(xy).duplicated(keep=False).to_numpy()
    if dup.any():
        raise InputError(
            f"{int(dup.sum())} area(s) share a point location, so nearest neighbours are "
            f"undefined: {preview(ids[dup])}"
        )


def _point_graph(
    kind: str,
    xy: np.ndarray,
    ids: pd.Index,
    *,
    k: int,
    threshold: float | None,
    bandwidth: float | None,
    kernel: str,
    params: dict[str, Any],
) -> Graph:
    n = len(ids)
    tree = cKDTree(xy)
    if kind == "knn" or (kind == "kernel" and bandwidth is None):
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k < n:
            raise ParameterError(f"k must be a whole number from 1 to {n - 1}; got {k!r}")
        params["k"] = int(k)
    if kind == "knn":
        return _relabel(Graph.build_knn(xy, k=int(k), coplanar="raise"), ids)
    if kind == "distance_band":
        if threshold is None:
            nn_dist, _ = tree.query(xy, k=2)
            # a hair above the largest nearest-neighbour distance, so that the pair defining
            # it is not lost to rounding in the band test
            threshold = float(nn_dist[:, 1].max()) * (1 + 1e-9)
            params["threshold_rule"] = "min distance giving every area a neighbour"
        if not np.isfinite(threshold) or threshold <= 0:
            raise ParameterError(
                f"threshold must be a positive distance in metres; got {threshold}"
            )
        params["threshold"] = float(threshold)
        _check_density(tree, xy, float(threshold), "threshold")
        return _binary_band(tree, ids, float(threshold))
    # kernel
    if kernel not in KERNELS:
        raise ParameterError(f"kernel must be one of {', '.join(KERNELS)}; got {kernel!r}")
    params["kernel"] = kernel
    if bandwidth is None:
        params["bandwidth_rule"] = f"adaptive: {k} nearest, largest k-th distance"
        return _relabel(Graph.build_kernel(xy, kernel=kernel, k=int(k), coplanar="raise"), ids)
    if not np.isfinite(bandwidth) or bandwidth <= 0:
        raise ParameterError(f"bandwidth must be a positive distance in metres; got {bandwidth}")
    params["bandwidth"] = float(bandwidth)
    _check_density(tree, xy, float(bandwidth), "bandwidth")
    graph = Graph.build_distance_band(
        xy, float(bandwidth), binary=False, kernel=kernel, bandwidth=float(bandwidth)
    )
    return _relabel(graph, ids)


def _queen_graph(frame: gpd.GeoDataFrame) -> Graph:
    """Queen contiguity: areas sharing at least one boundary vertex (binary int weights).

    libpysal's ``Graph.build_contiguity(geometry, rook=False, strict=False)`` by the same
    rule (exactly equal vertex coordinates), with the vertex-to-area map built by hashing
    the coordinate pairs (``pandas.factorize``) and the shared-vertex pairs listed by a
    compiled loop (`_run_pairs`) instead of Python sets: about half the time at
    England's LSOAs. `tests/geo/test_weights.py` compares the two graphs.
    """
    import shapely

    xy, owner = shapely.get_coordinates(frame.geometry.to_numpy(), return_index=True)
    vertex = pd.factorize(np.ascontiguousarray(xy).view(np.complex128).ravel())[0]
    m = np.int64(len(frame))
    # one row per (vertex, area), sorted by vertex
    key = np.unique(vertex.astype(np.int64) * m + owner.astype(np.int64))
    vertex_of, area_of = key // m, key % m
    runs = np.flatnonzero(np.r_[True, vertex_of[1:] != vertex_of[:-1], True])  # run bounds
    focal, neighbor = _run_pairs(area_of, runs)
    pair = np.unique(focal * m + neighbor)
    return _from_positions(frame.index, pair // m, pair % m, np.ones(len(pair), dtype=np.int64))


@njit(cache=True)
def _run_pairs(area: np.ndarray,
               bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Every ordered pair of distinct entries of ``area`` in each run ``bounds[r]:bounds[r+1]``."""
    sizes = bounds[1:] - bounds[:-1]
    focal = np.empty(int((sizes * (sizes - 1)).sum()), np.int64)
    neighbor = np.empty_like(focal)
    k = 0
    for r in range(sizes.shape[0]):
        for a in range(bounds[r], bounds[r + 1]):
            for b in range(bounds[r], bounds[r + 1]):
                if a != b:
                    focal[k] = area[a]
                    neighbor[k] = area[b]
                    k += 1
    return focal, neighbor


def _binary_band(tree: cKDTree, ids: pd.Index, threshold: float) -> Graph:
    """Binary distance-band graph: every other area within ``threshold`` (``<=``) weighs 1.

    The graph libpysal's ``Graph.build_distance_band(xy, threshold, binary=True)`` gives,
    from the same KD-tree search (``sparse_distance_matrix``) collected as COO arrays rather
    than a dictionary-of-keys matrix, which scipy converts slowly (about 1 s a call at
    England's LSOAs); areas with no other area in the band are isolates.
    `tests/geo/test_weights.py` compares the two graphs.
    """
    d = tree.sparse_distance_matrix(tree, threshold, output_type="coo_matrix")
    off = d.row != d.col
    return _from_positions(ids, d.row[off].astype(np.int64), d.col[off].astype(np.int64),
                           np.ones(int(off.sum())))


def _check_density(tree: cKDTree, xy: np.ndarray, radius: float, name: str) -> None:
    counts = tree.query_ball_point(xy, r=radius, return_length=True)
    mean = float(np.mean(counts)) - 1.0
    if mean > _MAX_MEAN_NEIGHBOURS:
        raise ParameterError(
            f"{name}={radius:.0f} m gives {mean:.0f} neighbours per area on average (more than "
            f"{_MAX_MEAN_NEIGHBOURS}); choose a smaller {name} — areas left without a "
            "neighbour are joined to their nearest area"
        )


def _relabel(graph: Graph, ids: pd.Index) -> Graph:
    """Replace libpysal's positional ids (0..n-1) by area codes, keeping the order."""
    adj = graph.adjacency
    focal = ids[adj.index.get_level_values("focal").to_numpy()]
    neighbor = ids[adj.index.get_level_values("neighbor").to_numpy()]
    return _from_positions(
        ids,
        ids.get_indexer(focal),
        ids.get_indexer(neighbor),
        adj.to_numpy(dtype=float),
    )


def _from_positions(
    ids: pd.Index, focal: np.ndarray, neighbor: np.ndarray, weight: np.ndarray
) -> Graph:
    """Build a Graph in ``ids`` order from positional edges (isolates become 0 self-loops)."""
    keep = (focal != neighbor) | (weight != 0)
    focal, neighbor, weight = focal[keep], neighbor[keep], weight[keep]
    present = np.zeros(len(ids), dtype=bool)
    present[focal] = True
    iso = np.flatnonzero(~present)
    focal = np.concatenate([focal, iso])
    neighbor = np.concatenate([neighbor, iso])
    weight = np.concatenate([weight, np.zeros(len(iso), dtype=weight.dtype)])
    order = np.lexsort((neighbor, focal))
    index = pd.MultiIndex.from_arrays(
        [ids[focal[order]], ids[neighbor[order]]], names=["focal", "neighbor"]
    )
    return Graph(pd.Series(weight[order], index=index, name="weight"), is_sorted=False)


def _nearest_links(
    frame: gpd.GeoDataFrame, isolated: list[str], kind: str
) -> list[tuple[str, str]]:
    ids = frame.index
    positions = ids.get_indexer(isolated)
    if kind in ("queen", "rook"):
        nearest = np.empty(len(positions), dtype=np.int64)
        for i, pos in enumerate(positions.tolist()):
            dist = frame.geometry.distance(frame.geometry.iloc[pos]).to_numpy(copy=True)
            dist[pos] = np.inf
            nearest[i] = int(np.argmin(dist))  # first in frame order on ties
    else:
        xy = _points(frame)[0]
        nearest = _nearest_points(cKDTree(xy), xy, positions)
    links: set[tuple[str, str]] = set()
    ordered: list[tuple[str, str]] = []
    for code, other in zip(isolated, ids[nearest].astype(str), strict=True):
        pair = (code, other)
        key = (min(pair), max(pair))
        if key not in links:
            links.add(key)
            ordered.append(pair)
    return ordered


def _nearest_points(tree: cKDTree, xy: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Position of the point nearest each ``xy[pos]`` (not itself), the first in order on ties.

    The same answer as the ``argmin`` of ``np.hypot`` to every point: the tree proposes the
    points within a hair of the nearest distance (one query for every position), and those are
    compared by the same ``hypot`` in position order, so rounding in the tree's distances
    cannot change the choice.
    """
    positions = np.asarray(positions, dtype=np.int64)
    out = np.empty(len(positions), dtype=np.int64)
    if not len(positions):
        return out
    points = xy[positions]
    near, _ = tree.query(points, k=2)  # itself at 0, then the nearest other point
    radius = near[:, 1] * (1 + 1e-9) + 1e-9
    for i, (pos, cand) in enumerate(zip(positions.tolist(),
                                        tree.query_ball_point(points, r=radius), strict=True)):
        c = np.asarray(sorted(cand), dtype=np.int64)
        c = c[c != pos]
        out[i] = c[int(np.argmin(np.hypot(*(xy[c] - xy[pos]).T)))]
    return out


def _add_links(graph: Graph, ids: pd.Index, links: list[tuple[str, str]], weight: float) -> Graph:
    adj = graph.adjacency
    focal = ids.get_indexer(adj.index.get_level_values("focal"))
    neighbor = ids.get_indexer(adj.index.get_level_values("neighbor"))
    w = adj.to_numpy(dtype=float)
    a = ids.get_indexer([p[0] for p in links])
    b = ids.get_indexer([p[1] for p in links])
    focal = np.concatenate([focal, a, b])
    neighbor = np.concatenate([neighbor, b, a])
    w = np.concatenate([w, np.full(2 * len(links), weight)])
    return _from_positions(ids, focal, neighbor, w)


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return value


def band_threshold(gdf: gpd.GeoDataFrame, *, quantile: float = 0.95) -> float:
    """Return a distance band (m) giving most areas a neighbour without swamping dense ones.

    GeoDa's default band (the largest nearest-neighbour distance) is set by the most remote
    area; over a whole country it links hundreds of urban areas to each other. This takes the
    ``quantile`` of the nearest-neighbour distances instead; the few areas beyond it are then
    joined to their nearest area by `build_weights` and reported as islands.

    Parameters
    ----------
    gdf
        Areas in EPSG:27700 (``pw_x``/``pw_y`` used when present, else centroids).
    quantile
        Share of areas whose nearest neighbour lies within the band, in (0, 1].
    """
    if not 0 < quantile <= 1:
        raise ParameterError(f"quantile={quantile!r}: allowed (0, 1]")
    frame = _validate_frame(gdf)
    if len(frame) < 2:
        raise ParameterError("band_threshold needs at least two areas")
    xy, _ = _points(frame)
    dist, _ = cKDTree(xy).query(xy, k=2)
    return float(np.quantile(dist[:, 1], quantile))
