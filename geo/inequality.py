"""How unequal life expectancy is: SII/RII, the decile gap, Theil/MLD and Shapley R².

* `SlopeIndex`: slope and relative index of inequality across deprivation quantiles, following
  the PHE/OHID method (Low & Low 2004 regression with a square-root-of-population transform,
  Monte Carlo confidence intervals), plus the gap between the most and least deprived quantile.
* `TheilDecomposition`: population-weighted Theil T and mean log deviation across
  neighbourhoods, split exactly into between-system, between-place-within-system and
  within-place parts.
* `ShapleyR2`: Shapley decomposition of a regression R² over groups of predictors, shown beside
  the County Health Rankings reference split.

Missing life expectancy (suppressed values) is never filled; rows are left out and reported.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from healthgap.geo._models import (
    FittedModel,
    check_choice,
    check_confidence,
    group_positions,
    numeric_column,
    variance_from_ci,
)
from healthgap.geo._validation import require_columns, require_unique_index
from healthgap.geo.bootstrap import MIN_BLOCKS as BOOTSTRAP_MIN_BLOCKS
from healthgap.geo.columns import sex_word

from healthgap.errors import InputError, ParameterError, preview

logger = logging.getLogger(__name__)

__all__ = [
    "CHR_REFERENCE",
    "SII_MIN_AREAS",
    "SIITables",
    "ShapleyR2",
    "SlopeIndex",
    "TheilDecomposition",
    "quantile_groups",
    "quantiles_for",
    "sii_table",
]

CHR_REFERENCE: dict[str, float] = {
    "socioeconomic": 40.0,
    "behaviours": 30.0,
    "clinical_care": 20.0,
    "built_environment": 10.0,
}
"""County Health Rankings model weights (%) of the factors behind health outcomes."""


# --------------------------------------------------------------------------- quantiles


def quantile_groups(score: pd.Series, population: pd.Series, *, n: int = 10,
                    high_is_deprived: bool = True) -> pd.Series:
    """Assign population-weighted quantiles of deprivation, 1 = most deprived.

    Areas are sorted from most to least deprived and cut where the cumulative population
    crosses k/n of the total; an area belongs to the quantile containing the mid-point of its
    population. Ties in score are broken by area code so the result is repeatable.

    Parameters
    ----------
    score
        Deprivation score (or rank) indexed by area code.
    population
        Population indexed by the same codes.
    n
        Number of quantiles (10 = deciles, 5 = quintiles).
    high_is_deprived
        True when a higher score means more deprived (IMD score); False for IMD rank.

    Returns
    -------
    pandas.Series
        Integer quantile (1 .. n) indexed like ``score``.
    """
    if int(n) < 2:
        raise ParameterError(f"n must be at least 2; got {n!r}")
    frame = pd.DataFrame({"score": score, "population": population})
    bad = frame.index[frame.isna().any(axis=1)]
    if len(bad):
        raise InputError(f"quantile_groups: missing score or population for {preview(bad)}")
    if (frame["population"] < 0).any():
        raise InputError("quantile_groups: negative population")
    codes = frame.index.astype(str).to_numpy()
    if frame.index.is_unique:  # the order is then fully determined: one lexsort gives it
        s = frame["score"].to_numpy(dtype=float)
        order = np.lexsort((codes, -s if high_is_deprived else s))
    else:  # repeated codes: pandas' stable two-key sort decides between equal rows
        order = frame.assign(_code=codes).reset_index(drop=True).sort_values(
            ["score", "_code"], ascending=[not high_is_deprived, True], kind="mergesort").index
    pop, index = frame["population"].to_numpy()[order], frame.index[order]
    mid = (np.cumsum(pop) - pop / 2.0) / pop.sum()
    q = np.minimum(np.floor(mid * n).astype(int) + 1, n)
    return pd.Series(q, index=index, name="quantile").reindex(score.index)


# --------------------------------------------------------------------------- SII / RII


class SlopeIndex(FittedModel):
    """Slope index of inequality (SII), relative index (RII) and the quantile gap.

    PHE/OHID method (PHEindicatormethods ``phe_sii``; Low & Low 2004): each quantile's value is
    placed at the population-weighted mid-point of its cumulative rank (0 = most deprived end,
    1 = least deprived end) and the values are regressed on the rank with the square-root-of-
    population transform, i.e. ``value*sqrt(pop) ~ 0 + sqrt(pop) + rank*sqrt(pop)``
    (equivalent to weighted least squares with population weights). The SII is the slope:
    positive = years more life expectancy at the least deprived end than at the most deprived.
    Confidence limits come from ``repetitions`` draws of every quantile's value from
    Normal(value, se), refitted each time (seeded ``numpy.random.default_rng``).

    ``rii`` is PHE's relative index (PHEindicatormethods ``phe_sii`` with ``rii=TRUE``): the
    ratio of the fitted values at the two extremes, fitted(rank 1) / fitted(rank 0) =
    (intercept + SII) / intercept: the least deprived end's value over the most deprived end's.
    The other form in the literature, SII / population-weighted mean (Kunst & Mackenbach), is
    kept under the explicit name ``sii_over_mean``.

    When the rows are areas (e.g. MSOAs) rather than quantiles, the quantile value is the
    population-weighted mean of its areas' values (an approximation: life expectancy is not
    additive, the published decile figures are computed from deaths and populations). Its
    standard error comes from the areas' intervals (``lci``/``uci`` or ``se``) when given.
    Otherwise it comes from the spread of the areas' values around their quantile means,
    *pooled over all quantiles*: s^2 = sum_q sum_i (x_i - m_q)^2 / (n - Q) with m_q the
    quantile's population-weighted mean, and
    se_q = s * sqrt(sum_i w_i^2) / sum_i w_i for population weights w. Pooling assumes the
    between-area variance is the same in every quantile; it never rests on the 2-4 areas of one
    quantile, so a quantile whose areas happen to share a value (Frimley has one) does not get
    a standard error of zero. ``se_method="within"`` keeps the per-quantile spread (a quantile
    with a zero spread is then an error).

    Parameters
    ----------
    value
        Column holding life expectancy (or any indicator where high is good).
    population
        Column holding population (the weights).
    quantile
        Column holding the deprivation quantile, 1 = most deprived. Rows may be one per
        quantile or several areas per quantile.
    score
        Alternatively, a deprivation score column from which population-weighted quantiles are
        formed with `quantile_groups`.
    n_quantiles
        Number of quantiles formed from ``score``.
    high_is_deprived
        Direction of ``score``.
    se, lci, uci
        Standard error, or the 95 % interval, of each row's value (optional).
    se_method
        Standard error of a quantile built from areas without intervals: ``"pooled"``
        (default) or ``"within"`` (see above).
    confidence
        Level of the simulated intervals.
    repetitions
        Monte Carlo draws (PHE default 100,000).
    seed
        Seed of ``numpy.random.default_rng``.

    Attributes
    ----------
    groups_ : pandas.DataFrame
        Per quantile: ``population, value, se, n_areas, n_missing, rank``.
    sii_, sii_ci_ : float, tuple of float
        Slope index (years) and its interval.
    rii_, rii_ci_ : float, tuple of float
        PHE relative index (fitted value at the least deprived end / at the most deprived end)
        and its interval.
    sii_over_mean_, sii_over_mean_ci_ : float, tuple of float
        SII / population-weighted mean and its interval.
    intercept_ : float
        Fitted value at rank 0 (most deprived end).
    mean_ : float
        Population-weighted mean of the quantile values.
    gap_, gap_ci_ : float, tuple of float
        Least deprived minus most deprived quantile value, and its interval.
    report_ : dict
        Rows left out for a missing value and the quantiles present.
    """

    _results = ("sii_", "sii_ci_", "rii_", "rii_ci_", "sii_over_mean_", "sii_over_mean_ci_",
                "intercept_", "mean_", "gap_", "gap_ci_", "groups_", "report_")

    def __init__(
        self,
        *,
        value: str = "le",
        population: str = "population",
        quantile: str | None = None,
        score: str | None = None,
        n_quantiles: int = 10,
        high_is_deprived: bool = True,
        se: str | None = None,
        lci: str | None = None,
        uci: str | None = None,
        se_method: str = "pooled",
        confidence: float = 0.95,
        repetitions: int = 100_000,
        seed: int | None = None,
    ) -> None:
        if (quantile is None) == (score is None):
            raise ParameterError("give exactly one of quantile= (a column) or score= (a column)")
        if se is not None and (lci is not None or uci is not None):
            raise ParameterError("give either se= or lci=/uci=, not both")
        if (lci is None) != (uci is None):
            raise ParameterError("lci= and uci= must be given together")
        if int(repetitions) < 1000:
            raise ParameterError(f"repetitions must be at least 1000; got {repetitions!r}")
        if seed is None:
            raise ParameterError("seed must be an int so the simulated intervals can be repeated")
        check_choice(se_method, ("pooled", "within"), name="se_method")
        self.se_method = se_method
        self.value = value
        self.population = population
        self.quantile = quantile
        self.score = score
        self.n_quantiles = int(n_quantiles)
        self.high_is_deprived = bool(high_is_deprived)
        self.se = se
        self.lci = lci
        self.uci = uci
        self.confidence = check_confidence(confidence)
        self.repetitions = int(repetitions)
        self.seed = seed

    def _groups(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, object]]:
        name = "SlopeIndex frame"
        value = numeric_column(frame, self.value, name=name)
        pop = numeric_column(frame, self.population, name=name)
        if pop.isna().any() or (pop < 0).any():
            bad = pop.index[pop.isna() | (pop < 0)]
            raise InputError(f"{name}: missing or negative {self.population!r} for {preview(bad)}")
        if self.quantile is not None:
            require_columns(frame, [self.quantile], name=name)
            q = frame[self.quantile]
            if q.isna().any():
                raise InputError(
                    f"{name}: missing {self.quantile!r} for {preview(q.index[q.isna()])}"
                )
        else:
            score = numeric_column(frame, str(self.score), name=name)
            q = quantile_groups(score, pop, n=self.n_quantiles,
                                high_is_deprived=self.high_is_deprived)
        if self.se is not None:
            var = numeric_column(frame, self.se, name=name) ** 2
        elif self.lci is not None and self.uci is not None:
            var = variance_from_ci(numeric_column(frame, self.lci, name=name),
                                   numeric_column(frame, self.uci, name=name))
        else:
            var = None
        data = pd.DataFrame({"q": q, "value": value, "pop": pop})
        data["var"] = var if var is not None else np.nan
        missing = data["value"].isna() | (data["var"].isna() if var is not None else False)
        report: dict[str, object] = {
            "n_rows": int(len(data)),
            "n_missing": int(missing.sum()),
            "missing_codes": [str(c) for c in data.index[missing]],
            "population_missing": float(data.loc[missing, "pop"].sum()),
        }
        used = data[~missing]
        pooled_sd = self._pooled_sd(used) if var is None and self.se_method == "pooled" else None
        rows = []
        miss = data.loc[missing, "q"].value_counts().to_dict() if bool(missing.any()) else {}
        pop_a, value_a, var_a = (used[c].to_numpy() for c in ("pop", "value", "var"))
        for label, at in group_positions(used["q"]):  # rows in frame order, as groupby's
            w, x = pop_a[at], value_a[at]
            total = w.sum()
            if total <= 0:
                raise InputError(f"{name}: quantile {label!r} has zero population")
            mean = float(np.sum(w * x) / total)
            if var is not None:
                se = float(np.sqrt(np.sum(w**2 * var_a[at])) / total)
            elif pooled_sd is not None:
                se = float(pooled_sd * np.sqrt(np.sum(w**2)) / total)
            else:
                se = self._within_se(label, w, x, mean, total)
            rows.append({"quantile": label, "population": float(total), "value": mean,
                         "se": se, "n_areas": int(len(at)),
                         "n_missing": int(miss.get(label, 0))})
        groups = pd.DataFrame(rows).set_index("quantile")
        if len(groups) < 3:
            raise InputError(f"{name}: only {len(groups)} quantile(s) with data; at least 3")
        report["quantiles_present"] = [str(v) for v in groups.index]
        return groups, report

    @staticmethod
    def _pooled_sd(used: pd.DataFrame) -> float:
        """Return the areas' standard deviation around their quantile means, pooled."""
        wsum = (used["value"] * used["pop"]).groupby(used["q"]).transform("sum")
        dev = used["value"] - wsum / used.groupby("q")["pop"].transform("sum")
        df = len(used) - used["q"].nunique()
        if df < 1:
            raise InputError(
                "SlopeIndex frame: every quantile has a single area and no interval; give "
                "se= or lci=/uci= so the sampling error is known"
            )
        sd = float(np.sqrt(np.sum(dev.to_numpy() ** 2) / df))
        if sd <= 0:
            raise InputError("SlopeIndex frame: every area equals its quantile's mean; the "
                             "spread between areas is zero, so no interval can be formed")
        return sd

    @staticmethod
    def _within_se(label: object, w: np.ndarray, x: np.ndarray, mean: float,
                   total: float) -> float:
        """Return the standard error of one quantile's mean from its own areas' spread."""
        m = len(x)
        se = (float(np.sqrt(np.sum(w**2 * (x - mean) ** 2) * m / (m - 1)) / total)
              if m > 1 else 0.0)
        if se <= 0:
            raise InputError(
                f"SlopeIndex frame: quantile {label!r} has {m} area(s) with no spread between "
                "them and no interval; use se_method='pooled' or give se= or lci=/uci="
            )
        return se

    def fit(self, frame: pd.DataFrame) -> SlopeIndex:
        """Aggregate to quantiles, fit the SII and simulate its interval.

        Parameters
        ----------
        frame
            One row per area or per quantile.

        Returns
        -------
        SlopeIndex
            ``self``, fitted.
        """
        groups, report = self._groups(frame)
        pop = groups["population"].to_numpy()
        prop = pop / pop.sum()
        rank = np.cumsum(prop) - prop / 2.0
        groups["rank"] = rank
        sqrt_a = np.sqrt(pop)
        design = np.column_stack([sqrt_a, rank * sqrt_a])
        # least-squares operator: coefficients = op @ (value * sqrt(pop))
        op = np.linalg.solve(design.T @ design, design.T)
        values = groups["value"].to_numpy()
        se = groups["se"].to_numpy()
        intercept, sii = op @ (values * sqrt_a)
        mean = float(np.sum(prop * values))

        rng = np.random.default_rng(self.seed)
        draws = values + se * rng.standard_normal((self.repetitions, len(values)))
        coefs = (draws * sqrt_a) @ op.T
        sim_int, sim_sii = coefs[:, 0], coefs[:, 1]
        sim_mean = draws @ prop
        alpha = 1.0 - self.confidence

        def ci(x: np.ndarray) -> tuple[float, float]:
            lo, hi = np.quantile(x, [alpha / 2.0, 1.0 - alpha / 2.0])
            return float(lo), float(hi)

        self.groups_ = groups
        self.intercept_ = float(intercept)
        self.sii_ = float(sii)
        self.sii_ci_ = ci(sim_sii)
        self.mean_ = mean
        self.rii_ = float((intercept + sii) / intercept)
        self.rii_ci_ = ci((sim_int + sim_sii) / sim_int)
        self.sii_over_mean_ = float(sii / mean)
        self.sii_over_mean_ci_ = ci(sim_sii / sim_mean)
        self.gap_ = float(values[-1] - values[0])
        self.gap_ci_ = ci(draws[:, -1] - draws[:, 0])
        self.report_ = report
        return self


