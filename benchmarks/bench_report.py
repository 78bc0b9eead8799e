"""Board-pack benchmark: the workbook, deck and print maps of a real ICS build, beside its peers.

Target (issue #25): the board pack of an ICS (Frimley, 440 LSOAs) written in <= 15 s on 2 idle
cores. Measured in one run, on one build:

* ``healthgap report`` : the command as a user runs it (a new process: imports included);
* ``write_report`` : the same work in this process, imports already paid (what ``healthgap build
  --report`` adds to a build), each format alone and all three;
* peer ``pandas.to_excel`` : the workbook's source tables (every attribute layer of the
  GeoPackage) written with pandas and openpyxl and nothing else: the floor a plain export costs.

    python benchmarks/bench_report.py [--data ../shared/data | --store BUILD] [--repeat 3]

Without ``--store`` it builds Frimley once (no access layers or maps, which the report does
not need) into ``out/bench/E54000034``.
"""

from __future__ import annotations

import argparse
import functools
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from _stores import DEFAULT_DATA, ensure_store
from healthgap.services.report import FORMATS, write_report
from healthgap.services.store import BuildStore

TARGET_S = 15.0


def _cpu() -> float:
    """CPU seconds of this process and its finished children (Chromium, a CLI run)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Return (median wall s, min wall s, median CPU s incl. children) of ``repeat`` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def _plain_excel(store: BuildStore, out: Path) -> None:
    """Write every attribute table of the build with pandas alone (the peer)."""
    with pd.ExcelWriter(out, engine="openpyxl") as xl, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the manifest's long JSON cells
        for name in store.layers():
            frame = store.read_layer(name)
            frame = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
            frame.to_excel(xl, sheet_name=name[:31], index=False)


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="../shared/data")
    ap.add_argument("--store", type=Path, default=None, help="a Frimley build folder")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    args.store = ensure_store(args.store, "E54000034", args.data, access=False, maps=False)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / args.store.name
        shutil.copytree(args.store, work, ignore=shutil.ignore_patterns("report", "atlas"))
        exe = Path(sys.executable).with_name("healthgap")
        cli = [str(exe), "report", "--store", str(work)]
        rows = [("healthgap report (new process)",
                 _timed(lambda: subprocess.run(cli, check=True, capture_output=True),
                        args.repeat))]
        for fmt in FORMATS:
            rows.append((f"write_report {fmt}",
                         _timed(functools.partial(write_report, work, formats=(fmt,)),
                                args.repeat)))
        rows.append(("write_report all", _timed(lambda: write_report(work), args.repeat)))
        store = BuildStore(work)
        rows.append(("peer pandas.to_excel of every table",
                     _timed(lambda: _plain_excel(store, Path(tmp) / "plain.xlsx"), args.repeat)))
    print(f"board pack of {args.store.name}, {args.repeat} run(s) each (CPU: this process "
          "and its children, e.g. the CLI process and Chromium for the print maps)")
    for label, (med, low, cpu) in rows:
        print(f"  {label:40s} median {med:6.2f} s  min {low:6.2f} s  CPU {cpu:6.2f} s")
    whole = rows[0][1][0]
    print(f"target: board pack <= {TARGET_S:.0f} s as a user runs it: "
          f"{'met' if whole <= TARGET_S else 'NOT met'} ({whole:.1f} s)")


if __name__ == "__main__":
    main()
