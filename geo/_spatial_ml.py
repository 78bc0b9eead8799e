"""Maximum-likelihood spatial lag and error models for large n without a dense inverse.

spreg's ``ML_Lag`` / ``ML_Error`` with ``method="LU"`` find rho (lambda) on the sparse LU
log-determinant, then build the information matrix from three traces of ``W A^-1``
(``A = I - rho W``) taken from a full inverse, ``scipy.sparse.linalg.inv(A)`` = ``spsolve(A, I)``:
at England's 6,791 MSOAs that sparse inverse (n sparse solves, building a dense result column by
column) plus two dense products dominate the whole build. Here the estimation is the same
(spreg's own concentrated log-likelihoods and the same bounded optimiser and tolerance), and the
traces come from one LAPACK inverse and O(n^2) sums over one triangle of it, with no matrix
product (`sparse_traces`):

* ``tr1 = tr(M)``, ``tr2 = tr(M M)`` and ``tr3 = tr(M' M)`` for ``M = W A^-1``;
* ``tr(A^-1)`` and ``mean(A^-1 1)``, the direct and total impact multipliers of the lag model
  (so the lag model needs no eigenvalues of W either).

Blocked sparse LU solves were tried first: exact, but SuperLU's solve with many right-hand sides
ran at about 0.15 GFLOP/s, slower than the dense inverse at n = 6,800 (2 s per 256 columns,
about 100 s in all, against 21 s CPU). Memory: three n x n float arrays at most (about 1.1 GB at
n = 6,791). Results equal spreg's to rounding (tested on Columbus and Frimley); the predicted
values ``A^-1 X b`` are solved exactly rather than by spreg's power series (``inverse_prod``), a
difference below its 1e-7 threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from scipy import sparse, stats
from scipy.optimize import minimize_scalar
from scipy.sparse import linalg as splinalg

_LN2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class Traces:
    """Exact traces of ``M = W (I - c W)^-1`` and the impact multipliers of ``(I - c W)^-1``."""

    tr1: float
    tr2: float
    tr3: float
    tr_inverse: float
    mean_row_sum: float


#: Below this |coef| the traces come from the product ``W A^-1`` (see `sparse_traces`).
_SMALL_COEF = 0.01


def sparse_traces(w: sparse.spmatrix | sparse.sparray, coef: float) -> Traces:
    """Return the traces of ``M = W A^-1`` and of ``A^-1`` (``A = I - coef W``).

    For row-standardised weights of a symmetric graph (every default of the build),
    ``A^-1 = S D`` with ``S = (D - coef C)^-1`` symmetric (`dense_inverse`), and since
    ``A^-1 = I + coef W A^-1`` the off-diagonal entries of ``M`` are ``S_ij d_j / coef``: no
    matrix product. Its diagonal ``M_ii = sum_j W_ij S_ji d_i`` is summed over the sparse
    rows (exact, no cancellation), and the traces are sums over one triangle of ``S``
    (`_symmetric_trace_sums`): ``tr(M M) = sum_ij M_ij M_ji`` and ``tr(M' M) = sum_ij M_ij^2``.
    Any other ``W``, or ``|coef| < 0.01`` (where dividing by ``coef`` would lose digits),
    forms ``M = W A^-1`` as a sparse-times-dense product. spreg reaches the same numbers
    through ``scipy.sparse.linalg.inv`` (n sparse solves) and two dense matrix products; the
    two routes agree to rounding (`tests/geo/test_regression.py`).

    Parameters
    ----------
    w
        Sparse (n, n) weights, as the model uses them (e.g. row-standardised).
    coef
        rho (lag) or lambda (error).
    """
    wm = sparse.csr_matrix(w)
    wm.sort_indices()
    d = symmetric_scaling(wm)
    if d is not None and _SMALL_COEF <= abs(coef) < 1.0:
        low = _symmetric_inverse(wm, d, coef)
        if low is not None:
            sums = _symmetric_trace_sums(low, d, wm.indptr.astype(np.int64),
                                         wm.indices.astype(np.int64), wm.data, coef)
            n = wm.shape[0]
            return Traces(tr1=float(sums[0]), tr2=float(sums[1]), tr3=float(sums[2]),
                          tr_inverse=float(sums[3]), mean_row_sum=float(sums[4] / n))
    a_inv = dense_inverse(wm, coef)
    m = np.asarray(wm @ a_inv)
    return Traces(tr1=float(np.trace(m)), tr2=float(np.einsum("ij,ji->", m, m)),
                  tr3=float(np.einsum("ij,ij->", m, m)), tr_inverse=float(np.trace(a_inv)),
                  mean_row_sum=float(a_inv.sum(axis=1).mean()))


@njit(cache=True)
def _symmetric_trace_sums(low: np.ndarray, d: np.ndarray, indptr: np.ndarray,
                          indices: np.ndarray, data: np.ndarray,
                          coef: float) -> np.ndarray:  # pragma: no cover - numba
    """``tr M, tr MM, tr M'M, tr A^-1, sum A^-1 1`` from the lower triangle of symmetric ``S``.

    ``low[i, j]`` (``i >= j``, Fortran order: walked down columns) holds ``S_ij``; ``A^-1 = S D``
    and ``M_ij = S_ij d_j / coef`` off the diagonal.
    """
    n = d.shape[0]
    out = np.zeros(5)
    rows = np.zeros(n)
    off2 = 0.0
    off3 = 0.0
    for j in range(n):
        dj = d[j]
        for i in range(j + 1, n):
            s = low[i, j]
            t = s * s
            di = d[i]
            off2 += t * (2.0 * di * dj)
            off3 += t * (di * di + dj * dj)
            rows[i] += s * dj
            rows[j] += s * di
        rows[j] += low[j, j] * dj
        out[3] += low[j, j] * dj
    c2 = coef * coef
    diag2 = 0.0
    for i in range(n):
        m = 0.0
        for jj in range(indptr[i], indptr[i + 1]):
            j = indices[jj]
            s = low[i, j] if i >= j else low[j, i]
            m += data[jj] * s * d[i]
        out[0] += m
        diag2 += m * m
    out[1] = off2 / c2 + diag2
    out[2] = off3 / c2 + diag2
    out[4] = rows.sum()
    return out


def dense_inverse(w: sparse.csr_matrix, coef: float) -> np.ndarray:
    """Return ``(I - coef W)^-1`` as a dense array, by Cholesky where ``W`` allows it.

    Row-standardised weights of a symmetric graph (contiguity, distance band: every default
    of the build) are ``W = D^-1 C`` with ``C`` symmetric and ``D`` its row sums, so
    ``D (I - coef W) = D - coef C`` is symmetric, and positive definite for ``|coef| < 1``
    (strictly diagonally dominant). Its inverse ``S`` by Cholesky (`_symmetric_inverse`,
    about n^3 flops) gives ``(I - coef W)^-1 = S D``: at n = 6,797 about 5 s against 18 s for
    the general LU inverse (about 2 n^3 flops; two threads), to the same rounding (both
    backward stable; tested against ``numpy.linalg.inv``). Any other ``W``, or a Cholesky that
    fails, takes the LU inverse.

    Parameters
    ----------
    w
        Sparse (n, n) weights.
    coef
        rho (lag) or lambda (error).
    """
    from scipy import linalg

    d = symmetric_scaling(w)
    if d is not None and abs(coef) < 1.0:
        low = _symmetric_inverse(w, d, coef)
        if low is not None:
            full = np.ascontiguousarray(low.T)  # upper triangle of the C view is filled
            _mirror_upper(full)
            full *= d[None, :]
            return full
    a = np.eye(w.shape[0]) - coef * w.toarray()
    return np.asarray(linalg.inv(a, overwrite_a=True, check_finite=False))


def _symmetric_inverse(w: sparse.csr_matrix, d: np.ndarray, coef: float) -> np.ndarray | None:
    """Return ``S = (D - coef C)^-1`` (``C = D W``) by LAPACK Cholesky, or None if not PD.

    Only the lower triangle of the returned Fortran-ordered array is filled (``potri``).
    """
    from scipy.linalg import lapack

    # D - coef C scattered into zeros (the same products as densifying D W, scaling every
    # entry and adding D, without two passes over the n x n array)
    c = sparse.csr_matrix(sparse.diags(d) @ w)
    c.sum_duplicates()
    b = np.zeros(w.shape)
    b[np.repeat(np.arange(w.shape[0]), np.diff(c.indptr)), c.indices] = c.data * -coef
    b[np.diag_indices_from(b)] += d
    # b is symmetric, so its transpose (a Fortran-ordered view, no copy) is b itself
    chol, info = lapack.dpotrf(b.T, lower=1, overwrite_a=1, clean=0)
    if info != 0:
        return None
    inv, info = lapack.dpotri(chol, lower=1, overwrite_c=1)
    return np.asarray(inv) if info == 0 else None


def symmetric_scaling(w: sparse.csr_matrix) -> np.ndarray | None:
    """Return ``d > 0`` with ``diag(d) W`` symmetric, or None if neither candidate works.

    Candidates: ``d_i = 1 / max_j w_ij`` (row-standardised binary weights: ``d`` is the number
    of neighbours) and ``d = 1`` (``W`` already symmetric). Rows without neighbours get 1.
    """
    if w.nnz and w.data.min() < 0:
        return None
    row_max = np.asarray(w.max(axis=1).toarray(), dtype=float).ravel()
    ones = np.ones(w.shape[0])
    for d in (np.divide(1.0, row_max, out=ones.copy(), where=row_max > 0), ones):
        c = sparse.csr_matrix(sparse.diags(d) @ w)
        gap = abs(c - c.T)
        scale = float(abs(c).max()) if c.nnz else 1.0
        if gap.nnz == 0 or float(gap.max()) <= 1e-12 * scale:
            return d
    return None


@njit(parallel=True, cache=True)
def _mirror_upper(a: np.ndarray) -> None:  # pragma: no cover - numba
    """Copy the upper triangle of square ``a`` onto its lower triangle, in blocks."""
    n = a.shape[0]
    blk = 64
    nb = (n + blk - 1) // blk
    for bi in prange(nb):
        i0 = bi * blk
        for bj in range(bi + 1):
            j0 = bj * blk
            for i in range(i0, min(i0 + blk, n)):
                for j in range(j0, min(j0 + blk, i)):
                    a[i, j] = a[j, i]


@dataclass
class MLFit:
    """What the model classes read from a fit (spreg's attribute names)."""

    betas: np.ndarray
    vm: np.ndarray
    u: np.ndarray
    logll: float
    aic: float
    pr2: float
    coef: float
    traces: Traces

    @property
    def std_err(self) -> np.ndarray:
        """Standard errors of the coefficients."""
        return np.sqrt(np.diag(self.vm))

    @property
    def z_stat(self) -> list[tuple[float, float]]:
        """(z, two-sided normal p) per coefficient, as spreg's ``z_stat``."""
        z = np.ravel(self.betas) / self.std_err
        return [(float(v), float(2.0 * stats.norm.sf(abs(v)))) for v in z]


def _with_constant(x: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((x.shape[0], 1)), x])


def _pr2(y: np.ndarray, predy: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(y), np.ravel(predy))[0, 1] ** 2)


