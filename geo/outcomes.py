"""Outcomes beyond life expectancy: MSOA mortality and emergency admission ratios, and the gap.

The OHID Local Health file gives, per MSOA, standardised mortality ratios (SMR) and standardised
emergency admission ratios (SAR), England = 100 (`healthgap.data.readers.LOCAL_HEALTH_OUTCOMES`).
They are joined to every MSOA of a study area (ring included, for the spatial statistics), and
rolled up to place and system as population-weighted means of the MSOA ratios by the split-MSOA
rule, labelled ``<name>_pwmean``: an approximation to the ratio of the combined population,
which would need each MSOA's expected counts.

`outcome_gap` is the "what makes up the gap" table: for each outcome, the most against the least
deprived fifth of the area's population, and Core20 (England's 20 % most deprived LSOAs) against
the rest, as ratios and differences with bootstrap intervals over MSOAs (the source gives no
confidence intervals for these ratios).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pandas as pd
from healthgap.geo.areas import StudyArea
from healthgap.geo.bootstrap import block_counts
from healthgap.geo.core20 import core20_flag
from healthgap.geo.inequality import quantile_groups
from healthgap.geo.joins import REPORT_COLUMNS, join_on_code
from healthgap.geo.layers import OUTCOME_COLUMNS, msoa_rollup
from healthgap.geo.rollup import membership

from healthgap.errors import InputError, ParameterError

__all__ = ["OUTCOMES", "OUTCOME_STATS", "outcome_gap", "with_outcomes"]

OUTCOMES: tuple[str, ...] = OUTCOME_COLUMNS
"""Outcome columns joined to MSOAs (names as in `healthgap.data.readers.LOCAL_HEALTH_OUTCOMES`)."""

OUTCOME_STATS: tuple[str, ...] = (
    "smr_all_causes", "smr_all_causes_u75", "smr_preventable_u75", "smr_cancer",
    "smr_circulatory", "smr_chd", "smr_stroke", "smr_respiratory", "sar_emergency_all",
)
"""Outcomes given global autocorrelation and LISA at MSOA level in a build."""

AGGREGATE_FORMED = (
    "each group's value is the population-weighted mean of its MSOAs' indirectly standardised "
    "ratios (England = 100), an approximation: the ratio of the combined population would be "
    "its observed over its expected count, which the source does not give; Core20 and the rest "
    "give each LSOA its MSOA's ratio, so a Core20 value also describes the MSOAs' non-Core20 "
    "residents (core20_basis_share says how Core20 those MSOAs are)")
"""How every aggregate outcome (``_pwmean``, fifths, Core20) is formed, in words."""

BOOTSTRAP = 999
"""Bootstrap replicates of the gap table's intervals."""


def with_outcomes(area: StudyArea, outcomes: pd.DataFrame, *,
                  max_loss: float = 0.0) -> StudyArea:
    """Return a new area with the MSOA outcome ratios joined to every MSOA and rolled up.

    Values equal the source file's; a missing value stays missing and is reported
    (``suppressed``) for MSOAs inside the area. Place and system get ``<name>_pwmean``.

    Parameters
    ----------
    area
        The study area (``msoa`` with ``in_area``; ``members`` for the roll-up).
    outcomes
        From `healthgap.data.readers.read_local_health_outcomes`.
    max_loss
        Largest share of MSOAs allowed to be absent from the file.
    """
    cols = [c for c in OUTCOMES if c in outcomes.columns]
    if not cols:
        raise InputError("outcome frame has none of the Local Health ratio columns "
                         f"({', '.join(OUTCOMES[:3])}, ...)")
    ci = [c for c in outcomes.columns if c.endswith(("_lci", "_uci")) and c[:-4] in cols]
    res = join_on_code(area.msoa.drop(columns=[c for c in cols + ci if c in area.msoa]),
                       outcomes[cols + ci], name="outcomes", max_loss=max_loss,
                       right_scope=pd.Index([]), reason="MSOA not in the Local Health file")
    area = replace(area, msoa=res.frame).with_report(res.report)
    inside = area.msoa[area.msoa["in_area"]]
    rows = [("outcomes", "suppressed", str(code), f"{c} missing in the source")
            for c in cols for code in inside.index[inside[c].isna()]]
    if rows:
        area = area.with_report(pd.DataFrame(rows, columns=REPORT_COLUMNS))
    for level, by in (("place", "place_code"), ("system", "system_code")):
        area = area.with_columns(level, msoa_rollup(area, area.frame(level), cols, by=by),
                                 source=f"outcomes rolled up to {level}")
    return area


def _core20_population(members: pd.DataFrame) -> pd.Series:
    """People of each MSOA living in Core20 LSOAs inside the area (national IMD decile 1-2)."""
    inside = members[members["in_area"].astype(bool)]
    flag = core20_flag(inside).fillna(False).astype(bool)
    return inside["population"].where(flag, 0.0).groupby(inside["msoa_code"]).sum()


