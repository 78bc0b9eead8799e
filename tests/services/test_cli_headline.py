"""`healthgap headline`: cliffs ranked across both sexes; no value cut at 80 columns.

The store is a real GeoPackage written through `BuildStore`, holding the layers `headline`
reads, with long-precision values (as a build writes them) so that cutting would show.
"""

from __future__ import annotations

import os
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from healthgap.geo import BNG
from healthgap.services.cli import RANGE_NOTE
from healthgap.services.store import BuildStore


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("headline")
    st = BuildStore(out)
    # five male cliffs listed first (as the build writes them, one sex after the other), the
    # steepest of all a female one listed last
    rows = [("male", f"E0200{k:04d}", f"E0200{k + 1:04d}", 72.123456 + k, 79.98765,
             7.864194 - k, 0.0123456, True) for k in range(5)]
    rows += [("female", "E02000100", "E02000101", 80.5555, 88.4444, 7.888888, 0.0012345, True)]
    cliffs = pd.DataFrame(rows, columns=["sex", "code_a", "code_b", "le_a", "le_b",
                                         "abs_diff", "noise_p", "exceeds_noise"])
    # issue #23: the FDR test; one male border passes, no female one
    cliffs["p_value"] = [0.00001234, 0.2, 0.3, 0.4, 0.5, 0.01]
    cliffs["q_value"] = [0.0000617, 0.25, 0.3, 0.4, 0.5, 0.01]
    cliffs["cliff"] = [True, False, False, False, False, False]
    lines = [shapely.LineString([(500000 + i, 200000), (500100 + i, 200100)])
             for i in range(len(cliffs))]
    st.write_layer("cliffs", gpd.GeoDataFrame(cliffs, geometry=lines, crs=BNG))
    st.write_layer("model_sii", pd.DataFrame({
        "sex": ["male", "female"], "level": ["system", "system"],
        "code": ["E54000057", "E54000057"], "n_areas": [346, 346],
        "le_min": [72.0123456, 76.987654], "le_max": [89.3456789, 94.0987654],
        "le_range": [17.3333333, 17.1111111], "sii": [10.523456, 8.3456789],
        "sii_lo": [9.8765432, 7.6543210], "sii_hi": [11.2345678, 9.0123456],
        "rii": [1.1456789, 1.1098765]}))
    st.write_layer("model_gradient_vs_england", pd.DataFrame({
        "sex": ["male"], "level": ["system"], "code": ["E54000057"],
        "le_drop_per_10_imd": [2.4379634], "england_le_drop_per_10_imd": [2.0606721],
        "difference": [0.3772913], "difference_lo": [-0.0760021], "difference_hi": [0.830584],
        "steepness": ["similar"], "verdict": ["About as steep as England, by the test."]}))
    st.write_layer("model_distance_decay", pd.DataFrame({
        "sex": ["male"], "n_pairs": [2115], "mean_abs_diff": [2.5526714],
        "slope_per_mile": [0.0010201], "slope_per_mile_lo": [-0.0643080],
        "slope_per_mile_hi": [0.1132477], "p_value": [0.484], "verdict": ["no distance decay"],
        "verdict_sentence": ["Differences do not grow with distance, by the test."]}))
    st.write_layer("model_headline", pd.DataFrame({
        "index": ["le_male", "le_female"], "n_areas": [339, 339],
        "range_years": [16.43210, 15.812345], "median_years_per_mile": [1.234567, 0.987654],
        "share_pairs_at_or_above_threshold": [0.5432, 0.4321],
        "transect_loss_per_mile": [0.4567, 0.3456], "transect_loss_per_mile_lo": [0.3, 0.2],
        "transect_loss_per_mile_hi": [0.6, 0.5]}))
    st.write_manifest({"area": {"level": "icb", "code": "E54000057",
                                "name": "NHS Greater Manchester Integrated Care Board"},
                       "synthetic": False, "layers": ["cliffs", "model_sii", "model_headline",
                                                          "model_gradient_vs_england",
                                                          "model_distance_decay"]})
    return out


def _headline(store, columns: int) -> str:
    run = subprocess.run([sys.executable, "-m", "healthgap.services.cli", "headline",
                          "--store", str(store)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": str(columns)})
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_cliffs_ranked_across_both_sexes_and_nothing_cut_at_80_columns(store):
    text = _headline(store, 80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    # every value in full (the old output cut them to "72.…")
    for value in ("17.3", "10.52", "9.88", "11.23", "1.146", "16.4", "15.8"):
        assert value in text, value
    start = next(i for i, line in enumerate(lines) if "Largest life-expectancy differences" in line)
    first = next(line for line in lines[start + 1:] if "E020" in line)
    # the largest difference of all is the female one, listed last in the layer
    assert first.split()[:3] == ["female", "E02000100", "E02000101"]
    assert "7.9" in first
    # the two ranges (17.1 per level, 15.8 from the models) are explained
    assert " ".join(RANGE_NOTE.split()[:6]) in " ".join(text.split())


def test_headline_words_verdicts_from_the_tests(store):
    """Issue #23: no "less unequal" from the SII; the gradient verdict and the cliffs' FDR
    verdict with the count expected by chance."""
    text = " ".join(_headline(store, 100).split())
    assert "unequal" not in text and "narrower" not in text
    assert "2.44" in text and "2.06" in text and "0.38 (-0.08–0.83)" in text
    assert "About as steep as England, by the test." in text
    assert ("Male: 1 of 5 borders pass the false discovery rate of 5% (of these, about 0.1 may "
            "be false by chance); 1 of 5 borders have an unadjusted p below 0.05, against 0.2 "
            "expected by chance alone.") in text
    assert "Female: No border passes the false discovery rate of 5%" in text
    assert "0.0000" in text  # the smallest p in full, not cut
    # the extremes transect (selection-biased) is gone; the all-pairs estimate replaces it
    assert "transect" not in text and "0.46" not in text
    assert "0.00 (-0.06–0.11)" in text and "no distance decay" in text
    assert "Male: Differences do not grow with distance, by the test." in text
