"""The board pack of a build: an Excel workbook, a PowerPoint deck and print-ready map images.

Everything is read from the build's GeoPackage (``healthgap.gpkg``): the layers, the model
tables and the manifest. The figures of the atlas front page ("the story in numbers") are not
recomputed here: the story page is rendered from the same GeoPackage frames by
:func:`healthgap.maps.story.story_html` and its numbers are read back from the ``<data
class="hg-num">`` elements it wraps each one in, so the workbook's "At a glance" sheet and the
deck's headlines say exactly what the atlas says.

``write_report(store, formats=("xlsx", "pptx", "png"))`` writes ``<store>/report/``:
``healthgap-<code>.xlsx``, ``healthgap-<code>.pptx`` and ``maps/<slug>.png|svg`` (one per atlas
map, under the atlas page's name). The folder is written beside and swapped in whole, so a
failed report leaves the previous one as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
from healthgap.geo.indicators import describe
from healthgap.services.store import STORE_NAME, BuildStore, require_build

from healthgap.errors import InputError, ParameterError

log = logging.getLogger(__name__)

FORMATS = ("xlsx", "pptx", "png")
"""What ``healthgap report --format`` accepts (comma-separated)."""

REPORT_DIR = "report"
MAPS_DIR = "maps"
#: Layers read without geometry (attribute tables of the GeoPackage).
TABLES = ("model_sii", "model_sii_groups", "model_sii_vs_england", "outcome_gap",
          "whatif_summary", "whatif_shares", "whatif_scenario", "join_report")
SEXES = ("male", "female")


def parse_formats(text: str | None) -> tuple[str, ...]:
    """Return the formats named in ``text`` (``"xlsx,pptx"``), all of them when None or empty.

    Raises
    ------
    ParameterError
        Naming ``--format`` and the unknown value.
    """
    if text is None or not str(text).strip():
        return FORMATS
    items = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    bad = [t for t in items if t not in FORMATS]
    if bad or not items:
        raise ParameterError(f"--format {text!r}: unknown {', '.join(map(repr, bad))}; expected "
                             f"a comma-separated list of {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class StoryFigure:
    """One number of the story page, as it is shown there.

    Attributes
    ----------
    section
        The story section it is in ("The gap by deprivation").
    key
        Its key on the page (``gap_male``, ``sii_female_england_lo``...).
    value
        The unrounded value.
    shown
        The text on the page ("10.1 years").
    source
        Where it was read: ``layer:msoa``, ``table:model_sii``, ``comparator``...
    """

    section: str
    key: str
    value: float
    shown: str
    source: str


@dataclass(frozen=True)
class Story:
    """The story page's sections (plain sentences) and numbers."""

    sections: dict[str, list[str]]
    figures: list[StoryFigure]

    def value(self, key: str) -> float | None:
        """Return the value shown under ``key``, or None when the page does not show it."""
        return next((f.value for f in self.figures if f.key == key), None)

    def first(self, section: str) -> str:
        """Return the first sentence block of a section (empty when absent)."""
        items = self.sections.get(section) or [""]
        return items[0]


