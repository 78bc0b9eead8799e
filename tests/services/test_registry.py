"""One registry from column to pixel: a new indicator, declared in this test alone, reaches the
statistics, the layer, the API's statistics filter and a cluster map.

Nothing outside the test is edited: the indicator is one catalogue entry (with the level it is
tested at), and every name on its way comes from `geo.columns.COLUMNS`.
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import esda
import numpy as np
import pandas as pd
import pytest
from healthgap.geo.columns import COLUMNS, STATISTICS
from healthgap.geo.indicators import INDICATORS, Indicator
from healthgap.geo.model_plan import PLAN
from healthgap.maps._layers import PageOptions
from healthgap.services.analysis import run_statistics
from healthgap.services.api import create_app
from healthgap.services.atlas import _Pages
from healthgap.services.build import join_computed_columns
from healthgap.services.settings import Settings
from healthgap.services.store import BuildStore
from libpysal.graph import Graph

from tests.geo._areas import joined_area
from tests.services._api_helpers import FRIMLEY, TestClient, frimley_root

NEW = Indicator("test_walkability", "Walkability (test indicator)", "score",
                "healthgap test suite", False, period="2026", stat_levels=("lsoa",))
PERMUTATIONS = 99
GLOBAL_PERMUTATIONS = 49


@pytest.fixture(scope="module")
def catalogued():
    """The new indicator in the catalogue for this module only."""
    INDICATORS[NEW.name] = NEW
    yield NEW
    del INDICATORS[NEW.name]


@pytest.fixture(scope="module")
def computed(catalogued, shared_data):
    area = joined_area(shared_data, FRIMLEY)
    lsoa = area.lsoa
    # a smooth east-west gradient plus deprivation, all >= 0 (Gi* needs it): clustered by design
    x = (lsoa.geometry.centroid.x - lsoa.geometry.centroid.x.min()) / 1000.0
    values = pd.DataFrame({NEW.name: (x + 0.1 * lsoa["imd_score"].fillna(0)).round(6)},
                          index=lsoa.index)
    area = area.with_columns("lsoa", values, source="test indicator")
    # the plan's own indicators left out, so only the catalogue entry asks for statistics
    plan = replace(PLAN, stat_indicators={"lsoa": ()}, sexes=(),
                   global_permutations=GLOBAL_PERMUTATIONS)
    out = run_statistics(area, weights="queen", permutations=PERMUTATIONS, seed=7, alpha=0.05,
                         correction="fdr", plan=plan)
    return join_computed_columns(area, [("statistics", out.columns)]), out


def test_registry_names_and_reads_back_every_statistic(catalogued):
    for key in STATISTICS:
        col = COLUMNS.column(NEW.name, level="lsoa", statistic=key)
        assert COLUMNS.parse(col.name, level="lsoa") == col
    assert COLUMNS.parse("lisa_le_male_p") == COLUMNS.column("le_male", statistic="lisa_p")
    assert COLUMNS.column("le_female_pwmean").sex == "female"
    assert COLUMNS.parse("lisa_not_an_indicator") is None


def test_new_indicator_reaches_the_layer_with_esda_moran(computed):
    area, out = computed
    names = [COLUMNS.of(NEW.name, s) for s in ("lisa", "lisa_p", "lisa_q", "gi", "gi_z")]
    assert set(names) <= set(area.lsoa.columns)
    assert out.statistics is not None
    run = out.statistics.find("lsoa", NEW.name)
    assert run is not None and run.permutations == PERMUTATIONS
    assert run.weights.kind == "queen" and run.gi_weights.kind == "distance_band"
    # global Moran's I against esda (2.x Moran.I) on queen contiguity among the areas inside
    # (a global statistic leaves the edge ring out; libpysal strict=False, as the build builds
    # it), row-standardised
    table = out.tables["stats_global"]
    row = table[(table["indicator"] == NEW.name) & (table["statistic"] == "moran_i")]
    have = area.lsoa[area.lsoa[NEW.name].notna() & area.lsoa["in_area"]]
    graph = Graph.build_contiguity(have.geometry, rook=False, strict=False).transform("R")
    ref = esda.Moran(have[NEW.name].to_numpy(), graph.to_W(), permutations=0)
    assert len(row) == 1
    assert float(row["value"].iloc[0]) == pytest.approx(ref.I, abs=1e-10)


def test_new_indicator_reaches_the_api_statistics_filter(computed, shared_data, tmp_path):
    area, out = computed
    root = tmp_path / "root"
    shutil.copytree(frimley_root(shared_data), root)
    store = BuildStore(root / FRIMLEY)
    lsoa = store.read_layer("lsoa", index="lsoa_code")
    new_cols = [c for c in area.lsoa.columns if c not in lsoa.columns]
    store.write_layer("lsoa", lsoa.join(area.lsoa[new_cols]))
    store.write_layer("stats_global", out.tables["stats_global"])
    with TestClient(create_app(Settings(store_root=root, job_executor="thread"))) as client:
        body = client.get(f"/areas/{FRIMLEY}/stats").json()
        local = {(x["level"], x["indicator"]): x["columns"] for x in body["local"]}
        assert set(local[("lsoa", NEW.name)]) == {
            COLUMNS.of(NEW.name, s) for s in ("lisa", "lisa_p", "lisa_q", "gi", "gi_z")}
        rows = client.get(f"/areas/{FRIMLEY}/stats/global",
                          params={"indicator": NEW.name, "statistic": "moran_i"}).json()
        assert rows["numberMatched"] == 1 and rows["rows"][0]["level"] == "lsoa"
        got = client.get(f"/areas/{FRIMLEY}/stats/local",
                         params={"level": "lsoa", "indicator": NEW.name}).json()
    inside = area.lsoa[area.lsoa["in_area"]]
    assert got["numberMatched"] == len(inside)
    frame = pd.DataFrame(got["rows"]).set_index("lsoa_code")
    np.testing.assert_allclose(frame[NEW.name], inside.loc[frame.index, NEW.name], rtol=0)


def test_new_indicator_reaches_a_cluster_map(computed):
    area, out = computed
    pages: list = []
    _Pages(area, {}, PageOptions(), pages).clusters(out.statistics, 0.05, "fdr")
    slug = f"lisa-lsoa-{NEW.name.replace('_', '-')}"
    page = next((p for p in pages if p.slug == slug), None)
    assert page is not None, [p.slug for p in pages]
    html = page.map.get_root().render()
    assert "Walkability (test indicator)" in html
    assert "Queen contiguity, row-standardised" in html
    assert f"{PERMUTATIONS:,} conditional permutations" in html


def test_the_plan_gives_the_global_statistics_their_permutations(computed):
    _, out = computed
    table = out.tables["stats_global"]
    assert set(table["permutations"]) == {GLOBAL_PERMUTATIONS}
    assert out.statistics.global_permutations == GLOBAL_PERMUTATIONS


def test_build_help_states_the_plans_permutation_counts():
    from healthgap.services.cli import _PERMUTATIONS_HELP

    assert f"global statistics use {PLAN.global_permutations} " in _PERMUTATIONS_HELP
    assert f"correlogram {PLAN.correlogram_permutations} " in _PERMUTATIONS_HELP


def test_legend_sentence_follows_the_weights_used():
    from healthgap.maps.clusters import weights_sentence
    from healthgap.services.results import WeightsUsed

    knn = WeightsUsed.from_summary({"kind": "knn", "params": {"k": 6, "transform": "r",
                                                              "points": "pw_x/pw_y"}})
    assert weights_sentence(knn.kind, transform=knn.transform, k=knn.k, points=knn.points) == (
        "6 nearest neighbours (distances between population-weighted centres), "
        "row-standardised")
    gi = WeightsUsed.from_summary({"kind": "distance_band", "threshold_m": 4120.4,
                                   "params": {"threshold": 4120.4, "transform": "r"}},
                                  transform="b", self_included=True)
    assert weights_sentence(gi.kind, transform=gi.transform, threshold_m=gi.threshold_m,
                            self_included=True) == (
        "Distance band of 4,120 m, each area its own neighbour, binary")
