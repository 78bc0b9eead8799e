"""Load test of the API: 50 clients fetching a whole ICS layer, with /health as the peer.

Builds Frimley (E54000034) from the real data into a temporary directory (or serves
``--store``), starts the real server (``healthgap serve --workers N``: uvicorn with uvloop and
httptools) in a subprocess on a free port on 127.0.0.1, and drives it with ``wrk`` (Debian's
HTTP benchmark, a separate C process: it does not share the server's GIL). Printed, each measured
in the same run:

1. ``/health`` alone (the server's fixed cost per request): the peer;
2. the cached whole Frimley LSOA layer (OGC API ``/collections/E54000034_lsoa/items``, gzip);
3. ``/health`` again while another ``wrk`` sends a burst of distinct, uncached whole-layer
   requests (British National Grid, so no pre-built file helps): how much rendering disturbs
   everyone else.

4. distinct bbox requests (small CRS84 boxes printed with 16-17 decimals, as GDAL and QGIS
   send them) on a server whose response cache is off, so every one is a miss (select from
   the STRtree, join cached feature strings, gzip), beside a peer: a bare ASGI app
   (benchmarks/_peer_app.py, same uvicorn, same workers) answering the same URLs with the same
   bytes, fetched from healthgap before the run;
5. cached vector tiles (every Frimley LSOA tile of zooms 8-13, rendered once first) beside
   the same peer serving the same tile bytes.

Targets (issue #16, 2 cores): the cached layer at p95 <= 100 ms and >= 1,000 requests/s with 50
clients; /health p95 during the burst within 2x its idle p95; (issue #26) distinct-bbox misses
at p95 <= 150 ms and cached tiles at p95 <= 50 ms with 50 clients. Bounded in time
(``--seconds``); the servers are stopped at the end.

    .venv/bin/python benchmarks/bench_api_load.py --clients 50 --seconds 60

Exit status 1 if any request failed (a non-2xx status or a socket error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
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
LAYER_URL = f"/collections/{AREA}_lsoa/items?limit=10000"

#: wrk script: print the summary and latency percentiles as one JSON line.
_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('JSON {"requests":%d,"duration_us":%d,"socket_errors":%d,'
    .. '"non2xx":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"bytes":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    summary.bytes))
end
"""
#: wrk script: every request a distinct query (an uncached whole layer in EPSG:27700: a box
#: round the world, its top edge a different latitude each time).
_MISSES = """
local n = 0
local tid = 0
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
request = function()
  n = n + 1
  return wrk.format("GET", "/collections/%s_lsoa/items?limit=10000&crs="
    .. "http://www.opengis.net/def/crs/EPSG/0/27700&bbox=-180,-90,180,89."
    .. tostring(tid) .. tostring(n))
end
"""


#: wrk script: cycle through a list of paths (``PATHS``), each thread from its own start.
_CYCLE = """
local paths = {%s}
local i = 0
setup = function(thread) i = i + 1; thread:set("start", i * 997) end
request = function()
  start = (start or 0) + 1
  return wrk.format("GET", paths[(start %% #paths) + 1])
end
"""
#: Frimley's extent in longitude/latitude (a little inside it).
FRIMLEY_BOX = (-1.05, 51.1, -0.45, 51.6)


