"""Neighbourhood regionalisation benchmark: Greater Manchester (E54000057, 1,673 LSOAs).

Ours (``geo.neighbourhoods.generate_neighbourhoods``: spopt's max-p construction phase on the
MSOAs of each place, 20 constructions, oversized groups split again) is timed beside spopt's
``MaxPHeuristic`` at its library defaults (99 constructions, 10 simulated-annealing rounds,
``top_n=2``) on the same MSOA units, places and 30,000 floor, in the same run. spopt's annealing
has no bound on its running time, so each place of the peer runs in a child process with a
time limit (``--peer-place-limit``); places that hit it are reported as unfinished, never
counted as done.

Target: ours <= 60 s on 2 cores. Prints seconds, neighbourhoods, and how many are in 30-50k.

    python benchmarks/bench_neighbourhoods.py [--data DIR] [--peer-place-limit 60]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from healthgap.data import readers  # noqa: E402
from healthgap.data.layout import DataDir  # noqa: E402
from healthgap.geo.layers import with_imd  # noqa: E402
from healthgap.geo.neighbourhoods import (  # noqa: E402
    NBHD_MAX,
    NBHD_MIN,
    _msoa_units,
    _unit_adjacency,
    generate_neighbourhoods,
)
from healthgap.services.build import load_area, load_hierarchy, read_cached  # noqa: E402

GM = "E54000057"


def _peer_place(units: pd.DataFrame, neighbours: dict[int, list[int]],
                queue: mp.Queue) -> None:
    import warnings

    import geopandas as gpd
    import libpysal
    from spopt.region import MaxPHeuristic

    warnings.simplefilter("ignore")
    frame = gpd.GeoDataFrame(units.reset_index(drop=True),
                             geometry=gpd.points_from_xy(np.zeros(len(units)),
                                                         np.zeros(len(units))))
    w = libpysal.weights.W(neighbours, silence_warnings=True)
    np.random.seed(2019)
    t0 = time.perf_counter()
    model = MaxPHeuristic(frame, w, ["imd_score"], "population", NBHD_MIN)
    model.solve()
    queue.put((time.perf_counter() - t0, np.asarray(model.labels_).tolist()))


def run_peer(units: pd.DataFrame, pairs: tuple[np.ndarray, np.ndarray],
             limit: float) -> tuple[float, float, int, list[float], int]:
    """Return (wall seconds, seconds of finished places, finished, populations, unfinished)."""
    total, finished_s, done, unfinished, pops = 0.0, 0.0, 0, 0, []
    for _lad, grp in units.groupby("place_code"):
        pos = units.index.get_indexer(grp.index)
        local = {p: k for k, p in enumerate(pos)}
        neighbours: dict[int, list[int]] = {k: [] for k in range(len(grp))}
        for a, b in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
            if a in local and b in local:
                neighbours[local[a]].append(local[b])
                neighbours[local[b]].append(local[a])
        queue: mp.Queue = mp.Queue()
        proc = mp.get_context("fork").Process(
            target=_peer_place, args=(grp[["population", "imd_score"]], neighbours, queue))
        t0 = time.perf_counter()
        proc.start()
        proc.join(limit)
        if proc.is_alive():
            proc.terminate()
            proc.join()
            unfinished += 1
            total += time.perf_counter() - t0
            continue
        secs, labels = queue.get()
        total += time.perf_counter() - t0
        finished_s += secs
        done += 1
        pops.extend(grp["population"].groupby(np.asarray(labels)).sum().tolist())
    return total, finished_s, done, pops, unfinished


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--peer-place-limit", type=float, default=60.0)
    args = ap.parse_args()
    data = DataDir(args.data)
    h = load_hierarchy(data)
    area = with_imd(load_area(data, h.resolve(GM), h, ring=0),
                    read_cached(readers.read_imd, data.path("imd")))
    print(f"Greater Manchester: {len(area.inside)} LSOAs, "
          f"{area.inside['msoa_code'].nunique()} MSOAs, "
          f"{area.inside['place_code'].nunique()} places")

    t0 = time.perf_counter()
    nb = generate_neighbourhoods(area, seed=2019)
    ours = time.perf_counter() - t0
    pops = area.inside.groupby(nb.lookup["nbhd_cd"].reindex(area.inside.index))[
        "population"].sum()
    within = int(((pops >= NBHD_MIN) & (pops <= NBHD_MAX)).sum())
    print(f"healthgap generate_neighbourhoods: {ours:6.1f} s, {len(pops)} neighbourhoods, "
          f"{within} within {NBHD_MIN:,}-{NBHD_MAX:,}, {len(nb.exceptions)} listed as "
          f"exceptions (target <= 60 s)")

    units = _msoa_units(area)
    pairs = _unit_adjacency(area, units.index)
    wall, secs, done, ppops, unfinished = run_peer(units, pairs, args.peer_place_limit)
    arr = np.asarray(ppops)
    print(f"spopt MaxPHeuristic defaults (99/10): {wall:6.1f} s wall; {done} place(s) finished "
          f"in {secs:.1f} s of solving, {unfinished} stopped unfinished at the "
          f"{args.peer_place_limit:.0f} s limit per place; "
          f"{len(arr)} regions from finished places, "
          f"{int(((arr >= NBHD_MIN) & (arr <= NBHD_MAX)).sum())} within 30-50k")


if __name__ == "__main__":
    main()
