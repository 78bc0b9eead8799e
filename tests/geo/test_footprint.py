"""Footprint files: what is refused by name, what is reported, and the hierarchy they make."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from healthgap.data.layout import DataDir
from healthgap.geo.footprint import REQUIRED, apply_footprint, validate_footprint
from healthgap.services.vintage_inputs import load_hierarchy, read_footprint

from healthgap.errors import ValidationError

FRIMLEY = "E54000034"
SYSTEM = "E54999026"


@pytest.fixture(scope="module")
def h2025(shared_data: Path):
    return load_hierarchy(DataDir(shared_data), "2025")


def _footprint(h, lads: tuple[str, ...]) -> pd.DataFrame:
    rows = h.frame[h.frame["place_code"].isin(lads)]
    return pd.DataFrame({"lsoa_code": rows.index, "system_code": SYSTEM,
                         "system_name": "East Berkshire test system",
                         "place_code": rows["place_code"].to_numpy(),
                         "place_name": rows["place_name"].to_numpy()})


def test_footprint_replaces_systems_and_places(h2025) -> None:
    raw = _footprint(h2025, ("E06000036", "E06000039", "E06000040"))
    fp = validate_footprint(raw, h2025, source="fp.csv", vintage="2025")
    h = apply_footprint(h2025, fp)
    ref = h.resolve(SYSTEM)
    assert (ref.level, ref.code) == ("icb", SYSTEM)
    assert len(h.lsoas_in(ref)) == 82 + 84 + 89  # SOURCES.md lookup counts by LAD
    # the rest of Frimley keeps its ICB (they are the ring of a build of the new system)
    assert (h.frame["system_code"] == FRIMLEY).sum() == 455 - 255
    # Frimley is split: the notes say how many of its LSOAs were left out
    assert any(f"ICB {FRIMLEY}" in n and "200 left out" in n for n in fp.notes)


def test_every_problem_is_refused_by_name(h2025, shared_data: Path, tmp_path: Path) -> None:
    raw = _footprint(h2025, ("E06000036",)).head(5).copy()
    raw.loc[len(raw)] = [raw.iloc[0, 0], SYSTEM, "x", "E06000036", "Bracknell Forest"]  # dup
    raw.loc[len(raw)] = ["E01099999", SYSTEM, "x", "E06000036", "Bracknell Forest"]  # unknown
    # a 2011 LSOA that was split in 2021 (not a 2021 code): the wrong vintage
    raw.loc[len(raw)] = ["E01032727", SYSTEM, "x", "E06000036", "Bracknell Forest"]
    raw.loc[len(raw)] = ["E01035234", SYSTEM, "x", "E06000036", None]  # empty name
    raw.loc[len(raw)] = ["E01035235", "Q3Y", "x", "E06000036", "Bracknell Forest"]  # bad code
    path = tmp_path / "fp.csv"
    raw.to_csv(path, index=False)
    with pytest.raises(ValidationError) as info:
        read_footprint(path, hierarchy=h2025, vintage="2025", data=DataDir(shared_data))
    text = str(info.value)
    assert str(path) in text
    assert "given more than once" in text and raw.iloc[0, 0] in text
    assert "unknown LSOA code(s)" in text and "E01099999" in text
    assert "another vintage" in text and "E01032727" in text
    assert "'place_name' is empty" in text
    assert "'Q3Y'" not in text and "Q3Y not an ICB code" in text
    with pytest.raises(ValidationError, match="missing column"):
        validate_footprint(raw.drop(columns=["place_name"]), h2025, source="f", vintage="2025")
    assert REQUIRED[0] == "lsoa_code"


def test_neighbourhood_columns_become_a_lookup(h2025) -> None:
    raw = _footprint(h2025, ("E06000036",))
    raw["neighbourhood_code"] = ["N1" if i % 2 else "N2" for i in range(len(raw))]
    fp = validate_footprint(raw, h2025, source="fp.csv", vintage="2025")
    lk = fp.neighbourhood_lookup()
    assert lk is not None and list(lk.columns) == ["lsoa_code", "nbhd_cd", "nbhd_nm"]
    assert set(lk["nbhd_cd"]) == {"N1", "N2"} and len(lk) == 82
