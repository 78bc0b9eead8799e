"""Hierarchy and area selection on the real ONS lookups."""

from __future__ import annotations

import pytest
from healthgap.data import readers
from healthgap.geo.hierarchy import Hierarchy

from healthgap.errors import UnknownAreaError


@pytest.fixture(scope="module")
def hierarchy(shared_data):
    g = shared_data / "geography"
    return Hierarchy.from_lookups(
        readers.read_lsoa_lookup(g / "lsoa11_msoa11_lad22_lookup_ew.csv"),
        readers.read_icb_lookup(g / "lsoa11_sicbl22_icb22_ltla22_lookup_england.csv"))


def test_every_english_lsoa_has_a_system(hierarchy):
    assert len(hierarchy.frame) == 32844
    assert hierarchy.report.empty
    assert hierarchy.frame["system_code"].nunique() == 42
    assert hierarchy.frame["subicb_code"].nunique() == 106


@pytest.mark.parametrize("query", ["E54000034", "e54000034", "Frimley", "QNQ",
                                   "NHS Frimley Integrated Care Board"])
def test_resolve_frimley(hierarchy, query):
    ref = hierarchy.resolve(query)
    assert (ref.level, ref.code) == ("icb", "E54000034")
    assert len(hierarchy.lsoas_in(ref)) == 440


def test_resolve_other_levels(hierarchy):
    assert hierarchy.resolve("E06000017").name == "Rutland"
    lad = hierarchy.resolve("Slough")
    assert (lad.level, lad.code) == ("lad", "E06000039")
    assert hierarchy.parents(lad)["icb"].code == "E54000034"
    assert hierarchy.resolve("england").level == "england"


def test_frimley_places(hierarchy):
    # SOURCES.md: Windsor & Maidenhead 89, Slough 80, Bracknell Forest 75, Rushmoor 58,
    # Surrey Heath 47, Hart 43, Waverley 29, Guildford 13, Runnymede 6
    f = hierarchy.frame[hierarchy.frame["system_code"] == "E54000034"]
    counts = f["place_name"].value_counts().to_dict()
    assert counts == {"Windsor and Maidenhead": 89, "Slough": 80, "Bracknell Forest": 75,
                      "Rushmoor": 58, "Surrey Heath": 47, "Hart": 43, "Waverley": 29,
                      "Guildford": 13, "Runnymede": 6}


@pytest.mark.parametrize("query,match", [
    ("E54999999", "no system with that code"),
    ("Atlantis", "no ICB, sub-ICB or local authority"),
    ("NHS", "matches 42 system names"),
    ("", "empty"),
])
def test_unknown_or_ambiguous_area(hierarchy, query, match):
    with pytest.raises(UnknownAreaError, match=match):
        hierarchy.resolve(query)


def test_all_42_icbs_resolve(hierarchy):
    icbs = hierarchy.areas("icb")
    assert len(icbs) == 42
    assert icbs["n_lsoa"].sum() == 32844
    for code in icbs.index:
        assert hierarchy.resolve(code).code == code


def test_exact_local_authority_name_beats_an_icb_containing_it(hierarchy):
    # "Rutland" is part of the ICB name "NHS Leicester, Leicestershire and Rutland ICB" and the
    # exact name of local authority E06000017 (ONS LAD 2022 names); the exact name wins.
    ref = hierarchy.resolve("Rutland")
    assert (ref.level, ref.code) == ("lad", "E06000017")
    assert len(hierarchy.lsoas_in(ref)) == 23  # ONS lookup: Rutland has 23 LSOAs (2011)
    assert hierarchy.resolve("leicester").code == "E06000016"  # the city, not the ICB


@pytest.mark.parametrize("typo,suggested", [("Frimly", "E54000034"),
                                            ("Manchestr", "E08000003"),
                                            ("Ruttland", "E06000017")])
def test_typos_get_suggestions(hierarchy, typo, suggested):
    with pytest.raises(UnknownAreaError, match=f"did you mean .*{suggested}"):
        hierarchy.resolve(typo)


@pytest.mark.parametrize("code,role", [("E01000001", "LSOA"), ("E02000001", "MSOA")])
def test_lsoa_and_msoa_codes_name_the_areas_that_contain_them(hierarchy, code, role):
    # E01000001 "City of London 001A" and E02000001 lie in City of London (E09000001).
    with pytest.raises(UnknownAreaError, match=rf"{code}' is a neighbourhood \({role}\); a "
                       r"build covers an ICB, sub-ICB or local authority.*--area E09000001"):
        hierarchy.resolve(code)
