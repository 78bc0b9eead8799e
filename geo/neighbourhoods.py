"""Neighbourhoods of 30-50k people: the level between MSOA and place that an ICS plans at.

Three sources, best first:

``supplied``
    A lookup of LSOA code to neighbourhood code and name given by the team (a PCN footprint,
    an integrated neighbourhood team, a ward cluster), checked by `validate_lookup`.
``pcn``
    Primary care network catchments from NHS England's registered patients by practice and
    LSOA with the ePCN practice-to-PCN mapping (`pcn_lookup`): each LSOA goes to the PCN that
    holds most of its registered patients, and the shares are kept.
``generated``
    Contiguous groups of whole MSOAs nested in places, of 30,000-50,000 residents where the
    place allows, homogeneous in deprivation, from PySAL's max-p regionalisation
    (`generate_neighbourhoods`). Building from MSOAs keeps published MSOA life expectancy whole
    inside one neighbourhood; islands, small places and unavoidable exceptions are listed with
    their reason.

`with_neighbourhoods` then gives every LSOA its ``nbhd_cd`` and builds the
``StudyArea.neighbourhood`` frame with the usual population-weighted roll-ups.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo import BNG
from healthgap.geo.areas import StudyArea
from healthgap.geo.columns import COLUMNS
from healthgap.geo.joins import REPORT_COLUMNS
from healthgap.geo.rollup import dissolved, weighted_centre, weighted_rollup
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from healthgap.errors import MissingColumnError, ParameterError, ValidationError, preview

log = logging.getLogger(__name__)

#: Where a study area's neighbourhoods came from.
SOURCES = ("supplied", "pcn", "generated")

#: The planning size of a neighbourhood (NHS England: PCNs and neighbourhood teams).
NBHD_MIN = 30_000
NBHD_MAX = 50_000

#: Columns of a neighbourhood lookup file (the ``--neighbourhoods`` format).
LOOKUP_COLUMNS = ("lsoa_code", "nbhd_cd", "nbhd_nm")

#: Columns of the exceptions table.
EXCEPTION_COLUMNS = ["nbhd_cd", "nbhd_nm", "place_code", "population", "reason"]

#: LSOA indicators rolled up to neighbourhoods (as to the other levels).
NBHD_ROLLUP = ("imd_score", "income_score_rate_approx", "employment_score_rate_approx")

_LSOA = r"^E01\d{6}$"


@dataclass(frozen=True, eq=False)
class Neighbourhoods:
    """Neighbourhoods of one study area (immutable: `with_notes` returns a new one).

    Attributes
    ----------
    source
        ``supplied``, ``pcn`` or ``generated``.
    lookup
        One row per in-area LSOA assigned, indexed by ``lsoa_code``: ``nbhd_cd``, ``nbhd_nm``.
    exceptions
        Neighbourhoods outside 30-50k residents, straddling places or not contiguous, with why
        (`EXCEPTION_COLUMNS`).
    report
        Codes left out or not assigned, as join-report rows (`geo.joins.REPORT_COLUMNS`).
    notes
        Things the user should know, one sentence each.
    shares
        For ``pcn``: registered patients per (LSOA, PCN) with the PCN's share of the LSOA.
    parameters
        How they were made (seed, sizes, iterations; file for supplied).
    """

    source: str
    lookup: pd.DataFrame
    exceptions: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=EXCEPTION_COLUMNS))
    report: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REPORT_COLUMNS))
    notes: tuple[str, ...] = ()
    shares: pd.DataFrame | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def with_notes(self, *notes: str) -> Neighbourhoods:
        """Return a copy with ``notes`` added after the existing ones."""
        return replace(self, notes=(*self.notes, *notes))

    def to_csv_frame(self) -> pd.DataFrame:
        """Return the lookup in the ``--neighbourhoods`` file format."""
        return self.lookup.reset_index()[list(LOOKUP_COLUMNS)]


# --------------------------------------------------------------------------- adjacency


def lsoa_adjacency(lsoa: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Queen adjacency of LSOA polygons as two arrays of positional pairs (i < j).

    Two LSOAs are adjacent when their polygons share a point (boundaries touch or overlap).
    """
    geoms = lsoa.geometry.values
    left, right = lsoa.sindex.query(geoms, predicate="intersects")
    keep = left < right
    return left[keep], right[keep]


