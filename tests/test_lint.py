"""The tree stays clean: ruff (numpy docstrings, complexity) and mypy, everywhere."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_ruff_is_clean():
    dirs = ["healthgap", "geo", "maps", "services", "data", "tests", "benchmarks", "scripts"]
    r = subprocess.run([sys.executable, "-m", "ruff", "check", *dirs], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_is_clean_on_the_whole_tree():
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
