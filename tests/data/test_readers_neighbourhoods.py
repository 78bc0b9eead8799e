"""Readers for PCN catchments (issue #14), on files written here in the published schemas.

No copy of NHS England's "Patients registered at a GP practice" LSOA file or of ODS's ePCN is
available offline, so the files are generated with the published columns:
gp-reg-pat-prac-lsoa-all.csv ``PUBLICATION,EXTRACT_DATE,PRACTICE_CODE,PRACTICE_NAME,LSOA_CODE,
SEX,NUMBER_OF_PATIENTS`` (early releases: ``Number of Patients``) and ePCN "PCN Core Partner
Details" (11 columns; the ODS CSV has no header row).
"""

from __future__ import annotations

import pandas as pd
import pytest
from healthgap.data import readers

from healthgap.errors import DuplicateCodeError, InputError, MissingColumnError

REG = """PUBLICATION,EXTRACT_DATE,PRACTICE_CODE,PRACTICE_NAME,LSOA_CODE,SEX,NUMBER_OF_PATIENTS
GP_PRAC_PAT_LIST,01OCT2023,A81001,THE DENSHAM SURGERY,E01011959,ALL,7
GP_PRAC_PAT_LIST,01OCT2023,A81001,THE DENSHAM SURGERY,E01011959,MALE,3
GP_PRAC_PAT_LIST,01OCT2023,A81001,THE DENSHAM SURGERY,E01011959,FEMALE,4
GP_PRAC_PAT_LIST,01OCT2023,A81001,THE DENSHAM SURGERY,E01012000,ALL,"1,204"
GP_PRAC_PAT_LIST,01OCT2023,A81002,QUEENS PARK MEDICAL CENTRE,E01012000,ALL,55
GP_PRAC_PAT_LIST,01OCT2023,A81002,QUEENS PARK MEDICAL CENTRE,NO2011,ALL,12
"""


def test_registrations_keep_all_persons_rows_and_report_non_lsoa(tmp_path):
    path = tmp_path / "gp-reg-pat-prac-lsoa-all.csv"
    path.write_text(REG)
    frame, report = readers.read_gp_registrations(path)
    assert len(frame) == 3  # ALL rows with an LSOA code; MALE/FEMALE would double count
    got = frame.set_index(["practice_code", "lsoa_code"])["patients"]
    assert got[("A81001", "E01011959")] == 7
    assert got[("A81001", "E01012000")] == 1204  # thousands separator as published
    assert report.dropped == {"NO2011": "not an LSOA code; 12 patient(s)"}


def test_registrations_old_spelling_and_errors(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text(REG.replace("NUMBER_OF_PATIENTS", "Number of Patients"))
    frame, _ = readers.read_gp_registrations(old)
    assert frame["patients"].sum() == 7 + 1204 + 55
    missing = tmp_path / "missing.csv"
    missing.write_text(REG.replace(",LSOA_CODE,", ",LSOA,"))
    with pytest.raises(MissingColumnError, match="LSOA_CODE"):
        readers.read_gp_registrations(missing)
    dup = tmp_path / "dup.csv"
    dup.write_text(REG + "GP_PRAC_PAT_LIST,01OCT2023,A81002,Q,E01012000,ALL,1\n")
    with pytest.raises(DuplicateCodeError, match="A81002/E01012000"):
        readers.read_gp_registrations(dup)


def _epcn_rows() -> list[list[str]]:
    return [
        ["A81001", "THE DENSHAM SURGERY", "16C", "NHS TEES VALLEY", "U12345", "NORTH PCN",
         "16C", "NHS TEES VALLEY", "20200401", "", "Y"],
        ["A81002", "QUEENS PARK", "16C", "NHS TEES VALLEY", "U12345", "NORTH PCN", "16C",
         "NHS TEES VALLEY", "20190701", "", "Y"],
        ["A81002", "QUEENS PARK", "16C", "NHS TEES VALLEY", "U99999", "OLD PCN", "16C",
         "NHS TEES VALLEY", "20190701", "20200331", "Y"],
    ]


def test_epcn_headerless_ods_csv_keeps_current_memberships(tmp_path):
    path = tmp_path / "epcncorepartnerdetails.csv"
    pd.DataFrame(_epcn_rows()).to_csv(path, header=False, index=False)
    frame = readers.read_epcn(path)
    assert frame.index.name == "practice_code"
    assert frame.loc["A81002", "pcn_code"] == "U12345"  # the ended membership is left out
    assert list(frame.index) == ["A81001", "A81002"]


def test_epcn_with_header_and_bad_files(tmp_path):
    path = tmp_path / "epcn.csv"
    pd.DataFrame(_epcn_rows(), columns=readers.EPCN_COLUMNS).to_csv(path, index=False)
    assert readers.read_epcn(path).loc["A81001", "pcn_name"] == "NORTH PCN"
    twice = _epcn_rows()
    twice[2][9] = ""
    pd.DataFrame(twice).to_csv(path, header=False, index=False)
    with pytest.raises(DuplicateCodeError, match="A81002"):
        readers.read_epcn(path)
    xlsx = tmp_path / "ePCN.xlsx"
    xlsx.write_bytes(b"PK")
    with pytest.raises(InputError, match="as CSV"):
        readers.read_epcn(xlsx)


def test_neighbourhood_lookup_reader_requires_columns(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("lsoa11cd,name\nE01000001,a\n")
    with pytest.raises(MissingColumnError, match="nbhd_cd"):
        readers.read_neighbourhood_lookup(path)
