"""Compare two build GeoPackages layer by layer, table by table, and print every difference.

Two builds are the same when they hold the same layers, each layer has the same geometry type,
CRS, columns and rows, numbers agree within a tolerance, other values are equal, and geometries
are equal (vertex by vertex after normalisation, within ``--geom-tol`` metres). The ``manifest``
table is compared key by key (nested JSON flattened to dotted keys) except for keys that differ
between any two runs (the creation time, timings, the output folder), which are ignored by default.

Rows are matched on their key: the fewest leading text columns that identify every row (area
codes; ``sex, level, code`` in the model tables), else stored order.

Usage::

    python scripts/compare_builds.py OLD NEW [--rtol 1e-9] [--atol 1e-9] [--geom-tol 1e-6]
                                             [--ignore LAYER[.COLUMN]] [--ignore-manifest KEY]
                                             [--show 5]

``OLD`` and ``NEW`` are build folders (holding ``healthgap.gpkg``) or GeoPackage files.
Exit status: 0 same, 1 different, 2 unreadable input.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import shapely

STORE_NAME = "healthgap.gpkg"
GEOMETRY = "__geometry__"
#: manifest keys that differ between any two runs of the same build (fnmatch patterns)
VOLATILE_MANIFEST = ("created_utc", "timings_s.*", "parameters.out_dir", "parameters.data_dir",
                     "inputs.*.path")


@dataclass(frozen=True)
class Tolerance:
    """How close two builds must be: numbers within ``atol + rtol * |old|``, vertices ``geom``."""

    rtol: float = 1e-9
    atol: float = 1e-9
    geom: float = 1e-6


@dataclass(frozen=True)
class Difference:
    """One difference between the builds: where it is and what differs."""

    layer: str
    what: str
    column: str | None = None
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = self.layer if self.column is None else f"{self.layer}.{self.column}"
        text = f"{where}: {self.what}"
        return text + "".join(f"\n    {e}" for e in self.examples)


@dataclass
class Report:
    """Every difference found, and what was compared."""

    old: Path
    new: Path
    differences: list[Difference] = field(default_factory=list)
    compared: dict[str, int] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        """True when no difference was found."""
        return not self.differences


def store_path(path: str | Path) -> Path:
    """Return the GeoPackage of a build folder (or the file itself); raise if it is missing."""
    p = Path(path)
    gpkg = p if p.suffix == ".gpkg" else p / STORE_NAME
    if not gpkg.is_file():
        raise FileNotFoundError(f"{gpkg}: no build GeoPackage here")
    return gpkg


def _layers(gpkg: Path) -> dict[str, str | None]:
    return {str(n): (None if t is None else str(t)) for n, t in pyogrio.list_layers(gpkg)}


def _read(gpkg: Path, layer: str) -> tuple[pd.DataFrame, np.ndarray | None, str | None]:
    """Return (attributes, geometries or None, CRS as WKT or None) of one layer."""
    info = pyogrio.read_info(gpkg, layer=layer)
    spatial = info.get("geometry_type") is not None
    frame = pyogrio.read_dataframe(gpkg, layer=layer, read_geometry=spatial)
    if not spatial:
        return pd.DataFrame(frame), None, None
    geoms = np.asarray(frame.geometry.array, dtype=object)
    crs = None if frame.crs is None else frame.crs.to_wkt()
    return pd.DataFrame(frame.drop(columns=frame.geometry.name)), geoms, crs


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, value


def _manifest(frame: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, text in zip(frame["key"], frame["value"], strict=True):
        out.update(_flatten(json.loads(text), str(key)))
    return out


def compare_manifests(old: pd.DataFrame, new: pd.DataFrame, ignore: tuple[str, ...],
                      tol: Tolerance, show: int) -> list[Difference]:
    """Compare two manifest tables key by key, skipping keys that match ``ignore``."""
    a, b = _manifest(old), _manifest(new)
    keep = [k for k in sorted(set(a) | set(b)) if not any(fnmatch.fnmatch(k, p) for p in ignore)]
    bad = []
    for k in keep:
        if k not in a or k not in b:
            bad.append(f"{k}: only in {'new' if k not in a else 'old'}")
        elif not _values_match(a[k], b[k], tol):
            bad.append(f"{k}: {a[k]!r} -> {b[k]!r}")
    if not bad:
        return []
    return [Difference("manifest", f"{len(bad)} of {len(keep)} keys differ",
                       examples=tuple(bad[:show]))]


def _values_match(a: Any, b: Any, tol: Tolerance) -> bool:
    numeric = (int, float)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool):
        return bool(np.isclose(a, b, rtol=tol.rtol, atol=tol.atol, equal_nan=True))
    return bool(a == b)


def row_keys(old: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """Return the fewest leading text columns that identify every row in both tables, or [].

    Codes come first in every layer (``lsoa11cd``; ``sex, level, code`` in the model tables), so
    the shortest unique prefix of the text columns is the row's key.
    """
    text = [c for c in old.columns if c in new.columns and c != GEOMETRY
            and pd.api.types.is_string_dtype(old[c]) and pd.api.types.is_string_dtype(new[c])]
    for n in range(1, len(text) + 1):
        keys = text[:n]
        if not old.duplicated(keys).any() and not new.duplicated(keys).any():
            return keys
    return []


def _labels(frame: pd.DataFrame, keys: list[str]) -> pd.Index:
    if not keys:
        return pd.Index([f"row {i}" for i in range(len(frame))])
    return pd.Index([", ".join(map(str, row)) for row in frame[keys].itertuples(index=False)])


def compare_columns(layer: str, old: pd.DataFrame, new: pd.DataFrame, tol: Tolerance,
                    show: int) -> list[Difference]:
    """Compare aligned tables column by column (same row labels, same columns)."""
    out = []
    for col in old.columns:
        a, b = old[col], new[col]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            bad = ~np.isclose(x, y, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
            gap = np.abs(x - y)[bad]
            finite = gap[np.isfinite(gap)]
            what = f"{int(bad.sum())} of {len(a)} values differ" + (
                f" (max |diff| {finite.max():.6g})" if finite.size else "")
        else:
            both_na = a.isna().to_numpy() & b.isna().to_numpy()
            bad = ~(both_na | (a.astype(object).to_numpy() == b.astype(object).to_numpy()))
            what = f"{int(bad.sum())} of {len(a)} values differ"
        if bad.any():
            rows = np.flatnonzero(bad)[:show]
            out.append(Difference(layer, what, col, tuple(
                f"{old.index[i]}: {a.iloc[i]!r} -> {b.iloc[i]!r}" for i in rows)))
    return out


def compare_geometries(layer: str, labels: pd.Index, old: np.ndarray, new: np.ndarray,
                       tol: Tolerance, show: int) -> list[Difference]:
    """Compare geometries vertex by vertex after normalisation, within ``tol.geom``."""
    a, b = shapely.normalize(old), shapely.normalize(new)
    both_missing = shapely.is_missing(a) & shapely.is_missing(b)
    same = both_missing | shapely.equals_exact(a, b, tolerance=tol.geom)
    if same.all():
        return []
    bad = np.flatnonzero(~same)
    shape_same = shapely.equals(a[bad], b[bad])
    examples = []
    for i, topo in zip(bad[:show], shape_same[:show], strict=False):
        moved = shapely.hausdorff_distance(a[i], b[i])
        examples.append(f"{labels[i]}: " + ("same shape, different vertices"
                                            if topo else f"Hausdorff distance {moved:.6g}"))
    return [Difference(layer, f"{len(bad)} of {len(a)} geometries differ", "geometry",
                       tuple(examples))]


def _align(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Order both tables by their key columns (stored order when there is no key)."""
    keys = row_keys(old, new)
    old, new = old.set_axis(_labels(old, keys)), new.set_axis(_labels(new, keys))
    if keys:
        old, new = old.sort_index(kind="stable"), new.sort_index(kind="stable")
    return old, new, keys


