"""Distance decay of life expectancy: health cliffs, transects, variograms and decay fits.

Every frame is indexed by area code and carries the population-weighted centre of each area in
British National Grid metres (columns ``pw_x``, ``pw_y`` by default). Distances are reported in
kilometres and statute miles (1 mile = 1.609344 km). Missing life expectancy (suppressed values)
is never filled: the rows are left out of each statistic and counted in its ``report_``.

Classes follow one pattern: ``__init__`` stores the parameters, ``fit()`` returns ``self`` with
fitted attributes ending in ``_``, and ``to_dict()`` records parameters, seed and package versions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import statsmodels.api as sm
from healthgap.geo import BNG
from healthgap.geo._models import (
    MILE_KM,
    FittedModel,
    check_choice,
    check_confidence,
    check_positive,
    jsonable,
    numeric_column,
    package_versions,
    variance_from_ci,
)
from healthgap.geo._validation import require_bng, require_columns, require_unique_index
from libpysal.graph import Graph
from scipy import optimize, sparse, stats
from scipy.spatial.distance import pdist

from healthgap.errors import InputError, ParameterError, UnknownAreaError, preview

logger = logging.getLogger(__name__)

__all__ = [
    "DecayFit",
    "HeadlineGradients",
    "MoranCorrelogram",
    "NeighbourGradients",
    "Semivariogram",
    "Transect",
    "headline_gradients",
]

_WEIGHTS = (None, "population", "inverse_variance")


# --------------------------------------------------------------------------- shared helpers


def _centres(frame: pd.DataFrame, x: str, y: str, *, name: str) -> np.ndarray:
    """Return an (n, 2) array of centres in metres; check the CRS and the codes."""
    if isinstance(frame, gpd.GeoDataFrame):
        require_bng(frame, name=name)
    elif not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name}: expected DataFrame or GeoDataFrame, got {type(frame).__name__}")
    require_unique_index(frame, name=name)
    require_columns(frame, [x, y], name=name)
    xy = np.column_stack(
        [numeric_column(frame, x, name=name), numeric_column(frame, y, name=name)]
    )
    missing = frame.index[np.isnan(xy).any(axis=1)]
    if len(missing):
        raise InputError(
            f"{name}: {len(missing)} area(s) have no centre in {x!r}/{y!r}: {preview(missing)}"
        )
    return xy


def _weights(
    frame: pd.DataFrame,
    kind: str | None,
    *,
    population: str,
    lci: str | None,
    uci: str | None,
    name: str,
) -> pd.Series:
    """Return regression weights: none (1), population, or inverse variance from a CI."""
    if kind is None:
        return pd.Series(1.0, index=frame.index)
    if kind == "population":
        w = numeric_column(frame, population, name=name)
    else:
        if lci is None or uci is None:
            raise ParameterError("weights='inverse_variance' needs the lci and uci column names")
        var = variance_from_ci(
            numeric_column(frame, lci, name=name), numeric_column(frame, uci, name=name)
        )
        w = 1.0 / var
    bad = w.index[(w <= 0) | ~np.isfinite(w)]
    return w.where(~w.index.isin(bad))


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


def _wls_slope(
    position_km: np.ndarray, y: np.ndarray, w: np.ndarray, confidence: float
) -> dict[str, float]:
    """Weighted least squares of ``y`` on position: slope per km and per mile with CI."""
    design = sm.add_constant(position_km, has_constant="add")
    res = sm.WLS(y, design, weights=w).fit()
    lo, hi = res.conf_int(alpha=1.0 - confidence)[1]
    slope = float(res.params[1])
    return {
        "intercept": float(res.params[0]),
        "slope_per_km": slope,
        "slope_per_km_lo": float(lo),
        "slope_per_km_hi": float(hi),
        "slope_per_mile": slope * MILE_KM,
        "slope_per_mile_lo": float(lo) * MILE_KM,
        "slope_per_mile_hi": float(hi) * MILE_KM,
        "std_error_per_km": float(res.bse[1]),
        "p_value": float(res.pvalues[1]),
        "r2": float(res.rsquared),
        "n": int(len(y)),
    }


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
        self._params = {
            "value": value,
            "centre_x": centre_x,
            "centre_y": centre_y,
            "in_area": in_area,
            "lci": lci,
            "uci": uci,
        }

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
        xy = _centres(frame, self.centre_x, self.centre_y, name=name)
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


# --------------------------------------------------------------------------- transects


class Transect(FittedModel):
    """Life expectancy along a line between two points, or by distance from one point.

    Areas whose centre lies within ``half_width_m`` of the segment from ``start`` to ``end``
    are projected onto it; their position (km from ``start``) is regressed on life expectancy
    by weighted least squares (statsmodels WLS). With ``end=None`` the position is the
    distance from ``start`` (a radial profile), limited to ``max_distance_m`` when given.

    Parameters
    ----------
    start
        Start point (x, y) in EPSG:27700 metres.
    end
        End point (x, y) in EPSG:27700 metres, or None for a radial profile.
    half_width_m
        Corridor half-width in metres (line mode).
    max_distance_m
        Largest distance from ``start`` kept (radial mode); None keeps all.
    value
        Column holding life expectancy.
    weights
        None (ordinary least squares), ``"population"`` or ``"inverse_variance"`` (from the
        ``lci``/``uci`` 95 % interval columns: var = ((uci - lci) / (2 * 1.96))^2).
    population, lci, uci
        Column names used by ``weights``.
    confidence
        Level of the slope's confidence interval.
    centre_x, centre_y
        Columns holding the population-weighted centres.

    Attributes
    ----------
    positions_ : pandas.DataFrame
        Areas kept: ``position_km``, ``offset_km``, value and weight.
    slope_per_km_, slope_per_mile_ : float
        Change in life expectancy (years) per km / per mile travelled from ``start``.
    ci_per_km_, ci_per_mile_ : tuple of float
        Confidence interval of the slope.
    r2_ : float
        Weighted R² of the fit.
    n_ : int
        Areas used.
    report_ : dict
        Areas in the corridor left out for a missing value or weight.
    """

    _results = ("slope_per_km_", "slope_per_mile_", "ci_per_km_", "ci_per_mile_", "r2_", "n_",
                "fit_", "report_")
    _packages = ("statsmodels",)

    def __init__(
        self,
        start: Sequence[float],
        end: Sequence[float] | None = None,
        *,
        half_width_m: float = 1000.0,
        max_distance_m: float | None = None,
        value: str = "le",
        weights: str | None = "population",
        population: str = "population",
        lci: str | None = None,
        uci: str | None = None,
        confidence: float = 0.95,
        centre_x: str = "pw_x",
        centre_y: str = "pw_y",
    ) -> None:
        check_choice(weights, _WEIGHTS, name="weights")
        check_positive(half_width_m, name="half_width_m")
        if max_distance_m is not None:
            check_positive(max_distance_m, name="max_distance_m")
        self.start = _point(start, name="start")
        self.end = None if end is None else _point(end, name="end")
        if self.end is not None and np.allclose(self.start, self.end):
            raise ParameterError(f"start and end are the same point {tuple(self.start)}")
        self.half_width_m = float(half_width_m)
        self.max_distance_m = max_distance_m
        self.value = value
        self.weights = weights
        self.population = population
        self.lci = lci
        self.uci = uci
        self.confidence = check_confidence(confidence)
        self.centre_x = centre_x
        self.centre_y = centre_y
        self._params = {
            "start": self.start.tolist(),
            "end": None if self.end is None else self.end.tolist(),
            "half_width_m": self.half_width_m,
            "max_distance_m": max_distance_m,
            "value": value,
            "weights": weights,
            "population": population,
            "lci": lci,
            "uci": uci,
            "confidence": self.confidence,
            "centre_x": centre_x,
            "centre_y": centre_y,
        }

    def fit(self, frame: pd.DataFrame) -> Transect:
        """Select the areas along the transect and fit the slope.

        Parameters
        ----------
        frame
            Areas indexed by code with the value, centre and weight columns.

        Returns
        -------
        Transect
            ``self``, fitted.
        """
        name = "Transect frame"
        xy = _centres(frame, self.centre_x, self.centre_y, name=name)
        rel = xy - self.start
        if self.end is None:
            position = np.hypot(rel[:, 0], rel[:, 1])
            offset = np.zeros(len(xy))
            inside = (
                np.ones(len(xy), dtype=bool)
                if self.max_distance_m is None
                else position <= self.max_distance_m
            )
        else:
            direction = self.end - self.start
            length = float(np.hypot(*direction))
            unit = direction / length
            position = rel @ unit
            offset = rel[:, 0] * unit[1] - rel[:, 1] * unit[0]
            inside = (position >= 0) & (position <= length) & (np.abs(offset) <= self.half_width_m)
        y = numeric_column(frame, self.value, name=name)
        w = _weights(frame, self.weights, population=self.population, lci=self.lci,
                     uci=self.uci, name=name)
        sel = pd.DataFrame(
            {
                "position_km": position / 1000.0,
                "offset_km": offset / 1000.0,
                self.value: y.to_numpy(),
                "weight": w.to_numpy(),
            },
            index=frame.index,
        )[inside]
        no_value = sel.index[sel[self.value].isna()]
        no_weight = sel.index[sel[self.value].notna() & sel["weight"].isna()]
        used = sel.dropna(subset=[self.value, "weight"]).sort_values("position_km")
        if len(used) < 3:
            raise InputError(
                f"{name}: only {len(used)} area(s) with a value lie on the transect "
                f"(corridor half-width {self.half_width_m:g} m); at least 3 are needed"
            )
        fit = _wls_slope(
            used["position_km"].to_numpy(), used[self.value].to_numpy(),
            used["weight"].to_numpy(), self.confidence,
        )
        self.positions_ = used
        self.fit_ = fit
        self.slope_per_km_ = fit["slope_per_km"]
        self.slope_per_mile_ = fit["slope_per_mile"]
        self.ci_per_km_ = (fit["slope_per_km_lo"], fit["slope_per_km_hi"])
        self.ci_per_mile_ = (fit["slope_per_mile_lo"], fit["slope_per_mile_hi"])
        self.r2_ = fit["r2"]
        self.n_ = fit["n"]
        self.report_ = {
            "n_in_corridor": int(len(sel)),
            "n_used": int(len(used)),
            "missing_value_codes": [str(c) for c in no_value],
            "missing_weight_codes": [str(c) for c in no_weight],
        }
        return self


def _point(p: Sequence[float], *, name: str) -> np.ndarray:
    if hasattr(p, "x") and hasattr(p, "y"):
        arr = np.array([float(p.x), float(p.y)])  # shapely Point
    else:
        arr = np.asarray(p, dtype=float).ravel()
    if arr.shape != (2,) or not np.isfinite(arr).all():
        raise ParameterError(f"{name} must be an (x, y) pair in EPSG:27700 metres; got {p!r}")
    return arr


# --------------------------------------------------------------------------- headline claims


@dataclass
class HeadlineGradients:
    """Figures that test a headline such as "12 years across the system, one per mile".

    One entry of ``by_value`` per life-expectancy column; see `headline_gradients`.
    """

    by_value: dict[str, dict[str, Any]]
    params: dict[str, Any]
    versions: dict[str, str] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Return one row per life-expectancy column with the headline figures."""
        rows = {k: {kk: vv for kk, vv in v.items() if not isinstance(vv, (list, dict))}
                for k, v in self.by_value.items()}
        return pd.DataFrame.from_dict(rows, orient="index")

    def to_dict(self) -> dict[str, Any]:
        """Return parameters, versions and results as plain Python for the manifest."""
        return {
            "model": "HeadlineGradients",
            "params": jsonable(self.params),
            "versions": self.versions,
            "results": jsonable(self.by_value),
        }


