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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each schemathesis operation test its own node id.

    schemathesis 4 (4.29 to 4.32 at least) names each operation's item
    ``test_api_conforms_and_never_fails[GET /areas]`` but passes the bare function name as its
    ``originalname``, from which pytest 9 builds the node id: every operation's item then has the
    id ``...::test_api_conforms_and_never_fails``. pytest-xdist keys the work it hands a worker
    by node id (``--dist loadscope`` keeps one entry per id, and looks an id up by its first
    index), so under xdist only the first operation ran (about 90 of the 1,000+ requests). Here
    each such item gets the id its name says; an id still shared afterwards fails the run.
    """
    seen: dict[str, int] = {}
    for item in items:
        seen[item.nodeid] = seen.get(item.nodeid, 0) + 1
    for item in items:
        label = getattr(item, "operation_label", None)
        if label is None or seen[item.nodeid] == 1:
            continue
        ident = getattr(item, "_id", None)  # pytest 9: a structured NodeId
        if ident is None or ident.params is not None:
            continue
        item._id = ident.with_params(label)  # type: ignore[attr-defined]
    ids = [item.nodeid for item in items]
    shared = sorted({i for i in ids if ids.count(i) > 1})
    if shared:
        raise pytest.UsageError(f"test items share a node id (pytest-xdist would run one of "
                                f"each): {shared[:5]}")
