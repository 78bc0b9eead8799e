"""Distance decay of life expectancy: cliffs, transects, variograms, correlograms, decay fits.

Reference values are computed in each test by an independent route (brute-force loops, shapely
adjacency, numpy.polyfit, esda.Moran, scipy curve_fit, plain pandas on the source CSVs).
"""

from __future__ import annotations

import itertools

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from healthgap.geo import gradients
from healthgap.geo.cliffs import NeighbourGradients
from healthgap.geo.correlogram import MoranCorrelogram
from healthgap.geo.transect import Transect, headline_gradients
from healthgap.geo.travel_time import TravelTimeFit
from healthgap.geo.variogram import Semivariogram
from libpysal.graph import Graph
from libpysal.weights import W
from scipy import optimize
from shapely.geometry import box

from healthgap.errors import (
    CRSError,
    InputError,
    MissingColumnError,
    ParameterError,
    UnknownAreaError,
)
from tests._names import neutral
from tests.geo._frimley import FRIMLEY, frimley_msoa

MILE_KM = 1.609344


# --------------------------------------------------------------------------- fixtures


def _grid(n: int = 3, size: float = 1000.0, seed: int = 0) -> gpd.GeoDataFrame:
    """n x n square cells (1 km) with centres jittered inside the cell and random LE."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, j in itertools.product(range(n), range(n)):
        x0, y0 = 400000 + i * size, 100000 + j * size
        rows.append({
            "code": f"E02{i:03d}{j:03d}",
            "geometry": box(x0, y0, x0 + size, y0 + size),
            "pw_x": x0 + size * rng.uniform(0.2, 0.8),
            "pw_y": y0 + size * rng.uniform(0.2, 0.8),
            "le": 75 + 10 * rng.random(),
            "population": rng.integers(5000, 9000),
        })
    return gpd.GeoDataFrame(rows, crs=27700).set_index("code")


@pytest.fixture(scope="module")
def frimley(shared_data):
    return frimley_msoa(shared_data)


@pytest.fixture(scope="module")
def frimley_graph(frimley):
    return Graph.build_contiguity(frimley, rook=False)


# --------------------------------------------------------------------------- health cliffs


def test_neighbour_gradients_match_brute_force_adjacency():
    g = _grid(4)
    g.loc["E02001001", "le"] = np.nan  # one suppressed value
    graph = Graph.build_contiguity(g, rook=False)
    fit = NeighbourGradients(value="le").fit(g, graph)

    # independent: every pair of touching squares (queen), from shapely, each pair once
    expected = {}
    codes = list(g.index)
    for a, b in itertools.combinations(codes, 2):
        if not g.geometry[a].touches(g.geometry[b]):
            continue
        la, lb = g.loc[a, "le"], g.loc[b, "le"]
        if np.isnan(la) or np.isnan(lb):
            continue
        d_km = np.hypot(g.loc[a, "pw_x"] - g.loc[b, "pw_x"], g.loc[a, "pw_y"] - g.loc[b, "pw_y"])
        expected[(a, b)] = abs(la - lb) / (d_km / 1000) * MILE_KM
    got = {(r.code_a, r.code_b): r.years_per_mile for r in fit.pairs_.itertuples()}
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-12)
    # steepest first, per-km consistent with per-mile, line runs between the two centres
    assert fit.pairs_["years_per_mile"].is_monotonic_decreasing
    np.testing.assert_allclose(fit.pairs_["years_per_km"] * MILE_KM, fit.pairs_["years_per_mile"])
    first = fit.pairs_.iloc[0]
    assert first.geometry.coords[0] == pytest.approx(tuple(g.loc[first.code_a, ["pw_x", "pw_y"]]))
    assert fit.pairs_.crs.to_epsg() == 27700
    # the suppressed area's pairs are reported, not lost: 8 queen neighbours of an inner cell
    assert fit.report_["n_pairs_missing_value"] == 8
    assert fit.report_["missing_value_codes"] == ["E02001001"]
    assert fit.report_["n_pairs"] + 8 == fit.report_["n_pairs_in_graph"] == 42


def test_neighbour_gradients_with_intervals_give_z_and_noise_floor():
    g = _grid(3, seed=4)
    g["lci"] = g["le"] - 1.959963984540054 * 1.5
    g["uci"] = g["le"] + 1.959963984540054 * 1.5
    g.loc["E02002002", ["lci", "uci"]] = np.nan  # a value without an interval
    fit = NeighbourGradients(value="le", lci="lci", uci="uci").fit(
        g, Graph.build_contiguity(g, rook=False))
    for r in fit.pairs_.itertuples():
        assert r.se_diff == pytest.approx(np.sqrt(2) * 1.5)
        assert r.z == pytest.approx((r.le_a - r.le_b) / (np.sqrt(2) * 1.5))
        assert r.significant == (abs(r.z) > 1.96)
        # E|N(0, s^2)| = s * sqrt(2 / pi): the gradient two equal areas would show from noise
        assert r.noise_years_per_mile == pytest.approx(
            np.sqrt(2 / np.pi) * np.sqrt(2) * 1.5 / r.distance_miles)
    assert fit.report_["missing_value_codes"] == ["E02002002"]
    assert fit.report_["n_pairs_missing_value"] == 3
    assert 0 <= fit.summary_["share_significant"] <= 1
    with pytest.raises(ParameterError, match="together"):
        NeighbourGradients(lci="lci")


def test_neighbour_gradients_edge_ring_and_isolates():
    g = _grid(3)
    g["in_area"] = True
    g.loc[["E02000000", "E02000001"], "in_area"] = False
    far = gpd.GeoDataFrame({"pw_x": [500500.0], "pw_y": [200500.0], "le": [80.0],
                            "population": [6000], "in_area": [True]},
                           geometry=[box(500000, 200000, 501000, 201000)], crs=27700,
                           index=pd.Index(["E02999999"], name="code"))
    g = pd.concat([g, far])
    fit = NeighbourGradients(value="le").fit(g, Graph.build_contiguity(g, rook=False))
    codes = set(fit.pairs_["code_a"]) | set(fit.pairs_["code_b"])
    assert not codes & {"E02000000", "E02000001"}
    assert fit.report_["n_pairs_edge_ring"] == 3 + 5 - 1  # queen pairs touching the 2 ring cells
    assert fit.report_["isolates"] == ["E02999999"]


def test_neighbour_gradients_errors():
    g = _grid(3)
    graph = Graph.build_contiguity(g, rook=False)
    with pytest.raises(CRSError, match="EPSG:27700"):
        NeighbourGradients(value="le").fit(g.to_crs(4326), graph)
    with pytest.raises(MissingColumnError, match="pw_x"):
        NeighbourGradients(value="le").fit(g.drop(columns="pw_x"), graph)
    with pytest.raises(UnknownAreaError, match="E02002002"):
        NeighbourGradients(value="le").fit(g.drop(index="E02002002"), graph)
    with pytest.raises(InputError, match="libpysal.graph.Graph"):
        NeighbourGradients(value="le").fit(g, graph.to_W())


# --------------------------------------------------------------------------- transects


def _line_points(seed: int = 1, n: int = 60) -> gpd.GeoDataFrame:
    """Points scattered round the line (400000,100000) -> (420000,110000); LE falls 0.3/km."""
    rng = np.random.default_rng(seed)
    start, end = np.array([400000.0, 100000.0]), np.array([420000.0, 110000.0])
    u = (end - start) / np.linalg.norm(end - start)
    normal = np.array([-u[1], u[0]])
    along = rng.uniform(0, np.linalg.norm(end - start), n)
    across = rng.uniform(-3000, 3000, n)
    xy = start + along[:, None] * u + across[:, None] * normal
    le = 84 - 0.3 * along / 1000 + rng.normal(0, 0.4, n)
    pop = rng.integers(4000, 10000, n).astype(float)
    half = 1.96 * rng.uniform(0.5, 2.0, n)
    frame = pd.DataFrame({"pw_x": xy[:, 0], "pw_y": xy[:, 1], "le": le, "population": pop,
                          "lci": le - half, "uci": le + half, "_along": along,
                          "_across": across},
                         index=pd.Index([f"E02{i:06d}" for i in range(n)], name="msoa_code"))
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=27700)


def test_transect_corridor_and_slope_match_numpy():
    pts = _line_points()
    pts.loc[pts.index[0], "le"] = np.nan
    tr = Transect((400000, 100000), (420000, 110000), half_width_m=1500, value="le",
                  weights="population").fit(pts)
    keep = (pts["_across"].abs() <= 1500) & pts["le"].notna()
    assert set(tr.positions_.index) == set(pts.index[keep])
    np.testing.assert_allclose(tr.positions_["position_km"],
                               pts.loc[tr.positions_.index, "_along"] / 1000, atol=1e-9)
    # independent weighted fit: numpy.polyfit weights multiply residuals, so pass sqrt(w)
    sub = pts[keep]
    slope, _ = np.polyfit(sub["_along"] / 1000, sub["le"], 1, w=np.sqrt(sub["population"]))
    assert tr.slope_per_km_ == pytest.approx(slope, rel=1e-9)
    assert tr.slope_per_mile_ == pytest.approx(slope * MILE_KM, rel=1e-9)
    assert tr.ci_per_km_[0] < -0.3 < tr.ci_per_km_[1]
    assert tr.n_ == int(keep.sum())
    missing_in_corridor = abs(pts["_across"].iloc[0]) <= 1500
    assert tr.report_["missing_value_codes"] == ([pts.index[0]] if missing_in_corridor else [])


def test_transect_inverse_variance_weights_and_radial_mode():
    pts = _line_points(seed=2)
    tr = Transect((400000, 100000), (420000, 110000), half_width_m=3000, value="le",
                  weights="inverse_variance", lci="lci", uci="uci").fit(pts)
    var = ((pts["uci"] - pts["lci"]) / (2 * 1.959963984540054)) ** 2
    np.testing.assert_allclose(tr.positions_["weight"], 1 / var.loc[tr.positions_.index])
    slope, _ = np.polyfit(pts["_along"] / 1000, pts["le"], 1, w=1 / np.sqrt(var))
    assert tr.slope_per_km_ == pytest.approx(slope, rel=1e-9)
    radial = Transect((400000, 100000), max_distance_m=8000, value="le", weights=None).fit(pts)
    dist = np.hypot(pts["pw_x"] - 400000, pts["pw_y"] - 100000)
    assert set(radial.positions_.index) == set(pts.index[dist <= 8000])


def test_transect_errors():
    pts = _line_points()
    with pytest.raises(ParameterError, match="weights"):
        Transect((0, 0), (1, 1), weights="area")
    with pytest.raises(ParameterError, match="same point"):
        Transect((0, 0), (0, 0))
    with pytest.raises(InputError, match="at least 3"):
        Transect((300000, 300000), (300100, 300000), half_width_m=10, value="le").fit(pts)
    with pytest.raises(ParameterError, match="lci and uci"):
        Transect((400000, 100000), (420000, 110000), value="le",
                 weights="inverse_variance").fit(pts)


# --------------------------------------------------------------------------- headline claims


def test_headline_gradients_frimley(frimley, frimley_graph, shared_data):
    head = headline_gradients(frimley, frimley_graph, values=("le_male", "le_female"))

    # independent: straight from the source CSVs with pandas
    icb = neutral(
        pd.read_csv(shared_data / "geography/lsoa11_sicbl22_icb22_ltla22_lookup_england.csv",
                      dtype=str))
    lk = neutral(
        pd.read_csv(shared_data / "geography/lsoa11_msoa11_lad22_lookup_ew.csv", dtype=str))
    le = neutral(pd.read_csv(
        shared_data / "life_expectancy/msoa11_life_expectancy_mortality_localhealth_england.csv"))
    msoas = lk.loc[lk["lsoa_code"].isin(icb.loc[icb["icb22_code"] == FRIMLEY, "lsoa11_code"]),
                   "msoa_code"].unique()
    assert len(msoas) == 89
    sub = le[le["msoa_code"].isin(msoas)].set_index("msoa_code")
    for ours, src in (("le_male", "le_birth_male_2015_19"),
                      ("le_female", "le_birth_female_2015_19")):
        got = head.by_value[ours]
        assert got["range_years"] == pytest.approx(sub[src].max() - sub[src].min(), abs=1e-9)
        assert got["code_max"] == sub[src].idxmax() and got["code_min"] == sub[src].idxmin()
        assert got["n_missing"] == int(sub[src].isna().sum()) == 1
        assert got["missing_codes"] == list(sub.index[sub[src].isna()])
    # "a 12-year difference across the system": the published MSOA ranges are 11.1 (male) and
    # 12.7 (female) years, so the claim holds to the nearest year for the wider of the two.
    ranges = [head.by_value[c]["range_years"] for c in ("le_male", "le_female")]
    assert 10.0 <= min(ranges) and max(ranges) <= 14.0
    assert round(max(ranges)) in (12, 13)

    # the per-mile claim, checked against pairs found by shapely (not libpysal)
    pairs = gpd.sjoin(frimley[["geometry"]].reset_index(), frimley[["geometry"]].reset_index(),
                      predicate="intersects")
    pairs = pairs[pairs["msoa_code_left"] < pairs["msoa_code_right"]]
    a = frimley.loc[pairs["msoa_code_left"]]
    b = frimley.loc[pairs["msoa_code_right"]]
    miles = np.hypot(a["pw_x"].to_numpy() - b["pw_x"].to_numpy(),
                     a["pw_y"].to_numpy() - b["pw_y"].to_numpy()) / 1000 / MILE_KM
    for col in ("le_male", "le_female"):
        grad = pd.Series(np.abs(a[col].to_numpy() - b[col].to_numpy()) / miles).dropna()
        got = head.by_value[col]
        assert got["n_pairs"] == len(grad)
        assert got["share_pairs_at_or_above_threshold"] == pytest.approx((grad >= 1).mean())
        assert got["median_years_per_mile"] == pytest.approx(grad.median())
        assert got["transect_n"] >= 3
    table = head.table()
    assert list(table.index) == ["le_male", "le_female"]
    assert head.to_dict()["results"]["le_male"]["code_min"] == "E02003415"  # Slough 009


# --------------------------------------------------------------------------- semivariogram


def test_semivariogram_bins_match_brute_force():
    rng = np.random.default_rng(3)
    n = 40
    frame = pd.DataFrame({"pw_x": rng.uniform(0, 10000, n), "pw_y": rng.uniform(0, 10000, n),
                          "le": rng.normal(80, 2, n)},
                         index=[f"E02{i:06d}" for i in range(n)])
    sv = Semivariogram(value="le", n_bins=5, max_distance_m=6000).fit(frame)
    edges = np.linspace(0, 6000, 6)
    sums = np.zeros(5)
    counts = np.zeros(5)
    for i, j in itertools.combinations(range(n), 2):
        d = np.hypot(frame["pw_x"].iloc[i] - frame["pw_x"].iloc[j],
                     frame["pw_y"].iloc[i] - frame["pw_y"].iloc[j])
        if d > 6000:
            continue
        k = min(int(np.searchsorted(edges, d, side="left")) - 1, 4)
        k = max(k, 0)
        sums[k] += (frame["le"].iloc[i] - frame["le"].iloc[j]) ** 2
        counts[k] += 1
    np.testing.assert_array_equal(sv.bins_["n_pairs"], counts)
    np.testing.assert_allclose(sv.bins_["gamma"], 0.5 * sums / counts)


def test_semivariogram_recovers_exponential_field():
    # Gaussian field with exponential covariance: nugget 0.5, partial sill 4, range 2 km,
    # simulated by Cholesky on 600 random points in a 40 km square
    rng = np.random.default_rng(11)
    n = 600
    xy = rng.uniform(0, 40000, (n, 2))
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    cov = 4.0 * np.exp(-d / 2000.0) + 0.5 * np.eye(n)
    z = np.linalg.cholesky(cov) @ rng.standard_normal(n)
    frame = pd.DataFrame({"pw_x": xy[:, 0], "pw_y": xy[:, 1], "le": 80 + z})
    sv = Semivariogram(value="le", n_bins=15, max_distance_m=15000).fit(frame)
    expo = sv.models_.loc["exponential"]
    assert 3.5 <= expo["sill"] <= 5.5
    assert 1000 <= expo["range_m"] <= 4000
    assert expo["nugget"] <= 1.5
    assert expo["effective_range_m"] == pytest.approx(3 * expo["range_m"])
    sph = sv.models_.loc["spherical"]
    assert sph["range_m"] > expo["range_m"]  # the spherical range is where the sill is reached
    assert 3.5 <= sph["sill"] <= 5.5
    assert sv.report_["n_used"] == n
    assert sv.models_.loc["exponential", "delta_aic_vs_nugget"] < -10  # structure is real
    assert not sv.models_["range_at_bound"].any()


def test_semivariogram_nugget_baseline_on_pure_noise():
    # pure noise (variance 4): the no-structure baseline should win or tie (delta AIC > -2) in
    # most of 10 replicates, and its sill estimate the variance
    wins = 0
    for seed in range(10):
        rng = np.random.default_rng(200 + seed)
        n = 300
        frame = pd.DataFrame({"pw_x": rng.uniform(0, 40000, n),
                              "pw_y": rng.uniform(0, 40000, n), "le": rng.normal(80, 2, n)})
        sv = Semivariogram(value="le", n_bins=10).fit(frame)
        wins += bool((sv.models_["delta_aic_vs_nugget"] > -2).all())
        assert sv.models_.loc["nugget_only", "sill"] == pytest.approx(4.0, rel=0.25)
    assert wins >= 7


# --------------------------------------------------------------------------- correlogram


def test_moran_correlogram_matches_esda():
    rng = np.random.default_rng(5)
    n = 80
    xy = rng.uniform(0, 20000, (n, 2))
    le = 80 + 0.0002 * xy[:, 0] + rng.normal(0, 1, n)
    codes = [f"E02{i:06d}" for i in range(n)]
    frame = pd.DataFrame({"pw_x": xy[:, 0], "pw_y": xy[:, 1], "le": le}, index=codes)
    bands = [0, 3000, 6000, 10000]
    cg = MoranCorrelogram(value="le", bands_m=bands).fit(frame)
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    for row, (lo, hi) in zip(cg.table_.itertuples(), itertools.pairwise(bands), strict=True):
        neigh = {codes[i]: [codes[j] for j in range(n) if j != i and lo < d[i, j] <= hi]
                 for i in range(n)}
        w = W(neigh, id_order=codes, silence_warnings=True)
        ref = esda.Moran(le, w, transformation="b", permutations=0)
        assert row.I == pytest.approx(ref.I, rel=1e-10)
        assert row.expected_I == pytest.approx(ref.EI, rel=1e-12)
        assert row.var_I_norm == pytest.approx(ref.VI_norm, rel=1e-10)
        assert row.z_norm == pytest.approx(ref.z_norm, rel=1e-10)
        assert row.p_norm == pytest.approx(ref.p_norm, rel=1e-8)
    assert cg.table_["I"].iloc[0] > cg.table_["I"].iloc[-1]  # autocorrelation decays


def test_moran_correlogram_permutations_are_seeded():
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"pw_x": rng.uniform(0, 1e4, 50), "pw_y": rng.uniform(0, 1e4, 50),
                          "le": rng.normal(80, 1, 50)})
    a = MoranCorrelogram(value="le", n_bands=3, permutations=199, seed=42).fit(frame)
    b = MoranCorrelogram(value="le", n_bands=3, permutations=199, seed=42).fit(frame)
    pd.testing.assert_frame_equal(a.table_, b.table_)
    assert a.table_["p_sim"].between(1 / 200, 1).all()
    assert a.to_dict() == b.to_dict()
    with pytest.raises(ParameterError, match="seed"):
        MoranCorrelogram(permutations=9)


# --------------------------------------------------------------------------- decay fits


def _decay_data(form: str, theta: float, seed: int, n: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 60, n)
    f = {
        "linear": lambda: t,
        "exponential": lambda: np.exp(-t / theta),
        "power": lambda: (t + 1.0) ** (-theta),
        "gaussian": lambda: np.exp(-0.5 * (t / theta) ** 2),
    }[form]()
    b = -0.08 if form == "linear" else 6.0
    y = 76.0 + b * f + rng.normal(0, 0.3, n)
    return pd.DataFrame({"travel_time": t, "le": y, "population": rng.integers(5000, 9000, n)},
                        index=[f"E02{i:06d}" for i in range(n)])


@pytest.mark.parametrize(
    ("form", "theta"), [("exponential", 12.0), ("gaussian", 15.0), ("power", 0.8)]
)
def test_decay_fit_chooses_true_form(form, theta):
    data = _decay_data(form, theta, seed=21)
    fit = TravelTimeFit(time="travel_time", value="le").fit(data)
    assert fit.best_form_ == form
    assert fit.theta_ == pytest.approx(theta, rel=0.2)
    lo, hi = fit.theta_ci_
    assert lo < fit.theta_ < hi
    # independent: full nonlinear least squares with scipy for the same form
    basis = {
        "exponential": lambda t, a, b, th: a + b * np.exp(-t / th),
        "gaussian": lambda t, a, b, th: a + b * np.exp(-0.5 * (t / th) ** 2),
        "power": lambda t, a, b, th: a + b * (t + 1.0) ** (-th),
    }[form]
    popt, pcov = optimize.curve_fit(basis, data["travel_time"], data["le"],
                                    p0=(75, 5, theta * 1.3))
    row = fit.table_.loc[form]
    assert row["theta"] == pytest.approx(popt[2], rel=1e-4)
    assert row["a"] == pytest.approx(popt[0], rel=1e-5)
    assert row["b"] == pytest.approx(popt[1], rel=1e-3)
    np.testing.assert_allclose(fit.predict([0.0, 30.0]),
                               basis(np.array([0.0, 30.0]), *popt), rtol=1e-5)
    # the profile-likelihood interval is close to the Wald interval from curve_fit here
    wald = 1.96 * np.sqrt(pcov[2, 2])
    assert (hi - lo) / 2 == pytest.approx(wald, rel=0.25)


@pytest.mark.parametrize("form", ["exponential", "gaussian"])
def test_decay_profile_interval_coverage(form):
    # 60 seeded replicates: the 95 % profile interval should cover the true theta ~95 % of the
    # time (below 85 % = too narrow; binomial sd ~ 2.8 %), and its half-width / 1.96 should be
    # close to the spread of the estimates across replicates (not too wide either).
    theta = 12.0
    covered = 0
    estimates, half_widths = [], []
    for seed in range(60):
        fit = TravelTimeFit(time="travel_time", value="le", forms=(form,)).fit(
            _decay_data(form, theta, seed=100 + seed, n=100))
        lo, hi = fit.theta_ci_
        covered += lo < theta < hi
        estimates.append(fit.theta_)
        half_widths.append((hi - lo) / 2 / 1.96)
    assert 0.85 <= covered / 60
    assert 0.75 <= np.mean(half_widths) / np.std(estimates) <= 1.35


def test_decay_fit_linear_and_weights():
    data = _decay_data("linear", 0.0, seed=4)
    fit = TravelTimeFit(time="travel_time", value="le", weights="population").fit(data)
    assert fit.best_form_ == "linear"
    slope, _ = np.polyfit(data["travel_time"], data["le"], 1, w=np.sqrt(data["population"]))
    assert fit.theta_ == pytest.approx(slope, rel=1e-9)
    assert fit.theta_ci_[0] < -0.08 < fit.theta_ci_[1]


def test_decay_fit_bootstrap_repeatable_and_reports_missing():
    data = _decay_data("exponential", 10.0, seed=8, n=80)
    data.loc[data.index[:3], "le"] = np.nan
    a = TravelTimeFit(time="travel_time", value="le", forms=("exponential", "linear"), n_boot=40,
                 seed=3).fit(data)
    b = TravelTimeFit(time="travel_time", value="le", forms=("exponential", "linear"), n_boot=40,
                 seed=3).fit(data)
    assert a.theta_boot_ci_ == b.theta_boot_ci_
    assert a.theta_boot_ci_[0] < a.theta_ < a.theta_boot_ci_[1]
    assert a.report_["missing_codes"] == list(data.index[:3])
    assert a.to_dict() == b.to_dict()
    assert a.to_dict()["params"]["seed"] == 3
    assert {"numpy", "scipy"} <= set(a.to_dict()["versions"])
    with pytest.raises(ParameterError, match="seed"):
        TravelTimeFit(n_boot=10)
    with pytest.raises(InputError, match="negative travel time"):
        TravelTimeFit(time="travel_time", value="le").fit(data.assign(travel_time=-1.0))


def test_former_module_still_exports_the_models():
    """geo.gradients was split by model (issue #12); old imports keep working."""
    assert gradients.DecayFit is TravelTimeFit
    assert gradients.NeighbourGradients is NeighbourGradients
    assert gradients.MoranCorrelogram is MoranCorrelogram
