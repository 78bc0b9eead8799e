"""Access to services from each neighbourhood: travel time, counts, E2SFCA and gravity.

Origins are the population-weighted centroids of the LSOAs (``pw_x, pw_y``); an LSOA without them
uses its polygon's representative point, flagged in ``centroid_source``. Origins and facilities are
snapped to the nearest node of the main (largest strongly connected) part of the network; the
straight-line snap distance is added to the trip at walking speed (``access_speed_kph``, 4.8 km/h
by default) at both ends, because the last stretch from a road to a door is walked even on a
drive trip, and because it makes a point far from any road cost what it should rather than nothing.

Nothing gets a placeholder number. An origin that snaps further than ``max_snap_m`` (default
500 m) from the network, for example an island with no mapped road to the mainland, gets NaN with
``access_reason = "snap_too_far"``; an origin that reaches no facility within
``nearest_limit_min`` gets ``"no_facility_within_limit"``; a kind without usable facilities gets
``"no_facilities"``. A straight-line estimate replaces the network only when asked for
(``fallback="euclidean"``): distance = crow-fly distance x ``detour_factor``, time at
``fallback_speed_kph``, and the row's ``method`` says ``"euclidean"``.

Routing is many-to-many (:class:`geo.network.RoutingNetwork`): one limited Dijkstra search per
origin (or per facility on the reversed graph, whichever side has fewer distinct nodes), and one
multi-source search from all facilities for the nearest one. The pairs within the catchment are
kept as a long, sparse table (:attr:`TravelCosts.costs_`).

E2SFCA and the gravity measure are computed by pysal ``access`` (``Access.enhanced_two_stage_fca``
and ``Access.weighted_catchment``) from our travel-time table with a decay from
:mod:`geo.decay`:

* E2SFCA (Luo & Qi 2009): ``R_j = S_j / sum_k P_k W(t_kj)``, ``A_i = sum_j R_j W(t_ij)``, over
  pairs with ``t <= catchment_min``; reported per 1,000 residents (``S`` per 1,000 people).
* Gravity (Hansen potential): ``G_i = sum_j S_j W(t_ij)`` over the same pairs.

Origins that are routed but have no facility within the catchment get 0, not NaN.

IoD2019's own access and environment indicators (road distance to a GP, air quality, housing
condition, road accidents) are read as a layer with units in the names by
`healthgap.data.access_inputs.read_imd_indicators`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from healthgap.geo._validation import require_bng
from healthgap.geo.decay import decay_function
from healthgap.geo.network import WALK_SPEED_KPH, RoutingNetwork

from healthgap.errors import InputError, MissingColumnError, ParameterError

log = logging.getLogger(__name__)

REASONS = {
    "ok": "routed on the network",
    "snap_too_far": "origin further than max_snap_m from the network",
    "no_facility_within_limit": "no facility reached within nearest_limit_min",
    "no_facilities": "no usable facility of this kind",
}
"""Values of ``access_reason``."""

FALLBACKS = (None, "euclidean")


def _check_frame(frame: Any, name: str) -> gpd.GeoDataFrame:
    """Raise unless ``frame`` is a GeoDataFrame in EPSG:27700."""
    return require_bng(frame, name=name)


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float or raise ParameterError naming it."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) and not (v == np.inf and name.endswith("limit_min")):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    if v < 0 or (v == 0 and not allow_zero):
        raise ParameterError(f"{name} must be {'>=' if allow_zero else '>'} 0, got {value!r}")
    return v


def lsoa_origins(lsoa: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return the trip origin of each LSOA: its population-weighted centroid, else a point inside.

    Parameters
    ----------
    lsoa
        LSOA frame in EPSG:27700 indexed by code, optionally with ``pw_x, pw_y`` and
        ``centroid_source``.

    Returns
    -------
    pandas.DataFrame
        Same index; ``x, y`` (EPSG:27700) and ``centroid_source``: the frame's own value where it
        has one and ``pw_x/pw_y`` are set, ``"population_weighted"`` if it has none, and
        ``"representative_point"`` where ``pw_x/pw_y`` are missing.
    """
    _check_frame(lsoa, "lsoa")
    if not lsoa.index.is_unique:
        dup = lsoa.index[lsoa.index.duplicated()].unique()
        raise InputError(f"lsoa: index codes repeat: {list(dup[:10])}")
    rep = lsoa.geometry.representative_point()
    x = pd.Series(rep.x.to_numpy(), index=lsoa.index)
    y = pd.Series(rep.y.to_numpy(), index=lsoa.index)
    source = pd.Series("representative_point", index=lsoa.index, dtype="string")
    if {"pw_x", "pw_y"} <= set(lsoa.columns):
        px = pd.to_numeric(lsoa["pw_x"], errors="coerce")
        py = pd.to_numeric(lsoa["pw_y"], errors="coerce")
        has = px.notna() & py.notna()
        x[has], y[has] = px[has], py[has]
        own = (
            lsoa["centroid_source"].astype("string")
            if "centroid_source" in lsoa
            else pd.Series(pd.NA, index=lsoa.index, dtype="string")
        )
        source[has] = own[has].fillna("population_weighted")
    if lsoa.geometry.isna().any() and not {"pw_x", "pw_y"} <= set(lsoa.columns):
        bad = lsoa.index[lsoa.geometry.isna()]
        raise InputError(f"lsoa: no geometry and no pw_x/pw_y for {list(bad[:10])}")
    return pd.DataFrame({"x": x, "y": y, "centroid_source": source})


