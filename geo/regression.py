"""Why life expectancy differs: OLS with spatial diagnostics, spatial lag/error models, GWR.

* `OLSDiagnostics`: ``spreg.OLS`` with Moran's I of the residuals and the Lagrange multiplier
  tests (LM-lag, LM-error, their robust forms, SARMA) that guide the choice of spatial model.
* `SpatialLagModel` / `SpatialErrorModel`: maximum likelihood ``spreg.ML_Lag`` /
  ``spreg.ML_Error``; the lag model reports direct, indirect and total impacts. With
  ``method="LU"`` (large n) the same estimator runs in :mod:`geo._spatial_ml`, whose variance
  traces and impact multipliers come from one LAPACK inverse of ``I - rho W`` and O(n^2) sums
  instead of spreg's sparse inverse (``spsolve(A, I)``) and dense products.
* `LocalRegression`: geographically weighted regression (``mgwr``) with the bandwidth chosen
  by AICc (adaptive bisquare by default); multiscale GWR on request (slow).

Frames are indexed by area code; spatial weights are a `libpysal.graph.Graph` indexed by the
same codes and row-standardised here (as R ``nb2listw(style="W")``). Rows with a missing value
in y or x are left out, the graph is cut to the rows kept, and both are reported.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Sequence
from typing import Any, Self

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo._models import FittedModel, check_choice, check_confidence, numeric_column
from healthgap.geo._spatial_ml import ml_fit
from healthgap.geo._validation import require_bng, require_unique_index
from libpysal.graph import Graph
from scipy import sparse, stats
from scipy.sparse import linalg as splinalg
from statsmodels.stats.diagnostic import het_breuschpagan

from healthgap.errors import InputError, ParameterError, UnknownAreaError, preview

logger = logging.getLogger(__name__)

__all__ = [
    "LocalRegression",
    "OLSDiagnostics",
    "SpatialErrorModel",
    "SpatialLagModel",
    "likelihood_ratio",
]

_METHODS = ("full", "ord", "LU")


def _design(
    frame: pd.DataFrame, y: str, x: Sequence[str], *, name: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return the complete rows of y and x (as float) and a report of the rows left out."""
    if isinstance(frame, gpd.GeoDataFrame):
        require_bng(frame, name=name)
    elif not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name}: expected DataFrame, got {type(frame).__name__}")
    require_unique_index(frame, name=name)
    if isinstance(x, str) or not len(x):
        raise ParameterError(f"x must be a non-empty list of column names; got {x!r}")
    if y in x:
        raise ParameterError(f"the outcome {y!r} is also listed in x")
    data = pd.DataFrame({c: numeric_column(frame, c, name=name) for c in [y, *x]})
    complete = data.notna().all(axis=1)
    report = {
        "n_rows": int(len(frame)),
        "n_used": int(complete.sum()),
        "missing_codes": [str(c) for c in frame.index[~complete.to_numpy()]],
    }
    used = data[complete]
    if len(used) <= len(x) + 2:
        raise InputError(f"{name}: {len(used)} complete row(s) for {len(x)} predictor(s)")
    for c in x:
        if used[c].std() == 0:
            raise InputError(f"{name}: predictor {c!r} does not vary over the rows used")
    return used, report


