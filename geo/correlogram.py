"""Moran's I by distance band (a correlogram), with permutation p-values from the engine."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from healthgap.geo._models import PairwiseModel
from healthgap.geo._permutation import simulation_summary, total_randomization
from scipy import sparse, stats

from healthgap.errors import ParameterError

logger = logging.getLogger(__name__)

__all__ = ["MoranCorrelogram"]


# --------------------------------------------------------------------------- correlogram


class MoranCorrelogram(PairwiseModel):
    """Moran's I of life expectancy by distance band (binary band weights per lag).

    For band k, w_ij = 1 when lower_k < d_ij <= upper_k, else 0. I, its expectation and its
    variance under the normality assumption follow Cliff & Ord (the same formulas as
    ``esda.Moran`` with ``transformation="b"``). With ``permutations > 0`` the shared numba
    engine (:func:`geo._permutation.total_randomization`, the one behind `GlobalMoran`) permutes
    the values over all areas and gives a one-sided (folded) pseudo p-value in the direction of
    the observed statistic, as esda does; ``p_norm`` is two-sided.

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

    def _fit_pairs(self, v: np.ndarray, d: np.ndarray) -> dict[str, Any]:
        """Moran's I for each distance band (`PairwiseModel.fit` is the entry point)."""
        n = len(v)
        if self.bands_m is not None:
            edges = np.asarray(self.bands_m)
        else:
            edges = np.linspace(0.0, self.largest_distance(d), self.n_bands + 1)
        iu, ju = np.triu_indices(n, k=1)
        z = v - v.mean()
        zz = float(z @ z)
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
            if self.permutations:
                forms = total_randomization(w, z, permutations=self.permutations,
                                            seed=self.seed)
                sims = n / s0 * forms[:, 0] / zz
                row["p_sim"] = simulation_summary(stat, sims)["p_sim"]
            rows.append(row)
        self.table_ = pd.DataFrame(rows)
        return {}
