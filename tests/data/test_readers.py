"""Readers: real files from ../shared/data and the bad inputs people actually hit."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from healthgap.data import readers
from healthgap.geo import BNG

from healthgap import errors


def _square(x: float, y: float, s: float = 100.0) -> shapely.Polygon:
    return shapely.box(x, y, x + s, y + s)


def _write(gdf: gpd.GeoDataFrame, path, driver=None):
    gdf.to_file(path, driver=driver, engine="pyogrio")
    return path


@pytest.fixture
def small(tmp_path):
    gdf = gpd.GeoDataFrame({"LSOA11CD": ["E01000001", "E01000002"],
                            "LSOA11NM": ["A 001A", "A 001B"]},
                           geometry=[_square(530000, 180000), _square(530100, 180000)],
                           crs=BNG)
    return gdf


@pytest.mark.parametrize("suffix,driver", [(".geojson", "GeoJSON"), (".gpkg", "GPKG"),
                                           (".shp", "ESRI Shapefile")])
def test_boundaries_read_from_each_format(tmp_path, small, suffix, driver):
    path = _write(small, tmp_path / f"b{suffix}", driver)
    gdf, report = readers.read_boundaries(path, level="lsoa")
    assert list(gdf.index) == ["E01000001", "E01000002"]
    assert gdf.index.name == "lsoa_code"
    assert gdf.crs.equals(BNG)
    assert gdf.loc["E01000002", "lsoa_name"] == "A 001B"
    assert report.repaired == []


def test_boundaries_lowercase_code_column_and_4326_reprojected(tmp_path, small):
    g = small.rename(columns={"LSOA11CD": "lsoa11cd"}).to_crs(4326)
    gdf, _ = readers.read_boundaries(_write(g, tmp_path / "b.geojson"), level="lsoa")
    assert gdf.crs.equals(BNG)
    # back in metres: the first square's corner within a metre of where it was
    assert abs(gdf.geometry.iloc[0].bounds[0] - 530000) < 1.0


def test_boundaries_2021_codes_recoded_to_2011(tmp_path, small):
    g = small.rename(columns={"LSOA11CD": "LSOA21CD"})
    g["LSOA21CD"] = ["E01035001", "E01035002"]
    lookup = pd.Series({"E01035001": "E01000001", "E01035002": "E01000001"})
    gdf, report = readers.read_boundaries(_write(g, tmp_path / "b.gpkg", "GPKG"), level="lsoa",
                                          recode=lookup)
    assert list(gdf.index) == ["E01000001"]  # two 2021 LSOAs merged into their 2011 one
    assert gdf.geometry.iloc[0].area == pytest.approx(20000.0)
    assert any("dissolved" in n for n in report.notes)


def test_missing_crs_is_an_error(tmp_path, small):
    # GeoJSON without "crs" is WGS84 by RFC 7946; a shapefile without .prj has no CRS
    shp = _write(small, tmp_path / "n.shp", "ESRI Shapefile")
    shp.with_suffix(".prj").unlink()
    with pytest.raises(errors.CRSError, match=r"n\.shp: the file has no CRS"):
        readers.read_boundaries(shp, level="lsoa")


def test_duplicate_codes(tmp_path, small):
    small["LSOA11CD"] = ["E01000001", "E01000001"]
    with pytest.raises(errors.DuplicateCodeError, match=r"b\.gpkg.*'LSOA11CD'.*E01000001"):
        readers.read_boundaries(_write(small, tmp_path / "b.gpkg", "GPKG"), level="lsoa")


def test_malformed_codes(tmp_path, small):
    small["LSOA11CD"] = ["E01000001", "E02000002"]
    with pytest.raises(errors.CodeFormatError, match="E02000002"):
        readers.read_boundaries(_write(small, tmp_path / "b.gpkg", "GPKG"), level="lsoa")


def test_missing_code_column(tmp_path, small):
    small = small.rename(columns={"LSOA11CD": "code"})
    with pytest.raises(errors.MissingColumnError, match=r"no LSOA code column.*found: code"):
        readers.read_boundaries(_write(small, tmp_path / "b.gpkg", "GPKG"), level="lsoa")


def test_invalid_geometry_repaired_and_reported(tmp_path, small):
    bowtie = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100), (0, 0)])
    assert not bowtie.is_valid
    small.loc[1, "geometry"] = shapely.affinity.translate(bowtie, 530100, 180000)
    gdf, report = readers.read_boundaries(_write(small, tmp_path / "b.gpkg", "GPKG"),
                                          level="lsoa")
    assert report.repaired == ["E01000002"]
    assert gdf.geometry.is_valid.all()
    assert gdf.geometry.iloc[1].area == pytest.approx(5000.0)


def test_empty_geometry_is_an_error(tmp_path, small):
    small.loc[1, "geometry"] = shapely.Polygon()
    with pytest.raises(errors.GeometryError, match="E01000002"):
        readers.read_boundaries(_write(small, tmp_path / "b.gpkg", "GPKG"), level="lsoa")


def test_csv_with_bom_and_thousands_separators(tmp_path):
    path = tmp_path / "pop.csv"
    path.write_bytes("\ufefflsoa11cd,population_mid2017\nE01000001,\"1,632\"\n"
                     "E01000002,1329\n".encode())
    pop = readers.read_population(path)
    assert pop.to_dict() == {"E01000001": 1632, "E01000002": 1329}


def test_csv_missing_column_names_file_and_found_columns(tmp_path):
    path = tmp_path / "imd.csv"
    path.write_text("lsoa11cd,imd_score\nE01000001,3.2\n")
    with pytest.raises(errors.MissingColumnError, match=r"imd\.csv: missing column\(s\) imd_rank, "
                       r"imd_decile; found: lsoa11cd, imd_score"):
        readers.read_imd(path)


def test_missing_file(tmp_path):
    with pytest.raises(errors.InputError, match="nope.csv: file not found"):
        readers.read_imd(tmp_path / "nope.csv")


def test_suppressed_life_expectancy_stays_missing(tmp_path):
    path = tmp_path / "le.csv"
    path.write_text("msoa11cd,msoa11nm,le_birth_male_2015_19,le_birth_female_2015_19,"
                    "le_birth_male_2015_19_lci,le_birth_male_2015_19_uci\n"
                    "E02000001,A 001,80.1,,79.0,81.2\nE02000002,A 002,,84.0,,\n")
    le = readers.read_life_expectancy(path)
    assert np.isnan(le.loc["E02000002", "le_male"])
    assert le["le_male_suppressed"].tolist() == [False, True]
    assert le["le_female_suppressed"].tolist() == [True, False]
    assert le.loc["E02000001", "le_male_lci"] == 79.0


def test_implausible_life_expectancy(tmp_path):
    path = tmp_path / "le.csv"
    path.write_text("msoa11cd,le_birth_male_2015_19,le_birth_female_2015_19\n"
                    "E02000001,801,83.0\n")
    with pytest.raises(errors.InputError, match="le_male outside 40-110 years for E02000001"):
        readers.read_life_expectancy(path)


def test_real_files(shared_data):
    imd = readers.read_imd(shared_data / "imd2019/imd2019_lsoa11_england.csv")
    assert len(imd) == 32844
    # SOURCES.md: E01000001 City of London 001A: score 6.208, rank 29,199, decile 9
    assert imd.loc["E01000001", ["imd_score", "imd_rank", "imd_decile"]].tolist() == [
        6.208, 29199, 9]
    le = readers.read_life_expectancy(shared_data / "life_expectancy/"
                                      "msoa11_life_expectancy_mortality_localhealth_england.csv")
    # SOURCES.md: 56 male and 19 female values suppressed; City of London 91.1 / 90.2
    assert le["le_male_suppressed"].sum() == 56 and le["le_female_suppressed"].sum() == 19
    assert le.loc["E02000001", ["le_male", "le_female"]].tolist() == [91.1, 90.2]
    pop = readers.read_population(shared_data / "population/"
                                  "lsoa11_population_mid2017_sape20dt1_ew.csv")
    assert pop.sum() == 58_744_595


def test_wrong_crs_declared(tmp_path, small):
    # BNG metres labelled as longitude/latitude: a classic download mistake
    wrong = small.set_crs(4326, allow_override=True)
    with pytest.raises(errors.CRSError, match="cannot be longitude/latitude.*EPSG:4326"):
        readers.read_boundaries(_write(wrong, tmp_path / "b.gpkg", "GPKG"), level="lsoa")


def test_geo_functions_refuse_frames_not_in_bng(small):
    from healthgap.geo._validation import require_bng

    with pytest.raises(errors.CRSError, match="CRS is EPSG:4326; expected EPSG:27700"):
        require_bng(small.to_crs(4326), name="LSOA boundaries")
    with pytest.raises(errors.CRSError, match="no CRS set"):
        require_bng(small.set_crs(None, allow_override=True))
    with pytest.raises(errors.InputError, match="expected GeoDataFrame, got DataFrame"):
        require_bng(pd.DataFrame(small.drop(columns="geometry")))


def test_geojson_in_metres_without_crs_is_a_crs_error_through_the_bbox_read(tmp_path, small):
    # A GeoJSON with no "crs" member is longitude/latitude by RFC 7946, so BNG metres written
    # without one are declared EPSG:4326; the build reads with a box around the area, which
    # then matched nothing ("327 of 327 rows found no match"). Now: errors.CRSError naming the file.
    path = tmp_path / "nocrs.geojson"
    doc = json.loads(small.to_json(to_wgs84=False, drop_id=True))
    doc.pop("crs")
    path.write_text(json.dumps(doc))
    with pytest.raises(errors.CRSError, match=r"nocrs\.geojson: coordinates .* cannot be "
                       r"longitude/latitude"):
        readers.read_boundaries(path, level="lsoa", bbox=(529000, 179000, 531000, 181000))


def test_no_feature_in_the_box_names_the_file(tmp_path, small):
    path = _write(small, tmp_path / "b.gpkg", "GPKG")
    with pytest.raises(errors.InputError, match=r"b\.gpkg: no LSOA feature inside the box"):
        readers.read_boundaries(path, level="lsoa", bbox=(400000, 400000, 401000, 401000))


def _le_file(tmp_path, male_value):
    path = tmp_path / "le.csv"
    path.write_text("msoa11cd,msoa11nm,le_birth_male_2015_19,le_birth_female_2015_19\n"
                    "E02000001,City of London 001,91.1,90.2\n"
                    f"E02000002,Barking 001,{male_value},82.0\n"
                    "E02000003,Barking 002,,83.0\n")
    return path


def test_text_in_a_number_column_is_an_error_naming_file_column_rows_and_codes(tmp_path):
    with pytest.raises(errors.InputError, match=r"le\.csv: column 'le_birth_male_2015_19' has text "
                       r"that is not a number in 1 row\(s\): E02000002 \('abc'\)"):
        readers.read_life_expectancy(_le_file(tmp_path, "abc"))


@pytest.mark.parametrize("marker", ["", "NA"])
def test_documented_suppression_markers_stay_missing(tmp_path, marker):
    le = readers.read_life_expectancy(_le_file(tmp_path, marker))
    assert le["le_male_suppressed"].tolist() == [False, True, True]
    assert le.loc["E02000001", "le_male"] == 91.1


def test_text_in_an_imd_decile_is_an_error(tmp_path, shared_data):
    src = pd.read_csv(shared_data / "imd2019/imd2019_lsoa11_england.csv", nrows=20, dtype=str)
    src.loc[3, "income_decile"] = "abc"
    path = tmp_path / "imd.csv"
    src.to_csv(path, index=False)
    with pytest.raises(errors.InputError,
                       match=rf"imd\.csv: column 'income_decile' has text that is "
                             rf"not a number in 1 row\(s\): {src.loc[3, 'lsoa11cd']} \('abc'\)"):
        readers.read_imd(path)