def _components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def parts(codes: pd.Index, pairs: tuple[np.ndarray, np.ndarray],
          index: pd.Index) -> list[list[str]]:
    """Split ``codes`` into contiguous parts, largest first (``pairs`` index ``index``)."""
    pos = index.get_indexer(codes)
    local = -np.ones(len(index), dtype=int)
    local[pos] = np.arange(len(pos))
    i, j = local[pairs[0]], local[pairs[1]]
    ok = (i >= 0) & (j >= 0)
    labels = _components(len(pos), i[ok], j[ok])
    groups = [sorted(codes[labels == k]) for k in np.unique(labels)]
    return sorted(groups, key=lambda g: (-len(g), g[0]))


# --------------------------------------------------------------------------- supplied


def validate_lookup(lookup: pd.DataFrame, area: StudyArea, *, source: str = "supplied",
                    name: str = "neighbourhood lookup",
                    allow_noncontiguous: bool = False) -> Neighbourhoods:
    """Check a lookup of LSOA to neighbourhood against a study area.

    Every problem is collected and raised together (`ValidationError`): empty codes or names,
    codes that are not LSOA codes, LSOAs listed twice, a code with two names, a neighbourhood
    with no residents, and (unless ``allow_noncontiguous``) a neighbourhood in several pieces.
    LSOAs outside the area, LSOAs the lookups do not know and in-area LSOAs left unassigned are
    reported (join report and notes), never dropped silently. A neighbourhood that straddles
    places is allowed and listed; it belongs to the place with most of its residents.

    Parameters
    ----------
    lookup
        Columns ``lsoa_code``, ``nbhd_cd`` and optionally ``nbhd_nm`` (the code is used as the
        name where it is missing).
    area
        The study area (its in-area LSOAs with population and geometry).
    source
        ``supplied`` or ``pcn`` (recorded with the result).
    name
        The file or frame named in messages.
    allow_noncontiguous
        List neighbourhoods in several pieces as exceptions instead of refusing them.
    """
    if source not in SOURCES:
        raise ParameterError(f"source={source!r}: allowed {', '.join(SOURCES)}")
    missing = [c for c in LOOKUP_COLUMNS[:2] if c not in lookup.columns]
    if missing:
        raise MissingColumnError(f"{name}: missing column(s) {', '.join(missing)}; found: "
                                 f"{', '.join(map(str, lookup.columns))}")
    frame = pd.DataFrame({"lsoa_code": lookup["lsoa_code"].astype("string").str.strip(),
                          "nbhd_cd": lookup["nbhd_cd"].astype("string").str.strip()})
    names = (lookup["nbhd_nm"].astype("string").str.strip() if "nbhd_nm" in lookup.columns
             else pd.Series(pd.NA, index=lookup.index, dtype="string"))
    frame["nbhd_nm"] = names.where(names.notna() & (names != ""), frame["nbhd_cd"])
    problems = _format_problems(frame)
    if problems:
        raise ValidationError(name, problems)

    inside = area.inside
    known = area.lsoa.index
    report: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    out_mask = ~frame["lsoa_code"].isin(inside.index)
    outside = frame.loc[out_mask, "lsoa_code"]
    for code in outside:
        why = ("LSOA outside the study area" if code in known
               else "LSOA outside the study area (not among the area's LSOAs or its ring)")
        report.append((name, "lookup_only", str(code), why))
    if len(outside):
        notes.append(f"{name}: {len(outside)} LSOA(s) outside the area left out: "
                     f"{preview(outside)}")
    frame = frame[~out_mask]
    empty = sorted(set(lookup["nbhd_cd"].astype(str).str.strip()) - set(frame["nbhd_cd"]))
    if empty:
        notes.append(f"{name}: {len(empty)} neighbourhood(s) have no LSOA inside the area: "
                     f"{preview(empty)}")
    unassigned = inside.index.difference(pd.Index(frame["lsoa_code"]))
    for code in unassigned:
        report.append((name, "area_only", str(code), "in-area LSOA not assigned to a "
                                                      "neighbourhood"))
    if len(unassigned):
        notes.append(f"{name}: {len(unassigned)} in-area LSOA(s) not assigned to any "
                     f"neighbourhood: {preview(unassigned)}")
    table = frame.set_index("lsoa_code")
    pop = inside["population"].reindex(table.index)
    zero = pop.groupby(table["nbhd_cd"]).sum()
    zero = zero[zero <= 0]
    if len(zero):
        raise ValidationError(name, [f"neighbourhood {c} has no residents (population 0 in "
                                     f"the build's population)" for c in zero.index])
    exceptions, contiguity = _check_shapes(table, inside, allow_noncontiguous)
    if contiguity:
        raise ValidationError(name, contiguity)
    if len(exceptions):
        notes = [*notes, f"{len(exceptions)} neighbourhood exception(s) listed in "
                         "neighbourhood_exceptions"]
    return Neighbourhoods(source=source, lookup=table[["nbhd_cd", "nbhd_nm"]],
                          exceptions=exceptions,
                          report=pd.DataFrame(report, columns=REPORT_COLUMNS), notes=tuple(notes),
                          parameters={"file": name})


