"""Frimley ICS (E54000034) at MSOA level, built from ``../shared/data`` for the model tests.

One row per MSOA that holds at least one Frimley LSOA (89 MSOAs), in EPSG:27700, indexed by
``msoa_code``, with the columns of the study-area MSOA frame that the models read: ``msoa_name,
place_code, system_code, population, pw_x, pw_y, in_area, le_male, le_female`` and the MSOA IMD 2019
scores (``imd_score`` and the domain scores). The population-weighted centre of an MSOA is the
population-weighted mean of its LSOAs' postcode-based centres (mid-2017 populations).
"""

from __future__ import annotations

import functools
from pathlib import Path

import geopandas as gpd
import pandas as pd
from healthgap.geo.rollup import weighted_centre

from tests._names import neutral

FRIMLEY = "E54000034"

IMD_DOMAINS = {
    "Income_Score": "imd_income",
    "Employment_Score": "imd_employment",
    "Education_Score": "imd_education",
    "Health_Score": "imd_health",
    "Crime_Score": "imd_crime",
    "Housing_and_Access_Score": "imd_barriers",
    "Environment_Score": "imd_environment",
}


@functools.lru_cache(maxsize=1)
def frimley_msoa(data: Path) -> gpd.GeoDataFrame:
    icb = neutral(pd.read_csv(data / "geography/lsoa11_sicbl22_icb22_ltla22_lookup_england.csv",
                      dtype=str))
    lookup = neutral(pd.read_csv(data / "geography/lsoa11_msoa11_lad22_lookup_ew.csv", dtype=str))
    frimley_lsoa = icb.loc[icb["icb22_code"] == FRIMLEY, "lsoa11_code"]
    msoa_codes = sorted(lookup.loc[lookup["lsoa_code"].isin(frimley_lsoa), "msoa_code"].unique())
    lsoa = lookup[lookup["msoa_code"].isin(msoa_codes)]
    centres = neutral(pd.read_csv(data / "population/lsoa11_postcode_centroids_ew_derived.csv"))
    pop = neutral(pd.read_csv(data / "population/lsoa11_population_mid2017_sape20dt1_ew.csv"))
    lsoa = (lsoa.merge(centres[["lsoa_code", "easting", "northing"]], on="lsoa_code")
            .merge(pop, on="lsoa_code")
            .rename(columns={"easting": "pw_x", "northing": "pw_y",
                             "population_mid2017": "population"}))
    msoa = weighted_centre(lsoa, by="msoa_code")
    msoa["population"] = lsoa.groupby("msoa_code")["population"].sum()
    msoa["place_code"] = lsoa.groupby("msoa_code")["place_code"].first()
    msoa["system_code"] = FRIMLEY
    msoa["in_area"] = True
    le_path = data / "life_expectancy/msoa11_life_expectancy_mortality_localhealth_england.csv"
    le = neutral(pd.read_csv(le_path, usecols=["msoa11cd", "msoa11nm", "le_birth_male_2015_19",
                              "le_birth_female_2015_19"]).set_index("msoa11cd"))
    le = le.rename(columns={"le_birth_male_2015_19": "le_male",
                            "le_birth_female_2015_19": "le_female"})
    imd = neutral(
        pd.read_csv(data / "imd2019/imd2019_msoa11_england_aggregated.csv").set_index("msoa11cd"))
    imd = imd[["Score", *IMD_DOMAINS]].rename(columns={"Score": "imd_score", **IMD_DOMAINS})
    codes = ",".join(f"'{c}'" for c in msoa_codes)
    bounds = neutral(gpd.read_file(data / "geography/msoa11_boundaries_ew_generalised.geojson",
                           where=f"msoa11cd IN ({codes})").set_index("msoa11cd").to_crs(27700))
    frame = bounds[["geometry"]].join(msoa).join(le).join(imd)
    frame.index.name = "msoa_code"
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=27700)
