"""Areas: the served builds, their places and neighbourhoods, and any area with its family."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Query, Request
from healthgap.data.vintages import build_vintage
from healthgap.geo.hierarchy import LEVEL_ROLES, LEVELS
from healthgap.services.api.catalog import CODE_PATTERN, Build, Catalog, LayerCache, check_code
from healthgap.services.api.deps import (
    AreaPath,
    BuildDep,
    CatalogDep,
    LayersDep,
    SettingsDep,
    public_url,
    url_for,
)
from healthgap.services.api.paging import LIMIT_MAX, page_links, page_slice
from healthgap.services.api.schemas import AreaList, AreaPublic, AreaRef, BuildPublic, Link, Problem

from healthgap.errors import UnknownAreaError

router = APIRouter(tags=["areas"])

_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {**_PROBLEM, "description": "Unknown area"}}
INVALID: dict[int | str, dict[str, Any]] = {422: {**_PROBLEM, "description": "Invalid parameter"}}

#: Which level a code's prefix denotes.
_PREFIX_LEVEL = {"E01": "lsoa", "E02": "msoa", "E06": "lad", "E07": "lad", "E08": "lad",
                 "E09": "lad", "E38": "sicb", "E54": "icb"}
#: Layer holding each level's rows.
_LEVEL_LAYER = {"lsoa": "lsoa", "msoa": "msoa", "lad": "place", "icb": "system"}
_ORDER = list(LEVELS)


def _ref(request: Request, level: str, code: str, name: Any) -> AreaRef:
    return AreaRef(code=str(code), name="" if pd.isna(name) else str(name), level=level,
                   role=LEVEL_ROLES.get(level, level),
                   href=url_for(request, "get_area", area=str(code)))


def _frame(layers: LayerCache, build: Build, level: str) -> pd.DataFrame | None:
    name = _LEVEL_LAYER.get(level)
    if name is None or name not in layers.layers(build):
        return None
    return layers.frame(build, name)


def _inside(frame: pd.DataFrame) -> pd.Series:
    if "in_area" in frame.columns:
        return frame["in_area"].fillna(0).astype(bool)
    return pd.Series(True, index=frame.index)


def _vintage(b: Build) -> str | None:
    """Return the build's geography vintage label from its manifest (None before vintages)."""
    v = b.manifest.get("vintage")
    return str(v["label"]) if isinstance(v, dict) and "label" in v else None


def _key_columns(b: Build) -> dict[str, dict[str, str]]:
    """Return what each served key column holds in the build's vintage (2019 before vintages)."""
    return build_vintage(b.manifest).key_columns()


def _build_public(request: Request, b: Build) -> BuildPublic:
    url = url_for(request, "get_area", area=b.code)
    return BuildPublic(code=b.code, name=b.name, level=b.level,
                       role=LEVEL_ROLES.get(b.level, b.level), created_utc=b.created_utc,
                       synthetic=b.synthetic, vintage=_vintage(b),
                       key_columns=_key_columns(b),
                       links=[Link(href=url, rel="self"),
                              Link(href=url_for(request, "list_layers", area=b.code),
                                   rel="layers"),
                              Link(href=url_for(request, "list_places", area=b.code),
                                   rel="places"),
                              Link(href=url_for(request, "list_maps", area=b.code),
                                   rel="maps"),
                              Link(href=url_for(request, "stats_index", area=b.code),
                                   rel="stats")])


@router.get("/areas", response_model=list[BuildPublic], summary="The served builds (systems)")
def list_areas(request: Request, catalog: CatalogDep) -> list[BuildPublic]:
    """List the study areas the service has a build for (usually ICBs)."""
    return [_build_public(request, b) for _, b in sorted(catalog.builds().items())]


def _own_name(layers: LayerCache, build: Build, level: str, code: str, name_col: str,
              name: Any) -> Any:
    """Return ``name``, or if missing the name ``level``'s own layer gives ``code``."""
    if name is None or pd.isna(name):
        own = _frame(layers, build, level)
        if own is not None and code in own.index and name_col in own.columns:
            name = own.at[code, name_col]
    return name


def _parents(request: Request, layers: LayerCache, build: Build, level: str,
             rows: pd.DataFrame) -> list[AreaRef]:
    """Return the areas above ``level`` that hold the LSOA ``rows``."""
    parents: list[AreaRef] = []
    for parent in _ORDER[_ORDER.index(level) + 1:]:
        pc, pn = LEVELS[parent]
        if pc in rows.columns:
            codes = rows[pc].dropna().unique()
            for c in codes:
                pname = rows.loc[rows[pc] == c, pn].iloc[0] if pn in rows.columns else None
                pname = _own_name(layers, build, parent, c, pn, pname)
                parents.append(_ref(request, parent, str(c), pname))
    return parents


