"""Travel costs, nearest facility, counts, E2SFCA and gravity; the IMD indicator layer."""

from __future__ import annotations

import csv
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from access import Access
from healthgap.data.access_inputs import IMD_INDICATORS, read_imd_indicators
from healthgap.geo import BNG
from healthgap.geo.access import (
    ServiceAccess,
    TravelCosts,
    e2sfca_and_gravity,
    lsoa_origins,
)
from healthgap.geo.decay import decay_function, gaussian
from healthgap.geo.network import RoutingNetwork

from healthgap.errors import CRSError, MissingColumnError, ParameterError, UnknownAreaError
from tests.geo._rutland import rutland_drive, rutland_gps, rutland_lsoa
from tests.geo.test_network import hand_graph

WALK = 4.8 / 3.6  # m/s
PRIMARY = 1500 / (65 / 3.6)  # s on each primary edge of the hand graph


def facilities(rows):
    return gpd.GeoDataFrame(
        {
            "code": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "supply": [r[2] for r in rows],
        },
        geometry=[shapely.Point(r[3], r[4]) for r in rows],
        crs=BNG,
    )


# ---------------------------------------------------------------- hand graph


def test_travel_costs_on_hand_graph():
    net = RoutingNetwork.from_graph(hand_graph())
    origins = pd.DataFrame({"x": [0.0, 9050.0], "y": [100.0, 9000.0]}, index=["o1", "o2"])
    fac = facilities([("f1", "gp", 1.0, 1500.0, -50.0), ("f2", "gp", 1.0, 1000.0, 0.0)])
    tc = TravelCosts(cutoff_min=10).fit(net, origins, fac)
    costs = tc.costs_.set_index(["origin", "dest"])
    # o1 snaps to A 100 m away (75 s on foot); f1 snaps to D 50 m away (37.5 s); f2 sits on B
    t1 = 100 / WALK + 2 * PRIMARY + 50 / WALK  # 75 + 166.1538 + 37.5 = 278.654 s
    t2 = 100 / WALK + 120.0  # 195 s
    assert costs.loc[("o1", "f1"), "time_min"] == pytest.approx(t1 / 60)
    assert costs.loc[("o1", "f1"), "distance_m"] == pytest.approx(100 + 3000 + 50)
    assert costs.loc[("o1", "f2"), "time_min"] == pytest.approx(t2 / 60)  # 3.25 min
    assert costs.loc[("o1", "f2"), "distance_m"] == pytest.approx(1100.0)
    assert set(costs.index.get_level_values("origin")) == {"o1"}  # o2 is not routed
    near = tc.nearest_
    assert near.loc["o1", "nearest_code"] == "f2"
    assert near.loc["o1", "time_min"] == pytest.approx(3.25)
    assert near.loc["o1", "access_reason"] == "ok" and near.loc["o1", "method"] == "network"
    # o2 sits on the island: the main network is >10 km away, so no placeholder, a reason
    assert np.isnan(near.loc["o2", "time_min"]) and pd.isna(near.loc["o2", "nearest_code"])
    assert near.loc["o2", "access_reason"] == "snap_too_far"
    assert near.loc["o2", "snap_m"] > 10_000
    # a tighter cutoff keeps only the pair within it
    tight = TravelCosts(cutoff_min=4).fit(net, origins, fac).costs_
    assert list(zip(tight.origin, tight.dest, strict=True)) == [("o1", "f2")]


def test_euclidean_fallback_is_flagged():
    net = RoutingNetwork.from_graph(hand_graph())
    origins = pd.DataFrame({"x": [0.0, 9050.0], "y": [100.0, 9000.0]}, index=["o1", "o2"])
    fac = facilities([("f1", "gp", 1.0, 1500.0, -50.0), ("f2", "gp", 1.0, 1000.0, 0.0)])
    tc = TravelCosts(cutoff_min=60, fallback="euclidean", fallback_speed_kph=30, detour_factor=1.3)
    tc.fit(net, origins, fac)
    near = tc.nearest_.loc["o2"]
    # f1 (1500, -50) is 11,785 m away crow-fly, f2 (1000, 0) 12,075 m
    crow = math.hypot(9050 - 1500, 9000 + 50)
    assert near["nearest_code"] == "f1" and near["method"] == "euclidean"
    assert near["distance_m"] == pytest.approx(crow * 1.3)
    assert near["time_min"] == pytest.approx(crow * 1.3 / (30 / 3.6) / 60)
    assert near["access_reason"] == "snap_too_far"  # the reason stays; the method says how
    rows = tc.costs_[tc.costs_.origin == "o2"]
    assert set(rows.method) == {"euclidean"} and len(rows) == 2
    assert set(tc.costs_[tc.costs_.origin == "o1"].method) == {"network"}


