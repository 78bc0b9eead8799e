"""A small batch on a real Dask LocalCluster: builds, a failure retried and reported, reruns."""

from __future__ import annotations

import json
import pickle

from healthgap.services.batch import run_batch
from healthgap.services.build import BuildOptions

from healthgap.errors import ValidationError


def test_batch_builds_reports_failure_and_skips_up_to_date(shared_data, tmp_path):
    template = BuildOptions(area="", data_dir=shared_data, out_dir=tmp_path, access=False,
                            models=False, maps=False)
    areas = ["E54000011", "E54999999", "E54000038"]
    report = run_batch(areas, data_dir=shared_data, out_root=tmp_path, template=template,
                       n_workers=2, retries=1)
    status = {o.area: o for o in report.outcomes}
    assert [o.area for o in report.outcomes] == areas
    assert status["E54000011"].status == "built" and status["E54000038"].status == "built"
    failed = status["E54999999"]
    assert failed.status == "failed" and "E54999999" in failed.error
    assert failed.attempts == 2  # tried once, retried once
    assert (tmp_path / "e54000011" / "healthgap.gpkg").is_file()
    assert report.scheduler.startswith("tcp://127.0.0.1")

    again = run_batch(areas, data_dir=shared_data, out_root=tmp_path, template=template,
                      n_workers=1, retries=0)
    status = {o.area: o.status for o in again.outcomes}
    assert status == {"E54000011": "skipped", "E54000038": "skipped", "E54999999": "failed"}

    # a changed parameter is a changed input: rebuilt
    changed = BuildOptions(area="", data_dir=shared_data, out_dir=tmp_path, access=False,
                           models=False, maps=False, seed=7)
    third = run_batch(["E54000011"], data_dir=shared_data, out_root=tmp_path,
                      template=changed, n_workers=1)
    assert third.outcomes[0].status == "built"
    fp = json.loads((tmp_path / "e54000011" / "fingerprint.json").read_text())
    assert fp["area"] == "E54000011"


def test_errors_cross_process_boundaries():
    err = pickle.loads(pickle.dumps(ValidationError("f.csv", ["a", "b"])))
    assert err.problems == ["a", "b"] and "f.csv: 2 problem(s)" in str(err)
