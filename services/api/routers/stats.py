"""Statistics and models: the results a build stored, for an area and an indicator.

Nothing is computed here. Global results (autocorrelation, inequality, decay, regression) are
rows of the build's attribute tables; local results (LISA and the like) are columns on the
``lsoa``/``msoa`` layers. What is there depends on the build's options; ``/stats`` lists it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Query, Request
from healthgap.geo.columns import COLUMNS
from healthgap.services import _geojson
from healthgap.services.api.catalog import LAYER_PATTERN, Build, LayerCache
from healthgap.services.api.deps import BuildDep, LayerPath, LayersDep, SettingsDep, url_for
from healthgap.services.api.paging import LIMIT_MAX, page_slice
from healthgap.services.api.schemas import LocalColumns, Problem, Rows, StatsIndex, StatTable

from healthgap.errors import UnknownLayerError

router = APIRouter(tags=["stats"])

_PROBLEM = {"content": {"application/problem+json": {}}, "model": Problem}
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {**_PROBLEM, "description": "Unknown area, table or indicator"},
    422: {**_PROBLEM, "description": "Invalid parameter"},
}
#: Tables that are not statistics (served elsewhere).
NOT_STATS = frozenset({"join_report"})
#: Per-area statistic columns on the neighbourhood layers (``lisa_le_male``, ``lisa_le_male_p``,
#: ``gi_imd_score_z``, ``bilisa_le_male_imd``...) are named and read by the column registry,
#: `geo.columns.COLUMNS`, alone.

_NEIGHBOURHOODS = ("lsoa", "msoa")

Indicator = Annotated[str | None, Query(description="Indicator column, e.g. le_male.",
                                        pattern=LAYER_PATTERN, max_length=63)]
Level = Annotated[str | None, Query(description="Level: lsoa, msoa, place, system.",
                                    pattern=LAYER_PATTERN, max_length=63)]


def _stat_tables(layers: LayerCache, build: Build) -> dict[str, Any]:
    return {name: info for name, info in layers.layers(build).items()
            if not info.spatial and name not in NOT_STATS}


def _local_columns(layers: LayerCache, build: Build) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    infos = layers.layers(build)
    for level in _NEIGHBOURHOODS:
        if level not in infos:
            continue
        fields = [f for f, _ in infos[level].fields]
        for indicator, cols in COLUMNS.local_columns(fields, level=level).items():
            out[(level, indicator)] = cols
    return out


@router.get("/areas/{area}/stats", response_model=StatsIndex, name="stats_index",
            summary="What statistics and model results a build holds",
            responses={404: ERRORS[404]})
def stats_index(request: Request, build: BuildDep, layers: LayersDep) -> StatsIndex:
    """List the statistics and model tables and the per-area statistic columns of a build."""
    tables = [StatTable(name=name, rows=info.count, columns=[f for f, _ in info.fields],
                        href=url_for(request, "stats_table", area=build.code, table=name))
              for name, info in sorted(_stat_tables(layers, build).items())]
    local = [LocalColumns(level=level, indicator=ind, columns=cols,
                          href=url_for(request, "stats_local", area=build.code)
                          + f"?level={level}&indicator={ind}")
             for (level, ind), cols in sorted(_local_columns(layers, build).items())]
    return StatsIndex(area=build.code, tables=tables, local=local)


def _rows(request: Request, build: Build, layers: LayerCache, table: str, filters: dict[str,
          str | None], limit: int | None, offset: int, most: int) -> Rows:
    tables = _stat_tables(layers, build)
    if table not in tables:
        raise UnknownLayerError(f"table {table!r}: build {build.code} holds "
                                f"{', '.join(sorted(tables)) or 'no statistics tables'}")
    frame = layers.frame(build, table)
    used = {}
    for col, value in filters.items():
        if value is None:
            continue
        if col not in frame.columns:
            raise UnknownLayerError(f"table {table!r} has no {col!r} column to filter on; "
                                    f"columns: {', '.join(map(str, frame.columns))}")
        match = frame[col].astype(str) == value
        if not match.any():
            present = sorted(frame[col].dropna().astype(str).unique())
            raise UnknownLayerError(f"{col}={value!r}: not in table {table!r} of {build.code}; "
                                    f"present: {', '.join(present[:40])}")
        frame = frame[match]
        used[col] = value
    start, stop = page_slice(offset, limit, default=most, most=most)
    page = pd.DataFrame(frame).iloc[start:stop]
    if page.index.name:
        page = page.reset_index()
    return Rows(area=build.code, table=table, filters=used, numberMatched=len(frame),
                numberReturned=len(page), rows=_geojson.records(page))


@router.get("/areas/{area}/stats/global", response_model=Rows, name="stats_global",
            summary="Global statistics (Moran's I and others) for a level and indicator",
            responses=ERRORS)
def stats_global(request: Request, build: BuildDep, layers: LayersDep, settings: SettingsDep,
                 level: Level = None, indicator: Indicator = None,
                 statistic: Annotated[str | None, Query(pattern=LAYER_PATTERN, max_length=63,
                                                        description="e.g. moran_i.")] = None,
                 ) -> Rows:
    """Rows of the build's ``stats_global`` table, filtered by level, indicator, statistic."""
    return _rows(request, build, layers, "stats_global",
                 {"level": level, "indicator": indicator, "statistic": statistic},
                 None, 0, settings.max_table_rows)


