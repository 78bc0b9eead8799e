"""The what-if atlas page: before, after and difference maps of access, and the summary in words.

Self-contained: plain Leaflet (vendored, inlined by :mod:`maps._assets`) with three maps whose
views move together. Every number on the page is read from the ``whatif_*`` layers the build
holds (written by ``healthgap whatif``; ``services.whatif.write_page`` reads them and calls
:func:`write_whatif_page`), so the page says what the GeoPackage says. Labels and
units come from :mod:`geo.indicators`.

Colours: the before and after maps use the access map's own classes and colours (the same
classification of the build's drive times, :func:`access_scale`), so a colour means the same
minutes on both pages; the difference map is diverging around zero (red = longer than before,
blue = shorter). An area without a routed time is grey and says why in its tooltip. Practices
are named (codes in brackets); the page names the area and the travel mode, and links to the
atlas index and the access map (which links back).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo.indicators import describe
from healthgap.maps._assets import check_offline, leaflet_css, leaflet_js
from healthgap.maps._classify import classify, grammar_palette

PAGE_NAME = "whatif.html"
_DIV = ["#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b"]
_GREY = "#bdbdbd"


def access_scale(times: pd.Series, column: str) -> dict[str, Any]:
    """Return the access map's classes of ``column``: upper bounds, colours and labels.

    The same call the access map makes (:func:`maps._classify.classify` with the ``auto`` rule
    and five classes, the catalogue's direction), so the what-if page colours a time exactly
    as the access map does. Values beyond the last bound (a closure can lengthen times) fall
    in the last class.
    """
    values = pd.Series(times, dtype=float)
    classes = classify(values, column=column, decimals=1)
    colours = grammar_palette(classes.k, describe(column).direction)
    bounds = [float(b) for b in (classes.bins or classes.categories or [])]
    return {"breaks": bounds[:-1], "colours": colours, "labels": classes.labels}


def _div_breaks(values: np.ndarray) -> list[float]:
    """Return symmetric breaks around zero for a difference."""
    v = np.abs(values[np.isfinite(values)])
    top = float(v.max()) if len(v) and v.max() > 0 else 1.0
    a = round(top / 3.0, 1) or 0.1
    return [-a, -0.05, 0.05, a]


def _feature_collection(frame: gpd.GeoDataFrame, columns: list[str]) -> dict[str, Any]:
    """Return GeoJSON (EPSG:4326 copy) with the given properties."""
    wgs = frame[[*columns, "geometry"]].to_crs("EPSG:4326")
    wgs["geometry"] = wgs.geometry.simplify(0.0002)
    return json.loads(wgs.reset_index().to_json(na="null", drop_id=True))


def whatif_page(
    lsoa: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    scenario: dict[str, Any],
    sentences: list[str],
    method: str,
    shares: pd.DataFrame | None = None,
    kind: str = "gp",
    area_name: str = "",
    scale: dict[str, Any] | None = None,
    practice_names: dict[str, str] | None = None,
    access_href: str | None = "access-gp.html",
) -> str:
    """Return the what-if page as HTML.

    Parameters
    ----------
    lsoa
        The ``whatif_lsoa`` layer (EPSG:27700), indexed by LSOA code.
    facilities
        The ``whatif_facilities`` layer (the changed facilities and their ``action``).
    scenario
        The resolved scenario (its ``name`` is the title).
    sentences
        The summary in words.
    method
        ``network`` or ``straight_line_estimate`` (then the page says it is an estimate).
    shares
        The ``whatif_shares`` table, shown under the maps.
    kind
        The facility kind to map (the first kind the scenario changed if absent).
    area_name
        The build's area, named in the title.
    scale
        The access map's classes (:func:`access_scale` of the build's ``<kind>_time_min``);
        default: the same rule applied to the before and after times.
    practice_names
        Facility code → name, for tooltips and the summary (codes alone otherwise).
    access_href
        The access map this page changes (linked), or None.
    """
    lsoa = lsoa[lsoa["in_area"].astype(bool)]
    kinds = [c[: -len("_time_min_before")] for c in lsoa.columns
             if c.endswith("_time_min_before")]
    if kind not in kinds:
        kind = kinds[0]
    cols = {w: f"{kind}_time_min_{w}" for w in ("before", "after", "change")}
    name_col = ["lsoa_name"] if "lsoa_name" in lsoa else []
    gj = _feature_collection(lsoa, [*name_col, "population", *cols.values(),
                                    f"{kind}_nearest_code_before",
                                    f"{kind}_nearest_code_after", "access_reason"])
    fac_gj = json.loads(facilities.to_crs("EPSG:4326").to_json(na="null", drop_id=True))
    both = np.concatenate([lsoa[cols["before"]].to_numpy(float),
                           lsoa[cols["after"]].to_numpy(float)])
    if scale is None:
        scale = access_scale(pd.Series(lsoa[cols["before"]].to_numpy(float)),
                             f"{kind}_time_min")
    names = {str(k): str(v) for k, v in (practice_names or {}).items() if v}
    for _, r in facilities.iterrows():
        if pd.notna(r.get("name")):
            names.setdefault(str(r["code"]), str(r["name"]))
    labels = {w: describe(c).label for w, c in cols.items()}
    config: dict[str, Any] = {
        "cols": cols,
        "seq": {"breaks": scale["breaks"], "colours": scale["colours"],
                "labels": scale.get("labels")},
        "names": names,
        "div": {"breaks": _div_breaks(lsoa[cols["change"]].to_numpy(float)),
                "colours": _DIV},
        "labels": labels,
        "units": describe(cols["before"]).units or "minutes",
        "grey": _GREY,
        "name": name_col[0] if name_col else None,
        "kind": kind,
    }
    estimate = ("<p class='hg-warn'><b>No road network:</b> these times are a straight-line "
                "ESTIMATE, not routed.</p>" if method != "network" else "")
    mode = ("by car on the road network (drive times from each small area's "
            "population-weighted centre)" if method == "network" else
            "in a straight line (a crow-fly ESTIMATE: no road network was available)")
    summary = "".join(f"<li>{html.escape(_named(s, names))}</li>" for s in sentences)
    where = f", {area_name}" if area_name else ""
    title = html.escape(f"What if: {scenario.get('name', 'scenario')}{where}")
    changed = "".join(
        f"<li>{html.escape(names.get(str(r['code']), 'unnamed'))} ({html.escape(str(r['code']))})"
        f": {html.escape(str(r.get('action', '')))}</li>" for _, r in facilities.iterrows())
    links = ['<a href="index.html">&larr; Atlas index</a>', '<a href="glossary.html">Glossary</a>']
    if access_href:
        links.append(f'<a href="{html.escape(access_href)}">The access map this changes</a>')
    del both  # the scale comes from the access map, not from these times
    table = _shares_table(shares, kind) if shares is not None else ""
    body = f"""<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{leaflet_css()}</style><script>{leaflet_js()}</script>