def _as_network(network: RoutingNetwork | nx.MultiDiGraph) -> RoutingNetwork:
    """Compile a graph if needed."""
    if isinstance(network, RoutingNetwork):
        return network
    if isinstance(network, nx.MultiDiGraph | nx.DiGraph):
        return RoutingNetwork.from_graph(network)
    raise InputError(
        f"network: expected RoutingNetwork or networkx graph, got {type(network).__name__}"
    )


class TravelCosts:
    """Travel time and distance from origins to facilities over a network.

    Parameters
    ----------
    cutoff_min
        Keep origin-facility pairs up to this many minutes in :attr:`costs_`.
    nearest_limit_min
        Search for the nearest facility up to this many minutes (``inf`` = no limit).
    max_snap_m
        Points further than this from the main network are not routed (metres).
    access_speed_kph
        Speed for the straight-line stretch between a point and its network node.
    fallback
        ``None`` (unroutable origins get NaN) or ``"euclidean"`` (they get a flagged crow-fly
        estimate).
    fallback_speed_kph
        Speed of the crow-fly estimate (30 km/h suits driving; use 4.8 for walking).
    detour_factor
        Crow-fly distance is multiplied by this (>= 1) in the estimate.

    Attributes
    ----------
    costs_ : pandas.DataFrame
        Long table ``origin, dest, time_min, distance_m, method`` of pairs within ``cutoff_min``.
    nearest_ : pandas.DataFrame
        Per origin: ``nearest_code, time_min, distance_m, method, access_reason, snap_m``.
    facility_status_ : pandas.DataFrame
        Per facility code: ``node, snap_m, routable``.
    """

    def __init__(
        self,
        *,
        cutoff_min: float = 30.0,
        nearest_limit_min: float = np.inf,
        max_snap_m: float = 500.0,
        access_speed_kph: float = WALK_SPEED_KPH,
        fallback: str | None = None,
        fallback_speed_kph: float = 30.0,
        detour_factor: float = 1.3,
    ) -> None:
        self.cutoff_min = cutoff_min
        self.nearest_limit_min = nearest_limit_min
        self.max_snap_m = max_snap_m
        self.access_speed_kph = access_speed_kph
        self.fallback = fallback
        self.fallback_speed_kph = fallback_speed_kph
        self.detour_factor = detour_factor

    def _validate(self) -> None:
        _positive("cutoff_min", self.cutoff_min)
        _positive("nearest_limit_min", self.nearest_limit_min)
        _positive("max_snap_m", self.max_snap_m, allow_zero=True)
        _positive("access_speed_kph", self.access_speed_kph)
        _positive("fallback_speed_kph", self.fallback_speed_kph)
        if _positive("detour_factor", self.detour_factor) < 1:
            raise ParameterError(f"detour_factor must be >= 1, got {self.detour_factor!r}")
        if self.fallback not in FALLBACKS:
            raise ParameterError(f"fallback must be one of {FALLBACKS}, got {self.fallback!r}")

    def fit(
        self,
        network: RoutingNetwork | nx.MultiDiGraph,
        origins: pd.DataFrame,
        facilities: gpd.GeoDataFrame,
    ) -> TravelCosts:
        """Route every origin to the facilities.

        Parameters
        ----------
        network
            A :class:`~geo.network.RoutingNetwork` or a graph from :func:`geo.network.read_network`.
        origins
            Indexed by origin code with ``x, y`` in EPSG:27700 (e.g. :func:`lsoa_origins`).
        facilities
            GeoDataFrame in EPSG:27700 with a unique ``code`` column and point geometries.

        Returns
        -------
        TravelCosts
            self, with :attr:`costs_`, :attr:`nearest_` and :attr:`facility_status_`.
        """
        self._validate()
        net = _as_network(network)
        if not {"x", "y"} <= set(origins.columns):
            raise MissingColumnError(f"origins: need columns x, y; found {list(origins.columns)}")
        if not origins.index.is_unique:
            raise InputError("origins: index codes must be unique")
        _check_frame(facilities, "facilities")
        if "code" not in facilities:
            raise MissingColumnError(
                f"facilities: need a 'code' column; found {list(facilities.columns)}"
            )
        codes = facilities["code"].astype(str).to_numpy()
        if len(set(codes)) != len(codes):
            raise InputError("facilities: 'code' values must be unique")
        if len(facilities) and not (facilities.geom_type == "Point").all():
            raise InputError("facilities: geometries must be points")

        walk_mps = self.access_speed_kph / 3.6
        oxy = origins[["x", "y"]].to_numpy(dtype=float)
        if not np.isfinite(oxy).all():
            bad = origins.index[~np.isfinite(oxy).all(axis=1)]
            raise InputError(f"origins: x/y not finite for {list(bad[:10])}")
        o_node, o_snap = net.snap(oxy) if len(oxy) else (np.zeros(0, np.int64), np.zeros(0))
        o_ok = o_snap <= self.max_snap_m
        fxy = (
            np.column_stack([facilities.geometry.x, facilities.geometry.y])
            if len(facilities)
            else np.zeros((0, 2))
        )
        f_node, f_snap = net.snap(fxy) if len(fxy) else (np.zeros(0, np.int64), np.zeros(0))
        f_ok = f_snap <= self.max_snap_m
        self.facility_status_ = pd.DataFrame(
            {"node": f_node, "snap_m": f_snap, "routable": f_ok}, index=pd.Index(codes, name="code")
        )

        cutoff_s = self.cutoff_min * 60.0
        pairs = []
        oi = np.flatnonzero(o_ok)
        fj = np.flatnonzero(f_ok)
        if len(oi) and len(fj):
            uo, o_inv = np.unique(o_node[oi], return_inverse=True)
            uf, f_inv = np.unique(f_node[fj], return_inverse=True)
            if len(uf) < len(uo):
                t, d = net.costs(uf, uo, limit_s=cutoff_s, reverse=True)
                t, d = t.T, d.T
            else:
                t, d = net.costs(uo, uf, limit_s=cutoff_s)
            tt = t[o_inv][:, f_inv] + o_snap[oi, None] / walk_mps + f_snap[None, fj] / walk_mps
            dd = d[o_inv][:, f_inv] + o_snap[oi, None] + f_snap[None, fj]
            r, c = np.nonzero(tt <= cutoff_s)
            pairs.append(
                pd.DataFrame(
                    {
                        "origin": origins.index[oi[r]],
                        "dest": codes[fj[c]],
                        "time_min": tt[r, c] / 60.0,
                        "distance_m": dd[r, c],
                        "method": "network",
                    }
                )
            )

        nearest = pd.DataFrame(
            {
                "nearest_code": pd.Series(pd.NA, index=origins.index, dtype="string"),
                "time_min": np.nan,
                "distance_m": np.nan,
                "method": pd.Series(pd.NA, index=origins.index, dtype="string"),
                "access_reason": pd.Series("ok", index=origins.index, dtype="string"),
                "snap_m": o_snap,
            },
            index=origins.index,
        )
        nearest.loc[~o_ok, "access_reason"] = "snap_too_far"
        if len(fj) == 0:
            nearest["access_reason"] = "no_facilities"
        elif len(oi):
            limit_s = self.nearest_limit_min * 60.0
            t_all, d_all, which = net.nearest(
                f_node[fj], offsets_s=f_snap[fj] / walk_mps, limit_s=limit_s
            )
            t_o = t_all[o_node[oi]] + o_snap[oi] / walk_mps
            w = which[o_node[oi]]
            reached = (w >= 0) & (t_o <= limit_s)
            idx = origins.index[oi]
            nearest.loc[idx[reached], "nearest_code"] = codes[fj[w[reached]]]
            nearest.loc[idx[reached], "time_min"] = t_o[reached] / 60.0
            nearest.loc[idx[reached], "distance_m"] = (
                d_all[o_node[oi]][reached] + o_snap[oi][reached] + f_snap[fj[w[reached]]]
            )
            nearest.loc[idx[reached], "method"] = "network"
            nearest.loc[idx[~reached], "access_reason"] = "no_facility_within_limit"

        if self.fallback == "euclidean" and len(facilities):
            bad = np.flatnonzero(~o_ok)
            if len(bad):
                est = self._euclidean(oxy[bad], fxy)
                for k, i in enumerate(bad):
                    dist_m = est[k]
                    time_min = dist_m / (self.fallback_speed_kph / 3.6) / 60.0
                    j = int(np.argmin(dist_m))
                    code = origins.index[i]
                    nearest.loc[code, ["nearest_code", "method"]] = [codes[j], "euclidean"]
                    nearest.loc[code, ["time_min", "distance_m"]] = [time_min[j], dist_m[j]]
                    within = np.flatnonzero(time_min <= self.cutoff_min)
                    pairs.append(
                        pd.DataFrame(
                            {
                                "origin": code,
                                "dest": codes[within],
                                "time_min": time_min[within],
                                "distance_m": dist_m[within],
                                "method": "euclidean",
                            }
                        )
                    )
        costs = (
            pd.concat(pairs, ignore_index=True)
            if pairs
            else pd.DataFrame(columns=["origin", "dest", "time_min", "distance_m", "method"])
        )
        costs = costs.astype({"origin": "string", "dest": "string", "method": "string"})
        self.costs_ = costs.astype({"time_min": float, "distance_m": float})
        self.nearest_ = nearest
        return self

    def _euclidean(self, pts: np.ndarray, fxy: np.ndarray) -> np.ndarray:
        """Return crow-fly distance x detour factor (m) from each point to each facility."""
        diff = pts[:, None, :] - fxy[None, :, :]
        return np.sqrt((diff**2).sum(axis=2)) * float(self.detour_factor)


