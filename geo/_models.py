"""Private helpers shared by the life-expectancy model modules.

Used by the model modules (cliffs, transect, variogram, correlogram, travel_time, inequality,
regression): package versions for the manifest, weights from confidence intervals, numeric column
checks, area centres and regression weights of the gradient models, and a small base class that
turns a fitted model into a JSON-friendly dictionary.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any, Self

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo._validation import require_bng, require_columns, require_unique_index
from statsmodels.regression.linear_model import WLS
from statsmodels.tools.tools import add_constant

from healthgap.errors import InputError, MissingColumnError, ParameterError, preview

MILE_KM = 1.609344
"""Kilometres in one statute mile."""

Z95 = 1.959963984540054
"""Two-sided 95 % standard normal quantile; Local Health intervals are 95 % intervals."""

_BASE_PACKAGES = ("numpy", "scipy", "pandas")


def package_versions(*names: str) -> dict[str, str]:
    """Return the installed version of each package (and numpy, scipy, pandas).

    Parameters
    ----------
    *names
        Distribution names, e.g. ``"spreg"``, ``"statsmodels"``.
    """
    out: dict[str, str] = {}
    for name in (*_BASE_PACKAGES, *names):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars, arrays and frames into plain Python for JSON."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.reset_index().to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def numeric_column(frame: pd.DataFrame, column: str, *, name: str) -> pd.Series:
    """Return ``frame[column]`` as float; raise if absent or not numeric.

    Empty strings and other missing markers stay missing (NaN); they are never filled.
    """
    if column not in frame.columns:
        raise MissingColumnError(
            f"{name}: missing column {column!r}; found: {', '.join(map(str, frame.columns))}"
        )
    col = frame[column]
    if not pd.api.types.is_numeric_dtype(col):
        converted = pd.to_numeric(col.replace("", np.nan), errors="coerce")
        bad = col[converted.isna() & col.notna() & (col.astype(str).str.strip() != "")]
        if len(bad):
            raise InputError(
                f"{name}: column {column!r} has non-numeric values at "
                f"{preview(bad.index)} (e.g. {bad.iloc[0]!r})"
            )
        col = converted
    return col.astype(float)


def variance_from_ci(lci: pd.Series, uci: pd.Series, *, z: float = Z95) -> pd.Series:
    """Return the sampling variance implied by a symmetric interval: ((uci - lci) / 2z)^2."""
    width = uci - lci
    if (width < 0).any():
        bad = width.index[width < 0]
        raise InputError(f"confidence interval has upper < lower for {preview(bad)}")
    return (width / (2.0 * z)) ** 2


def check_positive(value: float, *, name: str, allow_zero: bool = False) -> float:
    """Raise `ParameterError` unless ``value`` is a finite positive number."""
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ParameterError(f"{name} must be {allowed}; got {value!r}")
    return float(value)


def check_choice(value: str | None, allowed: Iterable[str | None], *, name: str) -> None:
    """Raise `ParameterError` unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {allowed}; got {value!r}")


def check_confidence(confidence: float) -> float:
    """Return ``confidence`` if it lies strictly between 0.5 and 1."""
    if not (0.5 < confidence < 1.0):
        raise ParameterError(
            f"confidence must be between 0.5 and 1 (e.g. 0.95); got {confidence!r}"
        )
    return float(confidence)


# --------------------------------------------------------------------------- gradient inputs

#: Regression weightings of the gradient models: none, population, inverse variance from a CI.
WEIGHTINGS = (None, "population", "inverse_variance")


def centres(frame: pd.DataFrame, x: str, y: str, *, name: str) -> np.ndarray:
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


