"""The build store: one GeoPackage per build, every layer at every level plus the manifest.

Openable in QGIS as it is. Spatial layers are in EPSG:27700; attribute tables (``manifest``,
``stats_global``, ``join_report``...) are GeoPackage attribute tables.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from healthgap.errors import BuildLockedError, InputError, OutputError, UnknownLayerError

log = logging.getLogger(__name__)

STORE_NAME = "healthgap.gpkg"
ATLAS_INDEX = "atlas/index.html"
#: Test-only hook: when set to a point's name, the build pauses there (see `pause_point`).
PAUSE_ENV = "HEALTHGAP_TEST_PAUSE_AT"


class BuildStore:
    """Read and write one build's GeoPackage.

    Parameters
    ----------
    path
        The GeoPackage file, or the build directory that holds ``healthgap.gpkg``.
    """

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        self.path = p / STORE_NAME if p.suffix != ".gpkg" else p

    @property
    def exists(self) -> bool:
        """True once the GeoPackage has been written."""
        return self.path.is_file()

    def layers(self) -> dict[str, str | None]:
        """Return ``{layer: geometry type}`` (None for attribute tables)."""
        if not self.exists:
            raise InputError(f"{self.path}: no build store here; run `healthgap build` first")
        return {str(n): (None if t is None else str(t))
                for n, t in pyogrio.list_layers(self.path)}

    def write_layer(self, name: str, frame: pd.DataFrame, *,
                    metadata: dict[str, str] | None = None) -> None:
        """Write (replace) a layer; the index (area codes) becomes a column.

        ``metadata`` is written as the layer's GDAL metadata (QGIS shows it under the layer's
        properties, Information): the build records the geography vintage there.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        out = frame.reset_index() if frame.index.name else frame.reset_index(drop=True)
        out = _storable(out)
        extra = {"layer_metadata": metadata} if metadata else {}
        if isinstance(out, gpd.GeoDataFrame):
            out.to_file(self.path, layer=name, driver="GPKG", engine="pyogrio", **extra)
        else:
            pyogrio.write_dataframe(out, self.path, layer=name, driver="GPKG", **extra)

    def read_layer(self, name: str, *, columns: list[str] | None = None,
                   bbox: tuple[float, float, float, float] | None = None,
                   where: str | None = None, index: str | None = None) -> pd.DataFrame:
        """Read a layer (GeoDataFrame for spatial layers, DataFrame for tables).

        Parameters
        ----------
        name
            The layer; an unknown name raises `UnknownLayerError` listing the known ones.
        columns
            Read only these attribute columns.
        bbox
            Only features intersecting this box (layer CRS).
        where
            An OGR SQL filter.
        index
            Set this column as the index.
        """
        known = self.layers()
        if name not in known:
            raise UnknownLayerError(f"layer {name!r} is not in {self.path.name}; known: "
                                    f"{', '.join(sorted(known))}")
        if known[name] is None:
            frame = pyogrio.read_dataframe(self.path, layer=name, columns=columns,
                                           where=where, read_geometry=False)
        else:
            frame = gpd.read_file(self.path, layer=name, columns=columns, bbox=bbox,
                                  where=where, engine="pyogrio")
        if index and index in frame.columns:
            frame = frame.set_index(index)
        return frame

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write the run manifest as a ``manifest`` table of key / JSON value rows."""
        rows = [(k, json.dumps(v, sort_keys=True, default=str)) for k, v in manifest.items()]
        self.write_layer("manifest", pd.DataFrame(rows, columns=["key", "value"]))

    def read_manifest(self) -> dict[str, Any]:
        """Return the manifest as a dict."""
        table = self.read_layer("manifest")
        return {str(k): json.loads(v) for k, v in zip(table["key"], table["value"], strict=True)}


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """Make columns GeoPackage-friendly: booleans as integers, objects as strings."""
    out = frame.copy()
    for col in out.columns:
        if col == getattr(out, "_geometry_column_name", None):
            continue
        s = out[col]
        if s.dtype == bool:
            out[col] = s.astype("int8")
        elif s.dtype == object and s.map(lambda v: isinstance(v, (list, dict))).any():
            out[col] = s.map(lambda v: json.dumps(v, default=str)
                             if isinstance(v, (list, dict)) else v)
    return out


def check_build(directory: str | Path) -> list[str]:
    """Return the problems that make ``directory`` not a complete build (empty when complete).

    A complete build has ``healthgap.gpkg`` with a ``manifest`` table, every layer the manifest
    lists is present and readable, and the atlas index exists when the manifest says maps were
    written.

    Parameters
    ----------
    directory
        A build directory.
    """
    store = BuildStore(directory)
    if not store.exists:
        return [f"{store.path}: no GeoPackage"]
    try:
        present = store.layers()
        if "manifest" not in present:
            return [f"{store.path}: no manifest table (the build did not finish)"]
        manifest = store.read_manifest()
    except Exception as exc:  # pyogrio/sqlite errors of a damaged file
        return [f"{store.path}: not readable ({type(exc).__name__}: {exc})"]
    problems = []
    for name in manifest.get("layers", []):
        if name not in present:
            problems.append(f"{store.path}: layer {name!r} listed in the manifest is missing")
            continue
        try:
            pyogrio.read_dataframe(store.path, layer=name, max_features=1,
                                   read_geometry=present[name] is not None)
        except Exception as exc:
            problems.append(f"{store.path}: layer {name!r} is not readable ({exc})")
    if manifest.get("atlas") and not (Path(directory) / ATLAS_INDEX).is_file():
        problems.append(f"{Path(directory) / ATLAS_INDEX}: missing")
    return problems


def pause_point(name: str) -> None:
    """Pause here when ``$HEALTHGAP_TEST_PAUSE_AT`` names this point (fault-injection tests).

    The process prints ``paused at <name>`` on stderr and sleeps up to 600 s, so a test can
    send a signal at a known moment of the build.
    """
    if os.environ.get(PAUSE_ENV) != name:
        return
    print(f"healthgap: paused at {name} (pid {os.getpid()})", file=sys.stderr, flush=True)
    deadline = time.monotonic() + 600.0
    while time.monotonic() < deadline:
        time.sleep(0.05)


def check_output_dir(out: Path) -> None:
    """Raise `OutputError` unless ``out`` can take a build (nothing is written).

    ``out`` may be missing, an empty folder or a previous build; the nearest existing parent
    must be a writable folder.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / STORE_NAME).exists():
        raise OutputError(f"--out {out}: the folder is not empty and holds no healthgap build "
                          f"({STORE_NAME}); a build replaces its folder whole, so give a new "
                          "or empty folder")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"--out {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: cannot write into {parent} (permission denied)")


