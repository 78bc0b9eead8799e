"""Query parameters shared by the layer and OGC routers: the bounding box and properties.

The schema admits decimal numbers as GDAL, QGIS and OWSLib print them (any number of decimals,
up to 15 digits before the point, an optional exponent of one or two digits: every such number
is finite), four (``minx,miny,maxx,maxy``) or six (with heights, which are ignored); anything
else, such as a number too large to be finite, is refused by the schema (400 on the OGC
endpoints, 422 on the others, as every invalid parameter there). A box that covers nothing
(``miny > maxy``, or ``minx > maxx`` in British National Grid) selects no feature; in
longitude/latitude ``minx > maxx`` crosses the antimeridian, as OGC API - Features says.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from healthgap import BNG
from healthgap.errors import ParameterError, UnknownLayerError

#: A finite decimal: at most 15 digits before the point and 2 in the exponent (below 1e115).
_NUMBER = r"\s*[-+]?(\d{1,15}(\.\d*)?|\.\d+)([eE][-+]?\d{1,2})?\s*"
#: Four or six comma-separated plain decimals.
BBOX_PATTERN = rf"^{_NUMBER}(,{_NUMBER}){{3}}((,{_NUMBER}){{2}})?$"
BBOX_HELP = ("minx,miny,maxx,maxy (decimal numbers; six numbers with heights also accepted, "
             "the heights ignored)")

Box = tuple[float, float, float, float]


def parse_bbox(text: str, crs: str) -> list[Box]:
    """Return the boxes a schema-valid ``bbox`` covers (none, one, or two across 180°)."""
    values = [float(v) for v in text.split(",")]
    if not all(np.isfinite(values)):
        raise ParameterError(f"bbox={text[:100]!r}: every number must be finite")
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    x0, y0, x1, y1 = values
    if y0 > y1:
        return []
    if x0 <= x1:
        return [(x0, y0, x1, y1)]
    if crs == BNG:
        return []
    return [(x0, y0, 180.0, y1), (-180.0, y0, x1, y1)]


def in_boxes(sindex: object, boxes: list[Box], n: int) -> np.ndarray:
    """Return a mask of the ``n`` features whose geometry intersects any of ``boxes``."""
    hit = np.zeros(n, dtype=bool)
    for box in boxes:
        hit[sindex.query(shapely.box(*box), predicate="intersects")] = True  # type: ignore
    return hit


def select_properties(layer: str, frame: pd.DataFrame, text: str | None) -> list[str] | None:
    """Return the columns ``properties=`` names (None: all); an unknown name is a 404.

    The index (the area code) is always written, so naming it selects nothing more.
    """
    if text is None:
        return None
    geometry = getattr(frame, "_geometry_column_name", None)
    known = [str(c) for c in frame.columns if c != geometry]
    wanted = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in known and p != frame.index.name]
    if unknown:
        shown = ", ".join(repr(u[:64]) for u in unknown[:5])
        raise UnknownLayerError(f"properties: {shown} not in layer {layer!r}; allowed: "
                                f"{', '.join(known)}")
    return [p for p in dict.fromkeys(wanted) if p != frame.index.name]