def graph_to_w(graph: Graph) -> Any:
    """Return ``graph.to_W()``, built from the adjacency's arrays in one pass.

    libpysal's ``Graph.to_W`` walks a pandas groupby and asks for the isolates on every group
    (about 1.6 s at England's 6,856 MSOAs); this builds the same ``W``: neighbours and weights
    per focal area in the adjacency's order, focal areas in order of first appearance,
    isolates with empty lists, the graph's ``unique_ids`` as ``id_order``
    (`tests/geo/test_regression.py` compares the two).
    """
    from libpysal.weights import W

    adj = graph.adjacency
    focal, first = pd.factorize(adj.index.get_level_values(0))
    order = np.argsort(focal, kind="stable")
    bounds = np.searchsorted(focal[order], np.arange(len(first) + 1)).tolist()
    nbr = adj.index.get_level_values(1).to_numpy()[order].tolist()
    val = adj.to_numpy()[order].tolist()
    isolates = set(graph.isolates)
    neighbors: dict[Any, list[Any]] = {}
    weights: dict[Any, list[Any]] = {}
    for g, ix in enumerate(first.tolist()):
        lo, hi = bounds[g], bounds[g + 1]
        empty = ix in isolates
        neighbors[ix] = [] if empty else nbr[lo:hi]
        weights[ix] = [] if empty else val[lo:hi]
    return W(neighbors=neighbors, weights=weights, id_order=graph.unique_ids.tolist(),
             silence_warnings=True)


def _weights(
    graph: Graph, codes: pd.Index, report: dict[str, Any], *, transform: str
) -> tuple[Any, pd.Index, sparse.csr_matrix]:
    """Cut the graph to ``codes`` and transform it.

    Returns the libpysal W, the codes in its order, and the untransformed weights (sparse, same
    order).
    """
    if not isinstance(graph, Graph):
        raise InputError(f"graph: expected libpysal.graph.Graph, got {type(graph).__name__}")
    ids = pd.Index(graph.unique_ids)
    absent = codes.difference(ids)
    if len(absent):
        raise UnknownAreaError(
            f"graph: {len(absent)} code(s) of the frame are not in the graph: {preview(absent)}"
        )
    sub = graph.subgraph(codes) if len(ids) != len(codes) else graph
    report["n_graph_codes_not_used"] = int(len(ids) - len(codes))
    report["isolates"] = [str(c) for c in sub.isolates]
    if len(sub.isolates):
        logger.warning("spatial weights have %d isolate(s): %s", len(sub.isolates),
                       preview(sub.isolates))
    raw = sparse.csr_matrix(sub.sparse)
    w = graph_to_w(sub.transform(transform))
    if list(w.id_order) != list(sub.unique_ids):  # defensive: spreg relies on this order
        raise InputError("graph: weights order differs from the graph's codes")
    return w, pd.Index(sub.unique_ids), raw


def _eigenvalues(raw: sparse.csr_matrix, w: sparse.csr_matrix, transform: str) -> np.ndarray:
    """Eigenvalues of the transformed weights W.

    For a symmetric graph, binary W is symmetric and row-standardised W = D^-1 C is similar to
    the symmetric D^-1/2 C D^-1/2, so the fast symmetric solver applies (isolates have a zero
    row and eigenvalue 0 either way). Otherwise the general dense solver is used.
    """
    symmetric = raw.nnz == 0 or abs(raw - raw.T).max() == 0
    if symmetric:
        if transform == "b":
            sym = (raw != 0).astype(float)
        else:
            d = np.asarray(raw.sum(axis=1)).ravel()
            d[d == 0] = 1.0
            inv = sparse.diags(1.0 / np.sqrt(d))
            sym = inv @ raw @ inv
        return np.linalg.eigvalsh(sym.toarray()).astype(complex)
    return np.linalg.eigvals(w.toarray())


def _spreg_quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a spreg estimator without its stray prints and known optimiser chatter."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Method 'bounded' does not support relative tolerance",
            category=RuntimeWarning,
        )
        return fn(*args, **kwargs)


def _coef_table(names: Sequence[str], m: Any, kind: str) -> pd.DataFrame:
    """Return the coefficient table of spreg result ``m``; ``kind`` ("t" or "z"): its tests."""
    pairs = getattr(m, f"{kind}_stat")
    out = pd.DataFrame(
        {"estimate": np.ravel(m.betas), "std_error": np.ravel(m.std_err),
         kind: np.ravel(np.array([stat for stat, _ in pairs])),
         "p_value": np.ravel(np.array([p for _, p in pairs]))},
        index=pd.Index(list(names), name="variable"),
    )
    return out