def _format_problems(frame: pd.DataFrame) -> list[str]:
    problems: list[str] = []
    for col in ("lsoa_code", "nbhd_cd"):
        blank = frame[col].isna() | (frame[col] == "")
        if blank.any():
            rows = (np.flatnonzero(blank.to_numpy()) + 2).tolist()
            problems.append(f"column {col!r} is empty on line(s) {preview(rows)}")
    codes = frame["lsoa_code"].dropna()
    bad = codes[~codes.str.match(_LSOA) & (codes != "")]
    if len(bad):
        problems.append(f"{len(bad)} code(s) in 'lsoa_code' are not English LSOA codes "
                        f"(E01 and 6 digits): {preview(bad.unique())}")
    dup = codes[codes.duplicated() & (codes != "")].unique()
    if len(dup):
        problems.append(f"{len(dup)} LSOA(s) listed more than once: {preview(dup)}")
    per = frame.dropna(subset=["nbhd_cd"]).groupby("nbhd_cd")["nbhd_nm"].nunique()
    for code in per.index[per > 1]:
        problems.append(f"neighbourhood {code} has {int(per[code])} different names")
    return problems


def _check_shapes(table: pd.DataFrame, inside: gpd.GeoDataFrame,
                  allow_noncontiguous: bool) -> tuple[pd.DataFrame, list[str]]:
    """Size, place and contiguity exceptions of assigned neighbourhoods."""
    lsoa = inside.loc[table.index]
    pairs = lsoa_adjacency(lsoa)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for code, grp in table.groupby("nbhd_cd", sort=True):
        members = lsoa.loc[grp.index]
        pop = float(members["population"].sum())
        by_place = members.groupby("place_code")["population"].sum().sort_values(ascending=False)
        base = {"nbhd_cd": code, "nbhd_nm": str(grp["nbhd_nm"].iloc[0]),
                "place_code": str(by_place.index[0]), "population": pop}
        if len(by_place) > 1:
            rows.append({**base, "reason": f"straddles {len(by_place)} places "
                                           f"({', '.join(by_place.index)}); counted with "
                                           f"{by_place.index[0]} (most residents)"})
        if not NBHD_MIN <= pop <= NBHD_MAX:
            rows.append({**base, "reason": f"{pop:,.0f} residents, outside "
                                           f"{NBHD_MIN:,}-{NBHD_MAX:,} (as supplied)"})
        pieces = parts(pd.Index(grp.index), pairs, lsoa.index)
        if len(pieces) > 1:
            detached = [c for piece in pieces[1:] for c in piece]
            msg = (f"neighbourhood {code} is in {len(pieces)} separate pieces; LSOAs apart from "
                   f"its largest piece: {preview(detached)}")
            if allow_noncontiguous:
                rows.append({**base, "reason": f"not contiguous: {len(pieces)} pieces "
                                               f"(detached LSOAs {preview(detached, 5)})"})
            else:
                problems.append(msg)
    return pd.DataFrame(rows, columns=EXCEPTION_COLUMNS), problems


# --------------------------------------------------------------------------- PCN


