"""Distance decay of life-expectancy differences over every pair of areas, without selection.

The old headline transect ran between the two extreme MSOAs: choosing the endpoints by their
values guarantees a slope (shuffling the same values over the same places gave one as large
26% of the time). `PairwiseDecay` uses every pair of areas whose centres lie within a band of
distances instead: the absolute difference in life expectancy is regressed on the distance
between the centres (ordinary least squares over the pairs), and the slope says how many years
further apart two areas are, on average, for every extra mile between them. Its p-value comes
from shuffling the values over the fixed locations (the same pairs and distances each time);
its interval from a spatial block bootstrap of the areas (`healthgap.geo.bootstrap`).
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from healthgap.geo._models import MILE_KM, FittedModel, centres, numeric_column

from healthgap.errors import InputError, ParameterError

__all__ = ["PairwiseDecay", "pair_slope"]


def pair_slope(values: np.ndarray, i: np.ndarray, j: np.ndarray, dist_km: np.ndarray) -> float:
    """Return the least-squares slope of ``|values[i] - values[j]|`` on ``dist_km`` (per km)."""
    y = np.abs(values[i] - values[j])
    x = dist_km - dist_km.mean()
    return float(x @ (y - y.mean()) / (x @ x))


class PairwiseDecay(FittedModel):
    """How life-expectancy differences grow with distance, over every pair within a band.

    Parameters
    ----------
    value
        Column holding life expectancy.
    band_km
        Largest distance between centres (km) of a pair used; 16.09 km = 10 miles.
    permutations
        Shuffles of the values over the fixed locations for the p-value (one-sided: a slope at
        least as large).
    reps
        Block-bootstrap resamples for the slope's 95% interval.
    seed
        Seed of ``numpy.random.default_rng``.
    in_area
        Optional boolean column: only areas inside the study area are used.
    centre_x, centre_y
        Population-weighted centres (EPSG:27700 metres).

    Attributes
    ----------
    result_ : dict
        ``n_areas, n_pairs, band_km, slope_per_km, slope_per_mile, slope_per_mile_lo,
        slope_per_mile_hi, p_value, permutations, mean_abs_diff, intercept`` (the mean
        difference extrapolated to distance 0: what noise and small-scale variation give)
        and the verdict (``verdict``, ``verdict_sentence``, ``rule``;
        `healthgap.geo.verdicts.decay_verdict`).
    """

    _results = ("result_",)

    def __init__(self, *, value: str = "le", band_km: float = 10 * MILE_KM,
                 permutations: int = 999, reps: int = 499, seed: int,
                 in_area: str | None = "in_area", centre_x: str = "pw_x",
                 centre_y: str = "pw_y") -> None:
        if not band_km > 0:
            raise ParameterError(f"band_km must be > 0; got {band_km!r}")
        if int(permutations) < 99:
            raise ParameterError(f"permutations must be at least 99; got {permutations!r}")
        if int(reps) < 99:
            raise ParameterError(f"reps must be at least 99; got {reps!r}")
        self.value, self.band_km = value, float(band_km)
        self.permutations, self.reps, self.seed = int(permutations), int(reps), seed
        self.in_area, self.centre_x, self.centre_y = in_area, centre_x, centre_y

    def fit(self, frame: pd.DataFrame) -> Self:
        """Estimate the slope, its permutation p-value and its block-bootstrap interval.

        Parameters
        ----------
        frame
            Areas indexed by code: the value, the centres and (when present) ``in_area``,
            which leaves out the edge ring; areas with no value are left out.

        Returns
        -------
        Self
            ``self``, with ``result_``.
        """
        from healthgap.geo.bootstrap import block_resamples, n_tiles_for, spatial_tiles
        from healthgap.geo.verdicts import decay_verdict

        name = "PairwiseDecay frame"
        if self.in_area is not None and self.in_area in frame.columns:
            frame = frame[frame[self.in_area].fillna(False).astype(bool)]
        v_all = numeric_column(frame, self.value, name=name)
        frame = frame[v_all.notna()]
        xy = centres(frame, self.centre_x, self.centre_y, name=name)
        v = numeric_column(frame, self.value, name=name).to_numpy(dtype=float)
        i, j = np.triu_indices(len(v), k=1)
        d = np.hypot(*(xy[i] - xy[j]).T) / 1000.0
        keep = (d <= self.band_km) & (d > 0)
        i, j, d = i[keep], j[keep], d[keep]
        if len(i) < 10 or np.ptp(d) <= 0:
            raise InputError(f"{name}: only {len(i)} pairs within {self.band_km:.1f} km; "
                             "need at least 10 at different distances")
        slope = pair_slope(v, i, j, d)
        rng = np.random.default_rng(self.seed)
        perm = np.array([pair_slope(rng.permutation(v), i, j, d)
                         for _ in range(self.permutations)])
        p = (1.0 + float(np.sum(perm >= slope - 1e-12))) / (1.0 + self.permutations)
        tiles = spatial_tiles(xy[:, 0], xy[:, 1], n_tiles_for(len(v)))
        boot = []
        for idx in block_resamples(tiles, reps=self.reps, seed=self.seed):
            a, b = np.triu_indices(len(idx), k=1)
            a, b = idx[a], idx[b]
            dd = np.hypot(*(xy[a] - xy[b]).T) / 1000.0
            ok = (a != b) & (dd <= self.band_km) & (dd > 0)  # a repeated area is no pair
            if ok.sum() >= 10:
                boot.append(pair_slope(v, a[ok], b[ok], dd[ok]))
        lo, hi = np.quantile(np.asarray(boot) * MILE_KM, [0.025, 0.975])
        y = np.abs(v[i] - v[j])
        verdict = decay_verdict(slope * MILE_KM, float(lo), float(hi), p)
        self.result_: dict[str, Any] = {
            "value": self.value, "n_areas": int(len(v)), "n_pairs": int(len(i)),
            "band_km": self.band_km, "slope_per_km": slope, "slope_per_mile": slope * MILE_KM,
            "slope_per_mile_lo": float(lo), "slope_per_mile_hi": float(hi), "p_value": p,
            "permutations": self.permutations, "bootstrap_reps": len(boot),
            "mean_abs_diff": float(y.mean()),
            "intercept": float(y.mean() - slope * d.mean()),
            "verdict": verdict.word, "verdict_sentence": verdict.sentence, "rule": verdict.rule,
        }
        return self