class _SpatialBase(FittedModel):
    _packages = ("spreg", "libpysal", "statsmodels")

    def __init__(self, *, y: str, x: Sequence[str], transform: str = "r") -> None:
        check_choice(transform, ("r", "b"), name="transform")
        if isinstance(x, str):
            raise ParameterError(f"x must be a list of column names; got the string {x!r}")
        self.y = y
        self.x = list(x)
        self.transform = transform
        self._params: dict[str, Any] = {"y": y, "x": self.x, "transform": transform}

    def fit(self, frame: pd.DataFrame, graph: Graph) -> Self:
        """Fit the model (and its diagnostics or impacts) to ``frame`` on ``graph``.

        Parameters
        ----------
        frame
            Areas indexed by code with the y and x columns.
        graph
            Spatial weights indexed by the same codes.

        Returns
        -------
        Self
            ``self``, fitted.
        """
        yv, xv, w = self._prepare(frame, graph)
        self._fit(yv, xv, w)
        return self

    def _fit(self, yv: np.ndarray, xv: np.ndarray, w: Any) -> None:
        """Fit on the design (``yv``, ``xv``) and libpysal ``W`` that `_prepare` made."""
        raise NotImplementedError

    def _store_ml_fit(self, m: Any, spatial: str) -> float:
        """Store an ML fit's coefficients, log-likelihood, AIC and pseudo R²; return ``spatial``.

        ``spatial`` names the spatial coefficient, the last of ``m.betas``.
        """
        names = ["CONSTANT", *self.x, spatial]
        self.coefficients_ = _coef_table(names, m, "z")
        self.log_likelihood_ = float(m.logll)
        self.aic_ = float(m.aic)
        self.pseudo_r2_ = float(m.pr2)
        return float(np.ravel(m.betas)[-1])

    def _prepare(self, frame: pd.DataFrame, graph: Graph) -> tuple[np.ndarray, np.ndarray, Any]:
        used, report = _design(frame, self.y, self.x, name=f"{type(self).__name__} frame")
        w, order, raw = _weights(graph, used.index, report, transform=self.transform)
        self._raw_weights = raw
        used = used.loc[order]
        self.report_ = report
        self.codes_ = order
        yv = used[[self.y]].to_numpy()
        xv = used[self.x].to_numpy()
        return yv, xv, w


