"""Shared fixtures: where the real public data lives, and small frames built from it."""

from __future__ import annotations

import os
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
