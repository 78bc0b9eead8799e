"""Facility readers: ODS epraccur, plain CSV with lon/lat, easting/northing or postcode."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import shapely
from healthgap.data.access_inputs import read_postcodes
from healthgap.geo import BNG
from healthgap.geo.facilities import read_facilities, read_gp_practices
from pyproj import Transformer

from healthgap.errors import MissingColumnError, ParameterError


@functools.lru_cache(maxsize=1)
def _postcodes(path):
    return read_postcodes(path)


@pytest.fixture(scope="module")
def postcodes(shared_data):
    return _postcodes(shared_data / "postcodes/codepoint_open_2025_gb_postcodes.csv.gz")


@pytest.fixture(scope="module")
def epraccur(shared_data):
    return pd.read_csv(
        shared_data / "health_services/gp_practices_epraccur_dec2023_geocoded.csv", dtype=str
    )


def test_real_epraccur_accounts_for_every_row(shared_data, epraccur):
    read = read_gp_practices(
        shared_data / "health_services/gp_practices_epraccur_dec2023_geocoded.csv"
    )
    fac, rep = read.facilities, read.report
    assert read.n_input == len(epraccur) == 15_971
    assert fac.crs.equals(BNG)
    assert list(fac.columns[:4]) == ["code", "name", "kind", "supply"]
    # independent tallies straight from the CSV
    active = (epraccur.status_code == "A") & (epraccur.prescribing_setting == "4")
    assert (rep.reason == "inactive").sum() == (epraccur.status_code != "A").sum()
    assert (rep.reason == "not_gp_practice").sum() == (
        (epraccur.status_code == "A") & ~active
    ).sum()
    welsh = active & epraccur.lsoa11cd.fillna("").str.startswith("W01") & epraccur.easting.notna()
    assert (rep.reason == "outside_england").sum() == welsh.sum()
    assert set(fac.code) <= set(epraccur.loc[active, "org_code"])
    assert fac.code.is_unique and (fac.supply == 1.0).all()
    # every reported row is an input row, and rows are not counted twice
    assert not set(rep.row) & set(fac.index)
    # a known practice lands where the geocoded file puts it
    oak = fac[fac.code == "C82010"].iloc[0]
    src = epraccur[epraccur.org_code == "C82010"].iloc[0]
    assert (oak.geometry.x, oak.geometry.y) == (float(src.easting), float(src.northing))


def test_epraccur_rows_reported_with_reasons(epraccur, postcodes):
    base = epraccur[(epraccur.org_code == "C82010")].iloc[0]  # Oakham, active GP, England
    rows = []
    for code, change in [
        ("T1", {}),
        ("T2", {"status_code": "C"}),
        ("T3", {"prescribing_setting": "0"}),
        (
            "T4",
            {"easting": None, "northing": None, "lon": None, "lat": None, "postcode": "LE15 6NT"},
        ),
        (
            "T5",
            {"easting": None, "northing": None, "lon": None, "lat": None, "postcode": "ZZ99 9ZZ"},
        ),
        ("T6", {"easting": None, "northing": None, "lon": None, "lat": None, "postcode": None}),
        ("T7", {"lsoa11cd": "W01000199"}),
        (
            "T8",
            {
                "easting": None,
                "northing": None,
                "lon": None,
                "lat": None,
                "lsoa11cd": None,
                "postcode": "EH1 1YZ",
            },
        ),
        ("T1", {}),
    ]:
        row = base.copy()
        row["org_code"] = code
        for k, v in change.items():
            row[k] = v
        rows.append(row)
    frame = pd.DataFrame(rows)
    read = read_gp_practices(frame, postcodes=postcodes)
    reasons = dict(zip(read.report.code, read.report.reason, strict=True))
    assert list(read.facilities.code) == ["T1", "T4"]
    assert reasons == {
        "T2": "inactive",
        "T3": "not_gp_practice",
        "T5": "postcode_not_found",
        "T6": "no_coordinates",
        "T7": "outside_england",
        "T8": "outside_england",  # Scottish postcode
    } | {"T1": "duplicate_code"}
    assert read.n_input == 9
    t4 = read.facilities.set_index("code").loc["T4"]
    pc = postcodes.loc["LE156NT"]
    assert t4.located_by == "postcode"
    assert (t4.geometry.x, t4.geometry.y) == (pc.easting, pc.northing)


def test_hospitals_lon_lat(shared_data):
    read = read_facilities(
        shared_data / "health_services/hospitals_2022_geographr.csv",
        kind="hospital",
        name="hospital_name",
    )
    raw = pd.read_csv(shared_data / "health_services/hospitals_2022_geographr.csv")
    assert read.n_input == len(raw) == 1061
    fac = read.facilities
    assert len(fac) + len(read.report) == 1061
    assert (fac.kind == "hospital").all() and fac.code.is_unique
    tr = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x, y = tr.transform(-1.964989, 53.897639)  # Airedale General Hospital, first row
    first = fac.loc[0]
    assert first["name"] == "Airedale General Hospital" and first.code == "hospital:0"
    assert first.geometry.x == pytest.approx(x, abs=1e-6) and first.geometry.y == pytest.approx(
        y, abs=1e-6
    )
    assert (fac.located_by == "lon_lat").all()
    assert not fac.country_checked.any()  # no postcode or polygon given: said, not assumed


def test_plain_csv_postcodes_supply_and_england_polygon(tmp_path, postcodes):
    path = tmp_path / "clinics.csv"
    path.write_text(
        "id,clinic,staff,postcode,easting,northing\n"
        "a,Oakham clinic,3,LE15 6NT,,\n"
        "b,No staff,,LE15 6NT,,\n"
        "c,Negative,-2,LE15 6NT,,\n"
        "d,Edinburgh,1,EH1 1YZ,,\n"
        "e,Grid only,2,,486000,308000\n"
        "f,Far grid,2,,486000,9999999\n"
    )
    columns = {"kind": "clinic", "name": "clinic", "code": "id", "supply": "staff"}
    read = read_facilities(path, **columns, postcodes=postcodes)
    reasons = dict(zip(read.report.code, read.report.reason, strict=True))
    assert reasons == {
        "b": "invalid_supply",
        "c": "invalid_supply",
        "d": "outside_england",
        "f": "coordinates_out_of_range",
    }
    fac = read.facilities.set_index("code")
    assert list(fac.index) == ["a", "e"]
    assert fac.loc["a", "supply"] == 3.0 and fac.loc["e", "supply"] == 2.0
    assert fac.loc["a", "country_checked"] and not fac.loc["e", "country_checked"]
    # an England polygon decides rows the postcode cannot
    polygon = shapely.box(480_000, 300_000, 490_000, 310_000)
    with_poly = read_facilities(path, **columns, postcodes=postcodes, england=polygon)
    assert with_poly.facilities.set_index("code").loc["e", "country_checked"]
    away = shapely.box(0, 0, 10, 10)
    moved = read_facilities(path, **columns, postcodes=postcodes, england=away)
    assert dict(zip(moved.report.code, moved.report.reason, strict=True))["e"] == "outside_england"


def test_postcode_lookup_drops_unpositioned(postcodes, shared_data):
    raw = pd.read_csv(
        shared_data / "postcodes/codepoint_open_2025_gb_postcodes.csv.gz",
        usecols=["pcd", "pqi"],
        nrows=200_000,
    )
    unpositioned = raw.loc[raw.pqi == 90, "pcd"].str.replace(" ", "")
    assert not unpositioned.isin(postcodes.index).any()
    assert postcodes.index.is_unique
    assert np.isin(postcodes.loc[["LE156NT"], "country"], ["E92000001"]).all()


def test_missing_columns_and_parameters(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("name,where\nA,here\n")
    with pytest.raises(MissingColumnError, match="no way to locate"):
        read_facilities(path, kind="x")
    path.write_text("name,postcode\nA,LE15 6NT\n")
    with pytest.raises(ParameterError, match="postcodes"):
        read_facilities(path, kind="x")
    with pytest.raises(MissingColumnError, match="org_code"):
        read_gp_practices(path)
