"""Spatial block bootstrap: intervals that allow for spatial dependence.

Neighbouring MSOAs have similar life expectancy (Moran's I of male life expectancy in Frimley
0.17), so treating MSOAs as independent draws understates the sampling spread of anything
computed from them. Here the areas are cut into contiguous tiles of about equal count
(`spatial_tiles`), or grouped by a label such as the local authority, and whole tiles are drawn
with replacement (`block_resamples`); a statistic recomputed on each resample keeps the
dependence inside a tile. For the slope index of inequality (`bootstrap_sii`) the deprivation
tenths are *re-formed* in every resample, so the interval also covers where the cuts fall.

Everything is seeded with ``numpy.random.default_rng``: the same inputs and seed give the same
interval, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from healthgap.geo._permutation import resample_counts

from healthgap.errors import InputError, ParameterError

__all__ = [
    "BOOTSTRAP_REPS",
    "MIN_BLOCKS",
    "block_counts",
    "block_resamples",
    "bootstrap_slopes",
    "bootstrap_sii",
    "fast_sii",
    "n_tiles_for",
    "spatial_tiles",
    "weighted_slope",
]

BOOTSTRAP_REPS = 999
"""Resamples of a build's block-bootstrap intervals."""

MIN_BLOCKS = 8
"""Fewest blocks a block-bootstrap interval is formed from."""


def n_tiles_for(n: int) -> int:
    """Return the number of tiles for ``n`` areas: about sqrt(n), at least 8 (or n if fewer)."""
    return int(min(n, max(8, round(np.sqrt(n)))))


def spatial_tiles(x: np.ndarray, y: np.ndarray, n_tiles: int) -> np.ndarray:
    """Cut points into about ``n_tiles`` contiguous tiles of about equal count.

    Points are split into ``k = ceil(sqrt(n_tiles))`` strips of equal count by ``x``, and each
    strip into tiles of equal count by ``y`` (ties broken by position, so repeatable).

    Parameters
    ----------
    x, y
        Coordinates (EPSG:27700 metres).
    n_tiles
        Tiles wanted (at most the number of points).

    Returns
    -------
    numpy.ndarray
        Integer tile label of each point (0 .. tiles - 1).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    if n != len(y) or n == 0:
        raise InputError(f"spatial_tiles: got {n} x and {len(y)} y coordinates")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("spatial_tiles: missing or infinite coordinates")
    n_tiles = int(min(max(int(n_tiles), 1), n))
    k = int(np.ceil(np.sqrt(n_tiles)))
    per_strip = int(np.ceil(n_tiles / k))
    labels = np.empty(n, dtype=np.int64)
    order = np.lexsort((np.arange(n), y, x))
    next_label = 0
    for strip in np.array_split(order, k):
        if not len(strip):
            continue
        within = strip[np.lexsort((strip, x[strip], y[strip]))]
        for tile in np.array_split(within, min(per_strip, len(within))):
            labels[tile] = next_label
            next_label += 1
    return labels


def block_resamples(labels: np.ndarray, *, reps: int, seed: int) -> Iterator[np.ndarray]:
    """Yield ``reps`` resamples of row positions, drawing whole blocks with replacement.

    Each resample draws as many blocks as there are (uniformly, with replacement) and returns
    the positions of all their rows, a block drawn twice giving its rows twice.

    Parameters
    ----------
    labels
        Block label of each row.
    reps
        Number of resamples.
    seed
        Seed of ``numpy.random.default_rng``.
    """
    labels = np.asarray(labels)
    if int(reps) < 1:
        raise ParameterError(f"reps must be at least 1; got {reps!r}")
    codes, inverse = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inverse == b) for b in range(len(codes))]
    rng = np.random.default_rng(seed)
    for _ in range(int(reps)):
        pick = rng.integers(0, len(codes), size=len(codes))
        yield np.concatenate([members[b] for b in pick])


def block_counts(n_blocks: int, *, reps: int, seed: int) -> np.ndarray:
    """How often each of ``n_blocks`` blocks is drawn in each of ``reps`` resamples.

    Each resample draws ``n_blocks`` blocks uniformly with replacement
    (``rng.integers``, seeded ``numpy.random.default_rng``); returns a (reps, n_blocks) float
    array of counts (`geo._permutation.resample_counts`).
    """
    return resample_counts(int(n_blocks), int(reps), seed)


def fast_sii(score: np.ndarray, pop: np.ndarray, value: np.ndarray,
             n_q: int) -> tuple[float, float, float]:
    """SII, intercept and gap of population-weighted quantiles formed from the rows given.

    The same computation as `healthgap.geo.inequality.SlopeIndex` (quantiles by
    `quantile_groups`, most deprived = highest score first; the PHE weighted regression on the
    mid-point ranks), in plain numpy so a bootstrap can re-form the quantiles thousands of
    times. Ties in score keep the rows' order.

    Returns
    -------
    (float, float, float)
        Slope index, fitted value at rank 0 (most deprived end), last minus first quantile.
    """
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    w: np.ndarray = np.asarray(pop, dtype=float)[order]
    v = np.asarray(value, dtype=float)[order]
    cum = np.cumsum(w)
    total = cum[-1]
    mid = (cum - w / 2.0) / total
    q = np.minimum(np.floor(mid * n_q).astype(np.int64), n_q - 1)
    sums_p = np.bincount(q, weights=w, minlength=n_q)
    sums_v = np.bincount(q, weights=w * v, minlength=n_q)
    have = sums_p > 0
    gp: np.ndarray = sums_p[have]
    gv: np.ndarray = sums_v[have] / gp
    prop = gp / gp.sum()
    rank = np.cumsum(prop) - prop / 2.0
    rbar = float(prop @ rank)
    vbar = float(prop @ gv)
    slope = float(prop @ ((rank - rbar) * (gv - vbar)) / (prop @ (rank - rbar) ** 2))
    return slope, vbar - slope * rbar, float(gv[-1] - gv[0])


def weighted_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Return the weighted least-squares slope of ``y`` on ``x`` (with an intercept)."""
    w = np.asarray(w, dtype=float)
    xbar = float(w @ x / w.sum())
    ybar = float(w @ y / w.sum())
    sxx = float(w @ (x - xbar) ** 2)
    if sxx <= 0:
        return float("nan")
    return float(w @ ((x - xbar) * (y - ybar)) / sxx)


