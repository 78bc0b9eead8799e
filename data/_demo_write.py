"""Write the demo area's files, formatted like the real public data."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import shapely
from healthgap.data._demo_base import (
    _NODATA,
    _TIMESTAMP,
    DEMO_FILES,
    DEMO_ICB,
    DEMO_ICB_NAME,
    LOCATION_NOTE,
    NEIGHBOUR_ICB,
    README_NAME,
    _num,
)
from healthgap.data._demo_geometry import _ICB, _SICBL, _Area
from healthgap.data._demo_outcomes import _INDICATOR_COLUMNS, _MsoaAttrs
from healthgap.data._demo_population import _DOMAINS, _RUC_LABELS, _SUBDOMAINS, _LsoaAttrs
from healthgap.data._demo_services import _Osm, _Practice, _Raster
from pyproj import Transformer

# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], *,
               quote_all_text: bool = False) -> None:
    """Write a CSV with Unix line ends.

    ``quote_all_text`` mimics R's ``write.csv``: every text field and header quoted, numbers
    (given as int or float) bare.
    """
    buf = io.StringIO()
    if quote_all_text:
        writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    else:
        writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    _write_text(path, buf.getvalue())


def _coords(ring: np.ndarray, to84: Transformer, digits: int) -> str:
    lon, lat = to84.transform(ring[:, 0], ring[:, 1])
    return "[ " + ", ".join(f"[ {x:.{digits}f}, {y:.{digits}f} ]"
                            for x, y in zip(lon, lat, strict=True)) + " ]"


def _polygon_coords(poly: shapely.Polygon, to84: Transformer, digits: int) -> str:
    # GeoJSON (RFC 7946): exterior counter-clockwise, holes clockwise
    ext = shapely.orient_polygons(shapely.Polygon(poly.exterior), exterior_cw=False)
    rings = [np.asarray(ext.exterior.coords)]
    for hole in poly.interiors:
        h = shapely.orient_polygons(shapely.Polygon(hole), exterior_cw=True)
        rings.append(np.asarray(h.exterior.coords))
    return "[ " + ", ".join(_coords(r, to84, digits) for r in rings) + " ]"


def _props(items: Sequence[tuple[str, object]]) -> str:
    return "{ " + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items) + " }"


def _write_geojson(path: Path, name: str, features: Iterable[str]) -> None:
    head = ('{\n"type": "FeatureCollection",\n'
            f'"name": {json.dumps(name)},\n'
            '"crs": { "type": "name", "properties": { "name": '
            '"urn:ogc:def:crs:OGC:1.3:CRS84" } },\n"features": [\n')
    _write_text(path, head + ",\n".join(features) + "\n]\n}\n")


def _write_lsoa_geojson(out: Path, area: _Area, to84: Transformer, gids: list[str]) -> None:
    feats = []
    for k, (code, name, cell, gid) in enumerate(
            zip(area.codes, area.names, area.cells, gids, strict=True)):
        c = cell.centroid
        lon, lat = to84.transform(c.x, c.y)
        props = _props([
            ("OBJECTID", k + 1), ("LSOA11CD", code), ("LSOA11NM", name), ("LSOA11NMW", name),
            ("BNG_E", int(round(c.x))), ("BNG_N", int(round(c.y))),
            ("LONG", round(float(lon), 5)), ("LAT", round(float(lat), 5)),
            ("Shape__Area", round(float(cell.area), 6)),
            ("Shape__Length", round(float(cell.length), 6)), ("GlobalID", gid)])
        if isinstance(cell, shapely.MultiPolygon):
            polys = ", ".join(_polygon_coords(p, to84, 7) for p in cell.geoms)
            geom = f'{{ "type": "MultiPolygon", "coordinates": [ {polys} ] }}'
        else:
            geom = ('{ "type": "Polygon", "coordinates": '
                    f"{_polygon_coords(cell, to84, 7)} }}")
        feats.append(f'{{ "type": "Feature", "properties": {props}, "geometry": {geom} }}')
    _write_geojson(out / DEMO_FILES[0],
                   "LSOA_(Dec_2011)_Boundaries_Super_Generalised_Clipped_(BSC)_EW_V3", feats)


def _write_msoa_geojson(out: Path, area: _Area, to84: Transformer) -> None:
    feats = []
    for code, name, geom in zip(area.msoa_codes, area.msoa_names, area.msoa_geoms, strict=True):
        polys = ", ".join(_polygon_coords(p, to84, 6) for p in geom.geoms)
        g = f'{{ "type": "MultiPolygon", "coordinates": [ {polys} ] }}'
        props = _props([("msoa11cd", code), ("msoa11nm", name)])
        feats.append(f'{{ "type": "Feature", "properties": {props}, "geometry": {g} }}')
    _write_geojson(out / DEMO_FILES[1], "msoa11_boundaries_ew_generalised", feats)


def _write_lookups(out: Path, area: _Area, a: _LsoaAttrs) -> None:
    rows: list[Sequence[object]] = []
    for code, name, m, ld in zip(area.codes, area.names, area.msoa_of, area.lad_of, strict=True):
        rows.append((code, name, area.msoa_codes[m], area.msoa_names[m], area.lad_codes[ld],
                     area.lad_names[ld]))
    _write_csv(out / DEMO_FILES[2],
               ("lsoa11cd", "lsoa11nm", "msoa11cd", "msoa11nm", "lad22cd", "lad22nm"), rows)
    rows = []
    for code, name, ld in zip(area.codes, area.names, area.lad_of, strict=True):
        sc, sn, sh, icb = _SICBL[area.lad_sicbl[ld]]
        ic, iname, ih = _ICB[icb]
        rows.append((name, code, sn, sc, sh, iname, ic, ih, area.lad_names[ld],
                     area.lad_codes[ld]))
    _write_csv(out / DEMO_FILES[3],
               ("lsoa11_name", "lsoa11_code", "sicbl22_name", "sicbl22_code", "sicbl22_code_h",
                "icb22_name", "icb22_code", "icb22_code_h", "ltla22_name", "ltla22_code"),
               rows, quote_all_text=True)
    rows = [(code, r, *_RUC_LABELS[r]) for code, r in zip(area.codes, a.ruc, strict=True)]
    _write_csv(out / DEMO_FILES[4], ("lsoa11_code", "ruc11_code", "ruc", "classification"),
               rows, quote_all_text=True)


def _write_imd(out: Path, area: _Area, a: _LsoaAttrs, ind: dict[str, list[str]],
               msoa: _MsoaAttrs) -> None:
    header = ["lsoa11cd", "lsoa11nm", "lad19cd", "lad19nm", "imd_score", "imd_rank",
              "imd_decile", "income_score_rate_approx", "employment_score_rate_approx"]
    header += [f"{d}_decile" for d in _DOMAINS] + [f"{d}_rank" for d in _DOMAINS]
    header += [f"sub_{d}_decile" for d in _SUBDOMAINS] + [f"sub_{d}_rank" for d in _SUBDOMAINS]
    rows = []
    for i in range(area.n):
        ld = area.lad_of[i]
        row = [area.codes[i], area.names[i], area.lad_codes[ld], area.lad_names[ld],
               f"{a.score[i]:.3f}", str(a.rank[i]), str(a.decile[i]),
               ind["_income_rate"][i], ind["_employment_rate"][i]]
        row += [str(a.ddecile[d][i]) for d in _DOMAINS] + [str(a.drank[d][i]) for d in _DOMAINS]
        row += [str(a.ddecile[d][i]) for d in _SUBDOMAINS]
        row += [str(a.drank[d][i]) for d in _SUBDOMAINS]
        rows.append(row)
    _write_csv(out / DEMO_FILES[5], header, rows)
    _write_csv(out / DEMO_FILES[6], _INDICATOR_COLUMNS,
               zip(*(ind[c] for c in _INDICATOR_COLUMNS), strict=True))
    agg = msoa.imd_agg
    _write_csv(out / DEMO_FILES[7], list(agg), zip(*agg.values(), strict=True))


def _write_life_expectancy(out: Path, area: _Area, msoa: _MsoaAttrs) -> None:
    header = ["msoa11cd", "msoa11nm", "le_birth_male_2015_19", "le_birth_female_2015_19",
              *msoa.other]
    rows = []
    for k, code in enumerate(area.msoa_codes):
        rows.append([code, area.msoa_names[k], _num(msoa.male[k], 1, fixed=True),
                     _num(msoa.female[k], 1, fixed=True),
                     *(msoa.other[c][k] for c in msoa.other)])
    _write_csv(out / DEMO_FILES[8], header, rows)


def _write_population(out: Path, area: _Area, a: _LsoaAttrs, to84: Transformer) -> None:
    _write_csv(out / DEMO_FILES[9], ("lsoa11cd", "population_mid2017"),
               ((c, str(p)) for c, p in zip(area.codes, a.pop2017, strict=True)))
    rows: list[Sequence[object]] = []
    for i in range(area.n):
        ld = area.lad_of[i]
        rows.append((area.codes[i], area.names[i], area.lad_codes[ld], area.lad_names[ld],
                     str(a.pop2015[i]), str(a.pop_0_15[i]), str(a.pop_16_59[i]),
                     str(a.pop_60[i]), str(a.pop_wa[i])))
    _write_csv(out / DEMO_FILES[10],
               ("lsoa11cd", "lsoa11nm", "lad19cd", "lad19nm", "pop_total_mid2015",
                "pop_0_15_mid2015", "pop_16_59_mid2015", "pop_60plus_mid2015",
                "pop_working_age_18_59_64_mid2015"), rows)
    lon, lat = to84.transform(a.pw[:, 0], a.pw[:, 1])
    rows[:] = [(area.codes[i], f"{a.pw[i, 0]:.1f}", f"{a.pw[i, 1]:.1f}", str(a.n_postcodes[i]),
             f"{lon[i]:.6f}", f"{lat[i]:.6f}") for i in range(area.n)]
    _write_csv(out / DEMO_FILES[11],
               ("lsoa11cd", "easting", "northing", "n_postcodes", "lon", "lat"), rows)


_EPRACCUR_COLUMNS = (
    "org_code", "name", "national_grouping", "high_level_health_geography", "address1",
    "address2", "address3", "address4", "address5", "postcode", "open_date", "close_date",
    "status_code", "org_subtype_code", "commissioner", "join_provider_date",
    "left_provider_date", "telephone", "provider_purchaser", "prescribing_setting", "easting",
    "northing", "pqi", "lsoa11cd", "lon", "lat")


def _write_health_services(out: Path, area: _Area, practices: list[_Practice],
                           to84: Transformer) -> None:
    rows = []
    for p in practices:
        ld = area.lad_of[p.lsoa]
        sub = _SICBL[area.lad_sicbl[ld]]
        icb = _ICB[sub[3]]
        if p.xy is None:
            geo = ["", "", "", area.codes[p.lsoa], "", ""]
        else:
            lon, lat = to84.transform(p.xy[0], p.xy[1])
            geo = [f"{p.xy[0]:.1f}", f"{p.xy[1]:.1f}", "10.0", area.codes[p.lsoa],
                   f"{lon:.6f}", f"{lat:.6f}"]
        join = max(p.open_date, "20130401")
        rows.append([p.code, p.name, "Y61", icb[2], *p.address, p.postcode, p.open_date,
                     p.close_date, p.status, "B", sub[2], join, p.close_date, p.telephone,
                     sub[2], str(p.setting), *geo])
    _write_csv(out / DEMO_FILES[12], _EPRACCUR_COLUMNS, rows)

    sites = [("Demoton General Hospital (synthetic)", area.town_a, (400.0, -300.0)),
             ("Synthby Community Hospital (synthetic)", area.town_b, (-250.0, 200.0))]
    ring = [i for i in range(area.n) if not area.in_area[i]]
    rc = area.cells[ring[len(ring) // 3]].representative_point()
    sites.append(("Outerdemo Cottage Hospital (synthetic)", (rc.x, rc.y), (0.0, 0.0)))
    hospitals: list[Sequence[object]] = []
    for name, (x, y), (dx, dy) in sites:
        lon, lat = to84.transform(x + dx, y + dy)
        hospitals.append((name, round(float(lon), 6), round(float(lat), 6)))
    _write_csv(out / DEMO_FILES[13], ("hospital_name", "lon", "lat"), hospitals,
               quote_all_text=True)


def _write_osm(out: Path, osm: _Osm, to84: Transformer) -> None:
    ids = sorted(osm.nodes)
    xy = np.array([osm.nodes[i] for i in ids])
    lon, lat = to84.transform(xy[:, 0], xy[:, 1])
    attrs = f'version="1" timestamp="{_TIMESTAMP}" uid="1" user="healthgap-demo" changeset="1"'
    lines = ["<?xml version='1.0' encoding='UTF-8'?>",
             '<osm version="0.6" generator="healthgap data/demo.py (SYNTHETIC DATA)">',
             f'  <bounds minlat="{lat.min():.7f}" minlon="{lon.min():.7f}" '
             f'maxlat="{lat.max():.7f}" maxlon="{lon.max():.7f}"/>']
    for k, nid in enumerate(ids):
        head = f'  <node id="{nid}" {attrs} lat="{lat[k]:.7f}" lon="{lon[k]:.7f}"'
        tags = osm.node_tags.get(nid)
        if not tags:
            lines.append(head + "/>")
            continue
        lines.append(head + ">")
        lines += [f"    <tag k={quoteattr(t)} v={quoteattr(v)}/>" for t, v in sorted(tags.items())]
        lines.append("  </node>")
    for wid, (refs, tags) in enumerate(osm.ways, start=1):
        lines.append(f'  <way id="{wid}" {attrs}>')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f"    <tag k={quoteattr(t)} v={quoteattr(v)}/>" for t, v in sorted(tags.items())]
        lines.append("  </way>")
    lines.append("</osm>")
    _write_text(out / DEMO_FILES[14], "\n".join(lines) + "\n")


def _write_raster(out: Path, r: _Raster) -> None:
    import rasterio
    from rasterio.transform import from_origin

    path = out / DEMO_FILES[15]
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, cols = r.values.shape
    profile = {"driver": "GTiff", "height": rows, "width": cols, "count": 1,
               "dtype": "float32", "crs": "EPSG:27700",
               "transform": from_origin(r.x0, r.y1, r.cell, r.cell), "nodata": _NODATA,
               "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(r.values, 1)
        dst.update_tags(SYNTHETIC="SYNTHETIC DATA generated by healthgap data/demo.py",
                        UNITS="ug/m3 (NO2-like, synthetic)")

    # the Defra PCM 1 km grid schema: ukgridcode, x, y (cell centres), value
    block = int(round(1_000.0 / r.cell))
    out_rows = []
    for bi in range(rows // block):
        for bj in range(cols // block):
            v = r.values[bi * block:(bi + 1) * block, bj * block:(bj + 1) * block]
            if np.any(v == _NODATA):
                continue
            x = r.x0 + (bj + 0.5) * 1_000.0
            y = r.y1 - (bi + 0.5) * 1_000.0
            code = 9_000_000 + int((y // 1_000) % 1_000) * 1_000 + int((x // 1_000) % 1_000)
            out_rows.append((str(code), str(int(x)), str(int(y)),
                             _num(float(v.astype(float).mean()), 5)))
    _write_csv(out / DEMO_FILES[16], ("ukgridcode", "x", "y", "no22019"), out_rows)


def _write_readme(out: Path, seed: int, area: _Area) -> None:
    text = (
        "SYNTHETIC DATA generated by healthgap data/demo.py — not real\n"
        "\n"
        f"seed: {seed}\n"
        f"ICB: {DEMO_ICB} {DEMO_ICB_NAME}\n"
        f"LSOAs in the ICB: {int(area.in_area.sum())}; edge ring in {NEIGHBOUR_ICB}: "
        f"{int((~area.in_area).sum())}\n"
        f"{LOCATION_NOTE}\n"
        "\n"
        "The files are laid out, named and formatted like the real public data in\n"
        "../shared/data (see its SOURCES.md) so the same readers and\n"
        f"`healthgap build --area {DEMO_ICB} --data <this directory>` run on them.\n"
        "No value here describes any real person, place or service.\n"
        "OSM-style data generated by healthgap; not OpenStreetMap data.\n"
    )
    _write_text(out / README_NAME, text)
