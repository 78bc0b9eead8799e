"""The demo area's IoD2019 indicators and MSOA outcomes (aggregated IMD, life expectancy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from healthgap.data._demo_base import _ENGLAND_LSOAS, _num
from healthgap.data._demo_geometry import _Area
from healthgap.data._demo_population import _Fields, _LsoaAttrs
from healthgap.data._demo_services import _Practice, _Raster

# --------------------------------------------------------------------------------------------
# IoD2019 underlying indicators
# --------------------------------------------------------------------------------------------

_INDICATOR_COLUMNS = (
    "lsoa11cd", "income_domain_numerator",
    "income_deprivation_affecting_children_index_idaci_numerator",
    "income_deprivation_affecting_older_people_index_idaopi_numerator",
    "employment_domain_numerator", "staying_on_in_education_post_16_indicator",
    "entry_to_higher_education_indicator",
    "adult_skills_and_english_language_proficiency_indicator",
    "years_of_potential_life_lost_indicator",
    "comparative_illness_and_disability_ratio_indicator", "acute_morbidity_indicator",
    "mood_and_anxiety_disorders_indicator", "road_distance_to_a_post_office_indicator_km",
    "road_distance_to_a_primary_school_indicator_km",
    "road_distance_to_general_store_or_supermarket_indicator_km",
    "road_distance_to_a_gp_surgery_indicator_km", "household_overcrowding_indicator",
    "homelessness_indicator_rate_per_1000_households",
    "owner_occupation_affordability_component_of_housing_affordability_indicator",
    "private_rental_affordability_component_of_housing_affordability_indicator",
    "housing_affordability_indicator", "housing_in_poor_condition_indicator",
    "houses_without_central_heating_indicator", "road_traffic_accidents_indicator",
    "nitrogen_dioxide_component_of_air_quality_indicator",
    "benzene_component_of_air_quality_indicator",
    "sulphur_dioxide_component_of_air_quality_indicator",
    "particulates_component_of_air_quality_indicator", "air_quality_indicator",
)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _round5(x: np.ndarray) -> np.ndarray:
    """Round counts to the nearest 5 with a floor of 10, as IoD numerators are published."""
    return np.maximum(10, 5 * np.round(x / 5)).astype(int)


def _indicators(rng: np.random.Generator, area: _Area, a: _LsoaAttrs,
                practices: list[_Practice], raster: _Raster) -> dict[str, list[str]]:
    n = area.n
    dz = a.dz
    income_rate = _logistic(-1.95 + 0.75 * dz["income"])
    employment_rate = _logistic(-2.2 + 0.65 * dz["employment"])
    income = _round5(a.pop2015 * income_rate).astype(float)
    idaci = _round5(a.pop_0_15 * np.clip(income_rate * 1.35, 0, 0.9)).astype(float)
    idaopi = _round5(a.pop_60 * np.clip(income_rate * 1.05, 0, 0.9)).astype(float)
    employment = _round5(a.pop_wa * employment_rate).astype(float)
    idaci[rng.uniform(size=n) < 0.10] = np.nan
    idaopi[rng.uniform(size=n) < 0.03] = np.nan
    income[rng.choice(n, size=1, replace=False)] = np.nan
    employment[rng.choice(n, size=2, replace=False)] = np.nan

    gp_xy = np.array([p.xy for p in practices if p.xy is not None and p.status == "A"
                      and p.setting == 4])
    d_gp = np.array([np.min(np.hypot(*(gp_xy - c).T)) for c in a.pw]) / 1000.0 * 1.35
    lad_homeless = np.array([4.2, 3.1, 0.9, 1.2, 1.5])[np.array(area.lad_of)]
    lad_owner = np.array([0.71, 0.66, 0.78, 0.74, 0.69])[np.array(area.lad_of)]
    no2c = np.round(raster.lsoa_mean / 40.0, 2)
    benzene = np.round(np.clip(0.03 + 0.19 * no2c + rng.normal(0, 0.005, n), 0.02, 0.38), 2)
    so2 = np.round(np.clip(0.025 + 0.02 * no2c + rng.normal(0, 0.003, n), 0.01, 0.24), 2)
    pm = np.round(np.clip(0.34 + 0.12 * no2c + rng.normal(0, 0.01, n), 0.2, 0.61), 2)
    cols: dict[str, np.ndarray] = {
        "income_domain_numerator": income,
        "income_deprivation_affecting_children_index_idaci_numerator": idaci,
        "income_deprivation_affecting_older_people_index_idaopi_numerator": idaopi,
        "employment_domain_numerator": employment,
        "staying_on_in_education_post_16_indicator":
            np.clip(0.17 + 0.06 * dz["education"] + rng.normal(0, 0.02, n), 0.04, 0.57),
        "entry_to_higher_education_indicator":
            np.clip(0.89 - 0.03 * dz["education"] + rng.normal(0, 0.01, n), 0.36, 0.99),
        "adult_skills_and_english_language_proficiency_indicator":
            np.clip(0.3 + 0.1 * dz["adult_skills"] + rng.normal(0, 0.02, n), 0.03, 0.75),
        "years_of_potential_life_lost_indicator":
            np.clip(57 + 14 * dz["health"] + rng.normal(0, 4, n), 18.4, 184.7),
        "comparative_illness_and_disability_ratio_indicator":
            np.clip(117 + 45 * dz["health"] + rng.normal(0, 8, n), 31, 405),
        "acute_morbidity_indicator":
            np.clip(118 + 25 * dz["health"] + rng.normal(0, 6, n), 45, 306),
        "mood_and_anxiety_disorders_indicator": 0.8 * dz["health"] + rng.normal(0, 0.2, n),
        "road_distance_to_a_post_office_indicator_km":
            np.clip(0.8 * d_gp * rng.uniform(0.6, 1.3, n) + 0.2, 0.13, 9.17),
        "road_distance_to_a_primary_school_indicator_km":
            np.clip(0.55 * d_gp * rng.uniform(0.6, 1.3, n) + 0.15, 0.07, 7.2),
        "road_distance_to_general_store_or_supermarket_indicator_km":
            np.clip(0.5 * d_gp * rng.uniform(0.5, 1.4, n) + 0.05, 0.04, 12.0),
        "road_distance_to_a_gp_surgery_indicator_km": np.clip(d_gp, 0.11, 15.7),
        "household_overcrowding_indicator":
            np.clip(0.07 + 0.04 * dz["wider_barriers"] + rng.normal(0, 0.01, n), 0.007, 0.7),
        "homelessness_indicator_rate_per_1000_households": lad_homeless,
        "owner_occupation_affordability_component_of_housing_affordability_indicator": lad_owner,
        "private_rental_affordability_component_of_housing_affordability_indicator":
            np.clip(0.48 + 0.1 * dz["wider_barriers"] + rng.normal(0, 0.03, n), 0.05, 0.86),
        "housing_affordability_indicator": 1.2 * dz["wider_barriers"] + rng.normal(0, 0.5, n),
        "housing_in_poor_condition_indicator":
            np.clip(0.19 + 0.06 * dz["indoors"] + rng.normal(0, 0.02, n), 0.022, 0.78),
        "houses_without_central_heating_indicator":
            np.clip(0.027 + 0.012 * dz["indoors"] + rng.normal(0, 0.004, n), 0.002, 0.34),
        "road_traffic_accidents_indicator":
            np.clip(0.55 + 0.012 * (raster.lsoa_mean - 10) + rng.gamma(2.0, 0.1, n), 0.15, 50),
        "nitrogen_dioxide_component_of_air_quality_indicator": no2c,
        "benzene_component_of_air_quality_indicator": benzene,
        "sulphur_dioxide_component_of_air_quality_indicator": so2,
        "particulates_component_of_air_quality_indicator": pm,
        "air_quality_indicator": np.round(no2c + benzene + so2 + pm, 2),
    }
    out: dict[str, list[str]] = {"lsoa11cd": list(area.codes)}
    for name in _INDICATOR_COLUMNS[1:]:
        v = cols[name]
        if name.endswith("numerator"):
            out[name] = ["" if np.isnan(x) else str(int(x)) for x in v]
        elif name.startswith(("nitrogen", "benzene", "sulphur", "particulates", "air_quality")):
            out[name] = [_num(x, 2) for x in v]
        else:
            out[name] = [_num(x, 3) for x in v]
    # the derived approximate rates of imd2019_lsoa11_england.csv use the same numerators
    out["_income_rate"] = ["" if np.isnan(x) else _num(x / p, 4)
                           for x, p in zip(income, a.pop2015, strict=True)]
    out["_employment_rate"] = ["" if np.isnan(x) else _num(x / p, 4)
                               for x, p in zip(employment, a.pop_wa, strict=True)]
    return out


# --------------------------------------------------------------------------------------------
# MSOA attributes: aggregated IMD and Local Health life expectancy / SMRs / SARs
# --------------------------------------------------------------------------------------------

_LE_OTHER = (
    ("Deaths from causes considered preventable, under 75 years, SMR", 0.45, 0.25),
    ("Deaths from respiratory diseases, all ages", 0.35, 0.25),
    ("Deaths from stroke, all ages", 0.2, 0.3),
    ("Deaths from coronary heart disease, all ages", 0.25, 0.25),
    ("Deaths from circulatory disease,  under 75 years", 0.4, 0.3),
    ("Deaths from circulatory disease, all ages", 0.2, 0.18),
    ("Deaths from all cancer,  under 75 years", 0.22, 0.2),
    ("Deaths from all causes,  under 75 years", 0.33, 0.2),
    ("Deaths from all cancer, all ages", 0.16, 0.15),
    ("Deaths from all causes, all ages", 0.22, 0.15),
    ("Severe back pain prevalence, 2012", None, None),
    ("Back pain prevalence, 2012", None, None),
    ("Hospital stays for alcohol related harm (Broad definition)", 0.25, 0.2),
    ("Hospital stays for alcohol related harm (Narrow definition)", 0.25, 0.22),
    ("Limiting long-term illness or disability", None, None),
    ("Hospital stays for self harm", 0.45, 0.35),
    ("Emergency hospital admissions for hip fracture in 65+", 0.08, 0.25),
    ("Emergency hospital admissions for Chronic Obstructive Pulmonary Disease (COPD)", 0.55,
     0.3),
    ("Emergency hospital admissions for Myocardial Infarction (heart attack)", 0.25, 0.3),
    ("Emergency hospital admissions for stroke", 0.18, 0.22),
    ("Emergency hospital admissions for coronary heart disease", 0.25, 0.3),
    ("Emergency hospital admissions for all causes", 0.2, 0.15),
)


@dataclass
class _MsoaAttrs:
    pop: np.ndarray
    score: np.ndarray
    zbar: np.ndarray
    male: np.ndarray        # NaN = suppressed
    female: np.ndarray
    other: dict[str, list[str]]
    imd_agg: dict[str, list[str]]


def _msoa_attributes(rng: np.random.Generator, area: _Area, a: _LsoaAttrs,
                     fields: _Fields) -> _MsoaAttrs:
    m = len(area.msoa_codes)
    idx = np.array(area.msoa_of)
    pop = np.bincount(idx, weights=a.pop2015, minlength=m)

    def wmean(v: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=v * a.pop2015, minlength=m) / pop

    zbar = wmean(a.z)
    score = wmean(a.score)
    cent = np.array([[g.centroid.x, g.centroid.y] for g in area.msoa_geoms])
    life = fields("life", cent)
    male = np.round(np.clip(79.4 - 3.9 * zbar + 0.5 * life + rng.normal(0, 0.35, m), 66, 94), 1)
    female = np.round(np.clip(83.3 - 3.0 * zbar + 0.4 * life + rng.normal(0, 0.35, m), 72, 97),
                      1)
    # suppress two mid-deprivation MSOAs inside the area (male only; then both sexes)
    order = np.argsort(score, kind="stable")
    mid = [int(i) for i in order[m // 3: 2 * m // 3]
           if area.in_area[area.msoa_of.index(int(i))]]
    pick = rng.choice(len(mid), size=2, replace=False)
    male[mid[pick[0]]] = np.nan
    male[mid[pick[1]]] = np.nan
    female[mid[pick[1]]] = np.nan

    other: dict[str, list[str]] = {}
    llti = np.clip(17.8 + 3.5 * zbar + rng.normal(0, 1.2, m), 3.6, 38.9)
    for name, slope, noise in _LE_OTHER:
        if name.startswith("Severe back pain"):
            vals = [str(int(v)) for v in np.clip(np.round(10.4 + 1.3 * zbar
                                                          + rng.normal(0, 0.8, m)), 4, 18)]
        elif name.startswith("Back pain"):
            vals = [str(int(v)) for v in np.clip(np.round(17.0 + 1.6 * zbar
                                                          + rng.normal(0, 0.9, m)), 9, 25)]
        elif name.startswith("Limiting"):
            vals = [_num(v, 1, fixed=True) for v in llti]
        else:
            v = 100.0 * np.exp(float(slope or 0.0) * zbar + rng.normal(0, float(noise or 0.0), m))
            vals = [_num(x, 1, fixed=True) for x in np.round(v, 1)]
        other[name] = vals
    # Local Health suppresses some ratios too: blank two cells in the suppressed MSOA
    for name in ("Deaths from stroke, all ages", "Hospital stays for self harm"):
        other[name][mid[pick[1]]] = ""

    agg = _imd_aggregated(area, a, idx, pop, m)
    return _MsoaAttrs(pop=pop, score=score, zbar=zbar, male=male, female=female, other=other,
                      imd_agg=agg)


def _extent_weight(rank: np.ndarray) -> np.ndarray:
    """IoD 'extent' weight: 1 in the most deprived 10%, falling linearly to 0 at 30%."""
    pct = rank / _ENGLAND_LSOAS
    return np.where(pct <= 0.1, 1.0, np.where(pct <= 0.3, (0.3 - pct) / 0.2, 0.0))


def _imd_aggregated(area: _Area, a: _LsoaAttrs, idx: np.ndarray, pop: np.ndarray,
                    m: int) -> dict[str, list[str]]:
    def wmean(v: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=v * a.pop2015, minlength=m) / pop

    def prop(rank: np.ndarray) -> np.ndarray:
        return wmean((rank <= _ENGLAND_LSOAS // 10).astype(float))

    out: dict[str, list[str]] = {"msoa11cd": list(area.msoa_codes)}
    dom_scores = {
        "": a.score,
        "Income": _logistic(-1.95 + 0.75 * a.dz["income"]),
        "Employment": _logistic(-2.2 + 0.65 * a.dz["employment"]),
        "Education": np.exp(2.85 + 0.75 * a.dz["education"]),
        "Health": 0.8 * a.dz["health"],
        "Crime": 0.7 * a.dz["crime"],
        "Housing_and_Access": np.clip(21.9 + 8.7 * a.dz["housing_and_access"], 1.0, None),
        "Environment": np.clip(21.9 + 13.0 * a.dz["environment"], 0.5, None),
    }
    ranks = {"": a.rank, "Income": a.drank["income"], "Employment": a.drank["employment"],
             "Education": a.drank["education"], "Health": a.drank["health"],
             "Crime": a.drank["crime"], "Housing_and_Access": a.drank["housing_and_access"],
             "Environment": a.drank["environment"]}
    for key, sc in dom_scores.items():
        prefix = f"{key}_" if key else ""
        out[f"{prefix}Score"] = [_num(v, 6, sig=True) for v in wmean(sc)]
        out[f"{prefix}Proportion"] = [_num(v, 6, sig=True) for v in prop(ranks[key])]
        out[f"{prefix}Extent"] = [_num(v, 6, sig=True)
                                  for v in wmean(_extent_weight(ranks[key]))]
    return out