SII_MIN_AREAS: dict[int, int] = {10: 40, 5: 15}
"""Fewest areas for deciles (10) and quintiles (5): on average four and three areas per group."""

SII_REPETITIONS = 20_000
"""Monte Carlo draws of the build's SII intervals."""


def quantiles_for(n_areas: int) -> int:
    """Return the number of deprivation quantiles an SII over ``n_areas`` areas uses (0 = none).

    Deciles from `SII_MIN_AREAS` [10] areas, quintiles from `SII_MIN_AREAS` [5], else none.
    """
    for n_q, least in sorted(SII_MIN_AREAS.items(), reverse=True):
        if n_areas >= least:
            return n_q
    return 0


@dataclass
class SIITables:
    """Result of `sii_table`: one row per (level, code, sex), the quantile points, and notes."""

    table: pd.DataFrame
    groups: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _sii_method(si: SlopeIndex, n_q: int, boot: dict[str, object] | None) -> str:
    se = {"pooled": "pooled between-area spread", "within": "within-quantile spread"}
    how = "area intervals" if si.lci or si.se else se[si.se_method]
    text = (f"SII: population-weighted regression of {n_q} IMD quantiles of areas on their "
            "mid-point rank (the regression of PHE's phe_sii, here on areas' values, not "
            "PHE's life tables); ")
    if boot is not None:
        text += (f"sii_lo/sii_hi: spatial block bootstrap, {boot['reps']} resamples of "
                 f"{boot['n_blocks']} blocks ({boot['blocks']}), quantiles re-formed in each "
                 "(covers spatial dependence and where the cuts fall); ")
    else:
        text += "sii_lo/sii_hi: the pooled interval below (too few blocks for a bootstrap); "
    return text + (f"sii_pooled_lo/hi: {si.repetitions} Monte Carlo draws of each quantile's "
                   f"value, standard errors from {how}, areas treated as independent "
                   "(narrower than the data support when values are spatially dependent)")


