"""The build store: one GeoPackage per build, every layer at every level plus the manifest.

Openable in QGIS as it is. Spatial layers are in EPSG:27700; attribute tables (``manifest``,
``stats_global``, ``join_report``...) are GeoPackage attribute tables.

Frames use neutral key column names (``lsoa_code``, ``place_code``, ``system_code``...,
`healthgap.data.vintages.NEUTRAL_KEYS`); the GeoPackage carries the build's vintage's published
names (the ONS names of its era, `healthgap.data.vintages.Vintage.published`), so QGIS shows
them. `BuildStore.write_layer` renames neutral -> published and `BuildStore.read_layer` renames
back, so the translation is made here and nowhere else.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import re
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
from healthgap.data.vintages import (
    PUBLISHED_TO_NEUTRAL,
    Vintage,
    build_vintage,
    get_vintage,
    neutral_name,
)

from healthgap.errors import (
    BuildLockedError,
    InputError,
    OutputError,
    StoreUnreadableError,
    UnknownLayerError,
)

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
    vintage
        The build's geography vintage, whose published column names `write_layer` writes;
        None = the vintage the store's manifest names (a build without one: 2019), or, with no
        manifest yet, the neutral names as they are.
    """

    def __init__(self, path: str | Path, *, vintage: str | Vintage | None = None) -> None:
        p = Path(path)
        self.path = p / STORE_NAME if p.suffix != ".gpkg" else p
        self._vintage = None if vintage is None else get_vintage(vintage)

    @property
    def vintage(self) -> Vintage | None:
        """The vintage whose column names the store writes (see the class parameters)."""
        if self._vintage is None and self.exists and "manifest" in self.layers():
            self._vintage = build_vintage(self.read_manifest())
        return self._vintage

    def fields(self, name: str) -> list[str]:
        """Return the attribute columns of layer ``name`` under their neutral names."""
        self._check_layer(name)
        return [neutral_name(str(f)) for f in pyogrio.read_info(self.path, layer=name)["fields"]]

    def _check_layer(self, name: str) -> dict[str, str | None]:
        known = self.layers()
        if name not in known:
            raise UnknownLayerError(f"layer {name!r} is not in {self.path.name}; known: "
                                    f"{', '.join(sorted(known))}")
        return known

    @property
    def exists(self) -> bool:
        """True once the GeoPackage has been written."""
        return self.path.is_file()

    def layers(self) -> dict[str, str | None]:
        """Return ``{layer: geometry type}`` (None for attribute tables)."""
        if not self.exists:
            raise InputError(f"{self.path}: no build store here; run `healthgap build` first")
        try:
            listed = pyogrio.list_layers(self.path)
        except Exception as exc:  # pyogrio's DataSourceError of a damaged or foreign file
            raise StoreUnreadableError(f"{self.path}: not a readable GeoPackage ({exc}); "
                                       "rebuild it with `healthgap build`") from None
        return {str(n): (None if t is None else str(t)) for n, t in listed}

    def write_layer(self, name: str, frame: pd.DataFrame, *,
                    metadata: dict[str, str] | None = None) -> None:
        """Write (replace) a layer; the index (area codes) becomes a column.

        ``metadata`` is written as the layer's GDAL metadata (QGIS shows it under the layer's
        properties, Information): the build records the geography vintage there. Neutral key
        columns are written under the vintage's published names (`Vintage.published`).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        vintage = self.vintage if name != "manifest" else None
        out = frame.reset_index() if frame.index.name else frame.reset_index(drop=True)
        out = _storable(out)
        if vintage is not None:
            out = out.rename(columns={c: vintage.published[c] for c in out.columns
                                      if c in vintage.published})
        extra = {"layer_metadata": metadata} if metadata else {}
        if isinstance(out, gpd.GeoDataFrame):
            out.to_file(self.path, layer=name, driver="GPKG", engine="pyogrio", **extra)
        else:
            pyogrio.write_dataframe(out, self.path, layer=name, driver="GPKG", **extra)

    def read_layer(self, name: str, *, columns: list[str] | None = None,
                   bbox: tuple[float, float, float, float] | None = None,
                   where: str | None = None, index: str | None = None) -> pd.DataFrame:
        """Read a layer (GeoDataFrame for spatial layers, DataFrame for tables).

        Key columns come back under their neutral names whatever the vintage that wrote them
        (`healthgap.data.vintages.neutral_name`); ``columns``, ``where`` and ``index`` may
        name them either way.

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
        known = self._check_layer(name)
        if columns is not None or where:
            on_disk = {neutral_name(str(f)): str(f)
                       for f in pyogrio.read_info(self.path, layer=name)["fields"]}
            if columns is not None:
                columns = [on_disk.get(neutral_name(c), c) for c in columns]
            if where:
                where = _KEY_TOKEN.sub(lambda m: on_disk.get(neutral_name(m.group(0)),
                                                             m.group(0)), where)
        try:
            if known[name] is None:
                frame = pyogrio.read_dataframe(self.path, layer=name, columns=columns,
                                               where=where, read_geometry=False)
            else:
                frame = gpd.read_file(self.path, layer=name, columns=columns, bbox=bbox,
                                      where=where, engine="pyogrio")
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise StoreUnreadableError(f"{self.path}: layer {name!r} is not readable ({exc}); "
                                       "rebuild it with `healthgap build`") from None
        frame = frame.rename(columns={c: neutral_name(c) for c in frame.columns
                                      if neutral_name(c) != c})
        index = neutral_name(index) if index else index
        if index and index in frame.columns:
            frame = frame.set_index(index)
        return frame

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write the run manifest as a ``manifest`` table of key / JSON value rows.

        A value naming a neutral key column (a model's ``levels``) is written under the
        column's published name, as the layers carry it.
        """
        vintage = self._vintage or (get_vintage(manifest["vintage"]["name"])
                                    if isinstance(manifest.get("vintage"), dict) else None)
        rename = dict(vintage.published) if vintage is not None else {}
        rows = [(k, json.dumps(_renamed_values(v, rename), sort_keys=True, default=str))
                for k, v in manifest.items()]
        self.write_layer("manifest", pd.DataFrame(rows, columns=["key", "value"]))

    def read_manifest(self) -> dict[str, Any]:
        """Return the manifest as a dict (values naming a key column under its neutral name)."""
        table = self.read_layer("manifest")
        return {str(k): _renamed_values(json.loads(v), PUBLISHED_TO_NEUTRAL)
                for k, v in zip(table["key"], table["value"], strict=True)}


def _renamed_values(value: Any, rename: dict[str, str]) -> Any:
    """Return ``value`` with every string value (not dict keys) in ``rename`` renamed."""
    if isinstance(value, str):
        return rename.get(value, value)
    if isinstance(value, dict):
        return {k: _renamed_values(v, rename) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_renamed_values(v, rename) for v in value]
    return value


#: A bare identifier in an OGR SQL filter (a column name, neutral or published, or a keyword).
_KEY_TOKEN = re.compile(r"(?<![\w'])[A-Za-z_]\w*(?![\w'])")


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
    from healthgap.data.contracts import check_file

    store = BuildStore(directory)
    if not store.exists:
        return [f"{store.path}: no GeoPackage"]
    try:
        check_file(store.path)  # a whole SQLite file that passes quick_check
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


def require_build(directory: str | Path) -> BuildStore:
    """Return the store of a complete, readable build; raise naming the file and the fault.

    Every command that reads a build (headline, whatif, serve) calls this first, so a damaged,
    truncated or half-written build is refused with one line and exit 2 before any work.

    Raises
    ------
    InputError
        No build in ``directory``.
    StoreUnreadableError
        The GeoPackage is damaged, not a GeoPackage, or lacks what its manifest lists.
    """
    store = BuildStore(directory)
    if Path(directory).suffix != ".gpkg" and not Path(directory).is_dir():
        raise InputError(f"--store {directory}: no such folder")
    if not store.exists:
        raise InputError(f"{store.path}: no build here; run `healthgap build` first")
    st = store.path.stat()
    stamp = (str(store.path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    with _CHECKED_LOCK:
        if stamp in _CHECKED:  # unchanged since it was last found whole (a warm what-if)
            return store
    problems = check_build(store.path.parent)
    if problems:
        raise StoreUnreadableError(f"{store.path.parent}: not a complete, readable build: "
                                   + "; ".join(problems) + "; rebuild it with `healthgap build`")
    with _CHECKED_LOCK:
        _CHECKED.add(stamp)
        while len(_CHECKED) > 64:
            _CHECKED.pop()
    return store


#: GeoPackages found whole, by (path, inode, size, modification time): any change re-checks.
_CHECKED: set[tuple[str, int, int, int]] = set()
_CHECKED_LOCK = threading.Lock()


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

    Files a user added to the build folder (anything but `BUILD_OWNED`) are carried into the
    new build at `commit` (hard links where the file system allows), so a rebuild keeps them;
    `kept` names them.

    Parameters
    ----------
    out_dir
        The final build folder.
    kind
        Who writes (``"build"`` or ``"what-if"``): written into the lock file, so a refused
        writer is told who holds the folder.
    option
        The command-line option that named the folder (in messages).
    vintage
        The build's vintage (the published column names its store writes); None = the one
        named by the manifest of the copied build (a what-if).
    """

    def __init__(self, out_dir: str | Path, *, kind: str = "build",
                 option: str = "--out", vintage: str | Vintage | None = None) -> None:
        self.vintage = None if vintage is None else get_vintage(vintage)
        self.final = Path(out_dir)
        self.staging = self.final.parent / f".{self.final.name}.tmp-{os.getpid()}"
        self.lock_path = self.final.parent / f".{self.final.name}.lock"
        self.committed = False
        self.kind = kind
        self.option = option
        self.kept: list[str] = []
        self._fd: int | None = None

    @property
    def store(self) -> BuildStore:
        """The store in the temporary folder (where every stage writes)."""
        return BuildStore(self.staging, vintage=self.vintage)

    def __enter__(self) -> StagedBuild:
        check_output_dir(self.final)
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
            for stale in self.final.parent.glob(f".{self.final.name}.tmp-*"):
                log.info("removing %s left by an interrupted build", stale)
                shutil.rmtree(stale, ignore_errors=True)
            # what-if copies of the GeoPackage written inside the folder by earlier versions
            for stale in self.final.glob(".whatif-*.tmp.*") if self.final.is_dir() else []:
                log.info("removing %s left by an interrupted what-if", stale)
                stale.unlink(missing_ok=True)
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

    def copy_final(self) -> None:
        """Fill the (empty) staging folder with a copy of the current build.

        Hard links for every file but the GeoPackage, which is copied (it is the one file a
        what-if changes); a file to be rewritten must be unlinked first, never written in place.
        """
        if not self.final.is_dir():
            raise OutputError(f"{self.option} {self.final}: no build folder to copy")
        self.staging.rmdir()
        shutil.copytree(self.final, self.staging, symlinks=True, copy_function=_link_or_copy)
        gpkg = self.staging / STORE_NAME
        gpkg.unlink(missing_ok=True)
        shutil.copy2(self.final / STORE_NAME, gpkg)

    def commit(self) -> None:
        """Check the staged build and swap it into place; raise `OutputError` if incomplete."""
        if self.final.is_dir():
            self.kept = carry_user_files(self.final, self.staging)
        problems = check_build(self.staging)
        if problems:
            raise OutputError(f"{self.option} {self.final}: the new build is incomplete, the "
                              "previous one is kept: " + "; ".join(problems))
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
                held = os.pread(fd, 64, 0).decode(errors="replace").split()
                os.close(fd)
                pid, kind = (held + ["?", "build"])[:2] if held else ("?", "build")
                raise BuildLockedError(f"{self.option} {self.final}: another {kind} (pid {pid}) "
                                       "is writing into this folder; wait for it to finish"
                                       + (" or choose another --out" if self.kind == "build"
                                          else "")) from None
            try:  # the holder may have removed the file between our open and flock
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.kind}".encode(), 0)
        self._fd = fd

    def _unlock(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.lock_path.unlink()
        os.close(self._fd)
        self._fd = None


#: What a build writes into its folder; anything else there was added by a user and is kept.
BUILD_OWNED = (STORE_NAME, "atlas", "features", ".cache")


def _owned(name: str) -> bool:
    return name in BUILD_OWNED or name.startswith((STORE_NAME, ".whatif-"))


def user_files(folder: Path) -> list[str]:
    """Return the names of the entries of a build folder that the build did not write."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not _owned(p.name))


def carry_user_files(old: Path, new: Path) -> list[str]:
    """Link (or copy) the user's files of build folder ``old`` into ``new``; return their names.

    A name the new build wrote itself is left as the build wrote it (and not returned).
    """
    kept = []
    for name in user_files(old):
        src, dst = old / name, new / name
        if dst.exists() or dst.is_symlink():
            continue
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif src.is_dir():
            shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(src), str(dst))
        kept.append(name)
    return kept


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into SystemExit(143) (main thread), so clean-up (``finally``) runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def check_writable(target: Path, option: str) -> None:
    """Raise `OutputError` unless ``target`` is (or can be made) a folder this user can write.

    Parameters
    ----------
    target
        The folder an option names.
    option
        The option, for the message (``--out``).
    """
    if target.exists() and not target.is_dir():
        raise OutputError(f"{option} {target}: exists and is not a folder")
    parent = target
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {target}: cannot write into {parent} (permission denied "
                          "or not a folder)")
