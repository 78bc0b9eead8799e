"""healthgap: where, and why, life expectancy is unequal between England's neighbourhoods.

The package installs as one namespace. The folders at the top of the repository map onto it::

    data/      -> healthgap.data      where inputs come from (readers, sources, demo)
    geo/       -> healthgap.geo       the science, pure and importable
    maps/      -> healthgap.maps      Folium builders
    services/  -> healthgap.services  command line, build pipeline and API

This core package holds only what every layer may import: the exception hierarchy
(`healthgap.errors`) and the coordinate reference systems.
"""

BNG = "EPSG:27700"
"""British National Grid: the CRS every analysis runs in (metres)."""

WGS84 = "EPSG:4326"
"""Longitude/latitude, used only on copies at render and serve time (maps/, services/)."""

__all__ = ["BNG", "WGS84"]
