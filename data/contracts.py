"""What each input must be before anything is computed: whole, readable and complete.

Two checks, both run before a command computes anything:

* `check_file`: the file is whole for its format. An empty file, a CSV cut in the middle of a
  row, a gzip stream that ends early, a GeoJSON document that is not closed, a GeoPackage that
  is not an SQLite database (or fails SQLite's own ``quick_check``), a PBF whose last block is
  cut short, an OSM XML file without its closing tag: each raises `InputError` naming the file
  and what is wrong. The checks read bytes, not features, so they cost little even at England's
  scale (a PBF is walked block by block from its headers, nothing is decompressed).
* `COVERAGE`: what every national input must cover, one declaration per input name (the
  `data.layout.LAYOUT` key): every English LSOA or MSOA of the geography the lookup gives,
  every LSOA of the area, or every practice of a list. `check_coverage` compares the codes a
  reader returned with what the declaration asks for; a `Shortfall` names the file and the
  first missing codes. A build refuses a shortfall unless asked to go on (``allow_incomplete``),
  and then reports it in the join report, the manifest and on the story page.

The declarations are keyed by input name and ask for codes by level and scope, never for a
particular vintage's codes: a data vintage plugs in by giving its own table of declarations
(`Coverage`) and its own `Universe` (built from its lookup by `universe_from`).
"""

from __future__ import annotations

import csv
import gzip
import sqlite3
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd

from healthgap.errors import InputError, ValidationError, preview

#: How many missing codes a message shows.
FIRST = 5


@dataclass(frozen=True)
class Coverage:
    """What one input must cover.

    Attributes
    ----------
    input
        The input's name (a `data.layout.LAYOUT` key).
    level
        What its codes are: ``"lsoa"``, ``"msoa"`` or ``"practice"``.
    scope
        ``"england"`` (every English code of ``level`` in the lookup), ``"area"`` (every code of
        ``level`` in the study area) or ``"list"`` (every code of input ``of``).
    reader
        The `data.readers` function that reads it (its result's index holds the codes).
    of
        For ``scope="list"``: the input whose codes this one must cover.
    """

    input: str
    level: str
    scope: str
    reader: str = ""
    of: str = ""

    def what(self, n: int) -> str:
        """Say what the input was expected to cover, e.g. "England's 32,844 LSOAs"."""
        unit = {"lsoa": "LSOAs", "msoa": "MSOAs", "practice": "practices"}[self.level]
        if self.scope == "england":
            return f"England's {n:,} {unit}"
        if self.scope == "area":
            return f"the area's {n:,} {unit}"
        return f"the {n:,} {unit} of {self.of}"


#: Every input with a coverage contract, by input name (`data.layout.LAYOUT` keys).
COVERAGE: dict[str, Coverage] = {c.input: c for c in (
    Coverage("imd", "lsoa", "england", "read_imd"),
    Coverage("life_expectancy", "msoa", "england", "read_life_expectancy"),
    Coverage("population", "lsoa", "england", "read_population"),
    Coverage("centroids", "lsoa", "england", "read_centroids"),
    Coverage("lsoa_boundaries", "lsoa", "area", "read_boundaries"),
    Coverage("msoa_boundaries", "msoa", "area", "read_boundaries"),
    Coverage("epcn", "practice", "list", "read_epcn", of="gp_registrations"),
)}


@dataclass(frozen=True)
class Universe:
    """The codes inputs are checked against, by ``(level, scope)``."""

    codes: Mapping[tuple[str, str], pd.Index]

    def expected(self, cov: Coverage) -> pd.Index | None:
        """Return the codes ``cov`` must cover, or None when this universe does not know."""
        return self.codes.get((cov.level, cov.scope if cov.scope != "list" else cov.of))


