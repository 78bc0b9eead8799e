"""Global spatial autocorrelation: Moran's I, Geary's C, Getis–Ord General G, bivariate Moran.

Each statistic is one small class: ``__init__`` stores the options, ``fit`` computes and returns
the instance, fitted attributes end in ``_`` and :meth:`to_dict` gives one JSON-serialisable
row for the build store table ``stats_global``. Values, expectations, variances and z-scores
follow esda's formulas exactly (``esda.Moran``, ``esda.Geary``, ``esda.G``, ``esda.Moran_BV``);
permutation inference runs on the seeded engine in :mod:`geo._permutation`.

Analytical p-values (``p_norm_``, ``p_rand_``) are **two-sided**: ``2 * P(Z > |z|)``. esda
doubles them for Moran's I too but reports one-sided values for Geary's C and General G.

Edge ring and missing values
----------------------------
A global statistic describes the study area itself: when results are restricted to some areas
(the ``report`` argument, or the weights' ``in_area``), the weights are cut down to those areas
(``Graph.subgraph``) and transformed again before the statistic is computed; the ring is left
out. Missing values raise :class:`~healthgap.errors.InputError` naming the areas; leave them out
explicitly when building the weights (``build_weights(..., include=...)``).
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from healthgap.geo._permutation import (
    check_permutations,
    resolve_seed,
    simulation_summary,
    total_randomization,
)
from healthgap.geo.weights import Report, WeightsResult, align_values, report_mask, resolve_weights
from libpysal.graph import Graph
from scipy import sparse, stats

from healthgap.errors import InputError, ParameterError

__all__ = ["BivariateMoran", "GlobalGeary", "GlobalGetisOrdG", "GlobalMoran"]



def _two_sided(z: float) -> float:
    return float(2.0 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan")


def _weight_sums(w: sparse.csr_array) -> tuple[float, float, float]:
    """Return S0, S1, S2 of a weights matrix (Cliff and Ord)."""
    s0 = float(w.sum())
    sym = w + w.T
    s1 = 0.5 * float(sym.multiply(sym).sum())
    s2 = float(((np.asarray(w.sum(axis=1)).ravel() + np.asarray(w.sum(axis=0)).ravel()) ** 2).sum())
    return s0, s1, s2


class _GlobalStatistic:
    """Shared plumbing: options, weights and value alignment, permutation summary, to_dict.

    Parameters
    ----------
    permutations
        Number of random permutations of the values (>= 1).
    seed
        Seed for the permutations; None draws one from OS entropy (stored as ``seed_``).
    transformation
        Weights transformation applied before computing (default: the statistic's own).
    """

    statistic_name = ""
    _default_transformation = "r"

    def __init__(
        self,
        *,
        permutations: int = 999,
        seed: int | None = None,
        transformation: str | None = None,
    ) -> None:
        self.permutations = permutations
        self.seed = seed
        self.transformation = transformation

    def _prepare(
        self, y: object, weights: Graph | WeightsResult, report: Report, name: str | None
    ) -> tuple[np.ndarray, sparse.csr_array, str]:
        self.permutations_ = check_permutations(self.permutations)
        self.seed_ = resolve_seed(self.seed)
        graph, kind, in_area = resolve_weights(weights)
        ids = graph.unique_ids
        values, label = align_values(y, ids, name)
        mask = report_mask(report, ids, in_area)
        if not mask.any():
            raise InputError("report selects no areas; nothing to compute")
        self.n_left_out_ = int((~mask).sum())
        if not mask.all():
            graph = graph.subgraph(ids[mask])
            values = values[mask]
            if np.ptp(values) == 0:
                raise InputError(f"indicator {label!r} is constant over the reported areas")
        transformation = (self.transformation or self._default_transformation).upper()
        w = sparse.csr_array(graph.transform(transformation).sparse)
        self.indicator_ = label
        self.weights_kind_ = kind
        self.transformation_ = transformation.lower()
        self.n_ = int(values.size)
        self.n_isolates_ = int((np.diff(w.indptr) == 0).sum())
        self.codes_ = graph.unique_ids
        return values, w, label

    def fit(self, y: pd.Series | np.ndarray, weights: Graph | WeightsResult, *,
            report: Report = None) -> Self:
        """Compute the statistic of ``y`` on ``weights`` and its permutation inference.

        Parameters
        ----------
        y
            Indicator, a Series indexed by area code (non-negative for General G).
        weights
            Weights from :func:`geo.weights.build_weights` (or a Graph with the same codes).
        report
            Areas the statistic describes (default: the weights' ``in_area``, else all).

        Returns
        -------
        Self
            The fitted instance.
        """
        values, w, label = self._prepare(y, weights, report, None)
        self._compute(values, w, label)
        return self

    def _compute(self, values: np.ndarray, w: sparse.csr_array, label: str) -> None:
        """Set the fitted attributes from the aligned ``values`` and transformed ``w``."""
        raise NotImplementedError

    def _store_sim(self, observed: float, sims: np.ndarray) -> None:
        summary = simulation_summary(observed, sims)
        self.p_sim_ = summary["p_sim"]
        self.p_sim_two_sided_ = summary["p_sim_two_sided"]
        self.expected_sim_ = summary["expected_sim"]
        self.var_sim_ = summary["var_sim"]
        self.z_sim_ = summary["z_sim"]

    def _core(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Return one JSON-serialisable row for the ``stats_global`` table.

        Keys: statistic, indicator, value, expected, variance, z, p_value (two-sided,
        analytical, under the assumption named in ``inference``; one-sided folded when
        ``inference`` is ``"permutation"``), p_sim (esda folded), p_sim_two_sided, expected_sim,
        var_sim, z_sim, permutations, seed, weights_kind, transformation, n, n_isolates, plus
        statistic-specific extras, and ``p_value_sides``, ``p_sim_sides`` (which tail each
        p-value counts) and ``edge_ring`` (how the ring outside the area was treated).
        """
        if not hasattr(self, "n_"):
            raise ParameterError(f"{type(self).__name__} is not fitted; call fit() first")
        row: dict[str, Any] = {
            "statistic": self.statistic_name,
            "indicator": self.indicator_,
            **self._core(),
            "p_sim": self.p_sim_,
            "p_sim_two_sided": self.p_sim_two_sided_,
            "expected_sim": self.expected_sim_,
            "var_sim": self.var_sim_,
            "z_sim": self.z_sim_,
            "permutations": self.permutations_,
            "seed": self.seed_,
            "weights_kind": self.weights_kind_,
            "transformation": self.transformation_,
            "n": self.n_,
            "n_isolates": self.n_isolates_,
        }
        # say which tail each p-value counts, beside the value itself (issue #13)
        row["p_value_sides"] = ("one-sided (folded, permutation)"
                                if row.get("inference") == "permutation" else "two-sided")
        row["p_sim_sides"] = "one-sided (folded, esda rule)"
        row["edge_ring"] = (f"{self.n_left_out_} area(s) outside the report left out (weights cut "
                            "to the reported areas)" if self.n_left_out_ else "none")
        return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()}


class _RandomisationMoments(_GlobalStatistic):
    """A statistic with moments under normality and under randomisation (Moran's I, Geary's C).

    ``_compute`` sets ``expected_``, ``var_norm_`` and ``var_rand_``, then `_set_z`.
    """

    expected_: float
    var_norm_: float
    var_rand_: float

    def _set_z(self, value: float) -> None:
        """Set the z-scores and two-sided p-values of ``value`` under both assumptions."""
        self.z_norm_ = float((value - self.expected_) / np.sqrt(self.var_norm_))
        self.z_rand_ = float((value - self.expected_) / np.sqrt(self.var_rand_))
        self.p_norm_ = _two_sided(self.z_norm_)
        self.p_rand_ = _two_sided(self.z_rand_)

    def _randomisation_core(self, value: float) -> dict[str, Any]:
        """Return the ``to_dict`` core: inference under randomisation, normality beside it."""
        return {
            "value": value,
            "expected": self.expected_,
            "variance": self.var_rand_,
            "z": self.z_rand_,
            "p_value": self.p_rand_,
            "inference": "randomisation",
            "var_norm": self.var_norm_,
            "z_norm": self.z_norm_,
            "p_norm": self.p_norm_,
        }


class GlobalMoran(_RandomisationMoments):
    """Moran's I with analytical (normality, randomisation) and permutation inference.

    Options (``permutations``, ``seed``, ``transformation``) as in `_GlobalStatistic`; weights
    are row-standardised (``"r"``) by default.

    Attributes
    ----------
    I_ : float
        Moran's I.
    expected_ : float
        ``-1 / (n - 1)``.
    var_norm_, var_rand_ : float
        Variance of I under normality and under randomisation.
    z_norm_, z_rand_, p_norm_, p_rand_ : float
        z-scores and two-sided p-values under each assumption.
    p_sim_ : float
        Permutation pseudo p-value, esda's folded one-sided rule.
    p_sim_two_sided_ : float
        Two-sided permutation pseudo p-value.
    expected_sim_, var_sim_, z_sim_ : float
        Mean and variance of the permuted I values, and the z-score of I against them.
    """

    statistic_name = "moran_i"

    def _compute(self, values: np.ndarray, w: sparse.csr_array, label: str) -> None:
        n = values.size
        z = values - values.mean()
        z2ss = float(z @ z)
        s0, s1, s2 = _weight_sums(w)
        self.I_ = float(n / s0 * (z @ (w @ z)) / z2ss)
        self.expected_ = -1.0 / (n - 1)
        s02 = s0 * s0
        self.var_norm_ = (n * n * s1 - n * s2 + 3 * s02) / ((n - 1) * (n + 1) * s02) - (
            1.0 / (n - 1)
        ) ** 2
        kurt = (np.sum(z**4) / n) / (z2ss / n) ** 2
        a = n * ((n * n - 3 * n + 3) * s1 - n * s2 + 3 * s02)
        b = kurt * ((n * n - n) * s1 - 2 * n * s2 + 6 * s02)
        self.var_rand_ = float(
            (a - b) / ((n - 1) * (n - 2) * (n - 3) * s02) - self.expected_**2
        )
        self._set_z(self.I_)
        forms = total_randomization(w, z, permutations=self.permutations_, seed=self.seed_)
        self._store_sim(self.I_, n / s0 * forms[:, 0] / z2ss)

    def _core(self) -> dict[str, Any]:
        return self._randomisation_core(self.I_)


class GlobalGeary(_RandomisationMoments):
    """Geary's C with analytical (normality, randomisation) and permutation inference.

    ``C < 1`` means positive spatial autocorrelation. z-scores are ``(C - 1) / sd`` as in esda
    (R's ``geary.test`` reports the opposite sign).

    Options (``permutations``, ``seed``, ``transformation``) as in `_GlobalStatistic`; weights
    are row-standardised (``"r"``) by default.

    Attributes
    ----------
    C_ : float
        Geary's C.
    expected_ : float
        1.
    var_norm_, var_rand_, z_norm_, z_rand_, p_norm_, p_rand_ : float
        Variances, z-scores and two-sided p-values under normality and randomisation.
    p_sim_, p_sim_two_sided_, expected_sim_, var_sim_, z_sim_ : float
        Permutation inference (folded esda rule, and two-sided).
    """

    statistic_name = "geary_c"

    def _compute(self, values: np.ndarray, w: sparse.csr_array, label: str) -> None:
        n = values.size
        s0, s1, s2 = _weight_sums(w)
        yd = values - values.mean()
        yss = float(yd @ yd)
        den = 2.0 * yss * s0
        coo = w.tocoo()
        num = float((coo.data * (values[coo.row] - values[coo.col]) ** 2).sum())
        self.C_ = (n - 1) * num / den
        self.expected_ = 1.0
        kurt = (np.sum(yd**4) / n) / (yss / n) ** 2
        s02 = s0 * s0
        n2 = n * n
        a = (n - 1) * s1 * (n2 - 3 * n + 3 - (n - 1) * kurt)
        b = 0.25 * ((n - 1) * s2 * (n2 + 3 * n - 6 - (n2 - n + 2) * kurt))
        c = s02 * (n2 - 3 - (n - 1) ** 2 * kurt)
        self.var_rand_ = float((a - b + c) / (n * (n - 2) * (n - 3) * s02))
        self.var_norm_ = float((1 / (2 * (n + 1) * s02)) * ((2 * s1 + s2) * (n - 1) - 4 * s02))
        self._set_z(self.C_)
        # sum_ij w_ij (y_i - y_j)^2 = sum_i (r_i + c_i) y_i^2 - 2 y'Wy for a permuted y
        d = np.asarray(w.sum(axis=1)).ravel() + np.asarray(w.sum(axis=0)).ravel()
        forms = total_randomization(w, values, permutations=self.permutations_,
                                    seed=self.seed_, d=d)  # fmt: skip
        self._store_sim(self.C_, (n - 1) * (forms[:, 2] - 2.0 * forms[:, 0]) / den)

    def _core(self) -> dict[str, Any]:
        return self._randomisation_core(self.C_)


class GlobalGetisOrdG(_GlobalStatistic):
    """Getis–Ord General G on binary weights (as esda's ``G``), for non-negative indicators.

    Options (``permutations``, ``seed``, ``transformation``) as in `_GlobalStatistic`; weights
    are binary (``"b"``) by default, which the analytical moments assume.

    Attributes
    ----------
    G_ : float
        General G.
    expected_, variance_ : float
        Expectation and variance under normality (Getis and Ord 1992).
    z_norm_, p_norm_ : float
        z-score and two-sided p-value.
    p_sim_, p_sim_two_sided_, expected_sim_, var_sim_, z_sim_ : float
        Permutation inference (folded esda rule, and two-sided).
    """

    statistic_name = "getis_ord_g"
    _default_transformation = "b"

    def _compute(self, values: np.ndarray, w: sparse.csr_array, label: str) -> None:
        if (values < 0).any():
            raise InputError(
                f"General G needs a non-negative indicator; {label!r} has "
                f"{int((values < 0).sum())} negative value(s)"
            )
        n = values.size
        s0, s1, s2 = _weight_sums(w)
        den = float(values.sum() ** 2 - (values**2).sum())
        self.G_ = float((values @ (w @ values)) / den)
        self.expected_ = s0 / (n * (n - 1))
        s02 = s0 * s0
        n2 = n * n
        b0 = (n2 - 3 * n + 3) * s1 - n * s2 + 3 * s02
        b1 = -((n2 - n) * s1 - 2 * n * s2 + 6 * s02)
        b2 = -(2 * n * s1 - (n + 3) * s2 + 6 * s02)
        b3 = 4 * (n - 1) * s1 - 2 * (n + 1) * s2 + 8 * s02
        b4 = s1 - s2 + s02
        m1, m2, m3, m4 = (float(np.sum(values**k)) for k in (1, 2, 3, 4))
        eg2 = b0 * m2**2 + b1 * m4 + b2 * m1**2 * m2 + b3 * m1 * m3 + b4 * m1**4
        eg2 /= ((m1**2 - m2) ** 2) * n * (n - 1) * (n - 2) * (n - 3)
        self.variance_ = float(eg2 - self.expected_**2)
        self.z_norm_ = float((self.G_ - self.expected_) / np.sqrt(self.variance_))
        self.p_norm_ = _two_sided(self.z_norm_)
        forms = total_randomization(w, values, permutations=self.permutations_, seed=self.seed_)
        self._store_sim(self.G_, forms[:, 0] / den)

    def _core(self) -> dict[str, Any]:
        return {
            "value": self.G_,
            "expected": self.expected_,
            "variance": self.variance_,
            "z": self.z_norm_,
            "p_value": self.p_norm_,
            "inference": "normality",
        }


class BivariateMoran(_GlobalStatistic):
    """Bivariate Moran's I: ``x`` against the spatial lag of ``y`` (e.g. LE against IMD).

    ``I = zx' W zy / (n - 1)`` with both variables standardised (``ddof=1``), as esda's
    ``Moran_BV``. Inference is by permutation of ``y`` only (there is no analytical variance).

    Options (``permutations``, ``seed``, ``transformation``) as in `_GlobalStatistic`; weights
    are row-standardised (``"r"``) by default.

    Attributes
    ----------
    I_ : float
        Bivariate Moran's I.
    p_sim_, p_sim_two_sided_, expected_sim_, var_sim_, z_sim_ : float
        Permutation inference (folded esda rule, and two-sided).
    """

    statistic_name = "bivariate_moran_i"

    def fit(self, x: pd.Series | np.ndarray, y: pd.Series | np.ndarray,  # type: ignore[override]
            weights: Graph | WeightsResult, *, report: Report = None) -> Self:
        """Compute bivariate Moran's I of ``x`` against the lag of ``y``; return self.

        ``x`` (focal) and ``y`` are Series indexed by area code; ``weights`` and ``report`` as in
        `GlobalMoran.fit`.
        """
        yv, w, ylabel = self._prepare(y, weights, report, None)
        graph, _, in_area = resolve_weights(weights)
        xv, xlabel = align_values(x, graph.unique_ids, None)
        mask = report_mask(report, graph.unique_ids, in_area)
        xv = xv[mask]
        self.indicator_ = f"{xlabel} ~ lag({ylabel})"
        n = xv.size
        zx = (xv - xv.mean()) / xv.std(ddof=1)
        zy = (yv - yv.mean()) / yv.std(ddof=1)
        self.I_ = float(zx @ (w @ zy) / (n - 1))
        forms = total_randomization(w, zy, permutations=self.permutations_,
                                    seed=self.seed_, f=zx)  # fmt: skip
        self._store_sim(self.I_, forms[:, 1] / (n - 1))
        return self

    def _core(self) -> dict[str, Any]:
        return {
            "value": self.I_,
            "expected": None,
            "variance": None,
            "z": self.z_sim_,
            "p_value": self.p_sim_,
            "inference": "permutation",
        }
