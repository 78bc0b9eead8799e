"""Benchmark: LISA on every English LSOA, our engine against esda, in the same process.

Reads the ONS super-generalised LSOA 2011 boundaries (English E01 rows) and the IMD 2019 score,
builds queen weights (row-standardised, the Isles of Scilly joined to its nearest LSOA), then
runs ``geo.local.LocalMoran`` (numba, every core) and ``esda.Moran_Local`` with the same number
of permutations, esda both on one core (``n_jobs=1``) and on every core (``n_jobs=-1``, its
fair peer), and prints wall times, peak memory and how far they agree (Is exactly; pseudo
p-values up to Monte Carlo error, since the engines draw different permutations).

Usage::

    .venv/bin/python benchmarks/bench_lisa.py [--data DIR] [--permutations 9999] [--seed 12345]
                                              [--esda-jobs 1,-1] [--skip-esda]
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import psutil
import pyogrio

REPO = Path(__file__).resolve().parents[1]

from healthgap.geo.local import LocalMoran  # noqa: E402
from healthgap.geo.weights import WeightsResult, build_weights  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process and of its child processes (joblib workers), in s.

    Printed beside wall times: on a shared machine the wall time of either engine can be
    stretched by other work, while CPU time says how much computing each one needed. Live
    children (joblib keeps its workers for reuse) are read with psutil; children that have
    ended and been waited for with getrusage.
    """
    me = resource.getrusage(resource.RUSAGE_SELF)
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:  # ended between listing and reading
            continue
        live += t.user + t.system
    return me.ru_utime + me.ru_stime + ended.ru_utime + ended.ru_stime + live


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RSSSampler:
    """Sample this process's resident set size every few milliseconds while a block runs."""

    def __init__(self, every: float = 0.005) -> None:
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self.every)

    def __enter__(self) -> RSSSampler:
        self.start = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def load(data: Path) -> tuple[gpd.GeoDataFrame, pd.Series]:
    lsoa = pyogrio.read_dataframe(
        data / "geography" / "lsoa11_boundaries_ew_super_generalised.geojson",
        columns=["LSOA11CD"],
    )
    lsoa = lsoa[lsoa["LSOA11CD"].str.startswith("E01")].set_index("LSOA11CD").to_crs(27700)
    lsoa.index.name = "lsoa_code"
    imd = pd.read_csv(data / "imd2019" / "imd2019_lsoa11_england.csv",
                      usecols=["lsoa11cd", "imd_score"]).set_index("lsoa11cd")["imd_score"]
    return lsoa, imd.reindex(lsoa.index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--permutations", type=int, default=9999)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--esda-jobs", default="1,-1",
                        help="comma-separated esda n_jobs values to time (-1: every core)")
    parser.add_argument("--skip-esda", action="store_true", help="time our engine only")
    args = parser.parse_args()

    t0 = time.perf_counter()
    lsoa, imd = load(args.data)
    print(f"read {len(lsoa)} English LSOAs and IMD 2019 in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    weights = build_weights(lsoa, kind="queen")
    s = weights.summary()
    print(f"queen weights in {time.perf_counter() - t0:.1f} s: {s['n_links']} links, "
          f"islands {s['islands']} -> {s['island_links']}, {s['n_components']} components")

    # warm-up: compile (or load cached) numba kernels on the same data
    t0 = time.perf_counter()
    LocalMoran(permutations=99, seed=0).fit(imd, weights)
    t_warm = time.perf_counter() - t0
    print(f"warm-up (compile/load numba kernels, 99 permutations): {t_warm:.1f} s")

    with RSSSampler() as mem:
        t0, c0 = time.perf_counter(), cpu_seconds()
        ours = LocalMoran(permutations=args.permutations, seed=args.seed).fit(imd, weights)
        t_ours, c_ours = time.perf_counter() - t0, cpu_seconds() - c0
    mb = 1024 * 1024
    print(f"\nours : LocalMoran({args.permutations} permutations) on {len(lsoa)} areas: "
          f"{t_ours:.2f} s wall, {c_ours:.2f} s CPU; "
          f"RSS peak during the run {mem.peak / mb:.0f} MB "
          f"(+{(mem.peak - mem.start) / mb:.0f} MB over the {mem.start / mb:.0f} MB before it); "
          f"process peak so far {peak_rss_mb():.0f} MB")
    again = LocalMoran(permutations=args.permutations, seed=args.seed).fit(imd, weights)
    same = np.array_equal(again.p_sim_.to_numpy(), ours.p_sim_.to_numpy()) and np.array_equal(
        again.expected_sim_.to_numpy(), ours.expected_sim_.to_numpy()
    )
    print(f"ours : rerun with the same seed byte-identical: {same}")
    print(f"ours : labels (FDR 5%): {ours.summary()['labels']}")

    if args.skip_esda:
        return
    jobs = [int(j) for j in args.esda_jobs.split(",")]
    print(f"\ncores available to this process: {len(os.sched_getaffinity(0))} "
          f"(numba threads: {numba.get_num_threads()})")
    refs = {j: run_esda(imd, weights, args.permutations, args.seed, j, (t_ours, c_ours))
            for j in jobs}
    for j, ref in refs.items():
        agreement(ours, ref, args.permutations, f"n_jobs={j}")


def run_esda(imd: pd.Series, weights: WeightsResult, permutations: int, seed: int, n_jobs: int,
             ours: tuple[float, float]) -> Any:
    """Time esda.Moran_Local with ``n_jobs`` workers; print it beside ours (wall, CPU s)."""
    import esda

    t0, c0 = time.perf_counter(), cpu_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = esda.Moran_Local(imd.to_numpy(), weights.graph, permutations=permutations,
                               seed=seed, n_jobs=n_jobs, keep_simulations=False)
    t_esda, c_esda = time.perf_counter() - t0, cpu_seconds() - c0
    print(f"esda : Moran_Local({permutations} permutations, n_jobs={n_jobs}): {t_esda:.2f} s "
          f"wall, {c_esda:.2f} s CPU; peak RSS so far {peak_rss_mb():.0f} MB")
    print(f"       ours is {t_esda / ours[0]:.1f}x faster in wall time, "
          f"{c_esda / ours[1]:.1f}x in CPU time")
    return ref


def agreement(ours: LocalMoran, ref: Any, permutations: int, label: str) -> None:
    """Print how far our Is and pseudo p-values are from esda's."""
    d_is = np.abs(ours.Is_.to_numpy() - ref.Is).max()
    p1, p2 = ours.p_sim_.to_numpy(), np.asarray(ref.p_sim, dtype=float)
    diff = np.abs(p1 - p2)
    # Monte Carlo standard error of a difference of two independent estimates of p
    se = np.sqrt(2 * np.maximum(p1 * (1 - p1), 1e-12) / permutations)
    agree = ((p1 <= 0.05) == (p2 <= 0.05)).mean()
    print(f"\nvs esda {label}: max |Is ours - Is esda| = {d_is:.3g}")
    print(f"  p_sim: max |diff| = {diff.max():.4f}, mean |diff| = {diff.mean():.5f}, "
          f"corr = {np.corrcoef(p1, p2)[0, 1]:.6f}, "
          f"share within 4 Monte Carlo s.e. = {(diff <= 4 * se + 1e-9).mean():.5f}")
    print(f"  same p<=0.05 call (uncorrected) for {agree:.4%} of areas")


if __name__ == "__main__":
    main()