def _shape(layer: str, old: pd.DataFrame, new: pd.DataFrame,
           crs: tuple[str | None, str | None]) -> list[Difference]:
    """Differences of columns, CRS and row count (nothing else is comparable past these)."""
    out = []
    only_old = [c for c in old.columns if c not in new.columns]
    only_new = [c for c in new.columns if c not in old.columns]
    if only_old or only_new:
        out.append(Difference(layer, f"columns only in old: {only_old}; only in new: {only_new}"))
    if crs[0] != crs[1]:
        out.append(Difference(layer, "CRS differs", "geometry", (str(crs[0]), str(crs[1]))))
    if len(old) != len(new):
        out.append(Difference(layer, f"{len(old)} rows in old, {len(new)} in new"))
    return out


def compare_layer(layer: str, old: Path, new: Path, tol: Tolerance, ignore_columns: set[str],
                  show: int) -> list[Difference]:
    """Compare one layer or table of two GeoPackages."""
    a, ga, crs_a = _read(old, layer)
    b, gb, crs_b = _read(new, layer)
    a = a.drop(columns=[c for c in a.columns if c in ignore_columns])
    b = b.drop(columns=[c for c in b.columns if c in ignore_columns])
    if ga is not None:
        a[GEOMETRY], b[GEOMETRY] = ga, gb
    out = _shape(layer, a.drop(columns=GEOMETRY, errors="ignore"),
                 b.drop(columns=GEOMETRY, errors="ignore"), (crs_a, crs_b))
    if len(a) != len(b):
        return out
    a, b, _ = _align(a, b)
    if not a.index.equals(b.index):
        only = a.index.symmetric_difference(b.index)
        return out + [Difference(layer, f"{len(only)} row keys differ",
                                 examples=tuple(map(str, only[:show])))]
    common = [c for c in a.columns if c in b.columns and c != GEOMETRY]
    out += compare_columns(layer, a[common], b[common], tol, show)
    if ga is not None:
        out += compare_geometries(layer, a.index, a[GEOMETRY].to_numpy(),
                                  b[GEOMETRY].to_numpy(), tol, show)
    return out


