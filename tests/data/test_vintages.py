"""The 2025 vintage against values computed by hand from the shared CSVs and MHCLG's summaries.

Every expected value here is computed with plain pandas straight from the files (not through
healthgap's readers), or taken from MHCLG's published summaries / SOURCES.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from healthgap.data.layout import LAYOUT, DataDir
from healthgap.data.vintages import (
    ROLES,
    V2019,
    V2025,
    VINTAGES,
    declared_vintage,
    get_vintage,
    resolve_vintage,
)
from healthgap.geo.core20 import england_core20
from healthgap.geo.rollup import weighted_rollup
from healthgap.services.build import load_hierarchy
from healthgap.services.vintage_inputs import VintageInputs

from healthgap.errors import ParameterError
from tests._codes import FRIMLEY, GM


@pytest.fixture(scope="module")
def raw(shared_data: Path) -> dict[str, pd.DataFrame]:
    """The 2025 files as plain pandas reads them."""
    d = shared_data
    return {
        "imd": pd.read_csv(d / LAYOUT["imd2025"]),
        "pop": pd.read_csv(d / LAYOUT["census2021_residents"]),
        "lookup": pd.read_csv(d / LAYOUT["lsoa21_lookup"]),
        "carry": pd.read_csv(d / LAYOUT["lsoa11_lsoa21_lookup"]),
        "le": pd.read_csv(d / LAYOUT["life_expectancy"],
                          usecols=["msoa11cd", "le_birth_male_2015_19",
                                   "le_birth_female_2015_19"]),
        "l11": pd.read_csv(d / LAYOUT["lsoa_lookup"], usecols=["lsoa11cd", "msoa11cd"]),
        "pop11": pd.read_csv(d / LAYOUT["population"]),
        "icb_summary": pd.read_csv(d / LAYOUT["imd2025_icb_summary"]),
        "ltla_summary": pd.read_csv(d / LAYOUT["imd2025_ltla_summary"]),
    }


@pytest.fixture(scope="module")
def vin(shared_data: Path) -> VintageInputs:
    return VintageInputs(DataDir(shared_data), V2025)


def test_every_vintage_declares_every_role_with_a_layout_key() -> None:
    for v in VINTAGES.values():
        assert set(ROLES) <= set(v.files), v.name
        assert set(v.files.values()) <= set(LAYOUT), v.name
        assert set(v.required()) <= set(LAYOUT)
        assert v.describe()["label"] == v.label
    with pytest.raises(ParameterError, match="--vintage '2011'"):
        get_vintage("2011")


def test_the_data_directory_declares_its_vintage(tmp_path: Path, shared_data: Path) -> None:
    assert resolve_vintage(None, shared_data) is V2025  # shared data declares none: default
    (tmp_path / "demo_manifest.json").write_text('{"vintage": "2019"}')
    assert declared_vintage(tmp_path) == "2019"
    assert resolve_vintage(None, tmp_path) is V2019
    assert resolve_vintage("2025", tmp_path) is V2025  # asked for wins


def test_2025_hierarchy_is_the_april_2024_lookup(shared_data: Path) -> None:
    h = load_hierarchy(DataDir(shared_data), "2025")
    assert len(h.frame) == V2025.lsoa_count_england == 33_755
    assert h.frame["system_code"].nunique() == 42
    assert h.frame["place_code"].nunique() == 296
    assert (h.frame["system_code"] == FRIMLEY).sum() == 455  # SOURCES.md
    assert len(load_hierarchy(DataDir(shared_data), "2019").frame) == 32_844


def test_core20_from_imd2025_deciles(raw: dict[str, pd.DataFrame], vin: VintageInputs) -> None:
    # by hand: Census 2021 residents of LSOAs in IMD 2025 deciles 1-2 (SOURCES.md: England
    # 20.21 %, Frimley 21,672 of 764,343, Greater Manchester 1,132,573 of 2,867,871)
    x = raw["lookup"].merge(raw["imd"], on="lsoa21_code").merge(raw["pop"], on="lsoa21_code")
    x["core20"] = x["IMD_decile"] <= 2
    assert round(100 * x.loc[x.core20, "total_residents"].sum()
                 / x["total_residents"].sum(), 2) == 20.21
    for icb, core, total in ((FRIMLEY, 21_672, 764_343), (GM, 1_132_573, 2_867_871)):
        s = x[x["icb24_code"] == icb]
        assert (s.loc[s.core20, "total_residents"].sum(), s["total_residents"].sum()) == (core,
                                                                                        total)
    # healthgap's path: the vintage's readers and geo.core20
    eng = england_core20(vin.imd(), vin.population())
    assert eng["core20_share"] == pytest.approx(
        x.loc[x.core20, "total_residents"].sum() / x["total_residents"].sum(), abs=1e-12)


def _pw_imd(vin: VintageInputs, shared_data: Path, by: str) -> pd.Series:
    h = load_hierarchy(DataDir(shared_data), "2025")
    lsoa = h.frame[[by]].join(vin.imd()[["imd_score"]]).join(vin.population())
    return weighted_rollup(lsoa, ["imd_score"], by=by)["imd_score"]


def test_imd2025_average_score_matches_mhclg_summaries(raw: dict[str, pd.DataFrame],
                                                       vin: VintageInputs,
                                                       shared_data: Path) -> None:
    """Population-weighted IMD 2025 score per ICB and local authority vs MHCLG Files 13/10.

    MHCLG weight by File 7's mid-2022 population denominators, which are not in the data; we
    weight by Census 2021 residents. The difference in weights moves an ICB average by at most
    0.094 points (NHS Lincolnshire) and a local authority's by at most 0.342 (City of London,
    ~8,600 residents whose population changed most between 2021 and 2022). Tolerances: ICB
    0.1 points; local authority 0.35 points, and 90 % of them within 0.1 (92 % are).
    """
    icb = _pw_imd(vin, shared_data, "system_code")
    pub = raw["icb_summary"].set_index("icb24_code")["imd_average_score"]
    assert len(icb) == len(pub) == 42
    diff = (icb - pub.reindex(icb.index)).abs()
    assert diff.max() <= 0.1
    assert pub[FRIMLEY] == 12.359 and icb[FRIMLEY] == pytest.approx(12.359, abs=0.05)
    assert pub[GM] == 29.600 and icb[GM] == pytest.approx(29.600, abs=0.001)
    lad = _pw_imd(vin, shared_data, "place_code")
    pub = raw["ltla_summary"].set_index("ltla24_code")["imd_average_score"]
    diff = (lad - pub.reindex(lad.index)).abs()
    assert len(lad) == 296 and diff.notna().all()
    assert diff.max() <= 0.35 and (diff <= 0.1).mean() >= 0.90


def _by_hand(raw: dict[str, pd.DataFrame], lsoa21: str) -> tuple[str, float]:
    """The carry rule computed from the CSVs for one 2021 LSOA (male life expectancy)."""
    c = raw["carry"]
    rows = c[c["lsoa21_code"] == lsoa21]
    le = raw["le"].set_index("msoa11cd")["le_birth_male_2015_19"]
    msoa = raw["l11"].set_index("lsoa11cd")["msoa11cd"]
    pop = raw["pop11"].set_index("lsoa11cd")["population_mid2017"]
    codes = rows["change_code"].unique()
    assert len(codes) == 1
    if codes[0] in ("U", "S"):
        assert len(rows) == 1
        return codes[0], float(le[msoa[rows["lsoa11_code"].iloc[0]]])
    parents = rows["lsoa11_code"].tolist()
    kids = [c.loc[c["lsoa11_code"] == p, "lsoa21_code"].nunique() for p in parents]
    w = np.array([pop[p] / k for p, k in zip(parents, kids, strict=True)])
    v = np.array([le[msoa[p]] for p in parents])
    return codes[0], float((w * v).sum() / w.sum())


@pytest.mark.parametrize(("lsoa21", "code"), [
    ("E01011949", "U"),  # Hartlepool 009A, unchanged
    ("E01035234", "S"),  # one of the two 2021 LSOAs Frimley's E01032727 was split into
    ("E01035188", "M"),  # Hartlepool 005A and 005D (2011) merged
])
def test_life_expectancy_carried_by_hand(raw: dict[str, pd.DataFrame], vin: VintageInputs,
                                         lsoa21: str, code: str) -> None:
    got_code, expected = _by_hand(raw, lsoa21)
    assert got_code == code
    carried = vin.carried()
    assert carried is not None
    assert carried.lsoa.loc[lsoa21, "le_male"] == pytest.approx(expected, abs=1e-9)
    assert carried.how.loc[lsoa21, "change_code"] == code


def test_msoa21_life_expectancy_is_the_weighted_mean_of_its_lsoas(
        raw: dict[str, pd.DataFrame], vin: VintageInputs) -> None:
    carried = vin.carried()
    assert carried is not None
    look = raw["lookup"].set_index("lsoa21_code")
    pop = raw["pop"].set_index("lsoa21_code")["total_residents"]
    msoa = look.loc[look["icb24_code"] == FRIMLEY, "msoa21_code"].iloc[0]
    members = look.index[look["msoa21_code"] == msoa]
    expected = np.average([_by_hand(raw, m)[1] for m in members], weights=pop[members])
    assert vin.life_expectancy().loc[msoa, "le_male"] == pytest.approx(expected, abs=1e-9)


def test_practice_list_sizes_are_the_supply_and_unmatched_are_reported(
        shared_data: Path, vin: VintageInputs) -> None:
    read = vin.gp_practices()
    fac, rep = read.facilities, read.report
    # by hand: active GP practices (status A, prescribing setting 4) and the Jan 2021 lists
    ep = pd.read_csv(shared_data / LAYOUT["gp_practices"], dtype=str)
    active = ep[(ep["status_code"] == "A") & (ep["prescribing_setting"] == "4")]
    lists = pd.read_csv(shared_data / LAYOUT["gp_list_sizes"], dtype={"CODE": str})
    size = lists.set_index("CODE")["NUMBER_OF_PATIENTS"]
    sup = fac.set_index("code")["supply"]
    assert (sup == size.reindex(sup.index)).all()  # never a silent 1
    no_list = set(active["org_code"]) - set(size.index)
    reported = set(rep.loc[rep["reason"] == "invalid_supply", "code"])
    other = set(rep.loc[rep["reason"] != "invalid_supply", "code"])  # e.g. Welsh practices
    assert reported <= no_list and no_list - reported <= other and len(reported) > 0
    assert not no_list & set(fac["code"])
    assert rep.loc[rep["reason"] == "invalid_supply", "detail"].str.contains(
        "gp_patients_registered_by_practice_jan2021.csv").all()
    # the PCN of each practice: current ePCN membership (no end date)
    pcn = pd.read_csv(shared_data / LAYOUT["epcn"], dtype=str, keep_default_na=False)
    cur = pcn[pcn["Practice to PCN Relationship End Date"] == ""].set_index(
        "Partner Organisation Code")["PCN Code"]
    got = fac.set_index("code")["pcn_code"].dropna()
    assert len(got) > 0.9 * len(fac)
    assert (got == cur.reindex(got.index)).all()


def test_catalogue_words_follow_the_vintage() -> None:
    from healthgap.geo.indicators import describe, vintage_wording

    assert "IMD 2019" in describe("imd_score").label
    with vintage_wording(V2025.wording):
        d = describe("imd_score")
        assert "IMD 2025" in d.label and "2019" not in d.label + d.source + d.period
        assert describe("population").period == "Census 2021"
        assert "IMD 2025 deciles 1-2" in describe("core20").label
        assert describe("le_male").period == describe("le_male").period  # 2015-19 stays
    assert "IMD 2019" in describe("imd_score").label  # only inside the block
    with vintage_wording(V2019.wording):
        assert "IMD 2019" in describe("imd_score").label
