"""Only the vintage declaration and the readers of file schemas name vintage-specific columns.

CONVENTIONS.md rule 14: code outside the declaration (`healthgap.data.vintages`) uses neutral
names (``lsoa_code``, ``place_code``, ``system_code``...) and asks the declaration. This test
scans the package source for the ONS column names of any vintage (``lsoa11cd``, ``msoa21nm``,
``lad22cd``, ``icb24cdh``...) and fails on any file outside `ALLOWED`, each listed with why it
may name them.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("geo", "services", "maps", "data", "scripts", "benchmarks", "healthgap")
SUFFIXES = (".py", ".js", ".html")

#: A vintage-specific key column name (ONS spelling of any year).
VINTAGE_NAME = re.compile(r"\b(lsoa|msoa)(11|21)(cd|nm)\b|\b(lad|ltla|icb|sicbl)\d\d(cd|nm|cdh)\b")

#: Files (globs relative to the checkout) that may name them, and why.
ALLOWED = {
    "data/vintages.py": "the declaration: each vintage's published and lookup file names",
    "data/readers.py": "reads the ONS input files, whose columns are named by their vintage",
    "data/demo.py": "writes the demo's input files in the ONS 2019 file schemas",
    "data/demo/*": "the demo generator split into a package (writes the input files)",
    "data/_demo*.py": "the demo generator split into modules (writes the input files)",
    "data/demo_*.py": "the demo generator split into modules (writes the input files)",
    "geo/facilities.py": "reads the NHS ODS epraccur file, whose geocoded LSOA column it names",
    "scripts/compare_builds.py": "compares GeoPackages as published (their column names)",
    "benchmarks/bench_lisa.py": "reads the ONS boundary and IMD files directly",
    "benchmarks/bench_map_size.py": "reads the ONS boundary, IMD and lookup files directly",
    "benchmarks/bench_routing.py": "reads the ONS lookup, boundary and centroid files directly",
}


def _allowed(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel, pattern) for pattern in ALLOWED)


def _sources() -> list[Path]:
    return sorted(p for top in SCANNED for p in (ROOT / top).rglob("*")
                  if p.suffix in SUFFIXES and p.is_file() and "vendor" not in p.parts)


def test_the_pattern_finds_every_vintage_spelling() -> None:
    hits = VINTAGE_NAME.findall("lsoa11cd msoa21nm lad22nm ltla24cd icb24cdh sicbl22cd")
    assert len(hits) == 6
    assert not VINTAGE_NAME.search("lsoa_code place_name system_nhs_code lsoa11_code nbhd_cd")


def test_no_module_outside_the_declaration_names_a_vintage_column() -> None:
    found = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        if _allowed(rel):
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = VINTAGE_NAME.search(line)
            if m:
                found.append(f"{rel}:{no}: {m.group(0)}")
    assert not found, ("vintage-specific column names outside the declaration and the file "
                       "readers (use the neutral names of healthgap.data.vintages.NEUTRAL_KEYS, "
                       "or add the file to ALLOWED with its reason):\n" + "\n".join(found))


@pytest.mark.parametrize("entry", sorted(e for e in ALLOWED if "*" not in e))
def test_every_allowed_file_exists_and_needs_it(entry: str) -> None:
    text = (ROOT / entry).read_text(encoding="utf-8")
    assert VINTAGE_NAME.search(text), f"{entry} names no vintage column: drop it from ALLOWED"