def _gap_row(sums: np.ndarray, boot: np.ndarray, prefix: str) -> dict[str, float]:
    """Means under weights a and b, their ratio and difference, with bootstrap limits.

    ``sums`` is ``[a @ y, a.sum(), b @ y, b.sum()]`` and ``boot`` the same per replicate (rows).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = sums[0] / sums[1], sums[2] / sums[3]
        ba, bb = boot[:, 0] / boot[:, 1], boot[:, 2] / boot[:, 3]
        ratio, diff = ba / bb, ba - bb
    ok = np.isfinite(ratio)
    lo, hi = np.quantile(ratio[ok], [0.025, 0.975]) if ok.sum() > 10 else (np.nan, np.nan)
    dlo, dhi = np.quantile(diff[ok], [0.025, 0.975]) if ok.sum() > 10 else (np.nan, np.nan)
    return {f"{prefix}_a": float(ma), f"{prefix}_b": float(mb),
            f"{prefix}_ratio": float(ma / mb) if mb else np.nan,
            f"{prefix}_ratio_lo": float(lo), f"{prefix}_ratio_hi": float(hi),
            f"{prefix}_difference": float(ma - mb), f"{prefix}_difference_lo": float(dlo),
            f"{prefix}_difference_hi": float(dhi)}


def outcome_gap(msoa: pd.DataFrame, members: pd.DataFrame, *, columns: Iterable[str],
                seed: int, level: str, code: str, score: str = "imd_score",
                n_boot: int = BOOTSTRAP) -> pd.DataFrame:
    """Return what makes up the gap: each outcome, most vs least deprived fifth, Core20 vs rest.

    Fifths are population-weighted quintiles of the MSOAs' IMD score (all their LSOAs) among the
    area's MSOAs, each MSOA weighted by its population inside the area (the split-MSOA rule).
    Core20 against the rest gives each LSOA its MSOA's value (outcomes are published by MSOA)
    and weights the MSOA by its people in Core20 LSOAs, and in the others. Intervals: 2.5 and
    97.5 percentiles of ``n_boot`` bootstrap resamples of the area's MSOAs (seeded), the
    between-MSOA sampling variation only; the source gives no confidence intervals.

    Parameters
    ----------
    msoa
        MSOA values indexed by ``msoa_code`` (outcomes and ``score``).
    members
        The MSOAs' LSOAs with ``in_area``, ``population`` and the national ``imd_decile``.
    columns
        Outcome columns (missing ones are left out).
    seed
        Seed of the bootstrap.
    level, code
        Labels of the rows (``system``/``E54000034``, ``england``/``E92000001``...).
    score
        The MSOA deprivation score (higher = more deprived).
    n_boot
        Bootstrap replicates.

    Returns
    -------
    pandas.DataFrame
        One row per outcome: ``q1`` (most deprived fifth), ``q5`` (least), ``q1_q5_ratio`` and
        ``q1_q5_difference`` with ``_lo``/``_hi``; ``core20``, ``rest``,
        ``core20_rest_ratio`` and ``core20_rest_difference`` with limits; ``n_msoa``,
        ``core20_share`` (of the area's population), ``core20_basis_share`` (the Core20 share
        of the MSOAs behind the Core20 value, weighted as it is: below 0.5 the value mostly
        describes non-Core20 residents), ``period`` (of the outcome), ``formed`` (how the
        values are formed) and ``method``.
    """
    if n_boot < 99:
        raise ParameterError(f"n_boot={n_boot}: at least 99 bootstrap replicates")
    rows_in = membership(members.assign(_all="all"), by="_all")
    pop = rows_in.set_index("msoa_code")["population_in_group"]
    core = _core20_population(members).reindex(pop.index).fillna(0.0)
    frame = msoa.reindex(pop.index)
    have_score = frame[score].notna() & (pop > 0)
    q = pd.Series(np.nan, index=pop.index)
    q[have_score] = quantile_groups(frame.loc[have_score, score], pop[have_score], n=5)
    qq = q.to_numpy()
    core_v = core.to_numpy(float)
    used, vectors = [], []
    for col in columns:
        if col not in frame.columns:
            continue
        ok = (frame[col].notna() & have_score).to_numpy()
        if ok.sum() < 10:
            continue
        y = frame[col].fillna(0.0).to_numpy(float)
        w = np.where(ok, pop.to_numpy(float), 0.0)
        c20 = np.where(ok, core_v, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            msoa_share = np.where(w > 0, c20 / np.where(w > 0, w, 1.0), 0.0)
        basis = float((c20 * msoa_share).sum() / c20.sum()) if c20.sum() > 0 else np.nan
        used.append((col, int(ok.sum()), float(c20.sum() / w.sum()), basis))
        for wa, wb in ((w * (qq == 1), w * (qq == 5)), (c20, w - c20)):
            vectors.extend([wa * y, wa, wb * y, wb])
    out = []
    if used:
        v = np.column_stack(vectors)
        # one set of resamples of the area's MSOAs for every outcome (a missing value weighs 0)
        boot = block_counts(len(pop), reps=n_boot, seed=seed) @ v
        sums = v.sum(axis=0)
        for i, (col, n_used, share, basis) in enumerate(used):
            j = 8 * i
            fifth = _gap_row(sums[j:j + 4], boot[:, j:j + 4], "q1_q5")
            split = _gap_row(sums[j + 4:j + 8], boot[:, j + 4:j + 8], "core20_rest")
            out.append({"level": level, "code": code, "outcome": col, "n_msoa": n_used,
                        "q1": fifth.pop("q1_q5_a"), "q5": fifth.pop("q1_q5_b"), **fifth,
                        "core20": split.pop("core20_rest_a"),
                        "rest": split.pop("core20_rest_b"), **split, "core20_share": share,
                        "core20_basis_share": basis})
    table = pd.DataFrame(out)
    if len(table):
        from healthgap.geo.indicators import describe

        table["period"] = [describe(c).period for c in table["outcome"]]
        table["formed"] = AGGREGATE_FORMED
        table["method"] = ("population-weighted means of MSOA values; fifths by MSOA IMD "
                           "score; Core20 by national IMD decile 1-2 of the LSOAs, each given "
                           "its MSOA's value; intervals: bootstrap over MSOAs "
                           f"({n_boot} resamples), the source has no confidence intervals")
    return table
