"""Local spatial statistics: LISA, Getis–Ord Gi*, local Geary, bivariate LISA; cluster stability.

Every statistic is one small class (``__init__`` stores options, ``fit`` returns self, fitted
attributes end in ``_``) whose observed values follow esda's formulas exactly and whose
inference runs on the one conditional-permutation engine in :mod:`geo._permutation`.

Which p-value?
--------------
Two pseudo p-values are computed from the same ``P`` conditional permutations:

* ``p_sim_`` — esda's *folded* one-sided value: ``(m + 1) / (P + 1)`` where ``m`` counts the
  simulated values at least as large as the observed one, or those below it when that count is
  smaller (the tail the observed value lies in). This is what esda's ``p_sim`` and GeoDa report.
* ``p_sim_two_sided_`` — ``min(1, 2 (min(n_ge, n_le) + 1) / (P + 1))``: a proper two-sided test.

``p_value="folded"`` (default) or ``"two-sided"`` chooses which one the multiple-testing
correction (``correction="fdr"``, ``"bonferroni"`` or None, at level ``alpha``) and the labels
use. ``permutations="auto"`` chooses enough permutations for the correction to be able to flag
an area at all (:func:`geo.multiple_testing.min_permutations_for_fdr`), at least 999.

Gi* has its own role
--------------------
Under the same contiguity weights and the same draws, Gi* (focal area included) flags the same
areas as LISA. Hot-spot practice instead gives Gi* a *fixed distance band that includes the
area itself*: :func:`hotspot_band` (the median distance to the ``k``-th nearest area, so a
typical area's band holds about ``k`` others) gives it a neighbourhood of its own scale, and the
build uses it (binary weights, ``star=True``) while LISA keeps the contiguity weights.

Edge ring
---------
Statistics are computed over every area of the weights (the ring supplies real neighbours),
but results — every fitted Series, the number of tests corrected for, the labels — cover only
the *reported* areas: ``report=`` codes or boolean mask, by default the weights' ``in_area``
column (all areas if there is none). Areas with no neighbours are reported with NaN p-values
and the label ``"No neighbours"``, and are not counted as tests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo._permutation import (
    ConditionalResult,
    check_permutations,
    conditional_randomization,
    resolve_seed,
)
from healthgap.geo.multiple_testing import (
    CORRECTIONS,
    adjust,
    min_permutations_for_fdr,
    min_tied_for_fdr,
    smallest_pseudo_p,
)
from healthgap.geo.weights import (
    Report,
    WeightsResult,
    align_values,
    build_weights,
    report_mask,
    resolve_weights,
)
from libpysal.graph import Graph
from scipy import sparse
from scipy.spatial import cKDTree

from healthgap.errors import InputError, MissingColumnError, ParameterError

__all__ = [
    "hotspot_band",
    "BivariateLocalMoran",
    "ClusterStability",
    "LocalGeary",
    "LocalGetisOrdGStar",
    "LocalMoran",
    "cluster_stability",
]

logger = logging.getLogger(__name__)

NOT_SIGNIFICANT = "Not significant"
NO_NEIGHBOURS = "No neighbours"
TOO_FEW_NEIGHBOURS = "Fewer than two neighbours"
"""Gi* label of an area with one neighbour: its statistic would rest on two values (not
tested, never called hot or cold)."""
QUADRANT_LABELS = {1: "High-High", 2: "Low-High", 3: "Low-Low", 4: "High-Low"}
MIN_AUTO_PERMUTATIONS = 999


@dataclass
class _Spec:
    """What a statistic hands the engine: observed values and the affine coefficients."""

    observed: np.ndarray
    u: np.ndarray
    b: np.ndarray
    a: np.ndarray | None = None
    v: np.ndarray | None = None
    c: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def _split_diagonal(w: sparse.csr_array) -> tuple[sparse.csr_array, np.ndarray]:
    coo = sparse.coo_array(w)
    off = coo.row != coo.col
    others = sparse.csr_array(
        (coo.data[off], (coo.row[off], coo.col[off])), shape=w.shape
    )
    others.eliminate_zeros()
    others.sort_indices()
    return others, np.asarray(w.diagonal(), dtype=float)


def _quadrants(focal: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """Return esda's quadrant codes: 1 High-High, 2 Low-High, 3 Low-Low, 4 High-Low."""
    hi, lag_hi = focal > 0, lag > 0
    return np.select(
        [hi & lag_hi, ~hi & lag_hi, ~hi & ~lag_hi], [1, 2, 3], default=4
    ).astype(np.int64)


