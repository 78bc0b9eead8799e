"""What the synthetic demo area is: its codes and names, the files it writes, fixed constants."""

from __future__ import annotations

import math

from healthgap.data.layout import LAYOUT

#: The ICB of the demo area (``healthgap build --area E54900001``).
DEMO_ICB = "E54900001"
DEMO_ICB_NAME = "NHS Synthetic Demo Integrated Care Board (SYNTHETIC DATA)"
#: The neighbouring synthetic ICB that holds the edge ring of LSOAs around the demo area.
NEIGHBOUR_ICB = "E54900002"
NEIGHBOUR_ICB_NAME = "NHS Synthetic Neighbour Integrated Care Board (SYNTHETIC DATA)"

#: Where the area sits, for the manifest and the README.
LOCATION_NOTE = (
    "Fictitious area placed in the open North Sea about 15-55 km north of the north Norfolk "
    "coast (British National Grid easting ~600,000-640,000, northing ~360,000-400,000; about "
    "53.1-53.45 N, 1.0-1.6 E) so that it cannot be mistaken for a real place, yet inside the "
    "National Grid's extent. All codes, names and values are synthetic."
)

#: The inputs `generate_demo` writes, in the order the generator fills them (paths from
#: `data.layout.LAYOUT`, the one list of data-file paths).
DEMO_INPUTS: tuple[str, ...] = (
    "lsoa_boundaries", "msoa_boundaries", "lsoa_lookup", "icb_lookup", "rural_urban", "imd",
    "imd_indicators", "imd_msoa", "life_expectancy", "population", "population_denominators",
    "centroids", "gp_practices", "hospitals",
)
#: Relative paths of the files `generate_demo` writes (besides README.txt and the manifest).
DEMO_FILES: tuple[str, ...] = (
    *(LAYOUT[k] for k in DEMO_INPUTS),
    "osm/demo.osm",
    "environment/demo_no2_100m.tif",
    "environment/demo_no2_1km.csv",
)
MANIFEST_NAME = "demo_manifest.json"
README_NAME = "README.txt"

_ENGLAND_LSOAS = 32_844
_CENTRE = (620_000.0, 380_000.0)
_BNG_TO_CRS84 = "EPSG:27700"
_MIN_LSOA, _MAX_LSOA = 40, 3000
_NODATA = -9999.0
_OSM_STEP = 250.0  # metres between lattice nodes of the synthetic street grid
_OSM_MARGIN = 5_000.0
_TIMESTAMP = "2019-09-26T00:00:00Z"


def _num(x: float, digits: int, *, fixed: bool = False, sig: bool = False) -> str:
    """Format a number for CSV: ``digits`` decimals (or significant digits), no trailing zeros."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if sig:
        text = f"{float(x):.{digits}g}"
        return "0" if text in ("-0", "0") else text
    text = f"{float(x):.{digits}f}"
    if not fixed and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "-0.0") else text
