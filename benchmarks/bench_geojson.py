"""GeoJSON writing speed: the API's writer against GDAL's GeoJSON driver, same layer, same run.

Reads a layer (default: the LSOA layer of a Frimley build, or ``--store``), reprojects it to
EPSG:4326 and writes it as a FeatureCollection with coordinates at 6 decimals:

* ``healthgap``: `services.api._geojson.feature_collection` (numpy rounding + GEOS's GeoJSON
  writer for geometries, pandas' JSON writer for properties);
* ``healthgap cached``: what a page costs once the per-feature strings are cached (a join);
* peer ``pyogrio``: GDAL's GeoJSON driver (``COORDINATE_PRECISION=6``) into a temporary file;
* with ``--old REV``, the regex-over-WKT writer of that git revision (for the record).

    .venv/bin/python benchmarks/bench_geojson.py [--data ../shared/data | --store ROOT] --repeat 5
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyogrio
from _stores import DEFAULT_DATA, ensure_store

REPO = Path(__file__).resolve().parents[1]
AREA = "E54000034"


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _old_module(rev: str):
    text = subprocess.run(["git", "show", f"{rev}:services/api/_geojson.py"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_geojson.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_geojson", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="../shared/data")
    p.add_argument("--store", type=Path, default=None,
                   help="a store root or build dir (default: build Frimley once from --data)")
    p.add_argument("--layer", default="lsoa")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--old", default=None, help="git revision of the old writer to compare")
    args = p.parse_args(argv)

    from healthgap.services import _geojson
    from healthgap.services.api.catalog import code_column
    from healthgap.services.store import BuildStore

    if args.store is None:
        build_dir = ensure_store(None, AREA, args.data, access=False, models=False, maps=False)
    else:
        build_dir = args.store / AREA if (args.store / AREA).is_dir() else args.store
    frame = BuildStore(build_dir).read_layer(args.layer)
    frame = frame.set_index(code_column(args.layer, frame) or frame.columns[0]).sort_index()
    wgs = frame.to_crs("EPSG:4326")
    members = {"numberMatched": len(wgs), "numberReturned": len(wgs)}
    body = _geojson.feature_collection(wgs, crs="EPSG:4326", members=members, name="x")
    rows = []
    t = _best(lambda: _geojson.feature_collection(wgs, crs="EPSG:4326", members=members,
                                                  name="x"), args.repeat)
    rows.append(("healthgap (shapely.to_geojson + pandas)", t, len(body)))
    feats = _geojson.feature_strings(wgs, crs="EPSG:4326")
    head = _geojson.collection_head(crs="EPSG:4326", members=members, name="x")
    t = _best(lambda: _geojson.join_features(head, feats), args.repeat)
    rows.append(("healthgap, per-feature strings cached", t, len(body)))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peer.geojson"

        def peer() -> None:
            pyogrio.write_dataframe(wgs.reset_index(), out, driver="GeoJSON",
                                    layer_options={"COORDINATE_PRECISION": 6, "RFC7946": "YES"})

        t = _best(peer, args.repeat)
        rows.append(("peer: pyogrio GeoJSON driver (GDAL)", t, out.stat().st_size))
    if args.old:
        old = _old_module(args.old)
        t = _best(lambda: old.feature_collection(wgs, crs="EPSG:4326", members=members,
                                                 name="x"), args.repeat)
        rows.append((f"old regex-over-WKT writer ({args.old})", t,
                     len(old.feature_collection(wgs, crs="EPSG:4326", members=members,
                                                name="x"))))
    print(f"{args.layer}: {len(wgs)} features; best of {args.repeat}")
    for name, secs, size in rows:
        print(f"  {name:<44} {secs * 1000:8.1f} ms  {size / 1024:8.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
