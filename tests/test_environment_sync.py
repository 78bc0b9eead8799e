"""environment.yml (conda) lists the same packages, with the same lower bounds, as pyproject.

Runtime dependencies and every extra (``test``, ``dev``, ``bench``) go into the one conda
environment.
"""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import REPO

#: pip name -> conda-forge name where they differ
CONDA_NAMES = {"osmium": "pyosmium", "mapbox-vector-tile": "mapbox_vector_tile"}


def _parse(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", spec)
    assert m, spec
    return m.group(1).lower(), m.group(3).replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = [s for group in project["optional-dependencies"].values() for s in group]
    pip = dict(_parse(s) for s in project["dependencies"] + extras)
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda = dict(_parse(s) for s in env["dependencies"] if isinstance(s, str))
    conda.pop("python")
    expected = {CONDA_NAMES.get(k, k): v for k, v in pip.items()}
    assert conda == expected


def test_a_package_in_two_groups_has_one_lower_bound() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = [project["dependencies"], *project["optional-dependencies"].values()]
    bounds: dict[str, set[str]] = {}
    for spec in (s for group in groups for s in group):
        name, bound = _parse(spec)
        bounds.setdefault(name, set()).add(bound)
    assert {k: v for k, v in bounds.items() if len(v) > 1} == {}
