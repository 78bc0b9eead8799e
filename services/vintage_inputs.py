"""Read a vintage's inputs into the frames every build uses, whatever the vintage.

`VintageInputs` is the one place that knows a vintage's files: the 2019 vintage goes through
the historical readers unchanged (its files already use the internal key names); the 2025
vintage renames its columns as `healthgap.data.vintages.V2025` declares, derives LSOA centres,
and carries 2011-geography life expectancy and outcomes with `healthgap.geo.carry`.
Every national table is read once per process (keyed by path, size and modification time).
It sits in services/ because it joins data/ readers to geo/ science (the one-way flow).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from cachetools import LRUCache, cached
from cachetools.keys import hashkey
from healthgap.data import readers
from healthgap.data.access_inputs import read_practice_list_sizes
from healthgap.data.cache import read_cached
from healthgap.data.layout import DataDir
from healthgap.data.vintages import Vintage, get_vintage
from healthgap.geo.carry import Carried, carry_to_2021
from healthgap.geo.hierarchy import Hierarchy

from healthgap.errors import CodeFormatError, InputError, MissingColumnError, preview


def _key(*parts: Any) -> tuple[Any, ...]:
    stamps = [(Path(p).stat().st_mtime_ns, Path(p).stat().st_size) for p in parts
              if isinstance(p, str | Path) and Path(p).is_file()]
    return hashkey(*map(str, parts), *stamps)


_LOCK = threading.Lock()


@cached(LRUCache(maxsize=4), key=_key, lock=_LOCK)
def read_lookup_2021(path: Path, columns: tuple[tuple[str, str], ...]
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the LSOA 2021 -> MSOA -> LAD -> sub-ICB -> ICB lookup as the two internal frames.

    Returns the LSOA->MSOA->LAD frame and the LSOA->sub-ICB->ICB frame that
    `healthgap.geo.hierarchy.Hierarchy.from_lookups` joins (internal column names).
    """
    rename = dict(columns)
    frame = readers.read_table(path, required=tuple(rename))[list(rename)].rename(columns=rename)
    readers.check_codes(frame["lsoa_code"], level="lsoa", source=str(path), column="lsoa21_code")
    for col, level in (("msoa_code", "msoa"), ("place_code", "lad"), ("subicb_code", "sicb"),
                       ("system_code", "icb")):
        bad = ~frame[col].astype(str).str.match(readers.CODE_PATTERNS[level].pattern)
        if bad.any():
            raise CodeFormatError(f"{path}: {int(bad.sum())} malformed {level.upper()} code(s) "
                                  f"in the column that becomes {col}: "
                                  f"{preview(frame.loc[bad, col].unique())}")
    frame = frame.set_index("lsoa_code")
    lsoa = frame[["lsoa_name", "msoa_code", "msoa_name", "place_code", "place_name"]]
    icb = frame[["subicb_code", "subicb_name", "subicb_nhs_code", "system_code", "system_name",
                 "system_nhs_code"]].assign(
        lookup_place_code=frame["place_code"], lookup_place_name=frame["place_name"])
    return lsoa, icb


@cached(LRUCache(maxsize=4), key=_key, lock=_LOCK)
def read_population_column(path: Path, code: str, column: str) -> pd.Series:
    """Read one population column by LSOA code, as a Series named ``population``."""
    frame = readers.read_table(path, required=(code, column))
    readers.check_codes(frame[code], level="lsoa", source=str(path), column=code)
    values = readers.to_numbers(frame[column], source=str(path), column=column,
                                codes=frame[code])
    bad = values.isna() | (values < 0)
    if bad.any():
        raise InputError(f"{path}: column {column!r} is missing, negative or not a number for "
                         f"{preview(frame.loc[bad, code])}")
    return pd.Series(values.to_numpy(), index=pd.Index(frame[code], name="lsoa_code"),
                     name="population")


