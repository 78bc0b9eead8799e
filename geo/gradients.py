"""Former home of the distance models; kept so existing imports keep working.

The models now live one per module: :mod:`geo.cliffs` (health cliffs across shared borders),
:mod:`geo.transect` (transects and the "years per mile" headline), :mod:`geo.variogram`,
:mod:`geo.correlogram` and :mod:`geo.travel_time` (life expectancy against travel time,
``TravelTimeFit``, formerly ``DecayFit``; :mod:`geo.decay` holds the access decay weights).
Import from those modules in new code.
"""

from __future__ import annotations

from healthgap.geo.cliffs import NeighbourGradients
from healthgap.geo.correlogram import MoranCorrelogram
from healthgap.geo.transect import HeadlineGradients, Transect, headline_gradients
from healthgap.geo.travel_time import TravelTimeFit
from healthgap.geo.variogram import Semivariogram

DecayFit = TravelTimeFit
"""Former name of `TravelTimeFit`."""

__all__ = [
    "DecayFit",
    "HeadlineGradients",
    "MoranCorrelogram",
    "NeighbourGradients",
    "Semivariogram",
    "Transect",
    "TravelTimeFit",
    "headline_gradients",
]
