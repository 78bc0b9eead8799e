"""Access maps: an access indicator per neighbourhood with the facilities it was measured to.

Facilities are circle markers (lighter than icon markers and they need no icon font), one layer
per kind so that each kind can be switched off.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import pandas as pd
from healthgap.geo.indicators import Indicator, is_catalogued
from healthgap.maps import _layers
from healthgap.maps._classify import palette
from healthgap.maps._geometry import check_frame
from healthgap.maps._layers import DEFAULT_PAGE, AtlasMap, PageOptions, TopoLayer
from healthgap.maps.choropleth import Classing, add_choropleth, entry_of, legend_title, reworded

from healthgap.errors import DuplicateCodeError, ParameterError, preview

KIND_COLOURS = ("#08519c", "#54278f", "#006d2c", "#000000", "#01665e", "#8c510a")
"""Marker colours of facility kinds, in order of first appearance: dark blues, purples and greens
that stand out on the default yellow-to-red access colours; each marker has a white rim."""


def access_map(
    lsoa_gdf: gpd.GeoDataFrame,
    column: str,
    facilities_gdf: gpd.GeoDataFrame,
    *,
    indicator: Indicator | None = None,
    code_col: str = "code",
    name_col_facilities: str = "name",
    kind_col: str = "kind",
    kind_colours: Mapping[str, str] | None = None,
    classing: Classing = Classing(),
    compare: Mapping[str, float] | None = None,
    name_col: str | None = "auto",
    page: PageOptions = DEFAULT_PAGE,
) -> AtlasMap:
    """Map an access indicator with the facilities as markers.

    Parameters
    ----------
    lsoa_gdf
        Neighbourhoods with ``column``.
    column
        The access indicator (e.g. travel time to the nearest GP practice).
    facilities_gdf
        Points in EPSG:27700 with ``code_col``, ``name_col_facilities`` and ``kind_col``.
    indicator
        The column's catalogue entry (see :func:`maps.choropleth.choropleth`); a column not in
        the catalogue defaults to "worse when higher", as travel times are.
    code_col, name_col_facilities, kind_col
        Facility columns.
    kind_colours
        Marker colour per kind; default colours from :data:`KIND_COLOURS`.
    classing, compare
        As in :func:`maps.choropleth.choropleth`.
    name_col, page
        As for every builder (:mod:`healthgap.maps`); the default title is the indicator's
        label.
    """
    page = _layers.check_options(page)
    if indicator is None and not is_catalogued(column):
        indicator = reworded(column, direction="worse")
    ind = entry_of(column, indicator)
    what = "access_map facilities_gdf"
    check_frame(facilities_gdf, what=what, columns=[code_col, name_col_facilities, kind_col],
                geom_types=("Point",), unique_index=False)
    codes = facilities_gdf[code_col].astype(str)
    if codes.duplicated().any():
        raise DuplicateCodeError(
            f"{what}: {int(codes.duplicated().sum())} repeated facility code(s) in column "
            f"{code_col!r}: {preview(codes[codes.duplicated()])}"
        )
    kinds = facilities_gdf[kind_col]
    if kinds.isna().any():
        raise ParameterError(
            f"{what}: {int(kinds.isna().sum())} facility(ies) have no {kind_col!r}; every "
            "facility needs a kind"
        )
    order = list(dict.fromkeys(str(v) for v in kinds))
    colours = dict(kind_colours or {})
    unknown = [kd for kd in order if kd not in colours]
    if kind_colours is not None and unknown:
        raise ParameterError(f"kind_colours: no colour for kind(s) {unknown}")
    spare = list(KIND_COLOURS) + palette(max(1, len(order)), cmap="tab20")
    for kd in order:
        colours.setdefault(kd, spare[order.index(kd) % len(spare)])
    m = page.new_map(default_title=ind.label, n_features=len(lsoa_gdf), osm=ind.uses_osm)
    drawn = add_choropleth(
        m, lsoa_gdf, column, indicator=ind, classing=classing,
        compare=compare, name_col=name_col, page=page,
    )
    rows = list(drawn.legend_rows)
    for kd in order:
        sub = facilities_gdf[kinds.astype(str) == kd]
        web = sub.geometry.to_crs(4326)
        web.index = pd.Index([str(c) for c in sub[code_col]])
        payload = _layers.encode(
            web, {"n": _layers.clean(sub[name_col_facilities]), "k": [kd] * len(sub)}, precision=5
        )
        style = {"radius": 5, "fillColor": colours[kd], "fillOpacity": 0.95, "color": "#ffffff",
                 "weight": 1.5, "opacity": 1}
        TopoLayer(
            payload,
            styles={"classes": [style], "missing": style},
            tip={"title": "n", "code": True, "missing": "—",
                 "rows": [{"label": "Kind", "key": "k"}], "extra": []},
            name=f"{kd} ({len(sub):,})",
            points=True,
        ).add_to(m)
        rows.append(_layers.dot_row(kd, colours[kd], count=len(sub)))
    page.finish(m, legend_title=legend_title(ind), rows=rows, notes=drawn.notes,
                subtitle=ind.scale)
    return m
