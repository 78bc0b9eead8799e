"""A real Frimley build shared by the API tests (built once per test session)."""

from __future__ import annotations

import atexit
import shutil
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
            build(BuildOptions(area=FRIMLEY, data_dir=data_dir, out_dir=root / FRIMLEY,
                               access=False, models=False, maps=False))
            _roots[key] = root
        return _roots[key]
