"""What-if as safe as build, and a build folder that belongs to the build (issue #28).

Real processes on a real Rutland build (E06000017, 2019 vintage, no access, models or maps, so a
what-if runs on the straight-line estimate from the data directory's practices): a what-if during a
build is refused, and a build during a what-if; SIGTERM and SIGINT at the what-if's write leave the
build byte-identical and no file behind; a SIGKILLed what-if's staging folder is removed when the
next one starts; the messages give the real reason a build cannot be routed; a rebuild keeps the
files a user added; the OSM temporary extract lives in the folder it is given and goes with a
failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from healthgap.data.osm import write_network_xml
from healthgap.services import whatif as wi
from healthgap.services.store import PAUSE_ENV, BuildStore, check_build

from healthgap.errors import InputError
from tests import _builds
from tests.services._processes import (
    QUICK,
    RUTLAND,
    cli_args,
    copy_build,
    run_cli,
    tree,
    wait_paused,
)

pytestmark = pytest.mark.slow

PRACTICE = "C82010"  # a Rutland practice (Oakham)


def _leftovers(out: Path) -> list[str]:
    beside = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    inside = [p.name for p in out.iterdir() if p.name.startswith(".whatif-")]
    return sorted(beside + inside)


@pytest.fixture(scope="module")
def good(shared_data, tmp_path_factory) -> Path:
    # `build --area RUTLAND ... *QUICK`, built once per run (tests/_builds.py); tests copy it
    return _builds.rutland_cli(shared_data)


def _paused(args: list[str], point: str, cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(cli_args(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, cwd=cwd, env={**os.environ, PAUSE_ENV: point})
    wait_paused(proc, point)
    return proc


def _stop(proc: subprocess.Popen[str], sig: signal.Signals) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_straight_line_whatif_on_a_build_without_a_road_network(good, tmp_path):
    out = copy_build(good, tmp_path)
    run = run_cli("whatif", "--store", str(out), "--close", PRACTICE, cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    flat = " ".join(run.stderr.split())
    assert "the build was made with --no-access" in flat and "--straight-line" in flat
    run = run_cli("whatif", "--store", str(out), "--close", PRACTICE, "--straight-line",
               cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    store = BuildStore(out)
    assert (store.read_layer("whatif_lsoa")["method"] == "straight_line_estimate").all()
    closed = store.read_layer("whatif_facilities")
    assert list(closed["code"]) == [PRACTICE] and list(closed["action"]) == ["closed"]
    assert (out / "atlas" / "whatif.html").is_file()
    assert check_build(out) == [] and _leftovers(out) == []


def test_no_extract_is_named_as_the_reason(good, tmp_path):
    out = copy_build(good, tmp_path)
    store = BuildStore(out)
    man = store.read_manifest()
    man["parameters"]["access"] = True  # built with access, but no extract covered the area
    store.write_manifest(man)
    with pytest.raises(InputError, match="no OpenStreetMap extract in the data directory "
                                         "covered this area") as err:
        wi.run_whatif(out, {"close": [PRACTICE]}, write=False)
    assert "--no-access" not in str(err.value)


def test_a_whatif_during_a_build_is_refused_and_a_build_during_a_whatif(good, shared_data,
                                                                          tmp_path):
    out = copy_build(good, tmp_path)
    build = _paused(["build", "--area", RUTLAND, "--data", str(shared_data), "--out", str(out),
                     *QUICK], "before-write", tmp_path)
    try:
        before = tree(out)
        run = run_cli("whatif", "--store", str(out), "--close", PRACTICE, "--straight-line",
                   cwd=tmp_path)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        flat = " ".join(run.stderr.split())
        assert f"--store {out}: another build (pid {build.pid}) is writing" in flat
        assert tree(out) == before
    finally:
        assert _stop(build, signal.SIGTERM) == 143
    whatif = _paused(["whatif", "--store", str(out), "--close", PRACTICE, "--straight-line"],
                     "whatif-during-write", tmp_path)
    try:
        run = run_cli("build", "--area", RUTLAND, "--data", str(shared_data), "--out", str(out),
                   *QUICK, cwd=tmp_path)
        assert run.returncode == 2
        assert f"another what-if (pid {whatif.pid})" in " ".join(run.stderr.split())
    finally:
        assert _stop(whatif, signal.SIGTERM) == 143
    assert tree(out) == before and _leftovers(out) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_at_the_whatif_write_leaves_no_file(sig, good, tmp_path):
    out = copy_build(good, tmp_path)
    before = tree(out)
    proc = _paused(["whatif", "--store", str(out), "--close", PRACTICE, "--straight-line"],
                   "whatif-during-write", tmp_path)
    staging = [p for p in tmp_path.iterdir() if p.name.startswith(".rutland.tmp-")]
    assert staging and (staging[0] / "healthgap.gpkg").is_file()  # mid-write, in staging
    assert _stop(proc, sig) == 128 + sig
    assert tree(out) == before
    assert _leftovers(out) == []


def test_a_killed_whatifs_staging_is_removed_at_the_next_start(good, tmp_path):
    out = copy_build(good, tmp_path)
    proc = _paused(["whatif", "--store", str(out), "--close", PRACTICE, "--straight-line"],
                   "whatif-during-write", tmp_path)
    assert _stop(proc, signal.SIGKILL) == -signal.SIGKILL
    assert any(n.startswith(".rutland.tmp-") for n in _leftovers(out))
    (out / ".whatif-123.tmp.healthgap.gpkg").write_bytes(b"left by an older version")
    run = run_cli("whatif", "--store", str(out), "--close", PRACTICE, "--straight-line",
               cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert _leftovers(out) == [] and check_build(out) == []


def test_a_rebuild_keeps_the_files_a_user_added(good, shared_data, tmp_path):
    out = copy_build(good, tmp_path)
    (out / "notes.txt").write_text("board paper draft")
    (out / "extra").mkdir()
    (out / "extra" / "lookup.csv").write_text("a,b\n1,2\n")
    run = run_cli("build", "--area", RUTLAND, "--data", str(shared_data), "--out", str(out),
               *QUICK, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (out / "notes.txt").read_text() == "board paper draft"
    assert (out / "extra" / "lookup.csv").read_text() == "a,b\n1,2\n"
    assert "kept 2 file(s) you added to the build folder: extra, notes.txt" in \
        " ".join(run.stdout.split())
    assert check_build(out) == [] and _leftovers(out) == []


def test_the_osm_temporary_extract_lives_in_the_folder_given(shared_data, tmp_path):
    src = shared_data / "osm" / "rutland-latest.osm.pbf"
    cache, staging = tmp_path / "cache", tmp_path / "staging"
    staging.mkdir()
    # a box with no road in it (the North Sea): the write fails and leaves nothing anywhere
    with pytest.raises(InputError, match="no drive ways inside"):
        write_network_xml(src, mode="drive", bbox=(2.0, 54.0, 2.01, 54.01), cache_dir=cache,
                          tmp_dir=staging)
    assert list(staging.iterdir()) == [] and list(cache.iterdir()) == []
    box = (-0.70, 52.62, -0.68, 52.64)  # Oakham
    ext = write_network_xml(src, mode="drive", bbox=box, cache_dir=cache, tmp_dir=staging)
    assert ext.path.parent == cache and ext.ways > 0 and list(staging.iterdir()) == []