class _StoryParser(HTMLParser):
    """Collect the story page's sections, paragraph texts and ``hg-num`` values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, list[str]] = {}
        self.figures: list[StoryFigure] = []
        self._section = ""
        self._in_h3 = False
        self._block: list[str] | None = None
        self._num: dict[str, str] | None = None
        self._num_text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "h3":
            self._in_h3, self._section = True, ""
        elif tag in ("p", "li") and self._skip == 0:
            self._block = []
        elif tag in ("figure", "table", "svg"):
            self._skip += 1
        elif tag == "data" and "hg-num" in a.get("class", ""):
            self._num, self._num_text = a, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3":
            self._in_h3 = False
            self.sections.setdefault(self._section, [])
        elif tag in ("p", "li") and self._block is not None:
            text = " ".join("".join(self._block).split())
            if text:
                self.sections.setdefault(self._section, []).append(text)
            self._block = None
        elif tag in ("figure", "table", "svg"):
            self._skip = max(0, self._skip - 1)
        elif tag == "data" and self._num is not None:
            n = self._num
            self.figures.append(StoryFigure(self._section, n.get("data-key", ""),
                                            float(n.get("value", "nan")),
                                            "".join(self._num_text), n.get("data-source", "")))
            self._num = None

    def handle_data(self, data: str) -> None:
        if self._in_h3:
            self._section += data
        if self._block is not None:
            self._block.append(data)
        if self._num is not None:
            self._num_text.append(data)


def parse_story(html_text: str) -> Story:
    """Return the sections and numbers of a rendered story page (``maps.story.story_html``)."""
    parser = _StoryParser()
    parser.feed(html_text)
    parser.close()
    # a figure the page shows twice (the at-a-glance card and the text) is one row, the first
    first: dict[str, StoryFigure] = {}
    for f in parser.figures:
        first.setdefault(f.key, f)
    return Story(parser.sections, list(first.values()))


@dataclass(frozen=True)
class ReportData:
    """What the board pack reads from one build.

    Attributes
    ----------
    directory
        The build directory.
    manifest
        The build's manifest.
    layers
        Layers read from the GeoPackage by name (``msoa``, ``place``, ``system``,
        ``neighbourhood``, ``cliffs`` and the model tables present).
    england
        England comparators by column (``manifest["comparators"]``, else what the manifest's
        results give).
    story
        The story page's sections and figures.
    sources
        Data sources (name, publisher, licence, url).
    """

    directory: Path
    manifest: dict[str, Any]
    layers: dict[str, pd.DataFrame]
    england: dict[str, float]
    story: Story
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def code(self) -> str:
        """The area code."""
        return str(self.manifest["area"]["code"])

    @property
    def name(self) -> str:
        """The area name."""
        return str(self.manifest["area"]["name"])

    @property
    def level(self) -> str:
        """The area level (``icb``, ``lad``...)."""
        return str(self.manifest["area"].get("level", ""))

    @property
    def synthetic(self) -> bool:
        """Whether the build is of the synthetic demo area."""
        return bool(self.manifest.get("synthetic"))

    def table(self, name: str) -> pd.DataFrame | None:
        """Return a layer or table, or None when the build has none."""
        return self.layers.get(name)

    def manifest_reference(self) -> str:
        """Return the build's manifest reference: version, time and the manifest's SHA-256."""
        digest = hashlib.sha256(json.dumps(self.manifest, sort_keys=True, default=str)
                                .encode()).hexdigest()
        m = self.manifest
        return (f"healthgap {m.get('healthgap_version', '?')} build of {self.name} "
                f"({self.code}), created {m.get('created_utc', '?')} UTC; manifest SHA-256 "
                f"{digest[:16]} (the manifest table of {STORE_NAME})")

    def periods(self) -> list[str]:
        """Return the data periods in words (as on the story page)."""
        return _periods()


def _periods() -> list[str]:
    return [f"Life expectancy {describe('le_male').period}",
            f"deprivation {describe('imd_score').period}",
            f"population {describe('population').period}"]


def _england(manifest: dict[str, Any]) -> dict[str, float]:
    comp = manifest.get("comparators")
    out = {str(k): float(v) for k, v in comp.items()} if isinstance(comp, dict) else {}
    share = manifest.get("results", {}).get("core20", {}).get("england_core20_share")
    if share is not None:
        out.setdefault("core20_share", float(share))
    return out


def _indexed(frame: pd.DataFrame, code: str) -> pd.DataFrame:
    return frame.set_index(code) if code in frame.columns else frame


def load_report(directory: str | Path, *, complete: bool = True) -> ReportData:
    """Read what the board pack needs from a build directory.

    Parameters
    ----------
    directory
        A build directory (holding ``healthgap.gpkg``).
    complete
        Check first that the build is complete (False inside a build being staged, whose
        atlas is not written yet).

    Raises
    ------
    InputError
        When there is no build there, or it is damaged (the message names the file and what
        is wrong).
    """
    from healthgap.maps.story import StoryInputs, story_html
    from healthgap.services.atlas import LEVEL_WORDS, _sources

    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"--store {d}: no such build folder")
    # the one refusal path for a damaged build (issue #28), as headline, whatif and serve
    store = require_build(d) if complete else BuildStore(d)
    manifest = store.read_manifest()
    present = store.layers()
    layers: dict[str, pd.DataFrame] = {}
    for name, code in (("msoa", "msoa_code"), ("place", "place_code"), ("system", "system_code"),
                       ("neighbourhood", "nbhd_cd")):
        if name in present:
            layers[name] = _indexed(store.read_layer(name), code)
    for name in (*TABLES, "cliffs"):
        if name in present:
            frame = store.read_layer(name)
            layers[name] = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    for name in ("msoa", "place", "system"):
        if name not in layers:
            raise InputError(f"{store.path}: layer {name!r} is missing; the report needs it")
    england = _england(manifest)
    word = LEVEL_WORDS.get(str(manifest["area"].get("level")), "area")
    sources = _sources(manifest)
    story_in = StoryInputs(
        area_name=str(manifest["area"]["name"]), level_word=word, msoa=layers["msoa"],
        place=layers["place"], system=layers["system"], sii=layers.get("model_sii"),
        neighbourhood=layers.get("neighbourhood"), england=england,
        notes=list(manifest.get("notes", [])), sources=sources,
        period=_periods(), synthetic=bool(manifest.get("synthetic")))
    story = parse_story(story_html(story_in))
    return ReportData(directory=d, manifest=manifest, layers=layers, england=england,
                      story=story, sources=sources)


def report_paths(directory: str | Path, code: str) -> dict[str, Path]:
    """Return where the report files of a build go: ``{"xlsx": ..., "pptx": ..., "png": ...}``."""
    root = Path(directory) / REPORT_DIR
    stem = f"healthgap-{code.lower()}"
    return {"xlsx": root / f"{stem}.xlsx", "pptx": root / f"{stem}.pptx", "png": root / MAPS_DIR}


def write_report(directory: str | Path, *, formats: tuple[str, ...] = FORMATS,
                 staged: bool = True, complete: bool = True) -> dict[str, Path]:
    """Write the board pack of a build into ``<directory>/report`` and return the paths.

    Parameters
    ----------
    directory
        A build directory.
    formats
        Any of :data:`FORMATS`.
    staged
        Write into a temporary sibling folder and swap it in whole (False when the build
        itself is being staged, as in ``healthgap build --report``).
    complete
        Check that the build is complete first (see :func:`load_report`).

    Returns
    -------
    dict
        ``{"xlsx": file, "pptx": file, "png": folder of the map images}`` for the formats
        written.
    """
    from healthgap.services import _deck, _workbook
    from healthgap.services._static_pages import write_static_maps

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ParameterError(f"formats: unknown {bad}; expected some of {', '.join(FORMATS)}")
    data = load_report(directory, complete=complete)
    final = Path(directory) / REPORT_DIR
    target = final.with_name(f".{REPORT_DIR}.tmp-{os.getpid()}") if staged else final
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    try:
        paths = {k: target / v.relative_to(final)
                 for k, v in report_paths(directory, data.code).items()}
        images: dict[str, Path] = {}
        if "png" in formats or "pptx" in formats:
            images = write_static_maps(data, paths["png"], only=None if "png" in formats
                                       else _deck.MAP_SLUGS)
        if "xlsx" in formats:
            _workbook.write_workbook(data, paths["xlsx"])
        if "pptx" in formats:
            _deck.write_deck(data, paths["pptx"], images=images)
        if "png" not in formats and paths["png"].exists():
            shutil.rmtree(paths["png"])  # drawn only for the deck
        if staged:
            _swap(target, final)
    except BaseException:
        if staged:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return {k: v for k, v in report_paths(directory, data.code).items() if k in formats}


def _swap(new: Path, final: Path) -> None:
    """Put folder ``new`` at ``final``; an older ``final`` is removed only after the rename."""
    old = final.with_name(f".{REPORT_DIR}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    new.rename(final)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
