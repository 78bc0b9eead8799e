"""A study area joined as the build joins it (IMD, life expectancy, roll-ups), for geo tests."""

from __future__ import annotations

from pathlib import Path

from healthgap.data import readers
from healthgap.data.layout import DataDir
from healthgap.geo.areas import StudyArea
from healthgap.geo.layers import with_imd, with_life_expectancy, with_rollups
from healthgap.services.build import load_area, load_hierarchy, read_cached


def joined_area(data: Path | DataDir, code: str, ring: int = 1) -> StudyArea:
    """Load area ``code`` with IMD and life expectancy joined and rolled up, as a build does."""
    d = data if isinstance(data, DataDir) else DataDir(Path(data))
    h = load_hierarchy(d)
    area = load_area(d, h.resolve(code), h, ring=ring)
    area = with_imd(area, read_cached(readers.read_imd, d.path("imd")))
    area = with_life_expectancy(area, read_cached(readers.read_life_expectancy,
                                                  d.path("life_expectancy")))
    return with_rollups(area)
