"""What-if benchmark: one practice closure on the real Rutland build, warm, beside full recomputes.

Target (issue #17): a single closure in Rutland answered in <= 1 s warm. Measured in one run:

* ``whatif warm`` : ``services.whatif.run_whatif(..., write=False)`` with the baseline already
  routed (the cache a server or a second CLI call in one process keeps): check the scenario
  against the build, apply it incrementally, summarise (crossings, SII before/after, shares);
* ``incremental`` : ``AccessScenarios.evaluate`` alone (reuses the baseline's columns);
* peer ``full recompute`` : the same evaluate with ``incremental=False`` (every column
  rebuilt from the routed columns: no reuse of measures);
* peer ``ServiceAccess.fit`` : the build's own access stage on the changed practice set (routes
  every origin again: what answering the question costs without a scenario engine);
* ``cold`` : reading the network and routing the baseline once (for scale).

The incremental and full results are compared bit for bit and the script says so.

    python benchmarks/bench_whatif.py [--data ../shared/data | --store BUILD] [--repeat 20]

Without ``--store`` it builds Rutland once (no models or maps) into ``out/bench/E06000017``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402
from _stores import DEFAULT_DATA, ensure_store  # noqa: E402
from healthgap.geo.access import ServiceAccess  # noqa: E402
from healthgap.services import whatif as wi  # noqa: E402


def _timed(fn, repeat: int) -> tuple[float, float, object]:
    """Return (median s, min s, last result) of ``repeat`` calls."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), out


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="../shared/data")
    ap.add_argument("--store", type=Path, default=None, help="a Rutland build folder")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--lsoa", default="E01013790", help="close the practice nearest this LSOA")
    args = ap.parse_args()
    args.store = ensure_store(args.store, "E06000017", args.data, models=False, maps=False)

    t = time.perf_counter()
    base = wi.load_baseline(args.store)
    cold = time.perf_counter() - t
    engine = base.engine
    code = str(base.lsoa.loc[args.lsoa, "gp_nearest_code"])
    spec = {"close": [code]}
    scenario = wi.check_scenario(args.store, spec)
    n_fac = len(engine.baseline_["gp"].codes)
    print(f"Rutland build {args.store}: {len(base.lsoa)} LSOAs (edge ring included), {n_fac} GP "
          f"practices; closing {code} (nearest to {args.lsoa}); {args.repeat} repeats, median "
          "(min)")
    print(f"  cold: network + baseline routing      {cold:8.3f} s (once)")

    warm_md, warm_min, _ = _timed(lambda: wi.run_whatif(args.store, spec, write=False),
                                  args.repeat)
    inc_md, inc_min, inc = _timed(lambda: engine.evaluate(scenario), args.repeat)
    full_md, full_min, full = _timed(lambda: engine.evaluate(scenario, incremental=False),
                                     args.repeat)
    fac = base.facilities[base.facilities["code"].astype(str) != code]
    sa_md, sa_min, _ = _timed(
        lambda: ServiceAccess(max_snap_m=engine.max_snap_m).fit(base.lsoa, fac,
                                                                engine.network_),
        max(3, args.repeat // 5))
    print(f"  whatif warm (check+apply+summary)     {warm_md:8.3f} s ({warm_min:.3f})  "
          f"target <= 1 s: {'met' if warm_md <= 1.0 else 'NOT met'}")
    print(f"  incremental evaluate                  {inc_md:8.4f} s ({inc_min:.4f})  "
          f"origins recomputed {inc.touched['gp']} of {len(base.lsoa)}")  # type: ignore[attr-defined]
    print(f"  peer: full recompute (no reuse)       {full_md:8.4f} s ({full_min:.4f})")
    print(f"  peer: ServiceAccess.fit (full route)  {sa_md:8.3f} s ({sa_min:.3f})")
    a, b = inc.after["gp"], full.after["gp"]  # type: ignore[attr-defined]
    same = all(np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)
               for f in ("nearest_time", "counts", "e2sfca"))
    print(f"  incremental == full recompute, bit for bit: {same}")
    print(f"  speed-up: {full_md / inc_md:.1f}x over full recompute, "
          f"{sa_md / warm_md:.1f}x over ServiceAccess.fit")


if __name__ == "__main__":
    main()