def _ci(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    ok = draws[np.isfinite(draws)]
    lo, hi = np.quantile(ok, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _sii_of_weights(w: np.ndarray, v: np.ndarray, n_q: int) -> tuple[np.ndarray, ...]:
    """SII, intercept and gap for each row of weights ``w`` (reps x areas, areas in score order).

    The computation of `fast_sii` with every resample at once: an area drawn k times (its
    block drawn k times) enters with k times its population, kept whole in one quantile.
    """
    reps = w.shape[0]
    cum = np.cumsum(w, axis=1)
    total = cum[:, -1:]
    mid = (cum - w / 2.0) / total
    q = np.minimum(np.floor(mid * n_q).astype(np.int64), n_q - 1)
    flat = (q + n_q * np.arange(reps)[:, None]).ravel()
    gp = np.bincount(flat, weights=w.ravel(), minlength=reps * n_q).reshape(reps, n_q)
    gv = np.bincount(flat, weights=(w * v).ravel(), minlength=reps * n_q).reshape(reps, n_q)
    have = gp > 0
    gv = np.divide(gv, gp, out=np.zeros_like(gv), where=have)
    prop = gp / gp.sum(axis=1, keepdims=True)
    rank = np.cumsum(prop, axis=1) - prop / 2.0  # an empty quantile weighs nothing
    rbar = np.sum(prop * rank, axis=1, keepdims=True)
    vbar = np.sum(prop * gv, axis=1, keepdims=True)
    slope = (np.sum(prop * (rank - rbar) * (gv - vbar), axis=1)
             / np.sum(prop * (rank - rbar) ** 2, axis=1))
    intercept = vbar[:, 0] - slope * rbar[:, 0]
    first = np.argmax(have, axis=1)
    last = n_q - 1 - np.argmax(have[:, ::-1], axis=1)
    rows = np.arange(reps)
    return slope, intercept, gv[rows, last] - gv[rows, first]


def bootstrap_sii(score: np.ndarray, pop: np.ndarray, value: np.ndarray, labels: np.ndarray,
                  *, n_q: int, reps: int = BOOTSTRAP_REPS, seed: int,
                  confidence: float = 0.95) -> dict[str, Any]:
    """Spatial block bootstrap percentile intervals of the SII, PHE RII and gap.

    In each resample whole blocks of areas (``labels``, e.g. `spatial_tiles`) are drawn with
    replacement (as many as there are); an area whose block is drawn k times counts with k
    times its population (kept whole, in one quantile). The population-weighted quantiles are
    formed again from the areas drawn and the SII refitted (`fast_sii`'s computation, every
    resample at once). The interval therefore covers the areas' sampling spread, their
    spatial dependence (within a block) and where the quantile cuts fall.

    Parameters
    ----------
    score, pop, value
        Deprivation score (high = deprived), population and life expectancy of each area.
    labels
        Block of each area.
    n_q
        Quantiles (10 or 5).
    reps, seed, confidence
        Resamples, seed of ``numpy.random.default_rng`` and interval level.

    Returns
    -------
    dict
        ``sii_lo, sii_hi, rii_lo, rii_hi, gap_lo, gap_hi, sii_se`` (the resamples' standard
        deviation), ``n_blocks``, ``reps``.
    """
    score = np.asarray(score, dtype=float)
    pop = np.asarray(pop, dtype=float)
    value = np.asarray(value, dtype=float)
    if not (len(score) == len(pop) == len(value) == len(labels)):
        raise InputError("bootstrap_sii: score, pop, value and labels differ in length")
    if not (np.isfinite(score).all() and np.isfinite(value).all() and np.isfinite(pop).all()):
        raise InputError("bootstrap_sii: missing score, population or value")
    if int(reps) < 1:
        raise ParameterError(f"reps must be at least 1; got {reps!r}")
    order = np.argsort(-score, kind="stable")
    _, block = np.unique(np.asarray(labels)[order], return_inverse=True)
    n_b = int(block.max()) + 1
    draws = block_counts(n_b, reps=int(reps), seed=seed)
    parts = []
    for start in range(0, int(reps), 100):  # at most 100 x areas weights at a time
        w = draws[start:start + 100][:, block] * pop[order]
        parts.append(np.column_stack(_sii_of_weights(w, value[order], n_q)))
    res = np.vstack(parts)
    sii, intercept, gap = res[:, 0], res[:, 1], res[:, 2]
    rii = (intercept + sii) / intercept
    out: dict[str, Any] = {}
    for name, d in (("sii", sii), ("rii", rii), ("gap", gap)):
        out[f"{name}_lo"], out[f"{name}_hi"] = _ci(d, confidence)
    out["sii_se"] = float(np.nanstd(sii, ddof=1))
    out["n_blocks"] = n_b
    out["reps"] = int(reps)
    return out


def bootstrap_slopes(x: np.ndarray, y: np.ndarray, w: np.ndarray, labels: np.ndarray, *,
                     reps: int = BOOTSTRAP_REPS, seed: int) -> np.ndarray:
    """Block-bootstrap draws of the weighted least-squares slope of ``y`` on ``x``.

    Whole blocks are drawn with replacement (as many as there are, uniformly); a block drawn
    k times counts k times. The slope is formed from the blocks' weighted sums, so each draw
    costs one pass over the blocks, not the rows.

    Parameters
    ----------
    x, y, w
        Predictor, outcome and (non-negative) weights of each row.
    labels
        Block of each row.
    reps, seed
        Resamples and the seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
        ``reps`` slopes (NaN where a resample has no spread in ``x``).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    if not (len(x) == len(y) == len(w) == len(labels)):
        raise InputError("bootstrap_slopes: x, y, w and labels differ in length")
    _, inverse = np.unique(np.asarray(labels), return_inverse=True)
    n_b = int(inverse.max()) + 1
    sums = np.column_stack([np.bincount(inverse, weights=v, minlength=n_b)
                            for v in (w, w * x, w * y, w * x * x, w * x * y)])
    counts = block_counts(n_b, reps=int(reps), seed=seed)
    tw, tx, ty, txx, txy = (counts @ sums).T
    with np.errstate(invalid="ignore", divide="ignore"):
        sxx = txx - tx * tx / tw
        out = (txy - tx * ty / tw) / sxx
    return np.asarray(np.where(sxx > 1e-12 * np.abs(txx), out, np.nan))
