"""The real server (``healthgap serve`` in a subprocess on 127.0.0.1) with real clients.

* GDAL's OGC API - Features driver (``ogrinfo``/``ogr2ogr`` from Debian's gdal-bin) lists the
  collections and copies the Frimley LSOA layer into a GeoPackage; the copy is checked against
  the build's GeoPackage read with geopandas and reprojected with pyproj in the test.
* Stopping the server with SIGINT or SIGTERM while a run works leaves no child process (checked
  with psutil), and the run is readable after a restart (as interrupted); a finished run keeps
  its result across the restart.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time

import geopandas as gpd
import httpx
import numpy as np
import psutil
import pytest

from healthgap import BNG
from tests._names import neutral
from tests.services._api_helpers import FRIMLEY


def test_gdal_opens_the_collections_and_copies_a_layer(bench, root, tmp_path):
    if shutil.which("ogr2ogr") is None:
        pytest.fail("ogr2ogr not found: `make test` installs Debian's gdal-bin")
    with bench.server(root, port=bench.free_port(),
                      env={"HEALTHGAP_RUNS_DB": str(tmp_path / "runs.sqlite")}) as (base, _):
        info = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{base}"], capture_output=True,
                              text=True, timeout=120)
        assert info.returncode == 0, info.stderr
        listed = {line.split(":", 1)[1].split("(")[0].strip()
                  for line in info.stdout.splitlines() if ":" in line}
        assert {f"{FRIMLEY}_{n}" for n in ("lsoa", "msoa", "place", "system")} <= listed
        out = tmp_path / "copy.gpkg"
        copy = subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{base}",
                               f"{FRIMLEY}_lsoa", "-nln", "lsoa"], capture_output=True,
                              text=True, timeout=300)
        assert copy.returncode == 0, copy.stderr
    got = neutral(gpd.read_file(out, layer="lsoa", engine="pyogrio"))
    stored = neutral(
        gpd.read_file(root / FRIMLEY / "healthgap.gpkg", layer="lsoa", engine="pyogrio"))
    assert len(got) == len(stored) == 503  # 440 in Frimley and its edge ring of 63
    assert sorted(got["lsoa_code"]) == sorted(stored["lsoa_code"])
    got = got.set_index("lsoa_code").loc[stored["lsoa_code"]]
    np.testing.assert_allclose(got["population"], stored["population"])
    assert got["in_area"].astype(bool).sum() == 440
    # geometry: the copy is CRS84 at 1e-6 degrees (about 0.1 m); back in British National Grid
    # (pyproj, here) it must sit on the stored polygons to well under a metre
    assert got.crs.to_epsg() == 4326
    back = got.to_crs(BNG).geometry.values
    ref = stored.geometry.values
    assert float(np.max(back.centroid.distance(ref.centroid))) < 0.5
    sym = back.symmetric_difference(ref).area / ref.area
    assert float(np.max(sym)) < 1e-3


LONG_LISA = {"kind": "lisa", "level": "lsoa", "indicator": "imd_score", "permutations": 99_999}


def _children(proc: subprocess.Popen, *, workers_only: bool = False) -> list[psutil.Process]:
    """Every descendant of the server (or only the run workers, not multiprocessing's tracker)."""
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    if workers_only:
        kids = [k for k in kids if "spawn_main" in " ".join(k.cmdline())]
    return kids


def _gone(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_status(base: str, rid: str, wanted: set[str], timeout: float = 120) -> dict:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        run = httpx.get(f"{base}/runs/{rid}", timeout=30).json()
        if run["status"] in wanted:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {rid} never reached {wanted}: {run}")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopping_the_server_leaves_no_worker_and_runs_persist(bench, root, tmp_path, sig):
    env = {"HEALTHGAP_RUNS_DB": str(tmp_path / "runs.sqlite"), "HEALTHGAP_JOB_EXECUTOR":
           "process"}
    area = f"/areas/{FRIMLEY}/runs"
    done = None
    with bench.server(root, port=bench.free_port(), env=env) as (base, proc):
        if sig == signal.SIGINT:
            quick = httpx.post(base + area, json={"kind": "moran", "permutations": 99})
            done = _wait_status(base, quick.json()["id"], {"succeeded"})
            # DELETE cancels a running run: its worker process is stopped
            r = httpx.post(base + area, json={**LONG_LISA, "seed": 1}, timeout=30)
            _wait_status(base, r.json()["id"], {"running"})
            worker = _children(proc, workers_only=True)
            assert len(worker) == 1
            d = httpx.delete(f"{base}/runs/{r.json()['id']}", timeout=30)
            assert d.status_code == 202
            run = _wait_status(base, r.json()["id"], {"cancelled"}, timeout=20)
            assert run["error"]["title"] == "Cancelled"
            psutil.wait_procs(worker, timeout=10)
            assert _gone(worker[0])
        r = httpx.post(base + area, json=LONG_LISA, timeout=30)
        assert r.status_code == 202, r.text
        rid = r.json()["id"]
        _wait_status(base, rid, {"running"})
        children = _children(proc)
        assert _children(proc, workers_only=True), "the run should be in a worker process"
        proc.send_signal(sig)
        proc.wait(timeout=30)
        psutil.wait_procs(children, timeout=10)
        assert all(_gone(c) for c in children), [c.pid for c in children]
    with bench.server(root, port=bench.free_port(), env=env) as (base, _):
        again = httpx.get(f"{base}/runs/{rid}", timeout=30).json()
        assert again["status"] == "failed" and again["retryable"]
        assert again["error"]["type"] == "urn:healthgap:problem:interrupted"
        if done is not None:
            kept = httpx.get(f"{base}/runs/{done['id']}", timeout=30).json()
            assert kept["status"] == "succeeded" and kept["result"] == done["result"]
            # DELETE forgets a finished run
            assert httpx.delete(f"{base}/runs/{done['id']}", timeout=30).status_code == 204
            assert httpx.get(f"{base}/runs/{done['id']}", timeout=30).status_code == 404


def test_http_hygiene_on_the_real_server(bench, root, tmp_path):
    env = {"HEALTHGAP_RUNS_DB": str(tmp_path / "runs.sqlite"),
           "HEALTHGAP_CORS_ORIGINS": json.dumps(["https://atlas.example.org"]),
           "HEALTHGAP_READ_TIMEOUT_S": "1"}
    with bench.server(root, port=bench.free_port(), env=env) as (base, _):
        url = f"{base}/collections/{FRIMLEY}_msoa/items"
        r = httpx.get(url, headers={"Host": "evil.example", "Accept-Encoding": "gzip"})
        assert r.status_code == 200 and "evil" not in r.text
        assert r.headers["vary"].count("Accept-Encoding") == 1
        again = httpx.get(url, headers={"If-None-Match": r.headers["etag"],
                                        "Accept-Encoding": "gzip"})
        assert again.status_code == 304
        assert again.headers["cache-control"] == r.headers["cache-control"]
        assert again.headers["vary"] == r.headers["vary"]
        head = httpx.head(url)
        assert head.status_code == 200 and head.content == b""
        cors = httpx.get(url, headers={"Origin": "https://atlas.example.org"})
        assert cors.headers["access-control-allow-origin"] == "https://atlas.example.org"
        other = httpx.get(url, headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
        pre = httpx.options(url, headers={"Origin": "https://atlas.example.org",
                                          "Access-Control-Request-Method": "GET"})
        assert pre.status_code == 200 and "GET" in pre.headers["access-control-allow-methods"]
        # a body that never arrives: 408 after the read timeout, not a connection held open
        import socket

        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(f"POST /areas/{FRIMLEY}/runs HTTP/1.1\r\nHost: x\r\n"
                      "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode())
            t0 = time.monotonic()
            reply = s.recv(4096).decode()
            assert reply.startswith("HTTP/1.1 408") and time.monotonic() - t0 < 8


def _ogr_ids(base: str, *args: str) -> list[str]:
    out = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{base}", f"{FRIMLEY}_lsoa", *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return sorted(line.split("=", 1)[1].strip() for line in out.stdout.splitlines()
                  if line.strip().startswith("lsoa_code (String) ="))


def test_gdal_spat_and_where_get_exactly_the_matching_features(bench, root, tmp_path):
    """GDAL's -spat (bbox with 16-18 decimals) and -where (sent as a CQL text filter)."""
    if shutil.which("ogrinfo") is None:
        pytest.fail("ogrinfo not found: `make test` installs Debian's gdal-bin")
    stored = neutral(
        gpd.read_file(root / FRIMLEY / "healthgap.gpkg", layer="lsoa", engine="pyogrio"))
    ll = stored.to_crs(4326)
    from shapely.geometry import box

    env = {"HEALTHGAP_RUNS_DB": str(tmp_path / "runs.sqlite"), "HEALTHGAP_LOG_LEVEL": "INFO"}
    with bench.server(root, port=bench.free_port(), env=env) as (base, proc):
        got = _ogr_ids(base, "-spat", "-0.8", "51.25", "-0.6", "51.45")
        assert got == sorted(ll.loc[ll.intersects(box(-0.8, 51.25, -0.6, 51.45)), "lsoa_code"])
        cases = {
            "place_name = 'Slough' AND population > 2000":
                (stored["place_name"] == "Slough") & (stored["population"] > 2000),
            "population < 1300 OR place_name = 'Hart'":
                (stored["population"] < 1300) | (stored["place_name"] == "Hart"),
            "place_name IN ('Rushmoor', 'Surrey Heath') AND imd_decile >= 8":
                stored["place_name"].isin(["Rushmoor", "Surrey Heath"])
                & (stored["imd_decile"] >= 8),
        }
        for where, mask in cases.items():
            want = sorted(stored.loc[mask, "lsoa_code"])
            assert want, where
            assert _ogr_ids(base, "-where", where) == want, where
    log = proc.stderr.read() if proc.stderr else ""
    # the filters were evaluated by the server (GDAL sends them when the API declares them)
    assert log.count("filter-lang=cql-text") >= len(cases), log[-3000:]


def test_owslib_gets_the_right_features(bench, root, tmp_path):
    """OWSLib (its bbox printed by str(float), a CQL text filter, sortby) on the real server."""
    from owslib.ogcapi.features import Features
    from shapely.geometry import box

    stored = neutral(
        gpd.read_file(root / FRIMLEY / "healthgap.gpkg", layer="lsoa", engine="pyogrio"))
    ll = stored.to_crs(4326)
    x0, y0, x1, y1 = -0.8 + 1 / 3e3, 51.25 + 1 / 7e3, -0.6 - 1 / 9e3, 51.45
    with bench.server(root, port=bench.free_port(),
                      env={"HEALTHGAP_RUNS_DB": str(tmp_path / "runs.sqlite")}) as (base, _):
        api = Features(base)
        cid = f"{FRIMLEY}_lsoa"
        got = api.collection_items(cid, bbox=[x0, y0, x1, y1], limit=1000)
        want = sorted(ll.loc[ll.intersects(box(x0, y0, x1, y1)), "lsoa_code"])
        assert sorted(f["id"] for f in got["features"]) == want
        hart = api.collection_items(cid, filter="place_name = 'Hart' AND population > 1600",
                                    limit=1000)
        mask = (stored["place_name"] == "Hart") & (stored["population"] > 1600)
        assert sorted(f["id"] for f in hart["features"]) == sorted(stored.loc[mask, "lsoa_code"])
        top = api.collection_items(cid, sortby=("population", "desc"), limit=5)
        assert [f["properties"]["population"] for f in top["features"]] == \
            sorted(stored["population"], reverse=True)[:5]
        assert api.collection_queryables(cid)["properties"]["population"]["type"] == "number"
