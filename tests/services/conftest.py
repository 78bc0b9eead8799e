"""Fixtures of the real-server API tests (test_api_hostile.py, test_api_server.py)."""

from __future__ import annotations

import pytest

from tests.services._api_helpers import frimley_root, load_bench


@pytest.fixture(scope="module")
def bench():
    """benchmarks/bench_api_load.py, imported (its real server and load helpers)."""
    return load_bench()


@pytest.fixture(scope="module")
def root(shared_data):
    """The run's shared Frimley store root, read-only (a module that changes it copies it)."""
    return frimley_root(shared_data)
