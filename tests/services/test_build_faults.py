"""Fault injection on real `healthgap build` processes: a rebuild never destroys a good build.

Each case rebuilds Rutland (E06000017, the smallest real local authority in the lookups) over a
copy of a finished build, stops the process with SIGINT or SIGTERM at a named point (the
test-only hook ``HEALTHGAP_TEST_PAUSE_AT`` makes the process wait there), and checks that the
previous build is byte-identical (or, once the swap is done, that the new one is complete) and
that no temporary folder or lock is left behind. A full disk is a small tmpfs (root only).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from healthgap.services.store import PAUSE_ENV, BuildStore, check_build

pytestmark = pytest.mark.slow

RUTLAND = "E06000017"
FAST = ["--no-access", "--no-models", "--no-maps", "--permutations", "99"]


def _cli(out: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "healthgap.services.cli", "build", "--area", RUTLAND,
            "--data", str(data), "--out", str(out), *FAST, *extra]


def _tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture(scope="module")
def baseline(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "base"
    run = subprocess.run(_cli(out, shared_data), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    # an atlas from an earlier build with maps: a --no-maps rebuild must not leave it behind
    (out / "atlas").mkdir()
    (out / "atlas" / "index.html").write_text("<html>earlier atlas</html>")
    assert check_build(out) == []
    return out


def _copy(baseline: Path, where: Path) -> Path:
    out = where / "rutland"
    shutil.copytree(baseline, out)
    return out


def _start_paused(cmd: list[str], point: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, PAUSE_ENV: point})
    assert proc.stderr is not None
    deadline = time.monotonic() + 240
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if f"paused at {point}" in line:
            return proc
    proc.kill()
    raise AssertionError(f"build never reached {point}: {''.join(seen)[-2000:]}")


POINTS = [(signal.SIGINT, "before-write"), (signal.SIGINT, "during-write"),
          (signal.SIGINT, "before-swap"), (signal.SIGINT, "after-swap"),
          (signal.SIGTERM, "before-write"), (signal.SIGTERM, "during-write"),
          (signal.SIGTERM, "before-swap")]


@pytest.mark.parametrize(("sig", "point"), POINTS, ids=[f"{s.name}-{p}" for s, p in POINTS])
def test_signal_leaves_a_complete_build(sig, point, baseline, shared_data, tmp_path):
    out = _copy(baseline, tmp_path)
    before = _tree(out)
    proc = _start_paused(_cli(out, shared_data), point)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode == 128 + sig  # 130 for SIGINT, 143 for SIGTERM
    assert _leftovers(out) == []
    if point == "after-swap":  # the new build was complete and is in place
        assert check_build(out) == []
        assert not (out / "atlas").exists()  # --no-maps: the earlier atlas went with the old
        assert BuildStore(out).read_manifest()["area"]["code"] == RUTLAND
    else:
        assert _tree(out) == before


def test_second_build_into_the_same_folder_is_refused(baseline, shared_data, tmp_path):
    out = _copy(baseline, tmp_path)
    before = _tree(out)
    first = _start_paused(_cli(out, shared_data), "during-write")
    try:
        second = subprocess.run(_cli(out, shared_data), capture_output=True, text=True,
                                timeout=120)
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    assert second.returncode == 2
    assert "another build (pid" in second.stderr and str(out) in second.stderr
    assert _tree(out) == before and _leftovers(out) == []


def test_rebuild_replaces_the_folder_whole(baseline, shared_data, tmp_path):
    out = _copy(baseline, tmp_path)
    old_created = BuildStore(out).read_manifest()["created_utc"]
    run = subprocess.run(_cli(out, shared_data), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert check_build(out) == [] and _leftovers(out) == []
    assert not (out / "atlas").exists()  # no stale atlas beside the new GeoPackage
    assert BuildStore(out).read_manifest()["created_utc"] >= old_created


def _can_mount() -> str | None:
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


@pytest.mark.skipif(_can_mount() is not None, reason=str(_can_mount()))
def test_full_disk_leaves_the_previous_build(baseline, shared_data, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    size = sum(p.stat().st_size for p in baseline.rglob("*") if p.is_file())
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size + 160_000}", "tmpfs",
                              str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        out = _copy(baseline, disk)
        before = _tree(out)
        run = subprocess.run(_cli(out, shared_data), capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 2, run.stderr
        assert "disk is full" in run.stderr and str(out) in run.stderr
        assert _tree(out) == before and _leftovers(out) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)