class _LocalStatistic:
    """Shared plumbing: options, alignment, engine call, p-values, correction, outputs."""

    statistic_name = ""
    value_attribute = ""
    _default_transformation = "r"
    _min_neighbours = 1
    """Fewest neighbours (besides the area) an area needs to be tested."""

    def __init__(
        self,
        *,
        permutations: int | Literal["auto"] = 999,
        seed: int | None = None,
        alpha: float = 0.05,
        correction: Literal["fdr", "bonferroni"] | None = "fdr",
        p_value: Literal["folded", "two-sided"] = "folded",
        transformation: str | None = None,
    ) -> None:
        self.permutations = permutations
        self.seed = seed
        self.alpha = alpha
        self.correction = correction
        self.p_value = p_value
        self.transformation = transformation

    # -- hooks -------------------------------------------------------------------------

    def _weights_matrix(self, graph: Graph) -> sparse.csr_array:
        transformation = (self.transformation or self._default_transformation).upper()
        self.transformation_ = transformation.lower()
        return sparse.csr_array(graph.transform(transformation).sparse)

    def _spec(self, values: list[np.ndarray], w: sparse.csr_array, diag: np.ndarray) -> _Spec:
        raise NotImplementedError

    def _labels(self, significant: np.ndarray, spec: _Spec, sim: ConditionalResult) -> np.ndarray:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------

    def _check_options(self) -> None:
        if self.permutations != "auto":
            check_permutations(self.permutations)
        if self.correction not in CORRECTIONS:
            raise ParameterError(
                f"correction must be 'fdr', 'bonferroni' or None; got {self.correction!r}"
            )
        if self.p_value not in ("folded", "two-sided"):
            raise ParameterError(
                f"p_value must be 'folded' or 'two-sided'; got {self.p_value!r}"
            )
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, int | float) or not (
            0 < self.alpha < 1
        ):
            raise ParameterError(f"alpha must be strictly between 0 and 1; got {self.alpha!r}")

    def _choose_permutations(self, n_tests: int) -> int:
        two_sided = self.p_value == "two-sided"
        if self.permutations == "auto":
            if self.correction is None or n_tests == 0:
                chosen = MIN_AUTO_PERMUTATIONS
                self.permutations_rule_ = f"auto: no correction, {chosen}"
            else:
                need = min_permutations_for_fdr(n_tests, self.alpha, two_sided=two_sided)
                chosen = max(MIN_AUTO_PERMUTATIONS, need)
                self.permutations_rule_ = (
                    f"auto: {self.correction} at alpha={self.alpha} over {n_tests} tests needs "
                    f">= {need}; using {chosen}"
                )
        else:
            chosen = check_permutations(self.permutations)
            self.permutations_rule_ = "given"
        threshold = self.alpha / max(n_tests, 1) if self.correction else self.alpha
        p_min = smallest_pseudo_p(chosen, two_sided=two_sided)
        self.attainable_ = p_min <= threshold
        if not self.attainable_ and n_tests:
            if self.correction == "fdr":
                tied = min_tied_for_fdr(n_tests, self.alpha, chosen, two_sided=two_sided)
                consequence = (
                    f"BH can flag areas only if at least {tied} of them reach that p-value, "
                    "so a lone cluster is missed"
                )
            else:
                consequence = "no area can be flagged"
            logger.warning(
                "%s: with %d permutations the smallest p-value is %.2g, above the strictest %s "
                "threshold %.2g for %d tests: %s; use permutations='auto'",
                self.statistic_name, chosen, p_min, self.correction, threshold, n_tests,
                consequence,
            )  # fmt: skip
        return chosen

    def fit(
        self,
        y: pd.Series | np.ndarray,
        weights: Graph | WeightsResult,
        *,
        report: Report = None,
    ) -> Self:
        """Compute the statistic of ``y`` on ``weights``.

        Parameters
        ----------
        y
            Indicator, a Series indexed by area code (all areas of the weights); Gi* needs it
            non-negative.
        weights
            Weights from :func:`geo.weights.build_weights` (or a Graph with the same codes).
        report
            Areas to report (default: the weights' ``in_area``, else all).

        Returns
        -------
        Self
            The fitted instance.
        """
        self._run([y], weights, report)
        return self

    def _run(
        self,
        ys: list[object],
        weights: Graph | WeightsResult,
        report: Report,
    ) -> None:
        self._check_options()
        self.seed_ = resolve_seed(self.seed)
        graph, kind, in_area = resolve_weights(weights)
        ids = graph.unique_ids
        aligned = [align_values(y, ids) for y in ys]
        values = [v for v, _ in aligned]
        self.indicator_ = " ~ lag(".join(name for _, name in aligned) + (
            ")" if len(aligned) > 1 else ""
        )
        mask = report_mask(report, ids, in_area)
        if not mask.any():
            raise InputError("report selects no areas; nothing to compute")
        w = self._weights_matrix(graph)
        others, diag = _split_diagonal(w)
        spec = self._spec(values, w, diag)
        card = np.diff(others.indptr)
        few = (card > 0) & (card < self._min_neighbours)
        tested = mask & (card >= self._min_neighbours)
        n_tests = int(tested.sum())
        permutations = self._choose_permutations(n_tests)
        sim = conditional_randomization(
            others, u=spec.u, b=spec.b, a=spec.a, v=spec.v, c=spec.c,
            observed=spec.observed, permutations=permutations, seed=self.seed_,
        )  # fmt: skip
        p_folded = sim.p_folded()
        p_two = sim.p_two_sided()
        p_used = p_folded if self.p_value == "folded" else p_two
        p_used = np.where(few, np.nan, p_used)  # too few neighbours: not a test
        reject, p_adj = adjust(p_used[mask], alpha=self.alpha, correction=self.correction)
        significant = np.zeros(len(ids), dtype=bool)
        significant[mask] = reject
        adjusted = np.full(len(ids), np.nan)
        adjusted[mask] = p_adj
        labels = np.asarray(self._labels(significant, spec, sim), dtype=object)
        labels[card == 0] = NO_NEIGHBOURS
        labels[few] = TOO_FEW_NEIGHBOURS
        with np.errstate(divide="ignore", invalid="ignore"):
            z_sim = (spec.observed - sim.mean) / sim.std

        codes = ids[mask]

        def series(arr: np.ndarray, name: str) -> pd.Series:
            return pd.Series(np.asarray(arr)[mask], index=codes, name=name)

        setattr(self, self.value_attribute, series(spec.observed, self.value_attribute))
        for name, arr in spec.extra.items():
            setattr(self, name, series(arr, name))
        self.p_sim_ = series(p_folded, "p_sim_")
        self.p_sim_two_sided_ = series(p_two, "p_sim_two_sided_")
        self.expected_sim_ = series(sim.mean, "expected_sim_")
        self.var_sim_ = series(sim.std**2, "var_sim_")
        self.z_sim_ = series(z_sim, "z_sim_")
        self.p_adjusted_ = series(adjusted, "p_adjusted_")
        self.significant_ = series(significant, "significant_")
        self.labels_ = series(labels.astype(str), "labels_")
        self.n_neighbours_ = series(card, "n_neighbours_")
        self.permutations_ = permutations
        self.n_tests_ = n_tests
        self.n_reported_ = int(mask.sum())
        self.weights_kind_ = kind
        self.codes_ = codes

    def to_frame(self) -> pd.DataFrame:
        """Return the per-area results (reported areas only) as one DataFrame indexed by code."""
        self._check_fitted()
        cols = [self.value_attribute, *self._extra_names(), "p_sim_", "p_sim_two_sided_",
                "expected_sim_", "var_sim_", "z_sim_", "p_adjusted_", "significant_",
                "labels_", "n_neighbours_"]  # fmt: skip
        frame = pd.concat([getattr(self, c) for c in cols], axis=1)
        frame.columns = [c.rstrip("_") for c in cols]
        frame.index.name = self.codes_.name
        return frame

    def summary(self) -> dict[str, Any]:
        """Return a JSON-serialisable summary: label counts and the inference settings."""
        self._check_fitted()
        return {
            "statistic": self.statistic_name,
            "indicator": self.indicator_,
            "labels": {str(k): int(v) for k, v in self.labels_.value_counts().items()},
            "n_reported": self.n_reported_,
            "n_tests": self.n_tests_,
            "permutations": self.permutations_,
            "permutations_rule": self.permutations_rule_,
            "correction_attainable": bool(self.attainable_),
            "seed": self.seed_,
            "alpha": float(self.alpha),
            "correction": self.correction,
            "p_value": self.p_value,
            "weights_kind": self.weights_kind_,
            "transformation": self.transformation_,
        }

    def _extra_names(self) -> list[str]:
        return []

    def _check_fitted(self) -> None:
        if not hasattr(self, "permutations_"):
            raise ParameterError(f"{type(self).__name__} is not fitted; call fit() first")


