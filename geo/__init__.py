"""healthgap's science: neighbourhoods, layers, spatial statistics and models.

Pure and importable: GeoDataFrame / DataFrame in, frame or result object out. Nothing here imports
FastAPI, Folium or the service settings.
"""

from healthgap import BNG, WGS84

__all__ = ["BNG", "WGS84"]
