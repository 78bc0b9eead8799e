"""Empirical semivariogram of life expectancy with spherical and exponential fits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from healthgap.geo._models import PairwiseModel, check_choice, check_positive
from scipy import optimize
from scipy.spatial.distance import pdist

from healthgap.errors import ParameterError

logger = logging.getLogger(__name__)

__all__ = ["Semivariogram"]


# --------------------------------------------------------------------------- semivariogram


def _spherical(h: np.ndarray, nugget: float, psill: float, rng: float) -> np.ndarray:
    r = np.minimum(h / rng, 1.0)
    return nugget + psill * (1.5 * r - 0.5 * r**3)


def _exponential(h: np.ndarray, nugget: float, psill: float, rng: float) -> np.ndarray:
    return nugget + psill * (1.0 - np.exp(-h / rng))


_VARIOGRAMS = {"spherical": _spherical, "exponential": _exponential}


class Semivariogram(PairwiseModel):
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

    def _fit_pairs(self, v: np.ndarray, d: np.ndarray) -> dict[str, Any]:
        """Empirical semivariogram and model fits (`PairwiseModel.fit` is the entry point)."""
        sq = pdist(v[:, None], "sqeuclidean")
        dmax = self.largest_distance(d)
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
        return {"max_distance_m": dmax}

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
