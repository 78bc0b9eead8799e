r"""The one seeded permutation engine behind every spatial statistic (numba kernels).

Two kinds of inference live here:

* **Conditional randomisation** (local statistics, as in esda's ``crand``): for each area *i*
  the value at *i* stays put and its ``k_i`` neighbour values are replaced by ``k_i`` values
  drawn without replacement from the *other* ``n - 1`` areas. Every local statistic we compute
  is affine in at most two neighbour sums,

  .. math:: r_i = a_i + b_i \sum_j w_{ij} u_j + c_i \sum_j w_{ij} v_j,

  so a statistic plugs in by giving the per-area coefficients ``a, b, c`` and the value
  vectors ``u, v`` (see :func:`conditional_randomization`).
* **Total randomisation** (global statistics): the whole vector is permuted, and the kernel
  returns the quadratic and bilinear forms the global statistics are built from
  (see :func:`total_randomization`).

Design for speed and reproducibility
------------------------------------
One matrix of ``permutations x max_k`` ordered draws without replacement from
``range(n - 1)`` is drawn once with ``numpy.random.default_rng(seed)`` and shared by every
area, as esda does. Draw ``j`` stands for area ``j`` except that, for focal area ``i``, a draw
equal to ``i`` stands for area ``n - 1``: a bijection from ``range(n - 1)`` onto the other
areas, so the first ``k_i`` draws of a row are a uniform ordered sample of ``i``'s
non-neighbours-by-construction (every area but ``i``).

For areas whose neighbour weights are all equal (contiguity, k-nearest-neighbour and distance
band weights, binary or row-standardised) the neighbour sum of row ``p`` is ``w`` times a
prefix sum over that row, computed once for all areas; the rare rows where ``i`` itself was
drawn get an exact correction. Areas with unequal weights (kernels) are summed directly.

The outer loop runs over areas with ``numba.prange``. Each area's result depends only on the
shared draws and its own data, so the output is byte-for-byte identical for a seed whatever
the number of threads.

Ties: a simulated value within a few units of rounding of the observed one (``tol``) counts
as equal to it, so configurations that reproduce the observed neighbour set are ties, not
coin flips of floating-point summation order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from cachetools import LRUCache
from numba import njit, prange
from numba.np.random.random_methods import (
    buffered_bounded_lemire_uint32,
    gen_mask,
    random_interval,
)

from healthgap.errors import ParameterError

_TIE_RTOL = 1e-10
_GLOBAL_BATCH = 64
#: Count tails by bisection of sorted prefix sums when the areas with equal weights outnumber
#: ``SORT_FACTOR * K * log2(P)`` (K distinct neighbour counts, P permutations); see
#: `_sorted_prefix_sums`.
SORT_FACTOR = 25.0  # measured: England LSOAs (ratio 31-85) gain 1.6-2.5x, MSOAs (7-20) lose
#: Bytes of shared random draws kept for reuse (see `shared_draws`).
DRAW_CACHE_BYTES = 384 * 2**20


def check_permutations(permutations: object, name: str = "permutations") -> int:
    """Return ``permutations`` as an int, or raise if it is not a whole number >= 1.

    Parameters
    ----------
    permutations
        The value to check.
    name
        The parameter name used in the error message.
    """
    if isinstance(permutations, bool) or not isinstance(permutations, int | np.integer):
        raise ParameterError(
            f"{name} must be a whole number >= 1 (or 'auto' where offered); "
            f"got {permutations!r}"
        )
    if permutations < 1:
        raise ParameterError(f"{name} must be >= 1; got {permutations}")
    return int(permutations)


def resolve_seed(seed: int | None) -> int:
    """Return the seed to use: ``seed`` itself, or fresh OS entropy when it is None.

    The returned value is stored on every fitted statistic (``seed_``) so that a run made
    without a seed can still be repeated exactly.

    Parameters
    ----------
    seed
        A non-negative integer, or None.
    """
    if seed is None:
        entropy = np.random.SeedSequence().entropy
        return int(entropy) % (2**63) if isinstance(entropy, int) else 0
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer or None; got {seed!r}")
    return int(seed)


# ------------------------------------------------------------------------------------------
# Drawing
# ------------------------------------------------------------------------------------------


@njit(cache=True)
def _bounded(bitgen: object, hi: int) -> np.int64:  # pragma: no cover - numba
    """Draw as numpy's ``random_bounded_uint64(bitgen, 0, hi, 0, False)`` does (``hi < 2**32 - 1``).

    The draw behind ``Generator.integers`` (Lemire's rejection on 32-bit outputs), taken
    from the generator's own bit stream so that numpy and this module consume it alike.
    """
    if hi == 0:
        return np.int64(0)
    return np.int64(buffered_bounded_lemire_uint32(bitgen, hi))  # signed: no float promotion


@njit(cache=True)
def _sample_without_replacement(bitgen: object, n: int, size: int, idx: np.ndarray,
                                hash_set: np.ndarray, mask: np.int64) -> None:
    # pragma: no cover - numba
    """Write into ``idx`` what ``Generator.choice(n, size, replace=False)`` returns.

    The same algorithm on the same bit stream as numpy's: a tail shuffle of ``range(n)`` when
    ``n > 10000`` and ``size > n // 50``, otherwise Floyd's algorithm with an open-addressing
    set of ``mask + 1`` slots followed by a Fisher-Yates shuffle of the sample.
    """
    if n > 10000 and size > n // 50:
        full = np.arange(n)
        for i in range(n - 1, max(n - size, 1) - 1, -1):
            k = _bounded(bitgen, i)
            full[i], full[k] = full[k], full[i]
        idx[:] = full[n - size:]
        return
    hash_set[:] = -1
    for j in range(n - size, n):
        val = _bounded(bitgen, j)
        loc = val & mask
        while hash_set[loc] != -1 and hash_set[loc] != val:
            loc = (loc + 1) & mask
        if hash_set[loc] == -1:
            hash_set[loc] = val
            idx[j - n + size] = val
        else:  # val was drawn before: take j itself, which cannot have been
            loc = j & mask
            while hash_set[loc] != -1:
                loc = (loc + 1) & mask
            hash_set[loc] = j
            idx[j - n + size] = j
    for i in range(size - 1, 0, -1):
        k = _bounded(bitgen, i)
        idx[i], idx[k] = idx[k], idx[i]


@njit(cache=True)
def _draw_rows(rng: np.random.Generator, n_others: int, size: int,
               permutations: int) -> np.ndarray:  # pragma: no cover - numba
    """Make the draws of `draw_neighbour_samples` from its stream, in one compiled pass.

    Row values are drawn as ``rng.integers(0, n_others, (permutations, size))`` draws them;
    then each row holding a value twice (found in O(size) by stamping the row number of the
    last sighting of each value) is redrawn, in row order, as
    ``rng.choice(n_others, size, replace=False)`` draws.
    """
    bitgen = rng.bit_generator
    out = np.empty((permutations, size), dtype=np.int32)
    for p in range(permutations):
        for c in range(size):
            out[p, c] = _bounded(bitgen, n_others - 1)
    seen = np.full(n_others, -1, dtype=np.int64)
    bad = np.zeros(permutations, dtype=np.bool_)
    for p in range(permutations):
        for c in range(size):
            v = out[p, c]
            if seen[v] == p:
                bad[p] = True
                break
            seen[v] = p
    mask = np.int64(gen_mask(np.uint64(1.2 * size)))  # numpy's set size: 2**k > 1.2 size
    hash_set = np.empty(mask + 1, dtype=np.int64)
    idx = np.empty(size, dtype=np.int64)
    for p in range(permutations):
        if bad[p]:
            _sample_without_replacement(bitgen, n_others, size, idx, hash_set, mask)
            for c in range(size):
                out[p, c] = idx[c]
    return out


@njit(cache=True)
def _count_rows(rng: np.random.Generator, n: int,
                reps: int) -> np.ndarray:  # pragma: no cover - numba
    """Count, per row, the values ``rng.integers(0, n, (reps, n))`` draws (same stream)."""
    bitgen = rng.bit_generator
    out = np.zeros((reps, n))
    for r in range(reps):
        row = out[r]
        for _ in range(n):
            row[_bounded(bitgen, n - 1)] += 1.0
    return out


def resample_counts(n: int, reps: int, seed: int) -> np.ndarray:
    """How often each of ``n`` units is drawn in each of ``reps`` resamples with replacement.

    Row ``r`` counts the values of row ``r`` of ``default_rng(seed).integers(0, n, (reps,
    n))``, value for value, drawn and counted in one compiled pass: no ``reps x n`` array of
    draws is made (at England's 6,856 MSOAs and 999 resamples, numpy's draws, offsets and
    ``bincount`` filled four 55 MB arrays).

    Returns
    -------
    numpy.ndarray
        ``(reps, n)`` float counts; each row sums to ``n``.
    """
    rng = np.random.default_rng(seed)
    if n < 1 or n >= 2**32 - 1:
        picks = rng.integers(0, n, size=(reps, n))
        flat = (picks + n * np.arange(reps)[:, None]).ravel()
        return np.bincount(flat, minlength=reps * n).reshape(reps, n).astype(float)
    return _count_rows(rng, n, reps)


def draw_neighbour_samples(
    n_others: int, size: int, permutations: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``permutations`` ordered samples of ``size`` distinct integers from ``range(n_others)``.

    Rows are drawn as independent uniform integers (``rng.integers``); the rows that contain
    a repeat are redrawn as ``rng.choice(replace=False)`` draws. Both kinds of row are uniform
    over ordered samples without replacement, so the mixture is too. The draws are made in
    one compiled pass over the generator's own bit stream, by numpy's very algorithms, so
    they equal the two numpy calls value for value and leave ``rng`` in the same state
    (`tests/geo/test_permutation_engine.py` checks both against numpy).

    Parameters
    ----------
    n_others
        Size of the population (``n - 1`` for conditional randomisation).
    size
        Sample size per row (the largest neighbour count).
    permutations
        Number of rows.
    rng
        The seeded generator; consumed in a fixed order.

    Returns
    -------
    numpy.ndarray
        ``(permutations, size)`` array of int32.
    """
    if size > n_others:
        raise ParameterError(
            f"an area has {size} neighbours but only {n_others} other areas exist to draw from"
        )
    if size == 0:
        return np.zeros((permutations, 0), dtype=np.int32)
    if n_others >= 2**31 - 1:
        raise ParameterError(f"at most 2**31 - 2 areas can be drawn from; got {n_others}")
    return _draw_rows(rng, int(n_others), int(size), int(permutations))


_draws: ContextVar[LRUCache[tuple[object, ...], np.ndarray] | None] = ContextVar(
    "healthgap_shared_draws", default=None)


@contextmanager
def reusing_draws() -> Iterator[None]:
    """Within this block, statistics over the same areas share their random draws.

    The draws of a statistic depend only on the seed, the number of areas, the largest
    neighbour count and the number of permutations, never on the values tested: every
    indicator measured over the same areas with the same weights gets the same draws, so a
    build testing ten indicators draws once instead of ten times, with results identical to
    drawing afresh. The draws (at most `DRAW_CACHE_BYTES`) are kept for the block only, in
    this thread's context, and freed when it ends; outside a block nothing is kept.
    """
    token = _draws.set(LRUCache(maxsize=DRAW_CACHE_BYTES,
                                getsizeof=lambda a: max(int(a.nbytes), 1)))
    try:
        yield
    finally:
        _draws.reset(token)


def shared_draws(key: tuple[object, ...], make: Callable[[], np.ndarray]) -> np.ndarray:
    """Return the draws for ``key``: made by ``make()``, and reused inside `reusing_draws`.

    Arrays larger than half the cache are not kept. A returned array may be shared: callers
    must not write to it.

    Parameters
    ----------
    key
        Everything the draws depend on (including the seed).
    make
        Draws them when they are not cached.
    """
    cache = _draws.get()
    if cache is None:
        return make()
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = make()
    if value.nbytes <= DRAW_CACHE_BYTES // 2:
        cache[key] = value
    return value


# ------------------------------------------------------------------------------------------
# Conditional randomisation
# ------------------------------------------------------------------------------------------


@njit(parallel=True, cache=True)
def _prefix_sums(draws: np.ndarray, values: np.ndarray) -> np.ndarray:  # pragma: no cover
    """``out[k, p]`` = sum of ``values`` over the first ``k`` draws of row ``p``."""
    n_perm, size = draws.shape
    out = np.zeros((size + 1, n_perm))
    for p in prange(n_perm):
        s = 0.0
        for c in range(size):
            s += values[draws[p, c]]
            out[c + 1, p] = s
    return out


@njit(cache=True)
def _self_draw_events(draws: np.ndarray, card: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # pragma: no cover - numba
    """CSR list, per area j, of the rows p where j is among its own first card[j] draws."""
    n_perm, size = draws.shape
    n = card.shape[0]
    counts = np.zeros(n + 1, dtype=np.int64)
    for p in range(n_perm):
        for c in range(size):
            j = draws[p, c]
            if c < card[j]:
                counts[j + 1] += 1
    ptr = np.cumsum(counts)
    rows = np.empty(ptr[-1], dtype=np.int64)
    fill = ptr[:-1].copy()
    for p in range(n_perm):
        for c in range(size):
            j = draws[p, c]
            if c < card[j]:
                rows[fill[j]] = p
                fill[j] += 1
    return ptr, rows


@njit(cache=True)
def _leading(s: np.ndarray, ai: float, bw: float, bound: float, mode: int) -> int:
    # pragma: no cover - numba
    """Length of the run of ``s`` (sorted) from the start where the predicate holds.

    The predicate on ``r = ai + bw * s[p]`` (the very expression of the counting loop) is
    ``r >= bound`` (mode 0), ``not r >= bound`` (1), ``r <= bound`` (2) or ``not r <= bound``
    (3); the caller picks a mode in which it is true then false along ``s``. Floating-point
    multiplication and addition are monotone, so this is exact.
    """
    lo = 0
    hi = s.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        r = ai + bw * s[mid]
        if mode == 0:
            ok = r >= bound
        elif mode == 1:
            ok = not r >= bound
        elif mode == 2:
            ok = r <= bound
        else:
            ok = not r <= bound
        if ok:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _sorted_counts(s: np.ndarray, ai: float, bw: float, lo: float, hi: float) -> tuple[int, int]:
    # pragma: no cover - numba
    """``#{p: ai + bw s_p >= lo}`` and ``#{p: ai + bw s_p <= hi}`` by bisection of sorted ``s``."""
    n = s.shape[0]
    if bw >= 0.0:  # r rises with s
        return n - _leading(s, ai, bw, lo, 1), _leading(s, ai, bw, hi, 2)
    return _leading(s, ai, bw, lo, 0), n - _leading(s, ai, bw, hi, 3)


def _sort_rows(su: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Each row ``k`` of ``su`` with ``used[k]``, sorted (other rows left empty).

    numpy's sort releases the GIL, so rows are sorted in as many threads as numba may use
    (the batch sets that per worker); no JIT compilation (a first run pays none).
    """
    from concurrent.futures import ThreadPoolExecutor

    from numba import get_num_threads

    out = np.empty_like(su)

    def sort(k: int) -> None:
        out[k] = np.sort(su[k])

    with ThreadPoolExecutor(max_workers=max(1, get_num_threads())) as pool:
        list(pool.map(sort, np.flatnonzero(used).tolist()))
    return out


# kept whole: a flat jitted prange loop is faster than one split into helper calls
@njit(parallel=True, cache=True)
def _conditional_kernel(  # noqa: C901  # pragma: no cover - numba
    indptr: np.ndarray,
    weights: np.ndarray,
    equal: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    use_v: bool,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    observed: np.ndarray,
    tol: np.ndarray,
    draws: np.ndarray,
    su: np.ndarray,
    sv: np.ndarray,
    ev_ptr: np.ndarray,
    ev_rows: np.ndarray,
    sorted_u: np.ndarray,
    use_sorted: bool,
    mu_u: np.ndarray,
    mu_v: np.ndarray,
    m_uu: np.ndarray,
    m_vv: np.ndarray,
    m_uv: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = u.shape[0]
    n_perm = draws.shape[0]
    last = n - 1
    n_ge = np.zeros(n, dtype=np.int64)
    n_le = np.zeros(n, dtype=np.int64)
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    for i in prange(n):
        start = indptr[i]
        k = indptr[i + 1] - start
        if k == 0:
            n_ge[i] = -1
            n_le[i] = -1
            continue
        lo = observed[i] - tol[i]
        hi = observed[i] + tol[i]
        ai = a[i]
        bi = b[i]
        ci = c[i]
        ge = 0
        le = 0
        shift = 0.0
        acc = 0.0
        acc2 = 0.0
        if equal[i]:
            # r_p = a + bw S_k[p] + cw V_k[p]: count by a tight loop; moments from the
            # per-k column moments; then fix the rows where i itself was drawn
            w = weights[start]
            bw = bi * w
            cw = ci * w
            col_u = su[k]
            col_v = sv[k] if use_v else sv[0]
            if use_v:
                for p in range(n_perm):
                    r = ai + bw * col_u[p] + cw * col_v[p]
                    ge += int(r >= lo)
                    le += int(r <= hi)
            elif use_sorted:
                ge, le = _sorted_counts(sorted_u[k], ai, bw, lo, hi)
            else:
                for p in range(n_perm):
                    r = ai + bw * col_u[p]
                    ge += int(r >= lo)
                    le += int(r <= hi)
            mean0 = ai + bw * mu_u[k] + (cw * mu_v[k] if use_v else 0.0)
            var0 = bw * bw * m_uu[k]
            if use_v:
                var0 += cw * cw * m_vv[k] + 2.0 * bw * cw * m_uv[k]
            du = u[last] - u[i]
            dv = v[last] - v[i]
            delta = bw * du + (cw * dv if use_v else 0.0)
            sx = 0.0
            n_ev = ev_ptr[i + 1] - ev_ptr[i]
            for e in range(ev_ptr[i], ev_ptr[i + 1]):
                p = ev_rows[e]
                r = ai + bw * col_u[p]
                r_new = ai + bw * (col_u[p] + du)
                x = bw * (col_u[p] - mu_u[k])
                if use_v:
                    r += cw * col_v[p]
                    r_new += cw * (col_v[p] + dv)
                    x += cw * (col_v[p] - mu_v[k])
                ge += int(r_new >= lo) - int(r >= lo)
                le += int(r_new <= hi) - int(r <= hi)
                sx += x
            m_shift = n_ev * delta / n_perm
            shift = mean0 + m_shift
            var_eq = var0 + (2.0 * delta * sx + n_ev * delta * delta) / n_perm - m_shift * m_shift
            acc2 = var_eq * n_perm  # so that the common tail below gives var_eq
        else:
            for p in range(n_perm):
                s1 = 0.0
                s2 = 0.0
                for cc in range(k):
                    j = draws[p, cc]
                    if j == i:
                        j = last
                    wj = weights[start + cc]
                    s1 += wj * u[j]
                    if use_v:
                        s2 += wj * v[j]
                r = ai + bi * s1 + ci * s2
                if r >= lo:
                    ge += 1
                if r <= hi:
                    le += 1
                if p == 0:
                    shift = r
                d = r - shift
                acc += d
                acc2 += d * d
        n_ge[i] = ge
        n_le[i] = le
        m = acc / n_perm
        mean[i] = shift + m
        var = acc2 / n_perm - m * m
        std[i] = np.sqrt(var) if var > 0.0 else 0.0
    return n_ge, n_le, mean, std


@njit(cache=True)
def _column_moments(
    su: np.ndarray, sv: np.ndarray, use_v: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Per prefix length k: means of S_k and V_k and their centred second moments (/P)."""
    n_k, n_perm = su.shape
    mu_u = np.zeros(n_k)
    mu_v = np.zeros(n_k)
    m_uu = np.zeros(n_k)
    m_vv = np.zeros(n_k)
    m_uv = np.zeros(n_k)
    for k in range(n_k):
        mu_u[k] = su[k].sum() / n_perm
        if use_v:
            mu_v[k] = sv[k].sum() / n_perm
        for p in range(n_perm):
            du = su[k, p] - mu_u[k]
            m_uu[k] += du * du
            if use_v:
                dv = sv[k, p] - mu_v[k]
                m_vv[k] += dv * dv
                m_uv[k] += du * dv
        m_uu[k] /= n_perm
        m_vv[k] /= n_perm
        m_uv[k] /= n_perm
    return mu_u, mu_v, m_uu, m_vv, m_uv


@dataclass(frozen=True)
class ConditionalResult:
    """Counts and moments of a conditional randomisation, one entry per area.

    Attributes
    ----------
    n_ge, n_le
        How many simulated values were >= (<=) the observed one (ties within rounding count
        on both sides); -1 for areas with no neighbours.
    mean, std
        Mean and (population) standard deviation of the simulated values; NaN for areas
        with no neighbours.
    permutations
        Number of simulated values per area.
    """

    n_ge: np.ndarray
    n_le: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    permutations: int

    @property
    def has_neighbours(self) -> np.ndarray:
        """Boolean mask of the areas that were tested (at least one neighbour)."""
        return self.n_ge >= 0

    def p_folded(self) -> np.ndarray:
        """Return esda's pseudo p-value: the tail the observed value lies in, one-sided.

        ``(m + 1) / (P + 1)`` where ``m`` is the number of simulated values >= the observed
        one, or the number strictly below it when that is smaller (esda ``p_sim``,
        ``alternative='directed'``). NaN where there are no neighbours.
        """
        big = self.n_ge.astype(float)
        small = self.permutations - big
        m = np.minimum(big, small)
        p = (m + 1.0) / (self.permutations + 1.0)
        return np.where(self.has_neighbours, p, np.nan)

    def p_two_sided(self) -> np.ndarray:
        """Return the two-sided pseudo p-value ``min(1, 2 (min(n_ge, n_le) + 1) / (P + 1))``.

        Ties count in both tails. NaN where there are no neighbours.
        """
        m = np.minimum(self.n_ge, self.n_le).astype(float)
        p = np.minimum(1.0, 2.0 * (m + 1.0) / (self.permutations + 1.0))
        return np.where(self.has_neighbours, p, np.nan)


def conditional_randomization(
    sparse_others: object,
    *,
    u: np.ndarray,
    b: np.ndarray,
    observed: np.ndarray,
    permutations: int,
    seed: int,
    a: np.ndarray | None = None,
    v: np.ndarray | None = None,
    c: np.ndarray | None = None,
) -> ConditionalResult:
    """Run conditional randomisation for a local statistic ``r_i = a_i + b_i Σ w u + c_i Σ w v``.

    Parameters
    ----------
    sparse_others
        ``scipy.sparse`` CSR matrix of the weights *without* the diagonal (self-weights belong
        in ``a``), rows and columns in the order of ``u``.
    u
        Values whose weighted neighbour sum enters with coefficient ``b``.
    b
        Per-area coefficient of ``Σ_j w_ij u_j``.
    observed
        Observed statistic per area, computed by the caller.
    permutations
        Number of simulated values per area (>= 1).
    seed
        Seed for :func:`numpy.random.default_rng`.
    a
        Per-area constant (default 0).
    v
        Optional second value vector (e.g. squared values for local Geary).
    c
        Per-area coefficient of ``Σ_j w_ij v_j`` (required with ``v``).

    Returns
    -------
    ConditionalResult
        Counts at least as large / small as observed, and simulated mean and std per area.
    """
    from scipy import sparse

    permutations = check_permutations(permutations)
    w = sparse.csr_array(sparse_others)
    w.sort_indices()
    n = w.shape[0]
    if n < 2:
        raise ParameterError(f"conditional randomisation needs at least 2 areas; got {n}")
    u = np.ascontiguousarray(u, dtype=np.float64)
    a = np.zeros(n) if a is None else np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    use_v = v is not None
    v = np.zeros(n) if v is None else np.ascontiguousarray(v, dtype=np.float64)
    c = np.zeros(n) if c is None else np.ascontiguousarray(c, dtype=np.float64)
    observed = np.ascontiguousarray(observed, dtype=np.float64)

    indptr = w.indptr.astype(np.int64)
    data = w.data.astype(np.float64)
    card = np.diff(indptr)
    max_k = int(card.max()) if n else 0
    # rows whose neighbour weights are all equal take the prefix-sum path
    row_max = np.zeros(n)
    row_min = np.zeros(n)
    has = card > 0
    if data.size:
        row_max[has] = np.maximum.reduceat(data, indptr[:-1][has])
        row_min[has] = np.minimum.reduceat(data, indptr[:-1][has])
    equal = has & (row_max - row_min <= 1e-14 * np.abs(row_max))
    abs_sum = np.zeros(n)
    if data.size:
        abs_sum[has] = np.add.reduceat(np.abs(data), indptr[:-1][has])
    scale = (
        np.abs(a)
        + np.abs(b) * abs_sum * np.abs(u).max()
        + (np.abs(c) * abs_sum * np.abs(v).max() if use_v else 0.0)
    )
    tol = _TIE_RTOL * scale

    draws = shared_draws(
        ("conditional", n - 1, max_k, permutations, seed),
        lambda: draw_neighbour_samples(n - 1, max_k, permutations, np.random.default_rng(seed)),
    )
    if equal.any():
        su = _prefix_sums(draws, u)
        sv = _prefix_sums(draws, v) if use_v else np.zeros((1, permutations))
        ev_ptr, ev_rows = _self_draw_events(draws, np.where(equal, card, 0))
    else:
        su = sv = np.zeros((1, permutations))
        ev_ptr, ev_rows = np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    moments = _column_moments(su, sv, use_v)
    sorted_u, use_sorted = _sorted_prefix_sums(su, card, equal, use_v)
    n_ge, n_le, mean, std = _conditional_kernel(
        indptr, data, equal, u, v, use_v, a, b, c, observed, tol,
        draws, su, sv, ev_ptr, ev_rows, sorted_u, use_sorted, *moments,
    )  # fmt: skip
    return ConditionalResult(n_ge, n_le, mean, std, permutations)


def _sorted_prefix_sums(su: np.ndarray, card: np.ndarray, equal: np.ndarray,
                        use_v: bool) -> tuple[np.ndarray, bool]:
    """Sort the prefix sums when counting by bisection beats scanning every permutation.

    An equal-weight area's simulated values are an increasing (or decreasing) function of one
    row of prefix sums, ``S_k``, shared by every area with ``k`` neighbours; once that row is
    sorted, an area's two tail counts are two bisections instead of a pass over all ``P``
    permutations. Sorting costs about ``K P log2 P`` for the ``K`` distinct neighbour counts,
    scanning ``n P``: worth it for many areas and few distinct counts (England's 32,844 LSOAs),
    not for an ICB. The counts are identical either way (`_sorted_counts`).
    """
    n_perm = su.shape[1]
    used = np.zeros(su.shape[0], dtype=bool)
    used[card[equal]] = True
    n_equal = int(equal.sum())
    if use_v or n_perm < 2 or n_equal < SORT_FACTOR * used.sum() * np.log2(n_perm):
        return np.zeros((1, 0)), False
    return _sort_rows(su, used), True


# ------------------------------------------------------------------------------------------
# Total randomisation
# ------------------------------------------------------------------------------------------


@njit(parallel=True, cache=True)
def _forms_kernel(  # pragma: no cover - numba
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    x: np.ndarray,
    f: np.ndarray,
    d: np.ndarray,
    perms: np.ndarray,
) -> np.ndarray:
    n_b, n = perms.shape
    out = np.empty((n_b, 3))
    for p in prange(n_b):
        xp = np.empty(n)
        for i in range(n):
            xp[i] = x[perms[p, i]]
        quad = 0.0
        bil = 0.0
        diag = 0.0
        for i in range(n):
            lag = 0.0
            for jj in range(indptr[i], indptr[i + 1]):
                lag += data[jj] * xp[indices[jj]]
            quad += xp[i] * lag
            bil += f[i] * lag
            diag += d[i] * xp[i] * xp[i]
        out[p, 0] = quad
        out[p, 1] = bil
        out[p, 2] = diag
    return out


def total_randomization(
    sparse_w: object,
    x: np.ndarray,
    *,
    permutations: int,
    seed: int,
    f: np.ndarray | None = None,
    d: np.ndarray | None = None,
) -> np.ndarray:
    """Permute ``x`` over all areas and return the forms global statistics are built from.

    For each permutation ``x_p`` the columns are ``x_p' W x_p``, ``f' W x_p`` and
    ``Σ_i d_i x_p[i]^2``.

    Parameters
    ----------
    sparse_w
        ``scipy.sparse`` weights matrix (rows and columns in the order of ``x``).
    x
        The values to permute.
    permutations
        Number of permutations (>= 1).
    seed
        Seed for :func:`numpy.random.default_rng`.
    f
        Fixed vector of the bilinear form (default zeros).
    d
        Per-area coefficients of the squared term (default zeros).

    Returns
    -------
    numpy.ndarray
        ``(permutations, 3)`` array.
    """
    from scipy import sparse

    permutations = check_permutations(permutations)
    w = sparse.csr_array(sparse_w)
    n = w.shape[0]
    x = np.ascontiguousarray(x, dtype=np.float64)
    f = np.zeros(n) if f is None else np.ascontiguousarray(f, dtype=np.float64)
    d = np.zeros(n) if d is None else np.ascontiguousarray(d, dtype=np.float64)
    indptr = w.indptr.astype(np.int64)
    indices = w.indices.astype(np.int64)
    data = w.data.astype(np.float64)
    perms = shared_draws(("total", n, permutations, seed),
                         lambda: _permutations(n, permutations, seed))
    out = np.empty((permutations, 3))
    for start in range(0, permutations, _GLOBAL_BATCH):
        stop = min(start + _GLOBAL_BATCH, permutations)
        out[start:stop] = _forms_kernel(indptr, indices, data, x, f, d, perms[start:stop])
    return out


def _permutations(n: int, permutations: int, seed: int) -> np.ndarray:
    """``permutations`` independent shuffles of ``range(n)``, one per row (int32 or int64).

    The rows are ``rng.permuted(arange(n) broadcast to (permutations, n), axis=1)`` for
    ``rng = default_rng(seed)``, value for value: below 2**31 areas they are made by
    `_shuffled_rows`, numpy's Fisher-Yates on the same bit stream, in about half the time.
    """
    rng = np.random.default_rng(seed)
    if n < 2**31:
        return _shuffled_rows(rng, n, permutations)
    return rng.permuted(np.broadcast_to(np.arange(n, dtype=np.int64), (permutations, n)), axis=1)


@njit(cache=True)
def _shuffled_rows(rng: np.random.Generator, n: int,
                   permutations: int) -> np.ndarray:  # pragma: no cover - numba
    """Shuffle ``range(n)`` once per row as ``Generator.permuted(..., axis=1)`` does.

    numpy shuffles each row in turn from its last position down, swapping with a position
    drawn by ``random_interval`` (masked rejection on 32-bit outputs); so does this.
    """
    bitgen = rng.bit_generator
    out = np.empty((permutations, n), dtype=np.int32)
    for p in range(permutations):
        row = out[p]
        for i in range(n):
            row[i] = i
        for i in range(n - 1, 0, -1):
            j = np.int64(random_interval(bitgen, i))
            row[i], row[j] = row[j], row[i]
    return out


def simulation_summary(observed: float, sims: np.ndarray) -> dict[str, float]:
    """Summarise a global reference distribution as esda does, plus a two-sided p-value.

    Parameters
    ----------
    observed
        The observed statistic.
    sims
        The simulated statistics.

    Returns
    -------
    dict
        ``p_sim`` (folded, esda rule), ``p_sim_two_sided``, ``expected_sim``, ``var_sim``,
        ``z_sim``.
    """
    n_perm = sims.size
    scale = max(abs(observed), float(np.abs(sims).max()), 1.0)
    tol = _TIE_RTOL * scale
    n_ge = int((sims >= observed - tol).sum())
    n_le = int((sims <= observed + tol).sum())
    folded = (min(n_ge, n_perm - n_ge) + 1.0) / (n_perm + 1.0)
    two = min(1.0, 2.0 * (min(n_ge, n_le) + 1.0) / (n_perm + 1.0))
    mean = float(sims.mean())
    var = float(sims.var())
    z = (observed - mean) / np.sqrt(var) if var > 0 else float("nan")
    return {
        "p_sim": folded,
        "p_sim_two_sided": two,
        "expected_sim": mean,
        "var_sim": var,
        "z_sim": float(z),
    }