def _decay(
    decay: str | Callable[[Any], Any], params: Mapping[str, Any] | None
) -> Callable[[Any], Any]:
    """Return the decay callable from a name and parameters, or the callable given."""
    if callable(decay):
        if params:
            raise ParameterError("decay_params must be empty when decay is a callable")
        return decay
    return decay_function(decay, **dict(params or {}))


def e2sfca_and_gravity(
    costs: pd.DataFrame,
    *,
    demand: pd.Series,
    supply: pd.Series,
    catchment_min: float,
    decay: Callable[[Any], Any],
) -> pd.DataFrame:
    """Compute E2SFCA and gravity accessibility with pysal ``access`` from a cost table.

    Parameters
    ----------
    costs
        Long table with ``origin, dest, time_min``.
    demand
        Population by origin code (every origin that may compete for supply).
    supply
        Supply by facility code.
    catchment_min
        Pairs above this many minutes are ignored.
    decay
        Weight function of minutes.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``demand``: ``e2sfca`` (supply per person) and ``gravity``; 0 for origins
        with no pair in the catchment; ``e2sfca`` is NaN where a reachable facility has no
        demand at all (every origin that reaches it has population 0).
    """
    from access import Access

    demand_df = pd.DataFrame({"population": demand.astype(float)})
    demand_df.index = demand_df.index.astype(str)
    demand_df.index.name = "origin"
    supply_df = pd.DataFrame({"supply": supply.astype(float)})
    supply_df.index = supply_df.index.astype(str)
    supply_df.index.name = "dest"
    cost_df = costs.loc[:, ["origin", "dest", "time_min"]].astype(
        {"origin": object, "dest": object, "time_min": float}
    )
    cost_df = cost_df[
        cost_df["origin"].isin(demand_df.index) & cost_df["dest"].isin(supply_df.index)
    ]
    out = pd.DataFrame({"e2sfca": 0.0, "gravity": 0.0}, index=demand_df.index)
    if cost_df.empty:
        return out
    model = Access(
        demand_df=demand_df,
        demand_index=True,
        demand_value="population",
        supply_df=supply_df,
        supply_index=True,
        supply_value="supply",
        cost_df=cost_df.reset_index(drop=True),
        cost_origin="origin",
        cost_dest="dest",
        cost_name="time_min",
    )

    def weight(t: float) -> float:
        return float(decay(t))

    e2 = model.enhanced_two_stage_fca(name="e2sfca", max_cost=catchment_min, weight_fn=weight)
    grav = model.weighted_catchment(name="gravity", max_cost=catchment_min, weight_fn=weight)
    e2sfca = e2["e2sfca_supply"].reindex(out.index).fillna(0.0).astype(float)
    # a facility whose only reachable demand is zero has no defined ratio: NaN, not inf
    out["e2sfca"] = e2sfca.where(np.isfinite(e2sfca))
    out["gravity"] = grav["gravity_supply"].reindex(out.index).fillna(0.0).astype(float)
    return out


