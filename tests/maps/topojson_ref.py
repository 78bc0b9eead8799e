"""A reference TopoJSON decoder for the tests, written from the specification
(https://github.com/topojson/topojson-specification), independent of maps/_geometry.py.

Arcs are delta-encoded quantized positions; a negative arc index ``~i`` means arc ``i`` reversed;
consecutive arcs of a ring share their end point, which is dropped from the later arc.
"""

from __future__ import annotations

from typing import Any

import shapely


def decode_arc(topology: dict[str, Any], i: int) -> list[tuple[float, float]]:
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]
    x = y = 0
    out = []
    for dx, dy in topology["arcs"][i if i >= 0 else ~i]:
        x += dx
        y += dy
        out.append((x * sx + tx, y * sy + ty))
    return out if i >= 0 else out[::-1]


def decode_ring(topology: dict[str, Any], refs: list[int]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for k, ref in enumerate(refs):
        arc = decode_arc(topology, ref)
        points.extend(arc if k == 0 else arc[1:])
    return points


def decode_geometry(topology: dict[str, Any], obj: dict[str, Any]) -> Any:
    kind = obj.get("type")
    if kind == "Polygon":
        rings = [decode_ring(topology, r) for r in obj["arcs"]]
        return shapely.Polygon(rings[0], rings[1:])
    if kind == "MultiPolygon":
        return shapely.MultiPolygon(
            [shapely.Polygon(*(lambda rs: (rs[0], rs[1:]))([decode_ring(topology, r) for r in p]))
             for p in obj["arcs"]]
        )
    if kind == "LineString":
        return shapely.LineString(decode_ring(topology, obj["arcs"]))
    if kind == "Point":
        sx, sy = topology["transform"]["scale"]
        tx, ty = topology["transform"]["translate"]
        x, y = obj["coordinates"]
        return shapely.Point(x * sx + tx, y * sy + ty)
    return None
