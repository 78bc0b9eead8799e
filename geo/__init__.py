"""healthgap's science: neighbourhoods, layers, spatial statistics and models.

Pure and importable: GeoDataFrame / DataFrame in, frame or result object out. Nothing here imports
FastAPI, Folium or the service settings.
"""

from typing import TYPE_CHECKING

from healthgap import BNG, WGS84, lazy_exports

if TYPE_CHECKING:
    from healthgap.geo._models import package_versions
    from healthgap.geo._permutation import reusing_draws
    from healthgap.geo._validation import require_bng

#: Helpers of geo's private modules that the other layers use, imported on first use (the
#: permutation engine brings numba; importing ``healthgap.geo`` should not).
_PUBLIC = {"package_versions": "healthgap.geo._models",
           "reusing_draws": "healthgap.geo._permutation",
           "require_bng": "healthgap.geo._validation"}
__getattr__ = lazy_exports(__name__, _PUBLIC)

__all__ = ["BNG", "WGS84", "package_versions", "require_bng", "reusing_draws"]
