"""The board pack of a build: its Excel workbook, PowerPoint deck and print map images.

Serves what ``healthgap report`` (or ``healthgap build --report``) wrote into
``<build>/report``; nothing is drawn here. A file name from a request is never joined to a
path: the map images are listed and the request must equal one of the listed names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from healthgap.services.api.catalog import Build
from healthgap.services.api.deps import BuildDep
from healthgap.services.api.schemas import Problem
from healthgap.services.errors import UnknownPageError
from healthgap.services.report import MAPS_DIR, REPORT_DIR, report_paths

router = APIRouter(tags=["maps"])

_PROBLEM = {"content": {"application/problem+json": {}}, "model": Problem}
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".png": "image/png", ".svg": "image/svg+xml",
}
HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=300"}


def _responses(media: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media: {}}, "description": "The file"},
            404: {**_PROBLEM, "description": "Unknown area, or no board pack in this build"}}


def _missing(build: Build, what: str) -> UnknownPageError:
    return UnknownPageError(f"{what}: the build of {build.code} has no board pack; write it with "
                            f"`healthgap report --store <build folder>` (or build with "
                            "--report)")


def _file(build: Build, kind: str) -> FileResponse:
    path = report_paths(build.directory, build.code)[kind]
    if not path.is_file() or path.is_symlink():
        raise _missing(build, f"report.{kind}")
    return FileResponse(path, media_type=MEDIA[kind], filename=path.name, headers=HEADERS)


@router.get("/areas/{area}/report.xlsx", name="get_report_xlsx", response_class=FileResponse,
            summary="The build's board pack workbook (Excel)", responses=_responses(MEDIA["xlsx"]))
def get_report_xlsx(build: BuildDep) -> FileResponse:
    """Return the workbook: at a glance, inequality by level, tenths, places, Core20..."""
    return _file(build, "xlsx")


@router.get("/areas/{area}/report.pptx", name="get_report_pptx", response_class=FileResponse,
            summary="The build's board pack deck (PowerPoint)", responses=_responses(MEDIA["pptx"]))
def get_report_pptx(build: BuildDep) -> FileResponse:
    """Return the deck: one message per slide, native charts, notes with methods."""
    return _file(build, "pptx")


def map_images(build: Build) -> dict[str, Path]:
    """Return ``{file name: path}`` of the build's print map images (PNG and SVG)."""
    folder = build.directory / REPORT_DIR / MAPS_DIR
    if not folder.is_dir() or folder.is_symlink():
        return {}
    return {p.name: p for p in sorted(folder.iterdir())
            if p.suffix in (".png", ".svg") and p.is_file() and not p.is_symlink()}


@router.get("/areas/{area}/report/maps/{name}", name="get_report_map",
            response_class=FileResponse, summary="One print map image (PNG or SVG)",
            responses={200: {"content": {"image/png": {}, "image/svg+xml": {}},
                             "description": "The image"},
                       404: {**_PROBLEM, "description": "Unknown area or image"}})
def get_report_map(build: BuildDep,
                   name: Annotated[str, PathParam(description="An image name, e.g. "
                                                  "msoa-le-male.png", max_length=120)]
                   ) -> FileResponse:
    """Return a print map image; the atlas pages link here (``../report/maps/<slug>.png``)."""
    images = map_images(build)
    path = images.get(name)
    if path is None:
        if not images:
            raise _missing(build, f"report/maps/{name[:80]}")
        raise UnknownPageError(f"map image {name[:80]!r} is not in the board pack of "
                               f"{build.code}; images: {', '.join(list(images)[:6])}…")
    return FileResponse(path, media_type=MEDIA[path.suffix], headers=HEADERS)
