"""The builds the service can see, and the layers it has already read.

`Catalog` scans the store root for build directories (each holding ``healthgap.gpkg``), keys them
by the area code in their manifest, and is the allow-list every request goes through: a name from
a request never reaches the file system before it has matched a discovered build, layer or page.
`LayerCache` keeps layer frames in memory, keyed by the store file's version, so that a rebuilt
store is read again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
from cachetools import LRUCache
from healthgap.data.vintages import neutral_name
from healthgap.services._layers import (  # noqa: F401 (re-exported)
    CODE_COLUMNS,
    PRIVATE_LAYERS,
    code_column,
    with_feature_ids,
)
from healthgap.services.store import STORE_NAME, BuildStore

from healthgap.errors import (
    StoreUnreadableError,
    UnknownAreaError,
    UnknownLayerError,
    preview,
)

logger = logging.getLogger(__name__)

#: An ONS area code: a country letter and eight digits (E54000034, E06000036, E92000001...).
CODE_PATTERN = r"^[EWSN]\d{8}$"
_CODE = re.compile(CODE_PATTERN)
#: A layer name as the build writes them.
LAYER_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
_LAYER = re.compile(LAYER_PATTERN)


def check_code(code: str) -> str:
    """Return ``code`` (upper case) if it is shaped like an ONS code, else raise.

    Raises
    ------
    UnknownAreaError
        The text is not an area code.
    """
    if not isinstance(code, str) or not _CODE.match(code.strip().upper()):
        shown = code if isinstance(code, str) and len(code) <= 40 else f"{str(code)[:40]}…"
        raise UnknownAreaError(f"area {shown!r} is not an area code; codes are a letter and "
                               "eight digits, e.g. E54000034 (ICB), E06000036 (place), "
                               "E02003359 (MSOA), E01016468 (LSOA)")
    return code.strip().upper()


@dataclass(frozen=True)
class FileVersion:
    """Identifies one version of a store file (changes when it is rewritten)."""

    mtime_ns: int
    size: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileVersion:
        """Stat ``path``."""
        st = path.stat()
        return cls(st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass
class Build:
    """One discovered build.

    Attributes
    ----------
    code, name, level
        The study area the build covers (from its manifest).
    directory
        The build directory.
    created_utc
        When it was built.
    synthetic
        True for the generated demo area.
    manifest
        The manifest as written.
    version
        The store file version the build was discovered at.
    """

    code: str
    name: str
    level: str
    directory: Path
    created_utc: str
    synthetic: bool
    manifest: dict[str, Any]
    version: FileVersion
    _digest: str | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def store(self) -> BuildStore:
        """The build's store."""
        return BuildStore(self.directory)

    @property
    def atlas(self) -> Path:
        """The build's atlas directory (may not exist)."""
        return self.directory / "atlas"

    def digest(self) -> str:
        """SHA-256 of the store file, computed once per file version."""
        with self._lock:
            if self._digest is None:
                h = hashlib.sha256()
                with open(self.store.path, "rb") as f:
                    while block := f.read(1 << 20):
                        h.update(block)
                self._digest = h.hexdigest()
            return self._digest

    def inputs_sha256(self) -> dict[str, str]:
        """Return the SHA-256 of every input, from the manifest."""
        inputs = self.manifest.get("inputs", {}) or {}
        return {str(k): str(v.get("sha256", "")) for k, v in sorted(inputs.items())
                if isinstance(v, dict)}