def compare_builds(old: str | Path, new: str | Path, *, tol: Tolerance | None = None,
                   ignore: tuple[str, ...] = (),
                   ignore_manifest: tuple[str, ...] = VOLATILE_MANIFEST, show: int = 5) -> Report:
    """Compare two builds and return every difference.

    Parameters
    ----------
    old, new
        Build folders (holding ``healthgap.gpkg``) or GeoPackage files.
    tol
        Tolerances for numbers and vertices; the defaults are tight (1e-9 relative and absolute,
        1e-6 m for vertices).
    ignore
        ``LAYER`` to skip a whole layer, ``LAYER.COLUMN`` to skip one column of it.
    ignore_manifest
        fnmatch patterns of dotted manifest keys to skip.
    show
        How many example rows to keep per difference.
    """
    tol = tol or Tolerance()
    a, b = store_path(old), store_path(new)
    report = Report(a, b)
    la, lb = _layers(a), _layers(b)
    skip = {i for i in ignore if "." not in i}
    for name in sorted(set(la) ^ set(lb)):
        if name not in skip:
            side = "old" if name in la else "new"
            report.differences.append(Difference(name, f"layer only in the {side} build"))
    for name in sorted(set(la) & set(lb) - skip):
        if la[name] != lb[name]:
            report.differences.append(Difference(name, f"geometry type {la[name]} -> {lb[name]}"))
            continue
        if name == "manifest":
            report.differences += compare_manifests(_read(a, name)[0], _read(b, name)[0],
                                                    ignore_manifest, tol, show)
        else:
            cols = {i.split(".", 1)[1] for i in ignore if i.startswith(name + ".")}
            report.differences += compare_layer(name, a, b, tol, cols, show)
        report.compared[name] = int(pyogrio.read_info(a, layer=name)["features"])
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line: print the differences; exit 0 same, 1 different, 2 bad input."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance for numbers")
    p.add_argument("--atol", type=float, default=1e-9, help="absolute tolerance for numbers")
    p.add_argument("--geom-tol", type=float, default=1e-6,
                   help="largest vertex displacement (layer units, metres) still called equal")
    p.add_argument("--ignore", action="append", default=[], metavar="LAYER[.COLUMN]")
    p.add_argument("--ignore-manifest", action="append", default=None, metavar="KEY",
                   help="dotted manifest key pattern to skip (repeatable; replaces the default "
                        f"{', '.join(VOLATILE_MANIFEST)})")
    p.add_argument("--show", type=int, default=5, help="example rows per difference")
    args = p.parse_args(argv)
    for name in ("rtol", "atol", "geom_tol"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    try:
        report = compare_builds(
            args.old, args.new, tol=Tolerance(args.rtol, args.atol, args.geom_tol),
            ignore=tuple(args.ignore), show=args.show,
            ignore_manifest=tuple(args.ignore_manifest or VOLATILE_MANIFEST))
    except (FileNotFoundError, pyogrio.errors.DataSourceError) as exc:
        print(f"compare_builds: {exc}", file=sys.stderr)
        return 2
    for d in report.differences:
        print(d)
    rows = sum(report.compared.values())
    verdict = "same" if report.same else f"{len(report.differences)} differences"
    print(f"{report.old} vs {report.new}: {len(report.compared)} layers, {rows:,} rows "
          f"compared: {verdict}")
    return 0 if report.same else 1


if __name__ == "__main__":
    raise SystemExit(main())