def _blocks(grp: pd.DataFrame) -> tuple[np.ndarray, str] | None:
    """Return the bootstrap blocks of ``grp``'s rows and their name, or None (too few)."""
    from healthgap.geo.bootstrap import n_tiles_for, spatial_tiles

    if {"pw_x", "pw_y"} <= set(grp.columns):
        xy = grp[["pw_x", "pw_y"]].to_numpy(dtype=float)
        if np.isfinite(xy).all():
            n = n_tiles_for(len(grp))
            return spatial_tiles(xy[:, 0], xy[:, 1], n), "contiguous tiles of about equal count"
    if "place_code" in grp.columns and grp["place_code"].notna().all() \
            and grp["place_code"].nunique() >= BOOTSTRAP_MIN_BLOCKS:
        return pd.factorize(grp["place_code"])[0], "local authorities"
    return None


def _bootstrap_row(si: SlopeIndex, grp: pd.DataFrame, value: str, population: str,
                   score: str, n_q: int, seed: int) -> dict[str, object] | None:
    """Block-bootstrap SII/RII/gap intervals of one fit, or None when there are too few blocks."""
    from healthgap.geo.bootstrap import BOOTSTRAP_REPS, bootstrap_sii

    used = grp[grp[value].notna()]
    blocks = _blocks(used)
    if blocks is None or len(np.unique(blocks[0])) < BOOTSTRAP_MIN_BLOCKS:
        return None
    order = np.argsort(used.index.astype(str).to_numpy(), kind="stable")  # ties by code
    b = bootstrap_sii(used[score].to_numpy(dtype=float)[order],
                      used[population].to_numpy(dtype=float)[order],
                      used[value].to_numpy(dtype=float)[order], blocks[0][order], n_q=n_q,
                      reps=BOOTSTRAP_REPS, seed=seed, confidence=si.confidence)
    b["blocks"] = blocks[1]
    return b


