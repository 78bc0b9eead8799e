"""Hostile or unlucky clients against the real server (``healthgap serve`` on 127.0.0.1).

* Trickling request headers: each connection is answered 408 and closed within the documented
  ``read_timeout_s`` while ordinary clients are served at once.
* SIGKILL of ``healthgap serve --workers 2``: no process of the server survives (psutil) and
  the port is free again (a new bind succeeds).
* ``X-Forwarded-For`` from a client that is not a configured proxy does not change its address
  (the per-client run cap holds).
* With two workers every request is in the access log.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time

import httpx
import psutil
import pytest

from tests.services._api_helpers import FRIMLEY

TIMEOUT_S = 2.0


def _trickle(port: int, out: list[tuple[float, bytes]], stop: threading.Event) -> None:
    """Send a request one header byte every 0.3 s; record when and how the server ended it."""
    t0 = time.monotonic()
    line = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            for byte in line:
                if stop.is_set():
                    return
                s.sendall(bytes([byte]))
                s.settimeout(0.3)
                try:
                    got = s.recv(4096)
                except TimeoutError:
                    continue
                out.append((time.monotonic() - t0, got))
                return
            out.append((time.monotonic() - t0, b"never closed"))
    except OSError as exc:
        out.append((time.monotonic() - t0, f"error {exc}".encode()))


def test_trickling_headers_get_408_within_the_limit(bench, root, tmp_path):
    env = {"HEALTHGAP_RUNS_DB": str(tmp_path / "runs.sqlite"),
           "HEALTHGAP_READ_TIMEOUT_S": str(TIMEOUT_S)}
    with bench.server(root, port=bench.free_port(), env=env) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        out: list[tuple[float, bytes]] = []
        stop = threading.Event()
        threads = [threading.Thread(target=_trickle, args=(port, out, stop), daemon=True)
                   for _ in range(200)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        # ordinary clients meanwhile: answered, and quickly
        worst = 0.0
        for _ in range(20):
            t0 = time.monotonic()
            assert httpx.get(base + "/health", timeout=5).status_code == 200
            worst = max(worst, time.monotonic() - t0)
        for t in threads:
            t.join(timeout=TIMEOUT_S + 10)
        stop.set()
    assert worst < 1.0, worst
    assert len(out) == 200
    for elapsed, reply in out:
        assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
        assert elapsed < TIMEOUT_S + 1.0, elapsed  # 1 s of slack on 2 shared cores


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.slow
def test_sigkill_of_the_server_leaves_no_process_and_frees_the_port(bench, root, tmp_path):
    env = {"HEALTHGAP_RUNS_DB": str(tmp_path / "runs.sqlite"), "HEALTHGAP_LOG_LEVEL": "INFO"}
    port = bench.free_port()
    with bench.server(root, port=port, workers=2, env=env) as (base, proc):
        for _ in range(10):
            assert httpx.get(base + "/health", timeout=10).status_code == 200
        kids = psutil.Process(proc.pid).children(recursive=True)
        workers = [k for k in kids if "spawn_main" in " ".join(k.cmdline())]
        assert len(workers) >= 2, [k.cmdline() for k in kids]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        gone, alive = psutil.wait_procs(kids, timeout=20)
        assert not alive, [(p.pid, p.cmdline()) for p in alive]
        log = proc.stderr.read() if proc.stderr else ""
    assert _port_free(port)
    # every request is in the access log (the ten here and the readiness probes before them)
    assert log.count('"GET /health HTTP/1.1" 200') >= 11, log[-2000:]


def test_forwarded_for_is_ignored_unless_from_a_trusted_proxy(bench, root, tmp_path):
    env = {"HEALTHGAP_RUNS_DB": str(tmp_path / "runs.sqlite"), "HEALTHGAP_JOB_EXECUTOR":
           "thread", "HEALTHGAP_RUNS_PER_CLIENT": "1"}
    body = {"kind": "lisa", "level": "lsoa", "indicator": "imd_score", "permutations": 99_999}
    with bench.server(root, port=bench.free_port(), env=env) as (base, _):
        url = f"{base}/areas/{FRIMLEY}/runs"
        first = httpx.post(url, json={**body, "seed": 1}, timeout=30,
                           headers={"X-Forwarded-For": "203.0.113.1"})
        assert first.status_code == 202, first.text
        for i in range(2, 5):
            r = httpx.post(url, json={**body, "seed": i}, timeout=30,
                           headers={"X-Forwarded-For": f"203.0.113.{i}"})
            assert r.status_code == 429, r.text
    env["HEALTHGAP_TRUSTED_PROXIES"] = '["127.0.0.1"]'
    env["HEALTHGAP_RUNS_DB"] = str(tmp_path / "runs2.sqlite")
    with bench.server(root, port=bench.free_port(), env=env) as (base, _):
        url = f"{base}/areas/{FRIMLEY}/runs"
        for i in range(1, 3):  # behind a trusted proxy, each forwarded client has its own cap
            r = httpx.post(url, json={**body, "seed": i}, timeout=30,
                           headers={"X-Forwarded-For": f"203.0.113.{i}"})
            assert r.status_code == 202, r.text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([os.path.abspath(__file__), "-q"]))
