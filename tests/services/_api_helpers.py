"""A real Frimley build shared by the API tests (built once per test run, tests/_builds.py)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

from healthgap.services.store import BuildStore

from tests import _builds

with warnings.catch_warnings():  # starlette asks for httpx2, not installed here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["FRIMLEY", "TestClient", "frimley_copy", "frimley_msoa_copy", "frimley_root",
           "load_bench"]

FRIMLEY = _builds.FRIMLEY


def frimley_root(data_dir: Path) -> Path:
    """Return a store root holding ``E54000034/healthgap.gpkg`` built from the real data.

    The build is shared with every module and xdist worker of the run: read it, or copy it
    before changing it.
    """
    return _builds.frimley_2019(data_dir).store.path.parent.parent


def frimley_copy(data_dir: Path, where: Path) -> Path:
    """Copy the run's shared Frimley store root to ``where/root`` and return the copy.

    The API keeps its runs (``runs.sqlite``) in the store root, so an app that may start a run
    serves a copy.
    """
    copy = where / "root"
    shutil.copytree(frimley_root(data_dir), copy)
    return copy


def frimley_msoa_copy(data_dir: Path, where: Path) -> tuple[Path, BuildStore, Any]:
    """Return a copy of the store root (`frimley_copy`), its Frimley store and MSOA layer."""
    copy = frimley_copy(data_dir, where)
    store = BuildStore(copy / FRIMLEY)
    return copy, store, store.read_layer("msoa", index="msoa_code")


BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_api_load.py"


def load_bench():
    """Import benchmarks/bench_api_load.py (its server and load helpers)."""
    spec = importlib.util.spec_from_file_location("bench_api_load", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_api_load"] = module
    spec.loader.exec_module(module)
    return module
