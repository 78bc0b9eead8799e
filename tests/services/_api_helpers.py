"""A real Frimley build shared by the API tests (built once per test session)."""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from healthgap.services.build import BuildOptions, build

FRIMLEY = "E54000034"
_lock = threading.Lock()
_roots: dict[str, Path] = {}


def frimley_root(data_dir: Path) -> Path:
    """Return a store root holding ``E54000034/healthgap.gpkg`` built from the real data."""
    key = str(data_dir)
    with _lock:
        if key not in _roots:
            root = Path(tempfile.mkdtemp(prefix="healthgap-api-"))
            atexit.register(shutil.rmtree, root, True)
            build(BuildOptions(area=FRIMLEY, data_dir=data_dir, vintage="2019",
                               out_dir=root / FRIMLEY,
                               access=False, models=False, maps=False))
            _roots[key] = root
        return _roots[key]


BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_api_load.py"


def load_bench():
    """Import benchmarks/bench_api_load.py (its server and load helpers)."""
    spec = importlib.util.spec_from_file_location("bench_api_load", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_api_load"] = module
    spec.loader.exec_module(module)
    return module
