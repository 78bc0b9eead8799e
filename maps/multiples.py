"""The seven IMD 2019 domains as small multiples on one page (static SVG maps, one per domain).

Seven small maps side by side show which kinds of deprivation drive an area's overall score and
where. Each draws the national decile of one domain with the same colours as every other decile
map of the atlas (decile 1, the most deprived tenth of England, in the worse colour). Each map has
a text alternative giving the share of the area's neighbourhoods in the most deprived fifth of
England for that domain.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import geopandas as gpd
import matplotlib
import numpy as np
from healthgap.geo.indicators import IMD_DOMAINS, describe
from healthgap.maps._classify import grammar_palette
from healthgap.maps._geometry import check_frame, in_area_only
from healthgap.maps.charts import _STYLE, _to_svg
from matplotlib.figure import Figure

from healthgap.errors import InputError

MAX_AREAS = 5000
"""Above this many neighbourhoods the static small multiples would be too heavy to draw."""


@dataclass(frozen=True)
class StaticPage:
    """An atlas page that is not a map: its body HTML (already escaped) and where it is listed.

    Attributes
    ----------
    slug
        File name without ``.html``.
    title
        Page title and link text.
    body
        The page's HTML body.
    summary
        One or two sentences under the link.
    group
        Section of the index.
    """

    slug: str
    title: str
    body: str
    summary: str = ""
    group: str = "Maps"


def imd_domains_page(lsoa: gpd.GeoDataFrame, *, area_name: str) -> StaticPage:
    """Draw the seven IMD domain deciles of an area's neighbourhoods as small multiples.

    Parameters
    ----------
    lsoa
        LSOAs in EPSG:27700 with ``<domain>_decile`` columns (``in_area`` False rows are not
        drawn).
    area_name
        The area, for the title.

    Returns
    -------
    StaticPage
        The page (SVG maps with captions and a shared legend).
    """
    cols = [f"{d}_decile" for d in IMD_DOMAINS]
    check_frame(lsoa, what="imd_domains_page lsoa", columns=cols,
                geom_types=("Polygon", "MultiPolygon"))
    lsoa = in_area_only(lsoa, what="imd_domains_page lsoa")
    if len(lsoa) > MAX_AREAS:
        raise InputError(f"imd_domains_page: {len(lsoa):,} small areas; small multiples are "
                         f"drawn for areas of up to {MAX_AREAS:,}")
    colours = grammar_palette(10, describe("imd_decile").direction)
    figures = []
    for key, col in zip(IMD_DOMAINS, cols, strict=True):
        ind = describe(col)
        deciles = lsoa[col].to_numpy(dtype=float)
        fill = [colours[int(d) - 1] if np.isfinite(d) else "#bdbdbd" for d in deciles]
        with matplotlib.rc_context({**_STYLE, "axes.grid": False}):  # type: ignore[arg-type]
            fig = Figure(figsize=(2.6, 2.6))
            ax = fig.add_axes((0, 0, 1, 1))
            lsoa.plot(ax=ax, color=fill, edgecolor="white", linewidth=0.15)
            ax.set_axis_off()
            svg = _to_svg(fig, salt=f"domain:{key}")
        share = float(np.mean(deciles[np.isfinite(deciles)] <= 2)) if np.isfinite(
            deciles).any() else float("nan")
        words = (f"{share:.0%} of the area's small areas (LSOAs) are in England's most "
                 f"deprived fifth for {IMD_DOMAINS[key].lower()}"
                 if np.isfinite(share) else "no values")
        figures.append(
            f'<figure class="sm"><div role="img" aria-label="{html.escape(ind.label)}: '
            f'{html.escape(words)}">{svg}</div><figcaption><b>{html.escape(IMD_DOMAINS[key])}'
            f"</b><br>{html.escape(words)}.</figcaption></figure>"
        )
    legend = "".join(
        f'<span class="sw" style="background:{c}"></span>{i + 1}&nbsp; ' for i, c in
        enumerate(colours)
    )
    title = f"The seven domains of deprivation, {area_name}, IMD 2019"
    body = (
        f"<h1>{html.escape(title)}</h1><p>National decile of each domain for every "
        "small area (LSOA): 1 = the most deprived tenth of England (dark red), 10 = the least "
        f"deprived.</p><p class=\"legend\">Decile: {legend}</p>"
        f'<div class="grid">{"".join(figures)}</div>'
        f"<p class=\"note\">Source: {html.escape(describe(cols[0]).source)}.</p>"
    )
    return StaticPage(slug="imd-domains", title=title, body=body,
                      summary="The seven IMD 2019 domains side by side, as national deciles.",
                      group="Deprivation")