class LocalMoran(_LocalStatistic):
    """Local Moran's I (LISA) with High-High / Low-Low / High-Low / Low-High labels.

    ``I_i = (n - 1) z_i (W z)_i / Σ z²`` with ``z`` standardised (``ddof=0``), as esda's
    ``Moran_Local``.

    Parameters
    ----------
    permutations
        Conditional permutations per area (>= 1), or ``"auto"`` (enough for ``correction``).
    seed
        Seed; None draws one from OS entropy (stored as ``seed_``).
    alpha
        Significance level (FDR level for ``"fdr"``).
    correction
        ``"fdr"`` (Benjamini–Hochberg, default), ``"bonferroni"`` or None.
    p_value
        Which pseudo p-value labels use: ``"folded"`` (esda/GeoDa) or ``"two-sided"``.
    transformation
        Weights transformation (default ``"r"``).

    Attributes
    ----------
    Is_ : pandas.Series
        Local Moran's I per reported area.
    quadrant_ : pandas.Series
        esda quadrant codes (1 High-High, 2 Low-High, 3 Low-Low, 4 High-Low).
    expected_, variance_ : pandas.Series
        Expectation and variance under total randomisation (Anselin 1995; esda ``EI``, ``VI``).
    expected_cond_, variance_cond_ : pandas.Series
        The same under conditional randomisation (Sokal et al. 1998; esda ``EIc``, ``VIc``).
    p_sim_ : pandas.Series
        Folded one-sided pseudo p-value (esda ``p_sim``).
    p_sim_two_sided_ : pandas.Series
        Two-sided pseudo p-value.
    expected_sim_, var_sim_, z_sim_ : pandas.Series
        Mean and variance of the simulated values; z-score of the observed value against them.
    p_adjusted_, significant_, labels_ : pandas.Series
        Corrected p-values, significance after correction, and cluster labels.
    permutations_, seed_, n_tests_ : int
        Permutations used, seed used, number of areas tested (reported, with neighbours).
    attainable_ : bool
        Whether the smallest attainable p-value passes the strictest threshold of the
        correction (``alpha / n_tests``), i.e. whether a single significant area can be
        flagged on its own. With BH, areas can still be flagged when it is False, but only
        in numbers (see :func:`geo.multiple_testing.min_tied_for_fdr`).
    """

    statistic_name = "local_moran"
    value_attribute = "Is_"

    def _extra_names(self) -> list[str]:
        return ["quadrant_", "expected_", "variance_", "expected_cond_", "variance_cond_"]

    def _spec(self, values: list[np.ndarray], w: sparse.csr_array, diag: np.ndarray) -> _Spec:
        y = values[0]
        n = y.size
        z = (y - y.mean()) / y.std()
        scaling = (n - 1) / float(z @ z)
        lag = w @ z
        observed = scaling * z * lag
        wi = np.asarray(w.sum(axis=1)).ravel()
        wi2 = np.asarray(w.multiply(w).sum(axis=1)).ravel()
        m2 = float(z @ z) / n
        b2 = (np.sum(z**4) / n) / m2**2
        expected = -wi / (n - 1)
        variance = wi2 * (n - b2) / (n - 1)
        variance += (wi**2 - wi2) * (2 * b2 - n) / ((n - 1) * (n - 2))
        variance -= expected**2
        expected_cond = -(z**2 * wi) / ((n - 1) * m2)
        variance_cond = (
            (z / m2) ** 2 * (n / (n - 2)) * (wi2 - wi**2 / (n - 1)) * (m2 - z**2 / (n - 1))
        )
        return _Spec(
            observed=observed,
            u=z,
            b=scaling * z,
            a=scaling * diag * z * z,
            extra={
                "quadrant_": _quadrants(z, lag),
                "expected_": expected,
                "variance_": variance,
                "expected_cond_": expected_cond,
                "variance_cond_": variance_cond,
            },
        )

    def _labels(self, significant: np.ndarray, spec: _Spec, sim: ConditionalResult) -> np.ndarray:
        quad = spec.extra["quadrant_"]
        names = np.array([QUADRANT_LABELS[int(q)] for q in quad], dtype=object)
        return np.where(significant, names, NOT_SIGNIFICANT)


