from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from healthgap.geo.weights import build_weights
from libpysal.graph import Graph
from scipy.spatial import cKDTree

from healthgap.errors import (
    CRSError,
    DuplicateCodeError,
    GeometryError,
    InputError,
    ParameterError,
    UnknownAreaError,
)
from tests.geo._stats_data import SCILLY, frimley_lsoa, scilly_frame


@pytest.fixture(scope="module")
def frimley(shared_data):
    return frimley_lsoa(shared_data)


def neighbour_sets(graph: Graph) -> dict[str, set[str]]:
    adj = graph.adjacency
    adj = adj[adj != 0]
    out: dict[str, set[str]] = {c: set() for c in graph.unique_ids}
    for focal, neighbor in adj.index:
        out[focal].add(neighbor)
    return out


def centroids(gdf: gpd.GeoDataFrame) -> np.ndarray:
    c = gdf.geometry.centroid
    return np.column_stack([c.x, c.y])


def test_queen_matches_libpysal_and_is_row_standardised(frimley):
    wr = build_weights(frimley)
    g = wr.graph
    assert list(g.unique_ids) == list(frimley.index)  # indexed by code, frame order
    ref = Graph.build_contiguity(frimley, rook=False)
    assert neighbour_sets(g) == neighbour_sets(ref)
    np.testing.assert_allclose(np.asarray(g.sparse.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    assert wr.kind == "queen" and wr.islands == [] and wr.n_components == 1
    assert wr.in_area is not None and int(wr.in_area.sum()) == 440


def test_rook_is_a_subset_of_queen(frimley):
    queen = neighbour_sets(build_weights(frimley, kind="queen").graph)
    rook = neighbour_sets(build_weights(frimley, kind="rook").graph)
    assert all(rook[c] <= queen[c] for c in queen)
    assert sum(map(len, rook.values())) < sum(map(len, queen.values()))


def test_knn_are_the_k_nearest_centroids(frimley):
    wr = build_weights(frimley, kind="knn", k=6, transform="b")
    xy = centroids(frimley)
    _, idx = cKDTree(xy).query(xy, k=7)
    expected = {frimley.index[i]: set(frimley.index[idx[i, 1:]]) for i in range(len(frimley))}
    assert neighbour_sets(wr.graph) == expected
    assert wr.params["points"] == "centroid"
    assert set(wr.graph.adjacency.unique()) == {1}


def test_population_weighted_points_are_used_when_present(frimley):
    shifted = frimley.copy()
    xy = centroids(frimley)
    rng = np.random.default_rng(3)
    shifted["pw_x"] = xy[:, 0] + rng.normal(0, 400, len(xy))
    shifted["pw_y"] = xy[:, 1] + rng.normal(0, 400, len(xy))
    wr = build_weights(shifted, kind="knn", k=4)
    pts = shifted[["pw_x", "pw_y"]].to_numpy()
    _, idx = cKDTree(pts).query(pts, k=5)
    expected = {shifted.index[i]: set(shifted.index[idx[i, 1:]]) for i in range(len(pts))}
    assert neighbour_sets(wr.graph) == expected
    assert wr.params["points"] == "pw_x/pw_y"


def test_distance_band_default_threshold_and_members(frimley):
    wr = build_weights(frimley, kind="distance_band", transform="b")
    xy = centroids(frimley)
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(d, np.inf)
    threshold = d.min(axis=1).max()  # GeoDa's default: every area gets a neighbour
    assert wr.params["threshold"] == pytest.approx(threshold, rel=1e-8)
    assert wr.params["threshold"] >= threshold
    band = wr.params["threshold"]
    expected = {frimley.index[i]: set(frimley.index[d[i] <= band]) for i in range(len(xy))}
    assert neighbour_sets(wr.graph) == expected
    assert wr.islands == []


def test_queen_graph_is_libpysals_contiguity_graph(frimley, shared_data):
    """`_queen_graph` gives libpysal's queen ``build_contiguity`` graph, entry for entry.

    On Frimley's LSOAs (one connected set) and the Isles of Scilly cut with a few mainland
    Cornish LSOAs (islands: isolates in both).
    """
    from healthgap.geo.weights import _queen_graph

    for frame in (frimley, scilly_frame(shared_data)):
        ours = _queen_graph(frame)
        theirs = Graph.build_contiguity(frame.geometry, rook=False, strict=False)
        pd.testing.assert_series_equal(ours.adjacency, theirs.adjacency)
        assert list(ours.isolates) == list(theirs.isolates)


def test_binary_band_is_libpysals_distance_band_graph(frimley):
    """`_binary_band` gives libpysal's binary ``build_distance_band`` graph, entry for entry.

    On Frimley's LSOA centres at three thresholds: the default (every area a neighbour), a
    wide band, and one so narrow that most areas are isolates.
    """
    from healthgap.geo.weights import _binary_band, _relabel

    xy = centroids(frimley)
    ids = frimley.index
    tree = cKDTree(xy)
    nn = tree.query(xy, k=2)[0][:, 1]
    for threshold in (float(nn.max()) * (1 + 1e-9), 4_000.0, float(np.median(nn)) * 0.5):
        ours = _binary_band(tree, ids, threshold)
        theirs = _relabel(Graph.build_distance_band(xy, threshold, binary=True), ids)
        pd.testing.assert_series_equal(ours.adjacency, theirs.adjacency)
        assert list(ours.isolates) == list(theirs.isolates)


def test_kernel_fixed_bandwidth_triangular_weights(frimley):
    bw = 3000.0
    wr = build_weights(frimley, kind="kernel", bandwidth=bw, transform="o")
    xy = centroids(frimley)
    adj = wr.graph.adjacency
    adj = adj[adj > 0]
    links = {frozenset(p) for p in wr.island_links}
    assert wr.islands and links  # a few ring areas have nothing within 3 km
    adj = adj[[frozenset(ix) not in links for ix in adj.index]]
    pos = frimley.index.get_indexer
    f, n = pos(adj.index.get_level_values(0)), pos(adj.index.get_level_values(1))
    dist = np.hypot(*(xy[f] - xy[n]).T)
    assert (dist < bw).all()
    # triangular kernel: weight proportional to 1 - d / bandwidth
    ratio = adj.to_numpy() / (1 - dist / bw)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)
    assert wr.params["bandwidth"] == bw and wr.params["kernel"] == "triangular"


def test_scilly_island_joined_to_nearest_and_reported(shared_data):
    frame = scilly_frame(shared_data)
    wr = build_weights(frame)
    assert wr.islands == [SCILLY]
    # independent nearest: polygon distance from Scilly to every other LSOA in the frame
    others = frame.drop(index=SCILLY)
    nearest = others.geometry.distance(frame.loc[SCILLY, "geometry"]).idxmin()
    assert wr.island_links == [(SCILLY, nearest)]
    nb = neighbour_sets(wr.graph)
    assert nb[SCILLY] == {nearest} and SCILLY in nb[nearest]  # symmetric link
    assert wr.n_components == 1 and wr.component_sizes == [len(frame)]
    summary = wr.summary()
    json.dumps(summary)
    assert summary["islands"] == [SCILLY] and summary["island_links"] == [[SCILLY, nearest]]


def test_islands_keep_leaves_the_isolate(shared_data):
    frame = scilly_frame(shared_data)
    wr = build_weights(frame, islands="keep")
    assert wr.islands == [SCILLY] and wr.island_links == []
    assert list(wr.graph.isolates) == [SCILLY]
    assert wr.n_components == 2 and wr.component_sizes == [len(frame) - 1, 1]
    assert wr.small_components == [[SCILLY]]


def test_include_restricts_rows(frimley):
    keep = frimley.index[frimley["in_area"]]
    wr = build_weights(frimley, include=keep)
    assert list(wr.graph.unique_ids) == list(keep)
    mask = build_weights(frimley, include=frimley["in_area"])
    assert list(mask.graph.unique_ids) == list(keep)
    with pytest.raises(UnknownAreaError, match="E01999999"):
        build_weights(frimley, include=["E01999999"])


def test_summary_is_json_and_counts(frimley):
    wr = build_weights(frimley)
    s = wr.summary()
    assert json.loads(json.dumps(s)) == s
    assert s["n_areas"] == len(frimley) and s["n_in_area"] == 440
    assert s["n_links"] == int((wr.graph.adjacency != 0).sum())


def test_wrong_crs_is_an_error(frimley):
    with pytest.raises(CRSError, match="EPSG:4326"):
        build_weights(frimley.to_crs(4326))
    with pytest.raises(CRSError, match="no CRS"):
        build_weights(frimley.set_crs(None, allow_override=True))


def test_bad_inputs_name_what_is_wrong(frimley):
    with pytest.raises(InputError, match="expected GeoDataFrame, got DataFrame"):
        build_weights(pd.DataFrame(frimley.drop(columns="geometry")))
    with pytest.raises(ParameterError, match="kind must be one of"):
        build_weights(frimley, kind="hexagon")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="k must be"):
        build_weights(frimley, kind="knn", k=0)
    with pytest.raises(ParameterError, match="islands"):
        build_weights(frimley, islands="drop")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="transform"):
        build_weights(frimley, transform="z")
    with pytest.raises(ParameterError, match="threshold"):
        build_weights(frimley, kind="distance_band", threshold=-5)
    with pytest.raises(ParameterError, match="more than 200"):
        build_weights(frimley, kind="distance_band", threshold=50_000)
    dup = pd.concat([frimley.iloc[:3], frimley.iloc[:1]])
    with pytest.raises(DuplicateCodeError, match=frimley.index[0]):
        build_weights(dup)
    empty = frimley.iloc[:5].copy()
    empty.loc[empty.index[2], "geometry"] = None
    with pytest.raises(GeometryError, match=empty.index[2]):
        build_weights(empty)
    pw = frimley.iloc[:20].copy()
    pw["pw_x"], pw["pw_y"] = 1.0, 2.0
    pw.loc[pw.index[3], "pw_x"] = np.nan
    with pytest.raises(InputError, match="pw_x/pw_y are missing"):
        build_weights(pw, kind="knn", k=3)


