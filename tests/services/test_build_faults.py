"""Fault injection on real `healthgap build` processes: a rebuild never destroys a good build.

Each case rebuilds Rutland (E06000017, a small real local authority; the 2019 vintage, the quickest
real build) over a copy of a finished build, stops the process with SIGINT or SIGTERM at a named
point (the test-only hook ``HEALTHGAP_TEST_PAUSE_AT`` makes the process wait there), and checks that
the previous build is byte-identical (or, once the swap is done, that the new one is complete) and
that no temporary folder or lock is left behind. A full disk is a small tmpfs (root only).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from healthgap.services.store import PAUSE_ENV, BuildStore, check_build

from tests import _builds
from tests.services._processes import QUICK, RUTLAND, copy_build, tree, wait_paused

pytestmark = pytest.mark.slow

def _cli(out: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "healthgap.services.cli", "build", "--area", RUTLAND,
            "--data", str(data), "--out", str(out), *QUICK, *extra]


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture(scope="module")
def baseline(shared_data, tmp_path_factory) -> Path:
    # the CLI build of Rutland (QUICK), made once per run (tests/_builds.py) and copied here
    out = tmp_path_factory.mktemp("faults") / "base"
    shutil.copytree(_builds.rutland_cli(shared_data), out)
    # an atlas from an earlier build with maps: a --no-maps rebuild must not leave it behind
    (out / "atlas").mkdir()
    (out / "atlas" / "index.html").write_text("<html>earlier atlas</html>")
    assert check_build(out) == []
    return out


#: Where each process is stopped: before, during and after writing, by SIGINT and SIGTERM.
POINTS = [(signal.SIGINT, "before-write"), (signal.SIGINT, "during-write"),
          (signal.SIGINT, "after-swap"), (signal.SIGTERM, "during-write"),
          (signal.SIGTERM, "before-swap")]


def test_signals_before_during_and_after_writing(baseline, shared_data, tmp_path):
    # the processes run side by side (one build's wall time for all five on a busy machine)
    cases = []
    for k, (sig, point) in enumerate(POINTS):
        out = copy_build(baseline, tmp_path / f"case{k}")
        cases.append((sig, point, out, tree(out),
                      subprocess.Popen(_cli(out, shared_data), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True,
                                       env={**os.environ, PAUSE_ENV: point})))
    try:
        for _, point, _, _, proc in cases:
            wait_paused(proc, point)
        # while the first holds its folder, a second build into the same --out is refused
        locked = cases[0][2]
        second = subprocess.run(_cli(locked, shared_data), capture_output=True, text=True,
                                timeout=240)
        for sig, _, _, _, proc in cases:
            proc.send_signal(sig)
        for _, _, _, _, proc in cases:
            proc.wait(timeout=120)
    finally:
        for *_, proc in cases:
            if proc.poll() is None:
                proc.kill()
    assert second.returncode == 2, second.stderr
    assert "another build (pid" in second.stderr and str(locked) in second.stderr
    for sig, point, out, before, proc in cases:
        assert proc.returncode == 128 + sig, (sig.name, point)  # 130 SIGINT, 143 SIGTERM
        assert _leftovers(out) == [], (sig.name, point)
        if point == "after-swap":  # the new build was complete and is in place
            assert check_build(out) == []
            assert not (out / "atlas").exists()  # --no-maps: the earlier atlas went with it
            assert BuildStore(out).read_manifest()["area"]["code"] == RUTLAND
        else:
            assert tree(out) == before, (sig.name, point)


def test_rebuild_replaces_the_folder_whole(baseline, shared_data, tmp_path):
    out = copy_build(baseline, tmp_path)
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
        out = copy_build(baseline, disk)
        before = tree(out)
        run = subprocess.run(_cli(out, shared_data), capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 2, run.stderr
        assert "the disk is full" in run.stderr and str(out) in run.stderr
        assert tree(out) == before and _leftovers(out) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_isles_of_scilly_alone_builds_what_it_can_and_says_what_not(shared_data, tmp_path):
    # E06000053 is one LSOA and one MSOA with no land neighbour (ONS lookups): too few areas
    # for any map or spatial statistic, but the layers and the manifest are built.
    out = tmp_path / "scilly"
    cmd = [sys.executable, "-m", "healthgap.services.cli", "build", "--area", "E06000053",
           "--data", str(shared_data), "--out", str(out), "--no-access", "--permutations", "99"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "COLUMNS": "200"})
    assert run.returncode == 0, run.stderr
    assert check_build(out) == []
    man = BuildStore(out).read_manifest()
    assert man["counts"]["lsoa_in_area"] == 1
    # what cannot be computed is said, in the notes and on the atlas's story page
    assert any(n.startswith("SII not computed") for n in man["notes"])
    story = re.sub(r"<[^>]+>", "", (out / "atlas" / "index.html").read_text())
    assert "Slope index of inequality: not computed in this build" in " ".join(story.split())