class BivariateLocalMoran(LocalMoran):
    """Bivariate LISA: ``x`` at each area against the spatial lag of ``y`` around it.

    ``I_i = (n - 1) zx_i (W zy)_i / Σ zx²`` with both variables standardised (``ddof=0``), as
    esda's ``Moran_Local_BV``; ``x_i`` is held fixed and the neighbours' ``y`` values are
    permuted. Labels: High-High = high ``x`` among high ``y``, etc. Parameters and attributes
    are those of :class:`LocalMoran` (there are no analytical moments).
    """

    statistic_name = "bivariate_local_moran"

    def fit(self, x: pd.Series | np.ndarray, y: pd.Series | np.ndarray,  # type: ignore[override]
            weights: Graph | WeightsResult, *, report: Report = None) -> Self:
        """Compute bivariate local Moran's I of ``x`` against the lag of ``y``; return self.

        ``x`` (focal) and ``y`` are Series indexed by area code; ``weights`` and ``report`` as in
        `LocalMoran.fit`.
        """
        self._run([x, y], weights, report)
        return self

    def _extra_names(self) -> list[str]:
        return ["quadrant_"]

    def _spec(self, values: list[np.ndarray], w: sparse.csr_array, diag: np.ndarray) -> _Spec:
        x, y = values
        n = x.size
        zx = (x - x.mean()) / x.std()
        zy = (y - y.mean()) / y.std()
        scaling = (n - 1) / float(zx @ zx)
        lag = w @ zy
        return _Spec(
            observed=scaling * zx * lag,
            u=zy,
            b=scaling * zx,
            a=scaling * diag * zx * zy,
            extra={"quadrant_": _quadrants(zx, lag)},
        )


