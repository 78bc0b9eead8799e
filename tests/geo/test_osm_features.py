"""Green space and outlet density from OSM files: a hand-made file with known areas, and Rutland."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
from healthgap.data.osm_features import read_osm_features
from healthgap.geo import BNG
from healthgap.geo.osm_features import green_space_share, outlet_density
from pyproj import Transformer

from healthgap.errors import CRSError, InputError, MissingColumnError
from tests.geo._rutland import rutland_lsoa

TO_LL = Transformer.from_crs(BNG, "EPSG:4326", always_xy=True)


class _Osm:
    """Write a small OSM XML file from shapes drawn in EPSG:27700."""

    def __init__(self):
        self.nodes, self.ways, self.relations = [], [], []
        self.next_id = 1

    def node(self, x, y, tags=None):
        lon, lat = TO_LL.transform(x, y)
        nid = self.next_id
        self.next_id += 1
        self.nodes.append((nid, lon, lat, tags or {}))
        return nid

    def ring(self, x0, y0, x1, y1, tags=None):
        ids = [self.node(x0, y0), self.node(x1, y0), self.node(x1, y1), self.node(x0, y1)]
        wid = self.next_id
        self.next_id += 1
        self.ways.append((wid, [*ids, ids[0]], tags or {}))
        return wid

    def multipolygon(self, outer, inner, tags):
        o = self.ring(*outer)
        i = self.ring(*inner)
        rid = self.next_id
        self.next_id += 1
        self.relations.append((rid, [(o, "outer"), (i, "inner")], {"type": "multipolygon", **tags}))

    def write(self, path, bounds):
        (w, s), (e, n) = (
            TO_LL.transform(bounds[0], bounds[1]),
            TO_LL.transform(bounds[2], bounds[3]),
        )

        def tags(t):
            return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in t.items())

        lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
        lines.append(
            f'<bounds minlat="{s:.7f}" minlon="{w:.7f}" maxlat="{n:.7f}" maxlon="{e:.7f}"/>'
        )
        for nid, lon, lat, t in self.nodes:
            lines.append(
                f'<node id="{nid}" version="1" lat="{lat:.9f}" lon="{lon:.9f}">{tags(t)}</node>'
            )
        for wid, refs, t in self.ways:
            nds = "".join(f'<nd ref="{r}"/>' for r in refs)
            lines.append(f'<way id="{wid}" version="1">{nds}{tags(t)}</way>')
        for rid, members, t in self.relations:
            ms = "".join(f'<member type="way" ref="{m}" role="{role}"/>' for m, role in members)
            lines.append(f'<relation id="{rid}" version="1">{ms}{tags(t)}</relation>')
        lines.append("</osm>")
        path.write_text("\n".join(lines))
        return path


@pytest.fixture(scope="module")
def hand_file(tmp_path_factory):
    osm = _Osm()
    X, Y = 480_000, 300_000
    osm.ring(X + 100, Y + 100, X + 600, Y + 500, {"leisure": "park"})  # 200,000 m2
    osm.ring(X + 500, Y + 100, X + 700, Y + 500, {"natural": "wood"})  # +40,000 beyond the park
    osm.ring(X + 200, Y + 200, X + 300, Y + 300, {"natural": "water"})  # -10,000 inside the park
    osm.multipolygon(  # 10,000 minus a 2,500 hole
        (X + 800, Y + 800, X + 900, Y + 900),
        (X + 825, Y + 825, X + 875, Y + 875),
        {"landuse": "grass"},
    )
    osm.ring(X + 950, Y + 600, X + 1050, Y + 700, {"leisure": "common"})  # 5,000 each side
    osm.ring(X, Y + 600, X + 200, Y + 800, {"landuse": "farmland"})  # not green
    osm.node(X + 300, Y + 700, {"amenity": "fast_food", "name": "Chips"})
    osm.node(X + 400, Y + 700, {"shop": "alcohol"})
    osm.ring(X + 1200, Y + 200, X + 1220, Y + 220, {"building": "yes", "amenity": "fast_food"})
    osm.node(X + 9000, Y + 500, {"amenity": "fast_food"})  # in the file, in no LSOA
    path = osm.write(
        tmp_path_factory.mktemp("osm") / "hand.osm", (X - 1000, Y - 1000, X + 12_000, Y + 2000)
    )
    lsoa = gpd.GeoDataFrame(
        {"population": [2000.0, 1000.0, 1500.0]},
        geometry=[
            shapely.box(X, Y, X + 1000, Y + 1000),
            shapely.box(X + 1000, Y, X + 2000, Y + 1000),
            shapely.box(X + 50_000, Y, X + 51_000, Y + 1000),  # outside the file's bounds
        ],
        crs=BNG,
        index=pd.Index(["E01000001", "E01000002", "E01000003"], name="lsoa_code"),
    )
    return path, lsoa


def test_green_share_of_hand_made_areas(hand_file):
    path, lsoa = hand_file
    feats = read_osm_features(path)
    assert len(feats.green) == 4 and len(feats.water) == 1 and feats.skipped.empty
    out = green_space_share(feats, lsoa)
    # park 200,000 + wood beyond it 40,000 - water 10,000 + grass 7,500 + half common 5,000
    assert out.loc["E01000001", "green_m2"] == pytest.approx(242_500, rel=1e-4)
    assert out.loc["E01000001", "green_share"] == pytest.approx(0.2425, rel=1e-4)
    assert out.loc["E01000002", "green_share"] == pytest.approx(0.005, rel=1e-3)
    assert np.isnan(out.loc["E01000003", "green_share"])
    assert out.loc["E01000003", "osm_coverage"] == 0.0
    assert out.loc[["E01000001", "E01000002"], "osm_coverage"].eq(1.0).all()


def test_outlets_per_1000_of_hand_made_file(hand_file):
    path, lsoa = hand_file
    feats = read_osm_features(path)
    assert sorted(feats.outlets.kind) == ["fast_food", "fast_food", "fast_food", "off_licence"]
    out = outlet_density(feats, lsoa)
    assert (
        out.loc["E01000001", "fast_food_n"] == 1
        and out.loc["E01000001", "fast_food_per_1000"] == 0.5
    )
    assert (
        out.loc["E01000001", "off_licence_n"] == 1
        and out.loc["E01000001", "off_licence_per_1000"] == 0.5
    )
    # the building outline counts once, at a point inside it
    assert (
        out.loc["E01000002", "fast_food_n"] == 1
        and out.loc["E01000002", "fast_food_per_1000"] == 1.0
    )
    assert out.loc["E01000002", "off_licence_n"] == 0
    assert out.loc["E01000003"].drop("osm_coverage").isna().all()


def test_coverage_and_input_checks(hand_file):
    path, lsoa = hand_file
    # a coverage polygon that leaves out the second LSOA
    feats = read_osm_features(path, coverage=shapely.box(479_000, 299_000, 481_000, 301_500))
    out = green_space_share(feats, lsoa)
    assert np.isfinite(out.loc["E01000001", "green_share"])
    assert np.isnan(out.loc["E01000002", "green_share"])
    with pytest.raises(CRSError):
        green_space_share(feats, lsoa.to_crs(4326))
    with pytest.raises(MissingColumnError, match="population"):
        outlet_density(feats, lsoa.drop(columns="population"))
    with pytest.raises(InputError, match="negative"):
        outlet_density(feats, lsoa.assign(population=[-1.0, 1.0, 1.0]))
    # no residents: the count stands, the rate is undefined
    empty = outlet_density(feats, lsoa.assign(population=[0.0, 1000.0, 1500.0]))
    assert empty.loc["E01000001", "fast_food_n"] == 1
    assert np.isnan(empty.loc["E01000001", "fast_food_per_1000"])


def test_rutland(shared_data):
    lsoa = rutland_lsoa(shared_data)
    path = shared_data / "osm/rutland-latest.osm.pbf"
    feats = read_osm_features(path)
    green = green_space_share(feats, lsoa)
    assert green["green_share"].between(0, 1).all()
    np.testing.assert_allclose(green["osm_coverage"], 1.0)
    assert green["green_m2"].sum() > 0
    # Rutland Water is mapped as water: it must not count as green ground
    water = shapely.union_all(feats.water.geometry.values)
    assert water.area > 5e6
    green_union = shapely.union_all(feats.green.geometry.values)
    counted = (
        shapely.union_all(lsoa.geometry.values).intersection(green_union).difference(water).area
    )
    assert green["green_m2"].sum() == pytest.approx(counted, rel=1e-6)
    # outlets: compare with a plain count of tagged nodes and closed ways, read separately
    nodes = ways = 0
    for obj in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY):
        tags = dict(obj.tags)
        hit = tags.get("amenity") == "fast_food" or tags.get("shop") == "alcohol"
        if hit and obj.is_node():
            nodes += 1
        elif hit and obj.is_way() and obj.is_closed():
            ways += 1
    assert len(feats.outlets) == nodes + ways
    dens = outlet_density(feats, lsoa)
    assert (dens["fast_food_n"] + dens["off_licence_n"]).sum() <= len(feats.outlets)
    assert (dens["fast_food_per_1000"] >= 0).all()
