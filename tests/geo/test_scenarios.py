"""What-if scenarios on Rutland's real roads and GP practices (geo/scenarios.py).

References: the baseline is checked against `geo.access.ServiceAccess`, which finds the nearest
practice with one multi-source Dijkstra search and computes E2SFCA with pysal ``access``
(an independent implementation of Luo & Qi 2009); the incremental result is checked against a
full recompute, bit for bit; the straight-line estimate against a hand computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from healthgap.geo.access import ServiceAccess
from healthgap.geo.network import RoutingNetwork
from healthgap.geo.scenarios import (
    STRAIGHT_LINE,
    AccessScenarios,
    parse_open_option,
    parse_scenario,
)

from healthgap.errors import ParameterError, ValidationError
from tests._names import neutral
from tests.geo._rutland import rutland_drive, rutland_gps, rutland_lsoa

SNAP = 1500.0  # the build's default max_snap_m (rural postcode-based centres)
CHOSEN = "E01013790"  # an Oakham-fringe LSOA whose nearest practice is 12.5 min away


@pytest.fixture(scope="module")
def rutland(shared_data, tmp_path_factory):
    lsoa = rutland_lsoa(shared_data, 2000.0)
    gps = rutland_gps(shared_data)
    net = RoutingNetwork.from_graph(
        rutland_drive(shared_data, tmp_path_factory.getbasetemp() / "osm"))
    engine = AccessScenarios(ServiceAccess(max_snap_m=SNAP)).fit(lsoa, gps, net)
    return lsoa, gps, net, engine


@pytest.fixture(scope="module")
def reference(rutland):
    lsoa, gps, net, _ = rutland
    return ServiceAccess(max_snap_m=SNAP).fit(lsoa, gps, net).result_


def _same(a, b):
    """Assert two KindAccess are equal bit for bit (inf and NaN in the same places)."""
    assert a.codes == b.codes
    for name in ("time", "supply", "demand", "ratio", "nearest_time", "nearest_idx", "counts",
                 "e2sfca"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


def test_baseline_matches_service_access(rutland, reference):
    lsoa, _, _, engine = rutland
    base = engine.baseline_["gp"]
    ref = reference
    routed = ref["gp_time_min"].notna().to_numpy()
    assert routed.sum() >= 20
    # nearest time: multi-source search there, one search per practice here; same paths
    np.testing.assert_allclose(base.nearest_time[routed], ref["gp_time_min"][routed],
                               rtol=0, atol=1e-9)
    assert list(base.nearest_code()[routed]) == list(ref["gp_nearest_code"][routed])
    for k, t in enumerate((10, 15, 20, 30)):
        assert np.array_equal(base.counts[routed, k], ref[f"gp_n_{t}min"][routed].to_numpy())
    # E2SFCA against pysal access
    np.testing.assert_allclose(base.e2sfca[routed] * 1000.0,
                               ref["gp_e2sfca_per_1000"][routed], rtol=1e-9, atol=1e-12)
    assert (~np.isfinite(base.nearest_time[~routed])).all()


def _scenario(gps, spec, postcodes=None):
    return parse_scenario(spec, gps, postcodes=postcodes)


def _nearest_of(engine, code):
    pos = engine.index_.get_loc(code)
    base = engine.baseline_["gp"]
    return pos, base.codes[base.nearest_idx[pos]]


def test_closing_the_nearest_gives_the_second_nearest(rutland, reference):
    lsoa, gps, net, engine = rutland
    pos, nearest = _nearest_of(engine, CHOSEN)
    res = engine.evaluate(_scenario(gps, {"close": [nearest]}))
    after = res.after["gp"]
    # independent: the build's router on the practices without the closed one
    ref = ServiceAccess(max_snap_m=SNAP).fit(
        lsoa, gps[gps["code"] != nearest], net).result_
    assert after.nearest_time[pos] == pytest.approx(ref.loc[CHOSEN, "gp_time_min"], abs=1e-9)
    # and that is the second-smallest column of the baseline row
    row = np.sort(engine.baseline_["gp"].time[pos])
    assert after.nearest_time[pos] == row[1] > row[0]
    assert res.table.loc[CHOSEN, "gp_time_min_change"] == pytest.approx(row[1] - row[0])


SCENARIOS = {
    "close": lambda gps, e: {"close": [_nearest_of(e, CHOSEN)[1]]},
    "close_two": lambda gps, e: {"close": ["C82010", "C82077"]},
    "open_xy": lambda gps, e: {"open": [{"x": 486_000, "y": 308_900, "supply": 3}]},
    "open_lonlat": lambda gps, e: {"open": ["-0.62,52.60:supply=2"]},
    "move": lambda gps, e: {"move": [{"code": "C82044", "x": 492_000, "y": 301_000}]},
    "supply": lambda gps, e: {"supply": {"C82649": 4}},
    "mixed": lambda gps, e: {"close": ["C82010"], "supply": {"C82077": 2.5},
                             "open": [{"x": 484_500, "y": 305_000}]},
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_incremental_equals_full_recompute_exactly(rutland, name):
    _, gps, _, engine = rutland
    sc = _scenario(gps, SCENARIOS[name](gps, engine))
    inc = engine.evaluate(sc)
    full = engine.evaluate(sc, incremental=False)
    _same(inc.after["gp"], full.after["gp"])
    pd.testing.assert_frame_equal(inc.table, full.table)
    assert inc.touched["gp"] <= full.touched["gp"]


def test_incremental_touches_fewer_origins_than_all(rutland):
    _, gps, _, engine = rutland
    sc = _scenario(gps, {"close": ["C83024"]})
    assert engine.evaluate(sc).touched["gp"] < len(engine.index_)


def test_reopening_where_one_closed_restores_the_baseline(rutland):
    _, gps, _, engine = rutland
    _, code = _nearest_of(engine, CHOSEN)
    row = gps[gps["code"] == code].iloc[0]
    base = engine.baseline_["gp"]
    # same code at the same place: every number as before, bit for bit
    same = engine.evaluate(_scenario(gps, {"move": [{"code": code, "x": row.geometry.x,
                                                     "y": row.geometry.y}]}))
    _same(same.after["gp"], base)
    # a new practice at the same place: the same times, counts and access
    new = engine.evaluate(_scenario(gps, {"close": [code], "open": [
        {"x": row.geometry.x, "y": row.geometry.y, "supply": float(row["supply"])}]}))
    after = new.after["gp"]
    assert np.array_equal(after.nearest_time, base.nearest_time)
    assert np.array_equal(after.counts, base.counts)
    # the sum runs in code order and the new code sorts elsewhere: equal to rounding
    np.testing.assert_allclose(after.e2sfca, base.e2sfca, rtol=1e-13, atol=0)
    assert (new.table["gp_time_min_change"].dropna() == 0).all()


def test_opening_defaults_to_the_median_supply(rutland):
    _, gps, _, _ = rutland
    sc = _scenario(gps, {"open": [{"x": 486_000, "y": 308_900}]})
    assert sc.open[0].supply == float(gps.loc[gps["kind"] == "gp", "supply"].median())
    assert sc.open[0].code == "NEW01" and sc.open[0].located_by == "coordinates"


def test_bad_input_names_every_item_before_routing(rutland):
    _, gps, _, engine = rutland
    pcs = pd.DataFrame({"easting": [486_001.0], "northing": [308_872.0],
                        "country": ["E92000001"]},
                       index=pd.Index(["LE156AA"], dtype=object, name="postcode"))
    with pytest.raises(ValidationError) as err:
        parse_scenario({"close": ["A81001"], "open": [{"postcode": "ZZ99 9ZZ"},
                                                     {"x": 486_000, "y": 308_900, "supply": 0}],
                        "supply": {"C82010": -1}, "colour": "red"}, gps, postcodes=pcs)
    text = str(err.value)
    for item in ("'A81001'", "'ZZ99 9ZZ'", "supply must be > 0, got 0", "supply[C82010]",
                 "unknown key(s) ['colour']"):
        assert item in text, item
    assert len(err.value.problems) == 5
    # an opening in the Highlands is far beyond the snap limit: refused, nothing routed
    cached = len(engine._node_cache)
    sc = _scenario(gps, {"open": [{"x": 280_000, "y": 850_000, "supply": 1}]})
    with pytest.raises(ValidationError, match=r"NEW01 .* m from the road network, further "
                       r"than the snap limit max_snap_m=1500"):
        engine.evaluate(sc)
    assert len(engine._node_cache) == cached
    with pytest.raises(ValidationError, match="postcode 'LE15 6AA' given but no postcode"):
        parse_scenario({"open": ["LE15 6AA"]}, gps)
    with pytest.raises(ValidationError, match="changes nothing"):
        parse_scenario({"name": "empty"}, gps)
    with pytest.raises(ParameterError, match="unknown key 'colour'"):
        parse_open_option("LE15 6AA:colour=red")


def test_open_option_parsing():
    assert parse_open_option("LE15 6XX:supply=4") == {"postcode": "LE15 6XX", "supply": "4"}
    assert parse_open_option("486000,308900:kind=gp;code=X1") == {
        "x": 486000.0, "y": 308900.0, "kind": "gp", "code": "X1"}
    assert parse_open_option("-0.62, 52.6") == {"lon": -0.62, "lat": 52.6}


def test_straight_line_estimate_is_labelled_and_hand_checked(rutland):
    lsoa, gps, _, _ = rutland
    est = AccessScenarios().fit(lsoa, gps, None)
    assert est.method_ == STRAIGHT_LINE
    base = est.baseline_["gp"]
    # hand computation for the chosen LSOA and the first practice: crow-fly x 1.3 at 30 km/h
    pos = est.index_.get_loc(CHOSEN)
    fac = gps.sort_values("code").iloc[0]
    dist = np.hypot(lsoa.loc[CHOSEN, "pw_x"] - fac.geometry.x,
                    lsoa.loc[CHOSEN, "pw_y"] - fac.geometry.y) * 1.3
    assert base.time[pos, 0] == pytest.approx(dist / (30 / 3.6) / 60, rel=1e-12)
    res = est.evaluate(_scenario(gps, {"close": ["C82010"]}))
    assert (res.table["method"] == STRAIGHT_LINE).all()
    assert np.isfinite(res.table["gp_time_min_after"]).all()


def test_summary_counts_shares_and_gap_by_hand(rutland, shared_data):
    from healthgap.geo.inequality import quantile_groups
    from healthgap.geo.scenarios import summarise

    lsoa, gps, _, engine = rutland
    imd = neutral(pd.read_csv(shared_data / "imd2019/imd2019_lsoa11_england.csv",
                      usecols=["lsoa11cd", "imd_score", "imd_decile"], index_col="lsoa11cd"))
    frame = lsoa.join(imd)
    frame["place_code"] = np.where(frame["in_area"], "E06000017", "ring")
    # Rutland has no Core20 LSOA: flag two by hand to check the Core20 sums
    frame["core20"] = frame.index.isin([CHOSEN, "E01013805"])
    _, code = _nearest_of(engine, CHOSEN)
    res = engine.evaluate(_scenario(gps, {"close": [code]}))
    sm = summarise(res, frame, seed=7)
    inside = frame[frame["in_area"]]
    t = res.table.loc[inside.index]
    pop = inside["population"]
    for thr in (10, 15, 20, 30):
        lost = (t["gp_time_min_before"] <= thr) & ~(t["gp_time_min_after"] <= thr)
        row = sm.crossings.query("threshold_min == @thr and direction == 'lost'").iloc[0]
        assert row["population"] == pop[lost].sum()
        assert row["core20_population"] == pop[lost & inside["core20"]].sum()
        share = sm.shares.query("code == 'E06000017' and threshold_min == @thr").iloc[0]
        assert share["share_beyond_after"] == pytest.approx(
            pop[~(t["gp_time_min_after"] <= thr)].sum() / pop.sum(), rel=1e-12)
    assert sm.crossings.query("threshold_min == 15 and direction == 'lost'")[
        "core20_population"].iloc[0] == inside.loc[CHOSEN, "population"]
    # access gap: weighted least squares of quintile mean times on mid-rank (PHE SII), by hand
    for when in ("before", "after"):
        data = inside.assign(t=t[f"gp_time_min_{when}"]).dropna(subset=["t"])
        q = quantile_groups(data["imd_score"], data["population"], n=5)
        g = data.groupby(q).apply(lambda d: pd.Series({
            "p": d["population"].sum(),
            "v": np.average(d["t"], weights=d["population"])}), include_groups=False)
        share = g["p"] / g["p"].sum()
        rank = np.cumsum(share) - share / 2  # 0 = most deprived end
        slope = np.polyfit(rank, g["v"], 1, w=np.sqrt(g["p"]))[0]
        got = sm.gap.query("when == @when").iloc[0]
        assert got["sii"] == pytest.approx(-slope, rel=1e-9)  # most minus least deprived
        assert got["sii_lo"] < got["sii"] < got["sii_hi"] and got["n_quantiles"] == 5
    assert any("Core20" in s for s in sm.sentences)
