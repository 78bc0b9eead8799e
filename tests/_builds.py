"""Builds that several test modules share, made once per test run.

A build here is made by the first test that asks for it and then read by every other one, in this
process or in another pytest-xdist worker: the folder lives under the run's shared temporary
directory, a file lock makes a second worker wait for the first instead of building again, and
the `BuildResult` (area, manifest, outputs) is pickled beside the folder for the workers that did
not build it. Shared builds are read-only: a test that changes a build copies it first.

Each function is one build with its exact options; a module that needs other options builds its
own, and a module that writes into the folder (an app keeping its runs in the store root) takes a
copy in its own fixture.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from tests._codes import FRIMLEY
from tests.services._processes import QUICK, rutland_build

T = TypeVar("T")

#: The run's shared temporary directory (set by the session fixture in tests/conftest.py).
ROOT: Path | None = None

#: The Rutland store the fault and what-if safety tests start from: `rutland_build` with QUICK.
RUTLAND_QUICK = QUICK


def run_root(factory: pytest.TempPathFactory) -> Path:
    """Return the directory every xdist worker of this run shares (the base temp otherwise)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _root() -> Path:
    global ROOT
    if ROOT is None:  # outside a pytest session (an import from a script): a private folder
        ROOT = Path(tempfile.mkdtemp(prefix="healthgap-tests-"))
        atexit.register(shutil.rmtree, ROOT, True)
    return ROOT


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def shared(name: str, make: Callable[[Path], T]) -> T:
    """Return ``make(folder)`` for an empty ``folder``, run once per test run.

    The first caller builds under a lock and pickles the value; every later caller (any worker)
    waits for the lock and unpickles its own copy. A failed build is retried by the next caller.
    """
    root = _root() / "shared-builds"
    root.mkdir(parents=True, exist_ok=True)
    folder, done = root / name, root / f"{name}.pickle"
    with _locked(root / f"{name}.lock"):
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir()
            value = make(folder)
            part = done.with_suffix(".part")
            part.write_bytes(pickle.dumps(value))
            part.replace(done)
            return value
    return pickle.loads(done.read_bytes())


def demo_without_maps():
    """The synthetic demo (seed 2019) with every stage but the atlas (no board pack).

    Returns the `BuildResult`; the inputs are in ``<folder>/data`` (generated again, not the
    ones of `demo_build`: the same seed gives the same files), the build in ``<folder>/one``.
    A second build of these options from ``<folder>/data`` must be the same build.
    """
    from healthgap.data.demo import DEMO_ICB, generate_demo
    from healthgap.services.build import BuildOptions, build

    def make(folder: Path):
        generate_demo(folder / "data", seed=2019)
        return build(BuildOptions(area=DEMO_ICB, data_dir=folder / "data",
                                  out_dir=folder / "one", synthetic=True, maps=False))

    return shared("demo-without-maps", make)


def _key(data_dir: Path) -> str:
    return hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:10]


def demo_build():
    """The synthetic demo (seed 2019), every stage with the atlas and the board pack.

    Returns the `BuildResult`; the inputs are in ``<folder>/data``, the build in
    ``<folder>/store/<DEMO_ICB>`` (so ``<folder>/store`` is a store root holding only it).
    """
    from healthgap.data.demo import DEMO_ICB, generate_demo
    from healthgap.services.build import BuildOptions, build

    def make(folder: Path):
        generate_demo(folder / "data", seed=2019)  # inputs beside, not inside, the build
        return build(BuildOptions(area=DEMO_ICB, data_dir=folder / "data",
                                  out_dir=folder / "store" / DEMO_ICB, synthetic=True,
                                  maps=True, report=True))

    return shared("demo", make)


def frimley_2019(data_dir: Path):
    """Frimley (E54000034) on the 2019 vintage without access, models or atlas.

    Returns the `BuildResult`; the build is ``<root>/E54000034`` of a store root holding only it.
    """
    from healthgap.services.build import BuildOptions, build

    def make(folder: Path):
        return build(BuildOptions(area=FRIMLEY, data_dir=data_dir, vintage="2019",
                                  out_dir=folder / "root" / FRIMLEY,
                                  access=False, models=False, maps=False))

    return shared(f"frimley-2019-{_key(data_dir)}", make)


def frimley_2025_report(data_dir: Path):
    """Frimley on the default (2025) vintage without access or atlas, with models and the
    board pack. Returns the `BuildResult`; the build is ``<folder>/E54000034``."""
    from healthgap.services.build import BuildOptions, build

    def make(folder: Path):
        return build(BuildOptions(area=FRIMLEY, data_dir=data_dir, out_dir=folder / FRIMLEY,
                                  access=False, maps=False, report=True))

    return shared(f"frimley-2025-{_key(data_dir)}", make)


def rutland_2019_access(data_dir: Path):
    """Rutland (E06000017) on the 2019 vintage with access (the bundled OSM extract), without
    models or atlas. Returns the `BuildResult`; the build is ``<folder>/E06000017``."""
    from healthgap.services.build import BuildOptions, build

    def make(folder: Path):
        return build(BuildOptions(area="E06000017", data_dir=data_dir, vintage="2019",
                                  out_dir=folder / "E06000017", models=False, maps=False))

    return shared(f"rutland-2019-access-{_key(data_dir)}", make)


def rutland_2025_atlas(data_dir: Path):
    """Rutland (E06000017) on the default (2025) vintage with access and the atlas, without
    models. Returns the `BuildResult`; the build is ``<folder>/E06000017``."""
    from healthgap.services.build import BuildOptions, build

    def make(folder: Path):
        return build(BuildOptions(area="E06000017", data_dir=data_dir,
                                  out_dir=folder / "E06000017", models=False, maps=True))

    return shared(f"rutland-2025-atlas-{_key(data_dir)}", make)


def rutland_cli(data_dir: Path) -> Path:
    """Rutland (E06000017) built by the command line with `RUTLAND_QUICK`; returns the folder."""

    def make(folder: Path) -> Path:
        return rutland_build(data_dir, folder / "rutland")

    return shared(f"rutland-cli-{_key(data_dir)}", make)