@router.get("/areas/{area}/stats/local", response_model=Rows, name="stats_local",
            summary="Local statistics (LISA clusters and the like) per neighbourhood",
            responses=ERRORS)
def stats_local(request: Request, build: BuildDep, layers: LayersDep, settings: SettingsDep,
                indicator: Annotated[str, Query(pattern=LAYER_PATTERN, max_length=63,
                                                description="Indicator, e.g. le_male.")],
                level: Annotated[Literal["lsoa", "msoa"], Query()] = "msoa",
                limit: Annotated[int | None, Query(ge=1, le=LIMIT_MAX)] = None,
                offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> Rows:
    """One row per neighbourhood inside the area: the indicator and its local statistics."""
    found = _local_columns(layers, build)
    cols = found.get((level, indicator))
    if cols is None:
        there = ", ".join(f"{lv}/{ind}" for lv, ind in sorted(found)) or "none"
        raise UnknownLayerError(f"no local statistics for {indicator!r} at level {level!r} in "
                                f"build {build.code}; available: {there}")
    frame = layers.frame(build, level)
    if "in_area" in frame.columns:
        frame = frame[frame["in_area"].fillna(0).astype(bool)]
    keep = [indicator, *cols]
    table = pd.DataFrame(frame[keep]).sort_index()
    start, stop = page_slice(offset, limit, default=settings.max_table_rows,
                             most=settings.max_table_rows)
    page = table.iloc[start:stop].reset_index()
    return Rows(area=build.code, table=level, filters={"level": level, "indicator": indicator},
                numberMatched=len(table), numberReturned=len(page),
                rows=_geojson.records(page))


@router.get("/areas/{area}/stats/tables/{table}", response_model=Rows, name="stats_table",
            summary="Rows of a statistics or model table (inequality, decay, regression...)",
            responses=ERRORS)
def stats_table(request: Request, build: BuildDep, table: LayerPath, layers: LayersDep,
                settings: SettingsDep, level: Level = None, indicator: Indicator = None,
                model: Annotated[str | None, Query(pattern=LAYER_PATTERN, max_length=63)
                                 ] = None,
                sex: Annotated[Literal["male", "female"] | None, Query()] = None,
                limit: Annotated[int | None, Query(ge=1, le=LIMIT_MAX)] = None,
                offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> Rows:
    """Return rows of any statistics or model table a build holds.

    Rows are filtered by the ``level``, ``indicator``, ``model`` and ``sex`` columns when given.
    """
    return _rows(request, build, layers, table,
                 {"level": level, "indicator": indicator, "model": model, "sex": sex}, limit,
                 offset,
                 settings.max_table_rows)
