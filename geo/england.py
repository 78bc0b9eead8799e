"""England as the benchmark: inequality per area by one rule, England's figures, the comparison.

* `sii_tables`: the slope index of inequality (SII), PHE's relative index (RII) and the gap for
  every area of every level, by the split-MSOA rule (`healthgap.geo.areas.SPLIT_MSOA_RULE`), so
  an area's figures are the same whether it is built alone, in a batch or inside England.
* `england_sii`: the same for England as a whole (level ``england``, code ``E92000001``),
  from the national MSOA frame (`healthgap.geo.layers.national_msoa`).
* `compare_with_england`: each area's SII against England's, same method, with the interval of
  the difference (numbers only: the SII grows with the IMD range an area spans).
* `le_gradient`, `compare_gradient_with_england`: the fall in life expectancy per 10 IMD
  points for an area and for England over the area's own IMD range, their difference with a
  95% interval and the verdict (steeper / similar / less steep) from that comparison only.
* `expected_attenuation`: how far this MSOA method is expected to shrink an LSOA-decile SII,
  computed from IMD and population alone, to set beside ONS's published figures
  (`ONS_REFERENCE`, `METHODS_ENGLAND_SII`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from healthgap.geo._models import Z95
from healthgap.geo.bootstrap import BOOTSTRAP_REPS, bootstrap_slopes
from healthgap.geo.inequality import SII_REPETITIONS, quantile_groups, sii_table
from healthgap.geo.rollup import group_frame, membership

from healthgap.errors import InputError, ParameterError

__all__ = [
    "ENGLAND_CODE",
    "METHODS_ENGLAND_SII",
    "ONS_REFERENCE",
    "compare_gradient_with_england",
    "compare_with_england",
    "le_gradient",
    "england_sii",
    "expected_attenuation",
    "sii_tables",
]

ENGLAND_CODE = "E92000001"
"""ONS code of England: the ``code`` of every ``level == "england"`` row."""

ONS_REFERENCE: dict[str, Any] = {
    "release": "Health state life expectancies by national deprivation deciles, England: "
               "2017 to 2019",
    "publisher": "Office for National Statistics",
    "released": "2021-03-22",
    "url": "https://www.ons.gov.uk/peoplepopulationandcommunity/healthandsocialcare/"
           "healthinequalities/bulletins/healthstatelifeexpectanciesbyindexofmultipledeprivation"
           "imd/2017to2019",
    "period": "2017-2019",
    "method": "life tables from deaths and populations by LSOA decile of IMD 2019; SII from a "
              "population-weighted regression across the ten deciles",
    "sii_male": 9.4,
    "sii_female": 7.6,
}
"""ONS's published SII of life expectancy at birth in England (years), the reference values."""

REPETITIONS = SII_REPETITIONS
"""Monte Carlo draws of every SII interval in a build (one setting, in geo.inequality)."""

SPLIT_RULE_NOTE = ("MSOA life expectancy 2015-19; an MSOA split by a boundary counts in "
                   "every area holding one of its LSOAs, weighted by its people inside (split-MSOA "
                   "rule)")
"""How a split MSOA enters an area's SII (added to the method column)."""


