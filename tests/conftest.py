"""Shared fixtures: where the real public data lives, and small frames built from it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Return ``../shared/data`` beside the checkout (or ``$HEALTHGAP_SHARED_DATA``)."""
    env = os.environ.get("HEALTHGAP_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"real data not found at {path}; set HEALTHGAP_SHARED_DATA")
    return path


@pytest.fixture(scope="session", autouse=True)
def _shared_builds_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point tests/_builds.py at this run's temporary directory (shared by xdist workers)."""
    from tests import _builds

    _builds.ROOT = _builds.run_root(tmp_path_factory)


# ---- how long the suite takes to start and to run (printed at the end of every run) ----------

_CLOCK: dict[str, float] = {"conftest": time.monotonic()}


def _process_age() -> float | None:
    """Return seconds since this process started (Linux ``/proc``), or None elsewhere."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - start


_STARTUP = _process_age()


def _xdist_controller(config: pytest.Config) -> bool:
    """Return True in the process that hands tests to pytest-xdist workers (``-n N``)."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config,
                                                                            "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    if _xdist_controller(session.config):
        # the controller collects nothing: collection is from here until every worker has
        # started, imported the suite and collected it (pytest_xdist_node_collection_finished)
        _CLOCK["collect"] = time.monotonic()


def pytest_collection(session: pytest.Session) -> None:
    _CLOCK.setdefault("collect", time.monotonic())


def pytest_collection_finish(session: pytest.Session) -> None:
    _CLOCK["collected"] = time.monotonic()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:  # noqa: ANN001
    """Controller side: the last worker to finish collecting ends the collection time."""
    _CLOCK["collected"] = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    """Print start-up (interpreter, plugins, conftest), collection and test times."""
    if "collected" not in _CLOCK or hasattr(config, "workerinput"):
        return
    now = time.monotonic()
    startup = "?" if _STARTUP is None else f"{_STARTUP:.1f} s"
    collection = _CLOCK["collected"] - _CLOCK["collect"]
    workers = getattr(config.option, "numprocesses", None)
    where = f" on {workers} xdist workers" if _xdist_controller(config) else ""
    terminalreporter.write_line(
        f"timing: start-up to conftest {startup}, collection {collection:.1f} s, "
        f"tests {now - _CLOCK['collected']:.1f} s{where}")
