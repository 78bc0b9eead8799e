"""The HTML atlas: one page per map, and an index.

The index links every page and says how the maps were made, where the data came from under which
licence, and what exactly was run.

Every page is checked before it is written: it must not load anything from the network
(:func:`maps._assets.check_offline`). Demo builds carry the "SYNTHETIC DEMO DATA" banner on every
page and on the index.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthgap.maps import _assets
from healthgap.maps._layers import (
    DEFAULT_ATTRIBUTION,
    OSM_ATTRIBUTION,
    SYNTHETIC_BANNER,
    AtlasMap,
)
from healthgap.maps.glossary import GLOSSARY_HTML
from healthgap.maps.multiples import StaticPage

from healthgap.errors import ParameterError

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,80}$")
_ELEMENT_ID = re.compile(r"\b([a-z][a-z_]*)_([0-9a-f]{32})(?![0-9a-f])")


def stable_ids(text: str) -> str:
    """Replace folium's random element ids (``map_<32 hex>``) by numbers in order of appearance.

    Folium names every element with a random id, so the same map renders to different bytes
    each time. Renumbering them makes a page depend only on its content, so a rebuild from the
    same inputs gives the same file (and the same checksum).
    """
    numbers: dict[str, str] = {}

    def renumber(match: re.Match[str]) -> str:
        old = match.group(2)
        if old not in numbers:
            numbers[old] = f"{len(numbers) + 1:032x}"
        return f"{match.group(1)}_{numbers[old]}"

    return _ELEMENT_ID.sub(renumber, text)

METHODS_NOTE = (
    "<p>Each map shows one measure for every small area in the area. Small areas are "
    "Lower and Middle layer Super Output Areas (LSOAs of about 1,500 residents, MSOAs of about "
    "7,500), the areas national statistics are published for; neighbourhoods are groups of "
    "30,000-50,000 people (see the <a href=\"glossary.html\">glossary</a>).</p>"
    "<p><b>Colours.</b> Every map draws the worse end of its measure in dark red (low life "
    "expectancy, high deprivation, long travel times) and the better end pale; measures that "
    "are neither better nor worse when higher are drawn in blues. Values are grouped into a "
    "few classes. Where values are spread evenly "
    "each class holds about the same number of small areas (quantiles); where they are "
    "skewed or clumped the classes follow natural breaks in the data (Fisher–Jenks). Deciles "
    "keep their own ten classes. The legend gives the range and the number of areas of "
    "each class. Pages marked \u201ccompared with England\u201d colour each area by its "
    "difference from England's value instead (ratios about 100), so an area better than "
    "England is never drawn as the worse end. Hatched areas have no published value: "
    "figures for small populations are suppressed by the publisher.</p>"
    "<p><b>Clusters.</b> Local Moran's I compares each small area with its neighbours: a "
    "\u201ccluster of low life expectancy\u201d is a group of neighbouring areas that are all "
    "low, and an area \u201camong high neighbours\u201d stands out from its surroundings. Gi* "
    "hot and cold spots mark groups of areas whose values, taken together with their own, are "
    "higher or lower than chance would give. The two can differ: Gi* adds an area's own value "
    "to its neighbours' and finds hot and cold spots even where the area itself is ordinary, "
    "while local Moran's I needs the area and its neighbours to be alike and also finds areas "
    "unlike their neighbours; where they say the same the Gi* map is not drawn again. "
    "Each legend states the neighbour definition, the number of random permutations and the "
    "correction for testing many areas at once; a map with no significant cluster says so.</p>"
    "<p><b>Cliffs.</b> Lines mark the largest differences in life expectancy between two "
    "neighbouring small areas, in years. Only borders passing a 5% false discovery rate across "
    "all the area's borders are drawn as cliffs (magenta); the other large differences are grey "
    "and dashed, and the page says when no border passes.</p>"
    "<p><b>Limits.</b> These are area averages: they describe places, not the people in them. "
    "Small-area figures have wide intervals: the tooltips give them where the source publishes "
    "them and say so where it does not. Boundaries are simplified for the web.</p>"
)

_INDEX_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #222; margin: 0; background: #f4f4f2; }
main { max-width: 960px; margin: 0 auto; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 26px; margin: 12px 0 4px; }
h2 { font-size: 19px; margin-top: 28px; border-bottom: 2px solid #005eb8; padding-bottom: 2px; }
h3 { font-size: 16px; margin-bottom: 4px; }
a { color: #005eb8; }
.banner { background: #b10026; color: #fff; font-weight: bold; letter-spacing: 0.08em;
  padding: 8px 24px; text-align: center; }
ul.pages { padding-left: 18px; }
ul.pages li { margin: 6px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
code { font-size: 12px; word-break: break-all; }
.note { color: #444; font-size: 13px; }
.story p, .story li { max-width: 46em; }
.story .missing { color: #555; }
.story figure { margin: 8px 0; }
.story svg { max-width: 100%; height: auto; }
.sw { display: inline-block; width: 1.2em; height: 0.8em; vertical-align: middle; }
main { overflow-wrap: anywhere; }
table { display: block; overflow-x: auto; }
@media (min-width: 640px) { table { display: table; } }
.glance .figs { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr));
  gap: 8px; }
.glance .fig { border: 1px solid #c8d3df; border-top: 4px solid #005eb8; padding: 6px 8px;
  background: #f8fafc; break-inside: avoid; }
.glance .what { margin: 0; font-size: 13px; font-weight: 600; }
.glance .val { margin: 2px 0; font-size: 22px; font-weight: 700; }
.glance dl { margin: 0; font-size: 12px; }
.glance dt { font-weight: 600; color: #444; }
.glance dd { margin: 0 0 3px; }
table.cmp caption { text-align: left; font-weight: 600; }
table.cmp th:first-child { white-space: nowrap; }
nav.top { font-size: 14px; margin: 4px 0 8px; }
nav.top a { margin-right: 12px; }
@media print {
  @page { size: A4 portrait; margin: 11mm; }
  body { background: #fff; font-size: 10px; line-height: 1.3; }
  .sources-table { display: none; }
  p, li { margin: 3px 0; }
  main { max-width: none; padding: 0; }
  .banner { position: static; padding: 3px; }
  a { color: #000; }
  h1 { font-size: 19px; } h2 { font-size: 15px; margin-top: 12px; } h3 { font-size: 13px; }
  .glance .figs { grid-template-columns: repeat(5, 1fr); gap: 4px; }
  .glance .val { font-size: 16px; }
  .glance dl, table { font-size: 9.5px; }
  .story figure svg { max-height: 55mm; width: auto; }
  .maps-list, .software, nav.top { display: none; }
  h2, h3 { break-after: avoid; }
}
"""