def pcn_lookup(registrations: pd.DataFrame, practice_pcn: pd.DataFrame, area: StudyArea, *,
               name: str = "GP registrations by LSOA") -> Neighbourhoods:
    """PCN catchments: each in-area LSOA goes to the PCN holding most of its patients.

    Parameters
    ----------
    registrations
        Registered patients, one row per (practice, LSOA): ``practice_code``, ``lsoa_code``,
        ``patients`` (from `data.readers.read_gp_registrations`).
    practice_pcn
        Current practice-to-PCN membership indexed by ``practice_code`` with ``pcn_code`` and
        ``pcn_name`` (from `data.readers.read_epcn`).
    area
        The study area.
    name
        Named in the report.

    Returns
    -------
    Neighbourhoods
        ``source == "pcn"``; ``shares`` holds the patients of every (LSOA, PCN) pair with the
        PCN's share of the LSOA's registered patients. Ties go to the PCN code first in order.
        Patients of practices without a current PCN are reported and counted in no PCN.
    """
    for frame, cols, what in ((registrations, ("practice_code", "lsoa_code", "patients"), name),
                              (practice_pcn, ("pcn_code", "pcn_name"), "practice to PCN")):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise MissingColumnError(f"{what}: missing column(s) {', '.join(missing)}")
    inside = area.inside
    reg = registrations[registrations["lsoa_code"].isin(inside.index)]
    reg = reg.join(practice_pcn[["pcn_code", "pcn_name"]], on="practice_code")
    no_pcn = reg[reg["pcn_code"].isna()]
    report = [("epcn", "registrations_only", str(p),
               f"practice has no current PCN in ePCN; {int(n)} in-area patient(s) not "
               "attributed") for p, n in no_pcn.groupby("practice_code")["patients"].sum().items()]
    reg = reg.dropna(subset=["pcn_code"])
    shares = (reg.groupby(["lsoa_code", "pcn_code"], sort=True)
              .agg(pcn_name=("pcn_name", "first"), patients=("patients", "sum")).reset_index())
    total = shares.groupby("lsoa_code")["patients"].transform("sum")
    shares["share"] = shares["patients"] / total.where(total > 0)
    best = (shares.sort_values(["lsoa_code", "patients", "pcn_code"],
                               ascending=[True, False, True])
            .drop_duplicates("lsoa_code"))
    lookup = best.rename(columns={"pcn_code": "nbhd_cd", "pcn_name": "nbhd_nm"})
    nb = validate_lookup(lookup[["lsoa_code", "nbhd_cd", "nbhd_nm"]], area, source="pcn",
                         name=name, allow_noncontiguous=True)
    said = ((f"{len(report)} practice(s) with in-area patients have no current PCN in ePCN; "
             "their patients are not attributed",) if report else ())
    return replace(nb, report=pd.concat([nb.report, pd.DataFrame(report, columns=REPORT_COLUMNS)],
                                        ignore_index=True),
                   notes=(*nb.notes, *said), shares=shares,
                   parameters={"registrations": name, "rule": "PCN with most registered patients"})


# --------------------------------------------------------------------------- generated


