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
from healthgap.geo.rollup import weighted_rollup

from healthgap.errors import HealthgapError

log = logging.getLogger(__name__)

SEXES = ("le_male", "le_female")

#: Candidate determinants by group (County Health Rankings groups), first present wins order.
DETERMINANTS: dict[str, tuple[str, ...]] = {
    "socioeconomic": ("income_score_rate_approx", "employment_score_rate_approx"),
    "built_environment": ("air_quality_ratio_sum", "housing_poor_condition_share",
                          "green_share"),
    "clinical_care": ("gp_time_min", "gp_road_distance_km", "hospital_time_min"),
    "behaviours": ("fast_food_per_1000", "off_licence_per_1000"),
}

#: Regressors of the spatial regression, one per group where available.
REGRESSORS = (("income_score_rate_approx",), ("air_quality_ratio_sum",),
              ("gp_time_min", "gp_road_distance_km"))

#: Above this many areas the O(n^2) and GWR models are left out (and said so).
MAX_DENSE = 2500


@dataclass
class Outputs:
    """What an analysis stage adds to the store."""

    layers: dict[str, pd.DataFrame] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def append(self, name: str, frame: pd.DataFrame, *, sex: str) -> None:
        """Add ``frame`` (index kept as a column) to table ``name``, tagged with the sex."""
        part = frame.reset_index()
        part.insert(0, "sex", sex.replace("le_", ""))
        old = self.tables.get(name)
        self.tables[name] = part if old is None else pd.concat([old, part], ignore_index=True)


def msoa_determinants(area: StudyArea) -> list[str]:
    """Roll the determinant columns present on the LSOAs up to the MSOAs (population-weighted).

    Adds them to ``area.msoa`` and returns their names.
    """
    wanted = [c for cols in DETERMINANTS.values() for c in cols if c in area.lsoa.columns]
    wanted = [c for c in wanted if c not in area.msoa.columns]
    if wanted:
        up = weighted_rollup(pd.DataFrame(area.lsoa), wanted, by="msoa11cd")
        area.msoa = area.msoa.join(up[wanted])
    return [c for cols in DETERMINANTS.values() for c in cols if c in area.msoa.columns]