class StagedBuild:
    """Write a build into a temporary sibling folder, check it, then swap it into place.

    Use as a context manager. Entering takes a lock beside ``out_dir`` (a second build into
    the same folder is refused with `BuildLockedError`) and creates ``.<name>.tmp-<pid>``;
    `commit` checks the staged build (`check_build`) and exchanges it with ``out_dir`` in one
    ``renameat2(RENAME_EXCHANGE)`` where the kernel offers it (else two renames with SIGINT and
    SIGTERM held back). Leaving, by success, exception or signal, removes the temporary folder
    (which after a swap holds the previous build) and releases the lock, so an interrupted or
    failed build leaves the previous one exactly as it was.

    Parameters
    ----------
    out_dir
        The final build folder.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.final = Path(out_dir)
        self.staging = self.final.parent / f".{self.final.name}.tmp-{os.getpid()}"
        self.lock_path = self.final.parent / f".{self.final.name}.lock"
        self.committed = False
        self._fd: int | None = None

    @property
    def store(self) -> BuildStore:
        """The store in the temporary folder (where every stage writes)."""
        return BuildStore(self.staging)

    def __enter__(self) -> StagedBuild:
        check_output_dir(self.final)
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
            for stale in self.final.parent.glob(f".{self.final.name}.tmp-*"):
                log.info("removing %s left by an interrupted build", stale)
                shutil.rmtree(stale, ignore_errors=True)
            self.staging.mkdir()
        except OSError as exc:
            self._unlock()
            if isinstance(exc, OutputError):
                raise
            raise OutputError(f"--out {self.final}: cannot prepare the build folder: "
                              f"{exc.strerror or exc}") from exc
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        shutil.rmtree(self.staging.with_name(self.staging.name + ".old"), ignore_errors=True)
        self._unlock()

    def commit(self) -> None:
        """Check the staged build and swap it into place; raise `OutputError` if incomplete."""
        problems = check_build(self.staging)
        if problems:
            raise OutputError(f"--out {self.final}: the new build is incomplete, the previous "
                              "one is kept: " + "; ".join(problems))
        pause_point("before-swap")
        with _signals_held():
            if self.final.exists():
                _exchange(self.staging, self.final)
            else:
                os.rename(self.staging, self.final)
            self.committed = True
        pause_point("after-swap")

    def _lock(self) -> None:
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise BuildLockedError(f"--out {self.final}: another build (pid {holder}) is "
                                       "writing into this folder; wait for it to finish or "
                                       "choose another --out") from None
            try:  # the holder may have removed the file between our open and flock
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def _unlock(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.lock_path.unlink()
        os.close(self._fd)
        self._fd = None


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders atomically (Linux renameat2), or by two renames where unsupported."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is not None:
        rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(b))
    aside = a.with_name(a.name + ".old")
    os.rename(b, aside)
    try:
        os.rename(a, b)
    except BaseException:
        os.rename(aside, b)
        raise
    os.rename(aside, a)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (main thread) until the block is done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
