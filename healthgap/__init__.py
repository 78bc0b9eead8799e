"""healthgap: where, and why, life expectancy is unequal between England's neighbourhoods.

The package installs as one namespace. The folders at the top of the repository map onto it::

    data/      -> healthgap.data      where inputs come from (readers, sources, demo)
    geo/       -> healthgap.geo       the science, pure and importable
    maps/      -> healthgap.maps      Folium builders
    services/  -> healthgap.services  command line, build pipeline and API

This core package holds only what every layer may import: the exception hierarchy
(`healthgap.errors`), the coordinate reference systems, and :func:`lazy_exports`, with which a
layer offers names from its private modules to the others without importing them up front.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

BNG = "EPSG:27700"
"""British National Grid: the CRS every analysis runs in (metres)."""

WGS84 = "EPSG:4326"
"""Longitude/latitude, used only on copies at render and serve time (maps/, services/)."""

__all__ = ["BNG", "WGS84", "lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` (PEP 562) that imports each public name on first use.

    Parameters
    ----------
    package
        The package offering the names (its ``__name__``).
    names
        Public name -> module that defines it (a private module of the package). The module is
        imported when the name is first asked for, so importing the package stays cheap.
    """
    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    return __getattr__
