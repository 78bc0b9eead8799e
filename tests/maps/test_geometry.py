"""Compact TopoJSON encoding, coverage simplification and frame checks (maps/_geometry.py)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from healthgap.maps._geometry import check_frame, topology, web_geometries
from libpysal.graph import Graph

from healthgap.errors import (
    CRSError,
    DuplicateCodeError,
    GeometryError,
    InputError,
    MissingColumnError,
)
from tests.maps.topojson_ref import decode_arc, decode_geometry


def _rounded(geoms: np.ndarray, decimals: int) -> np.ndarray:
    out = shapely.transform(geoms, lambda c: np.round(c, decimals))
    return shapely.remove_repeated_points(out)


def test_topology_round_trips_every_frimley_polygon(frimley_lsoa):
    web = web_geometries(frimley_lsoa, simplify=None)
    topo = topology(web, precision=5)
    objects = topo["objects"]["a"]["geometries"]
    assert [o["id"] for o in objects] == list(frimley_lsoa.index)
    decoded = np.array([decode_geometry(topo, o) for o in objects])
    expected = _rounded(np.asarray(web.values), 5)
    # Same shape after snapping to the 1e-5 degree grid: ring start and direction may differ,
    # so compare normalised geometries vertex by vertex.
    same = shapely.equals_exact(shapely.normalize(decoded), shapely.normalize(expected),
                                tolerance=1e-9)
    assert same.all(), list(frimley_lsoa.index[~same])


def test_shared_boundaries_are_stored_once(frimley_lsoa):
    web = web_geometries(frimley_lsoa, simplify=None)
    topo = topology(web, precision=5)
    ring_vertices = int(shapely.get_num_coordinates(np.asarray(web.values)).sum())
    arc_vertices = sum(len(a) for a in topo["arcs"])
    refs = [abs(r if r >= 0 else ~r) for o in topo["objects"]["a"]["geometries"]
            for poly in ([o["arcs"]] if o["type"] == "Polygon" else o["arcs"])
            for ring in poly for r in ring]
    used_twice = int((np.bincount(refs) == 2).sum())
    # Most LSOA edges border another LSOA of the system, so most arcs serve two polygons and the
    # arcs hold fewer vertices than the rings did.
    assert used_twice > 0.5 * len(topo["arcs"])
    assert arc_vertices < 0.85 * ring_vertices
    # Exactly: every distinct boundary segment of the snapped rings is stored in one arc, once.
    segments = set()
    for geom in _rounded(np.asarray(web.values), 5):
        for ring in shapely.get_rings(shapely.get_parts(geom)):
            xy = [tuple(p) for p in shapely.get_coordinates(ring).round(5)]
            segments.update(frozenset(s) for s in zip(xy[:-1], xy[1:], strict=True))
    stored = []
    for i in range(len(topo["arcs"])):
        xy = [tuple(np.round(p, 5)) for p in decode_arc(topo, i)]
        stored.extend(frozenset(s) for s in zip(xy[:-1], xy[1:], strict=True))
    assert len(stored) == len(set(stored)) == len(segments)
    assert set(stored) == segments


def test_neighbours_still_touch_after_encoding(frimley_lsoa):
    web = web_geometries(frimley_lsoa, simplify="auto")
    topo = topology(web, precision=5)
    decoded = gpd.GeoSeries([decode_geometry(topo, o) for o in topo["objects"]["a"]["geometries"]],
                            index=frimley_lsoa.index, crs=4326)
    before = Graph.build_contiguity(frimley_lsoa, rook=True, strict=False)
    pairs = [(a, b) for a, b in before.adjacency.index if a < b]
    assert len(pairs) > 800
    shared = np.array([decoded[a].intersection(decoded[b]).length for a, b in pairs])
    overlap = np.array([decoded[a].intersection(decoded[b]).area for a, b in pairs])
    # every pair of rook neighbours still shares a boundary line, and none overlap
    assert (shared > 0).mean() > 0.99
    assert overlap.max() < 1e-9


def test_coverage_simplification_keeps_shared_edges(frimley_lsoa):
    coarse = gpd.GeoDataFrame(
        geometry=shapely.coverage_simplify(np.asarray(frimley_lsoa.geometry.values), 150.0),
        index=frimley_lsoa.index, crs=27700,
    )
    simplified = web_geometries(frimley_lsoa, simplify=150.0).to_crs(27700)
    assert shapely.get_num_coordinates(np.asarray(simplified.values)).sum() < \
        shapely.get_num_coordinates(np.asarray(frimley_lsoa.geometry.values)).sum()
    # the map's simplification is GEOS coverage simplification (same vertices, reprojected)
    assert np.allclose(simplified.area, coarse.area, rtol=1e-6)
    g = Graph.build_contiguity(frimley_lsoa, rook=True, strict=False)
    pairs = [(a, b) for a, b in g.adjacency.index if a < b]
    lengths = np.array([simplified[a].intersection(simplified[b]).length for a, b in pairs])
    assert (lengths > 0).mean() > 0.99


def test_points_and_lines_encode(frimley_lsoa):
    pts = frimley_lsoa.geometry.iloc[:5].representative_point().to_crs(4326)
    topo = topology(pts, precision=5)
    back = [decode_geometry(topo, o) for o in topo["objects"]["a"]["geometries"]]
    for a, b in zip(back, pts, strict=True):
        assert abs(a.x - b.x) < 6e-6 and abs(a.y - b.y) < 6e-6
    line = gpd.GeoSeries([shapely.LineString([(-0.7, 51.3), (-0.71, 51.31), (-0.72, 51.3)])],
                         index=["x"])
    topo = topology(line, precision=5)
    got = decode_geometry(topo, topo["objects"]["a"]["geometries"][0])
    assert shapely.equals_exact(got, line.iloc[0], tolerance=1e-9)


def test_check_frame_errors_name_what_is_wrong(frimley_lsoa):
    with pytest.raises(InputError, match="expected GeoDataFrame, got DataFrame"):
        check_frame(pd.DataFrame({"a": [1]}), what="x")
    with pytest.raises(CRSError, match="EPSG:4326.*expected EPSG:27700"):
        check_frame(frimley_lsoa.to_crs(4326), what="x")
    with pytest.raises(MissingColumnError, match="'le'.*found: .*imd_score"):
        check_frame(frimley_lsoa, what="x", columns=["le"])
    dup = pd.concat([frimley_lsoa.iloc[:2], frimley_lsoa.iloc[:1]])
    with pytest.raises(DuplicateCodeError, match=frimley_lsoa.index[0]):
        check_frame(dup, what="x")
    empty = frimley_lsoa.iloc[:3].copy()
    empty.loc[empty.index[1], "geometry"] = None
    with pytest.raises(GeometryError, match=empty.index[1]):
        check_frame(empty, what="x")
    with pytest.raises(GeometryError, match="expected Point"):
        check_frame(frimley_lsoa, what="x", geom_types=("Point",))
