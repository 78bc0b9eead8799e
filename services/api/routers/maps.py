"""Maps: the HTML pages of a build's atlas, served only if they are in the atlas listing.

A page name from a request is never joined to a path: the atlas directory is listed (regular
files with a page suffix, no symbolic links, nothing outside the atlas), and the request must
equal one of the listed names exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from healthgap.services.api.catalog import Build
from healthgap.services.api.deps import BuildDep, url_for
from healthgap.services.api.schemas import MapList, MapPage, Problem
from healthgap.services.errors import UnknownPageError

router = APIRouter(tags=["maps"])

_PROBLEM = {"content": {"application/problem+json": {}}, "model": Problem}
#: Files of the atlas that are served, with their media types (pages, and the licence texts
#: they link to). The atlas's ``manifest.json`` is answered by a redirect to the path-free
#: manifest endpoint.
SERVED = {".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8",
          ".js": "text/javascript; charset=utf-8"}  # the atlas's search.js (wards, postcodes)
ATLAS_MANIFEST = "manifest.json"
#: Pages deeper than this are not listed.
MAX_DEPTH = 3
#: Pages listed at most.
MAX_PAGES = 2000
#: Headers sent with every page: the atlas pages carry their own scripts and styles inline.
PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "public, max-age=300"}


def atlas_pages(build: Build) -> dict[str, Path]:
    """Return ``{name: file}`` for every servable file in the build's atlas directory."""
    root = build.atlas
    if not root.is_dir() or root.is_symlink():
        return {}
    real_root = root.resolve()
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root)
        if len(rel_dir.parts) >= MAX_DEPTH:
            dirnames.clear()
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and not (Path(dirpath) / d).is_symlink())
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix not in SERVED or path.is_symlink():
                continue
            if not path.is_file() or not path.resolve().is_relative_to(real_root):
                continue
            out[(rel_dir / name).as_posix()] = path
            if len(out) >= MAX_PAGES:
                return out
    return out


@router.get("/areas/{area}/maps", response_model=MapList, name="list_maps",
            summary="The atlas pages of a build",
            responses={404: {**_PROBLEM, "description": "Unknown area"}})
def list_maps(request: Request, build: BuildDep) -> MapList:
    """List the HTML pages of the build's atlas (empty when the build has no atlas)."""
    pages = [MapPage(name=name, bytes=path.stat().st_size,
                     href=url_for(request, "get_map", area=build.code, page=name))
             for name, path in atlas_pages(build).items() if path.suffix == ".html"]
    return MapList(area=build.code, pages=pages)


@router.get("/areas/{area}/maps/{page:path}", name="get_map", response_class=HTMLResponse,
            summary="One atlas page (HTML)",
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}},
                                         "text/plain": {"schema": {"type": "string"}}},
                             "description": "The page"},
                       307: {"description": "manifest.json: see /areas/{area}/manifest"},
                       404: {**_PROBLEM, "description": "Unknown area or page"}})
def get_map(request: Request, build: BuildDep,
            page: Annotated[str, PathParam(description="A page name from /areas/{area}/maps, "
                                           "e.g. index.html.", max_length=300)]) -> Response:
    """Return an atlas page (or a licence text it links to). Only listed names are served."""
    if page == ATLAS_MANIFEST:
        return RedirectResponse(url_for(request, "get_manifest", area=build.code),
                                status_code=307)
    pages = atlas_pages(build)
    path = pages.get(page)
    if path is None:
        shown = page if len(page) <= 80 else f"{page[:80]}…"
        listed = ", ".join(sorted(pages)[:10]) or "none (this build has no atlas)"
        raise UnknownPageError(f"map page {shown!r} is not in the atlas of {build.code}; "
                               f"pages: {listed}")
    return Response(path.read_bytes(), media_type=SERVED[path.suffix], headers=PAGE_HEADERS)