class LocalGetisOrdGStar(_LocalStatistic):
    """Getis–Ord Gi* hot and cold spots.

    ``Gi*_i = Σ_j w_ij y_j / Σ_j y_j`` with the area itself included (self-weight 1 on the
    binary structure of the weights, then ``transformation``), as esda's
    ``G_Local(star=True)``. Kernel weight values are not used: Gi* is defined on the binary
    neighbourhood. The indicator must be non-negative.

    Parameters
    ----------
    permutations, seed, alpha, correction, p_value
        As for :class:`LocalMoran`.
    transformation
        ``"b"`` (binary, default; the analytical z assumes it) or ``"r"``.

    Attributes
    ----------
    Gs_ : pandas.Series
        Gi* per reported area.
    expected_, variance_, z_ : pandas.Series
        Analytical expectation, variance and z-score (esda ``EGs``, ``VGs``, ``Zs``).
    p_norm_ : pandas.Series
        Two-sided normal p-value of ``z_`` (esda's ``p_norm`` is one-sided: half of this).
    p_sim_, p_sim_two_sided_, expected_sim_, var_sim_, z_sim_, p_adjusted_, significant_
        As for :class:`LocalMoran`.
    labels_ : pandas.Series
        ``"Hot spot"`` / ``"Cold spot"`` (significant, above / below the simulated mean),
        ``"Not significant"``, ``"No neighbours"``, ``"Fewer than two neighbours"`` (one
        neighbour: Gi* would rest on two values, so the area is not tested, not counted in
        the multiple-testing correction and never called hot or cold).
    """

    statistic_name = "local_getis_ord_g_star"
    value_attribute = "Gs_"
    _default_transformation = "b"
    _min_neighbours = 2

    def _extra_names(self) -> list[str]:
        return ["expected_", "variance_", "z_", "p_norm_"]

    def _weights_matrix(self, graph: Graph) -> sparse.csr_array:
        transformation = (self.transformation or self._default_transformation).upper()
        if transformation not in ("B", "R"):
            raise ParameterError(f"Gi* transformation must be 'b' or 'r'; got {transformation!r}")
        self.transformation_ = transformation.lower()
        star = graph.transform("B").assign_self_weight(1).transform(transformation)
        return sparse.csr_array(star.sparse)

    def _spec(self, values: list[np.ndarray], w: sparse.csr_array, diag: np.ndarray) -> _Spec:
        y = values[0]
        if (y < 0).any():
            raise InputError(
                f"Gi* needs a non-negative indicator; {self.indicator_!r} has "
                f"{int((y < 0).sum())} negative value(s)"
            )
        n = y.size
        total = float(y.sum())
        observed = (w @ y) / total
        mean = total / n
        variance_y = float((y**2).sum()) / n - mean**2
        card = np.asarray(w.sum(axis=1)).ravel()
        expected = card / n
        variance = card * (n - card) / (n - 1) / n**2 * variance_y / mean**2
        z = (observed - expected) / np.sqrt(variance)
        from scipy.stats import norm

        return _Spec(
            observed=observed,
            u=y,
            b=np.full(n, 1.0 / total),
            a=diag * y / total,
            extra={
                "expected_": expected,
                "variance_": variance,
                "z_": z,
                "p_norm_": 2.0 * norm.sf(np.abs(z)),
            },
        )

    def _labels(self, significant: np.ndarray, spec: _Spec, sim: ConditionalResult) -> np.ndarray:
        hot = spec.observed > sim.mean
        return np.where(significant, np.where(hot, "Hot spot", "Cold spot"), NOT_SIGNIFICANT)