def _population(layers: LayerCache, build: Build, level: str, code: str,
                rows: pd.DataFrame) -> float | None:
    """Return the population of ``code`` from its own layer or summed over its LSOA ``rows``."""
    population = None
    own = _frame(layers, build, level)
    if own is not None and code in own.index and "population" in own.columns:
        value = own.at[code, "population"]
        population = None if pd.isna(value) else float(value)
    elif level in ("lsoa", "sicb") and "population" in rows.columns:
        population = float(rows["population"].sum())
    return population


def _children(request: Request, layers: LayerCache, build: Build, level: str, code: str,
              rows: pd.DataFrame) -> list[AreaRef]:
    """Return the areas one level below ``code``."""
    children: list[AreaRef] = []
    if level == "icb":
        place = _frame(layers, build, "lad")
        if place is not None:
            children = [_ref(request, "lad", str(c), r.get("place_name"))
                        for c, r in place.iterrows()]
    elif level == "sicb":
        pairs = (rows[["place_code", "place_name"]].drop_duplicates("place_code")
                 .sort_values("place_code"))
        children = [_ref(request, "lad", c, n) for c, n in pairs.itertuples(index=False)]
    elif level == "lad":
        msoa = _frame(layers, build, "msoa")
        if msoa is not None and "place_code" in msoa.columns:
            kids = msoa[(msoa["place_code"] == code) & _inside(msoa)].sort_index()
            children = [_ref(request, "msoa", str(c), n)
                        for c, n in kids.get("msoa_name", pd.Series(index=kids.index)).items()]
    elif level == "msoa":
        kids = rows.sort_index()
        children = [_ref(request, "lsoa", str(c), n)
                    for c, n in kids.get("lsoa_name", pd.Series(index=kids.index)).items()]
    return children


def _family(request: Request, layers: LayerCache, build: Build, level: str, code: str
            ) -> tuple[str, bool, float | None, list[AreaRef], list[AreaRef]]:
    """Return (name, in_area, population, parents, children) of ``code`` in ``build``."""
    lsoa = _frame(layers, build, "lsoa")
    if lsoa is None:
        raise UnknownAreaError(f"build {build.code} has no lsoa layer")
    col, name_col = LEVELS[level]
    if level == "lsoa":
        rows = lsoa.loc[[code]]
    else:
        rows = lsoa[lsoa[col] == code]
    inside = _inside(rows)
    if level in ("sicb", "icb", "lad"):
        rows = rows[inside]
    if rows.empty:
        raise UnknownAreaError(f"area {code!r} is not in build {build.code}")
    first = rows.iloc[0]
    name = first[name_col] if name_col in rows.columns else None
    name = _own_name(layers, build, level, code, name_col, name)
    parents = _parents(request, layers, build, level, rows)
    population = _population(layers, build, level, code, rows)
    children = _children(request, layers, build, level, code, rows)
    return ("" if name is None or pd.isna(name) else str(name), bool(inside.any()), population,
            parents, children)


def _locate(catalog: Catalog, layers: LayerCache, code: str) -> tuple[Build, str]:
    """Return the build (preferring one where the area is inside) and level of ``code``."""
    builds = catalog.builds()
    if code in builds:
        return builds[code], builds[code].level
    catalog.require_readable(code)  # served once, unreadable now: 503, not an unknown area
    level = _PREFIX_LEVEL.get(code[:3])
    if level is None:
        raise UnknownAreaError(f"area {code!r}: not a served build, and its prefix "
                               f"{code[:3]} is not an LSOA (E01), MSOA (E02), place (E06-E09), "
                               "sub-ICB (E38) or ICB (E54) code")
    col = LEVELS[level][0]
    fallback: Build | None = None
    for _, build in sorted(builds.items()):
        lsoa = _frame(layers, build, "lsoa")
        if lsoa is None:
            continue
        hit = (lsoa.index == code) if level == "lsoa" else (lsoa[col] == code).to_numpy()
        if not hit.any():
            continue
        if _inside(lsoa)[hit].any():
            return build, level
        if level in ("lsoa", "msoa") and fallback is None:
            fallback = build
    if fallback is not None:
        return fallback, level
    raise UnknownAreaError(f"area {code!r}: no served build holds this "
                           f"{LEVEL_ROLES[level]}; served builds: "
                           f"{', '.join(sorted(builds)) or 'none'}")