def sii_table(
    frame: pd.DataFrame,
    *,
    level: str,
    code: str | None = None,
    by: str | None = None,
    values: Sequence[str] = ("le_male", "le_female"),
    population: str = "population_in_area",
    score: str = "imd_score",
    seed: int,
    repetitions: int = SII_REPETITIONS,
) -> SIITables:
    """Fit the SII, PHE RII and quantile gap of each value for one level's areas.

    The ``model_sii`` contract: one row per (``level``, ``code``, ``sex``) with ``sii, sii_lo,
    sii_hi, rii, rii_lo, rii_hi, gap, gap_lo, gap_hi, n_areas, quantiles, method`` (and
    ``sii_over_mean``, ``intercept``, ``le_min``, ``le_max``, ``le_range``). Works for any level
    (``system``, ``place``, ``neighbourhood``, ``england``, ...): the rows of ``frame`` are the
    areas the index is computed over (e.g. MSOAs), grouped by column ``by`` or taken as one group
    labelled ``code``. Groups with too few areas (`quantiles_for`) are skipped and named in the
    notes.

    Parameters
    ----------
    frame
        Areas indexed by code with the value, population and score columns.
    level
        Level name written to the ``level`` column.
    code
        Code of the single group when ``by`` is None (e.g. ``"E92000001"`` for England).
    by
        Column whose values are the codes of the groups (e.g. ``"place_code"``).
    values
        Value columns; ``sex`` is the column name without its ``le_`` prefix.
    population, score
        Population weights and deprivation score (high = deprived) columns.
    seed, repetitions
        Seed and number of Monte Carlo draws of the intervals.

    Returns
    -------
    SIITables
        ``table`` (the model_sii rows), ``groups`` (quantile points), ``notes``.
    """
    if (by is None) == (code is None):
        raise ParameterError("sii_table: give exactly one of by= (a column) or code= (a code)")
    require_columns(frame, [c for c in (by, population, score) if c is not None],
                    name="sii_table frame")
    rows: list[dict[str, object]] = []
    parts: list[pd.DataFrame] = []
    notes: list[str] = []
    skipped: set[str] = set()
    for value in values:
        if value not in frame.columns:
            continue
        sex = sex_word(value)  # le_male and le_male_pwmean -> male (the column registry)
        have = frame[frame[value].notna() & frame[score].notna()]
        grouped = [(code, have)] if by is None else list(have.groupby(by, sort=True))
        for grp_code, grp in grouped:
            n_q = quantiles_for(len(grp))
            if not n_q:
                skipped.add(str(grp_code))
                continue
            try:
                si = SlopeIndex(value=value, population=population, score=score,
                                n_quantiles=n_q, repetitions=repetitions, seed=seed).fit(grp)
            except InputError as exc:
                notes.append(f"SII of {value} for {level} {grp_code} not computed: {exc}")
                continue
            g = si.groups_.reset_index()
            g.insert(0, "code", grp_code)
            g.insert(0, "level", level)
            g.insert(0, "sex", sex)
            parts.append(g)
            boot = _bootstrap_row(si, grp, value, population, score, n_q, seed)
            ci = {"sii": si.sii_ci_, "rii": si.rii_ci_, "gap": si.gap_ci_}
            if boot is not None:
                ci = {k: (float(boot[f"{k}_lo"]), float(boot[f"{k}_hi"]))  # type: ignore[arg-type]
                      for k in ci}
            rows.append({
                "level": level, "code": grp_code, "sex": sex,
                "sii": si.sii_, "sii_lo": ci["sii"][0], "sii_hi": ci["sii"][1],
                "rii": si.rii_, "rii_lo": ci["rii"][0], "rii_hi": ci["rii"][1],
                "gap": si.gap_, "gap_lo": ci["gap"][0], "gap_hi": ci["gap"][1],
                "interval": "spatial block bootstrap" if boot is not None else "pooled",
                "sii_pooled_lo": si.sii_ci_[0], "sii_pooled_hi": si.sii_ci_[1],
                "rii_pooled_lo": si.rii_ci_[0], "rii_pooled_hi": si.rii_ci_[1],
                "gap_pooled_lo": si.gap_ci_[0], "gap_pooled_hi": si.gap_ci_[1],
                "bootstrap_blocks": boot["n_blocks"] if boot is not None else 0,
                "sii_over_mean": si.sii_over_mean_, "sii_over_mean_lo": si.sii_over_mean_ci_[0],
                "sii_over_mean_hi": si.sii_over_mean_ci_[1],
                "n_areas": len(grp), "quantiles": n_q, "intercept": si.intercept_,
                "le_min": float(grp[value].min()), "le_max": float(grp[value].max()),
                "le_range": float(grp[value].max() - grp[value].min()),
                "method": _sii_method(si, n_q, boot),
            })
    if skipped:
        notes.append(f"SII not computed for {len(skipped)} {level}(s) with fewer than "
                     f"{SII_MIN_AREAS[5]} areas (too few per quintile): {preview(sorted(skipped))}")
    table = pd.DataFrame(rows)
    groups = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return SIITables(table=table, groups=groups, notes=notes)