@dataclass
class Page:
    """One map page of the atlas.

    Attributes
    ----------
    slug
        File name without ``.html`` (lower case letters, digits, ``-`` and ``_``).
    title
        Link text on the index.
    map
        The map, from one of the builders in maps/.
    summary
        One or two sentences shown under the link.
    group
        Section of the index the page is listed in (e.g. "Life expectancy").
    """

    slug: str
    title: str
    map: AtlasMap
    summary: str = ""
    group: str = "Maps"


def _esc(value: object) -> str:
    return html.escape(str(value))


def _check_pages(pages: Sequence[Page | StaticPage]) -> None:
    if not pages:
        raise ParameterError("pages: expected at least one Page")
    seen: set[str] = set()
    for i, page in enumerate(pages):
        if not isinstance(page, Page | StaticPage):
            raise ParameterError(f"pages[{i}]: expected Page or StaticPage, got "
                                 f"{type(page).__name__}")
        if not isinstance(page.slug, str) or not _SLUG.match(page.slug) or page.slug == "index":
            raise ParameterError(
                f"pages[{i}].slug: expected lower-case letters, digits, '-' or '_' (not "
                f"'index'), got {page.slug!r}"
            )
        if page.slug in seen:
            raise ParameterError(f"pages[{i}].slug: {page.slug!r} is used by two pages")
        seen.add(page.slug)
        if isinstance(page, Page) and not isinstance(page.map, AtlasMap):
            raise ParameterError(
                f"pages[{i}].map: expected a map from maps/ (AtlasMap), got "
                f"{type(page.map).__name__}; plain folium maps link CDN scripts and do not open "
                "offline"
            )


def _check_sources(sources: Sequence[Mapping[str, Any]]) -> None:
    for i, src in enumerate(sources):
        if not isinstance(src, Mapping):
            raise ParameterError(f"sources[{i}]: expected a mapping, got {type(src).__name__}")
        missing = [k for k in ("name", "licence") if not src.get(k)]
        if missing:
            raise ParameterError(
                f"sources[{i}]: missing {', '.join(missing)}; every source needs a name and a "
                f"licence (found keys: {sorted(src)})"
            )


