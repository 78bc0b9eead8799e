"""Cliff and access maps (maps/cliffs.py, maps/access.py) on Frimley."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from healthgap.maps._layers import PageOptions
from healthgap.maps.access import access_map
from healthgap.maps.choropleth import reworded
from healthgap.maps.cliffs import CLIFF_COLOUR, cliffs_map, steepest

from healthgap.errors import DuplicateCodeError, GeometryError, MissingColumnError, ParameterError
from tests._names import neutral
from tests.maps.helpers import layers, legend, payload

LE = "le_birth_male_2015_19"


def test_steepest_picks_the_largest_gradients(frimley_cliffs):
    top = steepest(frimley_cliffs, gradient_col="years_per_mile", top=20)
    ranked = frimley_cliffs["years_per_mile"].sort_values(ascending=False)
    assert top["years_per_mile"].tolist() == ranked.iloc[:20].tolist()
    with pytest.raises(ParameterError, match="top"):
        steepest(frimley_cliffs, gradient_col="years_per_mile", top=0)


def test_cliffs_map_draws_top_lines_over_the_choropleth(frimley_msoa, frimley_cliffs,
                                                        frimley_places, frimley_system):
    m = cliffs_map(frimley_msoa, frimley_cliffs,
                   indicator=reworded(LE, label="Male life expectancy"), column=LE, top=20,
                   page=PageOptions(boundaries=[frimley_places, frimley_system]))
    names = [lyr.layer_name for lyr in layers(m)]
    assert names == ["Male life expectancy", "Steepest 20 cliffs",
                     "Places (local authorities)", "System (integrated care board)"]
    lines = layers(m)[1]
    data = payload(lines)
    assert data["t"] == "L" * 20
    top = steepest(frimley_cliffs, gradient_col="years_per_mile", top=20)
    np.testing.assert_allclose(data["p"]["g"], top["years_per_mile"].round(2))
    widths = [s["weight"] for s in lines.spec["style"]["classes"]]
    assert widths[0] == 10.0 and widths[-1] == 3.0
    assert widths == sorted(widths, reverse=True)  # steeper is thicker
    assert {s["color"] for s in lines.spec["style"]["classes"]} == {CLIFF_COLOUR}
    rows = {r["label"]: r for r in lines.spec["tip"]["rows"]}
    assert rows["Gradient"]["units"] == "years per mile"
    assert "Area A" in rows and "Distance between centres" in rows
    first = data["p"]["ea"][0]
    code = top["code_a"].iloc[0]
    assert first == f"{frimley_msoa.loc[code, 'msoa_name']} ({code})"
    text = legend(m)
    assert "Steepest 20 gaps between neighbours" in text
    assert f"top 20 of {len(frimley_cliffs):,} neighbour pairs" in text


def test_cliffs_input_errors(frimley_msoa, frimley_cliffs):
    with pytest.raises(MissingColumnError, match="years_per_mile"):
        cliffs_map(frimley_msoa, frimley_cliffs.drop(columns="years_per_mile"), column=LE)
    pts = frimley_cliffs.set_geometry(frimley_cliffs.centroid)
    with pytest.raises(GeometryError, match="expected LineString"):
        cliffs_map(frimley_msoa, pts, column=LE)


@pytest.fixture(scope="module")
def gp_practices(shared_data, frimley_lsoa):
    path = shared_data / "health_services" / "gp_practices_epraccur_dec2023_geocoded.csv"
    gp = neutral(pd.read_csv(path))
    gp = gp[(gp.status_code == "A") & (gp.prescribing_setting == 4)
            & gp.lsoa_code.isin(frimley_lsoa.index) & gp.easting.notna()]
    return gpd.GeoDataFrame({"code": gp.org_code, "name": gp.name, "kind": "GP practice"},
                            geometry=gpd.points_from_xy(gp.easting, gp.northing), crs=27700)


def test_access_map_markers_per_kind(frimley_lsoa, gp_practices):
    hospitals = gp_practices.iloc[:3].assign(kind="Hospital", code=["H1", "H2", "H3"])
    facilities = pd.concat([gp_practices, hospitals])  # the index repeats; codes do not
    # a made-up access indicator: distance (km) from each LSOA centroid to the nearest practice
    cent = frimley_lsoa.geometry.centroid
    dist = np.array([gp_practices.distance(c).min() for c in cent]) / 1000
    lsoa = frimley_lsoa.assign(gp_km=dist)
    m = access_map(lsoa, "gp_km", facilities,
                   indicator=reworded("gp_km", label="Distance to the nearest GP practice",
                                      units="km"))
    kinds = [lyr for lyr in layers(m) if lyr.spec["points"]]
    assert [k.layer_name for k in kinds] == [f"GP practice ({len(gp_practices)})",
                                             "Hospital (3)"]
    gp_layer = payload(kinds[0])
    assert gp_layer["id"] == gp_practices["code"].tolist()
    assert set(gp_layer["t"]) == {"T"}
    assert kinds[0].spec["tip"]["rows"] == [{"label": "Kind", "key": "k"}]
    fills = {k.spec["style"]["classes"][0]["fillColor"] for k in kinds}
    assert len(fills) == 2
    text = legend(m)
    assert "Distance to the nearest GP practice (km)" in text and "hg-dot" in text


def test_access_map_input_errors(frimley_lsoa, gp_practices):
    lsoa = frimley_lsoa.assign(t=1.0)
    with pytest.raises(MissingColumnError, match="'kind'"):
        access_map(lsoa, "t", gp_practices.drop(columns="kind"), indicator=reworded("t", label="x"))
    bad = gp_practices.copy()
    bad.loc[bad.index[0], "kind"] = None
    with pytest.raises(ParameterError, match="no 'kind'"):
        access_map(lsoa, "t", bad, indicator=reworded("t", label="x"))
    twice = pd.concat([gp_practices, gp_practices.iloc[:1]])
    with pytest.raises(DuplicateCodeError, match="repeated facility code"):
        access_map(lsoa, "t", twice, indicator=reworded("t", label="x"))
    with pytest.raises(ParameterError, match="no colour for kind"):
        access_map(lsoa, "t", gp_practices, indicator=reworded("t", label="x"),
                   kind_colours={"Hospital": "#000"})


def test_cliffs_map_draws_only_fdr_passing_borders_as_cliffs(frimley_msoa, frimley_cliffs):
    """Issue #23: a difference in years is labelled in years, only borders passing the false
    discovery rate are magenta, the rest grey and dashed and labelled, and the verdict (with the
    count expected by chance) is in the legend; with none passing, the page says so."""
    from healthgap.geo.verdicts import cliffs_verdict
    from healthgap.maps.cliffs import NOT_A_CLIFF

    c = frimley_cliffs.copy()
    top = steepest(c, gradient_col="abs_diff", top=20)
    c["cliff"] = False
    c.loc[top.index[:3], "cliff"] = True
    m = cliffs_map(frimley_msoa, c, indicator=reworded(LE, label="Male life expectancy"), column=LE,
                   top=20, gradient_col="abs_diff", cliff_col="cliff", verdict="VERDICT HERE")
    lines = layers(m)[1]
    assert lines.layer_name == ("3 cliffs passing the false discovery rate, 17 other large "
                                "differences (not cliffs)")
    styles = lines.spec["style"]["classes"]
    assert [s["color"] for s in styles] == [CLIFF_COLOUR] * 3 + [NOT_A_CLIFF["color"]] * 17
    rows = {r["label"]: r for r in lines.spec["tip"]["rows"]}
    assert rows["Difference"]["units"] == "years" and "Gradient" not in rows
    text = legend(m)
    assert "per mile" not in text and "VERDICT HERE" in text and "not a cliff" in text
    none = cliffs_verdict(0, 219, n_raw=8, alpha=0.05)
    assert none.word == "no cliffs pass"
    assert "against 11.0 expected by chance alone" in none.sentence
    m = cliffs_map(frimley_msoa, c.assign(cliff=False), column=LE, top=20,
                   gradient_col="abs_diff", cliff_col="cliff", verdict=none.sentence)
    assert {s["color"] for s in layers(m)[1].spec["style"]["classes"]} == {NOT_A_CLIFF["color"]}
    assert "no health cliffs can be named" in legend(m)
