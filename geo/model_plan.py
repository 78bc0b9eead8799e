"""What the build fits, on which columns, and the sample-size thresholds that decide it.

The science's choices live here, in geo/, so that ``services.analysis`` only orchestrates:
which life-expectancy columns are modelled, which determinants form the Shapley groups and the
regressors, how many areas each model needs, and when the O(n^2) models and GWR are left out.
SII thresholds (deciles from 40 areas, quintiles from 15) are in
:data:`geo.inequality.SII_MIN_AREAS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from healthgap.geo.columns import COLUMNS
from healthgap.geo.outcomes import OUTCOME_STATS

__all__ = ["PLAN", "ModelPlan"]


@dataclass(frozen=True)
class ModelPlan:
    """The build's model choices and thresholds (defaults are the published build's).

    Attributes
    ----------
    sexes
        Life-expectancy columns modelled, each needing ``min_values`` values.
    determinants
        Candidate determinant columns per County Health Rankings group (those present are
        used; the first present of each regressor tuple enters the spatial regression).
    regressors
        Regressors of the spatial regression: one per tuple, the first column present.
    max_dense
        Above this many in-area MSOAs the O(n^2) models (semivariogram, correlogram, travel
        time) and GWR are left out, the spatial models use the sparse LU path and only the
        first sex is regressed.
    min_values
        Fewest values a life-expectancy column needs to be modelled at all.
    extra_rows
        A regression needs more than ``len(x) + extra_rows`` complete rows.
    min_gwr, min_distance_models
        Fewest complete rows for GWR and for the distance models.
    min_in_area_statistics, min_cluster_stability
        Fewest in-area areas for the spatial statistics and for the cluster-stability check.
    stat_indicators
        Indicators tested for spatial autocorrelation, by level (those present are used).
    cliff_noise_group
        In a national build, the column whose groups (ICBs) each hold their own noise pool
        for the health cliffs (`geo.cliffs.BorderDifferences`).
    global_permutations
        Permutations behind the global statistics (Moran's I, Geary's C, Getis-Ord G,
        bivariate Moran). The local statistics take theirs from the build's
        ``--permutations`` option.
    correlogram_permutations
        Permutations behind each distance class of the Moran correlogram.
    """

    sexes: tuple[str, ...] = ("le_male", "le_female")
    determinants: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        "socioeconomic": ("income_score_rate_approx", "employment_score_rate_approx"),
        "built_environment": ("air_quality_ratio_sum", "housing_poor_condition_share",
                              "green_share"),
        "clinical_care": ("gp_time_min", "gp_road_distance_km", "hospital_time_min"),
        "behaviours": ("fast_food_per_1000", "off_licence_per_1000"),
    })
    regressors: tuple[tuple[str, ...], ...] = (("income_score_rate_approx",),
                                               ("air_quality_ratio_sum",),
                                               ("gp_time_min", "gp_road_distance_km"))
    max_dense: int = 2500
    min_values: int = 3
    extra_rows: int = 5
    min_gwr: int = 30
    min_distance_models: int = 12
    min_in_area_statistics: int = 8
    min_cluster_stability: int = 30
    cliff_noise_group: str = "system_code"
    global_permutations: int = 999
    correlogram_permutations: int = 99
    stat_indicators: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        "lsoa": ("imd_score", "gp_time_min"),
        # outcomes beyond life expectancy (SMRs, emergency admission ratios) at MSOA level
        "msoa": ("le_male", "le_female", "imd_score", *OUTCOME_STATS),
        "neighbourhood": (COLUMNS.of("le_male", "pwmean"), COLUMNS.of("le_female", "pwmean"),
                          "imd_score"),
    })

    def is_big(self, n_areas: int) -> bool:
        """Return whether ``n_areas`` in-area MSOAs call for the large-n settings."""
        return n_areas > self.max_dense

    def enough_rows(self, n_rows: int, n_x: int) -> bool:
        """Return whether ``n_rows`` complete rows suffice for a regression on ``n_x`` columns."""
        return n_rows > n_x + self.extra_rows

    def regressors_present(self, columns: Iterable[str]) -> list[str]:
        """Return the regressors: of each tuple, the first column present in ``columns``."""
        have = set(columns)
        return [next(c for c in alts if c in have) for alts in self.regressors
                if any(c in have for c in alts)]


PLAN = ModelPlan()
"""The plan the build uses."""
