"""What an OGC API - Features items request selects: checked parameters, CQL2 filters, sortby.

Part 1 asks for 400 on any parameter the server does not know, so `check_params` refuses them
(before anything is cached: a junk parameter never makes a new cache key). Part 3 filters are
parsed by pygeofilter (CQL2 text and CQL2 JSON) and evaluated on the layer's frame by
pygeofilter's GeoPandas evaluator, except ``S_INTERSECTS`` (and the other spatial predicates),
which are answered from the layer's STRtree. Properties are the queryables of the layer: its
columns (the feature id column included) and ``geometry``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from healthgap.services._geojson import is_boolean_column
from healthgap.services.errors import BadRequestError

#: Parameters every items request may carry (Part 1 core, Part 2 crs, Part 3 filter, sortby).
ITEMS_PARAMS = frozenset({"limit", "offset", "bbox", "bbox-crs", "crs", "properties",
                          "datetime", "filter", "filter-lang", "filter-crs", "sortby", "f"})
#: Parameters of the single-feature request.
FEATURE_PARAMS = frozenset({"crs", "properties", "f"})
FILTER_LANGS = ("cql2-text", "cql2-json", "cql-text")
#: Earlier names of the languages (drafts of Part 3 that GDAL 3.6 and older clients send).
LANG_ALIASES = {"cql-text": "cql2-text"}
GEOMETRY = "geometry"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?$")


def check_params(given: Iterable[str], allowed: Iterable[str], *, what: str,
                 properties: Iterable[str] = ()) -> None:
    """Raise `BadRequestError` (400) naming any parameter not in ``allowed`` or ``properties``."""
    known = set(allowed)
    props = set(properties)
    unknown = sorted({p for p in given if p not in known and p not in props})
    if unknown:
        shown = ", ".join(repr(p[:64]) for p in unknown[:5])
        also = " or a queryable property (name=value; see queryables)" if props else ""
        raise BadRequestError(f"unknown query parameter(s) {shown} for {what}; allowed: "
                              f"{', '.join(sorted(known))}{also}")


def check_datetime(text: str) -> None:
    """Refuse ``datetime``: malformed (RFC 3339 instant or interval) or not applicable.

    The features of a build are areas and facilities of one period (in the build's manifest):
    none has a time of its own, so a datetime cannot select among them. The standard's
    parameter is known (so it is not "unknown"), but any value is answered with a 400 that
    says why, rather than ignored.
    """
    parts = text.split("/")
    ok = 1 <= len(parts) <= 2 and all(p in ("..", "") or _RFC3339.match(p) for p in parts) \
        and not all(p in ("..", "") for p in parts)
    if not ok:
        raise BadRequestError(f"datetime={text[:80]!r}: an RFC 3339 date-time or interval "
                              "(2021-01-01T00:00:00Z, 2020-01-01/.., ../2021-12-31)")
    raise BadRequestError(f"datetime={text[:80]!r}: the features of this collection have no "
                          "time (every build describes one period; see the collection's "
                          "description); leave datetime out")


# --------------------------------------------------------------------------- queryables


def json_type(name: str, dtype: Any) -> str:
    """Return the JSON Schema type of a column (0/1 flags are booleans)."""
    if is_boolean_column(name) or pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    return "string"


def property_types(frame: pd.DataFrame) -> dict[str, str]:
    """Return ``{property: JSON type}`` of a layer frame, its id column first."""
    geometry = getattr(frame, "_geometry_column_name", None)
    out: dict[str, str] = {}
    if frame.index.name:
        out[str(frame.index.name)] = json_type(str(frame.index.name), frame.index.dtype)
    for col in frame.columns:
        if col != geometry:
            out[str(col)] = json_type(str(col), frame[col].dtype)
    return out


GEOMETRY_REFS = {"Point": "Point", "MultiPoint": "MultiPoint", "LineString": "LineString",
                 "MultiLineString": "MultiLineString", "Polygon": "Polygon",
                 "MultiPolygon": "MultiPolygon"}


def queryables(frame: pd.DataFrame, geometry_type: str | None, *, id_: str, title: str,
               labels: dict[str, str]) -> dict[str, Any]:
    """Return the JSON Schema of a collection's queryables (Part 3)."""
    props: dict[str, Any] = {}
    for name, kind in property_types(frame).items():
        props[name] = {"type": kind, "title": labels.get(name, name)}
    gtype = GEOMETRY_REFS.get((geometry_type or "").replace(" ", ""), "Geometry")
    props[GEOMETRY] = {"title": "geometry", "format": f"geometry-{gtype.lower()}",
                       "$ref": f"https://geojson.org/schema/{gtype}.json"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": id_,
            "type": "object", "title": title, "properties": props,
            "additionalProperties": False}


# --------------------------------------------------------------------------- filters


def parse_filter(text: str, lang: str | None) -> Any:
    """Parse a CQL2 text or JSON filter into a pygeofilter AST (400 on a syntax error)."""
    lang = LANG_ALIASES.get(lang or "cql2-text", lang or "cql2-text")
    if lang not in FILTER_LANGS:
        raise BadRequestError(f"filter-lang={lang[:40]!r}: allowed {', '.join(FILTER_LANGS)}")
    try:
        if lang == "cql2-json":
            from pygeofilter.parsers.cql2_json import parse as parse_json

            try:
                node = json.loads(text)
            except json.JSONDecodeError as exc:
                raise BadRequestError(f"filter: not JSON ({exc.msg} at character "
                                      f"{exc.pos})") from None
            return parse_json(_bbox_literals(node))
        from pygeofilter.parsers.cql2_text import parse as parse_text

        return parse_text(text)
    except BadRequestError:
        raise
    except Exception as exc:  # lark's and pygeofilter's errors: say where, not a traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadRequestError(f"filter ({lang}) is not valid: {first[:200]}") from None


def _bbox_literals(node: Any) -> Any:
    """Turn CQL2 JSON ``{"bbox": [minx, miny, maxx, maxy]}`` into a GeoJSON polygon.

    pygeofilter 0.4 reads the four numbers in another order (x1, x2, y1, y2); a polygon means
    the same box to every reader.
    """
    if isinstance(node, dict):
        box = node.get("bbox")
        if len(node) == 1 and isinstance(box, list) and len(box) in (4, 6):
            values = [float(v) for v in box]
            x0, y0, x1, y1 = (values[0], values[1], values[3], values[4]) if len(box) == 6 \
                else values
            return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1],
                                                        [x0, y1], [x0, y0]]]}
        return {k: _bbox_literals(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_bbox_literals(v) for v in node]
    return node


def _evaluator(frame: gpd.GeoDataFrame) -> Any:
    from pygeofilter import ast
    from pygeofilter.backends.evaluator import handle
    from pygeofilter.backends.geopandas.evaluate import GeoPandasEvaluator

    class Evaluator(GeoPandasEvaluator):  # type: ignore[misc]
        """pygeofilter's GeoPandas evaluator; ids and geometry by name, spatial via STRtree."""

        @handle(ast.Attribute)
        def attribute(self, node: Any) -> Any:
            name = node.name
            if name == GEOMETRY:
                return frame.geometry
            if name == frame.index.name:
                return pd.Series(frame.index.to_numpy(), index=frame.index)
            if name not in frame.columns or name == frame.geometry.name:
                raise BadRequestError(f"filter: unknown property {name[:64]!r}; queryables: "
                                      f"{', '.join(property_types(frame))}, geometry")
            col = frame[name]
            if is_boolean_column(name) and pd.api.types.is_numeric_dtype(col):
                return col.map(lambda v: None if pd.isna(v) else bool(v))
            return col

        @handle(ast.Like)
        def like(self, node: Any, lhs: Any) -> Any:
            # CQL2's wildcards are % and _ (pygeofilter 0.4's CQL2 text parser gives '.' for
            # the single character), with a backslash escape
            return like_mask(lhs, node.pattern, nocase=node.nocase, negate=node.not_)

        @handle(ast.SpatialComparisonPredicate, subclasses=True)
        def spatial_operation(self, node: Any, lhs: Any, rhs: Any) -> Any:
            if not isinstance(lhs, gpd.GeoSeries) or not isinstance(rhs, shapely.Geometry):
                raise BadRequestError("filter: a spatial predicate compares the geometry "
                                      "property with a geometry literal")
            op = node.op.name.lower()
            predicate = {"equals": None}.get(op, op)
            hit = np.zeros(len(frame), dtype=bool)
            if predicate is None:
                hit = np.asarray(lhs.geom_equals(rhs))
            else:
                hit[frame.sindex.query(rhs, predicate=predicate)] = True
            return pd.Series(hit, index=frame.index)

    return Evaluator(frame)


def like_mask(values: pd.Series, pattern: str, *, nocase: bool = False,
              negate: bool = False) -> pd.Series:
    """Return where text ``values`` match a CQL2 ``LIKE`` pattern (``%``, ``_``, backslash)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    regex = re.compile("^" + "".join(out) + "$", re.S | (re.I if nocase else 0))
    if not (pd.api.types.is_string_dtype(values) or values.dtype == object):
        raise BadRequestError("filter: LIKE needs a text property")
    hit = values.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                     else bool(regex.match(str(v))))
    return ~hit.astype("boolean") if negate else hit.astype("boolean")


def evaluate_filter(frame: gpd.GeoDataFrame, node: Any) -> np.ndarray:
    """Return the mask of the features ``node`` selects (nulls never match a comparison)."""
    try:
        out = _evaluator(frame).evaluate(node)
    except BadRequestError:
        raise
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        raise BadRequestError(f"filter cannot be applied: {str(exc)[:200]} (compare text "
                              "with text and numbers with numbers; LIKE needs text)") from None
    if isinstance(out, bool | np.bool_):
        return np.full(len(frame), bool(out))
    mask = pd.Series(out, index=frame.index)
    return mask.fillna(False).astype(bool).to_numpy()


def equality_mask(frame: pd.DataFrame, wanted: dict[str, str]) -> np.ndarray:
    """Return the mask of features whose properties equal ``wanted`` (Part 1 property filters).

    The value is read as the property's type: a number for a numeric column, ``true``/``false``
    for a flag, the text itself otherwise.
    """
    mask = np.ones(len(frame), dtype=bool)
    types = property_types(frame)
    for name, text in wanted.items():
        values = frame.index.to_series() if name == frame.index.name else frame[name]
        kind = types[name]
        if kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise BadRequestError(f"{name}={text[:40]!r}: true or false")
            mask &= (values.fillna(-1).astype(float) == float(text.lower() == "true")).to_numpy()
        elif kind in ("integer", "number"):
            try:
                number = float(text)
            except ValueError:
                raise BadRequestError(f"{name}={text[:40]!r}: a number") from None
            if not math.isfinite(number):
                raise BadRequestError(f"{name}={text[:40]!r}: a finite number")
            mask &= (values.astype(float) == number).to_numpy()
        else:
            mask &= (values.astype("string") == text).fillna(False).to_numpy(dtype=bool)
    return mask


@dataclass(frozen=True)
class SortKey:
    """One ``sortby`` term."""

    name: str
    ascending: bool


def parse_sortby(text: str, known: Iterable[str]) -> list[SortKey]:
    """Parse ``sortby`` (``+name``, ``-name`` or ``name``, comma separated); 400 if unknown."""
    names = list(known)
    out = []
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        asc = not term.startswith("-")
        name = term.lstrip("+-").strip()
        if name.endswith((" DESC", " ASC")):  # the Records/CQL spelling "name DESC"
            name, _, order = name.rpartition(" ")
            asc = order == "ASC"
        if name not in names:
            raise BadRequestError(f"sortby: unknown property {name[:64]!r}; allowed: "
                                  f"{', '.join(names)}")
        out.append(SortKey(name, asc))
    if not out:
        raise BadRequestError("sortby: name at least one property (+name or -name)")
    return out


def sort_positions(frame: pd.DataFrame, positions: np.ndarray, keys: list[SortKey]
                   ) -> np.ndarray:
    """Return ``positions`` ordered by ``keys`` (nulls last; ties keep their id order)."""
    if not keys or len(positions) == 0:
        return positions
    sub = pd.DataFrame(index=np.arange(len(positions)))
    for i, key in enumerate(keys):
        values = (frame.index.to_numpy() if key.name == frame.index.name
                  else frame[key.name].to_numpy())
        sub[f"k{i}"] = values[positions]
    order = sub.sort_values([f"k{i}" for i in range(len(keys))],
                            ascending=[k.ascending for k in keys], kind="stable",
                            na_position="last").index.to_numpy()
    return positions[order]
