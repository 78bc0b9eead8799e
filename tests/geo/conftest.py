"""Fixtures shared by the spatial-statistics tests (global and local)."""

from __future__ import annotations

import pytest
from healthgap.geo.weights import build_weights

from tests.geo._stats_data import columbus, frimley_lsoa


@pytest.fixture(scope="module")
def columbus_case():
    """Columbus, its queen weights, CRIME as ``crime`` and INC as ``inc``."""
    gdf = columbus()
    return gdf, build_weights(gdf), gdf["CRIME"].rename("crime"), gdf["INC"].rename("inc")


@pytest.fixture(scope="module")
def frimley_case(shared_data):
    """Frimley's LSOAs, their queen weights and IMD score."""
    frame = frimley_lsoa(shared_data)
    return frame, build_weights(frame), frame["imd_score"]
