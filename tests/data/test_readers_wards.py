"""Ward names by a build's LSOA codes (data.readers.read_ward_names) and an area's postcodes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from healthgap.data.layout import LAYOUT
from healthgap.data.readers import read_area_postcodes, read_ward_names


def test_wards_by_2011_or_2021_codes(shared_data: Path) -> None:
    wards_path = shared_data / LAYOUT["lsoa21_wards"]
    bridge_path = shared_data / LAYOUT["lsoa11_lsoa21_lookup"]
    bridge = pd.read_csv(bridge_path)
    wards = pd.read_csv(wards_path).set_index("lsoa21_code")
    eng = bridge[bridge["lsoa11_code"].str.startswith("E")]
    unchanged = eng[eng["change_code"] == "U"]["lsoa11_code"].iloc[:3].tolist()
    split = eng[eng["change_code"] == "S"]["lsoa11_code"].iloc[:3].tolist()
    new21 = eng[eng["change_code"] == "S"]["lsoa21_code"].iloc[:2].tolist()
    got, unmatched = read_ward_names(wards_path, [*unchanged, *split, "E01999999"],
                                     bridge_path=bridge_path)
    assert unmatched == ["E01999999"]  # reported, not dropped silently
    for code in unchanged:
        assert got.loc[code, "ward_nm"] == wards.loc[code, "ward24_name"]
    for code in split:  # the ward holding most of its 2021 LSOAs (ties: lowest ward code)
        parts = wards.loc[eng.loc[eng["lsoa11_code"] == code, "lsoa21_code"]]
        counts = parts.groupby("ward24_code").size()
        best = sorted(counts[counts == counts.max()].index)[0]
        assert got.loc[code, "ward_cd"] == best
    # a build on 2021 LSOAs: found directly, no bridge needed
    direct, none = read_ward_names(wards_path, new21)
    assert none == [] and list(direct["ward_nm"]) == list(wards.loc[new21, "ward24_name"])


def test_area_postcodes_only(shared_data: Path) -> None:
    pcs = read_area_postcodes(shared_data / LAYOUT["postcode_lookup"], ["E01013790"])
    assert len(pcs) > 10 and set(pcs["lsoa_code"]) == {"E01013790"}
    assert pcs["pcds"].str.match(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$").all()