def test_band_threshold_is_the_quantile_of_nearest_neighbour_distances():
    import geopandas as gpd
    import numpy as np
    import shapely
    from healthgap.geo.weights import band_threshold, build_weights

    xs = np.array([0.0, 100.0, 300.0, 700.0, 5000.0])  # nearest distances 100,100,200,400,4300
    gdf = gpd.GeoDataFrame({"pw_x": xs, "pw_y": 0.0},
                           geometry=[shapely.Point(x, 0).buffer(10) for x in xs],
                           index=pd.Index([f"E0100000{i}" for i in range(5)], name="lsoa_code"),
                           crs=27700)
    assert band_threshold(gdf, quantile=0.8) == pytest.approx(np.quantile(
        [100, 100, 200, 400, 4300], 0.8))
    w = build_weights(gdf, kind="distance_band", threshold=band_threshold(gdf, quantile=0.8))
    assert w.islands == ["E01000004"]  # the remote one is joined to its nearest and reported


def test_nearest_point_is_the_brute_force_nearest_first_in_order_on_ties():
    """The tree's answer equals the argmin of hypot to every point (ties on a grid included)."""
    from healthgap.geo.weights import _nearest_points
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(11)
    xy = np.round(rng.uniform(0, 300, size=(3000, 2)))  # a coarse grid: ties and coincidences
    tree = cKDTree(xy)
    positions = rng.choice(len(xy), 300, replace=False)
    got = _nearest_points(tree, xy, positions)
    for pos, nearest in zip(positions.tolist(), got.tolist(), strict=True):
        dist = np.hypot(*(xy - xy[pos]).T)
        dist[pos] = np.inf
        assert nearest == int(np.argmin(dist))