class OLSDiagnostics(_SpatialBase):
    """Ordinary least squares with spatial diagnostics (``spreg.OLS``).

    Parameters
    ----------
    y
        Outcome column (life expectancy).
    x
        Predictor columns.
    transform
        ``"r"`` row-standardised weights (default) or ``"b"`` binary.

    Attributes
    ----------
    coefficients_ : pandas.DataFrame
        ``estimate, std_error, t, p_value`` per variable (``CONSTANT`` first).
    r2_, adj_r2_, aic_, log_likelihood_, sigma2_ : float
        Fit statistics as spreg reports them (AIC without the error variance as a parameter,
        so it is 2 lower than R's ``AIC(lm)``).
    diagnostics_ : pandas.DataFrame
        ``statistic, p_value`` for ``moran_res`` (Moran's I of the residuals; p two-sided from
        the normal approximation, with its z in ``z``), ``lm_lag``, ``lm_error``,
        ``robust_lm_lag``, ``robust_lm_error``, ``lm_sarma``, ``jarque_bera``, and the
        Breusch-Pagan test on the regressors (``breusch_pagan``; ``breusch_pagan_studentized``
        is Koenker's form, R ``lmtest::bptest`` default), both from statsmodels.
    residuals_ : pandas.Series
        Residuals indexed by area code.
    report_ : dict
        Rows left out, isolates.
    """

    _results = ("coefficients_", "r2_", "adj_r2_", "aic_", "log_likelihood_", "sigma2_",
                "diagnostics_", "report_")

    def _fit(self, yv: np.ndarray, xv: np.ndarray, w: Any) -> None:
        """Fit OLS and compute the spatial diagnostics."""
        import spreg

        m = _spreg_quiet(spreg.OLS, yv, xv, w=w, spat_diag=True, moran=True,
                         name_y=self.y, name_x=self.x)
        names = ["CONSTANT", *self.x]
        self.coefficients_ = _coef_table(names, m, "t")
        self.r2_ = float(m.r2)
        self.adj_r2_ = float(m.ar2)
        self.aic_ = float(m.aic)
        self.log_likelihood_ = float(m.logll)
        self.sigma2_ = float(m.sig2)
        moran_i, moran_z, moran_p = (float(v) for v in m.moran_res)
        # heteroskedasticity against the regressors, as R lmtest::bptest (studentized by default)
        design = np.column_stack([np.ones(len(yv)), xv])
        bp = het_breuschpagan(np.ravel(m.u), design, robust=False)
        kb = het_breuschpagan(np.ravel(m.u), design, robust=True)
        rows = {
            "moran_res": (moran_i, moran_p, moran_z),
            "lm_lag": (*map(float, m.lm_lag), np.nan),
            "lm_error": (*map(float, m.lm_error), np.nan),
            "robust_lm_lag": (*map(float, m.rlm_lag), np.nan),
            "robust_lm_error": (*map(float, m.rlm_error), np.nan),
            "lm_sarma": (*map(float, m.lm_sarma), np.nan),
            "jarque_bera": (float(m.jarque_bera["jb"]), float(m.jarque_bera["pvalue"]), np.nan),
            "breusch_pagan": (float(bp[0]), float(bp[1]), np.nan),
            "breusch_pagan_studentized": (float(kb[0]), float(kb[1]), np.nan),
        }
        self.diagnostics_ = pd.DataFrame.from_dict(
            rows, orient="index", columns=["statistic", "p_value", "z"]
        )
        self.diagnostics_.index.name = "test"
        self.residuals_ = pd.Series(np.ravel(m.u), index=self.codes_, name="residual")