def distinct_boxes(n: int, *, seed: int = 26) -> list[str]:
    """Return ``n`` item URLs of distinct small boxes inside Frimley (16-17 decimals)."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = FRIMLEY_BOX
    out = []
    for _ in range(n):
        w, h = rng.uniform(0.01, 0.06), rng.uniform(0.01, 0.04)
        x, y = rng.uniform(x0, x1 - w), rng.uniform(y0, y1 - h)
        out.append(f"/collections/{AREA}_lsoa/items?bbox={x!r},{y!r},{x + w!r},{y + h!r}")
    return out


def frimley_tiles(zooms: tuple[int, ...] = (8, 10, 12, 13)) -> list[str]:
    """Return the WebMercatorQuad tile URLs of the Frimley LSOA layer at ``zooms``."""
    import math

    x0, y0, x1, y1 = FRIMLEY_BOX
    out = []
    for z in zooms:
        n = 2 ** z

        def col(lon: float, n: int = n) -> int:
            return int((lon + 180) / 360 * n)

        def row(lat: float, n: int = n) -> int:
            return int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)

        out += [f"/collections/{AREA}_lsoa/tiles/WebMercatorQuad/{z}/{r}/{c}"
                for r in range(row(y1), row(y0) + 1) for c in range(col(x0), col(x1) + 1)]
    return out


def fetch_bodies(base: str, paths: list[str]) -> dict[str, list[str]]:
    """Return ``{path: [base64 body, content type, content encoding]}`` as served (gzip)."""
    import base64

    out = {}
    with httpx.Client(timeout=60, headers={"Accept-Encoding": "gzip"}) as http:
        for path in paths:
            with http.stream("GET", base + path) as r:
                if r.status_code != 200:
                    raise RuntimeError(f"{path}: HTTP {r.status_code}")
                raw = b"".join(r.iter_raw())
                out[path] = [base64.b64encode(raw).decode(), r.headers["content-type"],
                             r.headers.get("content-encoding", "")]
    return out


@contextmanager
def peer_server(bodies: dict[str, list[str]], *, port: int, workers: int):
    """Run the bare peer app (benchmarks/_peer_app.py) with uvicorn; yield its base URL."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bodies, f)
    env = {**os.environ, "HEALTHGAP_PEER_BODIES": f.name}
    cmd = [sys.executable, "-m", "uvicorn", "_peer_app:app", "--app-dir", str(REPO /
           "benchmarks"), "--host", "127.0.0.1", "--port", str(port), "--workers",
           str(workers), "--loop", "uvloop", "--http", "httptools", "--log-level", "warning",
           "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        probe = next(iter(bodies))
        t_end = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + probe, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > t_end:
                raise RuntimeError("peer server did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        os.unlink(f.name)


def cycle_script(paths: list[str]) -> str:
    """Return the wrk script that requests ``paths`` in turn."""
    return _CYCLE % ",".join(json.dumps(p) for p in paths)


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_frimley(data_dir: Path, root: Path) -> Path:
    """Build Frimley (layers only) under ``root``; return ``root``."""
    from healthgap.services.build import BuildOptions, build

    build(BuildOptions(area=AREA, data_dir=data_dir, out_dir=root / AREA, access=False,
                       models=False, maps=False))
    return root


@contextmanager
def server(store: Path, *, port: int, workers: int = 1, env: dict[str, str] | None = None,
           timeout: float = 120.0):
    """Run ``healthgap serve`` in a subprocess; yield ``(base URL, process)``; stop it after."""
    full_env = {**os.environ, "HEALTHGAP_LOG_LEVEL": "WARNING", **(env or {})}
    full_env.setdefault("HEALTHGAP_RUNS_DB", str(Path(tempfile.gettempdir()) /
                                                 f"healthgap-bench-runs-{port}.sqlite"))
    cmd = [sys.executable, "-m", "healthgap.services.cli", "serve", "--store", str(store),
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=subprocess.DEVNULL,
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
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --------------------------------------------------------------------------- wrk


def wrk(url: str, *, clients: int, seconds: float, threads: int = 2,
        script: str = "", gzip: bool = True) -> dict[str, Any]:
    """Run wrk against ``url``; return requests/s, latency percentiles (ms) and errors."""
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk not found: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script + _REPORT)
        lua = f.name
    cmd = [exe, f"-t{min(threads, clients)}", f"-c{clients}", f"-d{max(1, round(seconds))}s",
           "--timeout", "30s", "-s", lua]
    if gzip:
        cmd += ["-H", "Accept-Encoding: gzip"]
    try:
        out = subprocess.run([*cmd, url], capture_output=True, text=True,
                             timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(lua)
    m = re.search(r"^JSON (\{.*\})$", out, flags=re.M)
    if m is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    s = json.loads(m.group(1))
    wall = s["duration_us"] / 1e6
    return {"requests": s["requests"], "requests_per_s": round(s["requests"] / wall, 1),
            "p50_ms": s["p50_us"] / 1000, "p95_ms": s["p95_us"] / 1000,
            "p99_ms": s["p99_us"] / 1000, "max_ms": s["max_us"] / 1000,
            "errors": s["socket_errors"] + s["non2xx"],
            "mean_body_kb": round(s["bytes"] / max(1, s["requests"]) / 1024, 1)}


# --------------------------------------------------------------------------- httpx (tests)


async def _client(http: httpx.AsyncClient, url: str, deadline: float, budget: list[int],
                  out: list[tuple[float, int, int]], errors: list[str]) -> None:
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        t0 = time.perf_counter()
        try:
            r = await http.get(url)
            out.append((time.perf_counter() - t0, r.status_code, len(r.content)))
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
    return {"requests": len(out), "errors": len(errors), "first_errors": errors[:5],
            "requests_per_s": round(len(out) / wall, 1) if wall else 0.0,
            "p95_ms": round(float(np.percentile(lat, 95)), 1) if len(lat) else None}


def run_load(base: str, path: str, *, clients: int, seconds: float,
             max_requests: int = 1_000_000) -> dict[str, Any]:
    """Drive ``base + path`` with ``clients`` httpx clients (in this process) for ``seconds``."""
    return asyncio.run(_drive(base + path, clients, seconds, max_requests))


# --------------------------------------------------------------------------- main


def _print(name: str, r: dict[str, Any]) -> None:
    print(f"{name:<44} {r['requests']:>7} req {r['requests_per_s']:>8} req/s  "
          f"p50 {r['p50_ms']:.1f}  p95 {r['p95_ms']:.1f}  p99 {r['p99_ms']:.1f}  "
          f"max {r['max_ms']:.1f} ms  body {r['mean_body_kb']} KiB  errors {r['errors']}")


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="../shared/data")
    p.add_argument("--store", type=Path, default=None,
                   help="serve this store root instead of building Frimley")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--peer-seconds", type=float, default=15.0)
    p.add_argument("--workers", type=int, default=2, help="server processes")
    p.add_argument("--burst-clients", type=int, default=50)
    p.add_argument("--boxes", type=int, default=2000, help="distinct bbox URLs")
    args = p.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.workers < 1:
        p.error("--clients, --seconds and --workers must be positive")

    with tempfile.TemporaryDirectory(prefix="healthgap-bench-") as tmp:
        if args.store is None:
            t0 = time.perf_counter()
            store = build_frimley(args.data, Path(tmp))
            print(f"built {AREA} in {time.perf_counter() - t0:.1f} s")
        else:
            store = args.store
        with server(store, port=free_port(), workers=args.workers,
                    env={"HEALTHGAP_RUNS_DB": str(Path(tmp) / "runs.sqlite")}) as (base, _):
            warm = httpx.get(base + LAYER_URL, timeout=60)
            n = warm.json()["numberReturned"]
            zipped = httpx.get(base + LAYER_URL, headers={"Accept-Encoding": "gzip"},
                               timeout=60)
            print(f"{LAYER_URL}: {n} features, {len(warm.content) / 1024:.0f} KiB GeoJSON, "
                  f"{int(zipped.headers['content-length']) / 1024:.0f} KiB gzip; "
                  f"{args.clients} clients, {args.workers} server workers, "
                  f"{os.cpu_count()} CPU(s); load average before: {_load()}")
            health = wrk(base + "/health", clients=args.clients, seconds=args.peer_seconds)
            layer = wrk(base + LAYER_URL, clients=args.clients, seconds=args.seconds)
            idle = wrk(base + "/health", clients=10, seconds=args.peer_seconds)
            burst = subprocess.Popen(
                [shutil.which("wrk") or "wrk", "-t1", f"-c{args.burst_clients}",
                 f"-d{round(args.peer_seconds) + 2}s", "--timeout", "60s", "-s",
                 _write(_MISSES % AREA), base + "/"], stdout=subprocess.DEVNULL)
            time.sleep(1.0)
            during = wrk(base + "/health", clients=10, seconds=args.peer_seconds)
            burst.wait(timeout=args.peer_seconds + 90)
            print(f"load average after: {_load()}")
            tile_paths = frimley_tiles()
            t0 = time.perf_counter()
            tile_bodies = fetch_bodies(base, tile_paths)  # renders each once: then cached
            print(f"{len(tile_paths)} Frimley LSOA tiles (zoom 8-13) rendered in "
                  f"{time.perf_counter() - t0:.1f} s")
            tiles = wrk(base + "/", clients=args.clients, seconds=args.seconds,
                        script=cycle_script(tile_paths))
        misses, peer = _bench_misses(store, args, Path(tmp))
        with peer_server(tile_bodies, port=free_port(), workers=args.workers) as pbase:
            peer_tiles = wrk(pbase + "/", clients=args.clients, seconds=args.seconds,
                             script=cycle_script(tile_paths))
    _print(f"peer: /health ({args.clients} clients)", health)
    _print(f"cached Frimley LSOA layer ({args.clients} clients)", layer)
    _print("/health idle (10 clients)", idle)
    _print(f"/health during {args.burst_clients} clients of misses", during)
    ok_layer = layer["p95_ms"] <= 100 and layer["requests_per_s"] >= 1000
    ratio = during["p95_ms"] / max(idle["p95_ms"], 1e-3)
    print(f"target cached layer p95 <= 100 ms and >= 1000 req/s: "
          f"{'met' if ok_layer else 'NOT met'}; /health p95 during misses / idle = "
          f"{ratio:.2f} (target <= 2): {'met' if ratio <= 2 else 'NOT met'}")
    _print(f"peer app: same tile bytes ({args.clients} clients)", peer_tiles)
    _print(f"cached vector tiles ({args.clients} clients)", tiles)
    print(f"target cached tile p95 <= 50 ms: {'met' if tiles['p95_ms'] <= 50 else 'NOT met'}")
    _print(f"peer app: same bbox bytes ({args.clients} clients)", peer)
    _print(f"distinct-bbox misses ({args.clients} clients)", misses)
    print(f"target distinct-bbox p95 <= 150 ms: "
          f"{'met' if misses['p95_ms'] <= 150 else 'NOT met'} "
          f"(peer p95 {peer['p95_ms']:.1f} ms: the floor of uvicorn and the socket)")
    return 1 if health["errors"] or layer["errors"] or idle["errors"] or during["errors"] \
        or misses["errors"] or peer["errors"] or tiles["errors"] else 0


def _bench_misses(store: Path, args: argparse.Namespace, tmp: Path
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Distinct bbox requests with the response cache off, and the peer with the same bytes."""
    paths = distinct_boxes(args.boxes)
    env = {"HEALTHGAP_RUNS_DB": str(tmp / "runs-misses.sqlite"),
           "HEALTHGAP_RESPONSE_CACHE_MB": "0"}
    with server(store, port=free_port(), workers=args.workers, env=env) as (base, _):
        t0 = time.perf_counter()
        bodies = fetch_bodies(base, paths)
        sizes = [len(b[0]) * 3 // 4 for b in bodies.values()]
        print(f"{len(paths)} distinct boxes fetched one by one in "
              f"{time.perf_counter() - t0:.1f} s; gzip body median {np.median(sizes) / 1024:.1f}"
              f" KiB")
        # every worker reads the layer once (fetch_bodies used one connection, so one worker)
        wrk(base + "/", clients=args.clients, seconds=5, script=cycle_script(paths[::-1]))
        misses = wrk(base + "/", clients=args.clients, seconds=args.seconds,
                     script=cycle_script(paths))
    with peer_server(bodies, port=free_port(), workers=args.workers) as base:
        peer = wrk(base + "/", clients=args.clients, seconds=args.seconds,
                   script=cycle_script(paths))
    return misses, peer


def _write(script: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        return f.name


if __name__ == "__main__":
    sys.exit(main())
