"""What each indicator column means: label, units, source and which way is worse.

One table that maps (legends, tooltips) and the API (layer fields) both read, so that a column
is described the same way everywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

IMD_SOURCE = "English Indices of Deprivation 2019, MHCLG (OGL v3)"
LE_SOURCE = "OHID Local Health, life expectancy at birth 2015-19 (OGL v3)"
POP_SOURCE = "ONS small-area population estimates mid-2017 (OGL v3)"

IMD_DOMAINS = {"income": "Income", "employment": "Employment",
               "education": "Education, skills and training",
               "health": "Health deprivation and disability", "crime": "Crime",
               "housing_and_access": "Barriers to housing and services",
               "environment": "Living environment"}
IMD_SUBDOMAINS = {"children_and_young_people": "Children and young people",
                  "adult_skills": "Adult skills", "geographical_barriers": "Geographical barriers",
                  "wider_barriers": "Wider barriers", "indoors": "Indoors living environment",
                  "outdoors": "Outdoors living environment"}


@dataclass(frozen=True)
class Indicator:
    """How to read one indicator column.

    Attributes
    ----------
    name
        The column name.
    label
        A plain-English label.
    units
        Units as shown in legends (``years``, ``score``, ``rank (1 = most deprived)``...).
    source
        Publisher and licence.
    higher_is_worse
        True when a higher value is the worse outcome (deprivation), False when it is better
        (life expectancy), None when neither (counts, codes).
    kind
        ``continuous``, ``rank``, ``decile`` or ``category``.
    """

    name: str
    label: str
    units: str
    source: str
    higher_is_worse: bool | None = None
    kind: str = "continuous"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return asdict(self)


def _catalogue() -> dict[str, Indicator]:
    items = [
        Indicator("population", "Population (mid-2017)", "people", POP_SOURCE, None),
        Indicator("imd_score", "IMD 2019 score", "score (higher = more deprived)", IMD_SOURCE,
                  True),
        Indicator("imd_rank", "IMD 2019 rank in England", "rank (1 = most deprived of 32,844)",
                  IMD_SOURCE, False, "rank"),
        Indicator("imd_decile", "IMD 2019 national decile", "decile (1 = most deprived 10%)",
                  IMD_SOURCE, False, "decile"),
        Indicator("imd_decile_area", "IMD 2019 decile within the area",
                  "decile (1 = most deprived 10% of the area)", IMD_SOURCE, False, "decile"),
        Indicator("income_score_rate_approx", "Income deprivation rate (approximate)",
                  "share of residents", IMD_SOURCE, True),
        Indicator("employment_score_rate_approx", "Employment deprivation rate (approximate)",
                  "share of working-age residents", IMD_SOURCE, True),
        Indicator("le_male", "Male life expectancy at birth", "years", LE_SOURCE, False),
        Indicator("le_female", "Female life expectancy at birth", "years", LE_SOURCE, False),
        Indicator("le_male_pwmean", "Male life expectancy (population-weighted mean of MSOAs)",
                  "years", LE_SOURCE, False),
        Indicator("le_female_pwmean",
                  "Female life expectancy (population-weighted mean of MSOAs)", "years",
                  LE_SOURCE, False),
        Indicator("le_male_range", "Gap in male life expectancy between neighbourhoods",
                  "years", LE_SOURCE, True),
        Indicator("le_female_range", "Gap in female life expectancy between neighbourhoods",
                  "years", LE_SOURCE, True),
    ]
    for key, label in IMD_DOMAINS.items():
        items.append(Indicator(f"{key}_rank", f"IMD 2019 {label} rank",
                               "rank (1 = most deprived of 32,844)", IMD_SOURCE, False, "rank"))
        items.append(Indicator(f"{key}_decile", f"IMD 2019 {label} decile",
                               "decile (1 = most deprived 10%)", IMD_SOURCE, False, "decile"))
    for key, label in IMD_SUBDOMAINS.items():
        items.append(Indicator(f"sub_{key}_rank", f"IMD 2019 {label} sub-domain rank",
                               "rank (1 = most deprived of 32,844)", IMD_SOURCE, False, "rank"))
        items.append(Indicator(f"sub_{key}_decile", f"IMD 2019 {label} sub-domain decile",
                               "decile (1 = most deprived 10%)", IMD_SOURCE, False, "decile"))
    return {i.name: i for i in items}


INDICATORS: dict[str, Indicator] = _catalogue()


def register(indicator: Indicator) -> Indicator:
    """Add an indicator produced by a later stage (access, exposure, model) to the catalogue."""
    INDICATORS[indicator.name] = indicator
    return indicator


def describe(column: str) -> Indicator:
    """Return the indicator for ``column``, or a plain description if it is not catalogued."""
    return INDICATORS.get(column, Indicator(column, column.replace("_", " "), "", "healthgap"))


# --------------------------------------------------------------------------------------------
# Outcomes beyond life expectancy (issue #13.5), and England as the benchmark (issue #18).
# Local Health standardised mortality ratios (SMR) and emergency admission ratios (SAR) by MSOA,
# England = 100; place and system values are population-weighted means of MSOA ratios.

OUTCOME_SOURCE = ("OHID Local Health, MSOA standardised ratios (England = 100), the release of "
                  "the 2015-19 life-expectancy file; pooled years as published (OGL v3); no "
                  "confidence intervals in this copy")

_OUTCOME_LABELS = {
    "smr_all_causes": "Deaths from all causes, all ages (SMR)",
    "smr_all_causes_u75": "Deaths from all causes, under 75 (SMR)",
    "smr_preventable_u75": "Deaths from causes considered preventable, under 75 (SMR)",
    "smr_cancer": "Deaths from all cancer, all ages (SMR)",
    "smr_cancer_u75": "Deaths from all cancer, under 75 (SMR)",
    "smr_circulatory": "Deaths from circulatory disease, all ages (SMR)",
    "smr_circulatory_u75": "Deaths from circulatory disease, under 75 (SMR)",
    "smr_chd": "Deaths from coronary heart disease, all ages (SMR)",
    "smr_stroke": "Deaths from stroke, all ages (SMR)",
    "smr_respiratory": "Deaths from respiratory disease, all ages (SMR)",
    "sar_emergency_all": "Emergency hospital admissions, all causes (SAR)",
    "sar_emergency_chd": "Emergency admissions for coronary heart disease (SAR)",
    "sar_emergency_stroke": "Emergency admissions for stroke (SAR)",
    "sar_emergency_mi": "Emergency admissions for heart attack (SAR)",
    "sar_emergency_copd": "Emergency admissions for COPD (SAR)",
    "sar_emergency_hip_fracture_65": "Emergency admissions for hip fracture, 65+ (SAR)",
}


def _outcome_entries() -> None:
    for name, label in _OUTCOME_LABELS.items():
        register(Indicator(name, label, "ratio (England = 100)", OUTCOME_SOURCE, True))
        register(Indicator(f"{name}_pwmean", f"{label}, population-weighted mean of MSOAs",
                           "ratio (England = 100; approximate)", OUTCOME_SOURCE, True))
    register(Indicator("population_in_area", "Population inside the area (split MSOAs)",
                       "people", POP_SOURCE, None))
    register(Indicator("share_in_area", "Share of the MSOA's population inside the area",
                       "share (0-1)", POP_SOURCE, None))


_outcome_entries()

# --------------------------------------------------------------------------- what-if (#17)
# Columns of the ``whatif_lsoa`` layer written by ``healthgap whatif`` (geo/scenarios.py), one
# set per facility kind. Appended as a separate block so merges with other catalogue edits stay
# simple.

WHATIF_SOURCE = ("healthgap what-if scenario: travel times routed on OpenStreetMap (ODbL) roads "
                 "to NHS ODS practices (OGL v3), before and after the scenario's changes")
WHATIF_KINDS = {"gp": "GP practice", "hospital": "hospital"}
WHATIF_THRESHOLDS_MIN = (10, 15, 20, 30)


def _whatif_catalogue() -> list[Indicator]:
    items = []
    for kind, noun in WHATIF_KINDS.items():
        for when, words in (("before", "before the scenario"), ("after", "after the scenario")):
            items.append(Indicator(f"{kind}_time_min_{when}",
                                   f"Time to the nearest {noun} {words}", "minutes",
                                   WHATIF_SOURCE, True))
            items.append(Indicator(f"{kind}_e2sfca_per_1000_{when}",
                                   f"{noun.capitalize()} access (E2SFCA) {words}",
                                   "supply per 1,000 residents", WHATIF_SOURCE, False))
            for t in WHATIF_THRESHOLDS_MIN:
                items.append(Indicator(f"{kind}_n_{t}min_{when}",
                                       f"{noun.capitalize()}s within {t} minutes {words}",
                                       "count", WHATIF_SOURCE, False))
        items.append(Indicator(f"{kind}_time_min_change",
                               f"Change in time to the nearest {noun}",
                               "minutes (positive = further)", WHATIF_SOURCE, True))
        items.append(Indicator(f"{kind}_e2sfca_per_1000_change",
                               f"Change in {noun} access (E2SFCA)",
                               "supply per 1,000 residents", WHATIF_SOURCE, False))
        for t in WHATIF_THRESHOLDS_MIN:
            items.append(Indicator(f"{kind}_n_{t}min_change",
                                   f"Change in {noun}s within {t} minutes", "count",
                                   WHATIF_SOURCE, False))
            items.append(Indicator(f"{kind}_lost_{t}min",
                                   f"Loses a {noun} within {t} minutes", "yes/no",
                                   WHATIF_SOURCE, True, "category"))
            items.append(Indicator(f"{kind}_gained_{t}min",
                                   f"Gains a {noun} within {t} minutes", "yes/no",
                                   WHATIF_SOURCE, False, "category"))
    return items


for _item in _whatif_catalogue():
    INDICATORS.setdefault(_item.name, _item)
