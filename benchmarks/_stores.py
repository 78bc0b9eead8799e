"""The builds the benchmarks read: an existing ``--store``, or one built here from ``--data``.

``make bench`` runs every benchmark with ``--data ../shared/data`` and nothing else, so a
benchmark that reads a build makes it first (once: a later run reuses ``out/bench/<area>``).
"""

from __future__ import annotations

from pathlib import Path

from healthgap.services.build import BuildOptions, build

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"


def ensure_store(store: Path | None, area: str, data: Path, **options: bool) -> Path:
    """Return a build folder of ``area``: ``store`` when given, else one built from ``data``.

    Parameters
    ----------
    store
        A build folder (holding ``healthgap.gpkg``) or None.
    area
        The area code to build when ``store`` is None.
    data
        The data folder (``../shared/data``).
    **options
        `BuildOptions` switches of the build (``access``, ``maps``, ``models``...).
    """
    if store is not None:
        if not (store / "healthgap.gpkg").is_file():
            raise SystemExit(f"{store}: no healthgap.gpkg here; give a build folder, or leave "
                             "--store out to build one from --data")
        return store
    out = REPO / "out" / "bench" / area
    if not (out / "healthgap.gpkg").is_file():
        print(f"building {area} from {data} into {out} (once) ...", flush=True)
        build(BuildOptions(area=area, data_dir=data, out_dir=out, **options))
    return out