def universe_from(lookup: pd.DataFrame, *, area_lsoas: Iterable[str] = (),
                  msoa_column: str = "msoa_code") -> Universe:
    """Return England's LSOAs and MSOAs as a lookup gives them (and the area's, if known).

    Parameters
    ----------
    lookup
        Indexed by LSOA code with an MSOA column (the joined hierarchy: English LSOAs only).
    area_lsoas
        The study area's LSOA codes (for ``scope="area"``).
    msoa_column
        The lookup's MSOA code column.
    """
    english = lookup[lookup.index.astype(str).str.startswith("E")]
    codes: dict[tuple[str, str], pd.Index] = {
        ("lsoa", "england"): pd.Index(english.index.astype(str)),
        ("msoa", "england"): pd.Index(english[msoa_column].astype(str).unique()),
    }
    area = pd.Index([str(c) for c in area_lsoas])
    if len(area):
        codes[("lsoa", "area")] = area
        codes[("msoa", "area")] = pd.Index(
            english.loc[english.index.intersection(area), msoa_column].astype(str).unique())
    return Universe(codes)


@dataclass(frozen=True)
class Shortfall:
    """An input that does not cover what its contract asks for."""

    input: str
    file: Path
    level: str
    expected: int
    missing: tuple[str, ...]
    coverage: Coverage

    def sentence(self) -> str:
        """One line naming the file, how many codes are missing and the first of them."""
        return (f"{self.file}: {len(self.missing):,} of {self.coverage.what(self.expected)} "
                f"missing (input {self.input!r}; first: {preview(self.missing, most=FIRST)})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary for the manifest."""
        return {"file": str(self.file), "level": self.level, "scope": self.coverage.scope,
                "expected": self.expected, "missing": len(self.missing),
                "first_missing": list(self.missing[:FIRST])}

    def report_rows(self) -> pd.DataFrame:
        """Rows for the join report (`geo.joins.REPORT_COLUMNS`), one per missing code."""
        return pd.DataFrame(
            [(f"coverage:{self.input}", "missing_from_input", c,
              f"not in {self.file.name} ({self.coverage.what(self.expected)} expected)")
             for c in self.missing], columns=["join", "side", "code", "reason"])


def check_coverage(cov: Coverage, path: Path, codes: Iterable[str],
                   universe: Universe) -> Shortfall | None:
    """Return the input's shortfall against its contract, or None when it covers it all.

    Parameters
    ----------
    cov
        The contract.
    path
        The file (named in the shortfall).
    codes
        The codes the reader returned.
    universe
        What each level and scope must hold.
    """
    expected = universe.expected(cov)
    if expected is None or not len(expected):
        return None
    have = pd.Index([str(c) for c in codes])
    missing = expected.difference(have)
    if not len(missing):
        return None
    return Shortfall(cov.input, Path(path), cov.level, len(expected),
                     tuple(sorted(map(str, missing))), cov)


def refuse(shortfalls: list[Shortfall]) -> None:
    """Raise `ValidationError` listing every shortfall (and how to go on regardless)."""
    if not shortfalls:
        return
    raise ValidationError(
        "incomplete input(s) (give complete files, or --allow-incomplete to build anyway: the "
        "gaps are then reported in the join report, the manifest and on the story page)",
        [s.sentence() for s in shortfalls])


def note(shortfalls: list[Shortfall]) -> str:
    """One short line for the story page's caveats."""
    parts = [f"{s.file.name} lacks {len(s.missing):,} of {s.coverage.what(s.expected)}"
             for s in shortfalls]
    return ("Built from incomplete inputs (--allow-incomplete): " + "; ".join(parts)
            + "; figures that use them leave those areas out")


def check_inputs(inputs: Mapping[str, Path], universe: Universe,
                 read: Callable[[Callable[[Path], Any], Path], Any], *,
                 allow_incomplete: bool = False) -> list[Shortfall]:
    """Check every input with a contract among ``inputs`` (national scope and lists).

    Parameters
    ----------
    inputs
        ``{input name: path}`` of the files a command will read.
    universe
        What each level and scope must hold.
    read
        ``read(reader, path)`` returns ``reader(path)`` for a `data.readers` function (a cached
        read, `data.cache.read_cached`, so that the frames read here are the ones the build
        then uses).
    allow_incomplete
        Return the shortfalls instead of raising.

    Raises
    ------
    ValidationError
        Every shortfall, when ``allow_incomplete`` is False.
    """
    shortfalls = []
    for name, cov in COVERAGE.items():
        path = inputs.get(name)
        if path is None or cov.scope == "area" or not cov.reader:
            continue
        if cov.scope == "list":
            listed = inputs.get(cov.of)
            if listed is None:
                continue
            universe = Universe({**universe.codes, (cov.level, cov.of): _list_codes(
                read(_reader(_READERS[cov.of]), listed))})
        found = check_coverage(cov, path, _codes(read(_reader(cov.reader), path)), universe)
        if found is not None:
            shortfalls.append(found)
    if not allow_incomplete:
        refuse(shortfalls)
    return shortfalls


#: Readers of the inputs that serve as lists.
_READERS = {"gp_registrations": "read_gp_registrations"}


def _reader(name: str) -> Callable[[Path], Any]:
    """Return the `data.readers` function a declaration names."""
    from healthgap.data import readers

    return cast(Callable[[Path], Any], getattr(readers, name))


def _codes(result: Any) -> pd.Index:
    frame = result[0] if isinstance(result, tuple) else result
    return pd.Index(frame.index.astype(str))


def _list_codes(result: Any) -> pd.Index:
    frame = result[0] if isinstance(result, tuple) else result
    return pd.Index(frame["practice_code"].astype(str).unique())


# --------------------------------------------------------------------------- whole files

def check_file(path: str | Path) -> Path:
    """Raise `InputError` unless ``path`` is a whole, non-empty file of the format its name says.

    CSV (``.csv``, ``.csv.gz``), GeoJSON, GeoPackage, OSM PBF and OSM XML are checked; other
    files only for being non-empty.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the file is empty (0 bytes)")
    name = p.name.lower()
    for suffix, check in _CHECKS:
        if name.endswith(suffix):
            problem = check(p)
            if problem:
                raise InputError(f"{p}: {problem}")
            break
    return p


def _csv_problem(p: Path) -> str | None:
    with p.open("rb") as fh:
        header = fh.readline()
        if not header.strip():
            return "no header row (the first line is empty)"
        fh.seek(max(0, p.stat().st_size - 65536))
        tail = fh.read()
    return _last_row_problem(header, tail)


def _last_row_problem(header: bytes, tail: bytes) -> str | None:
    """Say why the last row looks cut short (no line end, fewer fields), or None."""
    if tail.endswith((b"\n", b"\r")):
        return None
    last = tail.rsplit(b"\n", 1)[-1]
    try:
        want = len(next(csv.reader([header.decode("utf-8-sig").strip()])))
        got = len(next(csv.reader([last.decode("utf-8", errors="replace")])))
    except (csv.Error, StopIteration):
        return "the last line is not a CSV row (the file looks cut short)"
    if got < want:
        return (f"the last row has {got} of the header's {want} fields and no line end (the "
                "file was cut short)")
    # a published CSV ends with a line end; without one the last value may be cut
    return ("the file does not end with a line end, so its last row may be cut short; "
            "download it again (or, if it is whole, end it with a new line)")


def _gzip_problem(p: Path) -> str | None:
    """Decompress the whole stream (a cut gzip file only shows at its end)."""
    header = b""
    tail = b""
    try:
        with gzip.open(p, "rb") as fh:
            header = fh.readline()
            while chunk := fh.read(1 << 22):
                tail = (tail + chunk)[-65536:]
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        return f"not a whole gzip file ({exc}); download it again"
    if not header.strip():
        return "no header row after decompressing"
    return _last_row_problem(header, tail or header)


def _geojson_problem(p: Path) -> str | None:
    with p.open("rb") as fh:
        head = fh.read(1024).lstrip(b"\xef\xbb\xbf \t\r\n")
        fh.seek(max(0, p.stat().st_size - 1024))
        tail = fh.read().rstrip(b" \t\r\n\x00")
    if not head.startswith(b"{"):
        return "not a GeoJSON document (it does not start with '{')"
    if not tail.endswith(b"}"):
        return "the GeoJSON document is not closed (the file was cut short)"
    return None


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _gpkg_problem(p: Path) -> str | None:
    size = p.stat().st_size
    with p.open("rb") as fh:
        head = fh.read(100)
    if not head.startswith(_SQLITE_MAGIC):
        return "not a GeoPackage (no SQLite header)"
    page = struct.unpack(">H", head[16:18])[0]
    page = 65536 if page == 1 else page
    if page < 512 or size % page:
        return (f"the database is cut short ({size:,} bytes is not a whole number of "
                f"{page:,}-byte pages)")
    try:
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            rows = con.execute("PRAGMA quick_check").fetchall()
            tables = {r[0] for r in con.execute(
                "SELECT table_name FROM gpkg_contents").fetchall()}
        finally:
            con.close()
    except sqlite3.Error as exc:
        return f"not a readable GeoPackage ({exc})"
    if rows != [("ok",)]:
        return f"the database is damaged (SQLite quick_check: {rows[0][0]})"
    if not tables:
        return "a GeoPackage with no layers"
    return None


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("varint runs past the header")
        b = buf[i]
        out |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return out, i
        shift += 7


def _blob_size(header: bytes) -> int:
    """Return the ``datasize`` field (3) of an OSM PBF ``BlobHeader`` message."""
    i = 0
    while i < len(header):
        key, i = _varint(header, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(header, i)
            if field == 3:
                return value
        elif wire == 2:
            n, i = _varint(header, i)
            i += n
        else:
            raise ValueError(f"unexpected wire type {wire}")
    raise ValueError("no datasize in the block header")


def _pbf_problem(p: Path) -> str | None:
    """Walk the PBF's blocks by their headers; the last must end exactly at the file's end."""
    size = p.stat().st_size
    pos = blocks = 0
    with p.open("rb") as fh:
        while pos < size:
            raw = fh.read(4)
            if len(raw) < 4:
                return f"cut short inside block {blocks + 1} (at byte {pos:,} of {size:,})"
            n = struct.unpack(">I", raw)[0]
            header = fh.read(n)
            if n > 64 * 1024 or len(header) < n:
                return (f"not an OSM PBF file, or cut short (block {blocks + 1} header at byte "
                        f"{pos:,} of {size:,})")
            try:
                data = _blob_size(header)
            except ValueError as exc:
                return f"not an OSM PBF file (block {blocks + 1}: {exc})"
            pos += 4 + n + data
            if pos > size:
                return (f"cut short: block {blocks + 1} needs {pos - size:,} more bytes than the "
                        f"file has ({size:,} bytes); download it again")
            fh.seek(pos)
            blocks += 1
    return None if blocks else "no OSM data blocks"


def _osm_xml_problem(p: Path) -> str | None:
    with p.open("rb") as fh:
        head = fh.read(512)
        fh.seek(max(0, p.stat().st_size - 512))
        tail = fh.read().rstrip()
    if b"<osm" not in head:
        return "not an OSM XML file (no <osm> element at the start)"
    if not tail.endswith(b"</osm>"):
        return "the OSM XML file is not closed with </osm> (cut short)"
    return None


_CHECKS: tuple[tuple[str, Callable[[Path], str | None]], ...] = (
    (".csv.gz", _gzip_problem), (".csv", _csv_problem), (".geojson", _geojson_problem),
    (".json", _geojson_problem), (".gpkg", _gpkg_problem), (".osm.pbf", _pbf_problem),
    (".pbf", _pbf_problem), (".osm", _osm_xml_problem),
)


def check_files(paths: Iterable[Path]) -> None:
    """Run `check_file` on each path and raise one `ValidationError` listing every problem."""
    problems = []
    for p in paths:
        try:
            check_file(p)
        except InputError as exc:
            problems.append(str(exc))
    if len(problems) == 1:
        raise InputError(problems[0])
    if problems:
        raise ValidationError("input files", problems)


__all__ = ["COVERAGE", "Coverage", "Shortfall", "Universe", "check_coverage", "check_file",
           "check_files", "check_inputs", "note", "refuse", "universe_from"]
