"""The run kinds healthgap ships: SII, Moran's I, LISA, regression, decay and what-if.

Each registers itself in `services.runkinds.KINDS` when this module is imported (the runner,
`services.jobs`, imports it).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from healthgap.services.runkinds import RunParams, StoreFrames, register
from pydantic import BaseModel, ConfigDict, Field

# --------------------------------------------------------------------------- kinds
#
# Each kind reads what it needs from the build through `StoreFrames`, calls one geo/ class and
# returns that class's ``to_dict()`` (parameters, package versions, results). The rows reported
# are always those inside the area (``in_area``); the edge ring is only ever a neighbour.

_Column = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", max_length=63)


#: A seed of ``numpy.random.default_rng``, as every kind that draws takes it.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]

_CODES = {"lsoa": "lsoa_code", "msoa": "msoa_code"}


def _inside(frame: pd.DataFrame) -> pd.DataFrame:
    if "in_area" in frame.columns:
        return frame[frame["in_area"].fillna(0).astype(bool)]
    return frame


def _layer_inside(frames: StoreFrames, level: str, *, at: float) -> pd.DataFrame:
    """Say the level's layer is read (progress ``at``); return its rows inside the area."""
    frames.progress(at, f"reading {level}")
    return _inside(frames.layer(level, index=_CODES[level]))


class SiiParams(RunParams):
    """Slope and relative index of inequality of an indicator across deprivation quantiles."""

    kind: Literal["sii"]
    indicator: Annotated[str, _Column] = Field("le_male", description="Outcome, high = good "
                                               "(life expectancy).")
    deprivation: Annotated[str, _Column] = Field("imd_score", description="Deprivation score "
                                                 "the quantiles are formed from.")
    level: Literal["msoa", "lsoa"] = "msoa"
    n_quantiles: int = Field(10, ge=3, le=20)
    repetitions: int = Field(10_000, ge=1000, description="Monte Carlo draws of the interval.")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    seed: Seed = 2019

    def requires(self) -> dict[str, list[str]]:
        """Return the indicator, deprivation score and population of the level's layer."""
        return {self.level: [self.indicator, self.deprivation, "population"]}


@register("sii", SiiParams, "Slope index of inequality (PHE/OHID method) of an indicator "
          "across population-weighted deprivation quantiles, with a simulated interval.")