def render_static(page: StaticPage, *, synthetic: bool) -> str:
    """Render a page that is not a map (e.g. small multiples) in the atlas's style."""
    banner = (f'<div class="banner" role="note">{SYNTHETIC_BANNER}: made-up figures for a '
              "made-up area</div>" if synthetic else "")
    text = (
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(page.title)}</title>\n<style>{_INDEX_CSS}{_STATIC_CSS}</style>\n"
        f'</head>\n<body>\n{banner}<main><p><a href="index.html">&larr; Atlas index</a></p>'
        f"{page.body}</main>\n</body>\n</html>\n"
    )
    _assets.check_offline(text, page=f"{page.slug}.html")
    return text


_STATIC_CSS = """
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure.sm { margin: 0; width: 250px; }
figure.sm svg { width: 100%; height: auto; }
figure.sm figcaption { font-size: 13px; }
@media print { @page { size: A4 landscape; margin: 8mm; } figure.sm { width: 32%; } }
"""


SEARCH_FILE = "search.js"
"""The atlas's shared search and label index, loaded by every map page."""


def render_page(page: Page, *, synthetic: bool, index_href: str | None = "index.html",
                search_src: str | None = None) -> str:
    """Render one page to HTML and check that it opens offline.

    Parameters
    ----------
    page
        The page.
    synthetic
        Force the "SYNTHETIC DEMO DATA" banner on.
    index_href
        Link back to the index, or None (then no glossary link either).
    search_src
        The atlas's shared search index script, or None.

    Returns
    -------
    str
        The page's HTML (element ids renumbered by :func:`stable_ids`).
    """
    m = page.map
    if synthetic:
        m.synthetic = True
    m.index_href = index_href
    m.search_src = search_src
    text = stable_ids(m.get_root().render())
    _assets.check_offline(text, page=f"{page.slug}.html")
    return text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _value_html(value: Any) -> str:
    if isinstance(value, Mapping | list | tuple):
        return f"<code>{_esc(json.dumps(value, sort_keys=True, default=str))}</code>"
    return _esc(value)


_ABS_PATH = re.compile(r"(?<![\w.:/])(?:[A-Za-z]:[\\/]|/)(?:[^\s\"',;<>|]*[\\/])?"
                       r"([^\s\"',;<>|\\/]+)")
_DATA_FOLDERS = ("geography", "imd2019", "imd2025", "life_expectancy", "population",
                 "health_services", "postcodes", "osm", "environment")