class Catalog:
    """The builds under a store root, rescanned at most every ``rescan_seconds``.

    Parameters
    ----------
    root
        A build directory or a directory of build directories.
    rescan_seconds
        Shortest interval between scans.
    """

    def __init__(self, root: Path, *, rescan_seconds: float = 5.0) -> None:
        self.root = Path(root)
        self.rescan_seconds = float(rescan_seconds)
        self._builds: dict[str, Build] = {}
        #: area code -> why its build cannot be read (a served build damaged since: 503)
        self._unreadable: dict[str, str] = {}
        self._scanned = -float("inf")
        self._lock = threading.Lock()

    def _candidates(self) -> list[Path]:
        if (self.root / STORE_NAME).is_file():
            return [self.root]
        if not self.root.is_dir():
            return []
        # a build being written is staged in a hidden sibling (".<out>.tmp-<pid>"): never serve it
        return sorted(p for p in self.root.iterdir()
                      if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
                      and (p / STORE_NAME).is_file())

    def scan(self) -> dict[str, Build]:
        """Discover the builds now; keep a known build whose store file has not changed."""
        with self._lock:
            found: dict[str, Build] = {}
            unreadable: dict[str, str] = {}
            old = {b.directory: b for b in self._builds.values()}
            for directory in self._candidates():
                try:
                    version = FileVersion.of(directory / STORE_NAME)
                    prev = old.get(directory)
                    build = prev if prev is not None and prev.version == version else \
                        _read_build(directory, version)
                except Exception as exc:  # a broken or half-written store is skipped
                    logger.warning("skipping build %s: %s", directory.name, exc)
                    known = old.get(directory)
                    code = known.code if known is not None else directory.name.upper()
                    unreadable[code] = f"{type(exc).__name__}: {exc}"
                    continue
                other = found.get(build.code)
                if other is not None:
                    logger.warning("builds %s and %s both cover %s; serving the newer",
                                   other.directory.name, directory.name, build.code)
                    if other.created_utc >= build.created_utc:
                        continue
                found[build.code] = build
            self._builds = found
            self._unreadable = {c: why for c, why in unreadable.items() if c not in found}
            self._scanned = time.monotonic()
            return dict(found)

    def stale(self) -> bool:
        """Return True when the next `builds` call would rescan the store root."""
        return time.monotonic() - self._scanned >= self.rescan_seconds

    def builds(self) -> dict[str, Build]:
        """Return ``{area code: Build}``, rescanning if the last scan is stale."""
        if time.monotonic() - self._scanned >= self.rescan_seconds:
            return self.scan()
        return dict(self._builds)

    def require_readable(self, code: str) -> None:
        """Raise `StoreUnreadableError` when the last scan found ``code``'s build unreadable.

        A build that was served and became unreadable (damaged, cut short) is answered as
        such (503), not as an unknown area.
        """
        why = self._unreadable.get(code)
        if why is not None:
            raise StoreUnreadableError(f"area {code!r}: its build cannot be read ({why})")

    def get(self, code: str) -> Build:
        """Return the build of area ``code``.

        Raises
        ------
        UnknownAreaError
            ``code`` is not a code, or no build covers it (the served codes are listed).
        """
        code = check_code(code)
        builds = self.builds()
        build = builds.get(code)
        if build is None:
            self.require_readable(code)
            raise UnknownAreaError(f"area {code!r}: no build is served for it; served: "
                                   f"{preview(sorted(builds)) or 'none'}")
        # the file may have been rebuilt since the scan
        try:
            current = FileVersion.of(build.store.path)
        except OSError:
            current = None
        if current != build.version:
            rescanned = self.scan().get(code)
            if rescanned is None:
                self.require_readable(code)
            build = rescanned or build
        return build


def _read_build(directory: Path, version: FileVersion) -> Build:
    manifest = BuildStore(directory).read_manifest()
    area = manifest.get("area") or {}
    code = check_code(str(area.get("code", "")))
    return Build(code=code, name=str(area.get("name", code)), level=str(area.get("level", "")),
                 directory=directory, created_utc=str(manifest.get("created_utc", "")),
                 synthetic=bool(manifest.get("synthetic", False)), manifest=manifest,
                 version=version)


@dataclass(frozen=True)
class LayerInfo:
    """What a layer holds, from the GeoPackage metadata (no features read)."""

    name: str
    geometry_type: str | None
    fields: list[tuple[str, str]]
    count: int
    bounds: tuple[float, float, float, float] | None
    crs: str | None

    @property
    def spatial(self) -> bool:
        """True for a layer with geometries."""
        return self.geometry_type is not None