def sii_tables(msoa: pd.DataFrame, members: pd.DataFrame, *,
               levels: Mapping[str, tuple[str, Iterable[str]]], values: Iterable[str],
               seed: int, score: str = "imd_score") -> dict[str, Any]:
    """SII, PHE's RII and the gap for every area of every level, by the split-MSOA rule.

    Parameters
    ----------
    msoa
        MSOA values (life expectancy, ``score``) indexed by ``msoa_code``, each built from all of
        its LSOAs.
    members
        The LSOAs of those MSOAs with ``in_area`` and the area code columns
        (`healthgap.geo.areas.msoa_members`).
    levels
        ``{level: (code column in members, codes to report)}``, e.g.
        ``{"system": ("system_code", ["E54000034"])}``.
    values
        Life-expectancy columns (``le_male``, ``le_female``).
    seed
        Seed of the simulated intervals.
    score
        The deprivation score column of ``msoa`` (higher = more deprived).

    Returns
    -------
    dict
        ``rows`` (one dict per level, code and sex), ``quantiles`` (a frame: level, code, sex,
        quantile, le, se, population, n_areas, rank), ``skipped`` (codes with too few MSOAs)
        and ``notes``.
    """
    rows: list[dict[str, Any]] = []
    parts: list[pd.DataFrame] = []
    skipped: list[str] = []
    notes: list[str] = []
    values = list(values)
    for level, (by, codes) in levels.items():
        member_rows = membership(members, by=by)
        for code in codes:
            base = group_frame(msoa, member_rows, by=by, code=str(code))
            fit = sii_table(base, level=level, code=str(code), values=values,
                            population="population_in_group", score=score, seed=seed,
                            repetitions=REPETITIONS)
            notes.extend(n for n in fit.notes if "fewer than" not in n)
            if fit.table.empty:
                skipped.append(str(code))
                continue
            for rec in fit.table.to_dict("records"):
                value = f"le_{rec['sex']}"
                grp = base[base[value].notna() & base[score].notna()]
                rec["population"] = float(grp["population_in_group"].sum())
                rec.update(le_gradient(grp, value=value, score=score,
                                       population="population_in_group", seed=seed))
                rec["method"] = f"{rec['method']}; {SPLIT_RULE_NOTE}"
                rows.append(rec)
            g = fit.groups.rename(columns={"value": "le"})
            parts.append(g[["level", "code", "sex", *[c for c in g.columns
                                                     if c not in ("level", "code", "sex")]]])
    quantiles = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return {"rows": rows, "quantiles": quantiles, "skipped": sorted(set(skipped)),
            "notes": notes}


def england_sii(msoa: pd.DataFrame, members: pd.DataFrame, *, values: Iterable[str],
                seed: int) -> dict[str, Any]:
    """England's SII, RII and gap from the national MSOA frame, by the same method.

    Parameters
    ----------
    msoa, members
        From `healthgap.geo.layers.national_msoa` (every English MSOA and LSOA).
    values, seed
        As in `sii_tables`.
    """
    missing = members["msoa_code"].drop_duplicates().pipe(pd.Index).difference(msoa.index)
    if len(missing):
        raise InputError(f"england_sii: {len(missing)} MSOA(s) of the members have no row in "
                         "the MSOA frame")
    allm = members.assign(ctry=ENGLAND_CODE, in_area=True)
    return sii_tables(msoa, allm, levels={"england": ("ctry", [ENGLAND_CODE])}, values=values,
                      seed=seed)


IMD_STEP = 10.0
"""The gradient is the fall in life expectancy per this many IMD score points."""


def le_gradient(frame: pd.DataFrame, *, value: str, score: str = "imd_score",
                population: str = "population", seed: int,
                reps: int = BOOTSTRAP_REPS) -> dict[str, Any]:
    """Return the fall in life expectancy per 10 IMD points across an area's MSOAs.

    The population-weighted least-squares slope of ``value`` on the IMD score, times -10: a
    positive figure is the years of life expectancy lost for every 10 points more deprived.
    Unlike the SII it does not grow with the spread of deprivation an area happens to hold,
    so two areas (or an area and England over the same IMD range) can be compared by it. Its
    interval is a block bootstrap (`healthgap.geo.inequality` blocks: contiguous tiles, or
    local authorities when the frame has no centres).

    Parameters
    ----------
    frame
        The area's MSOAs with ``value``, ``score`` and ``population`` (no missing values).
    value, score, population
        Column names.
    seed, reps
        Seed and resamples of the bootstrap.

    Returns
    -------
    dict
        ``le_drop_per_10_imd``, ``le_drop_lo``, ``le_drop_hi``, ``le_drop_se``, ``imd_min``,
        ``imd_max`` and ``gradient_blocks`` (NaN interval when there are too few blocks).
    """
    from healthgap.geo.bootstrap import weighted_slope
    from healthgap.geo.inequality import BOOTSTRAP_MIN_BLOCKS, _blocks

    x = frame[score].to_numpy(dtype=float)
    y = frame[value].to_numpy(dtype=float)
    w = frame[population].to_numpy(dtype=float)
    out: dict[str, Any] = {"le_drop_per_10_imd": -IMD_STEP * weighted_slope(x, y, w),
                           "imd_min": float(x.min()), "imd_max": float(x.max()),
                           "le_drop_lo": np.nan, "le_drop_hi": np.nan, "le_drop_se": np.nan,
                           "gradient_blocks": 0}
    blocks = _blocks(frame)
    if blocks is None or len(np.unique(blocks[0])) < BOOTSTRAP_MIN_BLOCKS:
        return out
    draws = -IMD_STEP * bootstrap_slopes(x, y, w, blocks[0], reps=reps, seed=seed)
    draws = draws[np.isfinite(draws)]
    out["le_drop_lo"], out["le_drop_hi"] = (float(v) for v in np.quantile(draws, [0.025,
                                                                                  0.975]))
    out["le_drop_se"] = float(np.std(draws, ddof=1))
    out["gradient_blocks"] = int(len(np.unique(blocks[0])))
    return out


