"""A small batch on a real Dask LocalCluster: builds, a failure retried and reported, reruns.

The areas are two of the smallest local authorities (E06000017 Rutland, 23 LSOAs; E09000001
City of London, 6), which a batch builds like ICBs (`run_batch` takes any area the build
accepts): what is tested is the scheduling, not the size of the area.
"""

from __future__ import annotations

import pickle
from dataclasses import replace

from healthgap.data.layout import DataDir
from healthgap.services.batch import fingerprint, input_hashes, run_batch, up_to_date
from healthgap.services.build import BuildOptions
from healthgap.services.store import BuildStore, check_build

from healthgap.errors import ValidationError


def test_batch_builds_reports_failure_and_skips_up_to_date(shared_data, tmp_path):
    template = BuildOptions(area="", data_dir=shared_data, vintage="2019",
                            out_dir=tmp_path, access=False,
                            models=False, maps=False)
    areas = ["E06000017", "E54999999", "E09000001"]
    report = run_batch(areas, data_dir=shared_data, out_root=tmp_path, template=template,
                       n_workers=2, retries=1)
    status = {o.area: o for o in report.outcomes}
    assert [o.area for o in report.outcomes] == areas
    assert status["E06000017"].status == "built" and status["E09000001"].status == "built"
    failed = status["E54999999"]
    assert failed.status == "failed"
    # the full error text, not a cut: type, code and the advice at its end
    assert "UnknownAreaError: area 'E54999999': no system with that code" in failed.error
    assert failed.error.endswith("try `healthgap areas` to list them")
    assert failed.attempts == 2  # counted by the scheduler: tried once, retried once
    assert status["E06000017"].attempts == 1
    assert (tmp_path / "e06000017" / "healthgap.gpkg").is_file()
    assert report.scheduler.startswith("tcp://127.0.0.1")

    again = run_batch(areas, data_dir=shared_data, out_root=tmp_path, template=template,
                      n_workers=1, retries=0)
    status = {o.area: o.status for o in again.outcomes}
    assert status == {"E06000017": "skipped", "E09000001": "skipped", "E54999999": "failed"}

    # a changed parameter is a changed input: rebuilt
    changed = BuildOptions(area="", data_dir=shared_data, vintage="2019",
                           out_dir=tmp_path, access=False,
                           models=False, maps=False, seed=7)
    third = run_batch(["E06000017"], data_dir=shared_data, out_root=tmp_path,
                      template=changed, n_workers=1)
    assert third.outcomes[0].status == "built"
    man = BuildStore(tmp_path / "e06000017").read_manifest()
    assert man["fingerprint"] == fingerprint(
        replace(changed, area="E06000017", out_dir=tmp_path / "e06000017"),
        input_hashes(DataDir(shared_data)))

    # a half-written build (no manifest) is never called up to date
    store = BuildStore(tmp_path / "e09000001")
    layers = [n for n in store.layers() if n != "manifest"]
    half = tmp_path / "half" / "e09000001"
    half.parent.mkdir()
    for name in layers:  # every layer but the manifest, as an interrupted old-style write left
        BuildStore(half).write_layer(name, store.read_layer(name))
    fp = store.read_manifest()["fingerprint"]
    assert up_to_date(tmp_path / "e09000001", fp)
    assert not up_to_date(half, fp) and "no manifest" in check_build(half)[0]


def test_errors_cross_process_boundaries():
    err = pickle.loads(pickle.dumps(ValidationError("f.csv", ["a", "b"])))
    assert err.problems == ["a", "b"] and "f.csv: 2 problem(s)" in str(err)
