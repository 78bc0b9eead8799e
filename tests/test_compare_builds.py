"""scripts/compare_builds.py on two real demo builds: identical builds pass, perturbed ones fail.

The demo area is built twice from the same inputs and seed (the pipeline is deterministic), so
every layer must compare equal although the manifests' creation times and output folders differ.
Then single, known perturbations of a copy must each be found, named by layer, column and row,
and perturbations below the tolerances must not be.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from healthgap.data.demo import DEMO_ICB
from healthgap.services.build import BuildOptions, build
from healthgap.services.store import BuildStore

from scripts.compare_builds import Tolerance, compare_builds
from tests import _builds
from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "compare_builds.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> tuple[Path, Path]:
    # two builds of the demo with the same options from the same inputs: the first is the one
    # the run shares (tests/_builds.py, also read by test_demo_build.py), the second made here
    one = _builds.demo_without_maps()
    data = Path(one.manifest["parameters"]["data_dir"])
    two = build(BuildOptions(area=DEMO_ICB, data_dir=data,
                             out_dir=tmp_path_factory.mktemp("compare") / "two",
                             synthetic=True, maps=False))
    return one.store.path, two.store.path


@pytest.fixture
def copy(builds, tmp_path) -> Path:
    dst = tmp_path / "healthgap.gpkg"
    shutil.copy(builds[1], dst)
    return dst


def _sql(gpkg: Path, statement: str) -> None:
    with sqlite3.connect(gpkg) as con:
        con.execute(statement)
    con.close()


def _cli(*args: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_two_builds_from_the_same_inputs_are_the_same(builds):
    report = compare_builds(*builds)
    assert report.differences == []
    assert set(report.compared) == set(BuildStore(builds[0]).layers())
    assert {"lsoa", "msoa", "place", "system", "model_sii", "manifest"} <= set(report.compared)
    run = _cli(*builds)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("compared: same")


def test_a_changed_value_is_found_with_its_row(builds, copy):
    lsoa = BuildStore(copy).read_layer("lsoa")
    code = lsoa["lsoa_code"].iloc[3]  # BuildStore reads neutral names (published: lsoa11cd)
    lsoa.loc[lsoa.index[3], "imd_score"] += 1e-4
    BuildStore(copy).write_layer("lsoa", lsoa)
    report = compare_builds(builds[0], copy)
    assert [(d.layer, d.column) for d in report.differences] == [("lsoa", "imd_score")]
    assert report.differences[0].what.startswith("1 of 360 values differ (max |diff| 0.0001")
    assert report.differences[0].examples[0].startswith(f"{code}:")
    run = _cli(builds[0], copy)
    assert run.returncode == 1 and "lsoa.imd_score: 1 of 360 values differ" in run.stdout
    # within a looser tolerance the same change passes
    assert compare_builds(builds[0], copy, tol=Tolerance(rtol=0, atol=1e-3)).same


def test_a_moved_vertex_is_found_and_measured(builds, copy):
    msoa = BuildStore(copy).read_layer("msoa")
    geoms = msoa.geometry.to_numpy()
    geoms[0] = shapely.transform(geoms[0], lambda xy: xy + np.array([0.5, 0.0]))
    msoa.geometry = geoms
    BuildStore(copy).write_layer("msoa", msoa)
    report = compare_builds(builds[0], copy)
    assert [(d.layer, d.column) for d in report.differences] == [("msoa", "geometry")]
    assert report.differences[0].what == f"1 of {len(msoa)} geometries differ"
    assert "Hausdorff distance 0.5" in report.differences[0].examples[0]


def test_a_sub_tolerance_vertex_shift_and_reordered_rows_are_the_same(builds, copy):
    lsoa = BuildStore(copy).read_layer("lsoa")
    lsoa.geometry = shapely.transform(lsoa.geometry.to_numpy(), lambda xy: xy + 1e-8)
    BuildStore(copy).write_layer("lsoa", lsoa.iloc[::-1])
    assert compare_builds(builds[0], copy).same


def test_missing_layers_columns_and_manifest_changes_are_reported(builds, copy):
    _sql(copy, "DROP TABLE model_theil")
    _sql(copy, "DELETE FROM gpkg_contents WHERE table_name = 'model_theil'")
    _sql(copy, "ALTER TABLE model_sii DROP COLUMN gap")
    _sql(copy, "UPDATE manifest SET value = '\"9.9.9\"' WHERE key = 'healthgap_version'")
    report = compare_builds(builds[0], copy)
    found = {(d.layer, d.what.split(":")[0]) for d in report.differences}
    assert ("model_theil", "layer only in the old build") in found
    assert ("model_sii", "columns only in old") in found
    manifest = [d for d in report.differences if d.layer == "manifest"]
    assert manifest and manifest[0].examples == ("healthgap_version: '0.1.0' -> '9.9.9'",)
    # the same layer can be left out on request
    assert not any(d.layer == "model_theil" for d in
                   compare_builds(builds[0], copy, ignore=("model_theil",)).differences)


def test_bad_input_names_the_path(builds, tmp_path):
    run = _cli(builds[0], tmp_path / "nowhere")
    assert run.returncode == 2
    assert str(tmp_path / "nowhere" / "healthgap.gpkg") in run.stderr
    assert _cli(builds[0], builds[1], "--rtol", "-1").returncode == 2