def compare_gradient_with_england(sii: pd.DataFrame, msoa: pd.DataFrame, *, seed: int,
                                  score: str = "imd_score") -> pd.DataFrame:
    """Each area's life-expectancy gradient against England's over the area's own IMD range.

    The SII on an area's own tenths grows with the range of deprivation the area holds, so a
    smaller SII than England's does not make an area "less unequal". Here England's gradient
    (`le_gradient`, the fall in life expectancy per 10 IMD points) is fitted on England's MSOAs
    whose IMD score lies within the area's own range (``imd_min`` to ``imd_max``), with a
    spatial block bootstrap (tiles, or local authorities without centres), and set beside the
    area's. The difference's 95%
    interval is normal, from the two bootstrap standard errors combined as independent (the
    area's MSOAs are among England's, so this slightly overstates the width); the verdict is
    `healthgap.geo.verdicts.steepness_verdict` of that interval only.

    Parameters
    ----------
    sii
        ``model_sii`` rows of the areas (with the `le_gradient` columns).
    msoa
        England's MSOA frame (`healthgap.geo.layers.national_msoa`): ``score``, ``population``,
        ``place_code`` and the ``le_*`` columns.
    seed
        Seed of England's bootstrap.

    Returns
    -------
    pandas.DataFrame
        One row per (level, code, sex): the area's and England's gradient with intervals,
        ``england_n_areas``, ``difference`` with ``difference_lo``/``difference_hi``,
        ``steepness`` (verdict word), ``verdict`` (sentence), ``rule`` and ``method``.
    """
    from healthgap.geo.verdicts import steepness_verdict

    need = ("level", "code", "sex", "le_drop_per_10_imd", "le_drop_se", "imd_min", "imd_max")
    missing = [c for c in need if c not in sii.columns]
    if missing:
        raise ParameterError(f"compare_gradient_with_england: model_sii lacks {missing}")
    rows = []
    frames: dict[str, pd.DataFrame] = {}
    for rec in sii[sii["level"] != "england"].to_dict("records"):
        value = f"le_{rec['sex']}"
        if value not in msoa.columns:
            raise ParameterError(f"compare_gradient_with_england: England's MSOA frame has no "
                                 f"{value!r}")
        if value not in frames:  # England's MSOAs with a value, once per sex
            cols = [c for c in (score, value, "population", "place_code", "pw_x", "pw_y")
                    if c in msoa.columns]
            frames[value] = msoa.loc[msoa[value].notna() & msoa[score].notna(), cols]
        have = frames[value]
        rng = have[(have[score] >= rec["imd_min"]) & (have[score] <= rec["imd_max"])]
        eng = le_gradient(rng, value=value, score=score, population="population", seed=seed)
        diff = rec["le_drop_per_10_imd"] - eng["le_drop_per_10_imd"]
        se = float(np.hypot(rec["le_drop_se"], eng["le_drop_se"]))
        lo, hi = diff - Z95 * se, diff + Z95 * se
        v = steepness_verdict(diff, lo, hi, sex=str(rec["sex"]))
        rows.append({"level": rec["level"], "code": rec["code"], "sex": rec["sex"],
                     "imd_min": rec["imd_min"], "imd_max": rec["imd_max"],
                     "le_drop_per_10_imd": rec["le_drop_per_10_imd"],
                     "le_drop_lo": rec.get("le_drop_lo", np.nan),
                     "le_drop_hi": rec.get("le_drop_hi", np.nan),
                     "england_le_drop_per_10_imd": eng["le_drop_per_10_imd"],
                     "england_le_drop_lo": eng["le_drop_lo"],
                     "england_le_drop_hi": eng["le_drop_hi"],
                     "england_n_areas": int(len(rng)), "difference": diff,
                     "difference_lo": lo, "difference_hi": hi, "steepness": v.word,
                     "verdict": v.sentence, "rule": v.rule, "method": GRADIENT_METHOD})
    return pd.DataFrame(rows)


