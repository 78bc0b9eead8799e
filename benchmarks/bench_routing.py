"""Routing benchmark: every Rutland LSOA to every active GP practice on the drive network.

Our many-to-many method (``geo.network.RoutingNetwork``: scipy sparse Dijkstra from each origin,
all targets at once) is timed in the same run beside

* a naive baseline: one ``networkx.shortest_path_length(G, o, f, weight="travel_time")`` call per
  origin-facility pair;
* igraph (``python-igraph``, C Dijkstra): ``Graph.distances(origins, facilities,
  weights="travel_time")``, the strong many-to-many peer (graph conversion timed separately);
* pandana (contraction hierarchies): ``Network.shortest_path_lengths`` over every pair (the
  hierarchy preprocessing timed separately), if pandana is installed.

All must give the same network times; the script prints the largest absolute difference to ours
(pandana stores each edge weight as whole milliseconds, so over a path of hundreds of edges it is
off by up to a few tenths of a second: it is checked to 0.1% of the time, the others exactly).
``make bench`` installs the peers (the ``bench`` extra).

Inputs, all real (``--data``, default ``../shared/data`` beside the repository):
Rutland (E06000017) LSOA boundaries, the postcode-based population-weighted centroid proxy,
the ODS epraccur GP file (active practices within Rutland's box + ``--gp-buffer-km``) and the
Geofabrik Rutland OSM extract.

    python benchmarks/bench_routing.py [--data DIR] [--gp-buffer-km 15] [--repeat 3]
                                       [--skip-pandana]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

import geopandas as gpd  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from healthgap.geo.access import TravelCosts, lsoa_origins  # noqa: E402
from healthgap.geo.facilities import read_gp_practices  # noqa: E402
from healthgap.geo.network import RoutingNetwork, read_network  # noqa: E402

RUTLAND = "E06000017"


def median_runs(fn: Callable[[], Any], repeat: int) -> tuple[Any, list[float]]:
    """Return the result of ``fn`` and the wall time of each of ``repeat`` runs."""
    runs, out = [], None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t0)
    return out, runs


def igraph_peer(G: nx.MultiDiGraph, origins: np.ndarray, facilities: np.ndarray,
                repeat: int) -> tuple[np.ndarray, float, list[float]]:
    """Travel times origin x facility with igraph; (times, conversion s, query runs s)."""
    import igraph as ig

    t0 = time.perf_counter()
    index = {n: i for i, n in enumerate(G.nodes)}
    edges = [(index[u], index[v]) for u, v in G.edges()]
    weights = [d["travel_time"] for _, _, d in G.edges(data=True)]
    g = ig.Graph(n=len(index), edges=edges, directed=True, edge_attrs={"travel_time": weights})
    t_build = time.perf_counter() - t0
    src = [index[n] for n in origins]
    dst = [index[n] for n in facilities]
    out, runs = median_runs(
        lambda: g.distances(source=src, target=dst, weights="travel_time", mode="out"), repeat)
    return np.asarray(out, dtype=float), t_build, runs


def pandana_peer(G: nx.MultiDiGraph, origins: np.ndarray, facilities: np.ndarray,
                 repeat: int) -> tuple[np.ndarray, float, list[float]]:
    """Travel times origin x facility with pandana; (times, preprocessing s, query runs s)."""
    import pandana

    t0 = time.perf_counter()
    nodes = pd.DataFrame.from_dict(dict(G.nodes(data=True)), orient="index")[["x", "y"]]
    u, v, w = zip(*((a, b, d["travel_time"]) for a, b, d in G.edges(data=True)), strict=True)
    net = pandana.Network(nodes["x"], nodes["y"], pd.Series(u), pd.Series(v),
                          pd.DataFrame({"travel_time": w}), twoway=False)
    t_build = time.perf_counter() - t0
    a = np.repeat(origins, len(facilities))
    b = np.tile(facilities, len(origins))
    out, runs = median_runs(lambda: net.shortest_path_lengths(a, b, imp_name="travel_time"),
                            repeat)
    times = np.asarray(out, dtype=float).reshape(len(origins), len(facilities))
    # pandana reports an unreachable pair as a huge sentinel length
    times[times > 1e6] = np.inf
    return times, t_build, runs


def rutland_lsoa(data: Path) -> gpd.GeoDataFrame:
    lookup = pd.read_csv(data / "geography/lsoa11_msoa11_lad22_lookup_ew.csv", dtype=str)
    codes = lookup.loc[lookup["lad22cd"] == RUTLAND, "lsoa11cd"].tolist()
    where = "LSOA11CD IN ({})".format(",".join(f"'{c}'" for c in codes))
    frame = gpd.read_file(
        data / "geography/lsoa11_boundaries_ew_super_generalised.geojson", where=where
    )
    frame = frame.to_crs(27700).rename(columns={"LSOA11CD": "lsoa_code"}).set_index("lsoa_code")
    pw = pd.read_csv(
        data / "population/lsoa11_postcode_centroids_ew_derived.csv", index_col="lsoa11cd"
    )
    frame["pw_x"] = pw["easting"].reindex(frame.index)
    frame["pw_y"] = pw["northing"].reindex(frame.index)
    return frame[["pw_x", "pw_y", "geometry"]].sort_index()  # indexed by lsoa_code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--gp-buffer-km", type=float, default=15.0)
    parser.add_argument("--network-buffer-km", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-pandana", action="store_true", help="leave out the pandana peer")
    args = parser.parse_args()
    data: Path = args.data

    lsoa = rutland_lsoa(data)
    read = read_gp_practices(data / "health_services/gp_practices_epraccur_dec2023_geocoded.csv")
    minx, miny, maxx, maxy = lsoa.total_bounds
    b = args.gp_buffer_km * 1000
    gps = read.facilities
    gps = gps[
        gps.geometry.x.between(minx - b, maxx + b) & gps.geometry.y.between(miny - b, maxy + b)
    ]

    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        G = read_network(
            data / "osm/rutland-latest.osm.pbf",
            bounds=lsoa,
            mode="drive",
            buffer_m=args.network_buffer_km * 1000,
            cache_dir=cache,
        )
        t_build = time.perf_counter() - t0

    t0 = time.perf_counter()
    net = RoutingNetwork.from_graph(G)
    t_compile = time.perf_counter() - t0
    origins = lsoa_origins(lsoa)
    o_node, o_snap = net.snap(origins[["x", "y"]].to_numpy())
    f_node, f_snap = net.snap(np.column_stack([gps.geometry.x, gps.geometry.y]))
    # the extract stops at the county edge: practices further than 500 m from it are not routed
    routable = f_snap <= 500
    fn = f_node[routable]

    def timed(fn: Callable[[], Any]) -> tuple[Any, list[float]]:
        return median_runs(fn, args.repeat)

    # forward: one search per origin; reverse: one search per facility node on the reversed
    # graph (TravelCosts picks whichever side has fewer distinct nodes)
    (times, _), fwd = timed(lambda: net.costs(o_node, fn))
    (rtimes, _), rev = timed(lambda: net.costs(np.unique(fn), o_node, reverse=True))
    rtimes = rtimes.T[:, np.searchsorted(np.unique(fn), fn)]
    costs_gps = gps[routable]
    _, full = timed(lambda: TravelCosts(cutoff_min=120).fit(net, origins, costs_gps))

    t0 = time.perf_counter()
    naive = np.full((len(o_node), len(fn)), math.inf)
    for i, o in enumerate(net.node_ids[o_node]):
        for j, f in enumerate(net.node_ids[fn]):
            try:
                naive[i, j] = nx.shortest_path_length(G, o, f, weight="travel_time")
            except nx.NetworkXNoPath:
                pass
    t_naive = time.perf_counter() - t0
    o_ids, f_ids = net.node_ids[o_node], net.node_ids[fn]
    peers = {"igraph": igraph_peer(G, o_ids, f_ids, args.repeat)}
    if not args.skip_pandana:
        peers["pandana"] = pandana_peer(G, o_ids, f_ids, args.repeat)

    finite = np.isfinite(times) & np.isfinite(naive)
    same_inf = np.array_equal(np.isinf(times), np.isinf(naive)) and np.array_equal(
        np.isinf(rtimes), np.isinf(naive)
    )
    diff = float(np.max(np.abs(times[finite] - naive[finite]))) if finite.any() else float("nan")
    rdiff = float(np.max(np.abs(rtimes[finite] - naive[finite]))) if finite.any() else float("nan")

    def ms(runs):
        each = ", ".join(f"{t * 1000:.1f}" for t in runs)
        return f"{statistics.median(runs) * 1000:.1f} ms median ({each})"

    print("Rutland drive routing benchmark")
    print(
        f"  network            {len(G):,} nodes, {G.number_of_edges():,} edges "
        f"(built from the pbf in {t_build:.2f} s; compiled in {t_compile:.3f} s)"
    )
    print(
        f"  origins            {len(o_node)} LSOAs (postcode-based population-weighted centroids; "
        f"snap median {np.median(o_snap):.0f} m, max {o_snap.max():.0f} m)"
    )
    print(
        f"  facilities         {len(gps)} active GP practices within {args.gp_buffer_km:g} km "
        f"of Rutland's box; {int(routable.sum())} within 500 m of the extract's network"
    )
    print(f"  pairs              {times.size} ({int(np.isfinite(times).sum())} reachable)")
    print(f"  ours, from origins {ms(fwd)}")
    print(f"  ours, from GPs     {ms(rev)} (reversed graph)")
    print(f"  TravelCosts.fit    {ms(full)} (snapping, both searches, table)")
    print(f"  naive (networkx)   {t_naive * 1000:.1f} ms, one shortest_path_length per pair")
    print(
        f"  speed-up           {t_naive / statistics.median(fwd):.0f}x (from origins), "
        f"{t_naive / statistics.median(rev):.0f}x (from GPs)"
    )
    print(
        f"  max |ours - naive| {diff:.3g} s (from origins), {rdiff:.3g} s (from GPs) over "
        f"{int(finite.sum())} pairs; unreachable pairs agree: {same_inf}"
    )
    ok = same_inf and (not finite.any() or max(diff, rdiff) < 1e-6)
    for name, (ptimes, t_prep, runs) in peers.items():
        both = np.isfinite(times) & np.isfinite(ptimes)
        gap = float(np.max(np.abs(times[both] - ptimes[both]))) if both.any() else float("nan")
        rel = float(np.max(np.abs(times[both] - ptimes[both]) / np.maximum(times[both], 1e-9))
                    ) if both.any() else float("nan")
        agree = np.array_equal(np.isinf(times), np.isinf(ptimes))
        print(f"  {name:<18} {ms(runs)}; graph prepared in {t_prep * 1000:.0f} ms")
        ratio = statistics.median(runs) / statistics.median(fwd)
        print(f"  {'':<18} {name} time / ours (from origins) = {ratio:.2f}; "
              f"max |ours - {name}| {gap:.3g} s ({rel:.2g} of the time); "
              f"unreachable pairs agree: {agree}")
        close = rel < 1e-3 if name == "pandana" else gap < 1e-6
        ok = ok and agree and (not both.any() or close)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
