"""healthgap's science: neighbourhoods, layers, spatial statistics and models.

Pure and importable: GeoDataFrame / DataFrame in, frame or result object out. Nothing here imports
FastAPI, Folium or the service settings.
"""

BNG = "EPSG:27700"
"""British National Grid: the CRS every analysis runs in (metres)."""

WGS84 = "EPSG:4326"
"""Longitude/latitude, used only on copies at render and serve time (maps/, services/)."""