def test_parameters_are_checked():
    net = RoutingNetwork.from_graph(hand_graph())
    origins = pd.DataFrame({"x": [0.0], "y": [0.0]}, index=["o1"])
    fac = facilities([("f1", "gp", 1.0, 1000.0, 0.0)])
    with pytest.raises(ParameterError, match="fallback"):
        TravelCosts(fallback="straight").fit(net, origins, fac)
    with pytest.raises(ParameterError, match="max_snap_m"):
        TravelCosts(max_snap_m=-1).fit(net, origins, fac)
    with pytest.raises(ParameterError, match="detour_factor"):
        TravelCosts(detour_factor=0.5).fit(net, origins, fac)
    with pytest.raises(CRSError):
        TravelCosts().fit(net, origins, fac.to_crs(4326))
    with pytest.raises(MissingColumnError, match="x, y"):
        TravelCosts().fit(net, origins.rename(columns={"x": "e"}), fac)


# ---------------------------------------------------------------- E2SFCA and gravity


def toy_costs():
    # 3 origins x 2 facilities; c-X is beyond reach
    costs = pd.DataFrame(
        {
            "origin": ["a", "a", "b", "b", "c"],
            "dest": ["X", "Y", "X", "Y", "Y"],
            "time_min": [5.0, 20.0, 12.0, 8.0, 25.0],
        }
    )
    demand = pd.Series({"a": 1000.0, "b": 2000.0, "c": 500.0})
    supply = pd.Series({"X": 2.0, "Y": 3.0})
    return costs, demand, supply


def test_e2sfca_and_gravity_by_hand():
    costs, demand, supply = toy_costs()
    w = decay_function("linear", threshold=30.0)
    got = e2sfca_and_gravity(costs, demand=demand, supply=supply, catchment_min=30.0, decay=w)
    # linear weights 1 - t/30: a-X 5/6, a-Y 1/3, b-X 0.6, b-Y 22/30, c-Y 1/6
    # demand at X = 1000*5/6 + 2000*0.6            = 2033.333
    # demand at Y = 1000/3 + 2000*22/30 + 500/6    = 1883.333
    r_x = 2.0 / 2033.3333333333333
    r_y = 3.0 / 1883.3333333333333
    want = {
        "a": 5 / 6 * r_x + 1 / 3 * r_y,  # 0.00135064
        "b": 0.6 * r_x + 22 / 30 * r_y,  # 0.00175835
        "c": 1 / 6 * r_y,  # 0.00026549
    }
    for k, v in want.items():
        assert got.loc[k, "e2sfca"] == pytest.approx(v, rel=1e-9)
    # gravity: a = 2*5/6 + 3/3 = 2.6667, b = 2*0.6 + 3*22/30 = 3.4, c = 3/6 = 0.5
    assert got.loc["a", "gravity"] == pytest.approx(2 * 5 / 6 + 1.0)
    assert got.loc["b", "gravity"] == pytest.approx(3.4)
    assert got.loc["c", "gravity"] == pytest.approx(0.5)
    # total supply is conserved by E2SFCA: sum_i P_i A_i == sum_j S_j when every facility is used
    assert (got["e2sfca"] * demand).sum() == pytest.approx(5.0)


def test_e2sfca_catchment_drops_far_pairs_and_fills_zero():
    costs, demand, supply = toy_costs()
    demand = pd.concat([demand, pd.Series({"d": 800.0})])  # d has no pair at all
    w = decay_function("step", steps={10: 1.0, 20: 0.68, 30: 0.22})
    got = e2sfca_and_gravity(costs, demand=demand, supply=supply, catchment_min=15.0, decay=w)
    # within 15 min: a-X (5, w=1), b-X (12, w=0.68), b-Y (8, w=1)
    r_x = 2.0 / (1000 * 1.0 + 2000 * 0.68)
    r_y = 3.0 / (2000 * 1.0)
    assert got.loc["a", "e2sfca"] == pytest.approx(r_x)
    assert got.loc["b", "e2sfca"] == pytest.approx(0.68 * r_x + r_y)
    assert got.loc["c", "e2sfca"] == 0.0 and got.loc["d", "e2sfca"] == 0.0
    assert got.loc["d", "gravity"] == 0.0


