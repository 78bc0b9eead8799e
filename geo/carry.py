"""Carry values published on 2011 areas to 2021 LSOAs and MSOAs, by one documented rule.

Life expectancy and the Local Health outcomes (2015-19) are published on 2011 MSOAs only. The
ONS LSOA 2011 -> 2021 exact-fit lookup gives every 2021 LSOA its 2011 parent(s) and a change code:

- ``U`` (unchanged) and ``S`` (split: one 2011 LSOA became several) take their 2011 parent's
  MSOA value;
- ``M`` (merged: several became one) and ``X`` (irregular) take a population-weighted mean over
  their 2011 parents' MSOA values, each parent weighted by its 2011 LSOA population divided by the
  number of 2021 LSOAs it feeds (an even share: the lookup gives no finer split);
- an MSOA 2021 value is the population-weighted mean of its LSOAs' carried values (2021
  populations), over the LSOAs with a value.

A confidence limit is carried by the same weights: an approximation (the limits of a mean of
areas are not the mean of their limits), named as one wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from healthgap.errors import InputError, preview

#: The rule in one sentence (methods text, manifest, story page).
CARRY_RULE = ("2015-19 life expectancy and outcomes on 2011 MSOAs carried to 2021 areas: "
              "unchanged (U) and split (S) LSOAs take their 2011 parent's MSOA value, merged (M) "
              "and irregular (X) ones a population-weighted value over their 2011 parents "
              "(mid-2017 populations); an MSOA 2021 value is the Census 2021 population-weighted "
              "mean of its LSOAs")

#: Change codes of the ONS exact-fit lookup.
CHANGE_CODES = {"U": "unchanged", "S": "split", "M": "merged", "X": "irregular"}


@dataclass(frozen=True)
class Carried:
    """Values carried to 2021 LSOAs and MSOAs, and how each LSOA was carried.

    Attributes
    ----------
    lsoa
        Indexed by LSOA 2021 code: the carried columns.
    msoa
        Indexed by MSOA 2021 code: population-weighted means of ``lsoa``.
    how
        Indexed by LSOA 2021 code: ``change_code``, ``parents`` (the 2011 LSOAs, joined by
        ``;``) and ``rule`` in words; every LSOA, one-to-one ones included.
    """

    lsoa: pd.DataFrame
    msoa: pd.DataFrame
    how: pd.DataFrame


def carry_weights(lookup: pd.DataFrame, population11: pd.Series) -> pd.DataFrame:
    """Return one row per (2021 LSOA, 2011 parent) with the parent's weight.

    Parameters
    ----------
    lookup
        The exact-fit lookup with ``lsoa11_code``, ``lsoa21_code`` and ``change_code``.
    population11
        2011 LSOA populations indexed by LSOA 2011 code (a parent without one weighs 0 and
        is named in the error if a 2021 LSOA is left with no weight).

    Returns
    -------
    pandas.DataFrame
        ``lsoa21_code, lsoa11_code, change_code, weight``; weights of one 2021 LSOA sum to 1.
    """
    rows = lookup[["lsoa11_code", "lsoa21_code", "change_code"]].drop_duplicates()
    bad = ~rows["change_code"].isin(list(CHANGE_CODES))
    if bad.any():
        raise InputError(f"LSOA 2011 -> 2021 lookup: unknown change_code(s) "
                         f"{preview(rows.loc[bad, 'change_code'].unique())}; expected U, S, M, X")
    children = rows.groupby("lsoa11_code")["lsoa21_code"].transform("nunique")
    pop = rows["lsoa11_code"].map(population11).fillna(0.0).astype(float)
    rows = rows.assign(weight=pop / children)
    one = rows.groupby("lsoa21_code")["lsoa11_code"].transform("size") == 1
    rows.loc[one, "weight"] = 1.0  # U and S: the single parent's value
    total = rows.groupby("lsoa21_code")["weight"].transform("sum")
    if (total <= 0).any():
        raise InputError("LSOA 2011 -> 2021 lookup: 2021 LSOA(s) whose 2011 parents have no "
                         f"population: {preview(rows.loc[total <= 0, 'lsoa21_code'].unique())}")
    return rows.assign(weight=rows["weight"] / total).reset_index(drop=True)


def _weighted(values: pd.DataFrame, weights: pd.Series, by: pd.Series) -> pd.DataFrame:
    """Weighted mean of each column by group, over the rows with a value."""
    v = values.to_numpy(dtype=float)
    has = ~np.isnan(v)
    w = np.where(has, weights.to_numpy(dtype=float)[:, None], 0.0)
    # one grouping for every column (pandas sums each column as a Series groupby would)
    sums = pd.DataFrame(np.hstack([np.where(has, v, 0.0) * w, w]), index=values.index)
    sums = sums.groupby(by.to_numpy()).sum()
    k = v.shape[1]
    num, den = sums.iloc[:, :k].to_numpy(), sums.iloc[:, k:].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    out = pd.DataFrame(mean, index=sums.index, columns=values.columns)
    out.index.name = by.name
    return out


def carry_to_2021(msoa11_values: pd.DataFrame, *, lsoa11_msoa11: pd.Series,
                  lookup: pd.DataFrame, population11: pd.Series,
                  lsoa21_msoa21: pd.Series, population21: pd.Series) -> Carried:
    """Carry MSOA 2011 values to 2021 LSOAs and MSOAs (`CARRY_RULE`).

    Parameters
    ----------
    msoa11_values
        Numeric columns indexed by MSOA 2011 code (missing = suppressed, carried as missing).
    lsoa11_msoa11
        The MSOA 2011 of each LSOA 2011.
    lookup
        The ONS exact-fit lookup (``lsoa11_code, lsoa21_code, change_code``), England rows.
    population11, population21
        LSOA populations of 2011 (weights over parents) and 2021 (weights within an MSOA).
    lsoa21_msoa21
        The MSOA 2021 of each LSOA 2021 (the vintage's lookup).

    Returns
    -------
    Carried
    """
    w = carry_weights(lookup, population11)
    w = w[w["lsoa21_code"].isin(lsoa21_msoa21.index)]
    parent_msoa = w["lsoa11_code"].map(lsoa11_msoa11)
    lost = w.loc[parent_msoa.isna(), "lsoa11_code"].unique()
    if len(lost):
        raise InputError(f"LSOA 2011 -> 2021 lookup: 2011 LSOA(s) not in the LSOA 2011 -> MSOA "
                         f"2011 lookup: {preview(lost)}")
    vals = msoa11_values.reindex(parent_msoa.to_numpy())
    vals.index = w.index
    lsoa = _weighted(vals, w["weight"], w["lsoa21_code"])
    lsoa.index.name = "lsoa21_code"
    msoa_of = lsoa21_msoa21.reindex(lsoa.index)
    pop = population21.reindex(lsoa.index).fillna(0.0)
    msoa = _weighted(lsoa, pop, msoa_of)
    msoa.index.name = "msoa21_code"
    g = w.groupby("lsoa21_code")
    how = pd.DataFrame({"change_code": g["change_code"].first(),
                        "parents": _parents(w)})
    how["rule"] = np.where(how["change_code"].isin(["U", "S"]),
                           "value of the 2011 parent's MSOA",
                           "population-weighted over 2011 parents' MSOAs")
    return Carried(lsoa=lsoa, msoa=msoa, how=how)


def _parents(w: pd.DataFrame) -> pd.Series:
    """Each 2021 LSOA's 2011 parents, sorted and joined by ``;`` (by 2021 code)."""
    rows = w[["lsoa21_code", "lsoa11_code"]].sort_values(["lsoa21_code", "lsoa11_code"])
    many = rows["lsoa21_code"].duplicated(keep=False).to_numpy()
    one = rows[~many].set_index("lsoa21_code")["lsoa11_code"]
    joined = rows[many].groupby("lsoa21_code")["lsoa11_code"].agg(";".join)
    return pd.concat([one, joined]).sort_index()


def carry_report(how: pd.DataFrame, codes: pd.Index, *, join: str) -> pd.DataFrame:
    """Join-report rows (``join, side, code, reason``) for LSOAs not carried one-to-one.

    Parameters
    ----------
    how
        `Carried.how`.
    codes
        The LSOAs to report on (an area's).
    join
        The report's join name.
    """
    h = how.reindex(codes).dropna(subset=["change_code"])
    h = h[h["change_code"] != "U"]
    reasons = [f"{CHANGE_CODES[c]} ({c}) 2011 -> 2021: {rule} ({parents})"
               for c, rule, parents in zip(h["change_code"], h["rule"], h["parents"],
                                           strict=True)]
    return pd.DataFrame({"join": join, "side": "carried", "code": h.index.astype(str),
                         "reason": reasons})


def carry_summary(carried: Carried, codes: pd.Index
                  ) -> tuple[pd.DataFrame, str, dict[str, object]]:
    """Return the join-report rows, one note and the manifest entry for an area's LSOAs.

    Parameters
    ----------
    carried
        The national carry.
    codes
        The area's LSOAs.
    """
    report = carry_report(carried.how, codes, join="life_expectancy_carry")
    counts = carried.how.reindex(report["code"])["change_code"].value_counts()
    note = (f"{CARRY_RULE}; {len(report)} of the area's {len(codes)} LSOAs were not carried "
            "one-to-one (listed in the join report): "
            + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    results: dict[str, object] = {
        "rule": CARRY_RULE, "lsoa_not_one_to_one": int(len(report)),
        "by_change_code": {str(k): int(v) for k, v in
                           carried.how.reindex(codes)["change_code"].value_counts().items()}}
    return report, note, results
