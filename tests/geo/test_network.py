"""Networks from local OSM files, travel times, and many-to-many routing."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from healthgap.data.osm import WAY_FILTERS, _passes, write_network_xml
from healthgap.geo import BNG
from healthgap.geo.network import (
    DRIVE_SPEEDS_KPH,
    RoutingNetwork,
    add_travel_times,
    parse_maxspeed,
    read_network,
)

from healthgap.errors import CRSError, InputError, ParameterError
from tests.geo._rutland import rutland_drive, rutland_lsoa


def hand_graph(*, maxspeed_ac: str | None = None) -> nx.MultiDiGraph:
    """Four nodes A(0,0) B(1000,0) C(750,500) D(1500,0) and an island E-F.

    A-B, B-D: residential 1000 m, both directions (30 km/h -> 120 s each).
    A->C, C->D: primary 1500 m, one way (65 km/h -> 1500 / (65/3.6) = 83.0769... s each).
    E<->F: residential 100 m, not connected to the rest.
    """
    G = nx.MultiDiGraph(crs=BNG, mode="drive")
    for name, x, y in [
        ("A", 0, 0),
        ("B", 1000, 0),
        ("C", 750, 500),
        ("D", 1500, 0),
        ("E", 9000, 9000),
        ("F", 9100, 9000),
    ]:
        G.add_node({"A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6}[name], x=float(x), y=float(y))
    for u, v in [(1, 2), (2, 1), (2, 4), (4, 2)]:
        G.add_edge(u, v, length=1000.0, highway="residential")
    G.add_edge(
        1, 3, length=1500.0, highway="primary", **({"maxspeed": maxspeed_ac} if maxspeed_ac else {})
    )
    G.add_edge(3, 4, length=1500.0, highway="primary")
    G.add_edge(5, 6, length=100.0, highway="residential")
    G.add_edge(6, 5, length=100.0, highway="residential")
    return add_travel_times(G, mode="drive")


def test_hand_graph_times_and_distances():
    net = RoutingNetwork.from_graph(hand_graph())
    pos = {n: i for i, n in enumerate(net.node_ids)}
    t, d = net.costs(np.array([pos[1], pos[4]]), np.array([pos[1], pos[2], pos[3], pos[4]]))
    primary = 1500 / (65 / 3.6)  # 83.0769 s
    # A->D: via C = 2 * 83.0769 = 166.15 s over 3000 m, faster than via B (240 s, 2000 m)
    assert t[0, 3] == pytest.approx(2 * primary, rel=1e-9)
    assert d[0, 3] == pytest.approx(3000.0)
    assert t[0, 1] == pytest.approx(120.0) and d[0, 1] == pytest.approx(1000.0)
    assert t[0, 2] == pytest.approx(primary)
    # D->A: the primary is one way, so back via B: 120 + 120 = 240 s, 2000 m
    assert t[1, 0] == pytest.approx(240.0) and d[1, 0] == pytest.approx(2000.0)
    # D->C: only via B and A, then the primary: 240 + 83.0769 = 323.0769 s, 2000 + 1500 = 3500 m
    assert t[1, 2] == pytest.approx(240.0 + primary) and d[1, 2] == pytest.approx(3500.0)
    assert t[0, 0] == 0.0 and d[0, 0] == 0.0
    # the same from the reversed graph
    tr, dr = net.costs(
        np.array([pos[1], pos[2], pos[3], pos[4]]), np.array([pos[1], pos[4]]), reverse=True
    )
    np.testing.assert_allclose(tr.T, t)
    np.testing.assert_allclose(dr.T, d)


def test_maxspeed_caps_the_class_speed():
    # 20 mph = 32.18688 km/h on A->C: 1500 / (32.18688/3.6) = 167.77 s, so A->C->D = 250.85 s
    # and A->B->D (240 s, 2000 m) becomes the fastest
    G = hand_graph(maxspeed_ac="20 mph")
    assert G[1][3][0]["speed_kph"] == pytest.approx(20 * 1.609344)
    assert G[1][3][0]["travel_time"] == pytest.approx(1500 / (20 * 1.609344 / 3.6))
    net = RoutingNetwork.from_graph(G)
    pos = {n: i for i, n in enumerate(net.node_ids)}
    t, d = net.costs(np.array([pos[1]]), np.array([pos[4]]))
    assert t[0, 0] == pytest.approx(240.0) and d[0, 0] == pytest.approx(2000.0)
    # a limit above the class speed does not raise it
    G2 = hand_graph(maxspeed_ac="70 mph")
    assert G2[1][3][0]["speed_kph"] == DRIVE_SPEEDS_KPH["primary"]


def test_limit_and_islands():
    net = RoutingNetwork.from_graph(hand_graph())
    pos = {n: i for i, n in enumerate(net.node_ids)}
    t, _ = net.costs(np.array([pos[1]]), np.array([pos[2], pos[4], pos[5]]), limit_s=150.0)
    assert t[0, 0] == pytest.approx(120.0)
    assert np.isinf(t[0, 1])  # 166 s > limit
    assert np.isinf(t[0, 2])  # island
    # the island is not part of the main component, so nothing snaps to it
    assert not net.main[pos[5]] and not net.main[pos[6]]
    node, dist = net.snap(np.array([[9050.0, 9000.0]]))
    assert net.node_ids[node[0]] != 5 and dist[0] > 10_000
    node_any, dist_any = net.snap(np.array([[9050.0, 9000.0]]), main_only=False)
    assert net.node_ids[node_any[0]] in (5, 6) and dist_any[0] == pytest.approx(50.0)


def test_nearest_with_offsets_matches_brute_force():
    net = RoutingNetwork.from_graph(hand_graph())
    pos = {n: i for i, n in enumerate(net.node_ids)}
    targets = np.array([pos[2], pos[4]])
    offsets = np.array([100.0, 0.0])
    t, d, which = net.nearest(targets, offsets_s=offsets)
    # from A: B costs 120 + 100 = 220, D costs 166.15 + 0 -> D
    assert which[pos[1]] == 1 and t[pos[1]] == pytest.approx(2 * 1500 / (65 / 3.6))
    assert d[pos[1]] == pytest.approx(3000.0)
    # from B: B itself costs 0 + 100, D costs 120 -> B
    assert which[pos[2]] == 0 and t[pos[2]] == pytest.approx(100.0) and d[pos[2]] == 0.0
    # the island reaches neither
    assert which[pos[5]] == -1 and np.isinf(t[pos[5]])


@pytest.mark.parametrize(
    ("value", "kph"),
    [
        ("30 mph", 30 * 1.609344),
        ("50", 50.0),
        ("48 km/h", 48.0),
        (["30 mph", "40 mph"], 35 * 1.609344),
        ("20 mph;30 mph", 25 * 1.609344),
        ("GB:nsl_single", None),
        ("none", None),
        (None, None),
        ("0", None),
    ],
)
def test_parse_maxspeed(value, kph):
    got = parse_maxspeed(value)
    if kph is None:
        assert got is None
    else:
        assert got == pytest.approx(kph)


@pytest.mark.parametrize(
    ("tags", "drive", "walk"),
    [
        ({"highway": "residential"}, True, True),
        ({"highway": "motorway"}, True, False),
        ({"highway": "footway"}, False, True),
        ({"highway": "service"}, False, True),
        ({"highway": "track"}, False, True),
        ({"highway": "residential", "access": "private"}, False, False),
        ({"highway": "primary", "area": "yes"}, False, False),
        ({"highway": "path", "foot": "no"}, False, False),
        ({"highway": "cycleway"}, False, False),
        ({"building": "yes"}, False, False),
        ({"highway": "residential", "motor_vehicle": "no"}, False, True),
    ],
)
def test_way_filters_follow_osmnx(tags, drive, walk):
    assert _passes(tags, WAY_FILTERS["drive"]) is drive
    assert _passes(tags, WAY_FILTERS["walk"]) is walk


def test_leeds_walk_network_offline(shared_data, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    G = read_network(
        shared_data / "osm/leeds_its_example.osm",
        bounds=(429000.0, 434000.0, 430500.0, 435000.0),
        mode="walk",
        buffer_m=2000.0,
        cache_dir=tmp_path,
    )
    assert G.graph["crs"] == BNG and G.graph["mode"] == "walk"
    assert 200 < len(G) < 5000
    speeds = {d["speed_kph"] for _, _, d in G.edges(data=True)}
    assert speeds == {4.8}
    # walk graphs are bidirectional
    assert all(G.has_edge(v, u) for u, v in G.edges())
    for _, _, d in G.edges(data=True):
        assert d["travel_time"] == pytest.approx(d["length"] / (4.8 / 3.6))
    xs = [d["x"] for _, d in G.nodes(data=True)]
    assert 425_000 < min(xs) and max(xs) < 435_000  # BNG metres, not degrees


def test_xml_extract_is_cached(shared_data, tmp_path):
    src = shared_data / "osm/leeds_its_example.osm"
    box = (-1.58, 53.80, -1.54, 53.82)
    first = write_network_xml(src, mode="drive", bbox=box, cache_dir=tmp_path)
    second = write_network_xml(src, mode="drive", bbox=box, cache_dir=tmp_path)
    assert not first.cached and second.cached and first.path == second.path
    assert first.ways > 0
    with pytest.raises(InputError, match="no drive ways"):
        write_network_xml(src, mode="drive", bbox=(0.0, 50.0, 0.1, 50.1), cache_dir=tmp_path)


def test_bad_inputs(shared_data, tmp_path):
    lsoa = rutland_lsoa(shared_data)
    with pytest.raises(InputError, match="not found"):
        read_network(tmp_path / "nope.osm.pbf", bounds=lsoa, cache_dir=tmp_path)
    with pytest.raises(CRSError, match="EPSG:27700"):
        read_network(
            shared_data / "osm/rutland-latest.osm.pbf", bounds=lsoa.to_crs(4326), cache_dir=tmp_path
        )
    with pytest.raises(ParameterError, match="buffer_m"):
        read_network(
            shared_data / "osm/rutland-latest.osm.pbf", bounds=lsoa, buffer_m=-1, cache_dir=tmp_path
        )
    with pytest.raises(ParameterError, match="mode"):
        read_network(
            shared_data / "osm/rutland-latest.osm.pbf", bounds=lsoa, mode="fly", cache_dir=tmp_path
        )
    with pytest.raises(ParameterError, match="speeds"):
        add_travel_times(hand_graph(), mode="drive", speeds={"primary": 0})
    with pytest.raises(CRSError):
        RoutingNetwork.from_graph(nx.MultiDiGraph(crs="EPSG:4326"))


@pytest.fixture(scope="module")
def rutland(shared_data, tmp_path_factory):
    return rutland_drive(shared_data, tmp_path_factory.getbasetemp() / "osm")


def test_rutland_drive_network(rutland):
    G = rutland
    assert G.graph["crs"] == BNG
    assert len(G) > 5000
    highways = {h for _, _, d in G.edges(data=True) for h in np.atleast_1d(d.get("highway"))}
    assert "footway" not in highways and "track" not in highways and "service" not in highways
    assert {"primary", "residential"} <= highways
    for _, _, d in G.edges(data=True):
        assert 0 < d["speed_kph"] <= 100 and np.isfinite(d["travel_time"])


def test_rutland_costs_match_networkx(rutland):
    G = rutland
    net = RoutingNetwork.from_graph(G)
    rng = np.random.default_rng(7)
    main = np.flatnonzero(net.main)
    sources = rng.choice(main, 4, replace=False)
    targets = rng.choice(main, 6, replace=False)
    t, d = net.costs(sources, targets)
    tr, dr = net.costs(targets, sources, reverse=True)
    np.testing.assert_allclose(tr.T, t, rtol=1e-9)
    for i, s in enumerate(sources):
        lengths, paths = nx.single_source_dijkstra(G, net.node_ids[s], weight="travel_time")
        for j, g in enumerate(targets):
            want = lengths[net.node_ids[g]]
            assert t[i, j] == pytest.approx(want, rel=1e-9, abs=1e-6)
            path = paths[net.node_ids[g]]
            # length of the fastest edge between each pair of consecutive nodes on the path
            metres = sum(
                min(G[u][v].values(), key=lambda e: e["travel_time"])["length"]
                for u, v in zip(path[:-1], path[1:], strict=True)
            )
            # equal-time ties could pick a different path; none expected on real data
            assert d[i, j] == pytest.approx(metres, rel=1e-6)
    near_t, _, which = net.nearest(targets)
    np.testing.assert_allclose(near_t[sources], t.min(axis=1), rtol=1e-9)
    np.testing.assert_array_equal(which[sources], t.argmin(axis=1))


# --------------------------------------------------------------------------- osmnx filters (#12)

_CLAUSE = re.compile(r'\["([^"]+)"(?:(!~)"([^"]*)")?\]')


def _osmnx_filter(mode):
    """Parse osmnx's own Overpass way filter into (required keys, {key: excluded regex})."""
    from osmnx import _overpass

    text = _overpass._get_network_filter(mode)
    clauses = _CLAUSE.findall(text)
    # everything in the string is a clause we understand: fails if osmnx adds another operator
    assert "".join(f'["{k}"' + (f'!~"{v}"' if op else "") + "]" for k, op, v in clauses) == text
    required = {k for k, op, _ in clauses if not op}
    excluded = {k: v for k, op, v in clauses if op}
    return required, excluded


