"""The README's demo: generate the synthetic area and build every stage from it."""

from __future__ import annotations

import numpy as np
import pytest
from healthgap.geo.inequality import SlopeIndex
from healthgap.services.store import BuildStore

from tests import _builds


@pytest.fixture(scope="module")
def demo():
    # every stage with the atlas (and the board pack), shared with the report and atlas tests
    return _builds.demo_build()


def test_every_stage_lands_in_the_store(demo):
    layers = BuildStore(demo.store.path).layers()
    for name in ("lsoa", "msoa", "place", "system", "facilities", "cliffs", "model_sii",
                 "model_regression", "model_theil", "model_shapley", "stats_global",
                 "manifest"):
        assert name in layers, name
    man = BuildStore(demo.store.path).read_manifest()
    assert man["synthetic"] is True
    assert set(man["timings_s"]) >= {"read inputs and select the area",
                                     "service access and environment",
                                     "life-expectancy models"}
    assert man["results"]["access"]["facilities"]["gp"] > 0


def test_access_columns_are_real_times(demo):
    lsoa = demo.area.lsoa[demo.area.lsoa["in_area"]]
    t = lsoa["gp_time_min"]
    # every LSOA either has a time or a reason, never a placeholder number
    assert (t.notna() | lsoa["gp_access_reason"].notna()).all()
    assert t.max() < 120 and (t.dropna() >= 0).all()


def test_stored_sii_equals_a_direct_fit(demo):
    store = BuildStore(demo.store.path)
    sii = store.read_layer("model_sii")
    row = sii[(sii["sex"] == "male") & (sii["level"] == "system")].iloc[0]
    msoa = store.read_layer("msoa", index="msoa_code")
    inside = msoa[(msoa["in_area"] == 1) & msoa["le_male"].notna()]
    direct = SlopeIndex(value="le_male", population="population_in_area", score="imd_score",
                        n_quantiles=10, repetitions=20_000, seed=2019).fit(inside)
    assert row["sii"] == pytest.approx(direct.sii_, rel=1e-9)
    # the synthetic area has a steep deprivation gradient in life expectancy by design
    assert row["sii"] > 5
    assert row["le_range"] == pytest.approx(inside["le_male"].max() - inside["le_male"].min())


def test_same_seed_same_numbers(demo):
    # a second build of the demo, without the atlas, from inputs generated again with the same
    # seed (shared with test_compare_builds.py)
    again = _builds.demo_without_maps()
    a = BuildStore(demo.store.path).read_layer("model_sii")
    b = BuildStore(again.store.path).read_layer("model_sii")
    assert np.array_equal(a[["sii", "sii_lo", "sii_hi", "rii", "rii_lo", "rii_hi"]].to_numpy(),
                          b[["sii", "sii_lo", "sii_hi", "rii", "rii_lo", "rii_hi"]].to_numpy())


def test_statistics_in_the_store_match_a_direct_fit(demo):
    from healthgap.geo.autocorrelation import GlobalMoran
    from healthgap.geo.weights import build_weights

    store = BuildStore(demo.store.path)
    table = store.read_layer("stats_global")
    row = table[(table["level"] == "lsoa") & (table["indicator"] == "imd_score")
                & (table["statistic"] == "moran_i")].iloc[0]
    lsoa = store.read_layer("lsoa", index="lsoa_code")
    lsoa["in_area"] = lsoa["in_area"].astype(bool)
    direct = GlobalMoran(permutations=999, seed=2019).fit(lsoa["imd_score"],
                                                          build_weights(lsoa, kind="queen"))
    assert row["value"] == pytest.approx(direct.to_dict()["value"], abs=1e-12)
    # LISA labels only inside the area; the ring has none
    labels = lsoa["lisa_imd_score"]
    assert labels[lsoa["in_area"]].notna().all() and labels[~lsoa["in_area"]].isna().all()
    assert set(labels.dropna()) <= {"High-High", "Low-Low", "High-Low", "Low-High",
                                    "Not significant", "No neighbours"}


def test_atlas_links_every_page_and_says_synthetic(demo):
    import re

    index = demo.outputs["atlas"]
    html = index.read_text()
    pages = sorted(set(re.findall(r'href="([a-z0-9_-]+\.html)"', html)))
    assert len(pages) >= 20
    for must in ("lsoa-imd-score.html", "msoa-le-male.html", "lisa-msoa-le-male.html",
                 "cliffs-le-male.html", "access-gp.html"):
        assert must in pages
    for page in pages:
        text = (index.parent / page).read_text()
        assert "SYNTHETIC" in text, page
        # nothing is loaded from the network (links to leafletjs.com in the credits are fine)
        assert not re.search(r'<(script|link|img|iframe)[^>]*(src|href)="https?://', text), page
    assert "Open Government Licence" in html and "OpenStreetMap contributors" in html


def test_headline_command_prints_the_figures(demo):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "healthgap.services.cli", "headline", "--store",
                        str(demo.store.path.parent)], capture_output=True, text=True,
                       env={"COLUMNS": "200", "PATH": ""})
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "slope index of inequality" in text
    assert "Largest life-expectancy differences across a shared MSOA border" in text
    assert "Against England, same method" in text and "Core20" in text
    sii = BuildStore(demo.store.path).read_layer("model_sii")
    system = sii[(sii["sex"] == "male") & (sii["level"] == "system")].iloc[0]
    assert f"{system['sii']:.2f}" in r.stdout