def generate_neighbourhoods(area: StudyArea, *, seed: int = 2019, min_pop: int = NBHD_MIN,
                            max_pop: int = NBHD_MAX,
                            iterations: int = 20) -> Neighbourhoods:
    """Contiguous neighbourhoods of whole MSOAs, nested in places, by max-p regionalisation.

    Each place (the area's part of a local authority) is split into the most contiguous groups
    of MSOAs that each hold at least ``min_pop`` residents, as homogeneous in IMD score as
    max-p's construction phase finds (spopt, see `_maxp`). A group above ``max_pop`` that can hold
    two of ``min_pop`` is split again the same way. What cannot meet 30-50k is listed in
    ``exceptions`` with the reason: a place (or a detached part of one, such as an island)
    below ``min_pop``, or a group that no contiguous split can bring under ``max_pop``.

    Parameters
    ----------
    area
        The study area, with IMD joined to its LSOAs (``imd_score``).
    seed
        spopt draws from NumPy's global generator; it is seeded with this value before each
        place (and the previous global state restored afterwards), so the same inputs and seed
        give the same neighbourhoods.
    min_pop, max_pop
        The planning size of a neighbourhood.
    iterations
        max-p construction iterations (spopt's default is 99; 20 keeps Greater Manchester
        well under a minute). spopt's simulated annealing is
        not run (see `_maxp`); benchmarks/bench_neighbourhoods.py times spopt's defaults.
    """
    if not 0 < min_pop <= max_pop:
        raise ParameterError(f"min_pop={min_pop}, max_pop={max_pop}: need 0 < min_pop <= "
                             "max_pop")
    if iterations < 1:
        raise ParameterError(f"iterations={iterations}: need at least 1")
    units = _msoa_units(area)
    pairs = _unit_adjacency(area, units.index)
    labels: dict[str, str] = {}
    exceptions: list[dict[str, Any]] = []
    # a region is coded <place code>-N<k>, k counting the place's regions in the order found
    state = np.random.get_state()
    try:
        for lad, grp in units.groupby("place_code", sort=True):
            found = 0  # the place's regions so far, in the order found
            for piece in parts(pd.Index(grp.index), pairs, units.index):
                regions = _regionalise(units.loc[piece], pairs, units.index, seed=seed,
                                       min_pop=min_pop, max_pop=max_pop,
                                       iterations=iterations)
                for members in regions:
                    found += 1
                    labels.update(dict.fromkeys(members, f"{lad}-N{found:02d}"))
            exceptions.extend(_size_exceptions(units, labels, str(lad), grp, min_pop, max_pop))
    finally:
        np.random.set_state(state)
    inside = area.inside
    msoa_code = pd.Series(labels).rename("nbhd_cd")
    lookup = pd.DataFrame({"nbhd_cd": inside["msoa_code"].map(msoa_code)}, index=inside.index)
    names = {v: f"{units.loc[k, 'msoa_name']} neighbourhood"
             for k, v in _largest(units, msoa_code).items()}
    lookup["nbhd_nm"] = lookup["nbhd_cd"].map(names)
    lookup = lookup.sort_values(["nbhd_cd"], kind="stable")
    lookup.index.name = "lsoa_code"
    exc = pd.DataFrame(exceptions, columns=EXCEPTION_COLUMNS)
    exc["nbhd_nm"] = exc["nbhd_cd"].map(names)
    note = (f"{lookup['nbhd_cd'].nunique()} neighbourhoods generated from {len(units)} MSOAs "
            f"(max-p, {min_pop:,}-{max_pop:,} residents, seed {seed}); {len(exc)} exception(s) "
            "listed with their reason")
    return Neighbourhoods(source="generated", lookup=lookup, exceptions=exc, notes=(note,),
                          parameters={"method": "spopt MaxPHeuristic on MSOAs within places",
                                      "seed": seed, "min_pop": min_pop, "max_pop": max_pop,
                                      "iterations": iterations,
                                      "homogeneity": "imd_score"})


def _msoa_units(area: StudyArea) -> pd.DataFrame:
    """In-area MSOAs with their in-area population, place and population-weighted IMD score."""
    inside = pd.DataFrame(area.inside)
    if "imd_score" not in inside.columns:
        raise MissingColumnError("generate neighbourhoods: the LSOAs have no 'imd_score'; "
                                 "join IMD 2019 first")
    up = weighted_rollup(inside, ["imd_score"], by="msoa_code")
    lad = (inside.groupby(["msoa_code", "place_code"])["population"].sum().reset_index()
           .sort_values(["msoa_code", "population", "place_code"], ascending=[True, False, True])
           .drop_duplicates("msoa_code").set_index("msoa_code")["place_code"])
    units = pd.DataFrame({"population": up["population"], "imd_score": up["imd_score"],
                          "place_code": lad,
                          "msoa_name": inside.groupby("msoa_code")["msoa_name"].first()})
    units["imd_score"] = units["imd_score"].fillna(units["imd_score"].mean())
    return units.sort_index()