GRADIENT_METHOD = (
    "fall in life expectancy per 10 IMD 2019 points: population-weighted least-squares slope "
    "of MSOA life expectancy on MSOA IMD score, times -10; area: its MSOAs by the split-MSOA "
    "rule; England: its MSOAs within the area's own IMD range; each 95% interval from a "
    "spatial block bootstrap (contiguous tiles of MSOAs, or local authorities where MSOAs have "
    "no centres); difference interval normal, the two bootstrap standard errors combined as "
    "independent")
"""The ``method`` of ``model_gradient_vs_england``."""

SII_NOT_A_RANKING = (
    "The SII on an area's own tenths measures the gap across the deprivation the area holds: "
    "an area spanning half of England's IMD range has a smaller SII than England even if life "
    "expectancy falls just as steeply with deprivation, so the SII alone cannot rank areas; "
    "the comparison with England is made on the gradient per 10 IMD points over the area's "
    "own range.")
"""One sentence, for the story page and the methods text, on why the SII cannot rank areas."""


def _se(lo: pd.Series, hi: pd.Series) -> pd.Series:
    return (hi - lo) / (2.0 * Z95)


def compare_with_england(sii: pd.DataFrame,
                         gradient: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each area's SII against England's (same method), with the difference and its interval.

    The difference's 95 % interval combines the two simulated intervals as if independent
    (normal approximation, se = half-width / 1.96). An area's MSOAs are also England's, but an
    ICS holds 1-5 % of England's population, so the covariance this leaves out is small. The
    SII difference is *not* a verdict: an area spanning less of England's IMD range has a
    smaller SII however steeply life expectancy falls with deprivation.
    ``compared_with_england`` is the steepness verdict of ``gradient``
    (`compare_gradient_with_england`), or says no verdict can be drawn without it.

    Parameters
    ----------
    sii
        ``model_sii`` rows, with ``level == "england"`` rows for each sex.
    gradient
        ``model_gradient_vs_england`` (`compare_gradient_with_england`), optional.

    Returns
    -------
    pandas.DataFrame
        One row per non-England (level, code, sex): ``sii``, ``sii_lo``, ``sii_hi``,
        ``england_sii``, ``england_sii_lo``, ``england_sii_hi``, ``difference``,
        ``difference_lo``, ``difference_hi``, ``compared_with_england``, and the same for
        ``rii``.
    """
    for col in ("level", "code", "sex", "sii", "sii_lo", "sii_hi", "rii", "rii_lo", "rii_hi"):
        if col not in sii.columns:
            raise ParameterError(f"compare_with_england: column {col!r} missing from model_sii")
    eng = sii[sii["level"] == "england"].set_index("sex")
    if eng.empty:
        raise InputError("compare_with_england: model_sii has no england row")
    areas = sii[sii["level"] != "england"].copy()
    out = areas[["level", "code", "sex", "n_areas", "sii", "sii_lo", "sii_hi", "rii", "rii_lo",
                 "rii_hi"]].reset_index(drop=True)
    for stat in ("sii", "rii"):
        e = eng.reindex(out["sex"])
        out[f"england_{stat}"] = e[stat].to_numpy()
        out[f"england_{stat}_lo"] = e[f"{stat}_lo"].to_numpy()
        out[f"england_{stat}_hi"] = e[f"{stat}_hi"].to_numpy()
        diff = out[stat] - out[f"england_{stat}"]
        se = np.sqrt(_se(out[f"{stat}_lo"], out[f"{stat}_hi"]) ** 2
                     + _se(out[f"england_{stat}_lo"], out[f"england_{stat}_hi"]) ** 2)
        out[f"{stat}_difference"] = diff
        out[f"{stat}_difference_lo"] = diff - Z95 * se
        out[f"{stat}_difference_hi"] = diff + Z95 * se
    # the verdict comes from the gradient over the area's own IMD range, never from the SII
    # difference (which reflects how much of England's IMD range the area spans)
    out["compared_with_england"] = "no verdict: the SII depends on the area's IMD range"
    if gradient is not None and len(gradient):
        key = ["level", "code", "sex"]
        g = out[key].merge(gradient[[*key, "steepness"]], on=key, how="left")
        out["compared_with_england"] = g["steepness"].fillna(
            out["compared_with_england"]).to_numpy()
    out.loc[out["england_sii"].isna(), "compared_with_england"] = "no England figure"
    out["method"] = ("same computation as England's (SII over population-weighted IMD "
                     "quantiles of MSOAs); difference interval: normal approximation, the two "
                     "intervals combined as independent; the difference is not a ranking (the "
                     "SII grows with the IMD range an area spans); compared_with_england is "
                     "the steepness verdict of model_gradient_vs_england")
    return out


def expected_attenuation(members: pd.DataFrame, *, score: str = "imd_score",
                         n_quantiles: int = 10) -> float:
    """Return the factor by which MSOA deciles shrink an LSOA-decile slope, from IMD alone.

    Place every LSOA at its population-weighted national rank (0 = most deprived end, 1 =
    least); an MSOA's LSOAs sit at the mean of their ranks. Form population-weighted deciles
    of MSOAs by their IMD score, as the build does, and fit the PHE regression of the deciles'
    mean LSOA rank on their own rank. If life expectancy were linear in the LSOA rank with
    slope b (ONS's SII), the MSOA-decile SII would be ``k * b``: ``k`` is returned. It needs no
    life expectancy, so it is an independent prediction of the approximation's size.

    Parameters
    ----------
    members
        Every English LSOA (``msoa_code``, ``population``, ``score``).
    score
        The LSOA IMD score column.
    n_quantiles
        Deciles (10), as the England SII uses.
    """
    m = members[members[score].notna()]
    pop = m["population"].astype(float)
    order = pd.DataFrame({"s": m[score], "c": m.index}).sort_values(
        ["s", "c"], ascending=[False, True], kind="mergesort").index
    cum = pop.reindex(order).cumsum()
    lsoa_rank = ((cum - pop.reindex(order) / 2.0) / pop.sum()).reindex(m.index)
    g = m.assign(r=lsoa_rank, w=pop)
    msoa_pop = g.groupby("msoa_code")["w"].sum()
    msoa_r = (g["r"] * g["w"]).groupby(g["msoa_code"]).sum() / msoa_pop
    msoa_score = (g[score] * g["w"]).groupby(g["msoa_code"]).sum() / msoa_pop
    q = quantile_groups(msoa_score, msoa_pop, n=n_quantiles)
    dpop = msoa_pop.groupby(q).sum()
    dmean = (msoa_r * msoa_pop).groupby(q).sum() / dpop
    prop = dpop / dpop.sum()
    x = (np.cumsum(prop) - prop / 2.0).to_numpy()
    w = np.sqrt(dpop.to_numpy())
    design = np.column_stack([w, x * w])
    coef = np.linalg.lstsq(design, dmean.to_numpy() * w, rcond=None)[0]
    return float(coef[1])


METHODS_ENGLAND_SII = (
    "Inequality in life expectancy is computed here from MSOA values: the published life "
    "expectancy of each MSOA (OHID Local Health, 2015-19) is placed in population-weighted "
    "tenths (fifths for smaller areas) of the MSOA's IMD 2019 score (the population-weighted "
    "mean over all its LSOAs), and the slope index of inequality (SII) is PHE's weighted "
    "regression across those groups, with Monte Carlo intervals. England's SII is computed "
    "the same way from the national files in every build, so a system's SII can be set beside "
    "it. ONS publishes England's SII from deaths and populations by LSOA decile of IMD 2019: "
    "9.4 years for males and 7.6 for females in 2017-19 (ONS, 'Health state life expectancies "
    "by national deprivation deciles, England: 2017 to 2019', 22 March 2021). Our MSOA figure "
    "is smaller because an MSOA mixes LSOAs of different deprivation, so its tenths are less "
    "extreme than LSOA tenths: from IMD and population alone (no life expectancy) the MSOA "
    "tenths span about {k:.0%} of the LSOA-rank range, which predicts an SII of about "
    "{pm:.1f} (male) and {pf:.1f} (female) years against ONS's; this build's England SII is "
    "{sm:.1f} and {sf:.1f}. Periods also differ (2015-19 pooled here, 2017-19 at ONS). Compare "
    "systems with England by this method, not with ONS's figure. " + SII_NOT_A_RANKING
)
"""Methods text for the story page and methods note; format with `methods_text`."""


def methods_text(*, k: float, sii_male: float, sii_female: float) -> str:
    """Return `METHODS_ENGLAND_SII` filled with a build's figures.

    Parameters
    ----------
    k
        From `expected_attenuation`.
    sii_male, sii_female
        England's SII by this method.
    """
    return METHODS_ENGLAND_SII.format(k=k, pm=k * ONS_REFERENCE["sii_male"],
                                      pf=k * ONS_REFERENCE["sii_female"], sm=sii_male,
                                      sf=sii_female)