# --------------------------------------------------------------------------- Theil / MLD


def _theil_t(y: np.ndarray, p: np.ndarray) -> float:
    """Population-weighted Theil T: sum p_i (y_i/mu) ln(y_i/mu)."""
    p = p / p.sum()
    mu = float(p @ y)
    r = y / mu
    return float(np.sum(p * r * np.log(r)))


def _mld(y: np.ndarray, p: np.ndarray) -> float:
    """Population-weighted mean log deviation (Theil L): sum p_i ln(mu/y_i)."""
    p = p / p.sum()
    mu = float(p @ y)
    return float(np.sum(p * np.log(mu / y)))


class TheilDecomposition(FittedModel):
    """Theil T and mean log deviation of life expectancy, split across nested levels.

    With areas nested in places nested in systems, the indices split exactly:

    * Theil T = T(between systems) + sum_s v_s T(between places in s)
      + sum_p v_p T(between areas in p), with v = share of total life-years (pop x LE);
    * MLD = L(between systems) + sum_s w_s L(between places in s) + sum_p w_p L(areas in p),
      with w = population share.

    Each "between" index treats every group as one unit at its population-weighted mean.

    Parameters
    ----------
    value
        Column holding life expectancy (must be > 0).
    population
        Column holding population (the weights).
    levels
        Grouping columns from the finest (e.g. place = local authority) to the coarsest
        (e.g. system = ICB). Each group must lie wholly inside one group of the next level.
    labels
        Optional display names, one for the areas and one per level, e.g.
        ``("neighbourhood", "place", "system")``.

    Attributes
    ----------
    total_ : dict
        ``theil_t`` and ``mld`` over all areas.
    components_ : pandas.DataFrame
        One row per component (``between <top level>`` … ``within <finest level>``) with
        ``theil_t``, ``theil_t_share``, ``mld``, ``mld_share``.
    groups_ : dict of pandas.DataFrame
        Per level: population, mean value and the within-group indices of each group.
    report_ : dict
        Areas left out for a missing value.
    """

    _results = ("total_", "components_", "report_")

    def __init__(
        self,
        *,
        value: str = "le",
        population: str = "population",
        levels: Sequence[str] = ("place_code", "system_code"),
        labels: Sequence[str] | None = None,
    ) -> None:
        if not levels:
            raise ParameterError("levels must name at least one grouping column")
        if labels is not None and len(labels) != len(levels) + 1:
            raise ParameterError(
                f"labels needs {len(levels) + 1} names (areas + each level); got {list(labels)}"
            )
        self.value = value
        self.population = population
        self.levels = tuple(levels)
        self.labels = tuple(labels) if labels is not None else None

    def fit(self, frame: pd.DataFrame) -> TheilDecomposition:
        """Compute the indices and their exact decomposition.

        Parameters
        ----------
        frame
            One row per area with the value, population and level columns.

        Returns
        -------
        TheilDecomposition
            ``self``, fitted.
        """
        name = "TheilDecomposition frame"
        require_unique_index(frame, name=name)
        require_columns(frame, [*self.levels], name=name)
        y = numeric_column(frame, self.value, name=name)
        pop = numeric_column(frame, self.population, name=name)
        if pop.isna().any() or (pop < 0).any():
            bad = pop.index[pop.isna() | (pop < 0)]
            raise InputError(f"{name}: missing or negative {self.population!r} for {preview(bad)}")
        if (y <= 0).any():
            raise InputError(f"{name}: {self.value!r} must be > 0; see {preview(y.index[y <= 0])}")
        for lv in self.levels:
            gaps = frame.index[frame[lv].isna()]
            if len(gaps):
                raise InputError(f"{name}: missing {lv!r} for {preview(gaps)}")
        for fine, coarse in itertools.pairwise(self.levels):
            parents = frame.groupby(fine)[coarse].nunique()
            split = parents.index[parents > 1]
            if len(split):
                raise InputError(
                    f"{name}: {fine!r} groups {preview(split)} span several {coarse!r} groups; "
                    "levels must nest"
                )
        missing = y.isna()
        data = frame.loc[~missing, list(self.levels)].copy()
        data["_y"] = y[~missing]
        data["_p"] = pop[~missing]
        if data["_p"].sum() <= 0:
            raise InputError(f"{name}: total population is zero")
        labels = self.labels or (frame.index.name or "area", *self.levels)

        total_p = data["_p"].sum()
        total_v = float((data["_p"] * data["_y"]).sum())
        self.total_ = {
            "theil_t": _theil_t(data["_y"].to_numpy(), data["_p"].to_numpy()),
            "mld": _mld(data["_y"].to_numpy(), data["_p"].to_numpy()),
        }
        # unit tables per level: level 0 = areas themselves
        units = data.assign(_unit=data.index)
        keys = ["_unit", *self.levels]
        comps = []
        groups: dict[str, pd.DataFrame] = {}
        for k in range(len(keys)):
            parent = keys[k + 1] if k + 1 < len(keys) else None
            cols = keys[k:]
            lev = (
                units.assign(_py=units["_p"] * units["_y"])
                .groupby(cols, sort=True)[["_p", "_py"]]
                .sum()
                .reset_index()
            )
            lev["_y"] = lev["_py"] / lev["_p"]
            t_sum = 0.0
            l_sum = 0.0
            if parent is None:
                t_sum = _theil_t(lev["_y"].to_numpy(), lev["_p"].to_numpy())
                l_sum = _mld(lev["_y"].to_numpy(), lev["_p"].to_numpy())
                label = f"between {labels[-1]}"
            else:
                rows = []
                for code, g in lev.groupby(parent, sort=True):
                    gp = g["_p"].to_numpy()
                    gy = g["_y"].to_numpy()
                    t = _theil_t(gy, gp)
                    ll = _mld(gy, gp)
                    v_share = float(np.sum(gp * gy)) / total_v
                    p_share = float(gp.sum()) / total_p
                    t_sum += v_share * t
                    l_sum += p_share * ll
                    rows.append({parent: code, "population": float(gp.sum()),
                                 "mean": float(np.sum(gp * gy) / gp.sum()),
                                 "n_units": int(len(g)), "theil_t_within": t,
                                 "mld_within": ll})
                groups[parent] = pd.DataFrame(rows).set_index(parent)
                label = f"between {labels[k]} within {labels[k + 1]}"
            comps.append({"component": label, "theil_t": t_sum, "mld": l_sum})
        comp = pd.DataFrame(comps[::-1]).set_index("component")
        comp["theil_t_share"] = comp["theil_t"] / self.total_["theil_t"]
        comp["mld_share"] = comp["mld"] / self.total_["mld"]
        self.components_ = comp[["theil_t", "theil_t_share", "mld", "mld_share"]]
        self.groups_ = groups
        self.report_ = {
            "n_areas": int(len(frame)),
            "n_used": int(len(data)),
            "missing_codes": [str(c) for c in frame.index[missing]],
            "sum_check_theil_t": float(comp["theil_t"].sum() - self.total_["theil_t"]),
            "sum_check_mld": float(comp["mld"].sum() - self.total_["mld"]),
        }
        return self


