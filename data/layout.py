"""Where each input sits inside a data directory laid out like ``../shared/data``.

The demo generator writes the same layout, so one build command serves real and demo data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from healthgap.errors import InputError

#: Relative path of each input inside a data directory: the one list of data-file paths (the
#: demo generator, the build, batch fingerprints and the tests take theirs from here;
#: ``sources.yml`` describes the same paths and a test keeps the two in step).
LAYOUT: dict[str, str] = {
    "lsoa_boundaries": "geography/lsoa11_boundaries_ew_super_generalised.geojson",
    "msoa_boundaries": "geography/msoa11_boundaries_ew_generalised.geojson",
    "lsoa_lookup": "geography/lsoa11_msoa11_lad22_lookup_ew.csv",
    "icb_lookup": "geography/lsoa11_sicbl22_icb22_ltla22_lookup_england.csv",
    "imd": "imd2019/imd2019_lsoa11_england.csv",
    "imd_indicators": "imd2019/imd2019_lsoa11_england_indicators.csv",
    "life_expectancy": "life_expectancy/msoa11_life_expectancy_mortality_localhealth_england.csv",
    "population": "population/lsoa11_population_mid2017_sape20dt1_ew.csv",
    "centroids": "population/lsoa11_postcode_centroids_ew_derived.csv",
    "gp_practices": "health_services/gp_practices_epraccur_dec2023_geocoded.csv",
    "hospitals": "health_services/hospitals_2022_geographr.csv",
    "rural_urban": "geography/lsoa11_rural_urban_classification_ew.csv",
    "imd_msoa": "imd2019/imd2019_msoa11_england_aggregated.csv",
    "population_denominators":
        "population/lsoa11_population_mid2015_iod2019_denominators_england.csv",
    "nhs_trusts": "health_services/nhs_trusts_2022_geographr.csv",
    "postcodes": "postcodes/codepoint_open_2025_gb_postcodes.csv.gz",
    "postcode_lookup": "postcodes/postcode_oa11_lsoa11_msoa11_lad22_lookup_ew_live_may22.csv.gz",
    # PCN catchments (issue #14): NHS England registrations by LSOA and the ODS ePCN mapping
    "gp_registrations": "health_services/gp-reg-pat-prac-lsoa-all.csv",
    "epcn": "health_services/epcn_core_partner_details_feb2023.csv",
    # today's England (issue #22): the 2025 vintage's files (data/vintages.py says which role
    # each plays), the 2011 -> 2021 carry, and NHS data of the same era
    "lsoa21_boundaries": "geography/lsoa21_boundaries_ew_super_generalised.geojson",
    "msoa21_boundaries": "geography/msoa21_boundaries_ew_super_generalised_simplified.geojson",
    "lsoa21_lookup": "geography/lsoa21_msoa21_ltla24_sicbl24_icb24_lookup_england_derived.csv",
    "lsoa11_lsoa21_lookup": "geography/lsoa11_lsoa21_ltla22_lookup_ew.csv",
    "lsoa21_wards": "geography/lsoa21_ward24_ltla24_lookup_ew.csv",  # also the atlas's ward names
    "lsoa21_rural_urban": "geography/lsoa21_rural_urban_classification_ew.csv",
    "imd2025": "imd2025/imd2025_lsoa21_england.csv",
    "imd2025_indicators": "imd2025/imd2025_lsoa21_england_indicators.csv",
    "imd2025_icb_summary": "imd2025/imd2025_icb24_england_summary.csv",
    "imd2025_ltla_summary": "imd2025/imd2025_ltla24_england_summary.csv",
    "census2021_residents": "population/lsoa21_census2021_usual_residents_ew.csv",
    "gp_list_sizes": "health_services/gp_patients_registered_by_practice_jan2021.csv",
}


@dataclass(frozen=True)
class DataDir:
    """A data directory laid out like ``../shared/data``.

    Parameters
    ----------
    root
        The directory (a path or a string).
    """

    root: Path

    def __post_init__(self) -> None:
        if not isinstance(self.root, Path):
            if not isinstance(self.root, str):
                raise InputError(f"data directory: expected a path, got {self.root!r}")
            object.__setattr__(self, "root", Path(self.root))

    def path(self, key: str) -> Path:
        """Return the path of input ``key``; raise naming the file if it is not there."""
        if key not in LAYOUT:
            raise InputError(f"unknown input {key!r}; known: {', '.join(LAYOUT)}")
        p = self.root / LAYOUT[key]
        if not p.is_file():
            raise InputError(f"{p}: file not found (input {key!r} in data directory "
                             f"{self.root})")
        return p

    def require(self, *keys: str) -> None:
        """Raise `InputError` listing every one of ``keys`` whose file is missing or not whole.

        A file that is there must be whole for its format (`data.contracts.check_file`: not
        empty, not cut short); the error names the file and what is wrong.
        """
        if not self.root.is_dir():
            raise InputError(f"--data {self.root}: not a folder")
        missing = [f"{self.root / LAYOUT[k]} ({k})" for k in keys if self.optional(k) is None]
        if missing:
            raise InputError(f"data directory {self.root}: missing input file(s): "
                             f"{'; '.join(missing)}")
        from healthgap.data.contracts import check_files

        check_files(self.root / LAYOUT[k] for k in keys)

    def optional(self, key: str) -> Path | None:
        """Return the path of input ``key`` if present, else None."""
        p = self.root / LAYOUT[key]
        return p if p.is_file() else None

    def osm_files(self) -> list[Path]:
        """Return the OSM extracts (``osm/*.osm.pbf`` and ``osm/*.osm``), PBF first."""
        d = self.root / "osm"
        if not d.is_dir():
            return []
        return sorted(d.glob("*.osm.pbf")) + sorted(d.glob("*.osm"))

    def rasters(self) -> list[Path]:
        """Return the GeoTIFF exposure layers under ``environment/``."""
        d = self.root / "environment"
        return sorted(d.glob("*.tif")) if d.is_dir() else []
