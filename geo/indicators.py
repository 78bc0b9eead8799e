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


# --------------------------------------------------------------------------- Core20 and
# neighbourhoods (issue #14): appended as one block to ease merges.
CORE20_SOURCE = f"{IMD_SOURCE}; {POP_SOURCE}; NHS England Core20PLUS5 definition"

for _ind in (
    Indicator("core20", "Core20: in England's 20% most deprived LSOAs (IMD 2019 deciles 1-2)",
              "yes/no", CORE20_SOURCE, True, "category"),
    Indicator("core20_pop", "Core20 residents (in England's 20% most deprived LSOAs)", "people",
              CORE20_SOURCE, None),
    Indicator("core20_share", "Share of residents who are Core20", "share of residents",
              CORE20_SOURCE, True),
    Indicator("core20_unknown_pop", "Residents of LSOAs without a national IMD decile",
              "people", CORE20_SOURCE, None),
    Indicator("n_lsoa", "LSOAs", "count", "ONS lookups", None),
):
    register(_ind)
for _sex in ("male", "female"):
    for _ind in (
        Indicator(f"le_{_sex}_core20_pwmean",
                  f"{_sex.title()} life expectancy of Core20 residents (approximation: MSOA "
                  "values weighted by Core20 population)", "years", LE_SOURCE, False),
        Indicator(f"le_{_sex}_noncore20_pwmean",
                  f"{_sex.title()} life expectancy of non-Core20 residents (approximation: MSOA "
                  "values weighted by non-Core20 population)", "years", LE_SOURCE, False),
        Indicator(f"le_{_sex}_core20_gap",
                  f"Gap in {_sex} life expectancy, non-Core20 minus Core20 (approximation)",
                  "years", LE_SOURCE, True),
    ):
        register(_ind)