class LocalGeary(_LocalStatistic):
    """Local Geary's c, ``c_i = Σ_j w_ij (z_i - z_j)²`` on standardised values (esda).

    Small values mean an area is like its neighbours. Labels follow GeoDa's local Geary
    cluster map: significant areas with ``c_i`` below the simulated mean are positive
    association — ``"High-High"`` (value and neighbours' mean above average), ``"Low-Low"``, or
    ``"Other positive"`` — and those above it are ``"Negative"``.

    Parameters
    ----------
    permutations, seed, alpha, correction, p_value, transformation
        As for :class:`LocalMoran`.

    Attributes
    ----------
    C_ : pandas.Series
        Local Geary's c per reported area.
    p_sim_, p_sim_two_sided_, expected_sim_, var_sim_, z_sim_, p_adjusted_, significant_
        As for :class:`LocalMoran`.
    labels_ : pandas.Series
        GeoDa-style labels (see above).
    """

    statistic_name = "local_geary"
    value_attribute = "C_"

    def _spec(self, values: list[np.ndarray], w: sparse.csr_array, diag: np.ndarray) -> _Spec:
        y = values[0]
        z = (y - y.mean()) / y.std()
        coo = sparse.coo_array(w)
        off = coo.row != coo.col
        observed = np.bincount(
            coo.row[off], weights=coo.data[off] * (z[coo.row[off]] - z[coo.col[off]]) ** 2,
            minlength=z.size,
        )  # fmt: skip
        w_others = np.asarray(w.sum(axis=1)).ravel() - diag
        self._z, self._lag = z, w @ z
        # Σ_j w_ij (z_i - z_j)^2 = z_i^2 Σ_j w_ij - 2 z_i Σ_j w_ij z_j + Σ_j w_ij z_j^2
        return _Spec(observed=observed, u=z, b=-2.0 * z, a=z * z * w_others, v=z * z,
                     c=np.ones(z.size))  # fmt: skip

    def _labels(self, significant: np.ndarray, spec: _Spec, sim: ConditionalResult) -> np.ndarray:
        z, lag = self._z, self._lag
        positive = spec.observed < sim.mean
        kind = np.select(
            [(z > 0) & (lag > 0), (z < 0) & (lag < 0)], ["High-High", "Low-Low"], "Other positive"
        )
        label = np.where(positive, kind, "Negative")
        return np.where(significant, label, NOT_SIGNIFICANT)


