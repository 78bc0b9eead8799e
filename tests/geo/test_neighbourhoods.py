"""Neighbourhoods and Core20 (issue #14) on real data from ../shared/data.

Independent references: the Core20 population is recomputed straight from the published CSVs
(IMD 2019 File 7 deciles, ONS mid-2017 population, the ONS/NHS lookups) with plain pandas;
contiguity is checked with shapely (the union of a neighbourhood's LSOA polygons, grown by 1 m
to join polygons that only touch, is one polygon), not with the adjacency the code uses.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from healthgap.geo.core20 import core20_life_expectancy, with_core20
from healthgap.geo.neighbourhoods import (
    NBHD_MAX,
    NBHD_MIN,
    generate_neighbourhoods,
    pcn_lookup,
    validate_lookup,
    with_neighbourhoods,
)

from healthgap.errors import ValidationError
from tests._codes import FRIMLEY, GM
from tests._names import neutral
from tests.geo._areas import joined_area


@pytest.fixture(scope="module")
def frimley(shared_data):
    area = joined_area(shared_data, FRIMLEY)
    nb = generate_neighbourhoods(area, seed=7)
    return with_core20(with_neighbourhoods(area, nb)), nb


def _core20_reference(data: Path, icb: str) -> float:
    """Core20 residents of an ICB from the raw CSVs (no healthgap code)."""
    icb_lookup = neutral(
        pd.read_csv(data / "geography/lsoa11_sicbl22_icb22_ltla22_lookup_england.csv",
                             dtype=str))
    codes = set(icb_lookup.loc[icb_lookup["icb22_code"] == icb, "lsoa11_code"])
    imd = neutral(pd.read_csv(data / "imd2019/imd2019_lsoa11_england.csv", dtype={"lsoa11cd": str}))
    dec_col = next(c for c in imd.columns if c == "imd_decile")
    pop = neutral(pd.read_csv(data / "population/lsoa11_population_mid2017_sape20dt1_ew.csv"))
    frame = imd[imd["lsoa_code"].isin(codes)].merge(pop, on="lsoa_code")
    assert len(frame) == len(codes)
    return float(frame.loc[frame[dec_col].isin([1, 2]), "population_mid2017"].sum())


def _check_generated(area, nb) -> None:
    inside = area.inside
    assert inside["nbhd_cd"].notna().all(), "every in-area LSOA gets a neighbourhood"
    excepted = set(nb.exceptions["nbhd_cd"])
    assert nb.exceptions["reason"].str.len().gt(10).all()
    for code, grp in inside.groupby("nbhd_cd"):
        assert grp["place_code"].nunique() == 1, f"{code} straddles places"
        union = shapely.union_all(grp.geometry.buffer(1.0).values)
        assert union.geom_type == "Polygon" or code in excepted, f"{code} not contiguous"
        pop = grp["population"].sum()
        assert NBHD_MIN <= pop <= NBHD_MAX or code in excepted, f"{code}: {pop}"
        # named after its largest MSOA
        largest = grp.groupby("msoa_name")["population"].sum().idxmax()
        assert area.neighbourhood.loc[code, "nbhd_nm"] == f"{largest} neighbourhood"
    # nested in MSOAs: each MSOA's in-area LSOAs share one neighbourhood
    assert inside.groupby("msoa_code")["nbhd_cd"].nunique().max() == 1
    assert len(excepted) <= 0.2 * inside["nbhd_cd"].nunique()


def test_frimley_core20_population_equals_raw_sum(frimley, shared_data):
    area, _ = frimley
    ref = _core20_reference(shared_data, FRIMLEY)
    assert ref > 0
    assert area.system.loc[FRIMLEY, "core20_pop"] == pytest.approx(ref, abs=0.5)
    # the same total at every level
    for level in ("place", "neighbourhood"):
        assert getattr(area, level)["core20_pop"].sum() == pytest.approx(ref, abs=0.5)
    share = ref / area.inside["population"].sum()
    assert area.system.loc[FRIMLEY, "core20_share"] == pytest.approx(share, rel=1e-12)


def test_frimley_generated_neighbourhoods_are_valid(frimley):
    area, nb = frimley
    _check_generated(area, nb)
    n = area.neighbourhood
    assert n.index.name == "nbhd_cd"
    assert {"nbhd_nm", "place_code", "population", "in_area", "core20_pop", "core20_share",
            "imd_score", "le_male_pwmean"} <= set(n.columns)
    assert n["population"].sum() == area.inside["population"].sum()
    assert area.lsoa.loc[~area.lsoa["in_area"], "nbhd_cd"].isna().all()


def test_generation_is_deterministic_for_a_seed(frimley, shared_data):
    area, nb = frimley
    again = generate_neighbourhoods(area, seed=7)
    pd.testing.assert_frame_equal(nb.lookup, again.lookup)
    # the result cannot be changed behind the build's back; with_notes returns a new one
    with pytest.raises(FrozenInstanceError):
        nb.notes = ()  # type: ignore[misc]
    more = nb.with_notes("checked")
    assert more.notes == (*nb.notes, "checked") and "checked" not in nb.notes


def test_core20_life_expectancy_by_hand(frimley):
    area, _ = frimley
    inside = pd.DataFrame(area.inside)
    place = inside.groupby("place_code")["core20"].sum().idxmax()  # the place with most Core20
    rows = inside[inside["place_code"] == place]
    le = rows["msoa_code"].map(area.msoa["le_male"])
    core = rows["core20"].astype(bool) & le.notna()
    assert core.sum() >= 3
    expected = (le[core] * rows.loc[core, "population"]).sum() / rows.loc[core, "population"].sum()
    got = core20_life_expectancy(inside, area.msoa, by="place_code").loc[place]
    assert got["le_male_core20_pwmean"] == pytest.approx(expected, abs=1e-9)
    assert got["le_male_core20_gap"] == pytest.approx(
        got["le_male_noncore20_pwmean"] - expected, abs=1e-9)
    other = ~rows["core20"].astype(bool) & le.notna()
    exp_other = ((le[other] * rows.loc[other, "population"]).sum()
                 / rows.loc[other, "population"].sum())
    assert got["le_male_noncore20_pwmean"] == pytest.approx(exp_other, abs=1e-9)
    # issue #23: how Core20 the MSOAs behind the Core20 figure are, from ALL their LSOAs
    m = pd.DataFrame(area.members)
    flag = pd.to_numeric(m["imd_decile"], errors="coerce").isin((1, 2))
    msoa_share = ((m["population"] * flag).groupby(m["msoa_code"]).sum()
                  / m["population"].groupby(m["msoa_code"]).sum())
    np.testing.assert_allclose(area.msoa["core20_share"].to_numpy(dtype=float),
                               msoa_share.reindex(area.msoa.index).to_numpy(), rtol=1e-12)
    w = rows.loc[core, "population"]
    basis = float((w * rows.loc[core, "msoa_code"].map(msoa_share)).sum() / w.sum())
    got = core20_life_expectancy(inside, area.msoa, by="place_code").loc[place]
    assert got["le_male_core20_basis_share"] == pytest.approx(basis, abs=1e-12)
    assert 0 < basis <= 1


def _lookup(area) -> pd.DataFrame:
    return area.inside[["nbhd_cd"]].reset_index().assign(
        nbhd_nm=lambda f: f["nbhd_cd"] + " name")


def test_supplied_lookup_bad_input_is_named(frimley):
    area, _ = frimley
    good = _lookup(area)
    dup = pd.concat([good, good.iloc[[0]]])
    with pytest.raises(ValidationError, match=good["lsoa_code"].iloc[0]):
        validate_lookup(dup, area)
    bad = good.copy()
    bad.loc[0, "lsoa_code"] = "E02000001"
    with pytest.raises(ValidationError, match="E02000001"):
        validate_lookup(bad, area)
    zero = good.copy()
    first = zero["lsoa_code"].iloc[0]
    zero.loc[0, "nbhd_cd"] = "ZERO"
    pop = area.lsoa["population"].where(area.lsoa.index != first, 0.0)
    with pytest.raises(ValidationError, match="ZERO"):
        validate_lookup(zero, replace(area, lsoa=area.lsoa.assign(population=pop)))


def test_supplied_lookup_reports_out_of_area_unassigned_and_noncontiguous(frimley):
    area, _ = frimley
    good = _lookup(area)
    ring = area.lsoa.index[~area.lsoa["in_area"]][0]
    extra = pd.DataFrame({"lsoa_code": [ring, "E01999999"], "nbhd_cd": ["X", "X"],
                          "nbhd_nm": ["x", "x"]})
    dropped = good["lsoa_code"].iloc[-1]
    nb = validate_lookup(pd.concat([good.iloc[:-1], extra]), area)
    rep = nb.report.set_index("code")
    assert {ring, "E01999999", dropped} <= set(rep.index)
    assert "outside the study area" in rep.loc[ring, "reason"]
    assert "not assigned" in rep.loc[dropped, "reason"]
    assert any("X" in n for n in nb.notes)  # the neighbourhood left empty is named
    # two far-apart LSOAs in one neighbourhood: refused, both pieces named
    inside = area.inside
    a = inside.index[inside["pw_x"].argmin()]
    b = inside.index[inside["pw_x"].argmax()]
    split = good.copy()
    split.loc[split["lsoa_code"].isin([a, b]), ["nbhd_cd", "nbhd_nm"]] = "APART"
    with pytest.raises(ValidationError, match="APART.*pieces"):
        validate_lookup(split, area)
    allowed = validate_lookup(split, area, allow_noncontiguous=True)
    assert allowed.exceptions["reason"].str.contains("not contiguous").any()


def test_pcn_catchments_take_the_majority_pcn(frimley):
    area, _ = frimley
    codes = list(area.inside.index[:3])
    # LSOA 0: 60 patients at P1 (PCN A), 40 at P2 (PCN B) -> A, share 0.6
    # LSOA 1: 10 at P1, 30 at P3 (PCN B) -> B, share 0.75 ; LSOA 2: only P4 (no PCN) -> none
    reg = pd.DataFrame({"practice_code": ["P1", "P2", "P1", "P3", "P4"],
                        "lsoa_code": [codes[0], codes[0], codes[1], codes[1], codes[2]],
                        "patients": [60, 40, 10, 30, 5]})
    pcn = pd.DataFrame({"pcn_code": ["U1", "U2", "U2"], "pcn_name": ["A", "B", "B"]},
                       index=pd.Index(["P1", "P2", "P3"], name="practice_code"))
    nb = pcn_lookup(reg, pcn, area)
    assert nb.lookup.loc[codes[0], "nbhd_cd"] == "U1"
    assert nb.lookup.loc[codes[1], "nbhd_cd"] == "U2"
    assert codes[2] not in nb.lookup.index
    s = nb.shares.set_index(["lsoa_code", "pcn_code"])["share"]
    assert s[(codes[0], "U1")] == pytest.approx(0.6)
    assert s[(codes[1], "U2")] == pytest.approx(0.75)
    assert "P4" in set(nb.report["code"])


@pytest.mark.slow
def test_cli_round_trips_a_lookup_unchanged(shared_data, tmp_path):
    from healthgap.services.cli import app
    from typer.testing import CliRunner

    cli = ["neighbourhoods", "--area", "E06000036", "--data", str(shared_data)]
    runner = CliRunner()
    first = runner.invoke(app, [*cli, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    csv = tmp_path / "a" / "neighbourhoods.csv"
    again = runner.invoke(app, [*cli, "--out", str(tmp_path / "b"), "--neighbourhoods",
                                str(csv)])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "b" / "neighbourhoods.csv").read_bytes() == csv.read_bytes()
    import pyogrio

    assert "neighbourhood" in {n for n, _ in pyogrio.list_layers(tmp_path / "a" /
                                                                 "neighbourhoods.gpkg")}


@pytest.mark.slow
def test_greater_manchester_core20_and_neighbourhoods(shared_data):
    area = joined_area(shared_data, GM, ring=0)
    assert len(area.inside) == 1673
    nb = generate_neighbourhoods(area, seed=2019)
    area = with_core20(with_neighbourhoods(area, nb))
    ref = _core20_reference(shared_data, GM)
    assert area.system.loc[GM, "core20_pop"] == pytest.approx(ref, abs=0.5)
    _check_generated(area, nb)
