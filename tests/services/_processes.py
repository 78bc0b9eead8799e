"""Helpers of the tests that run real ``healthgap`` processes (faults, what-if safety, refusals).

One way to call the command line in a subprocess, to build Rutland the fast way, to hash a
build folder, to wait for a process held at a test pause point, and to get a folder nobody can
write into.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Rutland, the smallest real local authority in the lookups.
RUTLAND = "E06000017"
#: The options of a fast build: no access, models or maps, 99 permutations (default vintage).
FAST = ["--no-access", "--no-models", "--no-maps", "--permutations", "99"]
#: `FAST` on the 2019 vintage, the quickest real build (a Rutland one in about 10 s here
#: against 15 s on the default vintage, which carries 2011 values to 2021 areas): the fault and
#: safety tests, whose point is how a build or a what-if writes, not what it computes.
QUICK = [*FAST, "--vintage", "2019"]


def cli_args(*args: str) -> list[str]:
    """Return the argument list that runs ``healthgap <args>`` with this interpreter."""
    return [sys.executable, "-m", "healthgap.services.cli", *args]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess[str]:
    """Run ``healthgap <args>`` to the end, output captured, on a 250-column console."""
    return subprocess.run(cli_args(*args), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, "COLUMNS": "250"})


def rutland_build(data: Path, out: Path) -> Path:
    """Build Rutland with `QUICK` into ``out`` (run from its parent folder); return ``out``."""
    run = run_cli("build", "--area", RUTLAND, "--data", str(data), "--out", str(out), *QUICK,
                  cwd=out.parent)
    assert run.returncode == 0, run.stderr
    return out


def tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def copy_build(good: Path, where: Path) -> Path:
    """Copy a finished build to ``where/rutland``; return the copy."""
    out = where / "rutland"
    shutil.copytree(good, out)
    return out


def wait_paused(proc: subprocess.Popen[str], point: str) -> None:
    """Read the process's error output until it says it is paused at ``point``.

    Raises an `AssertionError` with the end of the output if the process ends first.
    """
    assert proc.stderr is not None
    seen: list[str] = []
    while True:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            raise AssertionError(f"never reached {point}: {''.join(seen)[-3000:]}")
        seen.append(line)
        if f"paused at {point}" in line:
            return


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """Make ``path`` a folder nobody can write into for the block, then undo it.

    Root ignores permission bits, so as root a read-only tmpfs is mounted there (the test is
    skipped where that is not allowed); otherwise the folder is made read-only.
    """
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                           capture_output=True, text=True)
        if m.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs: {m.stderr.strip()}")
    else:
        path.chmod(0o555)
    try:
        yield path
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(path)], check=False)
        else:
            path.chmod(0o755)