@router.get("/areas/{area}", response_model=AreaPublic, name="get_area",
            summary="One area with its parents and children", responses={**NOT_FOUND, **INVALID})
def get_area(request: Request, area: AreaPath, catalog: CatalogDep,
             layers: LayersDep) -> AreaPublic:
    """Return any area a build holds, with the areas that contain it and those it contains.

    The area may be a build's own area (system), a sub-ICB, a place, an MSOA or an LSOA.
    """
    code = check_code(area)
    build, level = _locate(catalog, layers, code)
    if code == build.code and level not in LEVELS:
        parents: list[AreaRef] = []
        children: list[AreaRef] = []
        name, inside, population = build.name, True, None
        place = _frame(layers, build, "lad")
        if place is not None:
            children = [_ref(request, "lad", str(c), r.get("place_name"))
                        for c, r in place.iterrows()]
    else:
        name, inside, population, parents, children = _family(request, layers, build, level,
                                                              code)
        if code == build.code:
            name = build.name
    links = [Link(href=public_url(request), rel="self"),
             Link(href=url_for(request, "get_area", area=build.code), rel="build")]
    if code == build.code:
        links.append(Link(href=url_for(request, "list_layers", area=build.code),
                          rel="layers"))
    return AreaPublic(code=code, name=name, level=level, role=LEVEL_ROLES.get(level, level),
                      build=build.code, in_area=inside, population=population, parents=parents,
                      children=children, links=links, vintage=_vintage(build),
                      key_columns=_key_columns(build))


@router.get("/areas/{area}/places", response_model=AreaList, name="list_places",
            summary="The places (local authorities) of a build", responses=NOT_FOUND)
def list_places(request: Request, build: BuildDep, layers: LayersDep) -> AreaList:
    """List the places of a build's area."""
    place = _frame(layers, build, "lad")
    items = [] if place is None else [_ref(request, "lad", str(c), r.get("place_name"))
                                      for c, r in place.sort_index().iterrows()]
    return AreaList(items=items, numberMatched=len(items), numberReturned=len(items),
                    links=[Link(href=public_url(request), rel="self")])


@router.get("/areas/{area}/neighbourhoods", response_model=AreaList,
            summary="The neighbourhoods (MSOAs or LSOAs) of a build, paged",
            responses={**NOT_FOUND, **INVALID})
def list_neighbourhoods(
    request: Request, build: BuildDep, layers: LayersDep, settings: SettingsDep,
    level: Annotated[Literal["msoa", "lsoa"], Query(description="msoa or lsoa.")] = "msoa",
    place: Annotated[str | None, Query(description="Only those in this place (local "
                                       "authority code).", pattern=CODE_PATTERN)] = None,
    ring: Annotated[bool, Query(description="Include the edge ring of neighbours outside "
                                "the area.")] = False,
    limit: Annotated[int | None, Query(
        ge=1, le=LIMIT_MAX, description="Items per page (at most the "
                                       "service's max_page_size).")] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> AreaList:
    """List a build's MSOAs or LSOAs with links to each; page with ``limit`` and ``offset``."""
    frame = _frame(layers, build, level)
    if frame is None:
        raise UnknownAreaError(f"build {build.code} has no {level} layer")
    rows = frame if ring else frame[_inside(frame)]
    if place is not None:
        place = check_code(place)
        if "place_code" not in rows.columns or not (rows["place_code"] == place).any():
            raise UnknownAreaError(f"place {place!r} has no {level} in build {build.code}")
        rows = rows[rows["place_code"] == place]
    rows = rows.sort_index()
    start, stop = page_slice(offset, limit, default=settings.default_page_size,
                             most=settings.max_page_size)
    page = rows.iloc[start:stop]
    name_col = LEVELS[level][1]
    items = [_ref(request, level, str(c), r.get(name_col)) for c, r in page.iterrows()]
    links, _ = page_links(request, start, stop, len(rows))
    return AreaList(items=items, numberMatched=len(rows), numberReturned=len(items),
                    links=links)


@router.get("/areas/{area}/manifest", name="get_manifest",
            summary="How the build was made (inputs, versions)", responses=NOT_FOUND)
def get_manifest(build: BuildDep) -> dict[str, Any]:
    """Return the build's manifest without machine paths.

    It holds the inputs with their SHA-256, parameters, package versions, counts and notes.
    """
    return _without_paths(build.manifest)


def _without_paths(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_paths(v) for k, v in value.items()
                if k not in ("path", "data_dir", "out_dir")}
    if isinstance(value, list):
        return [_without_paths(v) for v in value]
    return value


__all__ = ["router", "AreaPath"]
