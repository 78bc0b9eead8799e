"""Load test of the API: many concurrent clients fetching one ICS layer as GeoJSON.

Builds Frimley (E54000034) from the real data into a temporary directory, starts the real server
(``healthgap serve``, uvicorn) in a subprocess on a free port on 127.0.0.1, drives it with httpx
async clients for a fixed time, and prints requests/s and latency percentiles beside a peer
measured in the same run: the same clients on ``/health`` (the server's fixed cost per request).
Bounded in time (``--seconds``) and in count (``--max-requests``); it stops the server itself.

    .venv/bin/python benchmarks/bench_api_load.py --clients 50 --seconds 60

Exit status 1 if any request failed (a non-200 status or a transport error).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
AREA = "E54000034"


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_frimley(data_dir: Path, root: Path) -> Path:
    """Build Frimley (layers only) under ``root``; return ``root``."""
    sys.path.insert(0, str(REPO))
    from healthgap.services.build import BuildOptions, build

    build(BuildOptions(area=AREA, data_dir=data_dir, out_dir=root / AREA, access=False,
                       models=False, maps=False))
    return root


@contextmanager
def server(store: Path, *, port: int, timeout: float = 90.0):
    """Run ``healthgap serve`` in a subprocess; yield its base URL; stop it afterwards."""
    env = {**os.environ, "HEALTHGAP_LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "healthgap.services.cli", "serve", "--store", str(store),
           "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        t_end = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: "
                                   f"{proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > t_end:
                raise RuntimeError(f"server not ready after {timeout} s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _client(http: httpx.AsyncClient, url: str, deadline: float, budget: list[int],
                  out: list[tuple[float, int, int]], errors: list[str]) -> None:
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        t0 = time.perf_counter()
        try:
            r = await http.get(url)
            dt = time.perf_counter() - t0
            out.append((dt, r.status_code, len(r.content)))
            if r.status_code != 200:
                errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
        except httpx.HTTPError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")


async def _drive(url: str, clients: int, seconds: float, max_requests: int) -> dict[str, Any]:
    out: list[tuple[float, int, int]] = []
    errors: list[str] = []
    budget = [max_requests]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60.0,
                                 headers={"Accept-Encoding": "gzip"}) as http:
        t0 = time.perf_counter()
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(_client(http, url, deadline, budget, out, errors)
                               for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.array([o[0] for o in out]) * 1000.0
    return {"url": url, "clients": clients, "seconds": round(wall, 2), "requests": len(out),
            "errors": len(errors), "first_errors": errors[:5],
            "requests_per_s": round(len(out) / wall, 1) if wall else 0.0,
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
            "p95_ms": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
            "max_ms": round(float(lat.max()), 1) if len(lat) else None,
            "mean_body_kb": round(float(np.mean([o[2] for o in out])) / 1024, 1) if out
            else None}


def run_load(base: str, path: str, *, clients: int, seconds: float,
             max_requests: int = 1_000_000) -> dict[str, Any]:
    """Drive ``base + path`` with ``clients`` concurrent clients for ``seconds``."""
    return asyncio.run(_drive(base + path, clients, seconds, max_requests))


def _print(name: str, r: dict[str, Any]) -> None:
    print(f"{name:<28} {r['requests']:>7} req  {r['requests_per_s']:>7} req/s  "
          f"p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  p99 {r['p99_ms']} ms  "
          f"max {r['max_ms']} ms  body {r['mean_body_kb']} KiB  errors {r['errors']}")
    for e in r["first_errors"]:
        print(f"    {e}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="../shared/data")
    p.add_argument("--store", type=Path, default=None,
                   help="serve this store root instead of building Frimley")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--peer-seconds", type=float, default=None,
                   help="seconds of the /health peer (default: a quarter of --seconds)")
    p.add_argument("--max-requests", type=int, default=500_000)
    p.add_argument("--layer", default="lsoa")
    args = p.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.max_requests < 1:
        p.error("--clients, --seconds and --max-requests must be positive")

    with tempfile.TemporaryDirectory(prefix="healthgap-bench-") as tmp:
        if args.store is None:
            t0 = time.perf_counter()
            store = build_frimley(args.data, Path(tmp))
            print(f"built {AREA} in {time.perf_counter() - t0:.1f} s")
        else:
            store = args.store
        path = f"/areas/{AREA}/layers/{args.layer}/items"
        with server(store, port=free_port()) as base:
            warm = httpx.get(base + path, timeout=60)
            n = warm.json()["numberReturned"]
            print(f"{path}: {n} features, {len(warm.content) / 1024:.0f} KiB GeoJSON "
                  f"(gzip on the wire); {args.clients} clients, {os.cpu_count()} CPU(s)")
            main_run = run_load(base, path, clients=args.clients, seconds=args.seconds,
                                max_requests=args.max_requests)
            peer = run_load(base, "/health", clients=args.clients,
                            seconds=args.peer_seconds or max(args.seconds / 4, 1.0),
                            max_requests=args.max_requests)
    _print(f"{args.layer} GeoJSON (whole ICS)", main_run)
    _print("peer: /health", peer)
    return 1 if main_run["errors"] or peer["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
