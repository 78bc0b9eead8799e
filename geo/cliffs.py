"""Health cliffs: the life-expectancy difference across every shared border.

`BorderDifferences` (the build's ``cliffs`` layer) ranks adjacent pairs by the difference in
years, and tests it against a noise model; `NeighbourGradients` divides the difference by the
distance between centres (years per mile), which mostly ranks how close the centres are
(issue #13: r = 0.70 with 1/distance on Frimley) and is kept for the headline figures.

Frames are indexed by area code and carry population-weighted centres in British National Grid
metres (``pw_x``, ``pw_y``). Missing life expectancy is never filled: rows are left out and
counted in each ``report_``.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from healthgap.geo import BNG
from healthgap.geo._models import (
    MILE_KM,
    FittedModel,
    centres,
    numeric_column,
    variance_from_ci,
)
from healthgap.geo.multiple_testing import benjamini_hochberg
from healthgap.geo.verdicts import cliffs_verdict
from libpysal.graph import Graph

from healthgap.errors import InputError, ParameterError, UnknownAreaError, preview

logger = logging.getLogger(__name__)

_TIE = 1e-9
"""Differences (years) closer than this count as equal in the noise model."""

__all__ = ["BorderDifferences", "NeighbourGradients"]


def _graph_pairs(graph: Graph, codes: pd.Index) -> tuple[pd.DataFrame, list[str]]:
    """Return each unordered pair of neighbours once, and the isolates of the graph."""
    if not isinstance(graph, Graph):
        raise InputError(f"graph: expected libpysal.graph.Graph, got {type(graph).__name__}")
    adj = graph.adjacency
    focal = adj.index.get_level_values(0).astype(str)
    neigh = adj.index.get_level_values(1).astype(str)
    unknown = pd.Index(np.union1d(focal, neigh)).difference(codes.astype(str))
    if len(unknown):
        raise UnknownAreaError(
            f"graph: {len(unknown)} code(s) are not in the frame's index: {preview(unknown)}"
        )
    keep = (focal != neigh) & (adj.to_numpy() != 0)
    a = np.where(focal < neigh, focal, neigh)[keep]
    b = np.where(focal < neigh, neigh, focal)[keep]
    pairs = pd.DataFrame({"code_a": a, "code_b": b}).drop_duplicates(ignore_index=True)
    return pairs, [str(c) for c in graph.isolates]


def _quantile_df(absdiff: np.ndarray) -> float:
    """Degrees of freedom of a t matching the ratio of the 90th to the 50th percentile of |d|.

    For a symmetric t the ratio t(0.95) / t(0.75) falls from about 3.8 (4 df) to 2.91 (normal);
    matched on the central 90% of the borders, a few true cliffs barely move it, while heavy
    tails in the null are still seen. A ratio at or below the normal's gives 10,000 df.
    """
    from scipy import optimize, special

    lo_q, hi_q = np.quantile(absdiff, [0.5, 0.9])
    if lo_q <= 0:
        return 3.0

    def ratio(df: float) -> float:
        # t quantiles by the function scipy.stats.t.ppf itself calls (the same numbers, without
        # its per-call argument handling: the root search calls this many times per pool)
        return float(special.stdtrit(df, 0.95) / special.stdtrit(df, 0.75))

    got = hi_q / lo_q
    if got <= ratio(1e4):
        return 1e4
    if got >= ratio(3.0):
        return 3.0
    return float(optimize.brentq(lambda d: ratio(d) - got, 3.0, 1e4))


def _border_null(le: np.ndarray, dep: np.ndarray, ai: np.ndarray, aj: np.ndarray,
                 le_a: np.ndarray, dep_a: np.ndarray, le_b: np.ndarray,
                 dep_b: np.ndarray) -> dict[str, Any]:
    """P-values of border differences against the spread of the pool's own borders.

    Life expectancy is adjusted for deprivation (least-squares line on ``dep`` over the pool's
    areas); a border's statistic is its residual difference. Its null is the spread of the
    residual differences across the pool's borders (``ai``, ``aj``), estimated robustly so a
    minority of true cliffs does not widen it (an empirical null, Efron 2004, "Large-scale
    simultaneous hypothesis testing"): a Student t whose shape matches the ratio of the 90th
    to the 50th percentile of |d| (`_quantile_df`; normal when the tails are no heavier) and
    whose scale matches the median. Using the borders' own spread, not that of non-adjacent
    pairs, allows for neighbours being alike (spatial dependence). ``null_p05``/``null_p01``
    are the shares of the pool's borders with p below 0.05 / 0.01.
    """
    from scipy import stats as sstats

    design = np.column_stack([np.ones(len(dep)), dep])
    coef = np.linalg.lstsq(design, le, rcond=None)[0]
    resid = le - design @ coef
    pool = np.abs(resid[ai] - resid[aj])
    df = _quantile_df(pool)
    scale = float(np.median(pool) / sstats.t.ppf(0.75, df))
    border = np.abs((le_a - coef[0] - coef[1] * dep_a) - (le_b - coef[0] - coef[1] * dep_b))
    p = 2.0 * sstats.t.sf(border / scale, df)
    pool_p = 2.0 * sstats.t.sf(pool / scale, df)
    n = len(border)
    return {"resid_diff": border, "p_value": p, "null_df": np.full(n, df),
            "null_scale": np.full(n, scale), "n_fit": int(len(pool)),
            "null_p05": float((pool_p < 0.05).mean()), "null_p01": float((pool_p < 0.01).mean())}


# --------------------------------------------------------------------------- health cliffs


class NeighbourGradients(FittedModel):
    """Life-expectancy gradient across every pair of adjacent neighbourhoods ("health cliffs").

    For each unordered pair of neighbours in the graph, the absolute difference in life
    expectancy is divided by the distance between the two population-weighted centres.

    Parameters
    ----------
    value
        Column holding life expectancy (years).
    centre_x, centre_y
        Columns holding the population-weighted centres (EPSG:27700 metres).
    in_area
        Optional boolean column marking areas inside the study area. When given and present in
        the frame, pairs that touch an edge-ring area (``False``) are left out and counted.
    lci, uci
        Optional columns with each area's 95 % interval. Published small-area life expectancy
        is noisy, and the absolute difference of two noisy estimates is positive even when the
        true difference is zero; with intervals, each pair also gets ``se_diff`` =
        sqrt(se_a^2 + se_b^2), ``z`` = (le_a - le_b) / se_diff and ``significant`` (|z| > 1.96),
        and ``summary_`` gives the gradient expected from noise alone,
        sqrt(2/pi) * se_diff / distance, as ``median_noise_years_per_mile``. An area with a
        value but no interval is then left out like a missing value.

    Attributes
    ----------
    pairs_ : geopandas.GeoDataFrame
        One row per pair, steepest first: ``code_a, code_b, le_a, le_b, abs_diff, distance_km,
        distance_miles, years_per_km, years_per_mile`` and a LineString between the centres.
    report_ : dict
        Pairs in the graph, pairs kept, pairs left out for a missing value (and the codes),
        pairs touching the edge ring, pairs with coincident centres, and isolates.
    """

    _results = ("report_", "summary_")
    _packages = ("libpysal", "geopandas", "shapely")

    def __init__(
        self,
        *,
        value: str = "le",
        centre_x: str = "pw_x",
        centre_y: str = "pw_y",
        in_area: str | None = "in_area",
        lci: str | None = None,
        uci: str | None = None,
    ) -> None:
        if (lci is None) != (uci is None):
            raise ParameterError("lci= and uci= must be given together")
        self.value = value
        self.centre_x = centre_x
        self.centre_y = centre_y
        self.in_area = in_area
        self.lci = lci
        self.uci = uci

    def fit(self, frame: pd.DataFrame, graph: Graph) -> NeighbourGradients:
        """Compute the gradient of every adjacent pair.

        Parameters
        ----------
        frame
            Areas indexed by code, with the value and centre columns.
        graph
            Contiguity graph indexed by the same codes.

        Returns
        -------
        NeighbourGradients
            ``self``, fitted.
        """
        name = "NeighbourGradients frame"
        xy = centres(frame, self.centre_x, self.centre_y, name=name)
        le = numeric_column(frame, self.value, name=name)
        codes = frame.index.astype(str)
        pairs, isolates = _graph_pairs(graph, pd.Index(codes))
        n_graph_pairs = len(pairs)
        pos = pd.Series(np.arange(len(codes)), index=codes)
        ia = pos.loc[pairs["code_a"]].to_numpy()
        ib = pos.loc[pairs["code_b"]].to_numpy()

        keep = np.ones(len(pairs), dtype=bool)
        n_edge = 0
        if self.in_area is not None and self.in_area in frame.columns:
            inside = frame[self.in_area].fillna(False).astype(bool).to_numpy()
            edge = ~(inside[ia] & inside[ib])
            n_edge = int(edge.sum())
            keep &= ~edge
        values = le.to_numpy()
        if self.lci is not None and self.uci is not None:
            var = variance_from_ci(numeric_column(frame, self.lci, name=name),
                                   numeric_column(frame, self.uci, name=name)).to_numpy()
            values = np.where(np.isnan(var), np.nan, values)  # no interval: treated as missing
        else:
            var = None
        missing = np.isnan(values[ia]) | np.isnan(values[ib])
        missing_pairs = keep & missing
        missing_codes = sorted(
            {codes[i] for i in np.concatenate([ia[missing_pairs], ib[missing_pairs]])
             if np.isnan(values[i])}
        )
        keep &= ~missing
        dist_km = np.hypot(*(xy[ia] - xy[ib]).T) / 1000.0
        zero = keep & (dist_km <= 0)
        keep &= ~zero

        ia, ib = ia[keep], ib[keep]
        d_km = dist_km[keep]
        diff = np.abs(values[ia] - values[ib])
        lines = shapely.linestrings(
            np.stack([xy[ia], xy[ib]], axis=1)
        ) if len(ia) else np.array([], dtype=object)
        out = gpd.GeoDataFrame(
            {
                "code_a": codes[ia],
                "code_b": codes[ib],
                "le_a": values[ia],
                "le_b": values[ib],
                "abs_diff": diff,
                "distance_km": d_km,
                "distance_miles": d_km / MILE_KM,
                "years_per_km": diff / d_km,
                "years_per_mile": diff / d_km * MILE_KM,
            },
            geometry=gpd.GeoSeries(lines, crs=BNG),
            crs=BNG,
        )
        if var is not None:
            se_diff = np.sqrt(var[ia] + var[ib])
            out["se_diff"] = se_diff
            out["z"] = (values[ia] - values[ib]) / se_diff
            out["significant"] = np.abs(out["z"]) > 1.959963984540054
            out["noise_years_per_mile"] = np.sqrt(2.0 / np.pi) * se_diff / d_km * MILE_KM
        out = out.sort_values(
            ["years_per_mile", "code_a", "code_b"], ascending=[False, True, True],
            kind="mergesort",
        ).reset_index(drop=True)
        self.pairs_ = out
        self.report_ = {
            "value": self.value,
            "n_areas": int(len(codes)),
            "n_areas_missing_value": int(np.isnan(values).sum()),
            "n_pairs_in_graph": int(n_graph_pairs),
            "n_pairs": int(len(out)),
            "n_pairs_missing_value": int(missing_pairs.sum()),
            "missing_value_codes": missing_codes,
            "n_pairs_edge_ring": n_edge,
            "n_pairs_zero_distance": int(zero.sum()),
            "isolates": isolates,
        }
        g = out["years_per_mile"]
        self.summary_ = {
            "median_years_per_mile": float(g.median()) if len(g) else float("nan"),
            "p90_years_per_mile": float(g.quantile(0.9)) if len(g) else float("nan"),
            "max_years_per_mile": float(g.max()) if len(g) else float("nan"),
            "median_distance_km": float(out["distance_km"].median()) if len(g) else float("nan"),
        }
        if var is not None and len(g):
            self.summary_["share_significant"] = float(out["significant"].mean())
            self.summary_["median_noise_years_per_mile"] = float(
                out["noise_years_per_mile"].median()
            )
        if missing_pairs.any():
            logger.info(
                "%d neighbour pair(s) left out: missing %s in %s",
                int(missing_pairs.sum()), self.value, preview(missing_codes),
            )
        return self

    def share_at_least(self, years_per_mile: float) -> float:
        """Share of kept pairs whose gradient is at least ``years_per_mile``."""
        self._check_fitted()
        g = self.pairs_["years_per_mile"]
        return float((g >= years_per_mile).mean()) if len(g) else float("nan")


class BorderDifferences(FittedModel):
    """Life-expectancy difference across each shared border, ranked in years, against noise.

    Noise model: two areas that do *not* touch but differ in deprivation as much as an
    adjacent pair does show how far apart their values lie from deprivation, sampling error and
    everything else that is not an abrupt change at a border. Non-adjacent pairs of the study
    area are put into ``n_bins`` equal-count bins of their absolute deprivation difference; an
    adjacent pair is compared with the non-adjacent pairs of its bin: ``noise_p`` = (1 + number
    of them with an absolute difference at least as large) / (1 + their number), and
    ``exceeds_noise`` when the pair's difference is above their ``level`` quantile
    (``noise_q``). Over ``max_null`` non-adjacent pairs, a seeded random sample of them is
    used. Distance between centres plays no part in the ranking.

    ``noise_p`` cannot fall below 1 / (pairs in the bin + 1) (about 0.0014 in Frimley), above
    the first Benjamini-Hochberg cut for 219 borders, so it cannot name a cliff. The test that
    can (issue #23) is ``p_value``: the border's deprivation-adjusted difference against an
    empirical null fitted to the area's own borders (`_border_null`: a t whose shape matches
    the borders' central spread, so a minority of true cliffs barely moves it), and ``cliff``
    is True only for borders passing the Benjamini-Hochberg false discovery rate ``fdr``
    across all borders of the area (``q_value``). The summary says how many pass, how many
    have an unadjusted p below ``fdr`` against the count expected by chance, and the
    verdict words (`healthgap.geo.verdicts.cliffs_verdict`).

    Parameters
    ----------
    value
        Column holding life expectancy (years).
    deprivation
        Column holding the deprivation score the null pairs are matched on.
    in_area
        Optional boolean column: pairs touching an edge-ring area are left out.
    n_bins
        Bins of the deprivation difference.
    level
        Quantile of the null differences a pair must exceed to be flagged.
    max_null
        Largest number of non-adjacent pairs used (sampled beyond it).
    seed
        Seed of ``numpy.random.default_rng`` for that sample.
    group
        Optional column (e.g. ``system_code``): when present in the frame, the noise pool of a
        pair is the non-adjacent pairs of its own group (of its two groups for a pair across
        a group border), so a national build judges a border against its own system's spread
        rather than England's. A pool with too few pairs for the bins falls back to all areas
        (counted in ``summary_["pools_widened"]``).
    centre_x, centre_y
        Columns of population-weighted centres (for the line geometry and ``distance_km``).
    fdr
        False discovery rate a border must pass to be a cliff.

    Attributes
    ----------
    pairs_ : geopandas.GeoDataFrame
        One row per adjacent pair, largest difference first: ``rank, code_a, code_b, le_a,
        le_b, abs_diff, dep_a, dep_b, dep_diff, noise_q, noise_p, exceeds_noise, resid_diff,
        p_value, null_df, null_scale, distance_km, q_value, cliff`` and a line between the
        centres.
    summary_ : dict
        Pairs, share exceeding noise, the Spearman correlation of ``abs_diff`` with
        1/distance (``rank_corr_inverse_distance``) and, for comparison, that of years per
        mile (``years_per_mile_corr_inverse_distance``).
    """

    _results = ("summary_",)
    _packages = ("libpysal", "geopandas", "scipy")

    def __init__(
        self,
        *,
        value: str = "le",
        deprivation: str = "imd_score",
        in_area: str | None = "in_area",
        n_bins: int = 5,
        level: float = 0.95,
        max_null: int = 200_000,
        seed: int = 0,
        group: str | None = None,
        centre_x: str = "pw_x",
        centre_y: str = "pw_y",
        fdr: float = 0.05,
    ) -> None:
        if not 0 < fdr < 1:
            raise ParameterError(f"fdr must be between 0 and 1; got {fdr!r}")
        self.fdr = float(fdr)
        if int(n_bins) < 1:
            raise ParameterError(f"n_bins must be >= 1; got {n_bins!r}")
        if not 0.5 < level < 1:
            raise ParameterError(f"level must be between 0.5 and 1; got {level!r}")
        if int(max_null) < 100:
            raise ParameterError(f"max_null must be >= 100; got {max_null!r}")
        self.value, self.deprivation, self.in_area = value, deprivation, in_area
        self.n_bins, self.level, self.max_null = int(n_bins), float(level), int(max_null)
        self.seed, self.centre_x, self.centre_y = seed, centre_x, centre_y
        self.group = group

    def _null_pairs(self, n: int, adjacent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Non-adjacent pairs ``i < j`` of ``range(n)``; ``adjacent`` holds ``i * n + j`` keys."""
        total = n * (n - 1) // 2
        if total <= self.max_null:
            i, j = np.triu_indices(n, k=1)
        else:
            rng = np.random.default_rng(self.seed)
            i = rng.integers(0, n, size=self.max_null)
            j = rng.integers(0, n, size=self.max_null)
            keep = i != j
            i, j = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
        far = ~np.isin(i.astype(np.int64) * n + j, adjacent)
        return i[far], j[far]

    def _noise(self, members: np.ndarray, le: np.ndarray, dep: np.ndarray, ia: np.ndarray,
               ib: np.ndarray, sel: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, int,
                                                                    dict[str, Any]]:
        """``noise_q``, ``noise_p`` of the adjacent pairs ``sel`` against the pool ``members``.

        ``members`` are positions of areas; the pool is their non-adjacent pairs. The fourth
        result is the empirical null of the pool's borders (`_border_null`).
        """
        n = len(members)
        local = np.full(len(le), -1, dtype=np.int64)
        local[members] = np.arange(n)
        la, lb = local[ia], local[ib]
        inside = (la >= 0) & (lb >= 0)
        adjacent = np.minimum(la, lb)[inside] * n + np.maximum(la, lb)[inside]
        ni, nj = self._null_pairs(n, adjacent)
        null_diff = np.abs(le[members][ni] - le[members][nj])
        null_dep = np.abs(dep[members][ni] - dep[members][nj])
        if len(null_diff) < 20 * self.n_bins:
            raise InputError(f"{name}: only {len(null_diff)} non-adjacent pairs for the noise "
                             f"model; need {20 * self.n_bins} for {self.n_bins} bin(s)")
        edges = np.quantile(null_dep, np.linspace(0, 1, self.n_bins + 1)[1:-1])
        null_bin = np.searchsorted(edges, null_dep, side="right")
        diff = np.abs(le[ia[sel]] - le[ib[sel]])
        pair_bin = np.searchsorted(edges, np.abs(dep[ia[sel]] - dep[ib[sel]]), side="right")
        noise_q = np.empty(len(diff))
        noise_p = np.empty(len(diff))
        for b in range(self.n_bins):
            ref = np.sort(null_diff[null_bin == b])
            here = pair_bin == b
            noise_q[here] = np.quantile(ref, self.level)
            # values are published to 0.1 year: differences equal up to rounding are ties
            n_ge = len(ref) - np.searchsorted(ref, diff[here] - _TIE, side="left")
            noise_p[here] = (1.0 + n_ge) / (1.0 + len(ref))
        null = _border_null(le[members], dep[members], la[inside], lb[inside],
                            le[ia[sel]], dep[ia[sel]], le[ib[sel]], dep[ib[sel]])
        return noise_q, noise_p, len(null_diff), null

    def _pools(self, frame: pd.DataFrame, ok: np.ndarray, ia: np.ndarray,
               ib: np.ndarray) -> list[tuple[tuple[str, ...], np.ndarray, np.ndarray]]:
        """Return (groups, member positions, selected pairs) of each noise pool.

        Without a group column there is one pool of every area, with groups ``()``.
        """
        used = np.flatnonzero(ok)
        if self.group is None or self.group not in frame.columns:
            return [((), used, np.ones(len(ia), dtype=bool))]
        label = frame[self.group].astype(str).to_numpy()
        ends = pd.DataFrame({"lo": np.minimum(label[ia], label[ib]),
                             "hi": np.maximum(label[ia], label[ib])})
        pools: list[tuple[tuple[str, ...], np.ndarray, np.ndarray]] = []
        for (lo, hi), rows in ends.groupby(["lo", "hi"], sort=False).indices.items():
            groups: tuple[str, ...] = (str(lo),) if lo == hi else (str(lo), str(hi))
            sel = np.zeros(len(ia), dtype=bool)
            sel[rows] = True
            pools.append((groups, used[np.isin(label[used], groups)], sel))
        return pools

    def fit(self, frame: pd.DataFrame, graph: Graph) -> BorderDifferences:
        """Rank the adjacent pairs and test each against the non-adjacent ones.

        Parameters
        ----------
        frame
            Areas indexed by code, with the value, deprivation and centre columns.
        graph
            Contiguity graph indexed by the same codes.

        Returns
        -------
        BorderDifferences
            ``self``, fitted.
        """
        from scipy import stats as sstats

        name = "BorderDifferences frame"
        xy = centres(frame, self.centre_x, self.centre_y, name=name)
        le = numeric_column(frame, self.value, name=name).to_numpy()
        dep = numeric_column(frame, self.deprivation, name=name).to_numpy()
        codes = frame.index.astype(str)
        inside = (frame[self.in_area].fillna(False).astype(bool).to_numpy()
                  if self.in_area is not None and self.in_area in frame.columns
                  else np.ones(len(frame), dtype=bool))
        ok = inside & np.isfinite(le) & np.isfinite(dep)
        pairs, _ = _graph_pairs(graph, pd.Index(codes))
        pos = pd.Series(np.arange(len(codes)), index=codes)
        ia = pos.loc[pairs["code_a"]].to_numpy()
        ib = pos.loc[pairs["code_b"]].to_numpy()
        keep = ok[ia] & ok[ib]
        ia, ib = ia[keep], ib[keep]
        if len(ia) < 1:
            raise InputError(f"{name}: no adjacent pair inside the area has both values")
        diff = np.abs(le[ia] - le[ib])
        dep_diff = np.abs(dep[ia] - dep[ib])
        noise_q = np.empty(len(ia))
        noise_p = np.empty(len(ia))
        analytic = {k: np.empty(len(ia)) for k in ("resid_diff", "p_value", "null_df",
                                                   "null_scale")}
        calibration: list[tuple[int, float, float]] = []
        n_null, widened, n_pools = 0, 0, 0
        for groups, members, sel in self._pools(frame, ok, ia, ib):
            where = f"{name} ({' and '.join(groups)})" if groups else name
            try:
                q, p, m, null = self._noise(members, le, dep, ia, ib, sel, where)
            except InputError:
                if not groups:
                    raise
                widened += 1
                q, p, m, null = self._noise(np.flatnonzero(ok), le, dep, ia, ib, sel, name)
                m = 0
            noise_q[sel], noise_p[sel] = q, p
            for k in analytic:
                analytic[k][sel] = null[k]
            calibration.append((null["n_fit"], null["null_p05"], null["null_p01"]))
            n_pools += 1
            n_null += m if len(groups) <= 1 else 0  # a pool across two groups repeats theirs
        d_km = np.hypot(*(xy[ia] - xy[ib]).T) / 1000.0
        out = gpd.GeoDataFrame(
            {"code_a": codes[ia], "code_b": codes[ib], "le_a": le[ia], "le_b": le[ib],
             "abs_diff": diff, "dep_a": dep[ia], "dep_b": dep[ib], "dep_diff": dep_diff,
             "noise_q": noise_q, "noise_p": noise_p, "exceeds_noise": diff > noise_q + _TIE,
             **analytic, "distance_km": d_km},
            geometry=gpd.GeoSeries(shapely.linestrings(np.stack([xy[ia], xy[ib]], axis=1)),
                                   crs=BNG),
            crs=BNG,
        )
        out = out.sort_values(["abs_diff", "code_a", "code_b"], ascending=[False, True, True],
                              kind="mergesort").reset_index(drop=True)
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        reject, q_value = benjamini_hochberg(out["p_value"].to_numpy(), alpha=self.fdr)
        out["q_value"] = q_value
        out["cliff"] = reject
        verdict = cliffs_verdict(int(reject.sum()), len(out),
                                 n_raw=int((out["p_value"] < self.fdr).sum()), alpha=self.fdr)
        w_cal = np.array([c[0] for c in calibration], dtype=float)
        positive = out["distance_km"] > 0
        inv = 1.0 / out.loc[positive, "distance_km"]
        rho_diff = sstats.spearmanr(out.loc[positive, "abs_diff"], inv).statistic
        rho_ypm = sstats.spearmanr(out.loc[positive, "abs_diff"] / out.loc[positive,
                                   "distance_km"], inv).statistic
        self.pairs_ = out
        self.summary_ = {
            "value": self.value,
            "n_pairs": int(len(out)),
            "n_null_pairs": int(n_null),
            "noise_pool": (f"non-adjacent pairs within each {self.group}"
                           if n_pools > 1 or widened else "non-adjacent pairs of the area"),
            "n_noise_pools": n_pools,
            "pools_widened": widened,
            "n_exceeding_noise": int(out["exceeds_noise"].sum()),
            "share_exceeding_noise": float(out["exceeds_noise"].mean()),
            "expected_share_if_no_cliffs": 1.0 - self.level,
            "max_abs_diff": float(out["abs_diff"].iloc[0]),
            "median_abs_diff": float(out["abs_diff"].median()),
            "rank_corr_inverse_distance": float(rho_diff),
            "years_per_mile_corr_inverse_distance": float(rho_ypm),
            "n_areas_left_out": int((~ok).sum()),
            "fdr": self.fdr,
            "n_cliffs": int(reject.sum()),
            "n_p_below_fdr": int((out["p_value"] < self.fdr).sum()),
            "expected_p_below_fdr_by_chance": self.fdr * len(out),
            "verdict": verdict.word,
            "verdict_sentence": verdict.sentence,
            "rule": verdict.rule,
            # the analytic null on the non-adjacent pairs it was fitted to: about 0.05 and
            # 0.01 when the scaled t describes them (larger = the null is too narrow)
            "null_share_p_below_05": float(np.average([c[1] for c in calibration],
                                                      weights=w_cal)),
            "null_share_p_below_01": float(np.average([c[2] for c in calibration],
                                                      weights=w_cal)),
        }
        return self
