"""Life expectancy against travel time: linear, exponential, power and Gaussian forms.

Not to be confused with :mod:`geo.decay`, which holds the decay *weights* used by the access
measures; this module *fits* how life expectancy changes with travel time to a service.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from healthgap.geo._models import (
    WEIGHTINGS,
    FittedModel,
    check_choice,
    check_confidence,
    check_positive,
    numeric_column,
    regression_weights,
)
from scipy import optimize, stats
from statsmodels.regression.linear_model import WLS
from statsmodels.tools.tools import add_constant

from healthgap.errors import InputError, ParameterError, preview

logger = logging.getLogger(__name__)

__all__ = ["TravelTimeFit"]


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


class TravelTimeFit(FittedModel):
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
        check_choice(weights, WEIGHTINGS, name="weights")
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
            design = add_constant(t, has_constant="add")
            res = WLS(y, design, weights=w).fit()
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

    def fit(self, frame: pd.DataFrame) -> TravelTimeFit:
        """Fit every form and choose the best by AIC.

        Parameters
        ----------
        frame
            Areas indexed by code with the time, value and weight columns.

        Returns
        -------
        TravelTimeFit
            ``self``, fitted.
        """
        name = "TravelTimeFit frame"
        t_all = numeric_column(frame, self.time, name=name)
        y_all = numeric_column(frame, self.value, name=name)
        w_all = regression_weights(frame, self.weights, population=self.population, lci=self.lci,
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
