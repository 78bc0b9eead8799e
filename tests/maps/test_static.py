"""Static print maps (maps/static.py): scale bar, classes in the atlas's grammar, files written."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from healthgap.geo.indicators import describe
from healthgap.maps._classify import WORSE_COLOUR, grammar_palette
from healthgap.maps.static import (
    PRINT_DPI,
    PageText,
    cluster_classes,
    indicator_classes,
    nice_length_km,
    save_static,
    static_map,
)
from PIL import Image
from shapely.geometry import box

from healthgap.errors import CRSError, InputError, ParameterError


def _grid(n: int = 4, size: float = 2000.0) -> gpd.GeoDataFrame:
    cells = [box(450_000 + i * size, 200_000 + j * size, 450_000 + (i + 1) * size,
                 200_000 + (j + 1) * size) for i in range(n) for j in range(n)]
    codes = [f"E0200{k:04d}" for k in range(len(cells))]
    values = np.linspace(72.0, 86.0, len(cells))
    values[3] = np.nan  # a suppressed value
    return gpd.GeoDataFrame({"le_male": values}, geometry=cells, crs=27700,
                            index=pd.Index(codes, name="msoa_code"))


@pytest.mark.parametrize(("width_m", "km"), [(8_000, 1), (30_000, 5), (60_000, 10),
                                             (130_000, 25), (1_000, 0.5)])
def test_scale_bar_is_a_round_fifth_of_the_width(width_m, km):
    assert nice_length_km(width_m) == km


def test_scale_bar_refuses_a_bad_width():
    with pytest.raises(ParameterError, match="width_m"):
        nice_length_km(0)


def test_classes_follow_the_atlas_grammar():
    frame = _grid()
    ind = describe("le_male")  # higher is better: the lowest class is the dark red one
    c = indicator_classes(frame["le_male"], ind)
    assert c.colours == grammar_palette(len(c.labels), "better")
    assert c.colours[0] == WORSE_COLOUR
    assert c.n_missing == 1 and sum(c.counts) == len(frame) - 1
    assert "(years)" in c.title and "worse end" in c.notes[0]


def test_cluster_labels_are_checked():
    ind = describe("le_male")
    ok = cluster_classes(pd.Series(["Low-Low", "Not significant", None]), ind, method="m")
    assert ok.labels[0] == "Cluster of low male life expectancy" and ok.n_missing == 1
    assert ok.notes == ["m"]
    none = cluster_classes(pd.Series(["Not significant", None]), ind, method="m")
    assert none.notes == ["No significant clusters.", "m"]  # said in words, as the atlas does
    with pytest.raises(InputError, match="Hot-Hot"):
        cluster_classes(pd.Series(["Hot-Hot"]), ind, method="m")


def test_wrong_crs_is_refused():
    frame = _grid().to_crs(4326)
    c = indicator_classes(frame["le_male"], describe("le_male"))
    with pytest.raises(CRSError, match="EPSG:27700"):
        static_map(frame, c, text=PageText(title="t"))


def test_png_and_svg_are_print_ready(tmp_path):
    frame = _grid()
    ind = describe("le_male")
    classes = indicator_classes(frame["le_male"], ind)
    fig = static_map(frame, classes, text=PageText(title="Male life expectancy, Test, 2015-19",
                                                   credits="Source: OHID (OGL v3)"),
                     boundaries={"System": gpd.GeoDataFrame(geometry=[frame.union_all()],
                                                             crs=27700)})
    png, svg = save_static(fig, tmp_path / "m")
    with Image.open(png) as im:
        assert im.size == (2481, 1749)  # A5 landscape at 300 dpi
        assert round(im.info["dpi"][0]) == PRINT_DPI
    text = svg.read_text()
    for label in [*classes.labels, classes.title, "Suppressed / no data (1)", "km", "N",
                  "Source: OHID (OGL v3)", "Male life expectancy, Test, 2015-19"]:
        assert label.replace("–", "–") in text, label
    # the same input writes the same bytes
    again = save_static(static_map(frame, classes, text=PageText(title="Male life expectancy, "
                                                                       "Test, 2015-19",
                                                                 credits="Source: OHID (OGL v3)"),
                                   boundaries={"System": gpd.GeoDataFrame(
                                       geometry=[frame.union_all()], crs=27700)}),
                        tmp_path / "again")
    assert again[1].read_bytes() == svg.read_bytes()
    assert again[0].read_bytes() == png.read_bytes()
