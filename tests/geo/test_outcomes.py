"""Outcomes beyond life expectancy: the SMR and admission-ratio layers equal the source file, and
the "what makes up the gap" table is recomputed by hand from the raw CSVs.

Hand computations use the csv module / plain pandas on ``../shared/data`` (no healthgap reader,
roll-up, quantile or membership code).
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from healthgap.data import readers
from healthgap.data.layout import DataDir
from healthgap.data.readers import LOCAL_HEALTH_OUTCOMES, read_local_health_outcomes
from healthgap.geo.indicators import describe
from healthgap.geo.layers import with_imd, with_life_expectancy, with_rollups
from healthgap.geo.outcomes import OUTCOMES, outcome_gap, with_outcomes
from healthgap.services.build import load_area, load_hierarchy, read_cached

from healthgap.errors import InputError
from tests._names import neutral

FRIMLEY = "E54000034"
LE_FILE = "life_expectancy/msoa11_life_expectancy_mortality_localhealth_england.csv"


@pytest.fixture(scope="module")
def source(shared_data):
    """The file's rows as text, keyed by MSOA code, headings squeezed to one line."""
    with open(shared_data / LE_FILE, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    head = [" ".join(h.replace(",", " ").lower().split()) for h in rows[0]]
    return {r[0]: dict(zip(head, r, strict=False)) for r in rows[1:]}


@pytest.fixture(scope="module")
def frimley(shared_data):
    data = DataDir(shared_data)
    h = load_hierarchy(data)
    area = load_area(data, h.resolve(FRIMLEY), h)
    area = with_imd(area, read_cached(readers.read_imd, data.path("imd")))
    area = with_life_expectancy(area, read_cached(readers.read_life_expectancy,
                                                  data.path("life_expectancy")))
    return with_outcomes(with_rollups(area), read_local_health_outcomes(shared_data / LE_FILE))


def test_reader_values_equal_the_source(shared_data, source):
    out = read_local_health_outcomes(shared_data / LE_FILE)
    assert list(out.columns) == list(OUTCOMES) and len(out) == 6791
    for ours, heading in LOCAL_HEALTH_OUTCOMES.items():
        text = pd.Series({code: row[heading] for code, row in source.items()})
        expected = pd.to_numeric(text.replace("", np.nan))
        np.testing.assert_array_equal(out[ours].reindex(expected.index).to_numpy(),
                                      expected.to_numpy(dtype=float))
    # the gaps the source has stay gaps (hip fracture: 57 suppressed MSOAs)
    assert int(out["sar_emergency_hip_fracture_65"].isna().sum()) == 57
    assert out.loc["E02000001", "smr_all_causes"] == 52.8  # City of London 001, as published


def test_reader_rejects_text_naming_the_column_and_code(shared_data, tmp_path):
    lines = (shared_data / LE_FILE).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    head_end = next(i for i, ln in enumerate(lines) if ln.startswith("E02"))
    bad = lines[head_end].split(",")
    bad[-1] = "n/a\n"  # emergency admissions, all causes
    p = tmp_path / "lh.csv"
    p.write_text("".join([*lines[:head_end], ",".join(bad), *lines[head_end + 1:head_end + 5]]))
    with pytest.raises(InputError, match=r"emergency hospital admissions for all causes.*"
                                         + bad[0]):
        read_local_health_outcomes(p)


def test_msoa_layers_equal_the_source_and_roll_up_by_the_rule(frimley, source, shared_data):
    msoa = frimley.msoa
    assert len(msoa) > 89  # ring MSOAs carry the outcomes too, for the spatial statistics
    for ours, heading in LOCAL_HEALTH_OUTCOMES.items():
        for code in msoa.index:
            raw = source[code][heading]
            got = msoa.loc[code, ours]
            assert (np.isnan(got) if raw == "" else got == float(raw)), (code, ours)
    # system value: MSOA ratios weighted by the population of their LSOAs inside Frimley
    lk = neutral(
        pd.read_csv(shared_data / "geography/lsoa11_sicbl22_icb22_ltla22_lookup_england.csv"))
    msoa_of = neutral(pd.read_csv(shared_data / "geography/lsoa11_msoa11_lad22_lookup_ew.csv",
                          index_col="lsoa11cd")["msoa11cd"])
    pop = neutral(pd.read_csv(shared_data / "population/lsoa11_population_mid2017_sape20dt1_ew.csv",
                      index_col="lsoa11cd")["population_mid2017"])
    codes = lk.loc[lk["icb22_code"] == FRIMLEY, "lsoa11_code"]
    w = pop.reindex(codes).groupby(msoa_of.reindex(codes).to_numpy()).sum()
    y = pd.Series({c: float(source[c][LOCAL_HEALTH_OUTCOMES["smr_chd"]]) for c in w.index})
    expected = float((w * y).sum() / w.sum())
    assert frimley.system.loc[FRIMLEY, "smr_chd_pwmean"] == pytest.approx(expected, rel=1e-12)
    assert "population-weighted mean" in describe("smr_chd_pwmean").label
    assert describe("smr_chd").higher_is_worse is True


def _hand_gap(shared_data, source, outcome: str) -> dict[str, float]:
    """Fifths and Core20 against the rest for Frimley, from the raw CSVs."""
    lk = neutral(
        pd.read_csv(shared_data / "geography/lsoa11_sicbl22_icb22_ltla22_lookup_england.csv"))
    lsoa = neutral(pd.read_csv(shared_data / "geography/lsoa11_msoa11_lad22_lookup_ew.csv"))
    pop = neutral(
        pd.read_csv(shared_data / "population/lsoa11_population_mid2017_sape20dt1_ew.csv"))
    imd = neutral(pd.read_csv(shared_data / "imd2019/imd2019_lsoa11_england.csv"))
    f = (lsoa.merge(pop, on="lsoa_code").merge(imd[["lsoa_code", "imd_score", "imd_decile"]],
                                              on="lsoa_code"))
    f["inside"] = f["lsoa_code"].isin(lk.loc[lk["icb22_code"] == FRIMLEY, "lsoa11_code"])
    touched = f.loc[f["inside"], "msoa_code"].unique()
    f = f[f["msoa_code"].isin(touched)]
    p = f["population_mid2017"]
    m = pd.DataFrame({
        "score": (p * f["imd_score"]).groupby(f["msoa_code"]).sum()
                 / p.groupby(f["msoa_code"]).sum(),
        "w": p.where(f["inside"], 0).groupby(f["msoa_code"]).sum(),
        "core": p.where(f["inside"] & f["imd_decile"].isin([1, 2]), 0)
                 .groupby(f["msoa_code"]).sum()})
    m["y"] = [float(source[c][LOCAL_HEALTH_OUTCOMES[outcome]]) for c in m.index]
    m = m.sort_values("score", ascending=False)
    mid = (m["w"].cumsum() - m["w"] / 2) / m["w"].sum()
    m["q"] = np.minimum(np.floor(mid * 5) + 1, 5)
    q1, q5 = m[m["q"] == 1], m[m["q"] == 5]
    return {"q1": np.average(q1["y"], weights=q1["w"]), "q5": np.average(q5["y"], weights=q5["w"]),
            "core20": np.average(m["y"], weights=m["core"]),
            "rest": np.average(m["y"], weights=m["w"] - m["core"]),
            "share": m["core"].sum() / m["w"].sum(),
            # the Core20 share of each MSOA's in-area people, averaged as the Core20 value is
            "basis": np.average(m["core"] / m["w"].where(m["w"] > 0), weights=m["core"])}


def test_gap_table_by_hand(frimley, shared_data, source):
    table = outcome_gap(frimley.msoa, frimley.members, columns=["smr_all_causes_u75",
                                                                 "sar_emergency_all"],
                        seed=7, level="system", code=FRIMLEY).set_index("outcome")
    for outcome in ("smr_all_causes_u75", "sar_emergency_all"):
        hand = _hand_gap(shared_data, source, outcome)
        row = table.loc[outcome]
        assert row["q1"] == pytest.approx(hand["q1"], rel=1e-12)
        assert row["q5"] == pytest.approx(hand["q5"], rel=1e-12)
        assert row["q1_q5_ratio"] == pytest.approx(hand["q1"] / hand["q5"], rel=1e-12)
        assert row["core20"] == pytest.approx(hand["core20"], rel=1e-12)
        assert row["rest"] == pytest.approx(hand["rest"], rel=1e-12)
        assert row["core20_rest_ratio"] == pytest.approx(hand["core20"] / hand["rest"],
                                                         rel=1e-12)
        assert row["core20_share"] == pytest.approx(hand["share"], rel=1e-12)
        assert row["core20_basis_share"] == pytest.approx(hand["basis"], rel=1e-12)
        # issue #23: each aggregate says how it is formed and over which period
        assert "population-weighted mean" in row["formed"] and "approximation" in row["formed"]
        assert row["period"].startswith("deaths 2015-19" if outcome.startswith("smr")
                                        else "emergency admissions 2015/16-2019/20")
        assert row["q1_q5_ratio_lo"] < row["q1_q5_ratio"] < row["q1_q5_ratio_hi"]
        assert row["q1_q5_difference_lo"] < row["q1_q5_difference"] < row["q1_q5_difference_hi"]
    # seeded: the same seed gives the same intervals, byte for byte
    again = outcome_gap(frimley.msoa, frimley.members, columns=["sar_emergency_all"], seed=7,
                        level="system", code=FRIMLEY).set_index("outcome")
    assert again.loc["sar_emergency_all", "q1_q5_ratio_lo"] == table.loc[
        "sar_emergency_all", "q1_q5_ratio_lo"]