def headline_gradients(
    frame: pd.DataFrame,
    graph: Graph,
    *,
    values: Sequence[str] = ("le_male", "le_female"),
    names: str | None = "msoa11nm",
    threshold_years_per_mile: float = 1.0,
    half_width_m: float = 2000.0,
    weights: str | None = "population",
    population: str = "population",
    centre_x: str = "pw_x",
    centre_y: str = "pw_y",
    in_area: str | None = "in_area",
) -> HeadlineGradients:
    """Check a system-wide headline of a life-expectancy gap and a loss per mile.

    For each life-expectancy column: the range across areas (highest minus lowest, and which
    areas), the neighbour gradients (share of adjacent pairs at or above the threshold, median),
    the straight-line slope between the highest and lowest areas, and a transect fitted to all
    areas within ``half_width_m`` of the line joining them.

    Parameters
    ----------
    frame
        Areas of the system indexed by code (e.g. MSOAs), with the value and centre columns.
    graph
        Contiguity graph indexed by the same codes.
    values
        Life-expectancy columns to examine (e.g. male and female).
    names
        Optional column of area names to report beside the codes.
    threshold_years_per_mile
        Gradient tested by the claim ("one year for every mile" = 1.0).
    half_width_m
        Corridor half-width of the transect between the extremes.
    weights
        Transect weights: None, ``"population"`` or ``"inverse_variance"``.
    population
        Population column used by the weights.
    centre_x, centre_y
        Columns holding population-weighted centres.
    in_area
        Column flagging in-area rows (edge-ring rows are excluded from every figure).

    Returns
    -------
    HeadlineGradients
        Figures per value; ``table()`` gives a one-row-per-value frame.
    """
    check_positive(threshold_years_per_mile, name="threshold_years_per_mile")
    name = "headline_gradients frame"
    _centres(frame, centre_x, centre_y, name=name)
    if in_area is not None and in_area in frame.columns:
        inside = frame[in_area].fillna(False).astype(bool)
    else:
        inside = pd.Series(True, index=frame.index)
    results: dict[str, dict[str, Any]] = {}
    for col in values:
        le = numeric_column(frame, col, name=name)[inside]
        present = le.dropna()
        if len(present) < 2:
            raise InputError(f"{name}: column {col!r} has fewer than 2 values in the area")
        code_max = present.idxmax()
        code_min = present.idxmin()
        xy_max = frame.loc[code_max, [centre_x, centre_y]].to_numpy(dtype=float)
        xy_min = frame.loc[code_min, [centre_x, centre_y]].to_numpy(dtype=float)
        span_km = float(np.hypot(*(xy_max - xy_min))) / 1000.0
        gap = float(present.max() - present.min())
        cliffs = NeighbourGradients(
            value=col, centre_x=centre_x, centre_y=centre_y, in_area=in_area
        ).fit(frame, graph)
        entry: dict[str, Any] = {
            "n_areas": int(len(le)),
            "n_missing": int(le.isna().sum()),
            "missing_codes": [str(c) for c in le.index[le.isna()]],
            "le_max": float(present.max()),
            "code_max": str(code_max),
            "le_min": float(present.min()),
            "code_min": str(code_min),
            "range_years": gap,
            "extremes_distance_km": span_km,
            "extremes_distance_miles": span_km / MILE_KM,
            "extremes_years_per_mile": gap / (span_km / MILE_KM) if span_km > 0 else float("nan"),
            "n_pairs": cliffs.report_["n_pairs"],
            "n_pairs_missing_value": cliffs.report_["n_pairs_missing_value"],
            "share_pairs_at_or_above_threshold": cliffs.share_at_least(threshold_years_per_mile),
            "median_years_per_mile": cliffs.summary_["median_years_per_mile"],
            "p90_years_per_mile": cliffs.summary_["p90_years_per_mile"],
            "max_years_per_mile": cliffs.summary_["max_years_per_mile"],
        }
        if names is not None and names in frame.columns:
            entry["name_max"] = str(frame.loc[code_max, names])
            entry["name_min"] = str(frame.loc[code_min, names])
        try:
            tr = Transect(
                xy_max, xy_min, half_width_m=half_width_m, value=col, weights=weights,
                population=population, centre_x=centre_x, centre_y=centre_y,
            ).fit(frame[inside])
            # position runs from the highest towards the lowest area: the loss per mile is
            # the negative of the slope.
            entry.update(
                {
                    "transect_n": tr.n_,
                    "transect_loss_per_mile": -tr.slope_per_mile_,
                    "transect_loss_per_mile_lo": -tr.ci_per_mile_[1],
                    "transect_loss_per_mile_hi": -tr.ci_per_mile_[0],
                    "transect_r2": tr.r2_,
                }
            )
        except InputError as exc:
            entry.update({"transect_n": 0, "transect_note": str(exc)})
        results[col] = entry
    params = {
        "values": list(values),
        "threshold_years_per_mile": threshold_years_per_mile,
        "half_width_m": half_width_m,
        "weights": weights,
        "population": population,
        "centre_x": centre_x,
        "centre_y": centre_y,
        "in_area": in_area,
    }
    return HeadlineGradients(
        by_value=results, params=params,
        versions=package_versions("libpysal", "statsmodels", "geopandas"),
    )


