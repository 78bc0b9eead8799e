"""Scale: all of England on one machine, and many ICSs on Dask against one after another.

Prints the time and peak memory (resident set, whole process so far) of each stage of the England
build, then the batch time for 1, 4, 16 and 42 ICSs on a Dask LocalCluster against building the
same ICSs one after another in this process, measured in the same run.

    python benchmarks/bench_scale.py --data ../shared/data [--sizes 1,4,16,42] [--workers 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from healthgap.data.layout import DataDir  # noqa: E402
from healthgap.services.batch import run_batch  # noqa: E402
from healthgap.services.build import BuildOptions, build, load_hierarchy  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--sizes", default="1,4,16,42")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-england", action="store_true")
    ap.add_argument("--maps", action="store_true", help="write each ICS atlas too")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="healthgap-bench-"))

    if not args.skip_england:
        t0 = time.perf_counter()
        res = build(BuildOptions(area="england", data_dir=args.data, out_dir=tmp / "england"),
                    on_stage=lambda s, i, n: print(f"  [{i + 1}/{n}] {s}", flush=True))
        total = time.perf_counter() - t0
        print("\nEngland LSOA pipeline (32,844 LSOAs)")
        print(f"{'stage':50s} {'seconds':>8s} {'peak MB':>8s}")
        for stage, sec in res.timings.items():
            print(f"{stage:50s} {sec:8.1f} {res.peak_mb[stage]:8.0f}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{'total':50s} {total:8.1f} {peak:8.0f}")
        print(f"targets: <= 600 s and <= 8192 MB -> "
              f"{'MET' if total <= 600 and peak <= 8192 else 'NOT MET'}")

    icbs = list(load_hierarchy(DataDir(args.data)).areas("icb").index)
    template = BuildOptions(area="", data_dir=args.data, out_dir=tmp, maps=args.maps)
    print(f"\nICS batch on a Dask LocalCluster ({args.workers} workers) vs one after another")
    print(f"{'ICSs':>5s} {'dask s':>8s} {'sequential s':>13s} {'speed-up':>9s} {'failed':>7s}")
    for n in [int(x) for x in args.sizes.split(",")]:
        chosen = icbs[:n]
        rep = run_batch(chosen, data_dir=args.data, out_root=tmp / f"dask{n}",
                        template=template, n_workers=args.workers, force=True)
        t0 = time.perf_counter()
        for code in chosen:
            build(replace(template, area=code, out_dir=tmp / f"seq{n}" / code.lower()))
        seq = time.perf_counter() - t0
        print(f"{n:5d} {rep.seconds:8.1f} {seq:13.1f} {seq / rep.seconds:9.2f} "
              f"{len(rep.by_status('failed')):7d}", flush=True)
    print(f"\noutputs in {tmp}")


if __name__ == "__main__":
    main()
