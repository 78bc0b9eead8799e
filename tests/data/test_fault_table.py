"""The fault table of issue #28, against every reader: each fault of each input file is refused
with `InputError` naming the file, by the same path the commands take (`check_file` for the
file's form, then the reader for its columns and values).

Every faulty file is written into ``tmp_path`` from the real file in ``../shared/data``: a
required column dropped, a required column renamed (a typo), text in a numeric or code column
(mistyped), an empty file, and the file cut short part-way through (for gzip, GeoJSON, PBF and
GeoPackage too). The completeness contracts (`data.contracts.COVERAGE`) are checked on an IMD
file with LSOAs removed: refused naming the file and the first missing codes, or, when allowed,
returned to be reported.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from healthgap.data import contracts, readers
from healthgap.data.access_inputs import lookup_postcodes
from healthgap.data.layout import LAYOUT, DataDir
from healthgap.data.osm import file_bounds
from healthgap.geo.facilities import read_facilities, read_gp_practices
from healthgap.services.build import load_hierarchy
from healthgap.services.store import require_build

from healthgap.errors import InputError, ValidationError

#: input -> (reader, a required column, a column to put text into, the text)
CSV_READERS: dict[str, tuple[Callable[[Path], Any], str, str, str]] = {
    "lsoa_lookup": (readers.read_lsoa_lookup, "msoa11cd", "lsoa11cd", "not-a-code"),
    "icb_lookup": (readers.read_icb_lookup, "icb22_code", "icb22_code", "E99 bad"),
    "imd": (readers.read_imd, "imd_score", "imd_score", "six point two"),
    "life_expectancy": (readers.read_life_expectancy, "le_birth_male_2015_19",
                        "le_birth_male_2015_19", "abc"),
    "population": (readers.read_population, "population_mid2017", "population_mid2017",
                   "lots"),
    "centroids": (readers.read_centroids, "easting", "northing", "north-ish"),
    "gp_practices": (read_gp_practices, "status_code", "org_code", ""),
    "hospitals": (lambda p: read_facilities(p, kind="hospital", name="hospital_name"),
                  "hospital_name", "lat", "somewhere"),
}

FAULTS = ("missing column", "renamed column", "mistyped column", "empty", "truncated")


def _read(key: str, path: Path) -> Any:
    """What a command does with an input: its form first, then its reader."""
    contracts.check_file(path)
    return CSV_READERS[key][0](path)


def _write_fault(src: Path, dst: Path, fault: str, key: str) -> None:
    _, required, typed, text = CSV_READERS[key]
    if fault == "empty":
        dst.write_bytes(b"")
        return
    if fault == "truncated":
        _cut(src, dst)
        return
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)
    if fault == "missing column":
        frame = frame.drop(columns=required)
    elif fault == "renamed column":
        frame = frame.rename(columns={required: "x_" + required})
    else:
        frame.loc[frame.index[0], typed] = text or "??"
    frame.to_csv(dst, index=False)


#: The facility readers (geo.facilities) keep a row they cannot place out of the analysis and
#: list it, with why, in the build's facility report (a practice with text for its easting is
#: "no_coordinates", or placed from its lon/lat): that is their contract for a bad value, so
#: only their columns, emptiness and truncation are refusals here.
CASES = [(k, f) for k in CSV_READERS for f in FAULTS
         if not (k in ("gp_practices", "hospitals") and f == "mistyped column")]


@pytest.mark.parametrize(("key", "fault"), CASES)
def test_every_csv_fault_is_refused_naming_the_file(key, fault, shared_data, tmp_path):
    src = shared_data / LAYOUT[key]
    bad = tmp_path / src.name
    _write_fault(src, bad, fault, key)
    with pytest.raises(InputError) as err:
        _read(key, bad)
    assert str(bad) in str(err.value), str(err.value)
    if fault in ("missing column", "renamed column"):
        assert CSV_READERS[key][1] in str(err.value)


def test_the_real_files_pass(shared_data):
    for key in CSV_READERS:
        _read(key, shared_data / LAYOUT[key])


def test_a_practice_with_text_for_its_easting_is_placed_from_its_lon_lat(shared_data,
                                                                        tmp_path):
    # geo.facilities locates a practice from easting/northing, else lon/lat, else its postcode
    # (and reports a row it cannot place): a bad easting falls back, it is not read as a number
    bad = tmp_path / "practices.csv"
    frame = pd.read_csv(shared_data / LAYOUT["gp_practices"], dtype=str, keep_default_na=False)
    active = frame.index[frame["status_code"] == "A"][0]
    x, y = float(frame.loc[active, "easting"]), float(frame.loc[active, "northing"])
    frame.loc[active, "easting"] = "far east"
    frame.to_csv(bad, index=False)
    read = _read("gp_practices", bad)
    row = read.facilities[read.facilities["code"] == frame.loc[active, "org_code"]]
    assert len(row) == 1
    assert abs(row.geometry.x.iloc[0] - x) < 1 and abs(row.geometry.y.iloc[0] - y) < 1


# --------------------------------------------------------------------------- other formats

def _cut(src: Path, dst: Path, share: float = 0.6) -> Path:
    """Write ``src`` cut at ``share`` of its bytes (inside a row, never just after a line end)."""
    data = src.read_bytes()
    end = int(len(data) * share)
    while data[end - 1:end] in (b"\n", b"\r"):
        end -= 3
    dst.write_bytes(data[:end])
    return dst


def test_boundaries_faults(shared_data, tmp_path):
    src = shared_data / LAYOUT["msoa_boundaries"]
    empty = tmp_path / "empty.geojson"
    empty.write_bytes(b"")
    cut = _cut(src, tmp_path / "cut.geojson")
    renamed = tmp_path / "renamed.geojson"
    renamed.write_text(src.read_text().replace('"msoa11cd"', '"msoa_code11"'))
    for path, what in ((empty, "empty"), (cut, "not closed"), (renamed, "no MSOA code column")):
        with pytest.raises(InputError, match=what) as err:
            contracts.check_file(path)
            readers.read_boundaries(path, level="msoa")
        assert str(path) in str(err.value)


def test_gzip_faults(shared_data, tmp_path):
    src = shared_data / LAYOUT["postcodes"]
    cut = _cut(src, tmp_path / "cut.csv.gz", 0.5)
    empty = tmp_path / "empty.csv.gz"
    with gzip.open(empty, "wb"):
        pass
    for path, what in ((cut, "not a whole gzip file"), (empty, "no header row")):
        with pytest.raises(InputError, match=what) as err:
            contracts.check_file(path)
        assert str(path) in str(err.value)
    # the reader alone (as `whatif --open POSTCODE` streams it) fails on the cut file as well
    with pytest.raises(EOFError):
        lookup_postcodes(cut, ["LE15 6AA"])


def test_pbf_faults(shared_data, tmp_path):
    src = shared_data / "osm" / "rutland-latest.osm.pbf"
    empty = tmp_path / "empty.osm.pbf"
    empty.write_bytes(b"")
    cut = _cut(src, tmp_path / "cut.osm.pbf")
    text = tmp_path / "text.osm.pbf"
    text.write_text("not a pbf\n" * 100)
    for path, what in ((empty, "empty"), (cut, "cut short"), (text, "not an OSM PBF file")):
        with pytest.raises(InputError, match=what) as err:
            contracts.check_file(path)
        assert str(path) in str(err.value)
    # libosmium's own error (a header it cannot read) is an InputError naming the file too
    with pytest.raises(InputError, match="not a readable OSM file"):
        file_bounds(text)
    assert contracts.check_file(src) == src


def _a_build(tmp_path: Path) -> Path:
    """A small real GeoPackage build folder: written by the store, with its manifest."""
    from healthgap.services.store import BuildStore

    out = tmp_path / "build"
    store = BuildStore(out)
    store.write_layer("stats", pd.DataFrame({"a": range(500), "b": ["x" * 50] * 500}))
    store.write_manifest({"layers": ["stats"], "atlas": False, "area": {"code": "E06000017"}})
    assert require_build(out).read_manifest()["layers"] == ["stats"]
    return out


@pytest.mark.parametrize("fault", ["empty", "truncated", "not a geopackage", "no manifest",
                                   "damaged page", "layer dropped"])
def test_geopackage_faults(fault, tmp_path):
    out = _a_build(tmp_path)
    gpkg = out / "healthgap.gpkg"
    if fault == "empty":
        gpkg.write_bytes(b"")
    elif fault == "truncated":
        _cut(gpkg, gpkg, 0.5)
    elif fault == "not a geopackage":
        gpkg.write_text("lsoa11cd,x\nE01000001,1\n")
    elif fault == "no manifest":
        with sqlite3.connect(gpkg) as con:
            con.execute("DROP TABLE manifest")
            con.execute("DELETE FROM gpkg_contents WHERE table_name = 'manifest'")
    elif fault == "damaged page":
        data = bytearray(gpkg.read_bytes())
        data[4096 * 3: 4096 * 3 + 2000] = b"\xff" * 2000  # a page of the data, overwritten
        gpkg.write_bytes(bytes(data))
    else:
        with sqlite3.connect(gpkg) as con:
            con.execute("DROP TABLE stats")
            con.execute("DELETE FROM gpkg_contents WHERE table_name = 'stats'")
    with pytest.raises(InputError) as err:
        require_build(out)
    assert str(out) in str(err.value)


# --------------------------------------------------------------------------- completeness

@pytest.fixture(scope="module")
def universe(shared_data):
    return contracts.universe_from(load_hierarchy(DataDir(shared_data)).frame)


def test_universe_is_england_as_the_lookup_gives_it(universe, shared_data):
    # SOURCES.md: England has 32,844 LSOAs and 6,791 MSOAs (2011 geography)
    assert len(universe.codes[("lsoa", "england")]) == 32_844
    assert len(universe.codes[("msoa", "england")]) == 6_791


def test_every_national_input_covers_england(universe, shared_data):
    inputs = {k: shared_data / LAYOUT[k] for k in contracts.COVERAGE
              if (shared_data / LAYOUT[k]).is_file()}
    assert contracts.check_inputs(inputs, universe, _cached) == []


_CACHE: dict[tuple[Callable[[Path], Any], Path], Any] = {}


def _cached(reader: Callable[[Path], Any], path: Path) -> Any:
    if (reader, path) not in _CACHE:
        _CACHE[(reader, path)] = reader(path)
    return _CACHE[(reader, path)]


def test_an_imd_file_missing_lsoas_is_refused_or_reported(universe, shared_data, tmp_path):
    imd = pd.read_csv(shared_data / LAYOUT["imd"], dtype=str, keep_default_na=False)
    # drop every LSOA of three local authorities (an extract that stops short of England)
    gone = imd["lad19cd"].isin(["E06000017", "E06000001", "E09000001"])
    missing = sorted(imd.loc[gone, "lsoa11cd"])
    bad = tmp_path / "imd_short.csv"
    imd[~gone].to_csv(bad, index=False)
    with pytest.raises(ValidationError) as err:
        contracts.check_inputs({"imd": bad}, universe, _cached)
    text = str(err.value)
    assert f"{bad}: {len(missing):,} of England's 32,844 LSOAs missing" in text
    assert ", ".join(missing[:5]) in text and "--allow-incomplete" in text
    short = contracts.check_inputs({"imd": bad}, universe, _cached, allow_incomplete=True)
    assert [(s.input, list(s.missing)) for s in short] == [("imd", missing)]
    rows = short[0].report_rows()
    assert list(rows["code"]) == missing and set(rows["join"]) == {"coverage:imd"}
    assert short[0].to_dict()["first_missing"] == missing[:5]


def test_contracts_are_keyed_by_input_name():
    assert set(contracts.COVERAGE) <= set(LAYOUT)
    for name, cov in contracts.COVERAGE.items():
        assert cov.input == name and cov.level in ("lsoa", "msoa", "practice")
        assert cov.scope in ("england", "area", "list")
        assert cov.scope != "list" or cov.of in LAYOUT


def test_practice_list_contract(tmp_path):
    reg = pd.DataFrame({"practice_code": ["A1", "A2", "A3"]})
    epcn = pd.DataFrame(index=pd.Index(["A1", "A3"], name="practice_code"))
    results = {readers.read_gp_registrations: (reg, None), readers.read_epcn: epcn}
    paths = {"gp_registrations": tmp_path / "reg.csv", "epcn": tmp_path / "epcn.csv"}
    short = contracts.check_inputs(paths, contracts.Universe({}),
                                   lambda reader, path: results[reader], allow_incomplete=True)
    assert [(s.input, s.missing) for s in short] == [("epcn", ("A2",))]
    assert "1 of the 3 practices of gp_registrations missing" in short[0].sentence()


def test_real_build_folder_copy_is_whole(tmp_path):
    out = _a_build(tmp_path)
    shutil.copytree(out, tmp_path / "copy")
    assert require_build(tmp_path / "copy").exists


def test_a_life_expectancy_file_missing_msoas_is_refused(universe, shared_data, tmp_path):
    le = pd.read_csv(shared_data / LAYOUT["life_expectancy"], dtype=str, keep_default_na=False)
    gone = le["msoa11cd"].isin(["E02002863", "E02002864"])  # Rutland 001 and 002
    bad = tmp_path / "le_short.csv"
    le[~gone].to_csv(bad, index=False)
    with pytest.raises(ValidationError, match=f"{bad}: 2 of England's 6,791 MSOAs missing "
                                              r"\(input 'life_expectancy'; first: "
                                              "E02002863, E02002864"):
        contracts.check_inputs({"life_expectancy": bad}, universe, _cached)


def test_boundaries_missing_an_lsoa_of_the_area_are_refused_or_reported(shared_data,
                                                                         tmp_path):
    from healthgap.services.build import load_area

    data = tmp_path / "data"
    for key, rel in LAYOUT.items():
        if key != "lsoa_boundaries" and (shared_data / rel).is_file():
            (data / rel).parent.mkdir(parents=True, exist_ok=True)
            (data / rel).symlink_to(shared_data / rel)
    h = load_hierarchy(DataDir(shared_data))
    ref = h.resolve("E06000017")  # Rutland
    inside = sorted(h.lsoas_in(ref))
    near, _ = readers.read_boundaries(shared_data / LAYOUT["lsoa_boundaries"], level="lsoa",
                                      bbox=(470_000, 285_000, 510_000, 330_000))
    dropped = inside[3]
    target = data / LAYOUT["lsoa_boundaries"]
    target.parent.mkdir(parents=True, exist_ok=True)
    near.drop(index=dropped).reset_index().to_file(target, driver="GeoJSON")
    d = DataDir(data)
    with pytest.raises(ValidationError) as err:
        load_area(d, ref, h)
    assert f"{target}: 1 of the area's {len(inside)} LSOAs missing" in str(err.value)
    assert dropped in str(err.value)
    area = load_area(d, ref, h, allow_incomplete=True)
    rows = area.report[area.report["join"] == "coverage:lsoa_boundaries"]
    assert list(rows["code"]) == [dropped]
    assert any("--allow-incomplete" in n for n in area.notes)
    assert dropped not in area.lsoa.index and len(area.inside) == len(inside) - 1