def _path_text(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        full = match.group(0).replace("\\", "/")
        parts = [p for p in full.split("/") if p]
        for i, part in enumerate(parts):
            if part in _DATA_FOLDERS:
                return "/".join(parts[i:])
        return parts[-1] if parts else full

    return _ABS_PATH.sub(repl, text)


def path_free(value: Any) -> Any:
    """Return ``value`` with every absolute file path cut to its data-folder-relative part.

    A path under a data folder (``geography/``, ``imd2019/``...) keeps that part
    (``geography/lsoa11_....csv``); any other absolute path keeps its last component, so no
    page shows the build machine's folders.
    """
    if isinstance(value, str):
        return _path_text(value)
    if isinstance(value, Mapping):
        return {k: path_free(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [path_free(v) for v in value]
    return value


def _manifest_html(manifest: Mapping[str, Any]) -> str:
    parts = []
    inputs = manifest.get("inputs")
    tabular = isinstance(inputs, list) and inputs and all(isinstance(r, Mapping) for r in inputs)
    if tabular and isinstance(inputs, list):
        keys: list[str] = []
        for row in inputs:
            keys.extend(k for k in row if k not in keys)
        ordered = sorted(keys, key=lambda k: (k not in ("name", "path", "file"), k == "sha256", k))
        rows = [
            [f"<code>{_esc(r.get(k, ''))}</code>" if k == "sha256" else _value_html(r.get(k, ""))
             for k in ordered]
            for r in inputs
        ]
        parts.append("<h3>Inputs</h3>" + _table([k.replace("_", " ") for k in ordered], rows))
    for key in ("parameters", "versions"):
        section = manifest.get(key)
        if isinstance(section, Mapping) and section:
            rows = [[_esc(k), _value_html(v)] for k, v in sorted(section.items())]
            parts.append(f"<h3>{key.capitalize()}</h3>" + _table(["name", "value"], rows))
    notes = manifest.get("notes")
    if isinstance(notes, list) and notes:
        parts.append("<h3>Technical notes</h3><ul>"
                     + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")
    shown = {"parameters", "versions"} | ({"inputs"} if tabular else set())
    if isinstance(notes, list):
        shown.add("notes")
    rest = {
        k: v for k, v in manifest.items()
        if k not in shown or not isinstance(v, Mapping | list)
    }
    if rest:
        rows = [[_esc(k), _value_html(v)] for k, v in sorted(rest.items())]
        parts.append("<h3>Run</h3>" + _table(["name", "value"], rows))
    return "".join(parts) or "<p>No manifest was given.</p>"


def _sources_html(sources: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    attributions = list(DEFAULT_ATTRIBUTION)
    for src in sources:
        url = src.get("url")
        name = _esc(src["name"])
        if url:
            name = f'<a href="{_esc(url)}">{name}</a>'
        rows.append([
            name,
            _esc(src.get("publisher", "")),
            _esc(src["licence"]),
            _esc(src.get("attribution", "")),
            _esc(src.get("notes", "")),
        ])
        for line in str(src.get("attribution", "")).split("\n"):
            if line.strip() and line.strip() not in attributions:
                attributions.append(line.strip())
        licence = str(src["licence"]).lower()
        osm = "odbl" in licence or "openstreetmap" in licence
        if osm and OSM_ATTRIBUTION not in attributions:
            attributions.append(OSM_ATTRIBUTION)
    table = _table(["Data", "Publisher", "Licence", "Attribution", "Notes"], rows) if rows else (
        "<p>No sources were listed.</p>"
    )
    table = f'<div class="sources-table">{table}</div>'
    lines = "".join(f"<li>{_esc(a)}</li>" for a in attributions)
    return f"{table}<h3>Required attributions</h3><ul>{lines}</ul>"


def _software_html() -> str:
    return (
        "<p class=\"note\">The pages open without a network: they carry "
        f"<a href=\"licences/leaflet-LICENSE.txt\">Leaflet {_assets.LEAFLET_VERSION}</a> "
        "(© 2010–2023 Volodymyr Agafonkin, © 2010–2011 CloudMade; BSD 2-Clause licence) and "
        f"<a href=\"licences/topojson-client-LICENSE.txt\">topojson-client "
        f"{_assets.TOPOJSON_CLIENT_VERSION}</a> (© 2012–2019 Michael Bostock; ISC licence) "
        "inline. Basemap tiles, where offered, need a network and are off by default.</p>"
    )


def write_atlas(
    out_dir: str | Path,
    *,
    pages: Sequence[Page | StaticPage],
    manifest: Mapping[str, Any],
    sources: Sequence[Mapping[str, Any]],
    synthetic: bool,
    title: str,
    intro: str = "",
    methods_html: str = METHODS_NOTE,
    story_html: str = "",
    skipped: Sequence[str] = (),
    whatif_href: str | None = None,
    search_index: Mapping[str, Any] | None = None,
) -> Path:
    """Write every page, the index and the manifest; return the path of ``index.html``.

    Parameters
    ----------
    out_dir
        Folder to write into (created if needed). Pages are ``<slug>.html``; the index is
        ``index.html``; the manifest is also written as ``manifest.json``; the licences of the
        inlined browser libraries go to ``licences/``.
    pages
        The map pages.
    manifest
        The run manifest: ``inputs`` (list of mappings, each with a name/path and ``sha256``),
        ``parameters`` and ``versions`` (mappings) and any other keys (e.g. ``created``).
    sources
        Data sources, each a mapping with ``name`` and ``licence`` and optionally
        ``publisher``, ``attribution``, ``url``, ``notes``.
    synthetic
        Demo build: every page and the index say the data is synthetic.
    title
        Title of the atlas.
    intro
        A short paragraph under the title (plain text).
    methods_html
        The methods note (HTML); default :data:`METHODS_NOTE`.
    story_html
        The story section (HTML from :func:`maps.story.story_html`), shown first: the index is
        the atlas front page.
    skipped
        Sentences naming pages deliberately not drawn (e.g. a Gi* map that would repeat the
        LISA map), listed under the maps.
    whatif_href
        Link to the what-if page, listed under the maps when the build has one.
    search_index
        Wards, small areas, neighbourhoods, practices and postcodes every map page searches
        and labels (``services.atlas_index.search_index``), written once as ``search.js``.

    Returns
    -------
    pathlib.Path
        ``out_dir / "index.html"``.
    """
    _check_pages(pages)
    _check_sources(sources)
    if not isinstance(manifest, Mapping):
        raise ParameterError(f"manifest: expected a mapping, got {type(manifest).__name__}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if search_index is not None:
        (out / SEARCH_FILE).write_text(
            "window.HG_INDEX = " + json.dumps(search_index, separators=(",", ":"),
                                              ensure_ascii=False) + ";\n", encoding="utf-8")
    rendered = {page.slug: render_page(page, synthetic=synthetic,
                                       search_src=SEARCH_FILE if search_index else None)
                if isinstance(page, Page)
                else render_static(page, synthetic=synthetic) for page in pages}
    for slug, text in rendered.items():
        (out / f"{slug}.html").write_text(text, encoding="utf-8")
    licences = out / "licences"
    licences.mkdir(exist_ok=True)
    shutil.copyfile(_assets.VENDOR_DIR / f"leaflet-{_assets.LEAFLET_VERSION}" / "LICENSE",
                    licences / "leaflet-LICENSE.txt")
    shutil.copyfile(
        _assets.VENDOR_DIR / f"topojson-client-{_assets.TOPOJSON_CLIENT_VERSION}" / "LICENSE",
        licences / "topojson-client-LICENSE.txt",
    )
    clean_manifest = path_free(manifest)
    (out / "manifest.json").write_text(
        json.dumps(clean_manifest, indent=2, sort_keys=True, default=str) + "\n",
        encoding="utf-8"
    )
    extra_pages = [
        StaticPage("manifest", "Run details", (
            f"<h1>Run details: {_esc(title)}</h1><p class=\"note\">What exactly was run: "
            "inputs with their checksums, parameters, package versions and the build's "
            "technical notes. File locations are shown relative to the data folder. Also in "
            f'<a href="manifest.json">manifest.json</a>.</p>{_manifest_html(clean_manifest)}')),
        StaticPage("glossary", "Glossary", GLOSSARY_HTML),
    ]
    for page in extra_pages:
        (out / f"{page.slug}.html").write_text(render_static(page, synthetic=synthetic),
                                              encoding="utf-8")

    groups: dict[str, list[Page | StaticPage]] = {}
    for page in pages:
        groups.setdefault(page.group, []).append(page)
    listing = []
    for group, members in groups.items():
        items = "".join(
            f'<li><a href="{_esc(p.slug)}.html">{_esc(p.title)}</a>'
            + (f"<br><span class=\"note\">{_esc(p.summary)}</span>" if p.summary else "")
            + "</li>"
            for p in members
        )
        listing.append(f"<h3>{_esc(group)}</h3><ul class=\"pages\">{items}</ul>")
    if whatif_href:
        listing.append('<h3>What if</h3><ul class="pages"><li><a href="'
                       f'{_esc(whatif_href)}">What if practices close, open or move</a></li></ul>')
    banner = (
        f'<div class="banner" role="note">{SYNTHETIC_BANNER}: these pages show made-up figures '
        "for a made-up area; do not use them for decisions</div>"
        if synthetic
        else ""
    )
    body = (
        f"{banner}<main><h1>{_esc(title)}</h1>"
        + '<nav class="top" aria-label="Atlas"><a href="#maps-h">Maps</a>'
        '<a href="glossary.html">Glossary</a><a href="manifest.html">Run details</a></nav>'
        + (f"<p>{_esc(intro)}</p>" if intro else "")
        + story_html
        + '<section class="maps-list" aria-labelledby="maps-h"><h2 id="maps-h">Maps</h2>'
        + "".join(listing)
        + ("<ul class=\"note\">" + "".join(f"<li>{_esc(t)}</li>" for t in skipped) + "</ul>"
           if skipped else "") + "</section>"
        + f"<h2>How these maps were made</h2>{methods_html}"
        + f"<h2>Data sources and licences</h2>{_sources_html(sources)}"
        + '<p class="note">What exactly was run (inputs with checksums, parameters, versions, '
        'technical notes): <a href="manifest.html">run details</a>.</p>'
        + f'<section class="software"><h2>Software</h2>{_software_html()}</section></main>'
    )
    index = (
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_INDEX_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
    _assets.check_offline(index, page="index.html")
    path = out / "index.html"
    path.write_text(index, encoding="utf-8")
    return path
