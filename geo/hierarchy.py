"""The ICS hierarchy: LSOA → MSOA → place (local authority) → sub-ICB → system (ICB).

Built from the ONS lookups; area selection by code, NHS short code or name.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import pandas as pd

from healthgap.errors import JoinError, ParameterError, UnknownAreaError, preview

#: Hierarchy levels, finest first, with the columns that hold their code and name.
LEVELS: dict[str, tuple[str, str]] = {
    "lsoa": ("lsoa_code", "lsoa_name"),
    "msoa": ("msoa_code", "msoa_name"),
    "lad": ("place_code", "place_name"),
    "sicb": ("subicb_code", "subicb_name"),
    "icb": ("system_code", "system_name"),
}

#: What each level is called in ICS planning.
LEVEL_ROLES = {"lsoa": "neighbourhood (LSOA)", "msoa": "neighbourhood (MSOA)",
               "lad": "place", "sicb": "sub-ICB", "icb": "system"}

_CODE_LEVEL = [(re.compile(r"^E54\d{6}$"), "icb"), (re.compile(r"^E38\d{6}$"), "sicb"),
               (re.compile(r"^(E06|E07|E08|E09)\d{6}$"), "lad"),
               (re.compile(r"^E02\d{6}$"), "msoa"), (re.compile(r"^E01\d{6}$"), "lsoa")]


@dataclass(frozen=True)
class AreaRef:
    """A resolved study area.

    Attributes
    ----------
    level
        ``england``, ``icb``, ``sicb``, ``lad`` or ``msoa``.
    code
        Its ONS code (``E92000001`` for England).
    name
        Its official name.
    """

    level: str
    code: str
    name: str

    @property
    def slug(self) -> str:
        """A file-system-safe identifier (the code, lower case)."""
        return self.code.lower()


ENGLAND = AreaRef("england", "E92000001", "England")


@dataclass
class Hierarchy:
    """Every English LSOA with its MSOA, place, sub-ICB and system.

    Attributes
    ----------
    frame
        Indexed by ``lsoa_code`` with code and name columns of every level (see `LEVELS`) and
        the NHS short codes ``subicb_nhs_code``, ``system_nhs_code``.
    report
        Codes that did not match between the two lookups (``side``, ``code``, ``reason``).
    """

    frame: pd.DataFrame
    report: pd.DataFrame

    @classmethod
    def from_lookups(cls, lsoa_lookup: pd.DataFrame, icb_lookup: pd.DataFrame, *,
                     max_loss: float = 0.001) -> Hierarchy:
        """Join the LSOA→MSOA→LAD and LSOA→sub-ICB→ICB lookups on the LSOA code.

        Parameters
        ----------
        lsoa_lookup
            From `data.readers.read_lsoa_lookup` (England and Wales).
        icb_lookup
            From `data.readers.read_icb_lookup` (England).
        max_loss
            Largest share of English LSOAs allowed to lack a sub-ICB/ICB before this raises.
        """
        english = lsoa_lookup[lsoa_lookup.index.str.startswith("E01")]
        joined = english.join(icb_lookup, how="inner")
        rows = []
        for code in english.index.difference(icb_lookup.index):
            rows.append(("lsoa_lookup_only", code, "no sub-ICB/ICB in the ICB lookup"))
        for code in icb_lookup.index.difference(english.index):
            rows.append(("icb_lookup_only", code, "no MSOA/LAD in the LSOA lookup"))
        report = pd.DataFrame(rows, columns=["side", "code", "reason"])
        lost = len(english) - len(joined)
        if len(english) and lost / len(english) > max_loss:
            raise JoinError(f"hierarchy: {lost} English LSOA(s) have no sub-ICB/ICB: "
                            f"{preview(report['code'])}")
        mismatch = joined["place_code"] != joined["lookup_place_code"]
        if mismatch.any():
            for code in joined.index[mismatch]:
                rows.append(("both", code, "local authority differs between the lookups"))
            report = pd.DataFrame(rows, columns=["side", "code", "reason"])
        joined = joined.drop(columns=["lookup_place_code", "lookup_place_name"])
        return cls(frame=joined, report=report)

    def areas(self, level: str) -> pd.DataFrame:
        """Return one row per area of ``level`` with its name, parents and LSOA count."""
        code, name = _level_columns(level)
        parents = [c for lv, (c, n) in LEVELS.items()
                   if list(LEVELS).index(lv) > list(LEVELS).index(level) for c in (c, n)]
        agg = self.frame.groupby(code).agg(
            **{name: (name, "first")}, **{p: (p, "first") for p in parents},
            n_lsoa=(name, "size"))
        return agg.sort_index()

    def resolve(self, query: str) -> AreaRef:
        """Resolve a code, NHS short code or name to one area.

        ``"england"`` gives all of England. Codes are matched exactly (``E54000034``,
        ``E38…``, ``E06…``–``E09…``); NHS short codes (``QNQ``, ``D4U1Y``) too. Names match
        case-insensitively: an exact name at any level beats a part of a name at every level
        (``Rutland`` is the local authority, not the ICB whose name contains it); parts of
        names are looked for in ICBs, then sub-ICBs, then local authorities. An LSOA or MSOA
        code is refused with the areas that contain it; a name that matches nothing gets the
        closest names as suggestions.

        Raises
        ------
        UnknownAreaError
            No area matches, or a name matches several (the candidates are listed).
        """
        q = query.strip()
        if not q:
            raise UnknownAreaError("area: empty; give an ICB, sub-ICB or local authority code "
                                   "or name, or 'england'")
        if q.lower() == "england":
            return ENGLAND
        for pattern, level in _CODE_LEVEL:
            if pattern.match(q.upper()):
                return self._resolve_code(q.upper(), level)
        for col, level in (("system_nhs_code", "icb"), ("subicb_nhs_code", "sicb")):
            hit = self.frame.loc[self.frame[col].str.upper() == q.upper()]
            if not hit.empty:
                code_col, name_col = _level_columns(level)
                return AreaRef(level, str(hit[code_col].iloc[0]), str(hit[name_col].iloc[0]))
        return self._resolve_name(q)

    def _resolve_code(self, code: str, level: str) -> AreaRef:
        if level in ("lsoa", "msoa"):
            rows = (self.frame.loc[[code]] if level == "lsoa" and code in self.frame.index
                    else self.frame.loc[self.frame["msoa_code"] == code])
            role = LEVEL_ROLES[level]
            if rows.empty:
                raise UnknownAreaError(f"area {code!r}: no {role} with that code in the "
                                       "lookups; a build covers an ICB, sub-ICB or local "
                                       "authority")
            r = rows.iloc[0]
            raise UnknownAreaError(
                f"area {code!r} is a {role}; a build covers an ICB, sub-ICB or local "
                f"authority (or england). It lies in local authority {r['place_code']} "
                f"{r['place_name']}, sub-ICB {r['subicb_code']} and ICB {r['system_code']} "
                f"{r['system_name']}: for example --area {r['place_code']}")
        code_col, name_col = _level_columns(level)
        hit = self.frame.loc[self.frame[code_col] == code, name_col]
        if hit.empty:
            raise UnknownAreaError(f"area {code!r}: no {LEVEL_ROLES[level]} with that "
                                   "code in the lookups; try `healthgap areas` to list them")
        return AreaRef(level, code, str(hit.iloc[0]))

    def _names(self) -> list[tuple[str, pd.DataFrame]]:
        out = []
        for level in ("icb", "sicb", "lad"):
            code_col, name_col = _level_columns(level)
            out.append((level, self.frame[[code_col, name_col]].drop_duplicates()))
        return out

    def _resolve_name(self, q: str) -> AreaRef:
        needle = q.lower()
        names = self._names()
        for match in ("exact", "part"):
            for level, frame in names:
                col = frame.iloc[:, 1].str.lower()
                cand = frame[col == needle if match == "exact"
                             else col.str.contains(needle, regex=False)]
                if len(cand) == 1:
                    return AreaRef(level, str(cand.iloc[0, 0]), str(cand.iloc[0, 1]))
                if len(cand) > 1:
                    listed = preview([f"{c} {n}" for c, n in cand.itertuples(index=False)],
                                     most=8)
                    raise UnknownAreaError(f"area {q!r} matches {len(cand)} "
                                           f"{LEVEL_ROLES[level]} names: {listed}. Give a "
                                           "code or a longer name")
        everything = {str(n): str(c) for _, f in names for c, n in f.itertuples(index=False)}
        close = _close_names(needle, everything)
        hint = (f"; did you mean {' or '.join(f'{n} ({everything[n]})' for n in close)}?"
                if close else "; try `healthgap areas` to list them")
        raise UnknownAreaError(f"area {q!r}: no ICB, sub-ICB or local authority has that "
                               f"code or name{hint}")

    def lsoas_in(self, area: AreaRef) -> pd.Index:
        """Return the LSOA codes inside ``area``."""
        if area.level == "england":
            return self.frame.index
        code_col, _ = _level_columns(area.level)
        return self.frame.index[self.frame[code_col] == area.code]

    def parents(self, area: AreaRef) -> dict[str, AreaRef]:
        """Return the areas that contain ``area``, by level (empty for England)."""
        if area.level == "england":
            return {}
        rows = self.frame.loc[self.lsoas_in(area)]
        order = list(LEVELS)
        out: dict[str, AreaRef] = {}
        for level in order[order.index(area.level) + 1:]:
            code_col, name_col = _level_columns(level)
            codes = rows[code_col].unique()
            if len(codes) == 1:
                out[level] = AreaRef(level, str(codes[0]), str(rows[name_col].iloc[0]))
        return out


def _close_names(needle: str, names: dict[str, str], n: int = 3) -> list[str]:
    """Return up to ``n`` names closest to ``needle`` (whole names, or their words)."""
    lower = {name.lower(): name for name in names}
    hits = difflib.get_close_matches(needle, list(lower), n=n, cutoff=0.75)
    if len(hits) < n:
        words: dict[str, str] = {}
        for low in lower:
            for w in re.findall(r"[a-z][a-z'-]+", low):
                words.setdefault(w, low)
        for w in difflib.get_close_matches(needle, list(words), n=n, cutoff=0.75):
            if words[w] not in hits:
                hits.append(words[w])
    return [lower[h] for h in hits[:n]]


def _level_columns(level: str) -> tuple[str, str]:
    if level not in LEVELS:
        raise ParameterError(f"level {level!r}: allowed {', '.join(LEVELS)}")
    return LEVELS[level]
