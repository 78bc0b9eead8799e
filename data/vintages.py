"""The geography vintages healthgap can build: each declared once, as data.

A vintage fixes the boundaries and lookups (LSOA, MSOA, local authority, sub-ICB, ICB), the
deprivation source, the population used as the weight, and how life expectancy (published only
on 2011 MSOAs, Local Health 2015-19) reaches the vintage's areas. Everything that differs
between two vintages is a field of `Vintage`; code outside this module and its readers
(`healthgap.services.vintage_inputs`) asks the declaration instead of naming a year.

Inside healthgap every frame uses one set of neutral key column names whatever the vintage
(`NEUTRAL_KEYS`: ``lsoa_code, lsoa_name, msoa_code, msoa_name, place_code, place_name,
subicb_code, subicb_name, subicb_nhs_code, system_code, system_name, system_nhs_code``; the
local authority is the default place, the ICB the system). Only this declaration and the readers
name the vintage-specific columns: `Vintage.lookup_columns` maps a lookup file's columns to the
neutral names, and `Vintage.published` maps the neutral names to the columns a build's
GeoPackage carries (the ONS names of the vintage's era: ``lsoa11cd, lad22cd, icb22cd`` in 2019,
``lsoa21cd, lad24cd, icb24cd`` in 2025). `healthgap.services.store.BuildStore` renames on write
and back to neutral on read (`neutral_name` knows every vintage's published names), so a QGIS
user sees the vintage's ONS names and every reader of a build (API, atlas, report, what-if) the
neutral ones. `Vintage.key_meaning` says what each key holds in a vintage, and every output
(manifest, GeoPackage layer metadata, atlas story page, API area info) carries the vintage's
label, so a 2021 LSOA code is never presented as a 2011 one without saying so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from healthgap.errors import ParameterError

#: Roles every vintage fills with a data-file key of `healthgap.data.layout.LAYOUT`.
ROLES = ("lsoa_boundaries", "msoa_boundaries", "lsoa_lookup", "icb_lookup", "imd",
         "imd_indicators", "population", "centroids", "life_expectancy")


#: The neutral key columns every frame uses inside healthgap, whatever the vintage.
NEUTRAL_KEYS = ("lsoa_code", "lsoa_name", "msoa_code", "msoa_name", "place_code", "place_name",
                "subicb_code", "subicb_name", "subicb_nhs_code", "system_code", "system_name",
                "system_nhs_code")
#: Each neutral key's published name (the ONS column name of the era) in the vintages of
#: `PUBLISHED_VINTAGES`, one key a row, so that a key's names in every vintage are read together.
PUBLISHED_VINTAGES = ("2019", "2025")
PUBLISHED_NAMES: Mapping[str, tuple[str, str]] = {
    "lsoa_code": ("lsoa11cd", "lsoa21cd"),
    "lsoa_name": ("lsoa11nm", "lsoa21nm"),
    "msoa_code": ("msoa11cd", "msoa21cd"),
    "msoa_name": ("msoa11nm", "msoa21nm"),
    "place_code": ("lad22cd", "lad24cd"),
    "place_name": ("lad22nm", "lad24nm"),
    "subicb_code": ("sicbl22cd", "sicbl24cd"),
    "subicb_name": ("sicbl22nm", "sicbl24nm"),
    "subicb_nhs_code": ("sicbl22cdh", "sicbl24cdh"),
    "system_code": ("icb22cd", "icb24cd"),
    "system_name": ("icb22nm", "icb24nm"),
    "system_nhs_code": ("icb22cdh", "icb24cdh"),
}
#: The key columns a footprint file sets for its LSOAs (`healthgap.geo.footprint`): a footprint
#: build publishes them under these neutral names (`Vintage.for_footprint`).
FOOTPRINT_KEYS = ("place_code", "place_name", "system_code", "system_name", "system_nhs_code")


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


def _published(vintage: str) -> dict[str, str]:
    """Return the published name of every neutral key in ``vintage`` (`PUBLISHED_NAMES`)."""
    era = PUBLISHED_VINTAGES.index(vintage)
    return {key: names[era] for key, names in PUBLISHED_NAMES.items()}


@dataclass(frozen=True)
class Vintage:
    """One geography vintage: files, columns, periods and carry rule.

    Attributes
    ----------
    name
        ``2019`` or ``2025`` (what ``--vintage`` takes).
    label
        One line naming everything the vintage fixes (printed on every output).
    files
        Role (`ROLES`, and the vintage's extra roles) -> data-file key in `LAYOUT`.
    published
        Neutral key column (`NEUTRAL_KEYS`) -> the column name a build's GeoPackage carries
        (the ONS name of the vintage's era). Every neutral key has one.
    lookup_columns
        The lookup file's column -> the neutral key or name column it becomes (empty for a
        vintage read by the historical readers, `healthgap.data.readers`).
    boundary_code_column
        The code column of the LSOA boundary file.
    imd_columns
        Deprivation file column -> internal column (``imd_score``, ``income_decile``, ...).
    population_column
        Column of the population file that holds the weight.
    key_meaning
        Neutral column -> what it holds in this vintage (written to the manifest and the layer
        metadata under its published name, `published_meaning`).
    deprivation, deprivation_period
        The deprivation source and the period most of its data describe.
    population_label, population_period
        What the population weight is, and its date.
    life_expectancy
        Where life expectancy comes from and how it reaches the vintage's areas.
    carry
        ``None`` when life expectancy is on the vintage's own MSOAs; ``"lsoa11_to_lsoa21"``
        when it is carried through the ONS exact-fit lookup (`healthgap.geo.carry`).
    imd_summaries
        Published area summaries of the deprivation source (reference values), by level.
    wording
        The indicator catalogue's 2019 words -> this vintage's (`healthgap.geo.indicators.
        vintage_wording` applies them to every title, legend and period a build shows).
    lsoa_count_england
        English LSOAs in the vintage (a check on the lookup).
    """

    name: str
    label: str
    files: Mapping[str, str]
    boundary_code_column: str
    population_column: str
    deprivation: str
    deprivation_period: str
    population_label: str
    population_period: str
    life_expectancy: str
    lsoa_count_england: int
    published: Mapping[str, str] = field(default_factory=dict)
    lookup_columns: Mapping[str, str] = field(default_factory=dict)
    imd_columns: Mapping[str, str] = field(default_factory=dict)
    key_meaning: Mapping[str, str] = field(default_factory=dict)
    carry: str | None = None
    imd_summaries: Mapping[str, str] = field(default_factory=dict)
    wording: Mapping[str, str] = field(default_factory=dict)
    footprint: bool = False

    def __post_init__(self) -> None:
        for name in ("files", "published", "lookup_columns", "imd_columns", "key_meaning",
                     "imd_summaries", "wording"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        missing = [r for r in ROLES if r not in self.files]
        if missing:
            raise ParameterError(f"vintage {self.name}: no file for role(s) {', '.join(missing)}")
        unnamed = [k for k in NEUTRAL_KEYS if k not in self.published]
        if unnamed:
            raise ParameterError(f"vintage {self.name}: no published name for {', '.join(unnamed)}")

    def for_footprint(self) -> Vintage:
        """Return this vintage for a build whose systems and places come from a footprint file.

        The footprint's LSOAs take its system and place codes, which need not be the ICB or
        local authority codes of the vintage's era (an April 2026 ICB, a proposed merger), so
        those columns are published under their neutral names (`FOOTPRINT_KEYS`), not the
        vintage's ONS names, and say where they come from.
        """
        era = {k: self.key_meaning.get(k) for k in ("system_code", "place_code")}
        meaning = {k: f"the footprint file's code for its LSOAs; for the others, "
                      f"{v or 'the vintage'}" for k, v in era.items()}
        return replace(self, published={**self.published, **{k: k for k in FOOTPRINT_KEYS}},
                       key_meaning={**self.key_meaning, **meaning}, footprint=True)

    def published_name(self, column: str) -> str:
        """Return the GeoPackage column name of ``column`` (itself unless it is a neutral key)."""
        return self.published.get(column, column)

    def published_meaning(self) -> dict[str, str]:
        """Return `key_meaning` under the published column names (what a QGIS user sees)."""
        return {self.published_name(k): v for k, v in self.key_meaning.items()}

    def key_columns(self) -> dict[str, dict[str, str]]:
        """Return each neutral key column: its published name and what it holds (the API's)."""
        return {k: {"published_as": self.published[k],
                    **({"holds": self.key_meaning[k]} if k in self.key_meaning else {})}
                for k in NEUTRAL_KEYS}

    @property
    def core20_definition(self) -> str:
        """Core20 in words, naming the deprivation source."""
        return f"LSOAs in national {self.deprivation} deciles 1-2"

    def required(self) -> tuple[str, ...]:
        """Data-file keys every build of this vintage reads."""
        roles = ("lsoa_lookup", "icb_lookup", "lsoa_boundaries", "population", "imd",
                 "life_expectancy", *(("carry_lookup", "carry_population", "carry_lsoa_lookup")
                                      if self.carry else ("centroids",)))
        return tuple(dict.fromkeys(self.files[r] for r in roles))

    def describe(self) -> dict[str, Any]:
        """Return the vintage as written to the manifest and shown by the API and the atlas."""
        return {"name": self.name, "label": self.label, "deprivation": self.deprivation,
                "deprivation_period": self.deprivation_period,
                "population": self.population_label,
                "population_period": self.population_period,
                "life_expectancy": self.life_expectancy,
                "life_expectancy_carry": self.carry or "none",
                "columns": self.published_meaning(),
                **({"footprint": True} if self.footprint else {})}


V2019 = Vintage(
    name="2019",
    label="2019 vintage: LSOA/MSOA 2011, ICB/sub-ICB/local authority 2022, IMD 2019, "
          "ONS mid-2017 population",
    files={role: role for role in (*ROLES, "rural_urban")},  # its files bear the roles' names
    boundary_code_column="lsoa11cd",
    population_column="population_mid2017",
    deprivation="IMD 2019",
    deprivation_period="IMD 2019 (most data 2015-16)",
    population_label="ONS mid-2017 small-area population estimates (SAPE20DT1)",
    population_period="mid-2017",
    life_expectancy="Local Health 2015-19, MSOA 2011 (as published)",
    lsoa_count_england=32_844,
    published=_published("2019"),
    key_meaning={"lsoa_code": "LSOA 2011 code", "msoa_code": "MSOA 2011 code",
                 "place_code": "local authority code (April 2022)",
                 "subicb_code": "sub-ICB location code (July 2022)",
                 "system_code": "ICB code (July 2022)"},
)

V2025 = Vintage(
    name="2025",
    label="2025 vintage: LSOA/MSOA 2021, ICB/sub-ICB/local authority April 2024, IoD 2025, "
          "Census 2021 usual residents as the weight",
    files={"lsoa_boundaries": "lsoa21_boundaries", "msoa_boundaries": "msoa21_boundaries",
           "lsoa_lookup": "lsoa21_lookup", "icb_lookup": "lsoa21_lookup", "imd": "imd2025",
           "imd_indicators": "imd2025_indicators", "population": "census2021_residents",
           "centroids": "lsoa21_boundaries", "life_expectancy": "life_expectancy",
           "rural_urban": "lsoa21_rural_urban", "wards": "lsoa21_wards",
           "carry_lookup": "lsoa11_lsoa21_lookup", "carry_population": "population",
           "carry_lsoa_lookup": "lsoa_lookup", "carry_centroids": "centroids",
           "gp_list_sizes": "gp_list_sizes", "epcn": "epcn"},
    boundary_code_column="lsoa21_code",
    population_column="total_residents",
    deprivation="IMD 2025",
    deprivation_period="IoD 2025 (MHCLG, 30 October 2025; most data 2022-23)",
    population_label="Census 2021 usual residents (TS021), used as the weight because IoD "
                     "2025 File 7's mid-2022 denominators are not in the data",
    population_period="Census day, 21 March 2021",
    life_expectancy="Local Health 2015-19 on 2011 MSOAs carried to 2021 areas (ONS LSOA "
                    "2011 to 2021 exact-fit lookup; see the join report)",
    lsoa_count_england=33_755,
    published=_published("2025"),
    lookup_columns={"lsoa21_code": "lsoa_code", "lsoa21_name": "lsoa_name",
                    "msoa21_code": "msoa_code", "msoa21_name": "msoa_name",
                    "ltla24_code": "place_code", "ltla24_name": "place_name",
                    "sicbl24_code": "subicb_code", "sicbl24_name": "subicb_name",
                    "sicbl24_code_nhs": "subicb_nhs_code", "icb24_code": "system_code",
                    "icb24_name": "system_name", "icb24_code_nhs": "system_nhs_code"},
    imd_columns={"IMD_score": "imd_score", "IMD_rank": "imd_rank", "IMD_decile": "imd_decile",
                 "Income_score": "income_score_rate_approx",
                 "Employment_score": "employment_score_rate_approx",
                 **{f"{src}_{kind}": f"{ours}_{kind}"
                    for src, ours in (("Income", "income"), ("Employment", "employment"),
                                      ("Education", "education"), ("Health", "health"),
                                      ("Crime", "crime"),
                                      ("Housing_and_Services", "housing_and_access"),
                                      ("Environment", "environment"))
                    for kind in ("rank", "decile")}},
    key_meaning={"lsoa_code": "LSOA 2021 code", "msoa_code": "MSOA 2021 code",
                 "place_code": "local authority code (April 2024)",
                 "subicb_code": "sub-ICB location code (April 2024)",
                 "system_code": "ICB code (April 2024)",
                 "income_score_rate_approx": "IoD 2025 income domain rate (as published)",
                 "employment_score_rate_approx": "IoD 2025 employment domain rate (as "
                                                 "published)"},
    carry="lsoa11_to_lsoa21",
    imd_summaries={"icb": "imd2025_icb_summary", "lad": "imd2025_ltla_summary"},
    wording={"IMD 2019 (most data 2015-16)": "IoD 2025 (most data 2022-23)",
             "English Indices of Deprivation 2019": "English Indices of Deprivation 2025",
             "IMD 2019": "IMD 2025", "IoD2019": "IoD 2025",
             "ONS small-area population estimates mid-2017": "Census 2021 usual residents",
             "mid-2017": "Census 2021"},
)

#: Every vintage by name; the first is the default.
VINTAGES: dict[str, Vintage] = {"2025": V2025, "2019": V2019}

#: Every published key column name of any vintage -> its neutral name. The 2019 names also
#: cover the 2025 builds made before the published names (their ``lsoa11cd`` held 2021 codes).
PUBLISHED_TO_NEUTRAL: dict[str, str] = {pub: neutral for v in VINTAGES.values()
                                        for neutral, pub in v.published.items()}


def neutral_name(column: str) -> str:
    """Return the neutral name of a published key column (any vintage); others unchanged."""
    return PUBLISHED_TO_NEUTRAL.get(column, column)


#: The vintage a build uses unless told otherwise (or the data directory declares its own).
DEFAULT_VINTAGE = "2025"

#: The file a data directory may hold to declare its vintage (the generated demo does).
DECLARATION_FILES = ("demo_manifest.json", "healthgap_vintage.json")


def get_vintage(name: str | Vintage) -> Vintage:
    """Return the vintage called ``name``; an unknown name is refused naming the known ones."""
    if isinstance(name, Vintage):
        return name
    try:
        return VINTAGES[str(name)]
    except KeyError:
        raise ParameterError(f"--vintage {name!r}: allowed {', '.join(VINTAGES)}") from None


def build_vintage(manifest: Mapping[str, Any]) -> Vintage:
    """Return the vintage a build's manifest names (2019 for builds made before vintages).

    A footprint build's (``"footprint": true``) publishes its system and place columns under
    their neutral names (`Vintage.for_footprint`).
    """
    v = manifest.get("vintage")
    name = v.get("name") if isinstance(v, dict) else v
    vintage = get_vintage(str(name) if name else "2019")
    return vintage.for_footprint() if isinstance(v, dict) and v.get("footprint") else vintage


def declared_vintage(data_dir: str | Path) -> str | None:
    """Return the vintage a data directory declares (``"vintage"`` in its JSON), if any."""
    for fname in DECLARATION_FILES:
        p = Path(data_dir) / fname
        if p.is_file():
            try:
                value = json.loads(p.read_text(encoding="utf-8")).get("vintage")
            except (ValueError, AttributeError):
                continue
            if value is not None:
                return str(value)
    return None


def resolve_vintage(name: str | None, data_dir: str | Path) -> Vintage:
    """Return the vintage asked for, else the data directory's declared one, else the default."""
    if name is not None:
        return get_vintage(name)
    return get_vintage(declared_vintage(data_dir) or DEFAULT_VINTAGE)