class SpatialLagModel(_SpatialBase):
    """Spatial lag model y = rho W y + X beta + e by maximum likelihood (``spreg.ML_Lag``).

    Impacts (LeSage & Pace 2009) with S = (I - rho W)^-1: direct = beta * tr(S)/n,
    total = beta * mean(S 1) (= beta / (1 - rho) when every row of W sums to one),
    indirect = total - direct. tr(S) is computed from the eigenvalues of W:
    sum 1 / (1 - rho lambda_i). With ``impact_draws > 0`` the impacts' standard errors and
    intervals come from draws of (beta, rho) from their asymptotic normal distribution.

    Parameters
    ----------
    y, x
        Outcome and predictor columns.
    method
        spreg log-determinant method: ``"full"`` (dense, exact), ``"ord"`` (eigenvalues) or
        ``"LU"`` (sparse, for large n; fitted by :func:`geo._spatial_ml.ml_fit`, with the impact
        multipliers tr(S)/n and mean(S 1) from the same exact inverse).
    transform
        ``"r"`` row-standardised weights (default) or ``"b"``.
    impact_draws
        Simulation draws for the impacts' intervals (0 = none).
    seed
        Seed of ``numpy.random.default_rng`` for the draws.
    confidence
        Level of the impacts' intervals.

    Attributes
    ----------
    coefficients_ : pandas.DataFrame
        ``estimate, std_error, z, p_value``; ``W_y`` is rho.
    rho_, log_likelihood_, aic_, pseudo_r2_ : float
        Spatial autoregressive coefficient and fit statistics.
    impacts_ : pandas.DataFrame
        Per predictor: ``direct, indirect, total`` (and ``*_se``, ``*_lo``, ``*_hi`` with draws).
    multipliers_ : dict
        ``direct`` (= tr(S)/n) and ``total`` (= mean(S 1)).
    report_ : dict
        Rows left out, isolates.
    """

    _results = ("coefficients_", "rho_", "log_likelihood_", "aic_", "pseudo_r2_", "impacts_",
                "multipliers_", "report_")

    def __init__(
        self,
        *,
        y: str,
        x: Sequence[str],
        method: str = "full",
        transform: str = "r",
        impact_draws: int = 0,
        seed: int | None = None,
        confidence: float = 0.95,
    ) -> None:
        super().__init__(y=y, x=x, transform=transform)
        check_choice(method, _METHODS, name="method")
        if int(impact_draws) < 0:
            raise ParameterError(f"impact_draws must be >= 0; got {impact_draws!r}")
        if impact_draws and seed is None:
            raise ParameterError("impact_draws > 0 needs a seed (an int) so results repeat")
        self.method = method
        self.impact_draws = int(impact_draws)
        self.seed = seed
        self.confidence = check_confidence(confidence)
        self._params.update({"method": method, "impact_draws": self.impact_draws, "seed": seed,
                             "confidence": self.confidence})

    def _fit(self, yv: np.ndarray, xv: np.ndarray, w: Any) -> None:
        """Fit the lag model by maximum likelihood and compute the impacts."""
        import spreg

        wmat = sparse.csr_matrix(w.sparse)
        n = wmat.shape[0]
        if self.method == "LU":
            m: Any = ml_fit("lag", yv, xv, wmat)
        else:
            m = _spreg_quiet(spreg.ML_Lag, yv, xv, w=w, method=self.method, name_y=self.y,
                             name_x=self.x, spat_impacts=None, spat_diag=False)
        self.rho_ = self._store_ml_fit(m, "W_y")
        ones = np.ones(n)
        ident = sparse.identity(n, format="csc")
        eig: np.ndarray | None = None

        def multipliers(rho: float) -> tuple[float, float]:
            nonlocal eig
            if eig is None:
                eig = _eigenvalues(self._raw_weights, wmat, self.transform)
            direct = float(np.real(np.sum(1.0 / (1.0 - rho * eig)))) / n
            total = float(np.mean(splinalg.spsolve((ident - rho * wmat).tocsc(), ones)))
            return direct, total

        if self.method == "LU":  # exact traces from the fit's sparse solves, no eigenvalues
            d_mult, t_mult = m.traces.tr_inverse / n, m.traces.mean_row_sum
        else:
            d_mult, t_mult = multipliers(self.rho_)
        self.multipliers_ = {"direct": d_mult, "total": t_mult, "indirect": t_mult - d_mult}
        beta = np.ravel(m.betas)[1:-1]
        imp = pd.DataFrame(
            {"direct": beta * d_mult, "indirect": beta * (t_mult - d_mult),
             "total": beta * t_mult},
            index=pd.Index(self.x, name="variable"),
        )
        if self.impact_draws:
            imp = imp.join(self._simulate(m, multipliers))
        self.impacts_ = imp
        self.residuals_ = pd.Series(np.ravel(m.u), index=self.codes_, name="residual")

    def _simulate(self, m: Any, multipliers: Any) -> pd.DataFrame:
        rng = np.random.default_rng(self.seed)
        theta = np.ravel(m.betas)
        vm = np.asarray(m.vm)
        k = len(self.x)
        draws = rng.multivariate_normal(theta, vm, size=self.impact_draws, method="eigh")
        out = {name: np.empty((self.impact_draws, k)) for name in ("direct", "indirect", "total")}
        for i, d in enumerate(draws):
            rho = float(d[-1])
            dm, tm = multipliers(rho)
            b = d[1:-1]
            out["direct"][i] = b * dm
            out["total"][i] = b * tm
            out["indirect"][i] = b * (tm - dm)
        alpha = 1.0 - self.confidence
        cols: dict[str, np.ndarray] = {}
        for name, arr in out.items():
            cols[f"{name}_se"] = arr.std(axis=0, ddof=1)
            cols[f"{name}_lo"] = np.quantile(arr, alpha / 2.0, axis=0)
            cols[f"{name}_hi"] = np.quantile(arr, 1.0 - alpha / 2.0, axis=0)
        return pd.DataFrame(cols, index=pd.Index(self.x, name="variable"))


