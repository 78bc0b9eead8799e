"""Charts for the atlas: distance decay and the slope index of inequality (SII).

Charts are drawn with matplotlib as inline SVG (text kept as text, no external references, no
timestamp), so they open offline and the same input gives the same bytes. :func:`add_chart_panel`
puts them in a collapsible panel on a map page.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from healthgap.maps._classify import fmt
from healthgap.maps._layers import Control
from matplotlib.figure import Figure

from healthgap.errors import InputError, MissingColumnError, ParameterError

_STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
}

_LINE_COLOURS = ("#005eb8", "#d01c8b", "#4d9221", "#ff7f00", "#6a3d9a", "#000000")


@dataclass(frozen=True)
class Chart:
    """A chart ready to embed.

    Attributes
    ----------
    title
        Shown above the chart in the panel.
    svg
        The chart as an ``<svg>`` element.
    caption
        A sentence under the chart (what it shows, the source).
    table
        The chart's figures as an HTML table (its text alternative), or empty.
    """

    title: str
    svg: str
    caption: str = ""
    table: str = ""


def data_table(header: Sequence[str], rows: Sequence[Sequence[object]], *,
               decimals: int = 2) -> str:
    """Return a small HTML table of a chart's figures (numbers rounded, missing shown as —)."""
    def cell(v: object) -> str:
        if isinstance(v, float | int | np.floating | np.integer) and not isinstance(v, bool):
            return "—" if not np.isfinite(float(v)) else fmt(float(v), decimals)
        return html.escape(str(v))

    head = "".join(f"<th scope=\"col\">{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _to_svg(fig: Figure, *, salt: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):].strip()


def _numbers(values: Sequence[float] | np.ndarray | pd.Series, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected numbers") from None
    if arr.ndim != 1 or len(arr) == 0:
        raise InputError(f"{what}: expected a non-empty list of numbers, got shape {arr.shape}")
    return arr


def decay_chart(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "Distance decay",
    x_label: str = "Distance (km)",
    y_label: str = "Weight given to a facility",
    observed: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    caption: str = "",
) -> Chart:
    """Draw one or more distance-decay curves (e.g. fitted Gaussian, exponential, power).

    Parameters
    ----------
    curves
        Curve name → (distances, weights), drawn as lines.
    title
        Chart title.
    x_label, y_label
        Axis labels (with units).
    observed
        Name → (distances, values) drawn as points (e.g. observed shares of trips).
    caption
        Sentence under the chart.

    Returns
    -------
    Chart
        The curves, and any observed points, as inline SVG.
    """
    if not curves:
        raise ParameterError("curves: expected at least one curve name → (distances, weights)")
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        fig = Figure(figsize=(5.6, 3.4))
        ax = fig.add_subplot()
        for i, (name, (x, y)) in enumerate(curves.items()):
            xs, ys = _numbers(x, f"curves[{name!r}] distances"), _numbers(y, f"curves[{name!r}]")
            if len(xs) != len(ys):
                raise InputError(f"curves[{name!r}]: {len(xs)} distances but {len(ys)} weights")
            ax.plot(xs, ys, color=_LINE_COLOURS[i % len(_LINE_COLOURS)], lw=2, label=str(name))
        for i, (name, (x, y)) in enumerate((observed or {}).items()):
            xs = _numbers(x, f"observed[{name!r}] distances")
            ys = _numbers(y, f"observed[{name!r}]")
            if len(xs) != len(ys):
                raise InputError(f"observed[{name!r}]: {len(xs)} distances but {len(ys)} values")
            ax.scatter(xs, ys, s=14, color=_LINE_COLOURS[(i + 3) % len(_LINE_COLOURS)],
                       label=str(name), zorder=3)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.set_title(title, loc="left", fontsize=11)
        ax.legend(frameon=False)
        svg = _to_svg(fig, salt=f"decay:{title}")
    rows: list[list[object]] = []
    for group, series in (("curve", curves), ("observed", observed or {})):
        for name, (x, y) in series.items():
            for xv, yv in zip(_numbers(x, "x"), _numbers(y, "y"), strict=True):
                rows.append([f"{name} ({group})", float(xv), float(yv)])
    return Chart(title=title, svg=svg, caption=caption,
                 table=data_table(["Series", x_label, y_label], rows[:200]))


def sii_chart(
    points: pd.DataFrame,
    *,
    slope: float,
    intercept: float,
    label: str,
    units: str = "years",
    x_col: str = "rank",
    value_col: str = "value",
    lci_col: str | None = None,
    uci_col: str | None = None,
    slope_ci: tuple[float, float] | None = None,
    title: str | None = None,
    x_label: str = "Relative rank of deprivation (0 = most deprived, 1 = least deprived)",
    caption: str = "",
) -> Chart:
    """Draw the slope index of inequality: values by deprivation rank with the fitted line.

    Parameters
    ----------
    points
        One row per deprivation group (e.g. decile) with its mid-point relative rank in
        ``x_col`` (0 to 1) and its value in ``value_col``; optional interval columns.
    slope
        The SII: fitted difference between the least (rank 1) and most (rank 0) deprived ends.
    intercept
        Fitted value at rank 0.
    label
        The indicator (axis label and title).
    units
        Units of the indicator.
    x_col, value_col, lci_col, uci_col
        Columns of ``points``.
    slope_ci
        Confidence interval of the SII, shown in the title.
    title
        Chart title; default "Slope index of inequality in <label>: <SII> <units>".
    x_label
        Horizontal axis label.
    caption
        Sentence under the chart.

    Returns
    -------
    Chart
        The groups' values (with their intervals where given) and the fitted line, as inline
        SVG; the default title gives the SII and its interval.
    """
    if not isinstance(points, pd.DataFrame):
        raise InputError(f"sii_chart points: expected DataFrame, got {type(points).__name__}")
    needed = [x_col, value_col] + [c for c in (lci_col, uci_col) if c]
    missing = [c for c in needed if c not in points.columns]
    if missing:
        raise MissingColumnError(
            f"sii_chart points: missing column(s) {missing}; found {list(points.columns)}"
        )
    x = _numbers(points[x_col], f"sii_chart {x_col!r}")
    y = _numbers(points[value_col], f"sii_chart {value_col!r}")
    if np.nanmin(x) < 0 or np.nanmax(x) > 1:
        raise InputError(f"sii_chart {x_col!r}: relative ranks must lie in [0, 1]")
    sii_text = f"{fmt(slope, 1)} {units}".strip()
    if slope_ci is not None:
        sii_text += f" (95% CI {fmt(slope_ci[0], 1)} to {fmt(slope_ci[1], 1)})"
    heading = title or f"Slope index of inequality in {label}: {sii_text}"
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        fig = Figure(figsize=(5.6, 3.6))
        ax = fig.add_subplot()
        if lci_col and uci_col:
            lo = _numbers(points[lci_col], f"sii_chart {lci_col!r}")
            hi = _numbers(points[uci_col], f"sii_chart {uci_col!r}")
            ax.errorbar(x, y, yerr=np.vstack([y - lo, hi - y]), fmt="none", ecolor="#555555",
                        elinewidth=1, capsize=3, zorder=2)
        ax.scatter(x, y, s=28, color="#005eb8", zorder=3, label="Deprivation groups")
        xs = np.array([0.0, 1.0])
        ax.plot(xs, intercept + slope * xs, color="#d01c8b", lw=2,
                label=f"Fitted line (SII = {sii_text})")
        ax.set_xlim(0, 1)
        ax.set_xlabel(x_label)
        ax.set_ylabel(f"{label} ({units})" if units else label)
        ax.set_title(heading, loc="left", fontsize=11, wrap=True)
        ax.legend(frameon=False, loc="best")
        svg = _to_svg(fig, salt=f"sii:{heading}")
    head = ["Relative rank of deprivation", f"{label} ({units})" if units else label]
    cols = [x, y]
    if lci_col and uci_col:
        head += ["95% interval, lower", "95% interval, upper"]
        cols += [lo, hi]
    rows = [list(r) for r in zip(*cols, strict=True)]
    rows.append(["Fitted slope (SII)", float(slope)] + (
        [slope_ci[0], slope_ci[1]] if slope_ci is not None and lci_col and uci_col else
        [] if not (lci_col and uci_col) else [float("nan"), float("nan")]))
    return Chart(title=heading, svg=svg, caption=caption, table=data_table(head, rows))


def add_chart_panel(
    m: object,
    charts: Sequence[Chart],
    *,
    title: str = "Charts",
    position: str = "topleft",
    open_at_start: bool = False,
) -> Control:
    """Add a collapsible panel of charts to a map page.

    Parameters
    ----------
    m
        The map (a :class:`maps._layers.AtlasMap` or any folium map).
    charts
        Charts from :func:`decay_chart` and :func:`sii_chart`.
    title
        The panel's summary line.
    position
        Leaflet control position.
    open_at_start
        Open the panel when the page opens.

    Returns
    -------
    Control
        The panel (already added to the map).
    """
    if not charts:
        raise ParameterError("charts: expected at least one chart")
    figures = []
    for chart in charts:
        if not isinstance(chart, Chart):
            raise ParameterError(f"charts: expected Chart objects, got {type(chart).__name__}")
        cap = f"<figcaption>{html.escape(chart.caption)}</figcaption>" if chart.caption else ""
        table = (f"<details class=\"hg-table\"><summary>The figures as a table</summary>"
                 f"{chart.table}</details>" if chart.table else "")
        figures.append(f'<figure><div role="img" aria-label="{html.escape(chart.title)}">'
                       f"{chart.svg}</div>{cap}{table}</figure>")
    opened = " open" if open_at_start else ""
    body = f"<details{opened}><summary>{html.escape(title)}</summary>{''.join(figures)}</details>"
    panel = Control(body, position=position, css="hg-box hg-charts")
    panel.add_to(m)  # type: ignore[arg-type]
    return panel
