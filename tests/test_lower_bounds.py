""".ci/lower_bounds.py turns pyproject's lower bounds into the lowest-versions constraints."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / ".ci" / "lower_bounds.py"
_spec = importlib.util.spec_from_file_location("lower_bounds", SCRIPT)
assert _spec is not None and _spec.loader is not None
lower_bounds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lower_bounds)


def test_every_runtime_and_test_requirement_is_pinned_to_its_bound():
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                         check=True)
    pins = dict(line.split("==") for line in run.stdout.split())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    assert len(pins) == len({s.split(">=")[0].strip().lower() for s in specs})
    # spot checks written by hand from pyproject.toml
    assert pins["shapely"] == "2.1"
    assert pins["scipy"] == "1.11.1"
    assert pins["pyyaml"] == "6.0"
    assert "pandana" not in pins  # bench extra is not part of the lowest-versions job


def test_a_requirement_without_a_lower_bound_is_refused(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["numpy>=1.26", "pandas"]\n'
        '[project.optional-dependencies]\ntest = ["pytest>=8.4,<10"]\n')
    with pytest.raises(ValueError, match="'pandas' has no '>=' lower bound"):
        lower_bounds.lower_bounds(tmp_path / "pyproject.toml", ["test"])
    with pytest.raises(ValueError, match="no optional-dependencies group 'docs'"):
        lower_bounds.lower_bounds(tmp_path / "pyproject.toml", ["docs"])
    run = subprocess.run([sys.executable, str(SCRIPT), "--pyproject",
                          str(tmp_path / "pyproject.toml")], capture_output=True, text=True)
    assert run.returncode == 2 and "pandas" in run.stderr


def test_upper_bounds_and_extras_markers_are_kept_out(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["typer[all] >= 0.12", "numpy>=1.26,<3"]\n')
    assert lower_bounds.lower_bounds(tmp_path / "pyproject.toml", []) == {
        "typer": "0.12", "numpy": "1.26"}
