"""The one indicator catalogue: what each column means and which way is worse.

Every table, map, legend, tooltip and API field reads an indicator's words from here, so the same
column is described the same way everywhere and its *worse* end is always drawn the same way.

An entry gives the title in words (``label``), the unit (``units``, said once: never repeated in
the label), whether a higher value is better, worse or neither (``higher_is_worse``), the source
(publisher and licence), the period the data describe, and a short noun used in sentences
("cluster of low *male life expectancy*").

To add indicators, append :class:`Indicator` entries to a block of your own at the end of
:func:`_catalogue` (or call :func:`register` from the stage that makes the column). An entry is
all a new indicator needs: with ``stat_levels`` the build tests it for spatial autocorrelation,
and its statistic columns are named and read by the column registry (:mod:`geo.columns`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace

IMD_SOURCE = "English Indices of Deprivation 2019, MHCLG (OGL v3)"
LE_SOURCE = "OHID Local Health, life expectancy at birth 2015-19 (OGL v3)"
POP_SOURCE = "ONS small-area population estimates mid-2017 (OGL v3)"
OSM_SOURCE = "OpenStreetMap contributors (ODbL)"
NHS_SOURCE = "NHS Digital ODS practice and hospital lists (OGL v3); roads: " + OSM_SOURCE

IMD_PERIOD = "IMD 2019 (most data 2015-16)"
LE_PERIOD = "2015-19"
POP_PERIOD = "mid-2017"
OSM_PERIOD = "the build's OpenStreetMap extract"

IMD_DOMAINS = {"income": "Income", "employment": "Employment",
               "education": "Education, skills and training",
               "health": "Health deprivation and disability", "crime": "Crime",
               "housing_and_access": "Barriers to housing and services",
               "environment": "Living environment"}
IMD_SUBDOMAINS = {"children_and_young_people": "Children and young people",
                  "adult_skills": "Adult skills", "geographical_barriers": "Geographical barriers",
                  "wider_barriers": "Wider barriers", "indoors": "Indoors living environment",
                  "outdoors": "Outdoors living environment"}

DIRECTIONS = ("worse", "better", "neutral")
"""What a higher value means: :attr:`Indicator.direction`."""


@dataclass(frozen=True)
class Indicator:
    """How to read one indicator column.

    Attributes
    ----------
    name
        The column name.
    label
        The indicator in words (legend and page titles); no units in it.
    units
        The unit, said once (``years``, ``score``, ``km``...); empty for a pure number.
    source
        Publisher and licence.
    higher_is_worse
        True when a higher value is the worse outcome (deprivation), False when it is better
        (life expectancy), None when neither (counts, codes).
    kind
        ``continuous``, ``rank``, ``decile`` or ``category``.
    period
        The period the data describe (``2015-19``, ``mid-2017``...).
    noun
        A short noun phrase for sentences ("male life expectancy", "deprivation"); defaults to
        the label in lower case.
    scale
        How to read the values, when the unit alone does not say (``1 = most deprived 10%``).
    sex
        ``male`` or ``female`` for an indicator of one sex, empty otherwise (the column
        registry, :mod:`geo.columns`, reads it from here).
    stat_levels
        Levels at which the build tests this indicator for spatial autocorrelation, beside
        the plan's own list (``geo.model_plan.ModelPlan.stat_indicators``); empty for none.
    """

    name: str
    label: str
    units: str
    source: str
    higher_is_worse: bool | None = None
    kind: str = "continuous"
    period: str = ""
    noun: str = ""
    scale: str = ""
    sex: str = ""
    stat_levels: tuple[str, ...] = ()

    @property
    def direction(self) -> str:
        """``"worse"``, ``"better"`` or ``"neutral"``: what a higher value means."""
        if self.higher_is_worse is None:
            return "neutral"
        return "worse" if self.higher_is_worse else "better"

    @property
    def words(self) -> str:
        """The short noun phrase used in sentences."""
        return self.noun or self.label[:1].lower() + self.label[1:]

    @property
    def uses_osm(self) -> bool:
        """Whether the indicator is derived from OpenStreetMap data (ODbL credit needed)."""
        return "openstreetmap" in self.source.lower()

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {**asdict(self), "direction": self.direction}


_RANK = "rank"
_RANK_SCALE = "1 = most deprived of 32,844 neighbourhoods"
_DECILE = "decile"
_DECILE_SCALE = "1 = most deprived 10% of England"


def _imd_entries() -> list[Indicator]:
    items = [
        Indicator("imd_score", "Deprivation (IMD 2019 score)", "score", IMD_SOURCE, True,
                  period=IMD_PERIOD, noun="deprivation", scale="higher = more deprived"),
        Indicator("imd_rank", "Deprivation rank in England (IMD 2019)", _RANK, IMD_SOURCE,
                  False, _RANK, IMD_PERIOD, "deprivation rank", _RANK_SCALE),
        Indicator("imd_decile", "Deprivation decile in England (IMD 2019)", _DECILE, IMD_SOURCE,
                  False, _DECILE, IMD_PERIOD, "deprivation decile", _DECILE_SCALE),
        Indicator("imd_decile_area", "Deprivation decile within the area (IMD 2019)", _DECILE,
                  IMD_SOURCE, False, _DECILE, IMD_PERIOD, "deprivation decile within the area",
                  "1 = most deprived 10% of the area"),
        Indicator("income_score_rate_approx", "Income deprivation rate (approximate)",
                  "share of residents", IMD_SOURCE, True, period=IMD_PERIOD,
                  noun="income deprivation"),
        Indicator("employment_score_rate_approx", "Employment deprivation rate (approximate)",
                  "share of working-age residents", IMD_SOURCE, True, period=IMD_PERIOD,
                  noun="employment deprivation"),
    ]
    for key, label in IMD_DOMAINS.items():
        noun = f"{label.lower()} deprivation"
        items.append(Indicator(f"{key}_rank", f"{label} deprivation rank (IMD 2019 domain)",
                               _RANK, IMD_SOURCE, False, _RANK, IMD_PERIOD, noun + " rank",
                               _RANK_SCALE))
        items.append(Indicator(f"{key}_decile", f"{label} deprivation decile (IMD 2019 domain)",
                               _DECILE, IMD_SOURCE, False, _DECILE, IMD_PERIOD,
                               noun + " decile", _DECILE_SCALE))
    for key, label in IMD_SUBDOMAINS.items():
        items.append(Indicator(f"sub_{key}_rank", f"{label} deprivation rank (IMD 2019 "
                               "sub-domain)", _RANK, IMD_SOURCE, False, _RANK, IMD_PERIOD,
                               scale=_RANK_SCALE))
        items.append(Indicator(f"sub_{key}_decile", f"{label} deprivation decile (IMD 2019 "
                               "sub-domain)", _DECILE, IMD_SOURCE, False, _DECILE, IMD_PERIOD,
                               scale=_DECILE_SCALE))
    return items


def _le_entries() -> list[Indicator]:
    items = []
    for sex in ("male", "female"):
        title = sex.capitalize()
        items += [replace(entry, sex=sex) for entry in (
            Indicator(f"le_{sex}", f"{title} life expectancy at birth", "years", LE_SOURCE,
                      False, period=LE_PERIOD, noun=f"{sex} life expectancy"),
            Indicator(f"le_{sex}_pwmean", f"{title} life expectancy at birth (population-"
                      "weighted mean of neighbourhoods)", "years", LE_SOURCE, False,
                      period=LE_PERIOD, noun=f"{sex} life expectancy"),
            Indicator(f"le_{sex}_min", f"Lowest {sex} life expectancy of the neighbourhoods",
                      "years", LE_SOURCE, False, period=LE_PERIOD),
            Indicator(f"le_{sex}_max", f"Highest {sex} life expectancy of the neighbourhoods",
                      "years", LE_SOURCE, False, period=LE_PERIOD),
            Indicator(f"le_{sex}_range", f"Gap in {sex} life expectancy between neighbourhoods",
                      "years", LE_SOURCE, True, period=LE_PERIOD,
                      noun=f"gap in {sex} life expectancy"),
        )]
    return items


def _environment_entries() -> list[Indicator]:
    items = [
        Indicator("air_quality_ratio_sum", "Air pollution (IMD air-quality indicator)",
                  "sum of ratios to limit values", IMD_SOURCE, True, period=IMD_PERIOD,
                  noun="air pollution",
                  scale="NO2, particulates, benzene and SO2, each divided by its limit"),
        Indicator("no2_ratio_to_limit", "Nitrogen dioxide (ratio to its limit value)", "ratio",
                  IMD_SOURCE, True, period=IMD_PERIOD, noun="nitrogen dioxide"),
        Indicator("pm_ratio_to_limit", "Particulates (ratio to their limit value)", "ratio",
                  IMD_SOURCE, True, period=IMD_PERIOD, noun="particulates"),
        Indicator("benzene_ratio_to_limit", "Benzene (ratio to its limit value)", "ratio",
                  IMD_SOURCE, True, period=IMD_PERIOD, noun="benzene"),
        Indicator("so2_ratio_to_limit", "Sulphur dioxide (ratio to its limit value)", "ratio",
                  IMD_SOURCE, True, period=IMD_PERIOD, noun="sulphur dioxide"),
        Indicator("housing_poor_condition_share", "Housing in poor condition",
                  "share of dwellings", IMD_SOURCE, True, period=IMD_PERIOD),
        Indicator("no_central_heating_share", "Homes without central heating",
                  "share of dwellings", IMD_SOURCE, True, period=IMD_PERIOD),
        Indicator("road_traffic_accident_rate", "Road injuries to pedestrians and cyclists",
                  "rate", IMD_SOURCE, True, period=IMD_PERIOD,
                  scale="MHCLG's rate relative to residents and workers, as published"),
        Indicator("green_share", "Green space", "share of the area", OSM_SOURCE, False,
                  period=OSM_PERIOD, noun="green space"),
        Indicator("fast_food_per_1000", "Fast-food outlets", "per 1,000 residents", OSM_SOURCE,
                  True, period=OSM_PERIOD, noun="fast-food outlet density"),
        Indicator("off_licence_per_1000", "Off-licences", "per 1,000 residents", OSM_SOURCE,
                  True, period=OSM_PERIOD, noun="off-licence density"),
    ]
    return items


def _access_entries() -> list[Indicator]:
    road = {"gp": "a GP surgery", "store": "a general store or supermarket",
            "primary_school": "a primary school", "post_office": "a post office"}
    items = [
        Indicator(f"{key}_road_distance_km", f"Road distance to {what} (IMD)", "km",
                  IMD_SOURCE, True, period=IMD_PERIOD, noun=f"road distance to {what}")
        for key, what in road.items()
    ]
    lists = {"gp": "GP practices December 2023", "hospital": "hospital sites 2022"}
    for key, what in (("gp", "GP practice"), ("hospital", "hospital")):
        period = f"{lists[key]}; roads from the build's OpenStreetMap extract"
        items += [
            Indicator(f"{key}_time_min", f"Drive time to the nearest {what}", "minutes",
                      NHS_SOURCE, True, period=period, noun=f"drive time to a {what}"),
            Indicator(f"{key}_distance_km", f"Road distance to the nearest {what}", "km",
                      NHS_SOURCE, True, period=period),
            Indicator(f"{key}_e2sfca_per_1000", f"{what.capitalize()} accessibility "
                      "(enhanced two-step floating catchment)", "per 1,000 residents",
                      NHS_SOURCE, False, period=period, noun=f"{what} accessibility"),
        ]
        for minutes in (10, 15, 20, 30):
            items.append(Indicator(f"{key}_n_{minutes}min", f"{what.capitalize()}s within "
                                   f"{minutes} minutes' drive", "count", NHS_SOURCE, False,
                                   period=period))
    return items


def _catalogue() -> dict[str, Indicator]:
    items = [
        Indicator("population", "Population", "people", POP_SOURCE, None, period=POP_PERIOD),
        *_imd_entries(),
        *_le_entries(),
        *_environment_entries(),
        *_access_entries(),
    ]
    # ---- entries added by other stages: append a block of your own below this line ----
    return {i.name: i for i in items}


INDICATORS: dict[str, Indicator] = _catalogue()


def register(indicator: Indicator) -> Indicator:
    """Add an indicator produced by a later stage (access, exposure, model) to the catalogue."""
    INDICATORS[indicator.name] = indicator
    return indicator


#: The catalogue's words for another geography vintage, set by `vintage_wording` for a block.
_WORDING: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("healthgap_wording", default=())


@contextlib.contextmanager
def vintage_wording(replacements: Mapping[str, str]) -> Iterator[None]:
    """Within the block, `describe` words each entry for a build's vintage.

    The catalogue is written for the 2019 vintage (IMD 2019, mid-2017 population); a build of
    another vintage (`healthgap.data.vintages.Vintage.wording`) replaces those words in every
    label, source, period and noun it shows, longest first. Scoped to the current context (a
    `ContextVar`), so builds in other threads or tasks are not affected.
    """
    ordered = tuple(sorted(replacements.items(), key=lambda kv: -len(kv[0])))
    token = _WORDING.set(ordered)
    try:
        yield
    finally:
        _WORDING.reset(token)


def _worded(ind: Indicator) -> Indicator:
    subs = _WORDING.get()
    if not subs:
        return ind

    def fix(text: str) -> str:
        for old, new in subs:
            text = text.replace(old, new)
        return text

    return replace(ind, label=fix(ind.label), source=fix(ind.source), period=fix(ind.period),
                   noun=fix(ind.noun))


def describe(column: str) -> Indicator:
    """Return the indicator for ``column``, or a plain description if it is not catalogued.

    Inside `vintage_wording`, the entry's words are those of the build's vintage.
    """
    return _worded(INDICATORS.get(column, Indicator(column, column.replace("_", " "), "",
                                                     "healthgap")))


# --------------------------------------------------------------------------------------------
# Outcomes beyond life expectancy (issue #13.5), and England as the benchmark (issue #18).
# Local Health standardised mortality ratios (SMR) and emergency admission ratios (SAR) by MSOA,
# England = 100; place and system values are population-weighted means of MSOA ratios.

OUTCOME_PERIOD = "released with life expectancy 2015-19 (pooled years not stated per ratio)"
SMR_PERIOD = ("deaths 2015-19, 5 years pooled (the period of the Local Health release this file "
              "comes from; not stated in the file's headings)")
SAR_PERIOD = ("emergency admissions 2015/16-2019/20, 5 financial years pooled (the period of "
              "the Local Health release this file comes from; not stated in its headings)")
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
        period = SMR_PERIOD if name.startswith("smr_") else SAR_PERIOD
        register(Indicator(name, label, "ratio, England = 100", OUTCOME_SOURCE, True,
                           period=period))
        register(Indicator(f"{name}_pwmean", f"{label}, population-weighted mean of MSOA "
                           "ratios (an approximation: not the ratio of the combined population, "
                           "which needs each MSOA's expected count)",
                           "ratio, England = 100; approximate", OUTCOME_SOURCE, True,
                           period=period))
    register(Indicator("population_in_area", "Population inside the area (split MSOAs)",
                       "people", POP_SOURCE, None, period="mid-2017"))
    register(Indicator("share_in_area", "Share of the MSOA's population inside the area",
                       "share, 0-1", POP_SOURCE, None, period="mid-2017"))


_outcome_entries()

# --------------------------------------------------------------------------- what-if (#17)
# Columns of the ``whatif_lsoa`` layer written by ``healthgap whatif`` (geo/scenarios.py), one
# set per facility kind. Appended as a separate block so merges with other catalogue edits stay
# simple.

WHATIF_SOURCE = ("healthgap what-if scenario: travel times routed on OpenStreetMap (ODbL) roads "
                 "to NHS ODS practices (OGL v3), before and after the scenario's changes")
WHATIF_PERIOD = "the scenario, on the build's data (GP practices as listed, roads as mapped)"
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
                               "minutes; positive = further", WHATIF_SOURCE, True))
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
    INDICATORS.setdefault(_item.name, replace(_item, period=WHATIF_PERIOD))


def is_catalogued(column: str) -> bool:
    """Whether ``column`` has an entry (pages refuse to title a map with a raw column name)."""
    return column in INDICATORS


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
    Indicator("core20_pct", "Residents who are Core20", "% of residents", CORE20_SOURCE, True),
    Indicator("core20_unknown_pop", "Residents of LSOAs without a national IMD decile",
              "people", CORE20_SOURCE, None),
    Indicator("n_lsoa", "LSOAs", "count", "ONS lookups", None),
):
    register(replace(_ind, period="IMD 2019; population mid-2017"))
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
        Indicator(f"le_{_sex}_core20_basis_share",
                  f"Core20 share of the residents of the MSOAs behind the Core20 {_sex} life "
                  "expectancy (below 0.5: the figure mostly describes non-Core20 neighbours)",
                  "share of residents", LE_SOURCE, None),
    ):
        register(replace(_ind, period="2015-19; IMD 2019", sex=_sex))
