"""One colour grammar: the worse end is drawn the same way everywhere and stays readable under
the common colour-vision deficiencies.

The simulation uses the matrices of Machado, Oliveira & Fernandes (2009), "A physiologically-based
model for simulation of color vision deficiency", IEEE TVCG 15(6), Table 1 at severity 1.0
(protanopia, deuteranopia, tritanopia), applied to linear sRGB as the paper prescribes. Colour
differences are CIE76 Delta E in CIELAB (D65), computed here from the sRGB / CIE formulas.
"""

from __future__ import annotations

import numpy as np
import pytest
from healthgap.geo.indicators import INDICATORS, Indicator, describe, register
from healthgap.maps._classify import WORSE_COLOUR, classify, grammar_palette
from healthgap.maps.clusters import lisa_styles

from healthgap.errors import ParameterError

MACHADO_2009 = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779],
                            [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = m @ np.clip(linear_rgb, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _seen(hex_colour: str, deficiency: str | None) -> np.ndarray:
    rgb = _linear(hex_colour)
    if deficiency is not None:
        rgb = MACHADO_2009[deficiency] @ rgb
    return _lab(rgb)


def test_lab_conversion_matches_published_values():
    # sRGB white and pure red: CIELAB (100, 0, 0) and (53.24, 80.09, 67.20) (Lindbloom's
    # calculator, D65)
    np.testing.assert_allclose(_lab(_linear("#ffffff")), [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(_lab(_linear("#ff0000")), [53.24, 80.09, 67.20], atol=0.02)


@pytest.mark.parametrize("deficiency", [None, *MACHADO_2009])
@pytest.mark.parametrize("k", [5, 7, 10])
def test_sequential_classes_stay_apart_and_ordered(deficiency, k):
    for direction in ("worse", "neutral"):
        labs = [_seen(c, deficiency) for c in grammar_palette(k, direction)]
        lightness = [lab[0] for lab in labs]
        # one step of lightness per class in the same direction: the order survives
        assert all(a > b for a, b in zip(lightness, lightness[1:], strict=False)), lightness
        gaps = [float(np.linalg.norm(a - b)) for a, b in zip(labs, labs[1:], strict=False)]
        # 10 classes in one hue are the hardest case; CIE76 2.3 is a just-noticeable difference
        assert min(gaps) > (4.0 if k == 10 else 7.0), (direction, deficiency, gaps)


@pytest.mark.parametrize("deficiency", [None, *MACHADO_2009])
def test_cluster_colours_are_distinct(deficiency):
    colours = [c.colour for c in lisa_styles(INDICATORS["le_male"]).values()]
    labs = [_seen(c, deficiency) for c in colours]
    gaps = [float(np.linalg.norm(a - b)) for i, a in enumerate(labs) for b in labs[i + 1:]]
    assert min(gaps) > 10.0, (deficiency, gaps)


def test_the_worse_end_is_the_same_colour_for_every_direction_and_k():
    for k in range(2, 11):
        assert grammar_palette(k, "worse")[-1] == WORSE_COLOUR
        assert grammar_palette(k, "better")[0] == WORSE_COLOUR
        assert WORSE_COLOUR not in grammar_palette(k, "neutral")
    with pytest.raises(ParameterError, match="direction"):
        grammar_palette(5, "up")


def test_decile_one_is_the_worse_colour():
    # IMD decile 1 is the most deprived tenth: higher deciles are better
    ind = INDICATORS["imd_decile"]
    assert ind.direction == "better"
    colours = grammar_palette(10, ind.direction)
    assert colours[0] == WORSE_COLOUR


def test_catalogue_entries_are_complete_and_units_said_once():
    for name, ind in INDICATORS.items():
        assert ind.name == name
        assert ind.label and ind.source and ind.period, name
        assert ind.direction in ("worse", "better", "neutral")
        # the unit is never repeated inside the label or inside itself
        assert not ind.units or f"({ind.units})" not in ind.label, name
        assert "(" not in ind.units, name
    assert describe("not_a_column").label == "not a column"
    new = register(Indicator("test_only_col", "A test indicator", "units", "test", True,
                             period="2020"))
    assert INDICATORS["test_only_col"] is new and new.direction == "worse"
    del INDICATORS["test_only_col"]


def test_no_degenerate_legend_class():
    import pandas as pd

    # many values within 0.1 of each other: one decimal would print "0.1 – 0.1"
    values = pd.Series(np.linspace(0.10, 0.149, 50))
    c = classify(values, scheme="quantiles", k=5, decimals=1, column="x")
    for label in c.labels:
        lo, hi = label.split(" – ")
        assert lo != hi, c.labels
    assert len(set(c.labels)) == c.k