def _result(y: np.ndarray, b: np.ndarray, coef: float, vm: np.ndarray, u: np.ndarray,
            res_fun: object, traces: Traces) -> MLFit:
    n = y.shape[0]
    logll = float(np.ravel(-np.asarray(res_fun) - n / 2.0 * _LN2PI - n / 2.0)[0])
    k = b.shape[0] + 1
    return MLFit(betas=np.vstack([b, [[coef]]]), vm=vm, u=u, logll=logll,
                 aic=2.0 * k - 2.0 * logll, pr2=_pr2(y, y - u), coef=coef, traces=traces)


def _lag(y: np.ndarray, xc: np.ndarray, wm: sparse.csr_matrix, ylag: np.ndarray,
         epsilon: float) -> MLFit:
    from spreg.ml_lag import lag_c_loglik_sp

    n = wm.shape[0]
    xtx = xc.T @ xc
    xtxi = np.linalg.inv(xtx)
    b0 = xtxi @ (xc.T @ y)
    b1 = xtxi @ (xc.T @ ylag)
    e0 = y - xc @ b0
    e1 = ylag - xc @ b1
    ident = sparse.identity(n, format="csr")
    res = minimize_scalar(lag_c_loglik_sp, bounds=(-1.0, 1.0), args=(n, e0, e1, ident, wm),
                          method="bounded", options={"xatol": epsilon})
    rho = float(np.ravel(res.x)[0])
    b = b0 - rho * b1
    u = e0 - rho * e1
    sig2 = float((u.T @ u).item() / n)
    a = (sparse.identity(n, format="csc") - rho * wm).tocsc()
    wpredy = wm @ splinalg.spsolve(a, xc @ b).reshape(-1, 1)
    tr = sparse_traces(wm, rho)
    k = xc.shape[1]
    v = np.zeros((k + 2, k + 2))
    v[:k, :k] = xtx / sig2
    v[:k, k] = v[k, :k] = np.ravel(xc.T @ wpredy) / sig2
    v[k, k] = tr.tr2 + tr.tr3 + float((wpredy.T @ wpredy).item()) / sig2
    v[k, k + 1] = v[k + 1, k] = tr.tr1 / sig2
    v[k + 1, k + 1] = n / (2.0 * sig2**2)
    return _result(y, b, rho, np.linalg.inv(v)[:-1, :-1], u, res.fun, tr)