def _unit_adjacency(area: StudyArea, units: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """MSOA adjacency from LSOA adjacency (two MSOAs touch when any of their LSOAs do)."""
    inside = area.inside
    i, j = lsoa_adjacency(inside)
    pos = units.get_indexer(inside["msoa_code"])
    a, b = pos[i], pos[j]
    keep = a != b
    a, b = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    pairs = np.unique(np.stack([a, b], axis=1), axis=0) if len(a) else np.empty((0, 2), int)
    return pairs[:, 0], pairs[:, 1]


def _regionalise(units: pd.DataFrame, pairs: tuple[np.ndarray, np.ndarray], index: pd.Index,
                 *, seed: int, min_pop: int, max_pop: int,
                 iterations: int) -> list[list[str]]:
    """Split one contiguous set of MSOAs into regions; oversized regions are split again."""
    total = float(units["population"].sum())
    if total < 2 * min_pop:
        return [list(units.index)]
    labels = _maxp(units, pairs, index, seed=seed, min_pop=min_pop, iterations=iterations)
    regions = [list(units.index[labels == k]) for k in np.unique(labels)]
    if len(regions) == 1:
        return regions
    out: list[list[str]] = []
    for members in regions:
        pop = float(units.loc[members, "population"].sum())
        if pop > max_pop and pop >= 2 * min_pop:
            out.extend(_regionalise(units.loc[members], pairs, index, seed=seed,
                                    min_pop=min_pop, max_pop=max_pop,
                                    iterations=iterations))
        else:
            out.append(members)
    return out


def _maxp(units: pd.DataFrame, pairs: tuple[np.ndarray, np.ndarray], index: pd.Index, *,
          seed: int, min_pop: int, iterations: int) -> np.ndarray:
    """Max-p regions of ``units`` (one contiguous set) with a population floor.

    Runs spopt's max-p construction phase (``iterations`` randomised constructions; those with
    the most regions are kept) and keeps the construction with the smallest total
    within-region IMD dissimilarity (spopt's own objective). spopt's simulated-annealing phase
    is not run: its loop ends only after ``n`` moves in a row fail its local test, and a move
    that passes is made even when tabu, so its running time has no bound; during development
    one Frimley place stayed in it for over 60 s (the construction takes well under 1 s),
    which a build must not risk.
    """
    from scipy.spatial.distance import pdist, squareform
    from spopt.region import maxp as spopt_maxp

    pos = index.get_indexer(units.index)
    local = -np.ones(len(index), dtype=int)
    local[pos] = np.arange(len(pos))
    a, b = local[pairs[0]], local[pairs[1]]
    ok = (a >= 0) & (b >= 0)
    neighbours: dict[int, list[int]] = {k: [] for k in range(len(units))}
    for x, y in zip(a[ok].tolist(), b[ok].tolist(), strict=True):
        neighbours[x].append(y)
        neighbours[y].append(x)
    attr = units[["imd_score"]].to_numpy(dtype=float)
    dist = squareform(pdist(attr, metric="cityblock"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import libpysal

        w = libpysal.weights.W(neighbours, silence_warnings=True)
        np.random.seed(seed)
        _, constructions = spopt_maxp._construction_phase(
            np.arange(len(units)), attr, units["population"].to_numpy(dtype=float), dist, w,
            float(min_pop), 2, iterations)
    best: np.ndarray | None = None
    best_cost = np.inf
    for labels, regions, _ in constructions:
        cost = spopt_maxp._calculate_within_region_distance(regions, dist)
        if cost < best_cost:
            best, best_cost = np.asarray(labels), cost
    if best is None or (best <= 0).any():
        return np.zeros(len(units), dtype=int)
    return best


def _largest(units: pd.DataFrame, code: pd.Series) -> pd.Series:
    """Return the MSOA with most residents of each neighbourhood (ties: first code)."""
    frame = units.join(code).sort_values(["nbhd_cd", "population"], ascending=[True, False],
                                         kind="stable")
    first = frame.reset_index().drop_duplicates("nbhd_cd")
    return pd.Series(first["nbhd_cd"].to_numpy(), index=first["msoa_code"].to_numpy())


def _size_exceptions(units: pd.DataFrame, labels: dict[str, str], lad: str,
                     grp: pd.DataFrame, min_pop: int, max_pop: int) -> list[dict[str, Any]]:
    code = pd.Series({k: labels[k] for k in grp.index})
    pops = grp["population"].groupby(code).sum()
    total = float(grp["population"].sum())
    rows = []
    for nb, pop in pops.items():
        if min_pop <= pop <= max_pop:
            continue
        n_parts = len(set(code[code == nb].index))
        if pop < min_pop and total < min_pop:
            why = f"the place's part in the area has only {total:,.0f} residents"
        elif pop < min_pop:
            why = ("a detached part of the place (island or enclave, no contiguous link to the "
                   f"rest) with {pop:,.0f} residents")
        elif pop < 2 * min_pop:
            why = (f"{pop:,.0f} residents cannot be split into two contiguous neighbourhoods of "
                   f"at least {min_pop:,}")
        else:
            why = (f"{pop:,.0f} residents in {n_parts} MSOA(s): max-p found no contiguous split "
                   f"with every part at least {min_pop:,}")
        rows.append({"nbhd_cd": nb, "nbhd_nm": "", "place_code": lad, "population": float(pop),
                     "reason": why})
    return rows


# --------------------------------------------------------------------------- attach


def with_neighbourhoods(area: StudyArea, nb: Neighbourhoods) -> StudyArea:
    """Return a new area whose LSOAs carry their ``nbhd_cd``, with the ``neighbourhood`` level.

    The neighbourhood frame is indexed by ``nbhd_cd`` with ``nbhd_nm``, ``place_code`` (the place
    with most of its residents), ``place_name``, ``system_code``, ``population``, ``n_lsoa``,
    ``in_area``, population-weighted centre, the LSOA indicators rolled up by population
    weight, and ``le_<sex>_pwmean``: the mean of its LSOAs' MSOA life expectancy weighted by
    LSOA population (an approximation, as at place and system). Ring LSOAs get no
    neighbourhood.
    """
    lsoa = area.lsoa.drop(columns=["nbhd_cd"], errors="ignore")
    lsoa["nbhd_cd"] = nb.lookup["nbhd_cd"].reindex(lsoa.index).where(lsoa["in_area"])
    members = pd.DataFrame(lsoa[lsoa["in_area"] & lsoa["nbhd_cd"].notna()])
    if members.empty:
        raise ValidationError("neighbourhoods", ["no in-area LSOA is assigned to a "
                                                 "neighbourhood"])
    place = (members.groupby(["nbhd_cd", "place_code"])["population"].sum().reset_index()
             .sort_values(["nbhd_cd", "population", "place_code"], ascending=[True, False, True])
             .drop_duplicates("nbhd_cd").set_index("nbhd_cd")["place_code"])
    lad_names = members.groupby("place_code")["place_name"].first()
    geom = dissolved(gpd.GeoDataFrame(members[["nbhd_cd", "geometry"]], geometry="geometry",
                                      crs=BNG), by="nbhd_cd")
    frame = pd.DataFrame({
        "nbhd_nm": nb.lookup.groupby("nbhd_cd")["nbhd_nm"].first(),
        "place_code": place, "place_name": place.map(lad_names),
        "system_code": members.groupby("nbhd_cd")["system_code"].first(),
        "population": members.groupby("nbhd_cd")["population"].sum(),
        "n_lsoa": members.groupby("nbhd_cd").size()}).reindex(geom.index)
    frame["in_area"] = True
    frame = frame.join(weighted_centre(members, by="nbhd_cd"))
    cols = [c for c in NBHD_ROLLUP if c in members.columns]
    if cols:
        up = weighted_rollup(members, cols, by="nbhd_cd")
        frame = frame.join(up.drop(columns=["population", "n_children"]))
    for sex in ("le_male", "le_female"):
        if sex in area.msoa.columns:
            members[sex] = members["msoa_code"].map(area.msoa[sex])
            le = weighted_rollup(members, [sex], by="nbhd_cd")
            frame[COLUMNS.of(sex, "pwmean")] = le[sex]
    frame.index.name = "nbhd_cd"
    out = replace(area, lsoa=lsoa, neighbourhood=gpd.GeoDataFrame(frame, geometry=geom, crs=BNG))
    out = out.with_notes(*nb.notes)
    return out.with_report(nb.report) if len(nb.report) else out


def neighbourhood_sii_groups(area: StudyArea) -> list[tuple[str, pd.DataFrame, int]]:
    """Systems with enough neighbourhoods for an SII across them, with the quantiles to use.

    A system needs at least 15 neighbourhoods with life expectancy for quintiles and 40 for
    deciles (the rule used at the other levels). Returns ``(icb code, its neighbourhoods,
    n_quantiles)``.
    """
    nb = getattr(area, "neighbourhood", None)
    if nb is None or "imd_score" not in nb.columns:
        return []
    out = []
    for code, grp in nb.groupby("system_code"):
        n = len(grp)
        n_q = 10 if n >= 40 else 5 if n >= 15 else 0
        if n_q:
            out.append((str(code), pd.DataFrame(grp), n_q))
    return out
