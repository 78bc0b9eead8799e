"""Folium builders: take geo/ results, return a folium.Map or write one HTML file.

Every map is an :class:`maps._layers.AtlasMap` whose page opens with no network (Leaflet and
topojson-client are vendored in ``maps/static/vendor`` and inlined):

* :func:`maps.choropleth.choropleth` — one indicator per neighbourhood;
* :func:`maps.clusters.lisa_map`, :func:`maps.clusters.gistar_map` — cluster maps;
* :func:`maps.cliffs.cliffs_map` — steepest life-expectancy gradients between neighbours;
* :func:`maps.access.access_map` — an access indicator with the facilities as markers;
* :func:`maps.charts.decay_chart`, :func:`maps.charts.sii_chart`,
  :func:`maps.charts.add_chart_panel` — inline SVG charts on a map page;
* :func:`maps.atlas.write_atlas` — every page plus ``index.html`` (methods, sources, manifest).

What every map builder takes and returns (said once here; each builder's docstring gives only
what is its own):

``gdf`` (``areas_gdf``, ``lsoa_gdf``)
    Neighbourhoods in EPSG:27700, indexed by area code, with the columns the builder draws;
    rows with ``in_area`` False (the edge ring of a study area) are not drawn.
``name_col``
    The column of area names shown in tooltips: ``"auto"`` uses the one matching the index
    (``lsoa_code`` → ``lsoa_name``) when the frame has it, a column name requires that column,
    None shows no names.
``page``
    One :class:`PageOptions`: boundaries, title (each builder has a default made from the
    indicator's words), subtitle, attribution, banner, basemap, simplification, precision,
    renderer, and the method behind a cluster page.

The result is an :class:`maps._layers.AtlasMap`, a folium map whose page opens offline.
"""

from typing import TYPE_CHECKING

from healthgap import lazy_exports

if TYPE_CHECKING:
    from healthgap.maps._layers import PageOptions

#: The page options every builder takes, for the services layer (imported on first use).
__getattr__ = lazy_exports(__name__, {"PageOptions": "healthgap.maps._layers"})

__all__ = ["PageOptions"]