def located_values(
    frame: pd.DataFrame, value: str, x: str, y: str, *, name: str, least: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the centres and values of the areas that have a value, and the mask of those.

    Raise `InputError` when fewer than ``least`` areas have a value.
    """
    xy = centres(frame, x, y, name=name)
    col = numeric_column(frame, value, name=name)
    ok = col.notna().to_numpy()
    if ok.sum() < least:
        raise InputError(f"{name}: fewer than {least} areas have a value in {value!r}")
    return xy[ok], col.to_numpy()[ok], ok


def regression_weights(
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


def wls_slope(
    position_km: np.ndarray, y: np.ndarray, w: np.ndarray, confidence: float
) -> dict[str, float]:
    """Weighted least squares of ``y`` on position: slope per km and per mile with CI."""
    design = add_constant(position_km, has_constant="add")
    res = WLS(y, design, weights=w).fit()
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


def point(p: Sequence[float], *, name: str) -> np.ndarray:
    """Return ``p`` (an (x, y) pair or a shapely Point) as a float array of two BNG metres."""
    if hasattr(p, "x") and hasattr(p, "y"):
        arr = np.array([float(p.x), float(p.y)])  # shapely Point
    else:
        arr = np.asarray(p, dtype=float).ravel()
    if arr.shape != (2,) or not np.isfinite(arr).all():
        raise ParameterError(f"{name} must be an (x, y) pair in EPSG:27700 metres; got {p!r}")
    return arr


class FittedModel:
    """Mixin: ``params`` (constructor arguments) and ``to_dict()`` for the build manifest.

    Subclasses list their fitted attributes in ``_results`` and the packages whose versions
    matter in ``_packages``.
    """

    _results: tuple[str, ...] = ()
    _packages: tuple[str, ...] = ()

    @property
    def params(self) -> dict[str, Any]:
        """Constructor parameters (including any seed), read from the attributes of the same name.

        A model stores each argument once, as an attribute named like the parameter; a model
        whose attributes differ from its arguments sets ``_params`` instead.
        """
        explicit = self.__dict__.get("_params")
        if explicit is not None:
            return dict(explicit)
        names = inspect.signature(type(self).__init__).parameters
        return {n: getattr(self, n) for n in names if n not in ("self", "args", "kwargs")}

    def _check_fitted(self) -> None:
        if not self._results or not hasattr(self, self._results[0]):
            raise ParameterError(f"{type(self).__name__} is not fitted; call fit() first")

    def to_dict(self) -> dict[str, Any]:
        """Return parameters, package versions and fitted results as plain Python.

        Large per-area frames are left out; they are available as attributes.
        """
        self._check_fitted()
        results = {name: jsonable(getattr(self, name)) for name in self._results}
        return {
            "model": type(self).__name__,
            "params": jsonable(self.params),
            "versions": package_versions(*self._packages),
            "results": results,
        }


class PairwiseModel(FittedModel):
    """A model of area values against the distance between area centres (all pairs).

    Subclasses store ``value``, ``centre_x``, ``centre_y`` and ``max_distance_m`` and implement
    `_fit_pairs`; `fit` finds the areas with a value and their pairwise distances once.
    """

    value: str
    centre_x: str
    centre_y: str
    max_distance_m: float | None

    def fit(self, frame: pd.DataFrame) -> Self:
        """Fit the model on the areas of ``frame`` that have a value.

        Parameters
        ----------
        frame
            Areas indexed by code with the value and centre columns.

        Returns
        -------
        PairwiseModel
            ``self``, fitted; ``report_`` counts the areas used and lists those left out.
        """
        from scipy.spatial.distance import pdist

        name = f"{type(self).__name__} frame"
        xy, v, ok = located_values(frame, self.value, self.centre_x, self.centre_y, name=name)
        extra = self._fit_pairs(v, pdist(xy))
        self.report_ = {
            "n_areas": int(len(frame)),
            "n_used": int(ok.sum()),
            "missing_value_codes": [str(c) for c in frame.index[~ok]],
            **extra,
        }
        return self

    def largest_distance(self, d: np.ndarray) -> float:
        """``max_distance_m``, or half the largest distance between two centres."""
        return float(self.max_distance_m if self.max_distance_m is not None else d.max() / 2.0)

    def _fit_pairs(self, v: np.ndarray, d: np.ndarray) -> dict[str, Any]:
        """Fit on values ``v`` and condensed pairwise distances ``d``; return report extras."""
        raise NotImplementedError


def group_positions(q: pd.Series) -> list[tuple[object, np.ndarray]]:
    """``(label, row positions)`` of each group of ``q``, labels sorted, as ``groupby(q)`` has.

    Integer labels (the quantiles the build forms) by numpy; any other kind by pandas' own
    ``groupby(...).indices``.
    """
    values = q.to_numpy()
    if values.dtype.kind in "iu":
        order = np.argsort(values, kind="stable")
        labels, starts = np.unique(values[order], return_index=True)
        return [(lab.item(), at) for lab, at in zip(labels, np.split(order, starts[1:]),
                                                   strict=True)]
    return sorted(q.groupby(q, sort=True).indices.items(), key=lambda kv: kv[0])
