"""The analysis stages of a build: which geo/ models run on which columns of a study area.

Thin on purpose: every figure is computed in geo/; this module chooses the inputs (MSOA life
expectancy, its determinants rolled up from LSOAs), runs the models and returns frames and
JSON-friendly results for the store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.geo.areas import StudyArea
from healthgap.geo.columns import COLUMNS, sex_word
from healthgap.geo.model_plan import PLAN, ModelPlan
from healthgap.geo.rollup import lsoa_to_msoa
from healthgap.services.results import LocalRun, StatisticsResults, WeightsUsed

from healthgap.errors import HealthgapError

log = logging.getLogger(__name__)

#: The model choices and thresholds live in geo/ (geo.model_plan); these names stay for callers.
SEXES = PLAN.sexes
DETERMINANTS = PLAN.determinants
REGRESSORS = PLAN.regressors
MAX_DENSE = PLAN.max_dense


@dataclass
class Outputs:
    """What an analysis stage produces: layers and tables for the store, and new level columns.

    The study area it was given is left as it was: columns for the area's level frames are
    returned in ``columns`` (level -> table indexed by that level's code), and the build joins
    them into the area in one step (`StudyArea.with_columns`) before assembling the layers.
    """

    layers: dict[str, pd.DataFrame] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    columns: dict[str, pd.DataFrame] = field(default_factory=dict)
    statistics: StatisticsResults | None = None

    def add_columns(self, level: str, table: pd.DataFrame) -> None:
        """Add ``table``'s columns to those computed for ``level`` (rows aligned by code)."""
        old = self.columns.get(level)
        self.columns[level] = table if old is None else pd.concat([old, table], axis=1)

    def extend(self, later: Outputs) -> Outputs:
        """Return these outputs followed by ``later``'s, as if one stage had made both in turn.

        Layers, tables and results keep their order (these first); notes are joined; level
        columns are joined side by side. Raises if both hold the same layer, table, result or
        level column.
        """
        for what in ("layers", "tables", "results"):
            both = set(getattr(self, what)) & set(getattr(later, what))
            if both:
                raise ValueError(f"both outputs hold the {what} {sorted(both)}")
        out = Outputs(layers={**self.layers, **later.layers},
                      tables={**self.tables, **later.tables},
                      results={**self.results, **later.results},
                      notes=[*self.notes, *later.notes], columns=dict(self.columns),
                      statistics=self.statistics or later.statistics)
        for level, table in later.columns.items():
            both = set(self.columns[level].columns) & set(table.columns) \
                if level in self.columns else set()
            if both:
                raise ValueError(f"both outputs hold the {level} columns {sorted(both)}")
            out.add_columns(level, table)
        return out

    def append(self, name: str, frame: pd.DataFrame, *, sex: str) -> None:
        """Add ``frame`` (index kept as a column) to table ``name``, tagged with the sex."""
        part = frame.reset_index()
        part.insert(0, "sex", sex_word(sex))
        old = self.tables.get(name)
        self.tables[name] = part if old is None else pd.concat([old, part], ignore_index=True)


def msoa_determinants(area: StudyArea) -> pd.DataFrame:
    """Roll the determinant columns present on the LSOAs up to the MSOAs (population-weighted).

    By `geo.rollup.lsoa_to_msoa`: from every LSOA of each MSOA (the IoD indicators are joined
    to all the members); a column known only for the area and ring LSOAs (a routed drive time)
    uses those it has.

    Returns the columns ``area.msoa`` lacks, indexed by ``msoa_code`` (join them with
    `StudyArea.with_columns`).
    """
    have = set(area.lsoa.columns) | set(area.members.columns)
    wanted = [c for cols in DETERMINANTS.values() for c in cols if c in have]
    wanted = [c for c in wanted if c not in area.msoa.columns]
    if not wanted:
        return pd.DataFrame(index=area.msoa.index)
    # every MSOA from all its LSOAs (geo.areas.SPLIT_MSOA_RULE), by the one roll-up function
    return lsoa_to_msoa(area.members, area.lsoa, wanted).reindex(area.msoa.index)[wanted]


def _cliffs_and_headline(out: Outputs, msoa: gpd.GeoDataFrame, inside: gpd.GeoDataFrame,
                         sexes: list[str], seed: int, *, national: bool = False) -> None:
    """Add the health cliffs across MSOA borders and the headline gradients to ``out``.

    In a national build each border is judged against the noise of its own ICB
    (`PLAN.cliff_noise_group`), not England's.
    """
    from healthgap.geo.cliffs import BorderDifferences
    from healthgap.geo.transect import headline_gradients
    from healthgap.geo.weights import build_weights

    # health cliffs: the difference across every shared border (in years) against noise
    cliffs = []
    for sex in sexes:
        have = msoa[msoa[sex].notna() & msoa["imd_score"].notna()]
        w = build_weights(have, kind="queen")
        try:
            bd = BorderDifferences(value=sex, seed=seed,
                                   group=PLAN.cliff_noise_group if national else None,
                                   ).fit(have, w.graph)
        except HealthgapError as exc:
            out.notes.append(f"health cliffs of {sex} not ranked: {exc}")
            continue
        pairs = bd.pairs_.copy()
        pairs.insert(0, "sex", sex_word(sex))
        cliffs.append(pairs)
        out.results[f"cliffs_{sex}"] = bd.to_dict()
    if cliffs:
        out.layers["cliffs"] = gpd.GeoDataFrame(pd.concat(cliffs, ignore_index=True),
                                                geometry="geometry", crs=msoa.crs)
    have_all = inside.dropna(subset=sexes)
    if sexes and len(have_all) >= PLAN.min_values:
        w_in = build_weights(have_all, kind="queen")
        hl = headline_gradients(have_all, w_in.graph, values=tuple(sexes))
        out.tables["model_headline"] = hl.table().reset_index()
        out.results["headline"] = hl.to_dict()
    if not PLAN.is_big(len(inside)):
        _distance_decay(out, inside, sexes, seed)


def _distance_decay(out: Outputs, inside: gpd.GeoDataFrame, sexes: list[str],
                    seed: int) -> None:
    """Add the all-pairs distance decay (`geo.pairwise_decay`) of each sex to ``out``.

    It replaces the extremes transect as the test of "one year of life expectancy per mile":
    every pair of in-area MSOAs within 10 miles, values shuffled over fixed places.
    """
    from healthgap.geo.pairwise_decay import PairwiseDecay

    rows = []
    for sex in sexes:
        try:
            fit = PairwiseDecay(value=sex, seed=seed).fit(inside)
        except HealthgapError as exc:
            out.notes.append(f"distance decay of {sex} over all pairs not estimated: {exc}")
            continue
        rows.append({"sex": sex.replace("le_", ""), **fit.result_})
        out.results[f"distance_decay_{sex}"] = fit.to_dict()
    if rows:
        out.tables["model_distance_decay"] = pd.DataFrame(rows)


def _inequality(out: Outputs, area: StudyArea, inside: gpd.GeoDataFrame, sexes: list[str],
                seed: int) -> None:
    """Add SII/RII, the quantile gap and the Theil decomposition per level to ``out``."""
    from healthgap.geo.inequality import TheilDecomposition

    # inequality per level: SII, PHE RII and the quantile gap (thresholds in geo.inequality), by
    # the split-MSOA rule so an area's figures do not depend on how it was built
    sii_out = area_sii(area, sexes, seed=seed)
    out.notes.extend(sii_out["notes"])
    if sii_out["rows"]:
        out.tables["model_sii"] = pd.DataFrame(sii_out["rows"])
        q = sii_out["quantiles"]
        out.tables["model_quantiles"] = q
        out.tables["model_sii_groups"] = q.rename(columns={"le": "value"})
    if sii_out["skipped"]:
        out.notes.append(f"SII not computed for {len(sii_out['skipped'])} area(s) with too few "
                         "MSOAs for quintiles")
    nb = _neighbourhood_sii(area, sexes, seed)
    out.notes.extend(nb.notes)
    for name, table in nb.tables.items():
        out.tables[name] = pd.concat([out.tables[name], table], ignore_index=True) \
            if name in out.tables else table
    units = theil_units(area)
    for sex in sexes:
        frame = units[units[sex].notna() & units["imd_score"].notna()]
        if len(frame) >= PLAN.min_values:
            th = TheilDecomposition(value=sex, population="population_in_group",
                                    levels=("place_in_system", "system_code"),
                                    labels=("neighbourhood", "place", "system")).fit(frame)
            out.append("model_theil", th.components_, sex=sex)
            out.results[f"theil_{sex}"] = th.to_dict()


def theil_units(area: StudyArea) -> pd.DataFrame:
    """Return the Theil units of ``area`` (`geo.rollup.place_units`, the split-MSOA rule)."""
    from healthgap.geo.rollup import place_units

    members = area.members
    if not len(members):  # a frame built without members: each MSOA where its label puts it
        m = area.msoa[area.msoa["in_area"]]
        members = pd.DataFrame({"msoa_code": m.index, "place_code": m["place_code"],
                                "system_code": m["system_code"], "in_area": True,
                                "population": m["population_in_area"]}, index=m.index)
    cols = [c for c in (*SEXES, "imd_score") if c in area.msoa.columns]
    return place_units(area.msoa, members, cols)


def _shapley(out: Outputs, inside: gpd.GeoDataFrame, sexes: list[str]) -> None:
    """Add the Shapley R² of the determinant groups to ``out``."""
    from healthgap.geo.inequality import ShapleyR2

    # determinants: Shapley R² by group, beside the County Health Rankings split
    groups = {g: [c for c in cols if c in inside.columns] for g, cols in DETERMINANTS.items()}
    groups = {g: cols for g, cols in groups.items() if cols}
    if "behaviours" not in groups:
        out.notes.append("no health-behaviour proxies in the inputs: the Shapley decomposition "
                         "has no behaviours group")
    shap_rows = []
    for sex in sexes:
        cols = [c for cs in groups.values() for c in cs]
        frame = inside.dropna(subset=[sex, *cols])
        if PLAN.enough_rows(len(frame), len(cols)) and groups:
            sh = ShapleyR2(outcome=sex, groups=groups, weights="population_in_area").fit(frame)
            t = sh.table_.copy()
            t.insert(0, "sex", sex_word(sex))
            shap_rows.append(t)
            out.results[f"shapley_{sex}"] = sh.to_dict()
    if shap_rows:
        out.tables["model_shapley"] = pd.concat(shap_rows, ignore_index=True)


def _regression(out: Outputs, inside: gpd.GeoDataFrame, sexes: list[str], seed: int,
                weights: str, big: bool) -> None:
    """Add OLS, spatial lag and error models and GWR to ``out`` (GWR's as MSOA columns)."""
    # spatial regression
    x = PLAN.regressors_present(inside.columns)
    coef_rows: list[pd.DataFrame] = []
    diag_rows: list[dict[str, Any]] = []
    for sex in sexes[:1] if big else sexes:
        frame = inside.dropna(subset=[sex, *x])
        if not PLAN.enough_rows(len(frame), len(x)):
            continue
        _fit_regressions(out, frame, sex, x, seed=seed, weights=weights, big=big,
                         coef_rows=coef_rows, diag_rows=diag_rows)
        if not big and len(frame) >= PLAN.min_gwr:
            _fit_gwr(out, frame, sex, x)
    if big:
        out.notes.append(f"{len(inside)} MSOAs: GWR left out and the spatial models use the "
                         "sparse LU log-determinant (large-n settings)")
    if coef_rows:
        out.tables["model_regression"] = pd.concat(coef_rows, ignore_index=True)
        out.tables["model_fit"] = pd.DataFrame(diag_rows)


def _fit_regressions(out: Outputs, frame: gpd.GeoDataFrame, sex: str, x: list[str], *,
                     seed: int, weights: str, big: bool, coef_rows: list[pd.DataFrame],
                     diag_rows: list[dict[str, Any]]) -> None:
    """Fit OLS, spatial lag and error models of ``sex``; add their rows and results."""
    from healthgap.geo.regression import OLSDiagnostics, SpatialErrorModel, SpatialLagModel
    from healthgap.geo.weights import build_weights

    w = build_weights(frame, kind=weights if weights in ("queen", "rook") else "queen")
    models: list[tuple[str, Any]] = [
        ("ols", OLSDiagnostics(y=sex, x=x).fit(frame, w.graph)),
        ("lag", SpatialLagModel(y=sex, x=x, method="LU" if big else "full",
                                seed=seed).fit(frame, w.graph)),
        ("error", SpatialErrorModel(y=sex, x=x, method="LU" if big else "full")
         .fit(frame, w.graph)),
    ]
    for name, m in models:
        c = m.coefficients_.copy()
        c.insert(0, "model", name)
        c.insert(0, "sex", sex_word(sex))
        coef_rows.append(c.reset_index().rename(columns={"index": "term"}))
        d = {"sex": sex_word(sex), "model": name, "n": len(frame),
             "log_likelihood": getattr(m, "log_likelihood_", np.nan),
             "aic": getattr(m, "aic_", np.nan)}
        if name == "lag":
            d["rho"] = m.rho_
        if name == "error":
            d["lambda"] = m.lambda_
        diag_rows.append(d)
        out.results[f"regression_{name}_{sex}"] = m.to_dict()
    ols = models[0][1]
    out.append("model_ols_diagnostics", ols.diagnostics_, sex=sex)
    lag = models[1][1]
    if getattr(lag, "impacts_", None) is not None:
        out.append("model_impacts", lag.impacts_, sex=sex)


def _fit_gwr(out: Outputs, frame: gpd.GeoDataFrame, sex: str, x: list[str]) -> None:
    """Fit GWR of ``sex``, its local estimates as MSOA columns of ``out``; a failure is a note."""
    from healthgap.geo.regression import LocalRegression

    try:
        gwr = LocalRegression(y=sex, x=x).fit(frame)
    except Exception as exc:  # a singular local fit is reported, not fatal
        out.notes.append(f"GWR for {sex} not fitted: {exc}")
    else:
        local = gwr.local_.add_prefix(COLUMNS.gwr_prefix(sex))
        out.add_columns("msoa", local)
        out.results[f"gwr_{sex}"] = gwr.to_dict()


def _distance_models(out: Outputs, inside: gpd.GeoDataFrame, sexes: list[str],
                     seed: int, plan: ModelPlan) -> None:
    """Add the semivariogram, correlogram and LE against travel time to ``out``."""
    from healthgap.geo.correlogram import MoranCorrelogram
    from healthgap.geo.travel_time import TravelTimeFit
    from healthgap.geo.variogram import Semivariogram

    vrows, crows, drows = [], [], []
    for sex in sexes:
        frame = inside.dropna(subset=[sex])
        if len(frame) < PLAN.min_distance_models:
            continue
        sv = Semivariogram(value=sex).fit(frame)
        b = sv.bins_.copy()
        b.insert(0, "sex", sex_word(sex))
        vrows.append(b.reset_index(drop=True))
        out.results[f"semivariogram_{sex}"] = sv.to_dict()
        mc = MoranCorrelogram(value=sex, permutations=plan.correlogram_permutations,
                              seed=seed).fit(frame)
        t = mc.table_.copy()
        t.insert(0, "sex", sex_word(sex))
        crows.append(t.reset_index(drop=True))
        tcol = next((c for c in ("gp_time_min", "gp_road_distance_km")
                     if c in frame.columns), None)
        if tcol is not None:
            f2 = frame.dropna(subset=[tcol])
            try:
                df = TravelTimeFit(time=tcol, value=sex, seed=seed).fit(f2)
            except Exception as exc:  # a form that cannot be fitted is reported
                out.notes.append(f"decay fit of {sex} on {tcol} failed: {exc}")
            else:
                t = df.table_.copy()
                t.insert(0, "time", tcol)
                t.insert(0, "sex", sex_word(sex))
                drows.append(t.reset_index())
                out.results[f"decay_{sex}"] = df.to_dict()
    if vrows:
        out.tables["model_semivariogram"] = pd.concat(vrows, ignore_index=True)
    if crows:
        out.tables["model_correlogram"] = pd.concat(crows, ignore_index=True)
    if drows:
        out.tables["model_decay"] = pd.concat(drows, ignore_index=True)


#: The parts of `run_models`, in the order their outputs are assembled.
MODEL_PARTS = ("cliffs", "inequality", "shapley", "regression", "distance")


def run_models(area: StudyArea, *, seed: int, weights: str = "queen",
               plan: ModelPlan = PLAN, parts: tuple[str, ...] = MODEL_PARTS) -> Outputs:
    """Fit the life-expectancy models for an area at MSOA level.

    Health cliffs and headline gradients, SII/RII and the decile gap per level, Theil/MLD
    decomposition, Shapley R² of the determinant groups, OLS with spatial diagnostics, spatial lag
    and error models, GWR, the semivariogram and correlogram, and LE against travel time.
    The area is left as it was: the determinants rolled up to MSOA and GWR's local estimates
    are returned in ``Outputs.columns["msoa"]``. The correlogram's permutations are
    ``plan.correlogram_permutations``.

    ``parts`` (of `MODEL_PARTS`) fits only those; no part reads another's output, so fitting
    the parts in two processes and joining the results in `MODEL_PARTS` order
    (`Outputs.extend`) gives what fitting them in turn gives. The determinants' columns come
    with the part that includes the first of `MODEL_PARTS`.
    """
    unknown = sorted(set(parts) - set(MODEL_PARTS))
    if unknown:
        raise ValueError(f"unknown model part(s) {unknown}; known: {', '.join(MODEL_PARTS)}")
    out = Outputs()
    determinants = msoa_determinants(area)
    if MODEL_PARTS[0] in parts:
        out.add_columns("msoa", determinants)
    # the models see the determinants; the caller's area is left as it was
    area = area.with_columns("msoa", determinants, source="determinants rolled up to MSOA")
    msoa = area.msoa
    inside = msoa[msoa["in_area"]]
    sexes = [s for s in SEXES if s in msoa.columns and msoa[s].notna().sum() >= PLAN.min_values]
    big = PLAN.is_big(len(inside))

    if "cliffs" in parts:
        _cliffs_and_headline(out, msoa, inside, sexes, seed,
                             national=area.ref.level == "england")
    if "inequality" in parts:
        _inequality(out, area, inside, sexes, seed)
    if "shapley" in parts:
        _shapley(out, inside, sexes)
    if "regression" in parts:
        _regression(out, inside, sexes, seed, weights, big)
    if "distance" in parts and not big:
        _distance_models(out, inside, sexes, seed, plan)
    return out


def _neighbourhood_sii(area: StudyArea, sexes: list[str], seed: int) -> Outputs:
    """SII across each system's neighbourhoods (their approximate LE), where there are enough.

    Rows have ``level == "neighbourhood"`` and the system's code: the units are the system's
    neighbourhoods (population-weighted MSOA life expectancy, an approximation).
    """
    from healthgap.geo.inequality import sii_table
    from healthgap.geo.neighbourhoods import neighbourhood_sii_groups

    out = Outputs()
    tables: list[pd.DataFrame] = []
    groups: list[pd.DataFrame] = []
    for code, grp, _ in neighbourhood_sii_groups(area):
        fit = sii_table(grp, level="neighbourhood", code=code,
                        values=[COLUMNS.of(sex, "pwmean") for sex in sexes],
                        population="population",
                        seed=seed)
        out.notes.extend(fit.notes)
        for frame, into in ((fit.table, tables), (fit.groups, groups)):
            if len(frame):
                into.append(frame)
    if tables:
        t = pd.concat(tables, ignore_index=True)
        t["method"] = (t["method"] + "; units: the system's neighbourhoods (population-weighted "
                       "MSOA life expectancy, an approximation)")
        out.tables["model_sii"] = t
        out.tables["model_sii_groups"] = pd.concat(groups, ignore_index=True)
    return out


def area_sii(area: StudyArea, sexes: list[str], *, seed: int) -> dict[str, Any]:
    """SII per system and place of the area by the split-MSOA rule (`geo.england.sii_tables`)."""
    from healthgap.geo.england import sii_tables

    members = area.members
    if not len(members):  # a frame built without members: each MSOA is its own member
        m = area.msoa[area.msoa["in_area"]]
        members = pd.DataFrame({"msoa_code": m.index, "place_code": m["place_code"],
                                "system_code": m["system_code"], "in_area": True,
                                "population": m["population_in_area"]}, index=m.index)
    # a system is reported only when the build holds all of it (an ICB or England build)
    levels = {"system": ("system_code", list(area.system.index)
                         if area.ref.level in ("icb", "england") else []),
              "place": ("place_code", list(area.place.index))}
    return sii_tables(area.msoa, members, levels=levels, values=sexes, seed=seed)


def run_england(msoa: pd.DataFrame, members: pd.DataFrame, *, seed: int,
                tables: dict[str, pd.DataFrame]) -> Outputs:
    """England as the benchmark: its SII rows and tenths, and every area compared with it.

    England's rows (level ``england``, code ``E92000001``) come from the national MSOA frame
    (`geo.layers.national_msoa`) by the same method as the area's, in every build; they are
    appended to ``model_sii`` and ``model_quantiles`` and each area's SII is set beside them in
    ``model_sii_vs_england``; each system's and place's fall in life expectancy per 10 IMD
    points is set beside England's over the same IMD range in ``model_gradient_vs_england``,
    whose verdict is the only one given. The methods text with ONS's published figures goes to
    the results (``england.methods``).
    """
    from healthgap.geo.england import (
        ONS_REFERENCE,
        compare_gradient_with_england,
        compare_with_england,
        england_sii,
        expected_attenuation,
        methods_text,
    )

    out = Outputs()
    sexes = [s for s in SEXES if s in msoa.columns]
    eng = england_sii(msoa, members, values=sexes, seed=seed)
    rows = pd.DataFrame(eng["rows"])
    old = tables.get("model_sii")
    sii = rows if old is None else pd.concat([old, rows], ignore_index=True)
    out.tables["model_sii"] = sii
    q = tables.get("model_quantiles")
    out.tables["model_quantiles"] = (eng["quantiles"] if q is None else
                                     pd.concat([q, eng["quantiles"]], ignore_index=True))
    if old is not None and len(old):
        areas = old[old["level"].isin(("system", "place"))]
        gradient = (compare_gradient_with_england(areas, msoa, seed=seed)
                    if "le_drop_se" in areas.columns and len(areas) else None)
        if gradient is not None:
            out.tables["model_gradient_vs_england"] = gradient
        out.tables["model_sii_vs_england"] = compare_with_england(sii, gradient)
    k = expected_attenuation(members)
    by_sex = rows.set_index("sex")["sii"]
    out.results["england"] = {
        "code": "E92000001", "sii": {s: float(v) for s, v in by_sex.items()},
        "expected_attenuation": k, "ons_reference": ONS_REFERENCE,
        "methods": methods_text(k=k, sii_male=float(by_sex.get("male", np.nan)),
                                sii_female=float(by_sex.get("female", np.nan)))}
    out.notes.extend(eng["notes"])
    return out


#: Indicators the plan tests for spatial autocorrelation, by level (those present are used);
#: catalogue entries with ``stat_levels`` join them (`geo.columns.ColumnRegistry.stat_indicators`).
STAT_INDICATORS = PLAN.stat_indicators


def run_statistics(area: StudyArea, *, weights: str, permutations: int | str, seed: int,
                   alpha: float, correction: str, share_draws: bool = True,
                   plan: ModelPlan = PLAN) -> Outputs:
    """Global and local spatial autocorrelation of the key indicators (see `_statistics`).

    Indicators over the same areas share their random draws for the duration of the run
    (`geo._permutation.reusing_draws`): identical results, drawn once. ``share_draws=False``
    draws afresh for every statistic (the plain computation, which benchmarks time as the peer).
    ``permutations`` is the local statistics'; the global ones take
    ``plan.global_permutations``. ``Outputs.statistics`` says what each local statistic used.
    """
    from contextlib import nullcontext

    from healthgap.geo import reusing_draws

    with reusing_draws() if share_draws else nullcontext():
        return _statistics(area, weights=weights, permutations=permutations, seed=seed,
                           alpha=alpha, correction=correction, plan=plan)


def _statistics(area: StudyArea, *, weights: str, permutations: int | str, seed: int,
                alpha: float, correction: str, plan: ModelPlan) -> Outputs:
    """Global and local spatial autocorrelation of the key indicators at LSOA and MSOA level.

    Global Moran's I, Geary's C and Getis-Ord G go to ``stats_global``; LISA labels and p-values
    (on the chosen weights), Gi* z-scores and hot/cold-spot labels (on a fixed distance band
    including the area, `geo.local.hotspot_band`) become columns of the level's layer
    (``lisa_<col>``, ``lisa_<col>_p``, ``gi_<col>``, ``gi_<col>_z``); bivariate Moran of life
    expectancy against IMD, and the LISA cluster stability across weights, go to the results.
    The area is left as it was: the new columns are returned in ``Outputs.columns``.
    """
    from healthgap.geo.autocorrelation import (
        BivariateMoran,
        GlobalGeary,
        GlobalGetisOrdG,
        GlobalMoran,
    )
    from healthgap.geo.local import (
        BivariateLocalMoran,
        LocalGetisOrdGStar,
        LocalMoran,
        cluster_stability,
        hotspot_band,
    )
    from healthgap.geo.weights import band_threshold, build_weights

    def weights_for(frame: pd.DataFrame, kind: str) -> Any:
        extra = {"threshold": band_threshold(frame)} if kind == "distance_band" else {}
        return build_weights(frame, kind=kind, **extra)

    out = Outputs()
    corr = None if correction == "none" else correction
    local_kw: dict[str, Any] = {"permutations": permutations, "seed": seed, "alpha": alpha,
                                "correction": corr}
    rows: list[dict[str, Any]] = []
    graphs: dict[tuple[str, tuple[str, ...]], tuple[Any, float, Any]] = {}
    lisas: dict[tuple[str, str], tuple[tuple[str, ...], Any]] = {}
    runs: list[LocalRun] = []
    for level, cols in COLUMNS.stat_indicators(plan.stat_indicators).items():
        frame = getattr(area, level, None)
        if frame is None:
            continue
        for col in cols:
            if col not in frame.columns:
                continue
            have = frame[frame[col].notna()]
            if int(have["in_area"].sum()) < PLAN.min_in_area_statistics:
                continue
            key = (level, tuple(have.index))
            if key not in graphs:  # indicators with the same areas share their weights
                band = hotspot_band(have)
                graphs[key] = (weights_for(have, weights), band,
                               build_weights(have, kind="distance_band", threshold=band))
            wr, band, wg = graphs[key]
            out.results[f"weights_{level}_{col}"] = wr.summary()
            y = have[col].astype(float)
            for stat in (GlobalMoran, GlobalGeary, GlobalGetisOrdG):
                if stat is GlobalGetisOrdG and (y < 0).any():
                    continue
                d = stat(permutations=plan.global_permutations, seed=seed).fit(y, wr).to_dict()
                rows.append({"level": level, **d})
            lm = LocalMoran(**local_kw).fit(y, wr)
            lisas[(level, col)] = (key[1], lm)
            lf = lm.to_frame()
            # Gi* gets its own, wider neighbourhood: a fixed band including the area itself
            out.results[f"gi_weights_{level}_{col}"] = {"threshold_m": band, **wg.summary()}
            gi_fit = LocalGetisOrdGStar(**local_kw).fit(y, wg)
            gi = gi_fit.to_frame()
            runs.append(LocalRun(
                level, col, int(lm.permutations_), WeightsUsed.from_summary(wr.summary()),
                int(gi_fit.permutations_), WeightsUsed.from_summary(
                    wg.summary(), transform=gi_fit.transformation_, self_included=True)))
            add = pd.DataFrame({COLUMNS.of(col, stat): values for stat, values in (
                ("lisa", lf["labels"]), ("lisa_p", lf["p_sim"]), ("lisa_q", lf["quadrant"]),
                ("gi", gi["labels"]), ("gi_z", gi["z"]))})
            out.add_columns(level, add)
            out.results[f"lisa_{level}_{col}"] = lm.summary()
    msoa = area.msoa
    for sex in plan.sexes:
        if sex not in msoa.columns or "imd_score" not in msoa.columns:
            continue
        have = msoa.dropna(subset=[sex, "imd_score"])
        if int(have["in_area"].sum()) < PLAN.min_in_area_statistics:
            continue
        key = ("msoa", tuple(have.index))
        wr = graphs[key][0] if key in graphs else weights_for(have, weights)
        # the LISA of the main loop, when it ran over these very areas on these weights
        index, lm = lisas.get(("msoa", sex), ((), None))
        reuse = {weights: (wr, lm if index == key[1] else None)}
        d = BivariateMoran(permutations=plan.global_permutations, seed=seed).fit(
            have[sex], have["imd_score"], wr)
        rows.append({"level": "msoa", **d.to_dict()})
        bl = BivariateLocalMoran(**local_kw).fit(have[sex], have["imd_score"], wr).to_frame()
        out.add_columns("msoa", bl["labels"].rename(COLUMNS.of(sex, "bilisa_imd")).to_frame())
        if len(have) >= PLAN.min_cluster_stability:
            cs = cluster_stability(have, have[sex].astype(float), permutations=permutations,
                                   seed=seed, alpha=alpha, correction=corr,
                                   weights_options={"distance_band": {
                                       "threshold": band_threshold(have)}}, prebuilt=reuse)
            out.results[f"cluster_stability_{sex}"] = {
                "share_stable": cs.share_stable, "share_stable_flagged": cs.share_stable_flagged,
                "weights": cs.weights}
    out.statistics = StatisticsResults(tuple(runs), plan.global_permutations)
    if rows:
        table = pd.DataFrame(rows)
        out.tables["stats_global"] = table.map(
            lambda v: v if not isinstance(v, (list, dict, tuple)) else str(v))
    return out