class SpatialErrorModel(_SpatialBase):
    """Spatial error model y = X beta + u, u = lambda W u + e by ML (``spreg.ML_Error``).

    Parameters
    ----------
    y, x
        Outcome and predictor columns.
    method
        spreg log-determinant method: ``"full"``, ``"ord"`` or ``"LU"``.
    transform
        ``"r"`` row-standardised weights (default) or ``"b"``.

    Attributes
    ----------
    coefficients_ : pandas.DataFrame
        ``estimate, std_error, z, p_value``; ``lambda`` is the error coefficient.
    lambda_, log_likelihood_, aic_, pseudo_r2_ : float
        Spatial error coefficient and fit statistics. The AIC counts the coefficients and
        ``lambda``, as the lag model's counts ``rho`` (spreg's ``ML_Error`` leaves ``lambda``
        out; R's ``AIC(errorsarlm)`` also counts sigma², so it is 2 higher).
    report_ : dict
        Rows left out, isolates.
    """

    _results = ("coefficients_", "lambda_", "log_likelihood_", "aic_", "pseudo_r2_", "report_")

    def __init__(self, *, y: str, x: Sequence[str], method: str = "full",
                 transform: str = "r") -> None:
        super().__init__(y=y, x=x, transform=transform)
        check_choice(method, _METHODS, name="method")
        self.method = method
        self._params["method"] = method

    def _fit(self, yv: np.ndarray, xv: np.ndarray, w: Any) -> None:
        """Fit the error model by maximum likelihood."""
        import spreg

        if self.method == "LU":
            m: Any = ml_fit("error", yv, xv, w.sparse)
        else:
            m = _spreg_quiet(spreg.ML_Error, yv, xv, w=w, method=self.method, name_y=self.y,
                             name_x=self.x, spat_diag=False)
        self.lambda_ = self._store_ml_fit(m, "lambda")
        if self.method != "LU":
            # spreg's ML_Error leaves lambda out of the AIC's parameter count (its ML_Lag counts
            # rho); it is counted here as for the lag model, so the two AICs compare fairly
            self.aic_ += 2.0
        self.residuals_ = pd.Series(np.ravel(m.u), index=self.codes_, name="residual")


