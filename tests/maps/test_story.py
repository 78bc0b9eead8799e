"""The story page (maps/story.py): sentences from the build's tables, each paragraph only when
its inputs exist, and comparisons with England only where an interval exists."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest
from healthgap.maps.story import NOT_COMPUTED, StoryInputs, compare_intervals, story_html


def numbers(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(
        r'<data class="hg-num" data-key="([^"]+)" data-source="[^"]+" value="([^"]+)"', text)}


def frames(with_ci: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    msoa = pd.DataFrame(
        {"msoa_name": ["A 001", "A 002", "B 001", "Ring 001"],
         "in_area": [True, True, True, False],
         "le_male": [75.0, 80.5, 83.2, 60.0], "le_female": [80.0, 84.0, 86.0, 60.0]},
        index=pd.Index(["E02000001", "E02000002", "E02000003", "E02000009"], name="msoa_code"))
    if with_ci:
        msoa["le_male_lo"] = msoa["le_male"] - 1.0
        msoa["le_male_hi"] = msoa["le_male"] + 1.0
    place = pd.DataFrame({"place_name": ["A", "B"], "le_male_pwmean": [78.0, 83.2],
                          "le_female_pwmean": [82.1, 86.0]},
                         index=pd.Index(["E06000001", "E06000002"], name="place_code"))
    system = pd.DataFrame({"system_name": ["Test ICB"], "core20_pop": [12345.0],
                           "core20_share": [0.2061], "le_male_pwmean": [80.1],
                           "le_female_pwmean": [83.6]},
                          index=pd.Index(["E54000099"], name="system_code"))
    return msoa, place, system


SII = pd.DataFrame({
    "sex": ["male", "male", "female"], "level": ["system", "england", "system"],
    "code": ["E54000099", "E92000001", "E54000099"], "quantiles": [10, 10, 10],
    "sii": [9.9, 7.2, 7.6], "sii_lo": [9.1, 7.0, 7.0], "sii_hi": [10.7, 7.4, 8.2],
    "rii": [0.12, 0.09, 0.09], "gap": [10.1, 7.5, 7.7], "n_areas": [63, 6791, 64],
})


GRADIENT = pd.DataFrame({
    "level": ["system"], "code": ["E54000099"], "sex": ["male"], "imd_min": [3.2],
    "imd_max": [41.0], "le_drop_per_10_imd": [2.6], "england_le_drop_per_10_imd": [2.1],
    "difference": [0.5], "difference_lo": [0.1], "difference_hi": [0.9]})
# The difference's interval by hand (geo.england.compare_with_england's rule): se of each from
# its half-width / 1.96, combined as independent: sqrt((0.8/1.96)^2 + (0.2/1.96)^2) = 0.42066;
# 2.7 +- 1.96 * 0.42066 = 1.8755 to 3.5245.
SII_VS = pd.DataFrame({"level": ["system"], "code": ["E54000099"], "sex": ["male"],
                       "sii_difference": [2.7], "sii_difference_lo": [1.8755],
                       "sii_difference_hi": [3.5245], "compared_with_england": ["more unequal"]})
ONS = {"sii_male": 9.4, "sii_female": 7.6, "period": "2017-2019"}


def test_every_paragraph_from_the_contract_tables():
    msoa, place, system = frames(with_ci=True)
    s = StoryInputs(area_name="Test ICB", level_word="integrated care system", msoa=msoa,
                    place=place, system=system, sii=SII, gradient=GRADIENT,
                    england={"le_male": 79.6, "core20_share": 0.2},
                    notes=["edge ring kept as neighbours"], period=["Life expectancy 2015-19"],
                    sii_vs_england=SII_VS, ons_reference=ONS)
    text = story_html(s)
    got = numbers(text)
    # hand-computed from the frames above (the ring MSOA at 60.0 is outside the area)
    assert got["le_male_min"] == 75.0 and got["le_male_max"] == 83.2
    assert got["le_male_range"] == pytest.approx(8.2)
    assert got["le_male_n"] == 3
    assert got["sii_male"] == 9.9 and got["sii_male_lo"] == 9.1 and got["sii_male_hi"] == 10.7
    assert got["sii_male_england"] == 7.2
    # issue #23: no verdict from the SII (a range effect); the gradient over the area's own
    # IMD range decides, here 0.5 (0.1 to 0.9) years per 10 IMD points steeper than England
    assert "wider than England" not in text and "narrower" not in text
    assert "the SII alone cannot rank areas" in text
    assert got["gradient_male"] == 2.6 and got["gradient_male_england"] == 2.1
    assert got["imd_min_male"] == 3.2 and got["imd_max_male"] == 41.0
    assert "falls more steeply with deprivation than in England (0.50 years" in text
    # the at-a-glance card gives the SII difference with its interval but no verdict from it
    assert got["sii_male_difference_lo"] == 1.8755
    assert "no verdict is drawn from the SII alone" in text
    assert "England's slope index is not computed in this build" in text  # female
    # ONS's published figures beside ours, with the reason in one sentence
    assert got["sii_male_ons"] == 9.4 and got["sii_female_ons"] == 7.6
    assert "ONS's figure is larger because" in html.unescape(text)
    # the at-a-glance panel: five figures, each with period, interval and comparator
    assert text.count('<div class="fig"') == 5
    assert got["le_male_system"] == 80.1 and got["le_male_england"] == 79.6
    assert text.count("<dt>Period</dt>") == 5 and text.count("<dt>Interval</dt>") == 5
    assert got["gap_male"] == 10.1 and "most deprived tenth" in text
    assert got["core20_pop"] == 12345 and got["core20_share"] == pytest.approx(20.61)
    assert got["core20_share_england"] == pytest.approx(20.0)
    # against England 79.6 with +-1.0 intervals: 75 worse, 80.5 similar, 83.2 better
    assert got["le_male_worse"] == 1 and got["le_male_similar"] == 1
    assert got["le_male_better"] == 1
    # female has no interval: said so, no verdict
    assert "no neighbourhood is called better or worse" not in text  # no England female value
    assert "A 001 (E02000001)" in text and "Ring 001" not in text
    # technical notes go to the run details page, the front page says how many
    assert "edge ring kept" not in text and "1 technical note(s)" in text
    assert 'role="img"' in text and "<table>" in text  # the chart has a text version
    rest = html.unescape(text)  # England's female SII is missing here, and said so
    for said in ("England's slope index is not computed", "England's figure is not computed",
                 "<td>not computed"):
        rest = rest.replace(said, "")
    assert NOT_COMPUTED not in rest


def test_fragments_of_local_authorities_are_labelled_with_their_residents_inside():
    msoa, place, system = frames(with_ci=False)
    place = place.assign(population=[12120.0, 90000.0])
    s = StoryInputs(area_name="Test", level_word="integrated care system", msoa=msoa,
                    place=place, system=system,
                    place_population={"E06000001": 88000.0, "E06000002": 90000.0})
    text = story_html(s)
    assert "A (part: 12,120 of 88,000 residents inside)" in text
    assert "B (part:" not in text
    assert "1 local authority is only partly inside the area (A)" in text


def test_missing_inputs_are_said_plainly():
    msoa, place, system = frames(with_ci=False)
    s = StoryInputs(area_name="Test", level_word="local authority", msoa=msoa, place=place,
                    system=system.drop(columns=["core20_pop", "core20_share"]), sii=None,
                    england={"le_male": 79.6})
    text = story_html(s)
    assert "Slope index of inequality:</b> not computed in this build" in text
    assert "less unequal" not in text and "more unequal" not in text
    assert "Core20 population:</b> not computed in this build" in text
    assert "gives no interval for the small-area figures" in text
    assert "le_male_worse" not in numbers(text)


def test_compare_intervals():
    assert compare_intervals((2.0, 3.0), (0.0, 1.0)) == "higher"
    assert compare_intervals((0.0, 1.0), (2.0, 3.0)) == "lower"
    assert compare_intervals((0.0, 2.0), (1.0, 3.0)) == "similar"
    assert compare_intervals((0.0, 1.0), (1.0, 2.0)) == "similar"  # touching is not apart
