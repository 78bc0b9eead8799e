"""Benchmark: page size of the all-England LSOA IMD map, ours against a naive folium choropleth.

Both maps are built in the same run from the same frame (the ONS super-generalised LSOA 2011
boundaries of the 32,844 English LSOAs with the IMD 2019 score):

* naive: ``folium.Choropleth`` of the raw frame reprojected to EPSG:4326 (folium's usual recipe:
  full-precision coordinates, every property, every shared boundary twice, CDN scripts);
* ours: ``maps.choropleth.choropleth`` (coverage simplification, shared arcs stored once in a
  quantized TopoJSON, short properties, one style per class, assets inlined for offline use).

The encoder alone is also timed against a fair peer, the ``topojson`` package (PyPI; ``make
bench`` installs it), on the same simplified EPSG:4326 geometries with the same two properties
(code, score) and equal quantisation: our grid is ``10**-precision`` degrees (precision 4, about
10 m, for all of England); topojson's ``prequantize=q`` divides the bounding box into ``q`` steps
per axis, and ``q`` is chosen so its step is no coarser than ours on either axis (so the peer is
at least as precise as we are). Both are serialised the same way (compact JSON).

It also prints the size of an ICS map (Frimley, 440 LSOAs, with place and system outlines) and,
with ``--browser``, how long headless Chromium takes to draw our England page offline.
Targets: ICS map <= 2 MB, England LSOA map <= 8 MB.

Usage::

    .venv/bin/python benchmarks/bench_map_size.py [--data DIR] [--browser] [--keep DIR]
                                                  [--skip-topojson]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd

REPO = Path(__file__).resolve().parents[1]

from healthgap.maps._assets import remote_resources  # noqa: E402
from healthgap.maps._geometry import to_js, topology, web_geometries  # noqa: E402
from healthgap.maps._layers import PageOptions, default_precision  # noqa: E402
from healthgap.maps.choropleth import choropleth, reworded  # noqa: E402

FRIMLEY = "E54000034"
MB = 1_000_000


def england(data: Path) -> gpd.GeoDataFrame:
    gdf = gpd.read_file(data / "geography" / "lsoa11_boundaries_ew_super_generalised.geojson",
                        columns=["LSOA11CD", "LSOA11NM"], engine="pyogrio")
    gdf = gdf[gdf["LSOA11CD"].str.startswith("E")]
    gdf = gdf.rename(columns={"LSOA11CD": "lsoa_code", "LSOA11NM": "lsoa_name"})
    gdf = gdf.set_index("lsoa_code").to_crs(27700)
    imd = pd.read_csv(data / "imd2019" / "imd2019_lsoa11_england.csv",
                      usecols=["lsoa11cd", "imd_score"]).set_index("lsoa11cd")
    imd.index.name = "lsoa_code"
    return gdf.join(imd)


def naive(gdf: gpd.GeoDataFrame) -> str:
    web = gdf.reset_index().to_crs(4326)
    m = folium.Map(location=[52.8, -1.6], zoom_start=7)
    folium.Choropleth(
        geo_data=web,
        data=web,
        columns=["lsoa_code", "imd_score"],
        key_on="feature.properties.lsoa_code",
        fill_color="YlGnBu",
        legend_name="IMD 2019 score",
    ).add_to(m)
    return m.get_root().render()


def timed(label: str, fn):  # noqa: ANN001, ANN201
    t = time.perf_counter()
    out = fn()
    print(f"  {label}: {time.perf_counter() - t:.1f} s")
    return out


def encoder_peers(gdf: gpd.GeoDataFrame) -> None:
    """Time our TopoJSON encoder and the topojson package on the same geometries."""
    import topojson

    precision = default_precision(len(gdf))
    geoms = timed("coverage simplification + reprojection (shared input)",
                  lambda: web_geometries(gdf))
    props = [{"c": code, "v": None if pd.isna(v) else round(float(v), 1)}
             for code, v in zip(gdf.index, gdf["imd_score"], strict=True)]
    minx, miny, maxx, maxy = geoms.total_bounds
    step = 10.0 ** -precision
    q = math.ceil(max(maxx - minx, maxy - miny) / step) + 1
    frame = gpd.GeoDataFrame({"c": [p["c"] for p in props], "v": [p["v"] for p in props]},
                             geometry=geoms.values, crs=geoms.crs)

    # wall and CPU time (both encoders run on one core; CPU time is immune to other load)
    t, c = time.perf_counter(), time.process_time()
    ours = to_js(topology(geoms, props, precision=precision))
    t_ours, c_ours = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    topo = topojson.Topology(frame, prequantize=q, topology=True)
    peer = to_js(json.loads(str(topo.to_json())))
    t_peer, c_peer = time.perf_counter() - t, time.process_time() - c
    n_ours = len(json.loads(ours)["arcs"])
    n_peer = len(json.loads(peer)["arcs"])
    print(f"TopoJSON encoders on {len(gdf):,} simplified LSOAs, grid {step:g} degrees "
          f"(topojson prequantize={q:,}: x step {(maxx - minx) / (q - 1):.3g}, "
          f"y step {(maxy - miny) / (q - 1):.3g} degrees):")
    print(f"  healthgap maps._geometry.topology : {t_ours:5.1f} s ({c_ours:5.1f} s CPU)  "
          f"{len(ours.encode()) / MB:6.2f} MB  {n_ours:,} arcs")
    label = f"topojson {topojson.__version__} Topology.to_json"
    print(f"  {label:<33} : {t_peer:5.1f} s ({c_peer:5.1f} s CPU)  "
          f"{len(peer.encode()) / MB:6.2f} MB  {n_peer:,} arcs")
    print(f"  ours / topojson                   : time {t_ours / t_peer:.2f}x "
          f"(CPU {c_ours / c_peer:.2f}x), "
          f"size {len(ours) / len(peer):.2f}x")


def browser_draw_seconds(path: Path) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium",
                              args=["--no-sandbox", "--disable-gpu"])
        ctx = b.new_context(viewport={"width": 1280, "height": 900}, offline=True)
        page = ctx.new_page()
        t = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_selector(".hg-legend", timeout=120_000)
        page.wait_for_function("document.querySelectorAll('canvas').length > 0",
                               timeout=120_000)
        seconds = time.perf_counter() - t
        b.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--browser", action="store_true",
                        help="also time headless Chromium drawing our England page")
    parser.add_argument("--keep", type=Path, default=None, help="write the pages here")
    parser.add_argument("--skip-topojson", action="store_true",
                        help="leave out the topojson package peer")
    args = parser.parse_args()

    print("reading England LSOAs and IMD 2019 ...")
    gdf = timed("read", lambda: england(args.data))
    print(f"  {len(gdf):,} LSOAs")

    print("naive folium.Choropleth (raw frame in EPSG:4326):")
    naive_html = timed("build + render", lambda: naive(gdf))
    print("healthgap maps.choropleth:")
    imd = reworded("imd_score", label="IMD 2019 score")
    ours_html = timed("build + render", lambda: choropleth(
        gdf, "imd_score", indicator=imd).get_root().render())

    lookup = pd.read_csv(
        args.data / "geography" / "lsoa11_sicbl22_icb22_ltla22_lookup_england.csv"
    )
    lookup = lookup[lookup["icb22_code"] == FRIMLEY].set_index("lsoa11_code")
    ics = gdf.loc[lookup.index].join(lookup[["ltla22_code", "ltla22_name"]])
    places = ics.rename(columns={"ltla22_code": "place_code", "ltla22_name": "place_name"})[
        ["place_code", "place_name", "geometry"]].dissolve(by="place_code")
    system = ics[["geometry"]].dissolve().set_index(pd.Index([FRIMLEY], name="system_code"))
    print(f"ICS map (Frimley, {len(ics)} LSOAs, place and system outlines):")
    ics_html = timed("build + render", lambda: choropleth(
        ics, "imd_score", indicator=imd,
        page=PageOptions(boundaries=[places, system])).get_root().render())

    sizes = {name: len(text.encode("utf-8")) / MB
             for name, text in (("naive", naive_html), ("ours", ours_html), ("ics", ics_html))}
    print()
    print(f"England LSOA IMD map, naive folium : {sizes['naive']:6.2f} MB "
          f"({len(remote_resources(naive_html))} CDN resources)")
    print(f"England LSOA IMD map, healthgap    : {sizes['ours']:6.2f} MB "
          f"({len(remote_resources(ours_html))} remote resources)  target <= 8 MB")
    print(f"  ratio naive / ours               : {sizes['naive'] / sizes['ours']:6.1f} x")
    print(f"ICS (Frimley) map, healthgap       : {sizes['ics']:6.2f} MB  target <= 2 MB")
    if not args.skip_topojson:
        print()
        encoder_peers(gdf)

    with tempfile.TemporaryDirectory(prefix="healthgap-bench-") as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        (out / "england_naive.html").write_text(naive_html, encoding="utf-8")
        (out / "england_ours.html").write_text(ours_html, encoding="utf-8")
        (out / "ics_ours.html").write_text(ics_html, encoding="utf-8")
        if args.keep:
            print(f"pages written to {out}")
        if args.browser:
            seconds = browser_draw_seconds(out / "england_ours.html")
            print(f"headless Chromium, offline, England page loaded and drawn: {seconds:.1f} s")


if __name__ == "__main__":
    main()