<style>
body {{ font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  margin: 0 16px 24px; color: #222; }}
.hg-row {{ display: flex; gap: 8px; flex-wrap: wrap; }}
.hg-map {{ flex: 1 1 300px; min-width: 280px; }}
.hg-mapbox {{ height: 420px; border: 1px solid #ccc; }}
.hg-key span {{ display: inline-block; width: 18px; height: 10px; margin-right: 2px; }}
.hg-warn {{ background: #fff3cd; padding: 6px 10px; border-left: 4px solid #b8860b; }}
.hg-nav {{ margin: 8px 0; }} .hg-nav a {{ color: #005eb8; }}
table {{ display: block; overflow-x: auto; max-width: 100%; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 8px; border-bottom: 1px solid #ddd;
  text-align: right; }}
</style></head><body><main>
<nav class="hg-nav" aria-label="Atlas">{" · ".join(links)}</nav>
<h1>{title}</h1>{estimate}
<p id="mode">Travel: {html.escape(kind.upper() if kind == "gp" else kind)} practices reached
{html.escape(mode)}. Area: {html.escape(area_name or "the build's area")}.</p>
<h2>Practices changed</h2><ul id="changed">{changed}</ul>
<h2>What changes</h2>
<ul id="summary">{summary}</ul>
<div class="hg-row">
 <div class="hg-map"><h3>{html.escape(labels["before"])}</h3><div class="hg-mapbox" id="m-before"
 role="region" aria-label="Map: {html.escape(labels["before"])}, before the change">
 </div><div class="hg-key" id="k-before"></div></div>
 <div class="hg-map"><h3>{html.escape(labels["after"])}</h3><div class="hg-mapbox" id="m-after"
 role="region" aria-label="Map: {html.escape(labels["after"])}, after the change">
 </div><div class="hg-key" id="k-after"></div></div>
 <div class="hg-map"><h3>{html.escape(labels["change"])}</h3><div class="hg-mapbox" id="m-change"
 role="region" aria-label="Map: {html.escape(labels["change"])}">
 </div><div class="hg-key" id="k-change"></div></div>
</div>
{table}
<p>Method: {html.escape(method)}. Times are to the nearest {html.escape(kind)} from each
small area's population-weighted centre. The before and after maps use the access map's classes
and colours. Changed facilities are ringed: black = closed or moved from, green = opened or
moved to. The table above gives the figures behind the maps.</p></main>
<script>
const DATA = {json.dumps(gj)};
const FAC = {json.dumps(fac_gj)};
const CFG = {json.dumps(config)};
{_JS}
</script></body></html>"""
    check_offline(body, page=PAGE_NAME)
    return body


def _named(sentence: str, names: dict[str, str]) -> str:
    """Return a summary sentence with each practice code followed by its name."""
    out = sentence
    for code, nm in names.items():
        if code in out and nm not in out:
            out = out.replace(code, f"{nm} ({code})")
    return out


def _shares_table(shares: pd.DataFrame, kind: str) -> str:
    """Return an HTML table of the share beyond each threshold per place/neighbourhood."""
    sh = shares[shares["kind"] == kind]
    if sh.empty:
        return ""
    rows = []
    for _, r in sh.iterrows():
        rows.append(f"<tr><td style='text-align:left'>{html.escape(str(r['level']))} "
                    f"{html.escape(str(r['code']))}</td><td>{r['threshold_min']:g} min</td>"
                    f"<td>{100 * r['share_beyond_before']:.1f}%</td>"
                    f"<td>{100 * r['share_beyond_after']:.1f}%</td></tr>")
    return ("<h3>Share of residents beyond each travel time</h3><table><tr><th>area</th>"
            "<th>threshold</th><th>before</th><th>after</th></tr>" + "".join(rows) + "</table>")


_JS = r"""
function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;',
                                              '"': '&quot;', "'": '&#39;'})[c]);
}
function name(code) {
  if (code === null || code === undefined) return 'none';
  return CFG.names[code] ? esc(CFG.names[code]) + ' (' + esc(code) + ')' : esc(code);
}
function colour(v, scale) {
  if (v === null || v === undefined || !isFinite(v)) return CFG.grey;
  let i = 0; while (i < scale.breaks.length && v > scale.breaks[i]) i++;
  return scale.colours[Math.min(i, scale.colours.length - 1)];
}
function key(id, scale) {
  const el = document.getElementById(id); const b = scale.breaks; let h = '';
  scale.colours.forEach((c, i) => {
    if (scale.labels) {
      const last = i === scale.colours.length - 1 ? ' and over' : '';
      h += `<span style="background:${c}"></span>${esc(scale.labels[i])}${last} `;
      return;
    }
    const lo = i === 0 ? '' : b[i - 1]; const hi = i < b.length ? b[i] : '';
    h += `<span style="background:${c}"></span>${lo}${lo !== '' && hi !== '' ? '–' : ''}` +
         `${hi === '' ? '+' : (lo === '' ? '≤' + hi : hi)} `;
  });
  el.innerHTML = h + ` (${CFG.units}); <span style="background:${CFG.grey}"></span>not routed`;
}
const maps = [];
function make(which, scale) {
  const m = L.map('m-' + which, {attributionControl: false});
  const col = CFG.cols[which];
  const layer = L.geoJSON(DATA, {
    style: f => ({fillColor: colour(f.properties[col], scale), fillOpacity: 0.85,
                  color: '#555', weight: 0.5}),
    onEachFeature: (f, l) => {
      const p = f.properties; const v = p[col];
      const nm = CFG.name ? p[CFG.name] : p.lsoa_code;
      const b = p[`${CFG.kind}_nearest_code_before`], a = p[`${CFG.kind}_nearest_code_after`];
      l.bindTooltip(`${esc(nm)}<br>${which}: ${v === null ? 'not routed (' +
        esc(p.access_reason) + ')' : v.toFixed(1) + ' min'}<br>nearest before ${name(b)},
        after ${name(a)}`);
    }}).addTo(m);
  L.geoJSON(FAC, {pointToLayer: (f, ll) => L.circleMarker(ll, {radius: 7, weight: 3,
    color: /open|to/.test(f.properties.action) ? '#1a9850' : '#000', fillOpacity: 0.2})
    .bindTooltip(`${name(f.properties.code)}: ${esc(f.properties.action)}`)
  }).addTo(m);
  m.fitBounds(layer.getBounds());
  key('k-' + which, scale);
  maps.push(m);
}
make('before', CFG.seq); make('after', CFG.seq); make('change', CFG.div);
let syncing = false;
maps.forEach(a => a.on('moveend', () => {
  if (syncing) return; syncing = true;
  maps.forEach(b => { if (b !== a) b.setView(a.getCenter(), a.getZoom(), {animate: false}); });
  syncing = false;
}));
"""


def write_whatif_page(folder: str | Path, lsoa: gpd.GeoDataFrame,
                      facilities: gpd.GeoDataFrame, **options: Any) -> Path:
    """Write ``<folder>/whatif.html`` atomically (temporary file, then rename).

    ``options`` are those of :func:`whatif_page`.
    """
    page = whatif_page(lsoa, facilities, **options)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PAGE_NAME
    tmp = folder / f".{PAGE_NAME}.{os.getpid()}.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, target)
    return target