class LayerCache:
    """Layer frames and metadata kept in memory, keyed by build, file version and layer.

    Parameters
    ----------
    size
        Frames kept (least recently used dropped first).
    """

    def __init__(self, size: int = 32) -> None:
        self.size = int(size)
        self._frames: LRUCache[tuple[Any, ...], Any] = LRUCache(maxsize=self.size)
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[Any, ...], threading.Lock] = {}

    def _get(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._frames:
                return self._frames[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one reader per key; the others wait for its result
            with self._lock:
                if key in self._frames:
                    return self._frames[key]
            value = make()
            with self._lock:
                self._frames[key] = value
                self._key_locks.pop(key, None)
            return value

    def ready(self, build: Build) -> bool:
        """Return True if the build's layer list is in memory (no file read needed)."""
        with self._lock:
            return ("layers", build.code, build.version) in self._frames

    def in_memory(self, build: Build, name: str, *, frames: tuple[str | None, ...] = (),
                  features: str | None = None) -> bool:
        """Return True if nothing needs reading or reprojecting.

        That is, the layer's frames in ``frames`` (None: as stored) and its feature strings in
        ``features`` are all in memory.
        """
        keys = [("frame", build.code, build.version, name, crs) for crs in frames]
        if features is not None:
            keys.append(("features", build.code, build.version, name, features))
        with self._lock:
            return all(k in self._frames for k in keys)

    def features(self, build: Build, name: str, crs: str) -> list[str]:
        """Return the layer's GeoJSON features (one string each) in ``crs``, in frame order."""
        from healthgap.services._geojson import feature_strings

        def make() -> list[str]:
            frame = self.frame(build, name, crs=crs)
            assert isinstance(frame, gpd.GeoDataFrame)
            return feature_strings(frame, crs=crs)

        return self._get(("features", build.code, build.version, name, crs),  # type: ignore
                         make)

    def feature_file(self, build: Build, name: str) -> Any:
        """Return the build-time GeoJSON of a layer (`services.features.FeatureFile`) or None."""
        from healthgap.services.features import FeatureFile

        return self._get(("file", build.code, build.version, name),
                         lambda: FeatureFile.read(build.directory, name))

    def layers(self, build: Build) -> dict[str, LayerInfo]:
        """Every public layer of a build with its fields."""
        def make() -> dict[str, LayerInfo]:
            out = {}
            for name, _ in pyogrio.list_layers(build.store.path):
                name = str(name)
                if name in PRIVATE_LAYERS or not _LAYER.match(name):
                    continue
                info = pyogrio.read_info(build.store.path, layer=name)
                geom = info.get("geometry_type")
                fields = [(neutral_name(str(f)), str(t))  # as `BuildStore.read_layer` gives them
                          for f, t in zip(info["fields"], info["dtypes"], strict=True)]
                bounds = info.get("total_bounds")
                out[name] = LayerInfo(
                    name=name, geometry_type=None if geom is None else str(geom), fields=fields,
                    count=int(info.get("features", 0)),
                    bounds=None if bounds is None or geom is None else
                    tuple(float(b) for b in bounds),  # type: ignore[arg-type]
                    crs=None if info.get("crs") is None else str(info["crs"]))
            return out
        return self._get(("layers", build.code, build.version), make)  # type: ignore[no-any-return]

    def layer(self, build: Build, name: str) -> LayerInfo:
        """Return one layer's info, or raise `UnknownLayerError` naming the known layers."""
        layers = self.layers(build)
        if not isinstance(name, str) or name not in layers:
            shown = name if isinstance(name, str) and len(name) <= 64 else f"{str(name)[:64]}…"
            raise UnknownLayerError(f"layer {shown!r} is not in build {build.code}; layers: "
                                    f"{', '.join(sorted(layers))}")
        return layers[name]

    def frame(self, build: Build, name: str, *, crs: str | None = None) -> pd.DataFrame:
        """Return a whole layer, indexed by its code column when it has one.

        Parameters
        ----------
        build
            The build.
        name
            A layer name that `layer` accepts.
        crs
            Reproject a spatial layer to this CRS (a cached copy; the stored frame is
            EPSG:27700).
        """
        info = self.layer(build, name)

        def read() -> pd.DataFrame:
            return with_feature_ids(name, build.store.read_layer(name))

        base = self._get(("frame", build.code, build.version, name, None), read)
        if crs is None or not info.spatial:
            return base  # type: ignore[no-any-return]
        assert isinstance(base, gpd.GeoDataFrame)

        def project() -> gpd.GeoDataFrame:  # once per CRS: pyproj's to_string is not free
            same = base.crs is not None and base.crs.to_string() == crs
            return base if same else base.to_crs(crs)

        return self._get(("frame", build.code, build.version, name, crs),  # type: ignore
                         project)


class ResponseCache:
    """Rendered response bodies keyed by their strong ETag, bounded in bytes (LRU).

    Parameters
    ----------
    max_bytes
        Total body bytes kept; 0 keeps nothing.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._items: LRUCache[Any, tuple[bytes, bool, dict[str, str]]] = LRUCache(
            maxsize=max(1, self.max_bytes), getsizeof=lambda item: max(1, len(item[0])))
        self._lock = threading.Lock()

    def get(self, key: Any) -> tuple[bytes, bool, dict[str, str]] | None:
        """Return ``(body, gzipped, headers)`` or None."""
        with self._lock:
            return self._items.get(key)

    def put(self, key: Any, body: bytes, gzipped: bool, headers: dict[str, str]) -> None:
        """Keep a body and its headers (dropping the least recently used beyond the bound)."""
        if len(body) > self.max_bytes:
            return
        with self._lock:
            self._items[key] = (body, gzipped, dict(headers))

    @property
    def bytes(self) -> int:
        """Body bytes held."""
        return int(self._items.currsize)