def run_sii(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """SII/RII with `geo.inequality.SlopeIndex`."""
    from healthgap.geo.inequality import SlopeIndex

    p = SiiParams(**params)
    frame = _layer_inside(frames, p.level, at=0.1)
    frames.progress(0.3, f"fitting SII over {p.n_quantiles} quantiles")
    model = SlopeIndex(value=p.indicator, population="population", score=p.deprivation,
                       n_quantiles=p.n_quantiles, repetitions=p.repetitions,
                       confidence=p.confidence, seed=p.seed).fit(frame)
    return model.to_dict()


class _WeightsParams(RunParams):
    """Spatial weights options shared by the spatial kinds."""

    level: Literal["lsoa", "msoa"] = "msoa"
    indicator: Annotated[str, _Column] = Field("le_male", description="Indicator column.")
    weights: Literal["queen", "rook", "knn", "distance_band", "kernel"] = "queen"
    k: int = Field(8, ge=1, le=50, description="Neighbours for knn (and adaptive kernels).")
    bandwidth: float | None = Field(None, gt=0, le=200_000, description="Metres: the band "
                                    "for distance_band, the fixed bandwidth for kernel.")
    seed: Seed = 2019

    def requires(self) -> dict[str, list[str]]:
        """Return the indicator of the level's layer."""
        return {self.level: [self.indicator]}

    def band(self) -> dict[str, Any]:
        """Return the band (distance band) or bandwidth (kernel) `build_weights` takes."""
        if self.bandwidth is None:
            return {}
        return {"distance_band": {"threshold": self.bandwidth},
                "kernel": {"bandwidth": self.bandwidth}}.get(self.weights, {})


def _spatial_frame(frames: StoreFrames, p: _WeightsParams) -> Any:
    """Read the level's layer and build weights over the rows with a value (ring included)."""
    from healthgap.geo.weights import build_weights

    frames.progress(0.05, f"reading {p.level}")
    frame = frames.layer(p.level, index=_CODES[p.level])
    if "in_area" in frame.columns:
        frame["in_area"] = frame["in_area"].fillna(0).astype(bool)
    has_value = frame[p.indicator].notna()
    frames.progress(0.15, f"building {p.weights} weights")
    weights = build_weights(frame, kind=p.weights, k=p.k, include=has_value, **p.band())
    left_out = [str(c) for c in frame.index[~has_value & frame.get("in_area", True)]]
    return frame[has_value], weights, left_out


class MoranParams(_WeightsParams):
    """Global Moran's I of an indicator with permutation inference."""

    kind: Literal["moran"]
    permutations: int = Field(999, ge=1, le=99_999)


@register("moran", MoranParams, "Global Moran's I of an indicator over the area (edge ring as "
          "neighbours only), analytical and permutation inference.")
def run_moran(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """Global Moran's I with `geo.autocorrelation.GlobalMoran`."""
    from healthgap.geo.autocorrelation import GlobalMoran

    p = MoranParams(**params)
    frame, weights, left_out = _spatial_frame(frames, p)
    frames.progress(0.3, f"{p.permutations} permutations")
    stat = GlobalMoran(permutations=p.permutations, seed=p.seed).fit(frame[p.indicator],
                                                                     weights)
    return {"statistic": stat.to_dict(), "weights": weights.summary(),
            "left_out_missing": left_out}


class LisaParams(_WeightsParams):
    """Local Moran's I (LISA) clusters of an indicator."""

    kind: Literal["lisa"]
    permutations: int = Field(999, ge=1, le=99_999)
    alpha: float = Field(0.05, gt=0, lt=1)
    correction: Literal["fdr", "bonferroni", "none"] = "fdr"
    p_value: Literal["folded", "two-sided"] = "folded"


@register("lisa", LisaParams, "Local Moran's I (LISA): High-High, Low-Low and outlier "
          "neighbourhoods, with conditional permutations and an FDR/Bonferroni correction.")
def run_lisa(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """LISA with `geo.local.LocalMoran`; one row per neighbourhood inside the area."""
    from healthgap.geo.local import LocalMoran

    p = LisaParams(**params)
    frame, weights, left_out = _spatial_frame(frames, p)
    frames.progress(0.3, f"{p.permutations} conditional permutations per area")
    stat = LocalMoran(permutations=p.permutations, seed=p.seed, alpha=p.alpha,
                      correction=None if p.correction == "none" else p.correction,
                      p_value=p.p_value).fit(frame[p.indicator], weights)
    frames.progress(0.95, "collecting results")
    areas = stat.to_frame()
    areas.index.name = _CODES[p.level]
    return {"summary": stat.summary(), "weights": weights.summary(), "areas": areas,
            "left_out_missing": left_out}


class RegressionParams(_WeightsParams):
    """A life-expectancy regression with spatial diagnostics, or a spatial lag/error model."""

    kind: Literal["regression"]
    predictors: list[Annotated[str, _Column]] = Field(
        default_factory=lambda: ["imd_score"], min_length=1, max_length=10,
        description="Predictor columns of the same layer.")
    model: Literal["ols", "lag", "error"] = "ols"

    def requires(self) -> dict[str, list[str]]:
        """Return the outcome and predictors of the level's layer."""
        return {self.level: [self.indicator, *self.predictors]}


@register("regression", RegressionParams, "OLS of an indicator on predictors with Moran's I of "
          "the residuals and the LM tests, or a maximum-likelihood spatial lag or error model.")
def run_regression(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """`geo.regression` OLSDiagnostics / SpatialLagModel / SpatialErrorModel on the area."""
    from healthgap.geo.regression import OLSDiagnostics, SpatialErrorModel, SpatialLagModel
    from healthgap.geo.weights import build_weights

    p = RegressionParams(**params)
    frame = _layer_inside(frames, p.level, at=0.05)
    used = frame[[p.indicator, *p.predictors]].notna().all(axis=1)
    frames.progress(0.2, f"building {p.weights} weights")
    weights = build_weights(frame.drop(columns=["in_area"], errors="ignore"), kind=p.weights,
                            k=p.k, include=used, **p.band())
    frames.progress(0.4, f"fitting {p.model}")
    cls = {"ols": OLSDiagnostics, "lag": SpatialLagModel, "error": SpatialErrorModel}[p.model]
    model = cls(y=p.indicator, x=list(p.predictors)).fit(frame[used], weights.graph)
    return {"model": model.to_dict(), "weights": weights.summary(),
            "left_out_missing": [str(c) for c in frame.index[~used]]}


DecayForm = Literal["linear", "exponential", "power", "gaussian"]
DECAY_FORMS: tuple[DecayForm, ...] = ("linear", "exponential", "power", "gaussian")


class DecayParams(RunParams):
    """Life expectancy against travel time: which decay form fits, and its parameter."""

    kind: Literal["decay"]
    level: Literal["lsoa", "msoa"] = "msoa"
    indicator: Annotated[str, _Column] = Field("le_male", description="Outcome column.")
    time: Annotated[str, _Column] = Field(description="Travel-time column of the same layer "
                                          "(from the access stage), any unit.")
    forms: list[DecayForm] = Field(
        default_factory=lambda: list(DECAY_FORMS), min_length=1,
        max_length=4, description="Decay functions to fit and compare by AIC.")
    weights: Literal["none", "population"] = "population"
    n_boot: int = Field(0, ge=0, le=2000, description="Bootstrap resamples of the best "
                        "form's parameter (0 = none).")
    seed: Seed = 2019

    def requires(self) -> dict[str, list[str]]:
        """Return the outcome, time and population columns of the level's layer."""
        return {self.level: [self.indicator, self.time, "population"]}


@register("decay", DecayParams, "Fit linear, exponential, power and Gaussian decay of an "
          "indicator with travel time; compare the forms by AIC.")
def run_decay(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """`geo.gradients.DecayFit` on the neighbourhoods inside the area."""
    from healthgap.geo.gradients import DecayFit

    p = DecayParams(**params)
    frame = _layer_inside(frames, p.level, at=0.05)
    frames.progress(0.2, f"fitting {', '.join(p.forms)}")
    model = DecayFit(time=p.time, value=p.indicator, forms=list(dict.fromkeys(p.forms)),
                     weights=None if p.weights == "none" else p.weights, n_boot=p.n_boot,
                     seed=p.seed).fit(frame)
    return model.to_dict()


# --------------------------------------------------------------------------- what-if (#17)
# One self-contained kind: the scenario is computed by `services.whatif.run_whatif`, the same
# function the `healthgap whatif` command calls, so the API and the CLI give the same numbers.
# A run reads the build but never writes into it (the CLI writes the whatif_* layers).


class WhatifOpen(BaseModel):
    """One facility to open (or the new place of a moved one): exactly one location."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    code: str | None = Field(None, max_length=20)
    name: str | None = Field(None, max_length=200)
    kind: str = Field("gp", max_length=40)
    supply: float | None = Field(None, gt=0, description="Default: the median of its kind.")
    postcode: str | None = Field(None, max_length=10)
    x: float | None = Field(None, description="Easting, EPSG:27700 metres.")
    y: float | None = None
    lon: float | None = Field(None, ge=-9.0, le=2.5)
    lat: float | None = Field(None, ge=49.0, le=61.5)


class WhatifMove(BaseModel):
    """A facility that moves: its code and exactly one new location."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    code: str = Field(max_length=20)
    supply: float | None = Field(None, gt=0)
    postcode: str | None = Field(None, max_length=10)
    x: float | None = None
    y: float | None = None
    lon: float | None = Field(None, ge=-9.0, le=2.5)
    lat: float | None = Field(None, ge=49.0, le=61.5)


class WhatifParams(RunParams):
    """A what-if access scenario: close, open, move or resize facilities."""

    kind: Literal["whatif"]
    name: str = Field("scenario", max_length=100)
    close: list[Annotated[str, Field(max_length=20, strict=True)]] = Field(default_factory=list,
                                                              max_length=500)
    open: list[WhatifOpen] = Field(default_factory=list, max_length=100)
    move: list[WhatifMove] = Field(default_factory=list, max_length=100)
    supply: dict[str, Annotated[float, Field(gt=0, strict=True)]] = Field(default_factory=dict)
    straight_line: bool = Field(False, strict=True, description="Where the build has no road "
                                "network, give a straight-line estimate (labelled as such) "
                                "instead of failing.")

    def spec(self) -> dict[str, Any]:
        """Return the scenario mapping `services.whatif.run_whatif` takes."""
        return {"name": self.name, "close": list(self.close),
                "open": [o.model_dump(exclude_none=True) for o in self.open],
                "move": [m.model_dump(exclude_none=True) for m in self.move],
                "supply": dict(self.supply)}


@register("whatif", WhatifParams, "What if facilities open, close, move or change supply: "
          "per-LSOA change in access, residents crossing each travel-time threshold, and the "
          "access gap by deprivation before and after.")
def run_whatif_kind(frames: StoreFrames, params: dict[str, Any]) -> dict[str, Any]:
    """`services.whatif.run_whatif` on the build, without writing into it."""
    from healthgap.services.whatif import run_whatif

    p = WhatifParams(**params)
    frames.progress(0.05, "checking the scenario and routing the baseline")
    out = run_whatif(frames.store.path.parent, p.spec(), straight_line=p.straight_line,
                     write=False)
    return out.to_dict()