# --------------------------------------------------------------------------- Shapley R²


def _r2(y: np.ndarray, x: np.ndarray | None, w: np.ndarray) -> float:
    """Weighted R² of y on a constant and the columns of x (0 for no predictors)."""
    if x is None or x.shape[1] == 0:
        return 0.0
    sw = np.sqrt(w)
    design = np.column_stack([np.ones(len(y)), x]) * sw[:, None]
    coef, *_ = np.linalg.lstsq(design, y * sw, rcond=None)
    resid = y * sw - design @ coef
    ybar = float(np.sum(w * y) / np.sum(w))
    tss = float(np.sum(w * (y - ybar) ** 2))
    return 1.0 - float(resid @ resid) / tss


class ShapleyR2(FittedModel):
    """Shapley decomposition of R² over groups of predictors.

    For G groups all 2^G subsets are fitted by (weighted) least squares with a constant; the
    Shapley value of group g is sum over subsets S without g of
    |S|! (G - |S| - 1)! / G! * (R²(S + g) - R²(S)). The values add up to the full model's R².

    Parameters
    ----------
    outcome
        Column holding life expectancy.
    groups
        Group name -> predictor columns, e.g. ``{"socioeconomic": [...], "built_environment":
        [...], "clinical_care": [...], "behaviours": [...]}``.
    weights
        Optional column of regression weights (e.g. population).
    reference
        Reference split (percent) shown beside the result; County Health Rankings by default.
    reference_map
        Group name -> reference key, for groups not named like the reference keys.

    Attributes
    ----------
    table_ : pandas.DataFrame
        Per group: ``n_predictors, shapley_r2, share`` (of the full R²), ``percent`` and
        ``reference_percent``.
    r2_full_ : float
        R² of the model with every group.
    subsets_ : pandas.DataFrame
        R² of every subset of groups.
    report_ : dict
        Rows left out for a missing value.
    """

    _results = ("table_", "r2_full_", "report_")

    def __init__(
        self,
        *,
        outcome: str = "le",
        groups: Mapping[str, Sequence[str]],
        weights: str | None = None,
        reference: Mapping[str, float] = CHR_REFERENCE,
        reference_map: Mapping[str, str] | None = None,
    ) -> None:
        if not groups:
            raise ParameterError("groups must hold at least one group of predictors")
        if len(groups) > 12:
            raise ParameterError(f"at most 12 groups (2^G fits); got {len(groups)}")
        seen: dict[str, str] = {}
        for g, cols in groups.items():
            if isinstance(cols, str) or not len(cols):
                raise ParameterError(
                    f"group {g!r} must be a non-empty list of columns; got {cols!r}"
                )
            for c in cols:
                if c in seen:
                    raise ParameterError(f"column {c!r} is in groups {seen[c]!r} and {g!r}")
                seen[c] = g
        self.outcome = outcome
        self.groups = {str(g): list(cols) for g, cols in groups.items()}
        self.weights = weights
        self.reference = dict(reference)
        self.reference_map = dict(reference_map or {})
        for g, key in self.reference_map.items():
            check_choice(key, list(self.reference), name=f"reference_map[{g!r}]")

    def fit(self, frame: pd.DataFrame) -> ShapleyR2:
        """Fit every subset of groups and compute the Shapley values.

        Parameters
        ----------
        frame
            One row per area with the outcome, predictors and weights.

        Returns
        -------
        ShapleyR2
            ``self``, fitted.
        """
        name = "ShapleyR2 frame"
        cols = [c for cs in self.groups.values() for c in cs]
        data = pd.DataFrame({c: numeric_column(frame, c, name=name) for c in [self.outcome, *cols]})
        if self.weights is not None:
            data["_w"] = numeric_column(frame, self.weights, name=name)
            data.loc[data["_w"] <= 0, "_w"] = np.nan
        else:
            data["_w"] = 1.0
        complete = data.notna().all(axis=1)
        used = data[complete]
        if len(used) <= len(cols) + 1:
            raise InputError(
                f"{name}: {len(used)} complete row(s) for {len(cols)} predictors; need more"
            )
        y = used[self.outcome].to_numpy()
        w = used["_w"].to_numpy()
        if np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2) <= 0:
            raise InputError(f"{name}: {self.outcome!r} does not vary")
        names = list(self.groups)
        n_g = len(names)
        r2: dict[frozenset[str], float] = {}
        for size in range(n_g + 1):
            for subset in itertools.combinations(names, size):
                sub_cols = [c for g in subset for c in self.groups[g]]
                x = used[sub_cols].to_numpy() if sub_cols else None
                r2[frozenset(subset)] = _r2(y, x, w)
        shap = {}
        for g in names:
            others = [h for h in names if h != g]
            total = 0.0
            for size in range(n_g):
                weight = math.factorial(size) * math.factorial(n_g - size - 1) / math.factorial(n_g)
                for subset in itertools.combinations(others, size):
                    s = frozenset(subset)
                    total += weight * (r2[s | {g}] - r2[s])
            shap[g] = total
        full = r2[frozenset(names)]
        table = pd.DataFrame(
            {
                "n_predictors": [len(self.groups[g]) for g in names],
                "shapley_r2": [shap[g] for g in names],
            },
            index=pd.Index(names, name="group"),
        )
        table["share"] = table["shapley_r2"] / full if full > 0 else np.nan
        table["percent"] = 100.0 * table["share"]
        table["reference_percent"] = [
            self.reference.get(self.reference_map.get(g, g), np.nan) for g in names
        ]
        self.table_ = table
        self.r2_full_ = float(full)
        self.subsets_ = pd.DataFrame(
            [{"groups": "+".join(sorted(s)) or "(none)", "n_groups": len(s), "r2": v}
             for s, v in r2.items()]
        ).sort_values(["n_groups", "groups"], ignore_index=True)
        self.report_ = {
            "n_rows": int(len(frame)),
            "n_used": int(len(used)),
            "missing_codes": [str(c) for c in frame.index[~complete.to_numpy()]],
        }
        return self
