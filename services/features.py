"""Whole-layer GeoJSON written at build time, so the API sends bytes instead of rendering.

`write_feature_files` writes, for every spatial layer of a build, ``features/<layer>.geojson``
(a complete RFC 7946 FeatureCollection in longitude/latitude, features ordered by area code, the
area code as feature ``id``) and its gzip ``features/<layer>.geojson.gz``. The build calls it
once, at the end of its write stage, inside the build directory it is about to swap in, so the
files always match the GeoPackage beside them. `FeatureFile` reads one back for the API.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
from healthgap.services import _geojson
from healthgap.services._layers import PRIVATE_LAYERS, with_feature_ids
from healthgap.services.store import BuildStore

from healthgap import WGS84

logger = logging.getLogger(__name__)

FEATURES_DIR = "features"
#: zlib level of the pre-built gzip (written once, so the smallest file is worth the time).
GZIP_LEVEL = 9
#: Where the ``features`` member starts in a file `write_feature_files` wrote.
FEATURES_MARK = b',"features":['


def feature_bytes(frame: gpd.GeoDataFrame, name: str) -> bytes:
    """Return a whole layer as the GeoJSON bytes the API serves (EPSG:4326, ordered by id).

    ``frame`` is indexed by its area code (or not indexed: ids are then row positions).
    """
    if frame.index.name:
        frame = frame.sort_index(kind="stable")
    out = frame.to_crs(WGS84) if frame.crs is not None else frame
    members = {"numberMatched": len(out), "numberReturned": len(out)}
    return _geojson.feature_collection(out, crs=WGS84, members=members, name=name)


def write_feature_files(out_dir: Path, store: BuildStore, *,
                        only: Collection[str] | None = None,
                        skip: Collection[str] = (), compress: bool = True,
                        compress_written: Collection[str] = ()) -> Path:
    """Write every spatial layer of ``store`` as GeoJSON and gzip under ``out_dir/features``.

    Parameters
    ----------
    out_dir
        The build directory being written (the one holding ``healthgap.gpkg``).
    store
        The build's store, already written.
    only, skip
        Write only these layers (default: all), and not these (a large build writes its LSOA
        layer's files ahead of the others, see `services.build_stages`).
    compress
        Also write each layer's gzip (False: the GeoJSON only).
    compress_written
        Layers whose GeoJSON an earlier call wrote without its gzip: compressed now, on the
        second core while the other layers are serialised.

    Returns
    -------
    Path
        The ``features`` folder.
    """
    folder = Path(out_dir) / FEATURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    # zlib releases the GIL: each layer is compressed in a thread while the next is serialised
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="gzip") as pool:
        pending = [pool.submit(_gzip_file, folder / f"{name}.geojson")
                   for name in compress_written]
        for name, geometry in store.layers().items():
            if (geometry is None or name in PRIVATE_LAYERS or name in skip
                    or (only is not None and name not in only)):
                continue
            frame = with_feature_ids(name, store.read_layer(name))
            body = feature_bytes(frame, name)
            (folder / f"{name}.geojson").write_bytes(body)
            if compress:
                pending.append(pool.submit(_write_gzip, folder / f"{name}.geojson.gz", body))
            written += 1
        for job in pending:
            job.result()  # re-raises a failed write (e.g. a full disk)
    logger.info("wrote GeoJSON of %d layers to %s", written, folder)
    return folder


def _write_gzip(path: Path, body: bytes) -> None:
    path.write_bytes(gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0))


def _gzip_file(path: Path) -> None:
    _write_gzip(path.with_name(path.name + ".gz"), path.read_bytes())


@dataclass(frozen=True)
class FeatureFile:
    """A pre-built layer file: its bytes, the offset of its features and their count."""

    body: bytes
    gzipped: bytes | None
    features_at: int
    count: int

    @classmethod
    def read(cls, build_dir: Path, name: str) -> FeatureFile | None:
        """Read ``features/<name>.geojson`` of a build, or None if it was not written."""
        path = Path(build_dir) / FEATURES_DIR / f"{name}.geojson"
        if not path.is_file():
            return None
        body = path.read_bytes()
        at = body.find(FEATURES_MARK)
        if at < 0:
            logger.warning("%s: no features member; rendering the layer instead", path)
            return None
        head = json.loads(body[:at] + b"}")
        gz = path.with_name(path.name + ".gz")
        return cls(body=body, gzipped=gz.read_bytes() if gz.is_file() else None,
                   features_at=at, count=int(head.get("numberMatched", 0)))

    def features(self) -> bytes:
        """Return the ``"features":[...]`` member and the closing brace."""
        return self.body[self.features_at + 1:]