# ------------------------------------------------------------------------------------------
# Cluster stability across weights
# ------------------------------------------------------------------------------------------


@dataclass
class ClusterStability:
    """How much LISA labels depend on the choice of weights.

    Attributes
    ----------
    labels
        One column of LISA labels per weights kind, indexed by reported area code.
    stable
        True where the label is the same under every kind.
    share_stable
        Share of reported areas whose label is the same under every kind.
    share_stable_flagged
        Among areas given a cluster label under at least one kind, the share whose label is
        the same under every kind.
    weights
        ``WeightsResult.summary()`` per kind.
    settings
        Permutations, seed, alpha, correction and p-value used.
    """

    labels: pd.DataFrame
    stable: pd.Series
    share_stable: float
    share_stable_flagged: float
    weights: dict[str, dict[str, Any]]
    settings: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """Return a JSON-serialisable summary (shares, settings, per-kind label counts)."""
        return {
            "share_stable": self.share_stable,
            "share_stable_flagged": self.share_stable_flagged,
            "n_areas": int(len(self.stable)),
            "label_counts": {
                kind: {str(k): int(v) for k, v in self.labels[kind].value_counts().items()}
                for kind in self.labels.columns
            },
            "weights": self.weights,
            "settings": self.settings,
        }


def cluster_stability(
    gdf: gpd.GeoDataFrame,
    y: pd.Series | str,
    *,
    kinds: Iterable[str] = ("queen", "knn", "distance_band"),
    permutations: int | Literal["auto"] = 999,
    seed: int = 0,
    alpha: float = 0.05,
    correction: Literal["fdr", "bonferroni"] | None = "fdr",
    p_value: Literal["folded", "two-sided"] = "folded",
    weights_options: Mapping[str, Mapping[str, Any]] | None = None,
    report: Report = None,
    prebuilt: Mapping[str, tuple[WeightsResult, LocalMoran | None]] | None = None,
) -> ClusterStability:
    """Run LISA under several weights and measure how often an area keeps its label.

    Parameters
    ----------
    gdf
        Area frame (EPSG:27700, indexed by code; ``in_area`` is honoured).
    y
        Indicator: a Series indexed by code, or the name of a column of ``gdf``.
    kinds
        Weights kinds to compare (see :func:`geo.weights.build_weights`).
    permutations, seed, alpha, correction, p_value
        Passed to :class:`LocalMoran` (the same seed for every kind).
    weights_options
        Extra :func:`~geo.weights.build_weights` keywords per kind, e.g.
        ``{"distance_band": {"threshold": 2000}}``.
    report
        Areas to report (default: ``in_area`` if present, else all).
    prebuilt
        Per kind, weights the caller already built over ``gdf`` (and, when not None, the
        LISA it already fitted on them with the same ``y`` and settings), used instead of
        building (fitting) them again.

    Returns
    -------
    ClusterStability
        Per-area labels per kind, stability flags and shares.
    """
    kinds = list(kinds)
    if len(kinds) < 2:
        raise ParameterError(f"cluster_stability needs at least two weights kinds; got {kinds}")
    if len(set(kinds)) != len(kinds):
        raise ParameterError(f"kinds must not repeat; got {kinds}")
    if isinstance(y, str):
        if y not in gdf.columns:
            found = ", ".join(map(str, gdf.columns))
            raise MissingColumnError(f"column {y!r} not in the area frame; columns are {found}")
        y = gdf[y]
    options = dict(weights_options or {})
    unknown = set(options) - set(kinds)
    if unknown:
        raise ParameterError(f"weights_options given for kinds not compared: {sorted(unknown)}")
    columns: dict[str, pd.Series] = {}
    summaries: dict[str, dict[str, Any]] = {}
    given = dict(prebuilt or {})
    for kind in kinds:
        wr, lisa = given.get(kind, (None, None))
        if wr is None:
            wr = build_weights(gdf, kind=kind, **dict(options.get(kind, {})))  # type: ignore[arg-type]
        if lisa is None:
            lisa = LocalMoran(
                permutations=permutations, seed=seed, alpha=alpha, correction=correction,
                p_value=p_value,
            ).fit(y, wr, report=report)  # fmt: skip
        columns[kind] = lisa.labels_
        summaries[kind] = {**wr.summary(), "lisa": lisa.summary()}
    labels = pd.DataFrame(columns)
    stable = labels.nunique(axis=1).eq(1).rename("stable")
    flagged = labels.isin(list(QUADRANT_LABELS.values())).any(axis=1)
    share_flagged = float(stable[flagged].mean()) if flagged.any() else float("nan")
    return ClusterStability(
        labels=labels,
        stable=stable,
        share_stable=float(stable.mean()),
        share_stable_flagged=share_flagged,
        weights=summaries,
        settings={
            "permutations": permutations,
            "seed": seed,
            "alpha": alpha,
            "correction": correction,
            "p_value": p_value,
        },
    )


