"""The study area is immutable: every step returns a new area and leaves the one it was given.

Real data: Rutland (E06000017, 23 LSOAs, 5 MSOAs) and its edge ring from ``../shared/data``.
Each geo/ step and the statistics stage is run on an area, and the area it was given is then
compared, frame by frame, with a deep copy taken before the step.
"""

from __future__ import annotations

import copy
from dataclasses import FrozenInstanceError
from typing import Any

import pandas as pd
import pytest
from healthgap.data import readers
from healthgap.data.layout import DataDir
from healthgap.data.readers import read_local_health_outcomes
from healthgap.geo.areas import LEVELS, StudyArea
from healthgap.geo.core20 import with_core20
from healthgap.geo.joins import REPORT_COLUMNS
from healthgap.geo.layers import with_imd, with_life_expectancy, with_rollups
from healthgap.geo.neighbourhoods import generate_neighbourhoods, with_neighbourhoods
from healthgap.geo.outcomes import with_outcomes
from healthgap.services.analysis import run_statistics
from healthgap.services.build import join_computed_columns, load_area, load_hierarchy, read_cached

from healthgap.errors import LayerClashError, ParameterError

RUTLAND = "E06000017"
FRAMES = (*LEVELS, "members", "report")


@pytest.fixture(scope="module")
def data(shared_data):
    return DataDir(shared_data)


@pytest.fixture(scope="module")
def selected(data) -> StudyArea:
    h = load_hierarchy(data)
    return load_area(data, h.resolve(RUTLAND), h)


@pytest.fixture(scope="module")
def joined(selected, data) -> StudyArea:
    area = with_imd(selected, read_cached(readers.read_imd, data.path("imd")))
    area = with_life_expectancy(area, read_cached(readers.read_life_expectancy,
                                                  data.path("life_expectancy")))
    return with_rollups(area)


def _snapshot(area: StudyArea) -> dict[str, Any]:
    """A deep copy of every frame, the notes and the identity of each frame object."""
    snap: dict[str, Any] = {name: copy.deepcopy(getattr(area, name)) for name in FRAMES}
    snap["notes"] = tuple(area.notes)
    snap["ids"] = {name: id(getattr(area, name)) for name in FRAMES}
    return snap


def _assert_unchanged(area: StudyArea, snap: dict[str, Any]) -> None:
    assert area.notes == snap["notes"]
    assert {name: id(getattr(area, name)) for name in FRAMES} == snap["ids"]
    for name in FRAMES:
        now, before = getattr(area, name), snap[name]
        if before is None:
            assert now is None, name
            continue
        assert list(now.columns) == list(before.columns), name
        pd.testing.assert_frame_equal(pd.DataFrame(now), pd.DataFrame(before), obj=name)


def test_study_area_is_frozen(selected):
    for name in (*FRAMES, "notes", "ref"):
        with pytest.raises(FrozenInstanceError):
            setattr(selected, name, getattr(selected, name))
    assert isinstance(selected.notes, tuple)  # no .append: a note is added by with_notes
    assert selected.neighbourhood is None


def test_with_columns_returns_a_new_area_and_leaves_the_old_one(selected):
    snap = _snapshot(selected)
    table = pd.DataFrame({"double_pop": selected.lsoa["population"] * 2})
    new = selected.with_columns("lsoa", table, source="test")
    _assert_unchanged(selected, snap)
    assert new is not selected and "double_pop" not in selected.lsoa.columns
    assert list(new.lsoa.columns) == [*selected.lsoa.columns, "double_pop"]
    assert (new.lsoa["double_pop"] == 2 * selected.lsoa["population"]).all()
    assert new.msoa is selected.msoa and new.report is selected.report  # the rest is shared
    # a table covering some rows only: every row of the level is kept, the others missing
    part = table.iloc[:5]
    some = selected.with_columns("lsoa", part, source="test")
    assert len(some.lsoa) == len(selected.lsoa)
    assert int(some.lsoa["double_pop"].notna().sum()) == 5
    row = pd.DataFrame([("test", "left_only", "E01999999", "why")], columns=REPORT_COLUMNS)
    noted = selected.with_notes("one", "two").with_report(row)
    assert noted.notes == (*selected.notes, "one", "two")
    assert len(noted.report) == len(selected.report) + 1
    assert noted.report.iloc[-1].tolist() == ["test", "left_only", "E01999999", "why"]
    _assert_unchanged(selected, snap)


