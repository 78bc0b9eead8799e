"""One split-MSOA rule for every roll-up (issue #23): every rolled-up MSOA column of a Frimley
build, checked on the split MSOAs against a hand computation from the raw CSVs; the Theil units
never file a split MSOA under a neighbouring ICB.

Reference: the population-weighted mean over *all* LSOAs of the MSOA with a value (mid-2017
SAPE populations, the IoD2019 files), written here with pandas; tolerance 1e-12 relative.
"""

from __future__ import annotations

import pandas as pd
import pytest
from healthgap.data.access_inputs import IMD_INDICATORS, read_imd_indicators
from healthgap.data.layout import DataDir
from healthgap.geo.layers import LSOA_ROLLUP, with_lsoa_indicators
from healthgap.geo.model_plan import PLAN
from healthgap.services.analysis import msoa_determinants, theil_units

from tests._names import neutral
from tests.geo._areas import joined_area

FRIMLEY = "E54000034"
SPLIT = ("E02006416", "E02006839")  # Frimley MSOAs with 3 and 2 of their 6 LSOAs inside

#: Every column rolled up LSOA -> MSOA in a build: the IMD columns (geo.layers.with_rollups)
#: and the IoD2019 determinants of the model plan (services.analysis.msoa_determinants).
ROLLED_UP = (*LSOA_ROLLUP,
             *[c for cols in PLAN.determinants.values() for c in cols
               if c in IMD_INDICATORS.values()])


@pytest.fixture(scope="module")
def area(shared_data):
    d = DataDir(shared_data)
    a = joined_area(d, FRIMLEY)
    ind = read_imd_indicators(d.path("imd_indicators"),
                              codes=list(a.lsoa.index.union(a.members.index)))
    return with_lsoa_indicators(a, ind, name="imd_indicators")


@pytest.fixture(scope="module")
def raw(shared_data):
    lk = neutral(pd.read_csv(shared_data / "geography/lsoa11_msoa11_lad22_lookup_ew.csv"))
    pop = neutral(
        pd.read_csv(shared_data / "population/lsoa11_population_mid2017_sape20dt1_ew.csv"))
    imd = neutral(pd.read_csv(shared_data / "imd2019/imd2019_lsoa11_england.csv"))
    ind = neutral(pd.read_csv(shared_data / "imd2019/imd2019_lsoa11_england_indicators.csv"))
    ind = ind.rename(columns=IMD_INDICATORS)
    keep = ["lsoa_code", *[c for c in ROLLED_UP if c in ind.columns]]
    imd_keep = ["lsoa_code", *[c for c in ROLLED_UP if c in imd.columns and c not in keep]]
    return (lk[["lsoa_code", "msoa_code"]].merge(pop, on="lsoa_code")
            .merge(imd[imd_keep], on="lsoa_code").merge(ind[keep], on="lsoa_code"))


def test_every_rolled_up_column_uses_all_lsoas_of_a_split_msoa(area, raw):
    assert set(ROLLED_UP) >= {"imd_score", "air_quality_ratio_sum", "gp_road_distance_km",
                              "housing_poor_condition_share"}
    determinants = msoa_determinants(area)
    got = area.msoa.join(determinants[[c for c in determinants.columns
                                       if c not in area.msoa.columns]])
    for code in SPLIT:
        lsoas = raw[raw["msoa_code"] == code]
        assert len(lsoas) == 6
        inside = area.lsoa.index[area.lsoa["in_area"]]
        assert 0 < lsoas["lsoa_code"].isin(inside).sum() < 6  # really split
        for col in ROLLED_UP:
            has = lsoas[lsoas[col].notna()]  # a missing value is left out, not zero
            w = has["population_mid2017"]
            expected = float((w * has[col]).sum() / w.sum())
            assert got.loc[code, col] == pytest.approx(expected, rel=1e-12), (code, col)
    # and the ring MSOAs: all of them from all their LSOAs, not from the area+ring LSOAs only
    ring = got.index[~got["in_area"]]
    for col in ROLLED_UP:
        has = raw[raw[col].notna()]
        wv = (has["population_mid2017"] * has[col]).groupby(has["msoa_code"]).sum()
        ref = wv / has.groupby("msoa_code")["population_mid2017"].sum()
        pd.testing.assert_series_equal(got.loc[ring, col], ref.reindex(ring), rtol=1e-12,
                                       check_names=False)


def test_theil_units_keep_split_msoas_in_the_area(area):
    units = theil_units(area)
    assert set(units["system_code"]) == {FRIMLEY}  # no second system invented
    for code in SPLIT:
        mine = units[units.index.str.startswith(code + "|")]
        inside = area.members[(area.members["msoa_code"] == code) & area.members["in_area"]]
        assert mine["population_in_group"].sum() == pytest.approx(inside["population"].sum())
    assert units.index.is_unique