def check_access_inputs(lsoa: Any, facilities: Any) -> pd.Series:
    """Check the LSOA and facility frames of an access model; return the population.

    Raises
    ------
    CRSError, InputError, MissingColumnError
        Naming the frame and what is wrong (CRS, ``code, kind, supply``, ``population``).
    """
    _check_frame(lsoa, "lsoa")
    _check_frame(facilities, "facilities")
    missing = [c for c in ("code", "kind", "supply") if c not in facilities]
    if missing:
        raise MissingColumnError(f"facilities: missing {missing}; found {list(facilities.columns)}")
    if "population" not in lsoa:
        raise MissingColumnError(f"lsoa: missing 'population'; found {list(lsoa.columns)}")
    population = pd.to_numeric(lsoa["population"], errors="coerce")
    if population.isna().any() or (population < 0).any():
        bad = lsoa.index[population.isna() | (population < 0)]
        raise InputError(f"lsoa: population missing or negative for {list(bad[:10])}")
    return population


class ServiceAccess:
    """Access from every LSOA to each kind of facility.

    Parameters
    ----------
    thresholds_min
        Count the facilities reachable within each of these many minutes.
    catchment_min
        Catchment of E2SFCA and gravity (minutes).
    decay
        Name of a :mod:`geo.decay` function or a callable of minutes.
    decay_params
        Parameters of the named decay; default Gaussian with ``sigma = 10`` minutes (weight 0.61
        at 10 min, 0.14 at 20, 0.011 at 30).
    max_snap_m, access_speed_kph, fallback, fallback_speed_kph, detour_factor, nearest_limit_min
        As in :class:`TravelCosts`.

    Attributes
    ----------
    result_ : pandas.DataFrame
        Indexed by LSOA code: ``centroid_source``, ``snap_m`` and, for each facility kind ``k``,
        ``k_nearest_code``, ``k_time_min``, ``k_distance_km``, ``k_n_<t>min`` for each threshold,
        ``k_e2sfca_per_1000``, ``k_gravity``, ``k_method``, ``k_access_reason``.
    costs_ : pandas.DataFrame
        Long table ``origin, dest, kind, time_min, distance_m, method`` within the largest of the
        thresholds and the catchment.
    facility_status_ : pandas.DataFrame
        Facility code -> kind, node, snap_m, routable.
    """

    def __init__(
        self,
        *,
        thresholds_min: Sequence[float] = (10, 15, 20, 30),
        catchment_min: float = 30.0,
        decay: str | Callable[[Any], Any] = "gaussian",
        decay_params: Mapping[str, Any] | None = None,
        max_snap_m: float = 500.0,
        access_speed_kph: float = WALK_SPEED_KPH,
        fallback: str | None = None,
        fallback_speed_kph: float = 30.0,
        detour_factor: float = 1.3,
        nearest_limit_min: float = np.inf,
    ) -> None:
        self.thresholds_min = thresholds_min
        self.catchment_min = catchment_min
        self.decay = decay
        self.decay_params = decay_params
        self.max_snap_m = max_snap_m
        self.access_speed_kph = access_speed_kph
        self.fallback = fallback
        self.fallback_speed_kph = fallback_speed_kph
        self.detour_factor = detour_factor
        self.nearest_limit_min = nearest_limit_min

    def settings(self) -> tuple[list[float], float, Callable[[Any], Any]]:
        """Return the checked thresholds, catchment and decay weight function.

        Raises
        ------
        ParameterError
            Naming the first parameter out of range (the routing ones as in
            :class:`TravelCosts`).
        """
        thresholds = [_positive("thresholds_min", t) for t in self.thresholds_min]
        catchment = _positive("catchment_min", self.catchment_min)
        self.travel_costs(max([*thresholds, catchment]))._validate()
        params = self.decay_params
        if params is None and self.decay == "gaussian":
            params = {"sigma": 10.0}
        return thresholds, catchment, _decay(self.decay, params)

    def travel_costs(self, cutoff_min: float) -> TravelCosts:
        """Return the :class:`TravelCosts` router with these options."""
        return TravelCosts(
            cutoff_min=cutoff_min,
            nearest_limit_min=self.nearest_limit_min,
            max_snap_m=self.max_snap_m,
            access_speed_kph=self.access_speed_kph,
            fallback=self.fallback,
            fallback_speed_kph=self.fallback_speed_kph,
            detour_factor=self.detour_factor,
        )

    def fit(
        self,
        lsoa: gpd.GeoDataFrame,
        facilities: gpd.GeoDataFrame,
        network: RoutingNetwork | nx.MultiDiGraph,
    ) -> ServiceAccess:
        """Route every LSOA to every facility kind and compute the measures.

        Parameters
        ----------
        lsoa
            LSOA frame (EPSG:27700, indexed by code) with ``population`` and preferably
            ``pw_x, pw_y``. Every LSOA given, edge ring included, is a competing demand in E2SFCA.
        facilities
            From :mod:`geo.facilities`: ``code, kind, supply`` and points, EPSG:27700.
        network
            :class:`~geo.network.RoutingNetwork` or graph from :func:`geo.network.read_network`.

        Returns
        -------
        ServiceAccess
            self, with :attr:`result_`, :attr:`costs_` and :attr:`facility_status_`.
        """
        thresholds, catchment, weight = self.settings()
        population = check_access_inputs(lsoa, facilities)

        net = _as_network(network)
        origins = lsoa_origins(lsoa)
        cutoff = max([*thresholds, catchment])
        result = origins[["centroid_source"]].copy()
        all_costs, status = [], []
        for kind in sorted(facilities["kind"].astype(str).unique()):
            fac = facilities[facilities["kind"].astype(str) == kind]
            tc = self.travel_costs(cutoff).fit(net, origins, fac)
            near = tc.nearest_
            result["snap_m"] = near["snap_m"]
            result[f"{kind}_nearest_code"] = near["nearest_code"]
            result[f"{kind}_time_min"] = near["time_min"]
            result[f"{kind}_distance_km"] = near["distance_m"] / 1000.0
            costs = tc.costs_
            usable = near["time_min"].notna()
            for t in thresholds:
                n = costs[costs["time_min"] <= t].groupby("origin").size()
                label = f"{kind}_n_{t:g}min"
                result[label] = n.reindex(result.index).fillna(0).astype(float)
                result.loc[~usable, label] = np.nan
            measures = e2sfca_and_gravity(
                costs,
                demand=population,
                supply=fac.set_index(fac["code"].astype(str))["supply"],
                catchment_min=catchment,
                decay=weight,
            )
            result[f"{kind}_e2sfca_per_1000"] = measures["e2sfca"].to_numpy() * 1000.0
            result[f"{kind}_gravity"] = measures["gravity"].to_numpy()
            result.loc[~usable, [f"{kind}_e2sfca_per_1000", f"{kind}_gravity"]] = np.nan
            result[f"{kind}_method"] = near["method"]
            result[f"{kind}_access_reason"] = near["access_reason"]
            all_costs.append(costs.assign(kind=kind))
            status.append(tc.facility_status_.assign(kind=kind))
        self.result_ = result
        self.costs_ = (
            pd.concat(all_costs, ignore_index=True)
            if all_costs
            else pd.DataFrame(
                columns=["origin", "dest", "time_min", "distance_m", "method", "kind"]
            )
        )
        self.facility_status_ = pd.concat(status) if status else pd.DataFrame()
        return self