@cached(LRUCache(maxsize=4), key=_key, lock=_LOCK)
def read_imd_renamed(path: Path, columns: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """Read a deprivation file whose columns the vintage renames to the internal names."""
    rename = dict(columns)
    frame = readers.read_table(path, required=("lsoa21_code", *rename))
    readers.check_codes(frame["lsoa21_code"], level="lsoa", source=str(path),
                        column="lsoa21_code")
    out = pd.DataFrame({ours: readers.to_numbers(frame[src], source=str(path), column=src,
                                                 codes=frame["lsoa21_code"]).to_numpy()
                        for src, ours in rename.items()},
                       index=pd.Index(frame["lsoa21_code"], name="lsoa_code"))
    bad = out["imd_score"].isna()
    if bad.any():
        raise InputError(f"{path}: IMD_score missing for {preview(out.index[bad])}")
    return out


@cached(LRUCache(maxsize=2), key=_key, lock=_LOCK)
def centres_2021(boundaries: Path, carry_lookup: Path, centroids11: Path) -> pd.DataFrame:
    """Return LSOA 2021 centres (``pw_x, pw_y, centroid_source``).

    The 2011 postcode-based centre where the LSOA is unchanged (U), else a point inside the 2021
    polygon (``representative_point``; not population-weighted).
    """
    gdf, _ = readers.read_boundaries(boundaries, level="lsoa")
    inner = gdf.geometry.representative_point()
    out = pd.DataFrame({"pw_x": inner.x.to_numpy(), "pw_y": inner.y.to_numpy()},
                       index=pd.Index(gdf.index, name="lsoa_code"))
    out["centroid_source"] = f"point inside the LSOA 2021 polygon ({boundaries.name})"
    look = readers.read_table(carry_lookup, required=("lsoa11_code", "lsoa21_code",
                                                      "change_code"))
    unchanged = look.loc[look["change_code"] == "U", "lsoa21_code"]
    c11 = read_cached(readers.read_centroids, centroids11).reindex(unchanged)
    c11 = c11.dropna(subset=["pw_x", "pw_y"])
    c11 = c11[c11.index.isin(out.index)]
    out.loc[c11.index, ["pw_x", "pw_y"]] = c11[["pw_x", "pw_y"]].to_numpy()
    out.loc[c11.index, "centroid_source"] = (f"postcode-weighted proxy of the unchanged 2011 "
                                             f"LSOA ({centroids11.name})")
    return out


@cached(LRUCache(maxsize=2), key=_key, lock=_LOCK)
def _carried(le: Path, lookup11: Path, carry: Path, pop11: Path, lookup21: Path,
             pop21: Path, lookup_cols: tuple[tuple[str, str], ...], pop_col: str
             ) -> tuple[Carried, pd.DataFrame]:
    life = read_cached(readers.read_life_expectancy, le)
    try:
        outcomes = read_cached(readers.read_local_health_outcomes, le)
    except MissingColumnError:
        outcomes = pd.DataFrame(index=life.index)
    values = life.drop(columns=[c for c in life.columns if c.endswith("_suppressed")
                                or c == "msoa_name"]).join(outcomes, how="left")
    values = values.astype(float)
    look = readers.read_table(carry, required=("lsoa11_code", "lsoa21_code", "change_code"))
    look = look[look["lsoa21_code"].str.startswith("E01")]
    lsoa21, _ = read_lookup_2021(lookup21, lookup_cols)
    lsoa11 = read_cached(readers.read_lsoa_lookup, lookup11)
    carried = carry_to_2021(values, lsoa11_msoa11=lsoa11["msoa_code"],
                            lookup=look, population11=read_cached(readers.read_population, pop11),
                            lsoa21_msoa21=lsoa21["msoa_code"],
                            population21=read_population_column(pop21, "lsoa21_code", pop_col))
    return carried, outcomes


@dataclass(frozen=True)
class VintageInputs:
    """A data directory read as one vintage.

    Parameters
    ----------
    data
        The data directory.
    vintage
        Its vintage.
    """

    data: DataDir
    vintage: Vintage

    def path(self, role: str) -> Path:
        """Return the file playing ``role`` in this vintage (raises naming it if missing)."""
        return self.data.path(self.vintage.files[role])

    def optional(self, role: str) -> Path | None:
        """Return the file playing ``role``, if the vintage has it and the file is there."""
        key = self.vintage.files.get(role)
        return None if key is None else self.data.optional(key)

    def require(self) -> None:
        """Raise listing every input file of this vintage that is missing."""
        self.data.require(*self.vintage.required())

    @property
    def lookup_columns(self) -> tuple[tuple[str, str], ...]:
        """The vintage's lookup renames as a hashable tuple."""
        return tuple(self.vintage.lookup_columns.items())

    def lookups(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return the LSOA->MSOA->LAD and LSOA->sub-ICB->ICB frames."""
        if not self.vintage.lookup_columns:
            return (read_cached(readers.read_lsoa_lookup, self.path("lsoa_lookup")),
                    read_cached(readers.read_icb_lookup, self.path("icb_lookup")))
        return read_lookup_2021(self.path("lsoa_lookup"), self.lookup_columns)

    def population(self) -> pd.Series:
        """LSOA population, the vintage's weight."""
        if self.vintage.carry is None:
            return read_cached(readers.read_population, self.path("population"))
        return read_population_column(self.path("population"), "lsoa21_code",
                                      self.vintage.population_column)

    def centroids(self) -> pd.DataFrame:
        """LSOA centres (``pw_x, pw_y, centroid_source``)."""
        if self.vintage.carry is None:
            return read_cached(readers.read_centroids, self.path("centroids"))
        return centres_2021(self.path("lsoa_boundaries"), self.path("carry_lookup"),
                            self.path("carry_centroids"))

    def imd(self) -> pd.DataFrame:
        """Deprivation by LSOA with the internal column names."""
        if not self.vintage.imd_columns:
            return read_cached(readers.read_imd, self.path("imd"))
        return read_imd_renamed(self.path("imd"), tuple(self.vintage.imd_columns.items()))

    def _carry(self) -> tuple[Carried, pd.DataFrame]:
        return _carried(self.path("life_expectancy"), self.path("carry_lsoa_lookup"),
                        self.path("carry_lookup"), self.path("carry_population"),
                        self.path("lsoa_lookup"), self.path("population"),
                        self.lookup_columns, self.vintage.population_column)

    def carried(self) -> Carried | None:
        """How 2011 values were carried (None for a vintage on 2011 MSOAs)."""
        return None if self.vintage.carry is None else self._carry()[0]

    def life_expectancy(self) -> pd.DataFrame:
        """MSOA life expectancy in the vintage's MSOAs (`readers.read_life_expectancy` shape)."""
        if self.vintage.carry is None:
            return read_cached(readers.read_life_expectancy, self.path("life_expectancy"))
        carried, _ = self._carry()
        cols = [c for c in carried.msoa.columns if c.startswith("le_")]
        out = carried.msoa[cols].copy()
        for sex in ("le_male", "le_female"):
            if sex in out:
                out[f"{sex}_suppressed"] = out[sex].isna()
        out.index.name = "msoa_code"
        return out

    def outcomes(self) -> pd.DataFrame:
        """MSOA Local Health outcomes in the vintage's MSOAs (raises MissingColumnError if none)."""
        if self.vintage.carry is None:
            return read_cached(readers.read_local_health_outcomes, self.path("life_expectancy"))
        carried, outcomes = self._carry()
        if not len(outcomes.columns):
            raise MissingColumnError(f"{self.path('life_expectancy')}: no Local Health outcome")
        out = carried.msoa[[c for c in outcomes.columns if c in carried.msoa.columns]].copy()
        out.index.name = "msoa_code"
        return out

    def boundaries(self, level: str, *, bbox: tuple[float, float, float, float] | None = None
                   ) -> tuple[gpd.GeoDataFrame, readers.ReadReport] | None:
        """LSOA or MSOA boundaries near ``bbox`` (None if the MSOA file is absent)."""
        p = self.optional(f"{level}_boundaries")
        if p is None:
            if level == "lsoa":
                self.path("lsoa_boundaries")
            return None
        return readers.read_boundaries(p, level=level, bbox=bbox)

    def gp_practices(self) -> Any:
        """Read active GP practices as facilities (`healthgap.geo.facilities.FacilityRead`).

        Where the vintage declares practice list sizes, a practice's supply is its registered
        list (matched on the practice code); a practice with no list size is left out and
        reported (``invalid_supply``, naming the file), never given a supply of 1. Where it
        declares ePCN, each practice's current PCN is added (``pcn_code``, ``pcn_name``).
        """
        from healthgap.data.access_inputs import read_facility_table
        from healthgap.geo.facilities import FacilityRead, read_gp_practices

        path = self.data.path("gp_practices")
        sizes_path = self.optional("gp_list_sizes")
        if sizes_path is None:
            read = read_gp_practices(path)
        else:
            frame, _ = read_facility_table(path)
            sizes = read_practice_list_sizes(sizes_path)
            frame["list_size"] = frame["org_code"].str.strip().map(sizes)
            read = read_gp_practices(frame, supply="list_size")
            rep = read.report.copy()
            missing = (rep["reason"] == "invalid_supply") & (rep["detail"] == "<missing>")
            rep.loc[missing, "detail"] = f"no list size for this practice in {sizes_path.name}"
            read = FacilityRead(facilities=read.facilities, report=rep)
        epcn = self.optional("epcn")
        if epcn is not None:
            pcn = readers.read_epcn(epcn)
            fac = read.facilities.copy()
            code = fac["code"].astype(str)
            fac["pcn_code"] = code.map(pcn["pcn_code"]).astype("string")
            fac["pcn_name"] = code.map(pcn["pcn_name"]).astype("string")
            read = FacilityRead(facilities=fac, report=read.report)
        return read

    def paths(self, *roles: str) -> dict[str, Path]:
        """Files of these roles that are present, by role."""
        out = {}
        for role in roles:
            p = self.optional(role)
            if p is not None:
                out[role] = p
        return out


@cached(LRUCache(maxsize=4), key=lambda root, v, a, b: (v, *_key(a, b)),
        lock=_LOCK)
def cached_hierarchy(root: Path, v: str, a: Path, b: Path) -> Hierarchy:
    """Return vintage ``v``'s hierarchy from ``root`` (lookups ``a``, ``b``; once per process)."""
    return Hierarchy.from_lookups(*VintageInputs(DataDir(root), get_vintage(v)).lookups())


def load_hierarchy(data: DataDir, vintage: str | Vintage = "2019",
                   footprint: Path | None = None) -> Hierarchy:
    """Read a vintage's lookups and join them (once per process).

    The library default is the 2019 vintage (the files `DataDir` names without a vintage);
    the build and the command line pass theirs (``2025`` by default). With ``footprint``, its
    systems and places replace the vintage's ICBs and local authorities.
    """
    vin = VintageInputs(data, get_vintage(vintage))
    h = cached_hierarchy(data.root, vin.vintage.name, vin.path("lsoa_lookup"),
                          vin.path("icb_lookup"))
    if footprint is not None:
        from healthgap.geo.footprint import apply_footprint

        h = apply_footprint(h, read_footprint(footprint, hierarchy=h, vintage=vin.vintage.name,
                                              data=data))
    return h


def read_footprint(path: str | Path, *, hierarchy: Hierarchy, vintage: str,
                   data: DataDir | None = None) -> Any:
    """Read and validate a footprint file (`healthgap.geo.footprint`) against a hierarchy.

    Parameters
    ----------
    path
        The CSV (``lsoa_code,system_code,system_name,place_code,place_name`` and optionally
        ``neighbourhood_code,neighbourhood_name``; other columns are ignored).
    hierarchy
        The vintage's hierarchy.
    vintage
        The vintage's name.
    data
        The data directory: its LSOA 2011 -> 2021 lookup tells a code of the other vintage
        from an unknown one.
    """
    from healthgap.geo.footprint import validate_footprint

    path = Path(path)
    raw = readers.read_footprint_file(path)
    other = pd.Index([])
    carry = data.optional("lsoa11_lsoa21_lookup") if data is not None else None
    if carry is not None:
        look = readers.read_table(carry, required=("lsoa11_code", "lsoa21_code"))
        other = pd.Index(look["lsoa11_code" if vintage != "2019" else "lsoa21_code"].unique())
    return validate_footprint(raw, hierarchy, source=str(path), vintage=vintage,
                              other_vintage=other)