class LocalRegression(FittedModel):
    """Geographically weighted regression (GWR), or multiscale GWR, with ``mgwr``.

    The bandwidth is chosen by ``mgwr.sel_bw.Sel_BW`` (golden-section search on AICc by
    default) unless given. With an adaptive kernel the bandwidth is a number of nearest
    neighbours; with a fixed kernel it is a distance in metres. Coordinates are the
    population-weighted centres in EPSG:27700 metres.

    MGWR (``multiscale=True``) finds one bandwidth per variable by back-fitting; it is slow
    (minutes for a few hundred areas) and, as the mgwr authors advise, works on standardised
    variables, so its coefficients are in standard deviations of y per standard deviation of x.

    Parameters
    ----------
    y, x
        Outcome and predictor columns.
    kernel
        ``"bisquare"`` (default), ``"gaussian"`` or ``"exponential"``.
    fixed
        False for an adaptive (nearest-neighbour) bandwidth.
    criterion
        Bandwidth criterion: ``"AICc"``, ``"AIC"``, ``"BIC"`` or ``"CV"``.
    bandwidth
        Use this bandwidth instead of searching (GWR only).
    search_bounds
        (min, max) bandwidth searched (GWR only); default mgwr's own limits.
    multiscale
        Fit MGWR instead of GWR.
    standardise
        Standardise y and x before fitting; default False for GWR, True for MGWR.
    sigma2_v1
        mgwr's variance estimator: True uses RSS / (n - tr(S)); False uses the GWR4
        definition RSS / (n - 2 tr(S) + tr(S'S)).
    centre_x, centre_y
        Columns holding the coordinates.
    n_jobs
        Processes used by mgwr (1 = none).

    Attributes
    ----------
    bandwidth_ : float or dict
        Chosen bandwidth (per variable for MGWR).
    local_ : pandas.DataFrame
        Per area: ``b_<var>``, ``se_<var>``, ``t_<var>``, ``sig_<var>`` (|t| above the
        multiple-testing-corrected critical value), ``residual`` and ``local_r2`` (GWR).
    aicc_, r2_, adj_r2_ : float
        Fit statistics.
    critical_t_ : list of float
        Critical |t| per variable (da Silva & Fotheringham correction).
    report_ : dict
        Rows left out for a missing value.
    """

    _results = ("bandwidth_", "aicc_", "r2_", "adj_r2_", "critical_t_", "summary_", "report_")
    _packages = ("mgwr", "spglm")

    def __init__(
        self,
        *,
        y: str,
        x: Sequence[str],
        kernel: str = "bisquare",
        fixed: bool = False,
        criterion: str = "AICc",
        bandwidth: float | None = None,
        search_bounds: tuple[float, float] | None = None,
        multiscale: bool = False,
        standardise: bool | None = None,
        sigma2_v1: bool = True,
        centre_x: str = "pw_x",
        centre_y: str = "pw_y",
        n_jobs: int = 1,
    ) -> None:
        check_choice(kernel, ("bisquare", "gaussian", "exponential"), name="kernel")
        check_choice(criterion, ("AICc", "AIC", "BIC", "CV"), name="criterion")
        if isinstance(x, str):
            raise ParameterError(f"x must be a list of column names; got the string {x!r}")
        if bandwidth is not None and multiscale:
            raise ParameterError("bandwidth= cannot be fixed for MGWR; leave it None")
        if bandwidth is not None and not bandwidth > 0:
            raise ParameterError(f"bandwidth must be > 0; got {bandwidth!r}")
        if search_bounds is not None:
            if multiscale or len(search_bounds) != 2 or not 0 < search_bounds[0] < search_bounds[1]:
                raise ParameterError(
                    f"search_bounds must be (min, max) with 0 < min < max, GWR only; "
                    f"got {search_bounds!r}"
                )
            search_bounds = (float(search_bounds[0]), float(search_bounds[1]))
        self.y = y
        self.x = list(x)
        self.kernel = kernel
        self.fixed = bool(fixed)
        self.criterion = criterion
        self.bandwidth = bandwidth
        self.search_bounds = search_bounds
        self.multiscale = bool(multiscale)
        self.standardise = self.multiscale if standardise is None else bool(standardise)
        self.sigma2_v1 = bool(sigma2_v1)
        self.centre_x = centre_x
        self.centre_y = centre_y
        self.n_jobs = int(n_jobs)
        self._params = {
            "y": y, "x": self.x, "kernel": kernel, "fixed": self.fixed,
            "criterion": criterion, "bandwidth": bandwidth,
            "search_bounds": None if search_bounds is None else list(search_bounds),
            "multiscale": self.multiscale,
            "standardise": self.standardise, "sigma2_v1": self.sigma2_v1,
            "centre_x": centre_x, "centre_y": centre_y, "n_jobs": self.n_jobs,
        }

    def fit(self, frame: pd.DataFrame) -> LocalRegression:
        """Select the bandwidth(s) and fit the local regression.

        Parameters
        ----------
        frame
            Areas indexed by code with the y, x and coordinate columns.

        Returns
        -------
        LocalRegression
            ``self``, fitted.
        """
        from mgwr.gwr import GWR, MGWR
        from mgwr.sel_bw import Sel_BW

        name = "LocalRegression frame"
        used, report = _design(frame, self.y, self.x, name=name)
        coords = np.column_stack([
            numeric_column(frame, self.centre_x, name=name).loc[used.index],
            numeric_column(frame, self.centre_y, name=name).loc[used.index],
        ])
        if np.isnan(coords).any():
            bad = used.index[np.isnan(coords).any(axis=1)]
            raise InputError(f"{name}: no centre in {self.centre_x!r}/{self.centre_y!r} for "
                             f"{preview(bad)}")
        yv = used[[self.y]].to_numpy()
        xv = used[self.x].to_numpy()
        if self.standardise:
            yv = (yv - yv.mean(axis=0)) / yv.std(axis=0)
            xv = (xv - xv.mean(axis=0)) / xv.std(axis=0)
        names = ["CONSTANT", *self.x]
        common = {"kernel": self.kernel, "fixed": self.fixed}
        self.bandwidth_: float | dict[str, float]
        with contextlib.redirect_stdout(io.StringIO()):
            if self.multiscale:
                selector = Sel_BW(coords, yv, xv, multi=True, n_jobs=self.n_jobs, **common)
                selector.search(criterion=self.criterion)
                res = MGWR(coords, yv, xv, selector, sigma2_v1=self.sigma2_v1,
                           n_jobs=self.n_jobs, **common).fit()
                self.bandwidth_ = dict(zip(names, map(float, selector.bw[0]), strict=True))
            else:
                if self.bandwidth is None:
                    lo, hi = self.search_bounds or (None, None)
                    bw = float(Sel_BW(coords, yv, xv, n_jobs=self.n_jobs, **common).search(
                        criterion=self.criterion, bw_min=lo, bw_max=hi))
                else:
                    bw = float(self.bandwidth)
                res = GWR(coords, yv, xv, bw, sigma2_v1=self.sigma2_v1, n_jobs=self.n_jobs,
                          **common).fit()
                self.bandwidth_ = bw
        crit = np.atleast_1d(res.critical_tval())
        local: dict[str, np.ndarray] = {}
        for j, v in enumerate(names):
            local[f"b_{v}"] = res.params[:, j]
            local[f"se_{v}"] = res.bse[:, j]
            local[f"t_{v}"] = res.tvalues[:, j]
            local[f"sig_{v}"] = np.abs(res.tvalues[:, j]) > crit[j if len(crit) > 1 else 0]
        local["residual"] = np.ravel(res.resid_response)
        if not self.multiscale:
            local["local_r2"] = np.ravel(res.localR2)
        self.local_ = pd.DataFrame(local, index=used.index)
        self.aicc_ = float(res.aicc)
        self.r2_ = float(res.R2)
        self.adj_r2_ = float(res.adj_R2)
        self.critical_t_ = [float(c) for c in crit]
        self.summary_ = {
            "n": int(len(used)),
            "enp": float(res.ENP),
            "standardised": self.standardise,
            "coefficient_ranges": {
                v: [float(res.params[:, j].min()), float(res.params[:, j].max())]
                for j, v in enumerate(names)
            },
            "share_significant": {
                v: float(np.mean(self.local_[f"sig_{v}"])) for v in names
            },
        }
        self.report_ = report
        return self


def likelihood_ratio(restricted: float, unrestricted: float, df: int = 1) -> dict[str, float]:
    """Likelihood-ratio test between nested models from their log-likelihoods.

    Parameters
    ----------
    restricted
        Log-likelihood of the smaller model (e.g. OLS).
    unrestricted
        Log-likelihood of the larger model (e.g. the spatial lag model).
    df
        Number of restrictions.

    Returns
    -------
    dict
        ``statistic`` and ``p_value``.
    """
    stat = 2.0 * (unrestricted - restricted)
    return {"statistic": float(stat), "p_value": float(stats.chi2.sf(stat, df))}
