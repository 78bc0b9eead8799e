"""The build's stages pass immutable, typed contexts: each returns a new one, its input unchanged.

Real data: Rutland (E06000017) from ``../shared/data``, run stage by stage up to the statistics
(the write, atlas and commit stages need the staging folder and are covered by the full builds
in test_build.py and test_demo_build.py, and by scripts/compare_builds.py before/after).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import FrozenInstanceError

import pytest
from healthgap.data.layout import DataDir
from healthgap.data.vintages import V2019
from healthgap.services.build import BuildOptions, load_hierarchy
from healthgap.services.build_stages import (
    _Setup,
    _stage_area,
    _stage_layers,
    _stage_models,
    _stage_statistics,
)
from healthgap.services.store import StagedBuild
from healthgap.services.vintage_inputs import VintageInputs

RUTLAND = "E06000017"


@pytest.fixture(scope="module")
def setup(shared_data, tmp_path_factory) -> Iterator[_Setup]:
    out = tmp_path_factory.mktemp("stages") / "out"
    opts = BuildOptions(area=RUTLAND, data_dir=shared_data, vintage="2019",
                        out_dir=out, access=False,
                        models=False, maps=False, permutations=99)
    data = DataDir(shared_data)
    h = load_hierarchy(data)
    with StagedBuild(out) as staged:  # never committed: the staging folder is removed
        yield _Setup(options=opts, data=data, hierarchy=h, ref=h.resolve(RUTLAND),
                     staged=staged, extra_manifest={}, vin=VintageInputs(data, V2019))
    assert not out.exists()


def test_every_stage_returns_a_new_context_and_leaves_its_input(setup):
    ctx = _stage_area(setup)
    assert ctx.area.ref.code == RUTLAND and len(ctx.area.inside) == 23
    with pytest.raises(FrozenInstanceError):
        ctx.area = ctx.area
    before = (list(ctx.area.lsoa.columns), dict(ctx.inputs), dict(ctx.tables), ctx.area.notes)

    layered = _stage_layers(ctx)
    assert layered is not ctx and layered.area is not ctx.area
    assert (list(ctx.area.lsoa.columns), dict(ctx.inputs), dict(ctx.tables),
            ctx.area.notes) == before
    assert "imd_score" in layered.area.lsoa and "imd_score" not in ctx.area.lsoa
    assert {"imd", "life_expectancy"} <= set(layered.inputs) - set(ctx.inputs)
    assert list(layered.tables) == ["neighbourhood_exceptions", "outcome_gap"]
    assert layered.national is not None and ctx.national is None

    stats = _stage_statistics(layered)
    # the statistics' columns wait for the write stage; the area's frames are untouched
    assert stats.area.lsoa is layered.area.lsoa and stats.area.msoa is layered.area.msoa
    assert "lisa_imd_score" not in stats.area.lsoa and layered.columns == ()
    source, by_level = stats.columns[-1]
    assert source == "spatial statistics"
    assert {"lisa_imd_score", "gi_imd_score_z"} <= set(by_level["lsoa"].columns)
    assert "stats_global" in stats.tables and "stats_global" not in layered.tables

    skipped = _stage_models(stats)  # --no-models: only a note is added
    assert skipped.area.notes == (*stats.area.notes,
                                  "life-expectancy models not fitted (--no-models)")
    assert skipped.area.lsoa is stats.area.lsoa and skipped.columns == stats.columns
