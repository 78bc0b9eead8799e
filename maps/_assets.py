"""Offline assets: the vendored Leaflet and topojson-client, inlined into every page.

Folium links its JavaScript and CSS from CDNs. A page that must open on a locked-down laptop with
no network cannot do that, so healthgap pages carry everything inline: Leaflet's script and style
sheet (its few images turned into ``data:`` URIs), topojson-client, the page style sheet and an SVG
hatch pattern for suppressed values. :func:`remote_resources` finds anything a page would still
fetch from the network; :func:`check_offline` turns that into an error.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from healthgap.errors import OfflineError

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
LEAFLET_VERSION = "1.9.4"
TOPOJSON_CLIENT_VERSION = "3.1.0"
_LEAFLET = VENDOR_DIR / f"leaflet-{LEAFLET_VERSION}"
_TOPOJSON = VENDOR_DIR / f"topojson-client-{TOPOJSON_CLIENT_VERSION}"

VENDORED_SHA256 = {
    "leaflet-1.9.4/leaflet.js": "db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a",
    "leaflet-1.9.4/leaflet.css": "a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6",
    "leaflet-1.9.4/images/layers.png": (
        "1dbbe9d028e292f36fcba8f8b3a28d5e8932754fc2215b9ac69e4cdecf5107c6"
    ),
    "leaflet-1.9.4/images/layers-2x.png": (
        "066daca850d8ffbef007af00b06eac0015728dee279c51f3cb6c716df7c42edf"
    ),
    "leaflet-1.9.4/images/marker-icon.png": (
        "574c3a5cca85f4114085b6841596d62f00d7c892c7b03f28cbfa301deb1dc437"
    ),
    "topojson-client-3.1.0/topojson-client.min.js": (
        "25cd02ae486cc5063e0215a4e4cfb15de83700c87ac48bac4d57dc6aaf3ebb89"
    ),
}
"""SHA-256 of every vendored file, relative to :data:`VENDOR_DIR`."""

HATCH_ID = "hg-hatch"
"""Id of the SVG pattern that fills suppressed / no-data areas on SVG-rendered maps."""

MISSING_GREY = "#bdbdbd"
"""Fill of suppressed / no-data areas where a pattern cannot be used (canvas rendering)."""

TRANSPARENT_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
"""A 1 x 1 transparent PNG, shown instead of basemap tiles that cannot be fetched offline."""

_PAGE_CSS = """
.leaflet-container { font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, Arial,
  sans-serif; background: #f4f4f2; }
.hg-box { background: rgba(255, 255, 255, 0.96); padding: 8px 10px; border-radius: 4px;
  box-shadow: 0 1px 5px rgba(0, 0, 0, 0.35); color: #222; }
.hg-legend { max-width: 320px; }
.hg-legend h4 { margin: 0 0 2px; font-size: 14px; }
.hg-legend .hg-sub { margin: 0 0 6px; color: #444; font-size: 12px; }
.hg-legend .hg-row { display: flex; align-items: center; margin: 2px 0; }
.hg-legend .hg-sw { width: 24px; height: 15px; margin-right: 7px; flex: none;
  border: 1px solid #666; box-sizing: border-box; }
.hg-legend .hg-line { width: 24px; margin-right: 7px; flex: none; }
.hg-legend .hg-dot { width: 12px; height: 12px; margin: 0 13px 0 6px; flex: none;
  border-radius: 50%; border: 1px solid #333; box-sizing: border-box; }
.hg-legend .hg-n { color: #666; margin-left: 4px; }
.hg-legend .hg-note { margin-top: 6px; color: #444; font-size: 12px; }
.hg-hatch { background: repeating-linear-gradient(45deg, #969696 0 2px, #f0f0f0 2px 5px); }
.hg-title { max-width: 46vw; }
.hg-title h1 { margin: 0; font-size: 16px; }
.hg-title p { margin: 2px 0 0; font-size: 12px; color: #444; }
.hg-title a { color: #005eb8; }
.hg-banner { position: absolute; top: 0; left: 50%; transform: translateX(-50%); z-index: 1001;
  background: #b10026; color: #fff; font: bold 15px/1.2 system-ui, Arial, sans-serif;
  letter-spacing: 0.08em; padding: 5px 16px; border-radius: 0 0 5px 5px; pointer-events: none;
  white-space: nowrap; }
.leaflet-control-attribution { max-width: 55vw; white-space: normal; }
.hg-code { color: #555; }
.hg-cmp { color: #444; }
.hg-noci { color: #555; font-size: 12px; }
.hg-charts { max-width: min(560px, 60vw); max-height: 70vh; overflow: auto; }
.hg-charts summary { cursor: pointer; font-weight: bold; }
.hg-charts figure { margin: 8px 0 0; }
.hg-charts figcaption { font-size: 12px; color: #444; }
.hg-charts svg { max-width: 100%; height: auto; }
.leaflet-tooltip { font-size: 13px; }
.hg-fold > summary { cursor: pointer; list-style-position: outside; }
.hg-fold > summary h4 { display: inline; }
.hg-csv { margin: 6px 0 0; }
.hg-csv button, .hg-search input { font: inherit; }
.hg-search input { width: 15em; padding: 3px 5px; }
.hg-search .hg-found { font-size: 12px; color: #444; margin-top: 2px; }
.leaflet-tooltip.hg-label { background: rgba(255, 255, 255, 0.75); border: 0; box-shadow: none;
  padding: 0 3px; font-weight: 600; color: #111; }
.leaflet-tooltip.hg-label::before { display: none; }
.leaflet-tooltip.hg-label-area { font-weight: 400; font-size: 11px; }
.leaflet-tooltip.hg-label-ward { font-weight: 500; font-style: italic; font-size: 12px; }
.hg-empty { font-weight: bold; color: #222; }
a:focus, button:focus, input:focus, summary:focus,
.leaflet-control-layers-toggle:focus { outline: 3px solid #ffbf47; outline-offset: 1px; }
@media (max-width: 600px) {
  .hg-title { max-width: 62vw; padding: 4px 6px; }
  .hg-title h1 { font-size: 13px; }
  .hg-title p { display: none; }
  .hg-legend { max-width: 70vw; max-height: 40vh; overflow: auto; padding: 4px 6px; }
  .hg-search { padding: 3px 4px; }
  .hg-search label { position: absolute; width: 1px; height: 1px; overflow: hidden;
    clip: rect(0 0 0 0); white-space: nowrap; }
  .hg-search br { display: none; }
  .hg-search input { width: 8.5em; }
  .hg-banner { white-space: normal; width: 100%; font-size: 11px; padding: 3px 6px;
    border-radius: 0; text-align: center; box-sizing: border-box; }
  .hg-charts { max-width: 80vw; }
  .leaflet-control-attribution { max-width: 100vw; font-size: 9px; }
}
@media print {
  @page { size: A4 landscape; margin: 8mm; }
  html, body { width: 281mm; height: 190mm; margin: 0; }
  .folium-map { position: absolute !important; left: 0; top: 0; width: 185mm !important;
    height: 190mm !important; }
  .leaflet-control-zoom, .leaflet-control-layers, .hg-search, .hg-csv,
  .hg-charts, .hg-banner { display: none !important; }
  .leaflet-top.leaflet-left, .leaflet-bottom.leaflet-right { position: fixed; left: 190mm;
    width: 88mm; right: auto; }
  .leaflet-top.leaflet-left { top: 0; }
  .leaflet-bottom.leaflet-right { top: 50mm; bottom: auto; }
  .leaflet-top.leaflet-left .leaflet-control, .leaflet-bottom.leaflet-right .leaflet-control {
    float: none; margin: 0 0 3mm; clear: both; box-shadow: none; }
  .hg-title, .hg-legend { max-width: none; }
  .leaflet-control-attribution { max-width: none; }
  .leaflet-control-scale { display: none; }
}
"""

_HATCH_SVG = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false">'
    f'<defs><pattern id="{HATCH_ID}" patternUnits="userSpaceOnUse" width="6" height="6" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f0f0f0"/>'
    '<line x1="1.5" y1="0" x2="1.5" y2="6" stroke="#969696" stroke-width="3"/></pattern></defs>'
    "</svg>"
)


_PAGE_JS = r"""
var hg = (function () {
  "use strict";
  var WARD_ZOOM = 12;
  var TYPES = {P: "Polygon", M: "MultiPolygon", L: "LineString", N: "MultiLineString",
               T: "Point"};
  var ENT = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"};
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return ENT[c]; });
  }
  function num(v, dec) {
    return Number(v).toLocaleString("en-GB",
      {minimumFractionDigits: dec, maximumFractionDigits: dec});
  }
  function missing(v) { return v === null || v === undefined; }
  /* Unpack a healthgap layer (columns + TopoJSON arcs) into a GeoJSON FeatureCollection. */
  function features(d) {
    var geoms = [], keys = Object.keys(d.p);
    for (var i = 0; i < d.t.length; i++) {
      var ch = d.t.charAt(i), props = {};
      for (var j = 0; j < keys.length; j++) { props[keys[j]] = d.p[keys[j]][i]; }
      var g = {type: TYPES[ch] || null, id: d.id[i], properties: props};
      if (ch === "T") { g.coordinates = d.g[i]; } else if (TYPES[ch]) { g.arcs = d.g[i]; }
      geoms.push(g);
    }
    var topo = {type: "Topology", transform: d.tr, arcs: d.a,
                objects: {a: {type: "GeometryCollection", geometries: geoms}}};
    return topojson.feature(topo, topo.objects.a);
  }
  function style(spec) {
    return function (f) {
      var c = f.properties.c;
      if (spec.classes.length === 1) { return spec.classes[0]; }
      return (missing(c) || c < 0) ? spec.missing : spec.classes[c];
    };
  }
  function tip(spec) {
    return function (layer) {
      var p = layer.feature.properties, h = "";
      if (spec.title && !missing(p[spec.title])) { h += "<b>" + esc(p[spec.title]) + "</b> "; }
      if (spec.code) { h += '<span class="hg-code">' + esc(layer.feature.id) + "</span>"; }
      spec.rows.forEach(function (r) {
        var v = p[r.key], s;
        if (missing(v)) { s = spec.missing; }
        else if (r.dec === undefined || r.dec === null) { s = esc(v); }
        else {
          s = num(v, r.dec) + (r.units ? " " + esc(r.units) : "");
          if (r.ci && !missing(p[r.ci[0]]) && !missing(p[r.ci[1]])) {
            s += " (" + esc(r.ciLabel) + " " + num(p[r.ci[0]], r.dec) + "\u2013" +
                 num(p[r.ci[1]], r.dec) + ")";
          } else if (r.noCi) {
            s += ' <span class="hg-noci">(' + esc(r.noCi) + ")</span>";
          }
        }
        h += (h ? "<br>" : "") + esc(r.label) + ": " + s;
      });
      (spec.extra || []).forEach(function (e) {
        h += '<br><span class="hg-cmp">' + esc(e) + "</span>";
      });
      return h;
    };
  }
  function layer(d, spec) {
    var st = style(spec.style), lyr;
    var opts = {
      style: st,
      interactive: spec.interactive,
      onEachFeature: function (f, l) {
        if (spec.tip) { l.bindTooltip(tip(spec.tip), {sticky: !spec.points}); }
        if (spec.interactive && !spec.points) {
          l.on("mouseover", function (e) { e.target.setStyle({weight: 2.5, color: "#111"}); });
          l.on("mouseout", function (e) { lyr.resetStyle(e.target); });
        }
      }
    };
    if (spec.points) { opts.pointToLayer = function (f, ll) { return L.circleMarker(ll, st(f)); }; }
    if (spec.canvas) { opts.renderer = L.canvas({padding: 0.5}); }
    lyr = L.geoJson(features(d), opts);
    registry.push({layer: lyr, spec: spec, data: d});
    return lyr;
  }
  var registry = [];
  function cell(v) {
    if (missing(v)) { return ""; }
    var t = String(v);
    return /[",\n]/.test(t) ? "\"" + t.replace(/"/g, "\"\"") + "\"" : t;
  }
  /* A CSV of what the page draws: every data layer's rows, with the tooltip's labels. */
  function csv() {
    var lines = [];
    registry.forEach(function (r) {
      if (!r.spec.tip) { return; }
      var t = r.spec.tip, head = ["layer", "code"], keys = [];
      if (t.title) { head.push("name"); keys.push(t.title); }
      t.rows.forEach(function (row) {
        head.push(row.label + (row.units ? " (" + row.units + ")" : ""));
        keys.push(row.key);
        if (row.ci) {
          head.push(row.ciLabel + " lower"); keys.push(row.ci[0]);
          head.push(row.ciLabel + " upper"); keys.push(row.ci[1]);
        }
      });
      if (r.spec.classLabels) { head.push("map class"); }
      if (!lines.length) { lines.push(head.map(cell).join(",")); }
      for (var i = 0; i < r.data.id.length; i++) {
        var row = [r.spec.name, r.data.id[i]];
        keys.forEach(function (k) { row.push(r.data.p[k] ? r.data.p[k][i] : null); });
        if (r.spec.classLabels) {
          var c = r.data.p.c ? r.data.p.c[i] : null;
          row.push(missing(c) || c < 0 ? t.missing : r.spec.classLabels[c]);
        }
        lines.push(row.map(cell).join(","));
      }
    });
    return lines.join("\r\n") + "\r\n";
  }
  function download(name) {
    var blob = new Blob(["\ufeff" + csv()], {type: "text/csv;charset=utf-8"});
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
  }
  function centre(l) { return l.getBounds ? l.getBounds().getCenter() : l.getLatLng(); }
  var INDEX = null;  /* the atlas's search.js, loaded after this script: read in tools() */
  function bboxBounds(b) { return L.latLngBounds([b[0], b[1]], [b[2], b[3]]); }
  /* Names on the map, most important first: places, neighbourhoods, wards (from WARD_ZOOM),
     then small areas in view (from AREA_ZOOM). A name that would overlap one already written
     is left out, so no two labels collide. */
  function labels(map, areaZoom) {
    var group = L.layerGroup().addTo(map);
    function candidates(z, view) {
      var out = [];
      registry.forEach(function (r) {
        var nameKey = r.spec.tip ? r.spec.tip.title : (r.spec.labels !== null ? "n" : null);
        var from = r.spec.tip ? areaZoom : r.spec.labels;
        if (!nameKey || from === null || from === undefined || z < from || r.spec.points) {
          return;
        }
        if (!map.hasLayer(r.layer)) { return; }
        var rank = r.spec.tip ? 3 : (from <= 9 ? 0 : 1);
        r.layer.eachLayer(function (l) {
          var name = l.feature.properties[nameKey], at = centre(l);
          if (missing(name) || !view.contains(at)) { return; }
          out.push({name: String(name), at: at, rank: rank,
                    cls: r.spec.tip ? "hg-label hg-label-area" : "hg-label"});
        });
      });
      if (INDEX && INDEX.wards && z >= WARD_ZOOM) {
        INDEX.wards.forEach(function (w) {
          var at = L.latLng(w[2], w[3]);
          if (view.contains(at)) {
            out.push({name: w[0], at: at, rank: 2, cls: "hg-label hg-label-ward"});
          }
        });
      }
      out.sort(function (a, b) { return a.rank - b.rank; });
      return out;
    }
    function overlaps(a, b) {
      return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    }
    function redraw() {
      group.clearLayers();
      var z = map.getZoom(), view = map.getBounds(), placed = [], n = 0;
      candidates(z, view).forEach(function (c) {
        if (n >= 250) { return; }
        var t = L.tooltip({permanent: true, direction: "center", className: c.cls,
                           interactive: false}).setLatLng(c.at).setContent(esc(c.name));
        group.addLayer(t);
        var el = t.getElement(), box = el ? el.getBoundingClientRect() : null;
        if (!box) { return; }
        var pad = {left: box.left - 2, right: box.right + 2, top: box.top - 1,
                   bottom: box.bottom + 1};
        if (placed.some(function (p) { return overlaps(p, pad); })) {
          group.removeLayer(t);
          return;
        }
        placed.push(pad);
        n += 1;
      });
    }
    map.on("zoomend moveend overlayadd overlayremove", redraw);
    redraw();
  }
  var POSTCODE = /^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$/;
  /* Entries of the atlas index (wards, small areas, neighbourhoods, practices). */
  function indexEntries() {
    var out = [];
    if (!INDEX) { return out; }
    (INDEX.wards || []).forEach(function (w) {
      out.push({code: w[1], name: w[0], kind: "ward", bounds: bboxBounds(w[4])});
    });
    [["msoa", "small area (MSOA)"], ["lsoa", "small area (LSOA)"],
     ["neighbourhood", "neighbourhood"]].forEach(function (k) {
      (INDEX[k[0]] || []).forEach(function (a) {
        out.push({code: a[1], name: a[0], kind: k[1], bounds: bboxBounds(a[2])});
      });
    });
    (INDEX.practices || []).forEach(function (p) {
      out.push({code: p[1], name: p[0], kind: "GP practice", point: L.latLng(p[2], p[3])});
    });
    return out;
  }
  function findPostcode(q) {
    var m = POSTCODE.exec(q.toUpperCase().trim());
    if (!m || !INDEX || !INDEX.postcodes) { return null; }
    var key = m[1] + m[2], found = null;
    Object.keys(INDEX.postcodes).forEach(function (i) {
      if (!found && (" " + INDEX.postcodes[i] + " ").indexOf(" " + key + " ") >= 0) {
        var a = INDEX.lsoa[Number(i)];
        found = {code: a[1], name: a[0], bounds: bboxBounds(a[2]), kind: "small area (LSOA)",
                 postcode: m[1] + " " + m[2]};
      }
    });
    return found || {none: m[1] + " " + m[2]};
  }
  /* Find a ward, postcode, small area, neighbourhood, place or practice and zoom to it. */
  function search(map) {
    var entries = [];
    registry.forEach(function (r) {
      var key = r.spec.tip ? r.spec.tip.title : (r.spec.labels !== null ? "n" : null);
      r.layer.eachLayer(function (l) {
        var name = key ? l.feature.properties[key] : null;
        entries.push({code: String(l.feature.id), name: missing(name) ? "" : String(name),
                      layer: l, owner: r});
      });
    });
    entries = entries.concat(indexEntries());
    if (!entries.length) { return; }
    var id = "hg-find-" + Math.random().toString(36).slice(2), opts = "";
    var seen = {};
    entries.forEach(function (e) {
      var text = e.name ? e.name + " (" + e.code + ")" : e.code;
      if (!seen[text]) { seen[text] = 1; opts += '<option value="' + esc(text) + '">'; }
    });
    var what = INDEX ? "Find a street postcode, ward, area or practice"
                     : "Find a place or area";
    var box = control(map, "topleft", "hg-box hg-search",
      '<label for="' + id + '">' + what + '</label><br>' +
      '<input id="' + id + '" type="search" list="' + id + '-list" autocomplete="off" ' +
      'placeholder="' + (INDEX ? "postcode, ward or name" : "name or code") + '">' +
      '<datalist id="' + id + '-list">' + opts + '</datalist>' +
      '<div class="hg-found" role="status" aria-live="polite"></div>');
    var div = box.getContainer(), input = div.querySelector("input"),
        out = div.querySelector(".hg-found");
    function show(hit, text) {
      if (hit.owner && !map.hasLayer(hit.owner.layer)) { map.addLayer(hit.owner.layer); }
      if (hit.layer && hit.layer.getBounds) {
        map.fitBounds(hit.layer.getBounds(), {maxZoom: 14, animate: false});
      } else if (hit.layer) { map.setView(hit.layer.getLatLng(), 14, {animate: false}); }
      else if (hit.bounds) { map.fitBounds(hit.bounds, {maxZoom: 15, animate: false}); }
      else if (hit.point) { map.setView(hit.point, 15, {animate: false}); }
      if (hit.layer && hit.layer.getTooltip()) { hit.layer.openTooltip(centre(hit.layer)); }
      out.textContent = text;
    }
    function go() {
      var q = input.value.trim().toLowerCase(), m = /\(([^()]+)\)\s*$/.exec(q), hit = null;
      if (!q) { return; }
      var pc = findPostcode(q);
      if (pc && pc.none) {
        out.textContent = "Postcode " + pc.none + " is not in this area";
        return;
      }
      if (pc) {
        show(pc, "Postcode " + pc.postcode + " is in " + pc.kind + " " + pc.name + " (" +
             pc.code + ")");
        return;
      }
      var code = m ? m[1] : q;
      var tests = [function (e) { return e.code.toLowerCase() === code; },
                   function (e) { return e.name.toLowerCase() === q; },
                   function (e) { return e.name && e.name.toLowerCase().indexOf(q) === 0; },
                   function (e) { return e.name && e.name.toLowerCase().indexOf(q) > 0; }];
      tests.forEach(function (t) {
        entries.forEach(function (e) { if (!hit && t(e)) { hit = e; } });
      });
      if (!hit) { out.textContent = "Nothing found for “" + input.value + "”"; return; }
      var label = hit.name ? hit.name + " (" + hit.code + ")" : hit.code;
      show(hit, "Showing " + (hit.kind ? hit.kind + " " : "") + label);
    }
    input.addEventListener("change", go);
    input.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(); } });
  }
  function tools(map, areaZoom) {
    /* Keyboard order: the controls (search, legend, layers) before the areas, each of which
       Leaflet makes focusable to show its tooltip. Controls are placed by CSS, not DOM order. */
    var box = map.getContainer(), cc = box.querySelector(".leaflet-control-container");
    if (cc) { box.insertBefore(cc, box.firstChild); }
    INDEX = window.HG_INDEX || null;
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", "Map: " + (document.title || "map") +
                     ". The data it draws can be downloaded as a table (CSV) from the legend.");
    search(map);
    labels(map, areaZoom);
    var name = (document.title || "map").replace(/[^A-Za-z0-9]+/g, "-")
      .replace(/^-|-$/g, "").toLowerCase().slice(0, 80) + ".csv";
    document.querySelectorAll(".hg-download").forEach(function (b) {
      b.addEventListener("click", function () { download(name); });
    });
    if (window.matchMedia("(max-width: 600px)").matches) {
      document.querySelectorAll("details.hg-fold").forEach(function (d) { d.open = false; });
    }
    var fitted = map.getBounds();
    window.addEventListener("beforeprint", function () {
      map.invalidateSize(); map.fitBounds(fitted);
    });
  }
  function control(map, position, cls, html) {
    var c = L.control({position: position});
    c.onAdd = function () {
      var div = L.DomUtil.create("div", cls);
      div.innerHTML = html;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    c.addTo(map);
    return c;
  }
  return {esc: esc, num: num, features: features, style: style, tip: tip, layer: layer,
          control: control, csv: csv, tools: tools, registry: registry};
})();
"""


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@functools.cache
def leaflet_js() -> str:
    """Return Leaflet's script (vendored, unchanged)."""
    return _read(_LEAFLET / "leaflet.js")


@functools.cache
def topojson_js() -> str:
    """Return topojson-client's script (vendored, unchanged)."""
    return _read(_TOPOJSON / "topojson-client.min.js")


@functools.cache
def leaflet_css() -> str:
    """Return Leaflet's style sheet with its image references turned into ``data:`` URIs."""
    css = _read(_LEAFLET / "leaflet.css")

    def inline(match: re.Match[str]) -> str:
        ref = match.group(1)
        image = _LEAFLET / ref
        payload = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{payload})"

    return re.sub(r"url\((images/[A-Za-z0-9_.-]+\.png)\)", inline, css)


def page_css() -> str:
    """Return the healthgap style sheet (legend, title, banner, chart panel)."""
    return _PAGE_CSS


def page_js() -> str:
    """Return the healthgap page script (``hg.layer``, ``hg.tip``, ``hg.control``, ...)."""
    return _PAGE_JS


def hatch_svg() -> str:
    """Return a hidden inline SVG that defines the hatch pattern for suppressed values."""
    return _HATCH_SVG


@functools.cache
def head_html() -> str:
    """Return the ``<style>`` and ``<script>`` blocks every page carries in its head."""
    return (
        f"<style>{leaflet_css()}</style>\n<style>{page_css()}</style>\n"
        f"<script>{leaflet_js()}</script>\n<script>{topojson_js()}</script>\n"
        f"<script>{page_js()}</script>\n"
    )


def vendored_files() -> dict[str, str]:
    """Return the SHA-256 of every vendored file as found on disk.

    Returns
    -------
    dict
        Path relative to :data:`VENDOR_DIR` → hex digest, for the files in
        :data:`VENDORED_SHA256`.
    """
    return {
        rel: hashlib.sha256((VENDOR_DIR / rel).read_bytes()).hexdigest()
        for rel in VENDORED_SHA256
    }


_SRC_HREF = re.compile(
    r"<(script|link|img|iframe|source|embed|object)\b[^>]*?\b(?:src|href|data)\s*=\s*"
    r"[\"']?\s*((?:https?:)?//[^\"'\s>]+)",
    re.IGNORECASE,
)
_CSS_URL = re.compile(r"url\(\s*[\"']?\s*((?:https?:)?//[^)\"'\s]+)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import\s+[\"']((?:https?:)?//[^\"']+)", re.IGNORECASE)


def remote_resources(html: str) -> list[str]:
    """List the network resources an HTML page would load.

    Looks at ``src``/``href``/``data`` attributes of the tags that load resources (``script``,
    ``link``, ``img``, ``iframe``, ``source``, ``embed``, ``object``) and at CSS ``url(...)`` and
    ``@import``. Plain ``<a href>`` links are not resources and are not listed.

    Parameters
    ----------
    html
        The page.

    Returns
    -------
    list of str
        The remote URLs, in order of appearance, without repeats.
    """
    found: list[str] = []
    for pattern, group in ((_SRC_HREF, 2), (_CSS_URL, 1), (_CSS_IMPORT, 1)):
        for match in pattern.finditer(html):
            url = match.group(group)
            if url not in found:
                found.append(url)
    return found


def check_offline(html: str, *, page: str) -> None:
    """Raise if a page would load anything from the network.

    Parameters
    ----------
    html
        The rendered page.
    page
        The page's name or file, used in the message.

    Raises
    ------
    OfflineError
        Naming every remote resource found.
    """
    remote = remote_resources(html)
    if remote:
        more = f", … and {len(remote) - 5} more" if len(remote) > 5 else ""
        shown = ", ".join(remote[:5]) + more
        raise OfflineError(
            f"{page}: the page would load {len(remote)} resource(s) from the network ({shown}); "
            "healthgap pages must open offline, so vendor the file in maps/static/vendor/ and "
            "inline it (see maps/_assets.py), or drop the plugin that adds it"
        )