def run_models(area: StudyArea, *, seed: int, weights: str = "queen") -> Outputs:
    """Fit the life-expectancy models for an area at MSOA level.

    Health cliffs and headline gradients, SII/RII and the decile gap per level, Theil/MLD
    decomposition, Shapley R² of the determinant groups, OLS with spatial diagnostics, spatial lag
    and error models, GWR, the semivariogram and correlogram, and LE against travel time.
    """
    from healthgap.geo.gradients import (
        DecayFit,
        MoranCorrelogram,
        NeighbourGradients,
        Semivariogram,
        headline_gradients,
    )
    from healthgap.geo.inequality import ShapleyR2, SlopeIndex, TheilDecomposition
    from healthgap.geo.regression import (
        LocalRegression,
        OLSDiagnostics,
        SpatialErrorModel,
        SpatialLagModel,
    )
    from healthgap.geo.weights import build_weights

    out = Outputs()
    msoa = area.msoa
    msoa_determinants(area)
    msoa = area.msoa
    inside = msoa[msoa["in_area"]]
    sexes = [s for s in SEXES if s in msoa.columns and msoa[s].notna().sum() >= 3]
    big = len(inside) > MAX_DENSE

    # health cliffs: every adjacent pair (ring included as neighbours, reported for the area)
    cliffs = []
    headline: dict[str, Any] = {}
    for sex in sexes:
        have = msoa[msoa[sex].notna()]
        w = build_weights(have, kind="queen")
        ng = NeighbourGradients(value=sex).fit(have, w.graph)
        pairs = ng.pairs_.copy()
        pairs.insert(0, "sex", sex.replace("le_", ""))
        cliffs.append(pairs)
        out.results[f"cliffs_{sex}"] = ng.to_dict()
    if cliffs:
        out.layers["cliffs"] = gpd.GeoDataFrame(pd.concat(cliffs, ignore_index=True),
                                                geometry="geometry", crs=msoa.crs)
    have_all = inside.dropna(subset=sexes)
    if sexes and len(have_all) >= 3:
        w_in = build_weights(have_all, kind="queen")
        hl = headline_gradients(have_all, w_in.graph, values=tuple(sexes))
        headline = hl.to_dict()
        out.tables["model_headline"] = hl.table().reset_index()
        out.results["headline"] = headline

    # inequality per level (a place needs >= 15 MSOAs for quintiles, >= 40 for deciles)
    sii_rows: list[dict[str, Any]] = []
    skipped_sii: list[str] = []
    sii_groups: list[pd.DataFrame] = []
    for sex in sexes:
        frame = inside[inside[sex].notna() & inside["imd_score"].notna()]
        for level, code_col in (("system", "icb22cd"), ("place", "lad22cd")):
            for code, grp in frame.groupby(code_col):
                n_q = 10 if len(grp) >= 40 else 5 if len(grp) >= 15 else 0
                if not n_q:
                    skipped_sii.append(str(code))
                    continue
                try:
                    si = SlopeIndex(value=sex, population="population_in_area",
                                    score="imd_score", n_quantiles=n_q, repetitions=20_000,
                                    seed=seed).fit(grp)
                except HealthgapError as exc:
                    out.notes.append(f"SII of {sex} for {level} {code} not computed: {exc}")
                    continue
                g = si.groups_.reset_index()
                g.insert(0, "code", code)
                g.insert(0, "level", level)
                g.insert(0, "sex", sex.replace("le_", ""))
                sii_groups.append(g)
                sii_rows.append({"sex": sex.replace("le_", ""), "level": level, "code": code,
                                 "n_msoa": len(grp), "quantiles": n_q, "sii": si.sii_,
                                 "sii_lci": si.sii_ci_[0], "sii_uci": si.sii_ci_[1],
                                 "rii": si.rii_, "gap": si.gap_,
                                 "intercept": si.intercept_,
                                 "le_min": grp[sex].min(), "le_max": grp[sex].max(),
                                 "le_range": grp[sex].max() - grp[sex].min()})
        if len(frame) >= 3:
            # a few local authorities are split between ICBs: a place is a (LA, ICB) pair
            frame = frame.assign(place_in_system=frame["lad22cd"] + "|" + frame["icb22cd"])
            th = TheilDecomposition(value=sex, population="population_in_area",
                                    levels=("place_in_system", "icb22cd"),
                                    labels=("neighbourhood", "place", "system")).fit(frame)
            out.append("model_theil", th.components_, sex=sex)
            out.results[f"theil_{sex}"] = th.to_dict()
    sii_rows.extend(_neighbourhood_sii(area, sexes, seed, out))
    if sii_rows:
        out.tables["model_sii"] = pd.DataFrame(sii_rows)
        out.tables["model_sii_groups"] = pd.concat(sii_groups, ignore_index=True)
    if skipped_sii:
        out.notes.append(f"SII not computed for {len(set(skipped_sii))} place(s) with fewer "
                         "than 15 MSOAs (too few areas per quintile)")

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
        if len(frame) > len(cols) + 5 and groups:
            sh = ShapleyR2(outcome=sex, groups=groups, weights="population_in_area").fit(frame)
            t = sh.table_.copy()
            t.insert(0, "sex", sex.replace("le_", ""))
            shap_rows.append(t)
            out.results[f"shapley_{sex}"] = sh.to_dict()
    if shap_rows:
        out.tables["model_shapley"] = pd.concat(shap_rows, ignore_index=True)

    # spatial regression
    x = [next(c for c in alts if c in inside.columns) for alts in REGRESSORS
         if any(c in inside.columns for c in alts)]
    coef_rows, diag_rows = [], []
    for sex in sexes[:1] if big else sexes:
        frame = inside.dropna(subset=[sex, *x])
        if len(frame) <= len(x) + 5:
            continue
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
            c.insert(0, "sex", sex.replace("le_", ""))
            coef_rows.append(c.reset_index().rename(columns={"index": "term"}))
            d = {"sex": sex.replace("le_", ""), "model": name, "n": len(frame),
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
        if not big and len(frame) >= 30:
            try:
                gwr = LocalRegression(y=sex, x=x).fit(frame)
            except Exception as exc:  # a singular local fit is reported, not fatal
                out.notes.append(f"GWR for {sex} not fitted: {exc}")
            else:
                local = gwr.local_.add_prefix(f"gwr_{sex.replace('le_', '')}_")
                area.msoa = area.msoa.join(local)
                out.results[f"gwr_{sex}"] = gwr.to_dict()
    if big:
        out.notes.append(f"{len(inside)} MSOAs: GWR left out and the spatial models use the "
                         "sparse LU log-determinant (large-n settings)")
    if coef_rows:
        out.tables["model_regression"] = pd.concat(coef_rows, ignore_index=True)
        out.tables["model_fit"] = pd.DataFrame(diag_rows)

    # distance: semivariogram, correlogram, LE against travel time / distance to a GP
    if not big:
        vrows, crows, drows = [], [], []
        for sex in sexes:
            frame = inside.dropna(subset=[sex])
            if len(frame) < 12:
                continue
            sv = Semivariogram(value=sex).fit(frame)
            b = sv.bins_.copy()
            b.insert(0, "sex", sex.replace("le_", ""))
            vrows.append(b.reset_index(drop=True))
            out.results[f"semivariogram_{sex}"] = sv.to_dict()
            mc = MoranCorrelogram(value=sex, permutations=99, seed=seed).fit(frame)
            t = mc.table_.copy()
            t.insert(0, "sex", sex.replace("le_", ""))
            crows.append(t.reset_index(drop=True))
            tcol = next((c for c in ("gp_time_min", "gp_road_distance_km")
                         if c in frame.columns), None)
            if tcol is not None:
                f2 = frame.dropna(subset=[tcol])
                try:
                    df = DecayFit(time=tcol, value=sex, seed=seed).fit(f2)
                except Exception as exc:  # a form that cannot be fitted is reported
                    out.notes.append(f"decay fit of {sex} on {tcol} failed: {exc}")
                else:
                    t = df.table_.copy()
                    t.insert(0, "time", tcol)
                    t.insert(0, "sex", sex.replace("le_", ""))
                    drows.append(t.reset_index())
                    out.results[f"decay_{sex}"] = df.to_dict()
        if vrows:
            out.tables["model_semivariogram"] = pd.concat(vrows, ignore_index=True)
        if crows:
            out.tables["model_correlogram"] = pd.concat(crows, ignore_index=True)
        if drows:
            out.tables["model_decay"] = pd.concat(drows, ignore_index=True)
    return out


def _neighbourhood_sii(area: StudyArea, sexes: list[str], seed: int,
                       out: Outputs) -> list[dict[str, Any]]:
    """SII across each system's neighbourhoods (their approximate LE), where there are enough."""
    from healthgap.geo.inequality import SlopeIndex
    from healthgap.geo.neighbourhoods import neighbourhood_sii_groups

    rows: list[dict[str, Any]] = []
    for code, grp, n_q in neighbourhood_sii_groups(area):
        for sex in sexes:
            col = f"{sex}_pwmean"
            have = grp[grp[col].notna() & grp["imd_score"].notna()] if col in grp else grp[:0]
            if len(have) < 15:
                continue
            try:
                si = SlopeIndex(value=col, population="population", score="imd_score",
                                n_quantiles=n_q, repetitions=20_000, seed=seed).fit(have)
            except HealthgapError as exc:
                out.notes.append(f"SII of {sex} across neighbourhoods of {code} not computed: "
                                 f"{exc}")
                continue
            rows.append({"sex": sex.replace("le_", ""), "level": "neighbourhood", "code": code,
                         "n_msoa": len(have), "quantiles": n_q, "sii": si.sii_,
                         "sii_lci": si.sii_ci_[0], "sii_uci": si.sii_ci_[1], "rii": si.rii_,
                         "gap": si.gap_, "intercept": si.intercept_,
                         "le_min": have[col].min(), "le_max": have[col].max(),
                         "le_range": have[col].max() - have[col].min()})
    return rows


#: Indicators tested for spatial autocorrelation, by level (those present are used).
STAT_INDICATORS = {"lsoa": ("imd_score", "gp_time_min"),
                   "msoa": ("le_male", "le_female", "imd_score"),
                   "neighbourhood": ("le_male_pwmean", "le_female_pwmean", "imd_score")}


def run_statistics(area: StudyArea, *, weights: str, permutations: int | str, seed: int,
                   alpha: float, correction: str) -> Outputs:
    """Global and local spatial autocorrelation of the key indicators at LSOA and MSOA level.

    Global Moran's I, Geary's C and Getis-Ord G go to ``stats_global``; LISA labels and p-values,
    Gi* z-scores and hot/cold-spot labels become columns of the level's layer (``lisa_<col>``,
    ``lisa_<col>_p``, ``gi_<col>``, ``gi_<col>_z``); bivariate Moran of life expectancy against
    IMD, and the LISA cluster stability across weights, go to the results.
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
    for level, cols in STAT_INDICATORS.items():
        frame = getattr(area, level, None)
        if frame is None:
            continue
        for col in cols:
            if col not in frame.columns:
                continue
            have = frame[frame[col].notna()]
            if int(have["in_area"].sum()) < 8:
                continue
            wr = weights_for(have, weights)
            out.results[f"weights_{level}_{col}"] = wr.summary()
            y = have[col].astype(float)
            for stat in (GlobalMoran, GlobalGeary, GlobalGetisOrdG):
                if stat is GlobalGetisOrdG and (y < 0).any():
                    continue
                d = stat(permutations=999, seed=seed).fit(y, wr).to_dict()
                rows.append({"level": level, **d})
            lm = LocalMoran(**local_kw).fit(y, wr)
            lf = lm.to_frame()
            gi = LocalGetisOrdGStar(**local_kw).fit(y, wr).to_frame()
            add = pd.DataFrame({f"lisa_{col}": lf["labels"], f"lisa_{col}_p": lf["p_sim"],
                                f"lisa_{col}_q": lf["quadrant"], f"gi_{col}": gi["labels"],
                                f"gi_{col}_z": gi["z"]})
            frame = frame.drop(columns=[c for c in add.columns if c in frame.columns])
            frame = frame.join(add)
            out.results[f"lisa_{level}_{col}"] = lm.summary()
        setattr(area, level, frame)
    msoa = area.msoa
    for sex in SEXES:
        if sex not in msoa.columns or "imd_score" not in msoa.columns:
            continue
        have = msoa.dropna(subset=[sex, "imd_score"])
        if int(have["in_area"].sum()) < 8:
            continue
        wr = weights_for(have, weights)
        d = BivariateMoran(permutations=999, seed=seed).fit(have[sex], have["imd_score"], wr)
        rows.append({"level": "msoa", **d.to_dict()})
        bl = BivariateLocalMoran(**local_kw).fit(have[sex], have["imd_score"], wr).to_frame()
        area.msoa = area.msoa.drop(columns=[f"bilisa_{sex}_imd"], errors="ignore").join(
            bl["labels"].rename(f"bilisa_{sex}_imd"))
        if len(have) >= 30:
            cs = cluster_stability(have, have[sex].astype(float), permutations=permutations,
                                   seed=seed, alpha=alpha, correction=corr,
                                   weights_options={"distance_band": {
                                       "threshold": band_threshold(have)}})
            out.results[f"cluster_stability_{sex}"] = {
                "share_stable": cs.share_stable, "share_stable_flagged": cs.share_stable_flagged,
                "weights": cs.weights}
    if rows:
        table = pd.DataFrame(rows)
        out.tables["stats_global"] = table.map(
            lambda v: v if not isinstance(v, (list, dict, tuple)) else str(v))
    return out
