"""The board pack of a real Frimley build: every figure equals the GeoPackage, LibreOffice opens it.

Slow: builds NHS Frimley ICB (E54000034, 440 LSOAs) from ``../shared/data`` with its models and
the report (no access layers or atlas, which the report does not need).
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from healthgap.geo.indicators import INDICATORS
from healthgap.services.report import report_paths
from healthgap.services.store import BuildStore
from pptx import Presentation

from tests import _builds
from tests._names import neutral

FRIMLEY = "E54000034"


@pytest.fixture(scope="module")
def frimley(shared_data):
    # no access or atlas, with the board pack; shared with tests/services/test_build_vintage.py
    return _builds.frimley_2025_report(shared_data)


@pytest.mark.slow
def test_frimley_workbook_and_deck_equal_the_geopackage(frimley, tmp_path):
    folder = frimley.store.path.parent
    paths = report_paths(folder, FRIMLEY)
    store = BuildStore(folder)
    sheets = neutral(pd.read_excel(paths["xlsx"], sheet_name=None))
    sii = store.read_layer("model_sii")
    np.testing.assert_allclose(sheets["Inequality by level"]["Slope index of inequality (years)"],
                               sii["sii"], rtol=1e-12)
    place = store.read_layer("place").set_index("place_code")
    got = sheets["Places"].set_index("Place code").loc[place.index]
    assert list(got["Place"]) == list(place["place_name"])
    ind = INDICATORS["core20_pop"]
    np.testing.assert_allclose(got[f"{ind.label} ({ind.units})"], place["core20_pop"],
                               rtol=1e-12)
    msoa = store.read_layer("msoa")
    inside = msoa[msoa["in_area"] == 1]
    glance = sheets["At a glance"].set_index("Key on the story page")
    assert glance.loc["le_male_max", "Value (unrounded)"] == pytest.approx(
        inside["le_male"].max())
    prs = Presentation(str(paths["pptx"]))
    male = sii[(sii["level"] == "system") & (sii["sex"] == "male")].iloc[0]
    titles = [s.shapes.title.text for s in prs.slides]
    assert any(f"{male['gap']:.1f} years lower" in t for t in titles)
    assert titles[0].startswith("NHS Frimley Integrated Care Board")
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) not found: run `make browser`"
    for src in (paths["xlsx"], paths["pptx"]):
        out = tmp_path / src.suffix[1:]
        r = subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path / 'lo'}",
                            "--headless", "--convert-to", "pdf", "--outdir", str(out), str(src)],
                           capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0 and (out / f"{src.stem}.pdf").stat().st_size > 10_000, r.stderr