# --------------------------------------------------------------------------- semivariogram


def _spherical(h: np.ndarray, nugget: float, psill: float, rng: float) -> np.ndarray:
    r = np.minimum(h / rng, 1.0)
    return nugget + psill * (1.5 * r - 0.5 * r**3)


def _exponential(h: np.ndarray, nugget: float, psill: float, rng: float) -> np.ndarray:
    return nugget + psill * (1.0 - np.exp(-h / rng))


_VARIOGRAMS = {"spherical": _spherical, "exponential": _exponential}


class Semivariogram(FittedModel):
    """Empirical semivariogram of life expectancy with spherical and exponential fits.

    gamma(h) = half the mean squared difference of the pairs whose centres are between the
    bin's limits apart. The models, with nugget c0, partial sill c and range a, are

    * spherical: c0 + c (1.5 h/a - 0.5 (h/a)^3) for h < a, c0 + c beyond;
    * exponential: c0 + c (1 - exp(-h/a)); its practical range (95 % of the sill) is 3a.

    They are fitted to the bin means by weighted least squares (weights = number of pairs) with
    ``scipy.optimize.curve_fit``; AIC = m log(WRSS/m) + 2*3 over the m bins.

    Parameters
    ----------
    value
        Column holding life expectancy.
    n_bins
        Number of equal-width distance bins.
    max_distance_m
        Largest lag; default half the largest distance between centres.
    models
        Models to fit: ``"spherical"``, ``"exponential"``.
    centre_x, centre_y
        Columns holding the population-weighted centres.

    Attributes
    ----------
    bins_ : pandas.DataFrame
        ``lower_m, upper_m, mean_distance_m, gamma, n_pairs`` per bin.
    models_ : pandas.DataFrame
        ``nugget, partial_sill, sill, range_m, effective_range_m, wrss, aic`` per model, plus a
        ``nugget_only`` baseline (gamma(h) = c0, no spatial structure);
        ``delta_aic_vs_nugget`` < -2 means the data support spatial structure, and
        ``range_at_bound`` flags a range pinned at a search limit (not identified).
    best_model_ : str
        Model with the smallest AIC (``"nugget_only"`` = no spatial structure detected).
    report_ : dict
        Areas left out for a missing value.
    """

    _results = ("bins_", "models_", "best_model_", "report_")
    _packages = ("scipy",)

    def __init__(
        self,
        *,
        value: str = "le",
        n_bins: int = 12,
        max_distance_m: float | None = None,
        models: Sequence[str] = ("spherical", "exponential"),
        centre_x: str = "pw_x",
        centre_y: str = "pw_y",
    ) -> None:
        if int(n_bins) < 3:
            raise ParameterError(f"n_bins must be at least 3; got {n_bins!r}")
        for m in models:
            check_choice(m, _VARIOGRAMS, name="models")
        if max_distance_m is not None:
            check_positive(max_distance_m, name="max_distance_m")
        self.value = value
        self.n_bins = int(n_bins)
        self.max_distance_m = max_distance_m
        self.models = tuple(models)
        self.centre_x = centre_x
        self.centre_y = centre_y
        self._params = {
            "value": value,
            "n_bins": self.n_bins,
            "max_distance_m": max_distance_m,
            "models": list(self.models),
            "centre_x": centre_x,
            "centre_y": centre_y,
        }

    def fit(self, frame: pd.DataFrame) -> Semivariogram:
        """Compute the empirical semivariogram and fit the models.

        Parameters
        ----------
        frame
            Areas indexed by code with the value and centre columns.

        Returns
        -------
        Semivariogram
            ``self``, fitted.
        """
        name = "Semivariogram frame"
        xy = _centres(frame, self.centre_x, self.centre_y, name=name)
        y = numeric_column(frame, self.value, name=name)
        ok = y.notna().to_numpy()
        if ok.sum() < 4:
            raise InputError(f"{name}: fewer than 4 areas have a value in {self.value!r}")
        xy, v = xy[ok], y.to_numpy()[ok]
        d = pdist(xy)
        sq = pdist(v[:, None], "sqeuclidean")
        dmax = self.max_distance_m if self.max_distance_m is not None else d.max() / 2.0
        edges = np.linspace(0.0, dmax, self.n_bins + 1)
        idx = np.digitize(d, edges[1:-1], right=True)
        within = d <= dmax
        idx, dd, ss = idx[within], d[within], sq[within]
        n_pairs = np.bincount(idx, minlength=self.n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            gamma = 0.5 * np.bincount(idx, weights=ss, minlength=self.n_bins) / n_pairs
            mean_d = np.bincount(idx, weights=dd, minlength=self.n_bins) / n_pairs
        self.bins_ = pd.DataFrame(
            {
                "lower_m": edges[:-1],
                "upper_m": edges[1:],
                "mean_distance_m": mean_d,
                "gamma": gamma,
                "n_pairs": n_pairs,
            }
        )
        self.models_ = self._fit_models(self.bins_[self.bins_["n_pairs"] > 0], dmax)
        self.best_model_ = str(self.models_["aic"].idxmin())
        self.report_ = {
            "n_areas": int(len(frame)),
            "n_used": int(ok.sum()),
            "missing_value_codes": [str(c) for c in frame.index[~ok]],
            "max_distance_m": float(dmax),
        }
        return self

    def _fit_models(self, bins: pd.DataFrame, dmax: float) -> pd.DataFrame:
        h = bins["mean_distance_m"].to_numpy()
        g = bins["gamma"].to_numpy()
        n = bins["n_pairs"].to_numpy().astype(float)
        sigma = 1.0 / np.sqrt(n)
        rows = {}
        for model in self.models:
            fn = _VARIOGRAMS[model]
            p0 = (max(g.min(), 0.0) * 0.5, max(g.max() - g.min(), 1e-9), dmax / 3.0)
            popt, _ = optimize.curve_fit(
                fn, h, g, p0=p0, sigma=sigma,
                bounds=([0.0, 0.0, dmax * 1e-4], [np.inf, np.inf, dmax * 10.0]),
                maxfev=20000,
            )
            wrss = float(np.sum(n * (g - fn(h, *popt)) ** 2))
            m = len(g)
            aic = m * np.log(wrss / m) + 2 * 3 if wrss > 0 else -np.inf
            nugget, psill, rng = (float(p) for p in popt)
            rows[model] = {
                "nugget": nugget,
                "partial_sill": psill,
                "sill": nugget + psill,
                "range_m": rng,
                "effective_range_m": rng * 3.0 if model == "exponential" else rng,
                "wrss": wrss,
                "aic": float(aic),
                "range_at_bound": bool(not dmax * 1e-4 * 1.01 < rng < dmax * 10.0 * 0.99),
            }
        # baseline: no spatial structure at all, gamma(h) = c0
        c0 = float(np.sum(n * g) / np.sum(n))
        wrss0 = float(np.sum(n * (g - c0) ** 2))
        m = len(g)
        rows["nugget_only"] = {
            "nugget": c0, "partial_sill": 0.0, "sill": c0, "range_m": np.nan,
            "effective_range_m": np.nan, "wrss": wrss0,
            "aic": float(m * np.log(wrss0 / m) + 2 * 1) if wrss0 > 0 else -np.inf,
            "range_at_bound": False,
        }
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "model"
        out["delta_aic_vs_nugget"] = out["aic"] - out.loc["nugget_only", "aic"]
        return out


# --------------------------------------------------------------------------- correlogram


class MoranCorrelogram(FittedModel):
    """Moran's I of life expectancy by distance band (binary band weights per lag).

    For band k, w_ij = 1 when lower_k < d_ij <= upper_k, else 0. I, its expectation and its
    variance under the normality assumption follow Cliff & Ord (the same formulas as
    ``esda.Moran`` with ``transformation="b"``). With ``permutations > 0`` a seeded
    conditional-free permutation test gives a one-sided pseudo p-value in the direction of the
    observed statistic, as esda does.

    Parameters
    ----------
    value
        Column holding life expectancy.
    bands_m
        Band edges in metres (increasing, starting at 0 or above); overrides ``n_bands``.
    n_bands
        Number of equal-width bands up to ``max_distance_m``.
    max_distance_m
        Largest distance; default half the largest distance between centres.
    permutations
        Random permutations for the pseudo p-value (0 = none).
    seed
        Seed of ``numpy.random.default_rng`` for the permutations.
    centre_x, centre_y
        Columns holding the population-weighted centres.

    Attributes
    ----------
    table_ : pandas.DataFrame
        Per band: ``lower_m, upper_m, n_pairs, n_with_neighbours, I, expected_I, var_I_norm,
        z_norm, p_norm`` (two-sided) and ``p_sim`` when permutations were run.
    report_ : dict
        Areas left out for a missing value.
    """

    _results = ("table_", "report_")
    _packages = ("scipy",)

    def __init__(
        self,
        *,
        value: str = "le",
        bands_m: Sequence[float] | None = None,
        n_bands: int = 10,
        max_distance_m: float | None = None,
        permutations: int = 0,
        seed: int | None = None,
        centre_x: str = "pw_x",
        centre_y: str = "pw_y",
    ) -> None:
        if bands_m is not None:
            edges = np.asarray(bands_m, dtype=float)
            if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0) or edges[0] < 0:
                raise ParameterError(
                    f"bands_m must be at least two increasing distances >= 0; got {bands_m!r}"
                )
        if int(n_bands) < 1:
            raise ParameterError(f"n_bands must be >= 1; got {n_bands!r}")
        if int(permutations) < 0:
            raise ParameterError(f"permutations must be >= 0; got {permutations!r}")
        if permutations and seed is None:
            raise ParameterError("permutations need a seed (an int) so results can be repeated")
        self.value = value
        self.bands_m = None if bands_m is None else [float(b) for b in bands_m]
        self.n_bands = int(n_bands)
        self.max_distance_m = max_distance_m
        self.permutations = int(permutations)
        self.seed = seed
        self.centre_x = centre_x
        self.centre_y = centre_y
        self._params = {
            "value": value,
            "bands_m": self.bands_m,
            "n_bands": self.n_bands,
            "max_distance_m": max_distance_m,
            "permutations": self.permutations,
            "seed": seed,
            "centre_x": centre_x,
            "centre_y": centre_y,
        }

    def fit(self, frame: pd.DataFrame) -> MoranCorrelogram:
        """Compute Moran's I for each distance band.

        Parameters
        ----------
        frame
            Areas indexed by code with the value and centre columns.

        Returns
        -------
        MoranCorrelogram
            ``self``, fitted.
        """
        name = "MoranCorrelogram frame"
        xy = _centres(frame, self.centre_x, self.centre_y, name=name)
        y = numeric_column(frame, self.value, name=name)
        ok = y.notna().to_numpy()
        n = int(ok.sum())
        if n < 4:
            raise InputError(f"{name}: fewer than 4 areas have a value in {self.value!r}")
        xy, v = xy[ok], y.to_numpy()[ok]
        d = pdist(xy)
        if self.bands_m is not None:
            edges = np.asarray(self.bands_m)
        else:
            dmax = self.max_distance_m if self.max_distance_m is not None else d.max() / 2.0
            edges = np.linspace(0.0, dmax, self.n_bands + 1)
        iu, ju = np.triu_indices(n, k=1)
        z = v - v.mean()
        zz = float(z @ z)
        rng = np.random.default_rng(self.seed) if self.permutations else None
        rows = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            band = (d > lo) & (d <= hi)
            i, j = iu[band], ju[band]
            m = len(i)
            row: dict[str, float] = {"lower_m": float(lo), "upper_m": float(hi), "n_pairs": m}
            if m == 0:
                row.update({"n_with_neighbours": 0, "I": np.nan, "expected_I": -1.0 / (n - 1),
                            "var_I_norm": np.nan, "z_norm": np.nan, "p_norm": np.nan})
                if self.permutations:
                    row["p_sim"] = np.nan
                rows.append(row)
                continue
            w = sparse.coo_matrix(
                (np.ones(2 * m), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)
            ).tocsr()
            k = np.asarray(w.sum(axis=1)).ravel()
            s0 = 2.0 * m
            s1 = 2.0 * s0  # 0.5 * sum((w_ij + w_ji)^2) with symmetric binary weights
            s2 = float(np.sum((2.0 * k) ** 2))
            stat = n / s0 * float(z @ (w @ z)) / zz
            ei = -1.0 / (n - 1)
            vi = (n * n * s1 - n * s2 + 3.0 * s0 * s0) / ((n * n - 1.0) * s0 * s0) - ei * ei
            zn = (stat - ei) / np.sqrt(vi)
            row.update(
                {
                    "n_with_neighbours": int((k > 0).sum()),
                    "I": stat,
                    "expected_I": ei,
                    "var_I_norm": vi,
                    "z_norm": zn,
                    "p_norm": float(2.0 * stats.norm.sf(abs(zn))),
                }
            )
            if rng is not None:
                perm = np.empty(self.permutations)
                for p in range(self.permutations):
                    zp = rng.permutation(z)
                    perm[p] = n / s0 * float(zp @ (w @ zp)) / zz
                larger = int((perm >= stat).sum())
                if self.permutations - larger < larger:
                    larger = self.permutations - larger
                row["p_sim"] = (larger + 1.0) / (self.permutations + 1.0)
            rows.append(row)
        self.table_ = pd.DataFrame(rows)
        self.report_ = {
            "n_areas": int(len(frame)),
            "n_used": n,
            "missing_value_codes": [str(c) for c in frame.index[~ok]],
        }
        return self


