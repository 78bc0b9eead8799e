"""Every bad input of issue #11 is refused by name, with a non-zero exit, before long work.

Each case runs the real `healthgap build` process. "Before long work" is checked by what the
process did not do: no output folder, no temporary folder, no stage started (the progress bar
prints the stage names on stderr).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from healthgap.data.layout import LAYOUT
from healthgap.data.vintages import get_vintage

from tests._names import neutral
from tests.services._processes import read_only_dir

RUTLAND = "E06000017"


def _build(*args: str, data: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "healthgap.services.cli", "build", "--data", str(data),
           "--no-access", "--no-models", "--no-maps", "--permutations", "99", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"})


def _refused(run: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    for text in expected:
        assert text in run.stderr, run.stderr
    assert "read inputs and select the area" not in run.stderr  # no stage started


@pytest.mark.parametrize(("args", "expected"), [
    (["--permutations", "0"], ["--permutations 0: a whole number >= 1, or 'auto'"]),
    (["--weights", "nonsense"], ["--weights 'nonsense': allowed queen, rook, knn, "
                                 "distance_band"]),
    (["--correction", "holm"], ["--correction 'holm': allowed fdr, bonferroni, none"]),
    (["--ring", "-1"], ["--ring -1: a whole number from 0 to 10"]),
    (["--max-loss", "1.5"], ["--max-loss 1.5: a share from 0 up to"]),
])
def test_bad_option_values_name_the_option(args, expected, shared_data, tmp_path):
    run = _build("--area", RUTLAND, "--out", str(tmp_path / "out"), *args, data=shared_data,
                 cwd=tmp_path)
    _refused(run, *expected)
    assert not (tmp_path / "out").exists()


def test_out_is_an_existing_file(shared_data, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    _refused(_build("--area", RUTLAND, "--out", str(target), data=shared_data, cwd=tmp_path),
             f"--out {target}: exists and is not a folder")
    assert target.read_text() == "not a folder"


def test_out_is_a_folder_of_other_files(shared_data, tmp_path):
    # a build replaces its folder whole: a folder holding anything but a build is refused
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    _refused(_build("--area", RUTLAND, "--out", str(tmp_path / "docs"), data=shared_data,
                    cwd=tmp_path), "holds no healthgap build")
    assert (tmp_path / "docs" / "notes.txt").read_text() == "mine"


def test_out_on_a_read_only_file_system(shared_data, tmp_path):
    with read_only_dir(tmp_path / "ro") as ro:
        _refused(_build("--area", RUTLAND, "--out", str(ro / "rutland"), data=shared_data,
                        cwd=tmp_path), f"--out {ro / 'rutland'}: cannot write into {ro}")


@pytest.mark.parametrize(("area", "expected"), [
    ("E01000001", ["area 'E01000001' is a neighbourhood (LSOA)", "--area E09000001"]),
    ("Frimly", ["area 'Frimly'", "did you mean NHS Frimley Integrated Care Board "
                "(E54000034)?"]),
])
def test_bad_area_is_refused_by_name(area, expected, shared_data, tmp_path):
    _refused(_build("--area", area, data=shared_data, cwd=tmp_path), *expected)
    assert not (tmp_path / "out").exists()


def test_missing_input_file_is_named(tmp_path):
    data = tmp_path / "empty-data"
    data.mkdir()
    files = get_vintage("2025").files  # the default vintage's files are named
    _refused(_build("--area", RUTLAND, data=data, cwd=tmp_path),
             str(data / LAYOUT[files["imd"]]), str(data / LAYOUT[files["lsoa_lookup"]]))


def _data_copy(shared_data: Path, tmp_path: Path, replace: str) -> tuple[Path, Path]:
    """A data folder of links to the shared files, except ``replace`` (returned to write)."""
    data = tmp_path / "data"
    for key, rel in LAYOUT.items():
        src = shared_data / rel
        if key != replace and src.is_file():
            (data / rel).parent.mkdir(parents=True, exist_ok=True)
            (data / rel).symlink_to(src)
    target = data / LAYOUT[replace]
    target.parent.mkdir(parents=True, exist_ok=True)
    return data, target


@pytest.mark.slow
def test_text_in_life_expectancy_stops_the_build(shared_data, tmp_path):
    data, target = _data_copy(shared_data, tmp_path, "life_expectancy")
    le = pd.read_csv(shared_data / LAYOUT["life_expectancy"], dtype=str)
    row = le.index[le["msoa11cd"] == "E02002863"][0]  # Rutland 001
    le.loc[row, "le_birth_male_2015_19"] = "abc"
    le.to_csv(target, index=False)
    run = _build("--area", RUTLAND, "--out", str(tmp_path / "out"), data=data, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert (f"{target}: column 'le_birth_male_2015_19' has text that is not a number in 1 "
            "row(s): E02002863 ('abc')") in " ".join(run.stderr.split())
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_boundaries_without_crs_are_a_crs_error(shared_data, tmp_path):
    data, target = _data_copy(shared_data, tmp_path, "lsoa_boundaries")
    src = shared_data / LAYOUT["lsoa_boundaries"]
    lookup = neutral(
        pd.read_csv(shared_data / LAYOUT["lsoa_lookup"], usecols=["lsoa11cd", "lad22cd"]))
    codes = lookup.loc[lookup["place_code"] == RUTLAND, "lsoa_code"]
    where = "LSOA11CD IN ({})".format(",".join(f"'{c}'" for c in codes))
    bng = neutral(gpd.read_file(src, where=where, engine="pyogrio").to_crs(27700))
    doc = json.loads(bng.to_json(to_wgs84=False, drop_id=True))
    doc.pop("crs")  # metres with no CRS member: RFC 7946 readers take them as lon/lat
    target.write_text(json.dumps(doc))
    run = _build("--area", RUTLAND, "--vintage", "2019", "--out", str(tmp_path / "out"),
                 data=data, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    flat = " ".join(run.stderr.split())
    assert f"{target}: coordinates" in flat and "cannot be longitude/latitude" in flat
    assert not (tmp_path / "out").exists()
    shutil.rmtree(data)