def _error(y: np.ndarray, xc: np.ndarray, wm: sparse.csr_matrix, ylag: np.ndarray,
           epsilon: float) -> MLFit:
    from spreg.ml_error import err_c_loglik_sp

    n = wm.shape[0]
    xlag = wm @ xc
    ident = sparse.identity(n, format="csc")
    res = minimize_scalar(err_c_loglik_sp, bounds=(-1.0, 1.0),
                          args=(n, y, ylag, xc, xlag, ident, wm.tocsc()), method="bounded",
                          options={"xatol": epsilon})
    lam = float(np.ravel(res.x)[0])
    ys = y - lam * ylag
    xs = xc - lam * xlag
    xsxsi = np.linalg.inv(xs.T @ xs)
    b = xsxsi @ (xs.T @ ys)
    u = y - xc @ b
    e = u - lam * (wm @ u)
    sig2 = float((e.T @ e).item() / n)
    tr = sparse_traces(wm, lam)
    info = np.array([[tr.tr2 + tr.tr3, tr.tr1 / sig2], [tr.tr1 / sig2, n / (2.0 * sig2**2)]])
    k = xc.shape[1]
    vm = np.zeros((k + 1, k + 1))
    vm[:k, :k] = sig2 * xsxsi
    vm[k, k] = np.linalg.inv(info)[0, 0]
    return _result(y, b, lam, vm, u, res.fun, tr)


def ml_fit(model: str, y: np.ndarray, x: np.ndarray, w: sparse.spmatrix | sparse.sparray, *,
           epsilon: float = 1e-7) -> MLFit:
    """Spatial lag or error model by ML on the sparse LU log-determinant (spreg ``LU``).

    Parameters
    ----------
    model
        ``"lag"`` (spreg ``ML_Lag``) or ``"error"`` (spreg ``ML_Error``).
    y
        (n, 1) outcome.
    x
        (n, k) predictors without the constant (added here, first).
    w
        Sparse transformed weights.
    epsilon
        Tolerance of the bounded search for rho or lambda (spreg's default).
    """
    fit = {"lag": _lag, "error": _error}[model]
    wm = sparse.csr_matrix(w)
    y = np.asarray(y, dtype=float).reshape(-1, 1)
    xc = _with_constant(np.asarray(x, dtype=float))
    return fit(y, xc, wm, wm @ y, epsilon)