def hotspot_band(frame: pd.DataFrame, *, k: int = 8) -> float:
    """Return the distance band (m) of the Gi* hot-spot weights: median distance to the k-th area.

    A fixed band, as hot-spot analysis uses, wide enough that the typical area has about ``k``
    neighbours besides itself (ArcGIS's optimised hot-spot analysis aims at eight). Distances
    are between the points `geo.weights.build_weights` uses for distance bands: ``pw_x``/``pw_y``
    when present, else polygon centroids. Areas further from everything than the band are
    joined to their nearest area by `build_weights` and reported as islands.

    Parameters
    ----------
    frame
        Areas in EPSG:27700 metres.
    k
        Typical number of neighbours, >= 1.
    """
    if int(k) < 1:
        raise ParameterError(f"k must be >= 1; got {k!r}")
    if {"pw_x", "pw_y"} <= set(frame.columns):
        xy = frame[["pw_x", "pw_y"]].to_numpy(dtype=float)
    elif isinstance(frame, gpd.GeoDataFrame):
        cent = frame.geometry.centroid
        xy = np.column_stack([cent.x.to_numpy(), cent.y.to_numpy()])
    else:
        raise MissingColumnError("hotspot_band: no pw_x/pw_y columns and no geometry")
    if not np.isfinite(xy).all():
        raise InputError(f"hotspot_band: {int((~np.isfinite(xy).all(axis=1)).sum())} area(s) "
                         "have no centre")
    kk = min(int(k), len(xy) - 1)
    if kk < 1:
        raise InputError("hotspot_band needs at least two areas")
    dist, _ = cKDTree(xy).query(xy, k=kk + 1)
    return float(np.median(dist[:, kk]))
