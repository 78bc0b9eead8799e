"""Any footprint: a system's LSOAs, places and neighbourhoods from a file the system brings.

ICB footprints move (1 April 2026: Frimley ICB dissolved, East Berkshire joined Thames Valley,
Farnham and Surrey Heath joined Surrey & Sussex) and systems plan mergers. A footprint file says
which of the vintage's LSOAs make each system and place::

    lsoa_code,system_code,system_name,place_code,place_name[,neighbourhood_code,neighbourhood_name]

Other columns are ignored. `validate_footprint` collects every problem and raises one
`ValidationError` naming each (unknown or duplicated LSOAs, LSOA codes of the other vintage,
empty or malformed codes and names); `Footprint.notes` reports what is allowed but worth
knowing (LSOAs of a local authority or ICB that the file splits, places in several pieces).
`apply_footprint` returns the vintage's hierarchy with the file's systems and places in place of
the ICBs and local authorities of its LSOAs (other LSOAs keep theirs: they are the ring).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pandas as pd
from healthgap.geo.hierarchy import AreaRef, Hierarchy

from healthgap.errors import ValidationError, preview

#: Columns every footprint file has.
REQUIRED = ("lsoa_code", "system_code", "system_name", "place_code", "place_name")

#: Optional neighbourhood columns.
NEIGHBOURHOOD = ("neighbourhood_code", "neighbourhood_name")

#: What a system and a place code must look like (an ICB code; a local authority code: a
#: proposed system may use an unused E54 code, e.g. E54999001, and says so in its name).
SYSTEM_CODE = re.compile(r"^E54\d{6}$")
PLACE_CODE = re.compile(r"^E0[6-9]\d{6}$")


@dataclass(frozen=True)
class Footprint:
    """A validated footprint.

    Attributes
    ----------
    frame
        Indexed by LSOA code: ``system_code, system_name, place_code, place_name`` and the
        neighbourhood columns when given.
    source
        The file it came from.
    notes
        What the user should know (LSOAs left out of split areas), one sentence each.
    """

    frame: pd.DataFrame
    source: str
    notes: tuple[str, ...] = ()

    @property
    def systems(self) -> pd.DataFrame:
        """One row per system: name and LSOA count."""
        return (self.frame.groupby("system_code")
                .agg(system_name=("system_name", "first"), n_lsoa=("system_name", "size"))
                .sort_index())

    def neighbourhood_lookup(self) -> pd.DataFrame | None:
        """Return the neighbourhood columns as a lookup (``lsoa_code,nbhd_cd,nbhd_nm``)."""
        if "neighbourhood_code" not in self.frame:
            return None
        out = pd.DataFrame({"lsoa_code": self.frame.index,
                            "nbhd_cd": self.frame["neighbourhood_code"].to_numpy(),
                            "nbhd_nm": self.frame.get("neighbourhood_name",
                                                      self.frame["neighbourhood_code"])
                            .to_numpy()})
        out.attrs["source"] = self.source
        return out


def _blank(s: pd.Series) -> pd.Series:
    return s.isna() | (s.astype("string").str.strip() == "")


def _problems(raw: pd.DataFrame, hierarchy: Hierarchy, *, other_vintage: pd.Index,
              vintage: str) -> list[str]:
    out = []
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        return [f"missing column(s) {', '.join(missing)}; found {', '.join(raw.columns)} "
                f"(a footprint needs {','.join(REQUIRED)})"]
    for col in (*REQUIRED, *(c for c in NEIGHBOURHOOD if c in raw.columns)):
        rows = (raw.index[_blank(raw[col])] + 2).tolist()
        if rows:
            out.append(f"column {col!r} is empty at row(s) {preview(rows)}")
    codes = raw["lsoa_code"].astype("string").str.strip()
    dup = codes[codes.duplicated() & codes.notna()].unique()
    if len(dup):
        out.append(f"{len(dup)} LSOA code(s) given more than once: {preview(dup)}")
    unknown = pd.Index(codes.dropna().unique()).difference(hierarchy.frame.index)
    wrong = unknown.intersection(other_vintage)
    if len(wrong):
        out.append(f"{len(wrong)} LSOA code(s) of another vintage (not LSOAs of the {vintage} "
                   f"vintage): {preview(wrong)}; use codes of the vintage built (--vintage)")
    unknown = unknown.difference(wrong)
    if len(unknown):
        out.append(f"{len(unknown)} unknown LSOA code(s) (not English LSOAs of the {vintage} "
                   f"vintage): {preview(unknown)}")
    for col, pattern, what in (("system_code", SYSTEM_CODE, "an ICB code E54 + 6 digits"),
                               ("place_code", PLACE_CODE,
                                "a local authority code E06-E09 + 6 digits")):
        v = raw[col].astype("string").str.strip()
        bad = v[v.notna() & (v != "") & ~v.str.match(pattern.pattern).fillna(False)].unique()
        if len(bad):
            out.append(f"column {col!r}: {preview(bad)} not {what}")
    for code, name in (("system_code", "system_name"), ("place_code", "place_name")):
        names = raw.groupby(code)[name].nunique()
        if (names > 1).any():
            out.append(f"{code} with more than one {name}: {preview(names.index[names > 1])}")
    return out


def validate_footprint(raw: pd.DataFrame, hierarchy: Hierarchy, *, source: str,
                       vintage: str, other_vintage: pd.Index | None = None) -> Footprint:
    """Check a footprint table against the vintage's hierarchy.

    Parameters
    ----------
    raw
        The file as read (one row per LSOA).
    hierarchy
        The vintage's hierarchy (its LSOAs are the known codes).
    source
        The file, named in every message.
    vintage
        The vintage's name, named in the messages.
    other_vintage
        LSOA codes of the other vintage (a code found only there is refused as of the wrong
        vintage rather than as unknown).

    Raises
    ------
    ValidationError
        Every problem at once.
    """
    problems = _problems(raw, hierarchy, other_vintage=other_vintage
                         if other_vintage is not None else pd.Index([]), vintage=vintage)
    if problems:
        raise ValidationError(source, problems)
    cols = [c for c in (*REQUIRED, *NEIGHBOURHOOD) if c in raw.columns]
    frame = raw[cols].astype(str).apply(lambda s: s.str.strip()).set_index("lsoa_code")
    frame.index.name = "lsoa_code"
    return Footprint(frame=frame, source=source, notes=tuple(_left_out(frame, hierarchy)))


def _left_out(frame: pd.DataFrame, hierarchy: Hierarchy) -> list[str]:
    """Sentences on local authorities and ICBs that the footprint takes only part of."""
    h = hierarchy.frame
    notes = []
    for col, what in (("place_code", "local authority"), ("system_code", "ICB")):
        touched = h.loc[frame.index, col].unique()
        for code in sorted(touched):
            all_lsoa = h.index[h[col] == code]
            out = all_lsoa.difference(frame.index)
            if len(out):
                notes.append(f"footprint takes {len(all_lsoa) - len(out)} of the "
                             f"{len(all_lsoa)} LSOAs of {what} {code} "
                             f"{h.loc[all_lsoa[0], col.replace('cd', 'nm')]}; "
                             f"{len(out)} left out: {preview(out, most=5)}")
    return notes


@dataclass
class FootprintHierarchy(Hierarchy):
    """A hierarchy whose systems and places come from a footprint file."""

    footprint: Footprint | None = None

    def resolve(self, query: str) -> AreaRef:
        """Resolve a footprint system or place code first, then as `Hierarchy.resolve`."""
        if self.footprint is not None:
            q = query.strip().upper()
            fp = self.footprint.frame
            for code, name, level in (("system_code", "system_name", "icb"),
                                      ("place_code", "place_name", "lad")):
                hit = fp.loc[fp[code].str.upper() == q, name]
                if len(hit):
                    return AreaRef(level, q, str(hit.iloc[0]))
        return super().resolve(query)


def apply_footprint(hierarchy: Hierarchy, footprint: Footprint) -> FootprintHierarchy:
    """Return the hierarchy with the footprint's systems and places for its LSOAs.

    The footprint's LSOAs take its system (as the ICB level) and place (as the local authority
    level); every other LSOA keeps the vintage's. Sub-ICB locations and MSOAs are unchanged.
    """
    frame = hierarchy.frame.copy()
    fp = footprint.frame
    for col in ("system_code", "system_name", "place_code", "place_name"):  # same names
        frame.loc[fp.index, col] = fp[col].to_numpy()
    frame.loc[fp.index, "system_nhs_code"] = fp["system_code"].to_numpy()
    out = FootprintHierarchy(frame=frame, report=hierarchy.report, footprint=footprint)
    return replace(out)


def contiguity_notes(lsoa: pd.DataFrame, *, place_column: str = "place_code") -> list[str]:
    """Sentences naming the places whose LSOAs form more than one piece (queen contiguity).

    Parameters
    ----------
    lsoa
        The area's LSOAs (a GeoDataFrame in EPSG:27700) with the place column.
    place_column
        The place code column.
    """
    from libpysal.graph import Graph

    notes = []
    for code, part in lsoa.groupby(place_column):
        if len(part) < 2:
            continue
        g = Graph.build_contiguity(part, rook=False)
        if g.n_components > 1:
            notes.append(f"place {code} is in {g.n_components} pieces that share no boundary "
                         "(allowed; its maps and neighbour statistics treat the pieces apart)")
    return notes


def footprint_notes(footprint: Footprint, inside: pd.DataFrame) -> list[str]:
    """Sentences for a build on a footprint: its size, split areas, places in pieces."""
    return [f"footprint {footprint.source}: {len(footprint.frame)} LSOAs in "
            f"{footprint.frame['system_code'].nunique()} system(s)", *footprint.notes,
            *contiguity_notes(inside)]