@pytest.mark.parametrize("mode", ["drive", "walk"])
def test_way_filters_equal_osmnx_private_filters(mode):
    required, excluded = _osmnx_filter(mode)
    assert required == {"highway"}
    assert {k: p.pattern for k, p in WAY_FILTERS[mode].items()} == excluded


def _overpass_passes(tags, required, excluded):
    """Overpass semantics: required keys present; ``!~`` passes if absent or no match."""
    return all(k in tags for k in required) and all(
        k not in tags or re.search(rx, tags[k]) is None for k, rx in excluded.items())


def test_way_filters_agree_with_osmnx_on_every_rutland_way(shared_data):
    import osmium

    seen = set()
    for way in osmium.FileProcessor(str(shared_data / "osm/rutland-latest.osm.pbf"),
                                    osmium.osm.WAY):
        if "highway" in way.tags:
            seen.add(tuple(sorted((t.k, t.v) for t in way.tags
                                  if not t.k.startswith(("name", "ref", "source")))))
    assert len(seen) > 500
    for mode in ("drive", "walk"):
        required, excluded = _osmnx_filter(mode)
        for tags in map(dict, seen):
            assert _passes(tags, WAY_FILTERS[mode]) is _overpass_passes(tags, required,
                                                                        excluded), (mode, tags)


def _settings_snapshot():
    import osmnx as ox

    return {k: v for k, v in vars(ox.settings).items()
            if not k.startswith("_") and not callable(v) and not isinstance(v, type(ox))}


def test_read_network_leaves_osmnx_settings_alone(shared_data, tmp_path):
    before = _settings_snapshot()
    read_network(shared_data / "osm/leeds_its_example.osm",
                 bounds=(429000.0, 434000.0, 430500.0, 435000.0), mode="walk",
                 buffer_m=2000.0, cache_dir=tmp_path)
    assert _settings_snapshot() == before
    # and nothing in geo/ assigns osmnx settings
    import healthgap.geo as geo_pkg

    for path in Path(geo_pkg.__file__).parent.glob("*.py"):
        assert not re.search(r"\bsettings\.\w+\s*=", path.read_text()), path
