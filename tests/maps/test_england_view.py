"""The England-relative view (maps/england_view.py): fixed classes about England's value."""

from __future__ import annotations

import html

import numpy as np
import pytest
from healthgap.geo.indicators import describe
from healthgap.maps._verdicts import level_verdict, sii_verdict
from healthgap.maps.england_view import england_relative_map, relative_classes

from healthgap.errors import ParameterError
from tests.maps.helpers import layers, legend, payload


def test_classes_by_side_of_england():
    diff = np.array([-5.0, -2.0, 0.0, 0.9, 2.0, 4.0, np.nan])
    # life expectancy: higher is better, so below England is the worse side (class 0, 1)
    assert relative_classes(diff, (1.0, 3.0), False).tolist() == [0, 1, 2, 2, 3, 4, -1]
    # a ratio: higher is worse
    assert relative_classes(diff, (1.0, 3.0), True).tolist() == [4, 3, 2, 2, 1, 0, -1]


def test_map_of_smr_about_100(frimley_msoa):
    m_ = frimley_msoa.assign(smr=np.linspace(60, 150, len(frimley_msoa)))
    ind = describe("smr_all_causes_u75")
    m = england_relative_map(m_, "smr", indicator=ind, england=100.0)
    p = payload(layers(m)[0])["p"]
    for v, c in zip(p["v"], p["c"], strict=True):
        want = 0 if v > 120 else 1 if v > 105 else 2 if v >= 95 else 3 if v >= 80 else 4
        assert c == want, (v, c)
    text = html.unescape(legend(m))
    assert "about England's 100" in text and "no area is called significantly" in text
    with pytest.raises(ParameterError, match="neutral"):
        england_relative_map(m_, "smr", indicator=describe("population"), england=1.0)


def test_verdicts_need_an_interval():
    assert "no verdict" in level_verdict(80.0, 79.0, None)
    assert "significantly above" in level_verdict(80.0, 79.0, (79.5, 80.5))
    assert "not significantly" in level_verdict(80.0, 79.0, (78.5, 81.5))
    # issue #23: the SII difference never gives a verdict in words, whatever its interval
    for args in ((1.0, 0.2, 1.8), (-1, -2, -0.1), (0.1, -0.5, 0.7)):
        said = sii_verdict(*args)
        assert "wider" not in said and "narrower" not in said and "no verdict" in said
    assert "no verdict" in sii_verdict(1.0, None, None)
