"""The life-expectancy models of a large build, fitted in a second process beside the statistics.

At England scale the two analysis stages are independent (both read the study area as the
layers stage left it; neither reads the other's output). On two cores the build starts the
last parts of `services.analysis.run_models` (`services.build_stages.BACKGROUND_PARTS`: SII
tables, Shapley, the spatial regression) in a child Python process, started as the join stage
begins (it imports the models' code meanwhile) and handed the area before the statistics; once
the statistics are done the build's own process writes the layers no model changes
(`services.build_stages.AHEAD_LAYERS`), fits the first part (cliffs) and joins the child's
result after its own (`Outputs.extend`). The models are the same computation on the same
inputs (the area crosses by pickle, exactly; each model seeds its own generator), so the
results are identical to fitting them in turn; only the wall time changes.

Each process keeps to one core while both compute: the child's thread pools (OpenBLAS, OpenMP,
numba) are set to one thread, and the statistics run numba's loops on one thread
(`one_thread`). A second thread beside the other process's work only made a parallel loop wait
for its share on the core both used.

The child is a fresh interpreter (``python -c``), not a fork: numba's and OpenBLAS's thread
pools are not safe across ``fork``, and unlike ``multiprocessing``'s spawn it never re-runs the
caller's ``__main__``. Input and output cross as pickle files in a private temporary folder.
The build's vintage wording (`geo.indicators.vintage_wording`) is set again in the child, since
a ContextVar does not cross processes. The parent counts the child's CPU time once it has been
waited for (``resource.RUSAGE_CHILDREN``).
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from healthgap.geo.areas import StudyArea
from healthgap.geo.model_plan import PLAN

__all__ = ["BackgroundModels", "one_thread", "wanted"]

_CHILD = "from healthgap.services._background import _child; _child()"
#: The thread pools the child is held to one thread by (OpenBLAS, OpenMP, MKL, numba).
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMBA_NUM_THREADS")


def wanted(area: StudyArea) -> bool:
    """Say whether ``area`` is large enough (`PLAN.is_big`) and the machine has 2+ cores."""
    n_in = int(area.msoa["in_area"].sum()) if "in_area" in area.msoa.columns else 0
    return PLAN.is_big(n_in) and (os.cpu_count() or 1) > 1


@contextmanager
def one_thread() -> Iterator[None]:
    """Run numba's parallel loops on one thread in this block (the child takes the other core).

    On two cores, two threads of this process beside the child's one leave a loop's share of
    work waiting on the core they share; the kernels' results do not depend on the thread
    count (each iteration writes its own output).
    """
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _child() -> None:  # pragma: no cover - runs in the child process
    """Import the models, wait for the job's path on stdin, fit, write ``(ok, result)``.

    The result goes to ``argv[1]``. Standard input closed with no path (the build failed or
    stopped before its statistics) ends the child.
    """
    from healthgap.geo.indicators import vintage_wording
    from healthgap.services.analysis import run_models

    job = sys.stdin.buffer.read().decode().strip()
    if not job:
        return
    dst = Path(sys.argv[1])
    with Path(job).open("rb") as fh:
        area, seed, weights, wording, parts = pickle.load(fh)
    try:
        with vintage_wording(wording):
            result: tuple[bool, Any] = (True, run_models(area, seed=seed, weights=weights,
                                                         parts=parts))
    except Exception as exc:  # handed to the parent, which raises it
        result = (False, exc)
    tmp = dst.with_suffix(".part")
    with tmp.open("wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(dst)


class BackgroundModels:
    """`services.analysis.run_models` running in a child Python process.

    Creating one starts the child, which imports the models' code (about 2.5 s) and then
    waits; `submit` hands it the study area. A build starts it when its join stage begins, so
    the imports run on the core the join leaves idle.
    """

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="healthgap-models-"))
        self._out = self._dir / "out.pickle"
        # one thread each: the build's own process computes beside it (`one_thread`)
        env = {**os.environ, **dict.fromkeys(_THREAD_VARIABLES, "1")}
        self._proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(self._out)],
                                      stdin=subprocess.PIPE, env=env)

    def submit(self, area: StudyArea, *, seed: int, weights: str, wording: Mapping[str, str],
               parts: tuple[str, ...] | None = None) -> BackgroundModels:
        """Hand the child its job and return this handle.

        Parameters
        ----------
        area
            The study area the models stage would be given.
        seed, weights, parts
            As `services.analysis.run_models` (default: every part).
        wording
            The build's vintage wording (`healthgap.data.vintages.Vintage.wording`).
        """
        from healthgap.services.analysis import MODEL_PARTS

        src = self._dir / "in.pickle"
        with src.open("wb") as fh:
            pickle.dump((area, seed, weights, dict(wording), parts or MODEL_PARTS), fh,
                        protocol=pickle.HIGHEST_PROTOCOL)
        stdin = self._proc.stdin
        if stdin is None:  # pragma: no cover - always a pipe
            raise RuntimeError("the models process has no standard input")
        stdin.write(str(src).encode())
        stdin.close()
        return self

    def result(self) -> Any:
        """Wait for the models and return their `services.analysis.Outputs`.

        An exception raised by the models in the child is raised here; a child that died
        without a result raises `RuntimeError` with its exit status.
        """
        try:
            code = self._proc.wait()
            if not self._out.exists():
                raise RuntimeError(f"the models process exited with status {code} and no "
                                   "result (see its messages above)")
            with self._out.open("rb") as fh:
                ok, value = pickle.load(fh)
        finally:
            self.cancel()
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child if it still runs and remove the temporary folder."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with suppress(OSError):  # a child that died has no reader left
                self._proc.stdin.close()
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)