# --------------------------------------------------------------------------- decay fits


def _basis(form: str, t: np.ndarray, theta: float, offset: float) -> np.ndarray:
    if form == "linear":
        return t
    if form == "exponential":
        return np.exp(-t / theta)
    if form == "power":
        return (t + offset) ** (-theta)
    return np.exp(-0.5 * (t / theta) ** 2)  # gaussian


_FORMS = ("linear", "exponential", "power", "gaussian")
_THETA_MEANING = {
    "linear": "slope b (years per unit of time); no shape parameter",
    "exponential": "theta = e-folding time: f(t) = exp(-t / theta)",
    "power": "theta = exponent: f(t) = (t + offset)^(-theta)",
    "gaussian": "theta = scale: f(t) = exp(-0.5 (t / theta)^2)",
}


class DecayFit(FittedModel):
    """Life expectancy against travel time: linear, exponential, power and Gaussian decay.

    Each form is LE = a + b f(t; theta). For a fixed theta the model is linear in (a, b) and is
    solved by weighted least squares; theta is found by minimising the weighted residual sum of
    squares (profile likelihood). Its confidence interval is the profile-likelihood interval
    {theta : n log(RSS(theta)/RSS_min) <= chi2_1(confidence)}. Forms are compared by
    AIC = n log(RSS/n) + 2k, k = number of parameters including the error variance.

    Parameters
    ----------
    time
        Column holding travel time (any unit; theta is in the same unit).
    value
        Column holding life expectancy.
    forms
        Forms to fit, among ``"linear"``, ``"exponential"``, ``"power"``, ``"gaussian"``.
    weights
        None, ``"population"`` or ``"inverse_variance"`` (from ``lci``/``uci``).
    population, lci, uci
        Column names used by ``weights``.
    confidence
        Level of the intervals.
    power_offset
        Offset added to time in the power form so that zero travel time is allowed.
    n_boot
        Bootstrap resamples for a percentile interval of the best form's theta (0 = none).
    seed
        Seed of ``numpy.random.default_rng`` for the bootstrap.

    Attributes
    ----------
    table_ : pandas.DataFrame
        Per form: ``a, b, theta, theta_lo, theta_hi, b_lo, b_hi, rss, k, aic, delta_aic,
        akaike_weight``.
    best_form_ : str
        Form with the smallest AIC.
    theta_, theta_ci_ : float, tuple of float
        Decay parameter of the best form and its profile-likelihood interval (for the linear
        form: the slope b and its t interval).
    theta_boot_ci_ : tuple of float or None
        Bootstrap percentile interval of the best form's theta.
    report_ : dict
        Rows left out for a missing time, value or weight.
    """

    _results = ("table_", "best_form_", "theta_", "theta_ci_", "theta_boot_ci_", "report_")
    _packages = ("scipy",)

    def __init__(
        self,
        *,
        time: str = "travel_time",
        value: str = "le",
        forms: Sequence[str] = _FORMS,
        weights: str | None = None,
        population: str = "population",
        lci: str | None = None,
        uci: str | None = None,
        confidence: float = 0.95,
        power_offset: float = 1.0,
        n_boot: int = 0,
        seed: int | None = None,
    ) -> None:
        if not forms:
            raise ParameterError(f"forms must name at least one of {list(_FORMS)}")
        for f in forms:
            check_choice(f, _FORMS, name="forms")
        check_choice(weights, _WEIGHTS, name="weights")
        check_positive(power_offset, name="power_offset", allow_zero=True)
        if int(n_boot) < 0:
            raise ParameterError(f"n_boot must be >= 0; got {n_boot!r}")
        if n_boot and seed is None:
            raise ParameterError("n_boot > 0 needs a seed (an int) so results can be repeated")
        self.time = time
        self.value = value
        self.forms = tuple(forms)
        self.weights = weights
        self.population = population
        self.lci = lci
        self.uci = uci
        self.confidence = check_confidence(confidence)
        self.power_offset = float(power_offset)
        self.n_boot = int(n_boot)
        self.seed = seed
        self._params = {
            "time": time,
            "value": value,
            "forms": list(self.forms),
            "weights": weights,
            "population": population,
            "lci": lci,
            "uci": uci,
            "confidence": self.confidence,
            "power_offset": self.power_offset,
            "n_boot": self.n_boot,
            "seed": seed,
        }

    # -- fitting helpers

    @staticmethod
    def _ls(f: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
        """Weighted least squares of y on (1, f): return a, b, weighted RSS."""
        sw = np.sqrt(w)
        design = np.column_stack([sw, sw * f])
        coef, *_ = np.linalg.lstsq(design, sw * y, rcond=None)
        resid = sw * y - design @ coef
        return float(coef[0]), float(coef[1]), float(resid @ resid)

    def _theta_bounds(self, form: str, t: np.ndarray) -> tuple[float, float]:
        if form == "power":
            return 1e-3, 20.0
        span = float(np.max(t) - np.min(t)) or 1.0
        positive = t[t > 0]
        low = float(positive.min()) if len(positive) else span
        return max(low, span * 1e-3) / 10.0, span * 100.0

    def _profile(self, form: str, t: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, float]:
        n = len(y)
        if form == "linear":
            a, b, rss = self._ls(t, y, w)
            design = sm.add_constant(t, has_constant="add")
            res = sm.WLS(y, design, weights=w).fit()
            lo, hi = res.conf_int(alpha=1.0 - self.confidence)[1]
            return {"a": a, "b": b, "theta": np.nan, "theta_lo": np.nan, "theta_hi": np.nan,
                    "b_lo": float(lo), "b_hi": float(hi), "rss": rss, "k": 3}
        lo_b, hi_b = self._theta_bounds(form, t)

        def rss_of(log_theta: float) -> float:
            return self._ls(_basis(form, t, float(np.exp(log_theta)), self.power_offset), y, w)[2]

        grid = np.linspace(np.log(lo_b), np.log(hi_b), 121)
        values = np.array([rss_of(g) for g in grid])
        i = int(np.argmin(values))
        left, right = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        if right > left:
            opt = optimize.minimize_scalar(
                rss_of, bounds=(left, right), method="bounded", options={"xatol": 1e-10}
            )
            log_theta = float(opt.x) if opt.fun <= values[i] else float(grid[i])
        else:
            log_theta = float(grid[i])
        theta = float(np.exp(log_theta))
        a, b, rss = self._ls(_basis(form, t, theta, self.power_offset), y, w)
        crit = float(stats.chi2.ppf(self.confidence, df=1))

        def excess(lt: float) -> float:
            return n * np.log(rss_of(lt) / rss) - crit

        def root(edge: float) -> float:
            if excess(edge) < 0:
                return np.nan  # the interval is open on this side within the search bounds
            return float(np.exp(optimize.brentq(excess, min(edge, log_theta),
                                                max(edge, log_theta), xtol=1e-10)))

        theta_lo = root(np.log(lo_b))
        theta_hi = root(np.log(hi_b))
        return {"a": a, "b": b, "theta": theta, "theta_lo": theta_lo, "theta_hi": theta_hi,
                "b_lo": np.nan, "b_hi": np.nan, "rss": rss, "k": 4}

    def fit(self, frame: pd.DataFrame) -> DecayFit:
        """Fit every form and choose the best by AIC.

        Parameters
        ----------
        frame
            Areas indexed by code with the time, value and weight columns.

        Returns
        -------
        DecayFit
            ``self``, fitted.
        """
        name = "DecayFit frame"
        t_all = numeric_column(frame, self.time, name=name)
        y_all = numeric_column(frame, self.value, name=name)
        w_all = _weights(frame, self.weights, population=self.population, lci=self.lci,
                         uci=self.uci, name=name)
        if (t_all < 0).any():
            raise InputError(
                f"{name}: negative travel time in {self.time!r} at "
                f"{preview(t_all.index[t_all < 0])}"
            )
        ok = t_all.notna() & y_all.notna() & w_all.notna()
        if ok.sum() < 6:
            raise InputError(f"{name}: only {int(ok.sum())} complete row(s); at least 6 needed")
        t = t_all[ok].to_numpy()
        y = y_all[ok].to_numpy()
        w = w_all[ok].to_numpy()
        w = w / w.mean()
        n = len(y)
        rows = {}
        for form in self.forms:
            r = self._profile(form, t, y, w)
            r["aic"] = n * np.log(r["rss"] / n) + 2 * r["k"]
            rows[form] = r
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "form"
        table["delta_aic"] = table["aic"] - table["aic"].min()
        rel = np.exp(-0.5 * table["delta_aic"])
        table["akaike_weight"] = rel / rel.sum()
        table["theta_meaning"] = [_THETA_MEANING[f] for f in table.index]
        self.table_ = table
        best = str(table["aic"].idxmin())
        self.best_form_ = best
        if best == "linear":
            self.theta_ = float(table.loc[best, "b"])
            self.theta_ci_ = (float(table.loc[best, "b_lo"]), float(table.loc[best, "b_hi"]))
        else:
            self.theta_ = float(table.loc[best, "theta"])
            self.theta_ci_ = (float(table.loc[best, "theta_lo"]),
                              float(table.loc[best, "theta_hi"]))
        self.theta_boot_ci_ = self._bootstrap(best, t, y, w) if self.n_boot else None
        self.report_ = {
            "n_rows": int(len(frame)),
            "n_used": int(n),
            "missing_codes": [str(c) for c in frame.index[~ok.to_numpy()]],
        }
        return self

    def _bootstrap(
        self, form: str, t: np.ndarray, y: np.ndarray, w: np.ndarray
    ) -> tuple[float, float]:
        rng = np.random.default_rng(self.seed)
        n = len(y)
        draws = np.empty(self.n_boot)
        for i in range(self.n_boot):
            idx = rng.integers(0, n, size=n)
            if form == "linear":
                draws[i] = self._ls(t[idx], y[idx], w[idx])[1]
                continue
            lo_b, hi_b = self._theta_bounds(form, t[idx])
            tt, yy, ww = t[idx], y[idx], w[idx]
            opt = optimize.minimize_scalar(
                lambda lt, tt=tt, yy=yy, ww=ww: self._ls(
                    _basis(form, tt, float(np.exp(lt)), self.power_offset), yy, ww
                )[2],
                bounds=(np.log(lo_b), np.log(hi_b)), method="bounded",
            )
            draws[i] = float(np.exp(opt.x))
        alpha = 1.0 - self.confidence
        lo, hi = np.quantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0])
        return float(lo), float(hi)

    def predict(self, time: np.ndarray | Sequence[float], form: str | None = None) -> np.ndarray:
        """Return fitted life expectancy at the given travel times (best form by default)."""
        self._check_fitted()
        form = form or self.best_form_
        check_choice(form, list(self.table_.index), name="form")
        row = self.table_.loc[form]
        t = np.asarray(time, dtype=float)
        return np.asarray(
            row["a"] + row["b"] * _basis(form, t, float(row["theta"]), self.power_offset)
        )
