"""The one list of data-file paths (`data.layout.LAYOUT`) agrees with sources.yml and the data."""

from __future__ import annotations

from pathlib import Path

import pytest
from healthgap.data.demo import DEMO_FILES
from healthgap.data.fetch import load_sources
from healthgap.data.layout import LAYOUT, DataDir

from healthgap.errors import InputError


def test_every_layout_path_is_a_described_source_and_a_shared_file(shared_data: Path) -> None:
    described = {s.path for s in load_sources()}
    assert set(LAYOUT.values()) <= described
    # the PCN files of issue #14 are optional inputs with no copy in the shared data (their
    # sources carry no mirror_sha256); every other path is a real shared file
    mirrored = {s.path for s in load_sources() if s.mirror_sha256 is not None}
    for key, rel in LAYOUT.items():
        assert (shared_data / rel).is_file() == (rel in mirrored), key


def test_demo_writes_layout_paths() -> None:
    tabular = [f for f in DEMO_FILES if not f.startswith(("osm/", "environment/"))]
    assert set(tabular) <= set(LAYOUT.values())


def test_require_lists_every_missing_file(tmp_path: Path) -> None:
    (tmp_path / "imd2019").mkdir()
    (tmp_path / LAYOUT["imd"]).write_text("lsoa11cd\n")
    with pytest.raises(InputError) as info:
        DataDir(tmp_path).require("imd", "population", "centroids")
    text = str(info.value)
    assert str(tmp_path / LAYOUT["population"]) in text
    assert str(tmp_path / LAYOUT["centroids"]) in text
    assert LAYOUT["imd"] not in text
    with pytest.raises(InputError, match="not a folder"):
        DataDir(tmp_path / "nowhere").require("imd")


def test_data_dir_takes_a_string_and_names_a_bad_root(tmp_path: Path) -> None:
    assert DataDir(str(tmp_path)).root == tmp_path  # type: ignore[arg-type]
    with pytest.raises(InputError, match="expected a path, got 3"):
        DataDir(3)  # type: ignore[arg-type]
