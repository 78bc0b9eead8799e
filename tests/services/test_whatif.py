"""`healthgap whatif` and the `whatif` run kind on the real Rutland build (E06000017).

Rutland is covered by the bundled Geofabrik extract and has real GP practices. The checks are
the issue's: closing the practice nearest a chosen LSOA raises its time to the second-nearest
practice's (independently: the build's own router on the practices without it); the residents
losing 15-minute access equal a hand count from the per-LSOA table; reopening where one closed
restores the baseline; the API and the CLI give the same numbers; bad input is one clear error
before any routing; a build without a road network says so, and the straight-line estimate is
labelled; the write is atomic.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from healthgap.data.access_inputs import read_scenario_file
from healthgap.maps._assets import remote_resources
from healthgap.services import whatif as wi
from healthgap.services.api import create_app
from healthgap.services.settings import Settings
from healthgap.services.store import BuildStore

from healthgap.errors import InputError, ValidationError
from tests import _builds
from tests.services._api_helpers import TestClient

RUTLAND = "E06000017"
CHOSEN = "E01013790"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(shared_data, tmp_path_factory):
    """A store root holding a real Rutland build (no models, no atlas: access is what counts)."""
    # the run's shared build (tests/_builds.py), copied: the app here keeps its runs in the root
    root = tmp_path_factory.mktemp("whatif")
    shutil.copytree(_builds.rutland_2019_access(shared_data).store.path.parent, root / RUTLAND)
    return root


def _copy(root, tmp_path):
    dst = tmp_path / RUTLAND
    shutil.copytree(root / RUTLAND, dst)
    return dst


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "healthgap.services.cli", "whatif", *args],
                          capture_output=True, text=True, timeout=300)


def _nearest(store_dir):
    lsoa = BuildStore(store_dir).read_layer("lsoa", index="lsoa_code")
    return str(lsoa.loc[CHOSEN, "gp_nearest_code"]), lsoa


@pytest.fixture(scope="module")
def closure(root, tmp_path_factory):
    """`healthgap whatif --close <nearest practice of CHOSEN>` on a copy of the build."""
    tmp = tmp_path_factory.mktemp("closure")
    build_dir = _copy(root, tmp)
    code, lsoa = _nearest(build_dir)
    r = _cli("--store", str(build_dir), "--close", code, "--json", str(tmp / "out.json"))
    assert r.returncode == 0, r.stderr
    return build_dir, code, lsoa, json.loads((tmp / "out.json").read_text()), r.stderr


def test_cli_closure_writes_layers_page_and_the_issue_numbers(closure):
    build_dir, code, lsoa, out, stderr = closure
    assert "lose a GP practice within 15 minutes" in " ".join(stderr.split())
    store = BuildStore(build_dir)
    assert set(wi.WHATIF_LAYERS) <= set(store.layers())
    assert {"lsoa", "facilities", "manifest"} <= set(store.layers())
    table = store.read_layer("whatif_lsoa", index="lsoa_code")
    # the chosen LSOA now goes to its second-nearest practice: the build's router without it
    from healthgap.geo.access import ServiceAccess

    fac = store.read_layer("facilities")
    net = wi.load_baseline(build_dir).engine.network_
    ref = ServiceAccess(max_snap_m=1500.0).fit(lsoa, fac[fac["code"] != code], net).result_
    assert table.loc[CHOSEN, "gp_time_min_before"] == pytest.approx(
        lsoa.loc[CHOSEN, "gp_time_min"], abs=1e-9)
    assert table.loc[CHOSEN, "gp_time_min_after"] == pytest.approx(
        ref.loc[CHOSEN, "gp_time_min"], abs=1e-9)
    assert table.loc[CHOSEN, "gp_time_min_after"] > table.loc[CHOSEN, "gp_time_min_before"]
    # residents losing 15-minute access: a hand count from the per-LSOA times
    inside = table[table["in_area"].astype(bool)]
    hand = inside.loc[(inside["gp_time_min_before"] <= 15)
                      & ~(inside["gp_time_min_after"] <= 15), "population"].sum()
    summary = store.read_layer("whatif_summary")
    row = summary[(summary["table"] == "crossings") & (summary["threshold_min"] == 15)
                  & (summary["direction"] == "lost")]
    assert hand > 0 and float(row["population"].iloc[0]) == hand
    lost = [c for c in out["crossings"] if c["threshold_min"] == 15 and c["direction"] == "lost"]
    assert lost[0]["population"] == hand
    # the atlas page: three maps, the summary sentences, nothing fetched from the network
    page = (build_dir / "atlas" / "whatif.html").read_text()
    assert page.count('id="m-') == 3 and remote_resources(page) == []
    assert f"{hand:,.0f} residents" in page
    assert not list(build_dir.glob(".whatif-*"))


def test_reopening_restores_the_baseline(root):
    build_dir = root / RUTLAND
    code, lsoa = _nearest(build_dir)
    fac = BuildStore(build_dir).read_layer("facilities")
    pt = fac.loc[fac["code"] == code].geometry.iloc[0]
    out = wi.run_whatif(build_dir, {"move": [{"code": code, "x": pt.x, "y": pt.y}]},
                        write=False)
    t = out.result.table
    assert (t["gp_time_min_change"].dropna() == 0).all()
    assert (t["gp_e2sfca_per_1000_change"].dropna() == 0).all()
    assert not out.summary.crossings["population"].any()
    inside = lsoa["in_area"].astype(bool)
    np.testing.assert_allclose(t.loc[inside, "gp_time_min_after"],
                               lsoa.loc[inside, "gp_time_min"], rtol=0, atol=1e-9)


def test_api_and_cli_give_the_same_numbers(root, closure):
    _, code, _, cli, _ = closure
    s = Settings(store_root=root, job_executor="thread", job_workers=1)
    with TestClient(create_app(s)) as client:
        resp = client.post(f"/areas/{RUTLAND}/runs", json={"kind": "whatif", "close": [code]})
        assert resp.status_code in (200, 202), resp.text
        url = resp.headers["location"]
        t_end = time.monotonic() + 240
        while (run := client.get(url).json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < t_end
            time.sleep(0.2)
        assert run["status"] == "succeeded", run
        api = run["result"]
        kinds = {k["name"] for k in client.get("/runs/kinds").json()}
        assert "whatif" in kinds
        bad = client.post(f"/areas/{RUTLAND}/runs",
                          json={"kind": "whatif", "open": [{"x": 1, "y": 2, "colour": "red"}]})
        assert bad.status_code == 422
        zero = client.post(f"/areas/{RUTLAND}/runs",
                           json={"kind": "whatif", "supply": {code: 0}})
        assert zero.status_code == 422
    for key in ("crossings", "gap", "shares", "sentences", "lsoa", "touched", "method"):
        assert api[key] == cli[key], key
    assert api["written"] == [] and cli["written"] == list(wi.WHATIF_LAYERS)


def test_bad_input_is_one_clear_line_and_changes_nothing(root, tmp_path):
    build_dir = _copy(root, tmp_path)
    before = _sha(build_dir / "healthgap.gpkg")
    scen = tmp_path / "s.yaml"
    scen.write_text("name: bad\nclose: [A81001]\nopen:\n  - postcode: ZZ99 9ZZ\n"
                    "supply:\n  C82010: 0\nreopen: yes\n")
    r = _cli("--store", str(build_dir), "--scenario", str(scen))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    err = " ".join(r.stderr.split())
    for item in ("'A81001'", "'ZZ99 9ZZ'", "supply must be > 0", "['reopen']"):
        assert item in err, item
    assert _sha(build_dir / "healthgap.gpkg") == before
    # an opening in the Highlands: refused by the snap limit, nothing routed or written
    engine = wi.load_baseline(build_dir).engine
    routed = len(engine._node_cache)
    with pytest.raises(ValidationError, match="snap limit max_snap_m=1500"):
        wi.run_whatif(build_dir, {"open": ["280000,850000"]})
    assert len(engine._node_cache) == routed
    assert _sha(build_dir / "healthgap.gpkg") == before


def test_no_road_network_is_said_and_the_estimate_labelled(root, tmp_path):
    build_dir = _copy(root, tmp_path)
    store = BuildStore(build_dir)
    man = store.read_manifest()
    man["inputs"] = {k: v for k, v in man["inputs"].items() if not k.startswith("osm/")}
    store.write_manifest(man)
    with pytest.raises(InputError, match="no road network.*--straight-line"):
        wi.run_whatif(build_dir, {"close": ["C82010"]}, write=False)
    out = wi.run_whatif(build_dir, {"close": ["C82010"]}, straight_line=True)
    assert out.result.method == "straight_line_estimate"
    assert any("straight-line ESTIMATE" in s for s in out.summary.sentences)
    layer = store.read_layer("whatif_lsoa")
    assert (layer["method"] == "straight_line_estimate").all()


def test_write_is_atomic(root, tmp_path, monkeypatch):
    build_dir = _copy(root, tmp_path)
    before = _sha(build_dir / "healthgap.gpkg")

    def fail(store, tables):
        raise InputError("simulated failure after writing the copy")

    monkeypatch.setattr(wi, "_check_written", fail)
    with pytest.raises(InputError, match="simulated"):
        wi.run_whatif(build_dir, {"close": ["C82010"]})
    assert _sha(build_dir / "healthgap.gpkg") == before
    assert not list(build_dir.glob(".whatif-*"))


def test_scenario_file_json_and_inline_merge(root, tmp_path):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"name": "merge", "close": ["C82010"]}))
    merged = wi.merge_spec(read_scenario_file(spec), close=["C82077"],
                           open_=["LE15 6AA:supply=3"], supply=["C82044=2"])
    assert merged == {"name": "merge", "close": ["C82010", "C82077"],
                      "open": ["LE15 6AA:supply=3"], "supply": {"C82044": "2"}}
    sc = wi.check_scenario(root / RUTLAND, merged)
    assert sc.close == ("C82010", "C82077") and sc.open[0].located_by == "postcode"
    assert (sc.open[0].x, sc.open[0].y) == (486_001.0, 308_872.0)  # Code-Point Open's row
    with pytest.raises(ValidationError, match="unknown key"):
        wi.check_scenario(root / RUTLAND, {"close": ["C82010"], "closed": ["x"]})
