"""Life expectancy along a line (transects) and the system-wide "years per mile" headline.

Positions are population-weighted centres in British National Grid metres; slopes are reported
per km and per statute mile (1 mile = 1.609344 km) with their confidence intervals.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from healthgap.geo._models import (
    MILE_KM,
    WEIGHTINGS,
    FittedModel,
    centres,
    check_choice,
    check_confidence,
    check_positive,
    jsonable,
    numeric_column,
    package_versions,
    point,
    regression_weights,
    wls_slope,
)
from healthgap.geo.cliffs import NeighbourGradients
from libpysal.graph import Graph

from healthgap.errors import InputError, ParameterError

logger = logging.getLogger(__name__)

__all__ = ["HeadlineGradients", "Transect", "headline_gradients"]


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
        check_choice(weights, WEIGHTINGS, name="weights")
        check_positive(half_width_m, name="half_width_m")
        if max_distance_m is not None:
            check_positive(max_distance_m, name="max_distance_m")
        self.start = point(start, name="start")
        self.end = None if end is None else point(end, name="end")
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
        xy = centres(frame, self.centre_x, self.centre_y, name=name)
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
        w = regression_weights(frame, self.weights, population=self.population, lci=self.lci,
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
        fit = wls_slope(
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
    names: str | None = "msoa_name",
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
    centres(frame, centre_x, centre_y, name=name)
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
