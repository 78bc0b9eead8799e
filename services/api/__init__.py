"""The HTTP API: GeoJSON layers, maps, statistics and model reruns over the build stores."""

from healthgap.services.api.app import create_app

__all__ = ["create_app"]
