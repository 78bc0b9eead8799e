"""What-if access scenarios: open, close, move or resize facilities and see who gains or loses.

A :class:`Scenario` is a set of facility changes, checked against the facilities and the postcode
lookup before any routing (:func:`parse_scenario`; both live in :mod:`geo.scenario_spec` and are
importable from here):

* ``close``: facility codes to close;
* ``open``: new facilities at a postcode, at ``x``/``y`` (EPSG:27700) or at ``lon``/``lat``,
  with a ``supply`` (default: the median supply of the facilities of its ``kind``, ``gp`` by
  default);
* ``move``: a facility's code and where it goes (it keeps its code, name, kind and supply unless
  a new supply is given);
* ``supply``: ``{code: new supply}``.

:class:`AccessScenarios` holds the baseline: one travel-time column per facility (minutes from
every LSOA origin, from one Dijkstra search per facility node on the reversed road graph, as
:class:`geo.access.TravelCosts` does when it routes from the facility side) and the measures
derived from it (nearest time, counts within each threshold, E2SFCA per 1,000). A scenario then
routes only the facilities it opens or moves and recomputes only the origins it touches:

* nearest: origins whose nearest facility closed or moved, or that a new facility reaches no
  later than their current nearest;
* counts: origins that reach a changed facility within the largest threshold;
* E2SFCA: a facility's ratio ``R_j = S_j / sum_k P_k W(t_kj)`` depends only on its own supply
  and column, so only changed facilities get a new ratio, and only origins inside their
  catchment get a new sum. Sums run over facilities in code order, one term at a time, so an
  origin's sum is the same number whichever facilities outside its catchment exist.

The result therefore equals a full recompute on the changed facility set exactly
(:meth:`AccessScenarios.evaluate` with ``incremental=False``); the tests compare them.

Where there is no road network, :meth:`AccessScenarios.fit` with ``network=None`` gives a
straight-line estimate (crow-fly distance x ``detour_factor`` at ``fallback_speed_kph``) and every
output says ``method = "straight_line_estimate"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo.access import ServiceAccess, _positive, check_access_inputs, lsoa_origins
from healthgap.geo.network import RoutingNetwork
from healthgap.geo.scenario_spec import (
    MOVE_KEYS,
    NETWORK,
    OPEN_KEYS,
    SCENARIO_KEYS,
    STRAIGHT_LINE,
    Opening,
    Scenario,
    check_openings,
    parse_open_option,
    parse_scenario,
)
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from healthgap.errors import (
    InputError,
    ParameterError,
    UnknownAreaError,
    ValidationError,
    preview,
)

__all__ = ["MOVE_KEYS", "NETWORK", "OPEN_KEYS", "SCENARIO_KEYS", "STRAIGHT_LINE",
           "AccessScenarios", "KindAccess", "Opening", "Scenario", "ScenarioResult",
           "ScenarioSummary", "check_openings", "parse_open_option", "parse_scenario",
           "summarise"]



# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class KindAccess:
    """Access to one kind of facility: the travel-time matrix and the measures from it.

    ``codes`` are in sorted order and index the columns of ``time``; ``time`` is minutes
    (``inf`` = not reached), one row per origin.
    """

    codes: tuple[str, ...]
    time: NDArray[np.float64]
    supply: NDArray[np.float64]
    demand: NDArray[np.float64]
    ratio: NDArray[np.float64]
    nearest_time: NDArray[np.float64]
    nearest_idx: NDArray[np.int64]
    counts: NDArray[np.int64]
    e2sfca: NDArray[np.float64]

    def nearest_code(self) -> NDArray[np.object_]:
        """Return the code of the nearest facility per origin (None where none)."""
        codes = np.asarray(self.codes + ("",), dtype=object)
        out = codes[np.where(self.nearest_idx >= 0, self.nearest_idx, len(self.codes))]
        out[self.nearest_idx < 0] = None
        return out


@dataclass(frozen=True)
class ScenarioResult:
    """Per-origin access before and after a scenario, for each kind it changes.

    Attributes
    ----------
    before, after
        ``{kind: KindAccess}``.
    touched
        ``{kind: number of origins recomputed}`` (all origins in a full recompute).
    table
        Per LSOA (indexed like the LSOA frame): for each changed kind ``k``,
        ``k_time_min_before/_after/_change``, ``k_nearest_code_before/_after``,
        ``k_n_<t>min_before/_after/_change``, ``k_e2sfca_per_1000_before/_after/_change``,
        ``k_lost_<t>min`` / ``k_gained_<t>min`` (nearest time crosses ``t`` minutes), and
        ``method``, ``access_reason``.
    """

    scenario: Scenario
    before: dict[str, KindAccess]
    after: dict[str, KindAccess]
    touched: dict[str, int]
    table: pd.DataFrame
    method: str


class AccessScenarios:
    """Baseline access kept in memory, and what-if scenarios applied to it.

    Parameters
    ----------
    access
        The access model whose options the scenarios use (thresholds, catchment, decay, snap
        limit, walking speed at both ends, and the straight-line estimate's speed and detour
        factor): a :class:`geo.access.ServiceAccess`, as the build configures it. Default:
        ``ServiceAccess()``.
    horizon_min
        Route each facility this far (``inf`` = the whole graph, as the build's nearest search).

    Attributes
    ----------
    baseline_ : dict of KindAccess
        Per facility kind.
    method_ : str
        ``"network"`` or ``"straight_line_estimate"``.
    """

    def __init__(self, access: ServiceAccess | None = None, *,
                 horizon_min: float = np.inf) -> None:
        self.access = access if access is not None else ServiceAccess()
        self.horizon_min = horizon_min

    @property
    def max_snap_m(self) -> float:
        """The snap limit (m) of the access model."""
        return float(self.access.max_snap_m)

    # ---------------------------------------------------------------- fitting

    def fit(
        self,
        lsoa: gpd.GeoDataFrame,
        facilities: gpd.GeoDataFrame,
        network: RoutingNetwork | None,
    ) -> AccessScenarios:
        """Route every origin to every facility once: the baseline.

        Parameters
        ----------
        lsoa
            LSOA frame (EPSG:27700, by code) with ``population`` and ``pw_x, pw_y``; every row,
            edge ring included, competes for supply in E2SFCA.
        facilities
            ``code, kind, supply`` and points (EPSG:27700).
        network
            A :class:`~geo.network.RoutingNetwork`, or None for the straight-line estimate.

        Returns
        -------
        AccessScenarios
            self, with :attr:`baseline_`.
        """
        thresholds, catchment, self._weight = self.access.settings()
        self.thresholds_min = tuple(thresholds)
        self.catchment_min = catchment
        if not (self.horizon_min == np.inf or _positive("horizon_min", self.horizon_min)):
            raise ParameterError(f"horizon_min must be > 0, got {self.horizon_min!r}")
        pop = check_access_inputs(lsoa, facilities)
        self.index_ = lsoa.index
        self.population_ = pop.to_numpy(dtype=float)
        origins = lsoa_origins(lsoa)
        self.origin_xy_ = origins[["x", "y"]].to_numpy(dtype=float)
        self.network_ = network
        self.method_ = NETWORK if network is not None else STRAIGHT_LINE
        self._walk_mps = float(self.access.access_speed_kph) / 3.6
        if network is not None:
            self._o_node, self._o_snap = network.snap(self.origin_xy_)
            self.origin_ok_ = self._o_snap <= self.max_snap_m
        else:
            self._o_node = np.zeros(len(origins), np.int64)
            self._o_snap = np.zeros(len(origins))
            self.origin_ok_ = np.ones(len(origins), dtype=bool)
        self._node_cache: dict[int, NDArray[np.float64]] = {}
        self.facilities_ = facilities
        self.baseline_: dict[str, KindAccess] = {}
        for kind in sorted(facilities["kind"].astype(str).unique()):
            fac = facilities[facilities["kind"].astype(str) == kind]
            self.baseline_[kind] = self._full(fac)
        return self

    def snap_check(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the distance (m) from each point to the main network (0 without a network)."""
        if self.network_ is None:
            return np.zeros(len(xy))
        return self.network_.snap(np.asarray(xy, dtype=float).reshape(-1, 2))[1]

    def _network_seconds(self, nodes: NDArray[np.int64]) -> NDArray[np.float64]:
        """Return network seconds from every origin node to each node (cached per node)."""
        assert self.network_ is not None
        todo = [int(n) for n in dict.fromkeys(nodes.tolist()) if int(n) not in self._node_cache]
        if todo:
            graph = self.network_.time.T.tocsr()
            limit = float(self.horizon_min) * 60.0
            for start in range(0, len(todo), 32):
                block = todo[start:start + 32]
                t = np.atleast_2d(dijkstra(graph, directed=True, indices=block, limit=limit))
                for k, node in enumerate(block):
                    self._node_cache[node] = t[k][self._o_node]
        return np.column_stack([self._node_cache[int(n)] for n in nodes]) if len(nodes) else \
            np.zeros((len(self._o_node), 0))

    def columns(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return minutes from every origin to facilities at ``xy`` (``(k, 2)``, EPSG:27700).

        Network: ``(network seconds + origin snap / walk + facility snap / walk) / 60`` in that
        order (as :class:`geo.access.TravelCosts`); ``inf`` for a facility or origin further than
        ``max_snap_m`` from the network. Without a network: crow-fly x detour at
        ``fallback_speed_kph``.
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if self.network_ is None:
            diff = self.origin_xy_[:, None, :] - xy[None, :, :]
            dist = np.sqrt((diff**2).sum(axis=2)) * float(self.access.detour_factor)
            return dist / (float(self.access.fallback_speed_kph) / 3.6) / 60.0
        f_node, f_snap = self.network_.snap(xy)
        ok = f_snap <= self.max_snap_m
        tt = np.full((len(self._o_node), len(xy)), np.inf)
        secs = self._network_seconds(f_node[ok])
        tt[:, ok] = (secs + self._o_snap[:, None] / self._walk_mps
                     + f_snap[None, ok] / self._walk_mps) / 60.0
        tt[~self.origin_ok_, :] = np.inf
        return tt

    def _weights(self, time: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return decay weights, 0 outside the catchment."""
        inside = time <= float(self.catchment_min)
        w = np.zeros_like(time)
        if inside.any():
            w[inside] = np.asarray(self._weight(time[inside]), dtype=float)
        return w

    def _ratios(self, time: NDArray[np.float64], supply: NDArray[np.float64]
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return each facility's demand ``sum_k P_k W(t_kj)`` and ratio ``S_j / demand``."""
        demand = np.array([float(np.sum(self.population_ * self._weights(time[:, j])))
                           for j in range(time.shape[1])])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(demand > 0, supply / demand, np.nan)
        return demand, ratio

    def _e2sfca(self, time: NDArray[np.float64], ratio: NDArray[np.float64],
                rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """Return E2SFCA for ``rows``: ``sum_j R_j W(t_ij)``, one term at a time in code order."""
        acc = np.zeros(len(rows))
        sub = time[rows]
        for j in range(sub.shape[1]):
            w = self._weights(sub[:, j])
            term = np.where(w > 0, w * ratio[j], 0.0)
            acc = acc + term
        return acc

    def _nearest(self, time: NDArray[np.float64]) -> tuple[NDArray[np.float64],
                                                             NDArray[np.int64]]:
        """Return the smallest time per row and its column (first in code order; -1 if none)."""
        if time.shape[1] == 0:
            return np.full(len(time), np.inf), np.full(len(time), -1, dtype=np.int64)
        idx = np.argmin(time, axis=1).astype(np.int64)
        best = time[np.arange(len(time)), idx]
        idx[~np.isfinite(best)] = -1
        return best, idx

    def _counts(self, time: NDArray[np.float64]) -> NDArray[np.int64]:
        return np.column_stack([(time <= t).sum(axis=1) for t in self.thresholds_min]
                               ).astype(np.int64)

    def _full(self, fac: pd.DataFrame) -> KindAccess:
        """Compute one kind's access from scratch."""
        fac = fac.assign(_code=fac["code"].astype(str)).sort_values("_code")
        codes = tuple(fac["_code"])
        xy = (np.column_stack([fac.geometry.x, fac.geometry.y]) if len(fac)
              else np.zeros((0, 2)))
        time = self.columns(xy)
        supply = pd.to_numeric(fac["supply"], errors="coerce").to_numpy(dtype=float)
        demand, ratio = self._ratios(time, supply)
        best, idx = self._nearest(time)
        rows = np.arange(len(time))
        return KindAccess(codes, time, supply, demand, ratio, best, idx, self._counts(time),
                          self._e2sfca(time, ratio, rows))

    # ---------------------------------------------------------------- scenarios

    def check(self, scenario: Scenario) -> None:
        """Raise before any routing if an opening is too far from the network or a kind unknown.

        Raises
        ------
        ValidationError
            Naming each opening further than ``max_snap_m`` from the main network.
        """
        problems = [f"open {o.code}: kind {o.kind!r} not in the baseline "
                    f"({sorted(self.baseline_)})" for o in scenario.open
                    if o.kind not in self.baseline_]
        if problems:
            raise ValidationError(scenario.name, problems)
        check_openings(scenario, self.network_, max_snap_m=self.max_snap_m)

    def evaluate(self, scenario: Scenario, *, incremental: bool = True) -> ScenarioResult:
        """Apply a scenario to the baseline.

        Parameters
        ----------
        scenario
            From :func:`parse_scenario` (against this baseline's facilities).
        incremental
            Route only opened or moved facilities and recompute only touched origins (default);
            False recomputes every kind the scenario changes from scratch.

        Returns
        -------
        ScenarioResult
        """
        if not hasattr(self, "baseline_"):
            raise ParameterError("AccessScenarios: call fit() before evaluate()")
        self.check(scenario)
        known = set(self.facilities_["code"].astype(str))
        unknown = [c for c in scenario.close + tuple(c for c, _ in scenario.supply)
                   if c not in known]
        if unknown:
            raise UnknownAreaError(f"scenario {scenario.name!r}: unknown facility code(s) "
                                   f"{preview(unknown)}")
        kind_of = dict(zip(self.facilities_["code"].astype(str),
                           self.facilities_["kind"].astype(str), strict=True))
        kinds = sorted({kind_of[c] for c in scenario.close}
                       | {kind_of[c] for c, _ in scenario.supply}
                       | {o.kind for o in scenario.open})
        after, touched = {}, {}
        for kind in kinds:
            if incremental:
                after[kind], touched[kind] = self._incremental(kind, scenario)
            else:
                fac = scenario.apply(self.facilities_)
                after[kind] = self._full(fac[fac["kind"].astype(str) == kind])
                touched[kind] = len(self.index_)
        before = {k: self.baseline_[k] for k in kinds}
        return ScenarioResult(scenario, before, after, touched,
                              self._table(before, after), self.method_)

    def _incremental(self, kind: str, scenario: Scenario) -> tuple[KindAccess, int]:
        """Apply the scenario to one kind, reusing the baseline's columns and measures."""
        base = self.baseline_[kind]
        opened = [o for o in scenario.open if o.kind == kind]
        removed = set(scenario.close) & set(base.codes)
        new_supply = {c: s for c, s in scenario.supply if c in base.codes}
        new_cols = self.columns(np.array([[o.x, o.y] for o in opened]).reshape(-1, 2))
        # the new column set, in code order, gathered from the baseline and the new columns
        pool = {c: ("base", j) for j, c in enumerate(base.codes) if c not in removed}
        pool.update({o.code: ("new", k) for k, o in enumerate(opened)})
        codes = tuple(sorted(pool))
        base_pos = np.array([pool[c][1] if pool[c][0] == "base" else -1 for c in codes],
                            dtype=np.int64)
        time = np.empty((len(self.index_), len(codes)))
        is_base = base_pos >= 0
        time[:, is_base] = base.time[:, base_pos[is_base]]
        new_pos = [pool[c][1] for c in codes if pool[c][0] == "new"]
        time[:, ~is_base] = new_cols[:, new_pos]
        supply = np.array([new_supply.get(c, base.supply[p]) if p >= 0 else
                           opened[pool[c][1]].supply for c, p in zip(codes, base_pos,
                                                                     strict=True)])
        # ratios: reused except for changed facilities
        changed = np.array([(p < 0) or (c in new_supply) for c, p in zip(codes, base_pos,
                                                                         strict=True)])
        demand = np.where(is_base, base.demand[np.clip(base_pos, 0, None)], 0.0)
        ratio = np.where(is_base, base.ratio[np.clip(base_pos, 0, None)], 0.0)
        if changed.any():
            d, r = self._ratios(time[:, changed], supply[changed])
            demand[changed], ratio[changed] = d, r
        gone = np.array([j for j, c in enumerate(base.codes) if c in removed], dtype=np.int64)
        old_changed = base.time[:, gone]
        new_changed = time[:, changed]
        # nearest: origins whose nearest went, or that a changed facility reaches no later
        lost = np.isin(base.nearest_idx, gone)
        faster = (time[:, ~is_base] <= base.nearest_time[:, None]).any(axis=1)
        rows_near = np.flatnonzero(lost | faster)
        best = base.nearest_time.copy()
        remap = np.full(len(base.codes) + 1, -1, dtype=np.int64)
        remap[base_pos[is_base]] = np.flatnonzero(is_base)
        idx = remap[np.where(base.nearest_idx >= 0, base.nearest_idx, len(base.codes))]
        if len(rows_near):
            b, i = self._nearest(time[rows_near])
            best[rows_near], idx[rows_near] = b, i
        # counts: origins reaching a removed or opened facility within the largest threshold
        reach = max(self.thresholds_min)
        rows_cnt = np.flatnonzero((old_changed <= reach).any(axis=1)
                                  | (time[:, ~is_base] <= reach).any(axis=1))
        counts = base.counts.copy()
        if len(rows_cnt):
            counts[rows_cnt] = self._counts(time[rows_cnt])
        # E2SFCA: origins inside the catchment of any changed facility, before or after
        catch = float(self.catchment_min)
        rows_e2 = np.flatnonzero((old_changed <= catch).any(axis=1)
                                 | (new_changed <= catch).any(axis=1))
        e2 = base.e2sfca.copy()
        if len(rows_e2):
            e2[rows_e2] = self._e2sfca(time, ratio, rows_e2)
        n_touched = len(np.union1d(np.union1d(rows_near, rows_cnt), rows_e2))
        return KindAccess(codes, time, supply, demand, ratio, best, idx, counts, e2), n_touched

    def _table(self, before: Mapping[str, KindAccess], after: Mapping[str, KindAccess]
               ) -> pd.DataFrame:
        """Return the per-LSOA before/after/change table."""
        out = pd.DataFrame(index=self.index_)
        ok = self.origin_ok_
        for kind in before:
            b, a = before[kind], after[kind]
            for label, vb, va in (("time_min", b.nearest_time, a.nearest_time),
                                  ("e2sfca_per_1000", b.e2sfca * 1000.0, a.e2sfca * 1000.0)):
                vb = np.where(ok & np.isfinite(vb), vb, np.nan)
                va = np.where(ok & np.isfinite(va), va, np.nan)
                out[f"{kind}_{label}_before"] = vb
                out[f"{kind}_{label}_after"] = va
                out[f"{kind}_{label}_change"] = va - vb
            out[f"{kind}_nearest_code_before"] = pd.array(b.nearest_code(), dtype="string")
            out[f"{kind}_nearest_code_after"] = pd.array(a.nearest_code(), dtype="string")
            for k, t in enumerate(self.thresholds_min):
                nb = np.where(ok, b.counts[:, k], np.nan)
                na = np.where(ok, a.counts[:, k], np.nan)
                out[f"{kind}_n_{t:g}min_before"] = nb
                out[f"{kind}_n_{t:g}min_after"] = na
                out[f"{kind}_n_{t:g}min_change"] = na - nb
                within_b = ok & (b.nearest_time <= t)
                within_a = ok & (a.nearest_time <= t)
                out[f"{kind}_lost_{t:g}min"] = within_b & ~within_a
                out[f"{kind}_gained_{t:g}min"] = ~within_b & within_a & ok
        out["method"] = self.method_
        reason = np.where(ok, "ok", "snap_too_far")
        out["access_reason"] = pd.array(reason, dtype="string")
        return out


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class ScenarioSummary:
    """What a planner reads: who crosses a threshold, the access gap, shares per area.

    Attributes
    ----------
    crossings
        One row per (kind, threshold_min, direction ``lost``/``gained``): ``n_lsoa``,
        ``population``, ``core20_population`` (LSOAs in the area only).
    gap
        One row per (kind, when ``before``/``after``): slope index of inequality of the nearest
        time by IMD (``sii``, ``sii_lo``, ``sii_hi``, minutes; positive = the most deprived
        wait longer), ``n_quantiles``, ``n_lsoa``, or ``note`` where it cannot be fitted.
    shares
        One row per (kind, level, code, threshold_min): ``population``,
        ``share_beyond_before``, ``share_beyond_after`` (share of residents whose nearest
        facility is further than the threshold, or not reached).
    sentences
        The summary in words.
    """

    crossings: pd.DataFrame
    gap: pd.DataFrame
    shares: pd.DataFrame
    sentences: tuple[str, ...]


def _core20(lsoa: pd.DataFrame) -> pd.Series:
    """Return the Core20 flag (False where IMD is missing or the column absent)."""
    if "core20" in lsoa:
        return lsoa["core20"].fillna(False).astype(bool)
    if "imd_decile" in lsoa:
        from healthgap.geo.core20 import core20_flag

        return core20_flag(lsoa).fillna(False).astype(bool)
    return pd.Series(False, index=lsoa.index)


def _sii(frame: pd.DataFrame, value: str, seed: int) -> dict[str, Any]:
    """Return the SII of ``value`` by IMD score (quintiles below 50 LSOAs, else deciles)."""
    from healthgap.geo.inequality import SlopeIndex

    data = frame[[value, "population", "imd_score"]].dropna()
    n_q = 10 if len(data) >= 50 else 5
    try:
        model = SlopeIndex(value=value, population="population", score="imd_score",
                           n_quantiles=n_q, repetitions=10_000, seed=seed).fit(data)
    except (InputError, ParameterError) as exc:
        return {"sii": np.nan, "sii_lo": np.nan, "sii_hi": np.nan, "n_quantiles": n_q,
                "n_lsoa": len(data), "note": str(exc)}
    return {"sii": -model.sii_, "sii_lo": -model.sii_ci_[1], "sii_hi": -model.sii_ci_[0],
            "n_quantiles": n_q, "n_lsoa": len(data), "note": ""}


def _levels(lsoa: pd.DataFrame) -> list[tuple[str, str]]:
    """Return ``(level, code column)`` for the levels present: place, then neighbourhood."""
    return [(lvl, col) for lvl, col in (("neighbourhood", "nbhd_cd"), ("place", "place_code"))
            if col in lsoa]


def summarise(result: ScenarioResult, lsoa: pd.DataFrame, *, seed: int = 2019
              ) -> ScenarioSummary:
    """Summarise a scenario over the LSOAs in the area.

    Parameters
    ----------
    result
        From :meth:`AccessScenarios.evaluate`.
    lsoa
        The LSOA frame: ``population``, ``in_area``, ``imd_score`` and ``imd_decile`` (for the
        access gap and Core20, see :func:`geo.core20.core20_flag`), ``place_code`` (places) and
        ``nbhd_cd`` when the build has neighbourhoods.
    seed
        Seed of the SII's simulated interval.

    Returns
    -------
    ScenarioSummary
    """
    inside = lsoa["in_area"].fillna(False).astype(bool) if "in_area" in lsoa else \
        pd.Series(True, index=lsoa.index)
    frame = lsoa.loc[inside].copy()
    table = result.table.loc[frame.index]
    pop = pd.to_numeric(frame["population"], errors="coerce").fillna(0.0)
    core = _core20(frame)
    rows, gaps, shares = [], [], []
    thresholds = sorted({float(c.split("_")[-1][:-3]) for c in table.columns
                         if "_lost_" in c})
    for kind in result.before:
        for t in thresholds:
            for direction in ("lost", "gained"):
                flag = table[f"{kind}_{direction}_{t:g}min"].astype(bool)
                rows.append({"kind": kind, "threshold_min": t, "direction": direction,
                             "n_lsoa": int(flag.sum()), "population": float(pop[flag].sum()),
                             "core20_population": float(pop[flag & core].sum())})
        for when in ("before", "after"):
            data = frame.assign(_t=table[f"{kind}_time_min_{when}"])
            if "imd_score" in data:
                gaps.append({"kind": kind, "when": when, **_sii(data, "_t", seed)})
        for level, col in _levels(frame):
            for code, idx in frame.groupby(col).groups.items():
                p = pop[idx]
                for t in thresholds:
                    row = {"kind": kind, "level": level, "code": str(code), "threshold_min": t,
                           "population": float(p.sum())}
                    for when in ("before", "after"):
                        tt = table.loc[idx, f"{kind}_time_min_{when}"]
                        beyond = ~(tt <= t)
                        row[f"share_beyond_{when}"] = (float(p[beyond].sum() / p.sum())
                                                       if p.sum() > 0 else np.nan)
                    shares.append(row)
    crossings = pd.DataFrame(rows, columns=["kind", "threshold_min", "direction", "n_lsoa",
                                            "population", "core20_population"])
    gap = pd.DataFrame(gaps, columns=["kind", "when", "sii", "sii_lo", "sii_hi",
                                      "n_quantiles", "n_lsoa", "note"])
    share = pd.DataFrame(shares, columns=["kind", "level", "code", "threshold_min",
                                          "population", "share_beyond_before",
                                          "share_beyond_after"])
    return ScenarioSummary(crossings, gap, share,
                           tuple(_sentences(result, table, crossings, gap, pop)))


def _sentences(result: ScenarioResult, table: pd.DataFrame, crossings: pd.DataFrame,
               gap: pd.DataFrame, pop: pd.Series) -> list[str]:
    """Return the summary in plain sentences."""
    s = result.scenario
    out = []
    parts = []
    if s.close:
        closed = [c for c in s.close if c not in s.moved]
        if closed:
            parts.append(f"closes {', '.join(closed)}")
    if s.moved:
        parts.append(f"moves {', '.join(s.moved)}")
    opened = [o.code for o in s.open if o.code not in s.moved]
    if opened:
        parts.append(f"opens {', '.join(opened)}")
    if s.supply:
        parts.append(f"changes the supply of {', '.join(c for c, _ in s.supply)}")
    out.append(f"Scenario '{s.name}' {' and '.join(parts)}.")
    if result.method == STRAIGHT_LINE:
        out.append("There is no road network for this area: times are a straight-line "
                   "ESTIMATE (crow-fly distance x detour factor at a fixed speed), not routed.")
    from healthgap.geo.indicators import WHATIF_KINDS

    for kind in result.before:
        noun = WHATIF_KINDS.get(kind, kind)
        change = table[f"{kind}_time_min_change"]
        worse, better = change > 1e-9, change < -1e-9
        out.append(f"The nearest {noun} gets further for {int(worse.sum())} "
                   f"small area(s) ({pop[worse].sum():,.0f} residents) and closer for "
                   f"{int(better.sum())} ({pop[better].sum():,.0f} residents); the largest "
                   f"increase is {np.nanmax(change.to_numpy(), initial=0.0):.1f} minutes.")
        for _, r in crossings[(crossings["kind"] == kind) & (crossings["population"] > 0)
                              ].iterrows():
            verb = "lose" if r["direction"] == "lost" else "gain"
            out.append(f"{r['population']:,.0f} residents ({r['core20_population']:,.0f} in "
                       f"Core20 LSOAs) {verb} a {noun} within {r['threshold_min']:g} "
                       "minutes.")
        g = gap[gap["kind"] == kind].set_index("when")
        if len(g) == 2 and np.isfinite(g.loc[["before", "after"], "sii"]).all():
            b, a = g.loc["before"], g.loc["after"]
            trend = ("widens" if abs(a["sii"]) > abs(b["sii"]) else
                     "narrows" if abs(a["sii"]) < abs(b["sii"]) else "is unchanged")
            out.append(f"The access gap by deprivation (slope index of inequality of the time "
                       f"to the nearest {noun}, most minus least deprived) {trend}: "
                       f"{b['sii']:.1f} min (95% interval {b['sii_lo']:.1f} to "
                       f"{b['sii_hi']:.1f}) before, {a['sii']:.1f} min ({a['sii_lo']:.1f} to "
                       f"{a['sii_hi']:.1f}) after."
                       + (" The two intervals overlap: the change is within the uncertainty "
                          "of the estimate." if a["sii_lo"] <= b["sii_hi"]
                          and b["sii_lo"] <= a["sii_hi"] else ""))
        elif len(g):
            out.append(f"The access gap by deprivation could not be estimated: "
                       f"{g['note'].iloc[0]}")
    return out