def test_zero_demand_gives_nan_not_inf():
    costs = pd.DataFrame({"origin": ["a"], "dest": ["X"], "time_min": [5.0]})
    got = e2sfca_and_gravity(
        costs,
        demand=pd.Series({"a": 0.0}),
        supply=pd.Series({"X": 1.0}),
        catchment_min=30.0,
        decay=decay_function("linear", threshold=30.0),
    )
    assert np.isnan(got.loc["a", "e2sfca"]) and got.loc["a", "gravity"] == pytest.approx(5 / 6)


def test_matches_access_called_directly():
    costs, demand, supply = toy_costs()
    got = e2sfca_and_gravity(
        costs,
        demand=demand,
        supply=supply,
        catchment_min=30.0,
        decay=lambda t: gaussian(t, sigma=10.0),
    )
    model = Access(
        demand_df=demand.rename("pop").to_frame().rename_axis("geoid"),
        demand_value="pop",
        supply_df=supply.rename("docs").to_frame().rename_axis("geoid"),
        supply_value="docs",
        cost_df=costs.rename(columns={"time_min": "cost"}),
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    ref = model.enhanced_two_stage_fca(
        name="e2", max_cost=30, weight_fn=lambda t: math.exp(-t * t / 200.0)
    )["e2_docs"]
    np.testing.assert_allclose(
        got["e2sfca"].to_numpy(), ref.reindex(got.index).to_numpy(), rtol=1e-12
    )


# ---------------------------------------------------------------- origins


def test_origins_prefer_population_weighted_and_flag_fallback():
    frame = gpd.GeoDataFrame(
        {"pw_x": [50.0, np.nan], "pw_y": [50.0, np.nan], "population": [100, 100]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(200, 0, 300, 100)],
        crs=BNG,
        index=pd.Index(["E01000001", "E01000002"], name="lsoa_code"),
    )
    o = lsoa_origins(frame)
    assert o.loc["E01000001", "centroid_source"] == "population_weighted"
    assert (o.loc["E01000001", "x"], o.loc["E01000001", "y"]) == (50.0, 50.0)
    assert o.loc["E01000002", "centroid_source"] == "representative_point"
    assert shapely.box(200, 0, 300, 100).contains(shapely.Point(o.loc["E01000002", ["x", "y"]]))
    with pytest.raises(CRSError):
        lsoa_origins(frame.to_crs(4326))


# ---------------------------------------------------------------- Rutland end to end


@pytest.fixture(scope="module")
def rutland(shared_data, tmp_path_factory):
    lsoa = rutland_lsoa(shared_data)
    graph = rutland_drive(shared_data, tmp_path_factory.getbasetemp() / "osm")
    return lsoa, rutland_gps(shared_data), RoutingNetwork.from_graph(graph), graph


def test_rutland_default_snap_threshold_reports_far_centroids(rutland):
    lsoa, gps, net, _ = rutland
    sa = ServiceAccess().fit(lsoa, gps, net)
    r = sa.result_
    assert len(r) == 23 and r.index.equals(lsoa.index)
    far = r["snap_m"] > 500
    # rural LSOAs whose postcode-mean centre falls between villages are > 500 m from any road
    assert far.any()
    assert (r.loc[far, "gp_access_reason"] == "snap_too_far").all()
    assert r.loc[far, ["gp_time_min", "gp_n_30min", "gp_e2sfca_per_1000"]].isna().all().all()
    assert (r.loc[~far, "gp_access_reason"] == "ok").all()
    assert r.loc[~far, "gp_time_min"].between(0, 40).all()
    # no placeholder numbers anywhere
    numeric = r.select_dtypes("number")
    assert not (numeric.abs() > 1e6).any().any()
    # GPs outside the county are outside the extract: reported as not routable, not lost
    status = sa.facility_status_
    assert len(status) == len(gps)
    assert status.loc[status.snap_m > 500, "routable"].eq(False).all()


def test_rutland_all_routed_with_a_rural_threshold(rutland):
    lsoa, gps, net, graph = rutland
    sa = ServiceAccess(max_snap_m=1500).fit(lsoa, gps, net)
    r = sa.result_
    assert r["gp_time_min"].notna().all() and (r["gp_time_min"] < 40).all()
    assert (r["gp_access_reason"] == "ok").all()
    assert r["centroid_source"].eq("postcode_proxy").all()
    # counts are monotone in the threshold and agree with the cost table
    n = r[["gp_n_10min", "gp_n_15min", "gp_n_20min", "gp_n_30min"]].to_numpy()
    assert (np.diff(n, axis=1) >= 0).all()
    within30 = sa.costs_[sa.costs_.time_min <= 30].groupby("origin").size()
    np.testing.assert_array_equal(r["gp_n_30min"], within30.reindex(r.index).fillna(0))
    # nearest time agrees with the smallest pair time where one is within 30 min
    min_pair = sa.costs_.groupby("origin")["time_min"].min().reindex(r.index)
    both = min_pair.notna()
    np.testing.assert_allclose(r.loc[both, "gp_time_min"], min_pair[both], rtol=1e-9)

    # independent check of the nearest times with networkx, for a few LSOAs
    origins = lsoa_origins(lsoa)
    o_node, o_snap = net.snap(origins[["x", "y"]].to_numpy())
    status = sa.facility_status_[sa.facility_status_.routable]
    for k in [0, 7, 15, 22]:
        lengths = nx.single_source_dijkstra_path_length(
            graph, net.node_ids[o_node[k]], weight="travel_time"
        )
        best = min(
            lengths.get(net.node_ids[node], math.inf) + snap / WALK
            for node, snap in zip(status["node"], status["snap_m"], strict=True)
        )
        want = (best + o_snap[k] / WALK) / 60
        assert r["gp_time_min"].iloc[k] == pytest.approx(want, rel=1e-6)

    # E2SFCA recomputed from the cost table in numpy (no pysal): Gaussian sigma 10 min
    c = sa.costs_[sa.costs_.time_min <= 30].copy()
    c["w"] = np.exp(-(c.time_min**2) / (2 * 10.0**2))
    pop = lsoa["population"]
    c["pw"] = c["w"] * pop.reindex(c.origin).to_numpy()
    supply = gps.set_index("code")["supply"]
    ratio = supply.reindex(c.groupby("dest")["pw"].sum().index) / c.groupby("dest")["pw"].sum()
    c["rw"] = c["w"] * ratio.reindex(c.dest).to_numpy()
    e2 = c.groupby("origin")["rw"].sum().reindex(r.index).fillna(0) * 1000
    np.testing.assert_allclose(r["gp_e2sfca_per_1000"], e2, rtol=1e-9)
    grav = (
        (c["w"] * supply.reindex(c.dest).to_numpy())
        .groupby(c.origin)
        .sum()
        .reindex(r.index)
        .fillna(0)
    )
    np.testing.assert_allclose(r["gp_gravity"], grav, rtol=1e-9)
    # every routed person shares the supply of the routable GPs they reach
    assert (r["gp_e2sfca_per_1000"] > 0).all()


def test_service_access_errors(rutland):
    lsoa, gps, net, _ = rutland
    with pytest.raises(MissingColumnError, match="population"):
        ServiceAccess().fit(lsoa.drop(columns="population"), gps, net)
    with pytest.raises(MissingColumnError, match="kind"):
        ServiceAccess().fit(lsoa, gps.drop(columns="kind"), net)
    with pytest.raises(ParameterError, match="sigma"):
        ServiceAccess(decay_params={"sigma": 0}).fit(lsoa, gps, net)
    with pytest.raises(ParameterError, match="thresholds_min"):
        ServiceAccess(thresholds_min=(10, -5)).fit(lsoa, gps, net)


# ---------------------------------------------------------------- IMD indicators


def test_imd_indicators_layer(shared_data):
    path = shared_data / "imd2019/imd2019_lsoa11_england_indicators.csv"
    lsoa = rutland_lsoa(shared_data)
    layer = read_imd_indicators(path, codes=lsoa.index)
    assert list(layer.columns) == list(IMD_INDICATORS.values())
    assert layer.index.name == "lsoa_code" and layer.index.equals(lsoa.index)
    with open(path, newline="") as f:
        raw = {
            row["lsoa11cd"]: row for row in csv.DictReader(f) if row["lsoa11cd"] in set(lsoa.index)
        }
    for code in lsoa.index[:5]:
        assert layer.loc[code, "gp_road_distance_km"] == float(
            raw[code]["road_distance_to_a_gp_surgery_indicator_km"]
        )
        assert layer.loc[code, "air_quality_ratio_sum"] == float(raw[code]["air_quality_indicator"])
    with pytest.raises(UnknownAreaError, match="E01999999"):
        read_imd_indicators(path, codes=["E01013787", "E01999999"])
    everything = read_imd_indicators(path)
    assert len(everything) == 32_844