def test_with_columns_refuses_a_clashing_column_and_an_absent_level(selected):
    same = selected.lsoa[["population"]].copy()
    assert selected.with_columns("lsoa", same, source="test").lsoa.columns.tolist() == \
        selected.lsoa.columns.tolist()  # the same values under the same name pass through
    other = same.assign(population=same["population"] + 1)
    with pytest.raises(LayerClashError, match=r"raster x\.tif: column\(s\) population"):
        selected.with_columns("lsoa", other, source="raster x.tif")
    with pytest.raises(ParameterError, match="level 'neighbourhood'"):
        selected.with_columns("neighbourhood", same, source="test")  # not attached yet
    with pytest.raises(ParameterError, match="level 'members'"):
        selected.frame("members")


def test_each_geo_step_returns_a_new_area_and_leaves_its_input(selected, data):
    area = selected
    outcomes = read_local_health_outcomes(data.path("life_expectancy"))
    steps = [
        ("with_imd", lambda a: with_imd(a, read_cached(readers.read_imd, data.path("imd")))),
        ("with_life_expectancy", lambda a: with_life_expectancy(
            a, read_cached(readers.read_life_expectancy, data.path("life_expectancy")))),
        ("with_rollups", with_rollups),
        ("with_neighbourhoods", lambda a: with_neighbourhoods(
            a, generate_neighbourhoods(a, seed=7))),
        ("with_core20", with_core20),
        ("with_outcomes", lambda a: with_outcomes(a, outcomes)),
    ]
    expect = {"with_imd": ("lsoa", "imd_score"), "with_life_expectancy": ("msoa", "le_male"),
              "with_rollups": ("place", "le_male_pwmean"),
              "with_neighbourhoods": ("lsoa", "nbhd_cd"), "with_core20": ("system", "core20_pop"),
              "with_outcomes": ("system", "smr_all_causes_pwmean")}
    for name, step in steps:
        snap = _snapshot(area)
        new = step(area)
        _assert_unchanged(area, snap)
        level, column = expect[name]
        assert column in new.frame(level).columns, name
        assert area.frame(level) is not new.frame(level), name
        if getattr(area, level) is not None:
            assert column not in area.frame(level).columns, name
        area = new
    assert area.neighbourhood is not None and selected.neighbourhood is None


def test_statistics_return_columns_and_one_step_joins_them(joined):
    snap = _snapshot(joined)
    out = run_statistics(joined, weights="queen", permutations=99, seed=2019, alpha=0.05,
                         correction="fdr")
    _assert_unchanged(joined, snap)  # the statistics stage leaves the area as it was
    lsoa_cols = out.columns["lsoa"]
    assert {"lisa_imd_score", "lisa_imd_score_p", "gi_imd_score_z"} <= set(lsoa_cols.columns)
    assert not set(lsoa_cols.columns) & set(joined.lsoa.columns)
    done = join_computed_columns(joined, [("spatial statistics", out.columns)])
    _assert_unchanged(joined, snap)
    assert list(done.lsoa.columns) == [*joined.lsoa.columns, *lsoa_cols.columns]
    pd.testing.assert_series_equal(done.lsoa["gi_imd_score_z"],
                                   lsoa_cols["gi_imd_score_z"].reindex(joined.lsoa.index))
    # joining the same columns again is refused only when a value differs
    assert join_computed_columns(done, [("again", out.columns)]).lsoa.shape == done.lsoa.shape
    changed = {"lsoa": lsoa_cols.assign(gi_imd_score_z=lsoa_cols["gi_imd_score_z"] + 1)}
    with pytest.raises(LayerClashError, match="recomputed: column.*gi_imd_score_z"):
        join_computed_columns(done, [("recomputed", changed)])


@pytest.mark.parametrize("by", ["msoa_code", "place_code"])
def test_dissolved_equals_geopandas_dissolve(selected, by):
    """The threaded unions are geopandas' dissolve, WKB for WKB (rows without a key left out)."""
    import numpy as np
    from healthgap.geo.rollup import dissolved

    lsoa = selected.lsoa[[by, "geometry"]].copy()
    lsoa.iloc[::7, 0] = np.nan  # rows without a key
    expected = lsoa.dissolve(by=by).geometry
    got = dissolved(lsoa, by=by, threads=2)
    pd.testing.assert_index_equal(got.index, expected.index)
    assert got.name == expected.name and got.crs == expected.crs
    assert [g.wkb for g in got.array] == [g.wkb for g in expected.array]
