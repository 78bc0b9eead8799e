"""A short load test of the real server (uvicorn subprocess on 127.0.0.1): no request fails.

The full benchmark (50 clients for 60 s, with latency percentiles) is
benchmarks/bench_api_load.py; this runs the same code for 10 clients for 3 s. No timing is
asserted: the machine is shared.
"""

from __future__ import annotations

import httpx

from tests.services._api_helpers import FRIMLEY, frimley_root, load_bench


def test_short_load_has_no_errors(shared_data):
    bench = load_bench()
    root = frimley_root(shared_data)
    path = f"/areas/{FRIMLEY}/layers/lsoa/items"
    with bench.server(root, port=bench.free_port()) as (base, _):
        first = httpx.get(base + path, timeout=60)
        assert first.status_code == 200 and first.json()["numberReturned"] == 440
        result = bench.run_load(base, path, clients=10, seconds=3.0, max_requests=5000)
        assert result["requests"] >= 10
        assert result["errors"] == 0, result["first_errors"]
        # the server answers a conditional request with 304 under the same process
        tag = first.headers["etag"]
        assert httpx.get(base + path, headers={"If-None-Match": tag},
                         timeout=30).status_code == 304
