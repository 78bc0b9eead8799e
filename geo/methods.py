"""The methods note: how each published figure is computed, in words the atlas can render.

`METHODS` maps a topic to one paragraph of plain text (no markup). The atlas (services/) renders
it; tests keep the numbers quoted here equal to what the code computes on Frimley.
"""

from __future__ import annotations

__all__ = ["METHODS"]

METHODS: dict[str, str] = {
    "sii": (
        "Slope index of inequality (SII) and relative index (RII). MSOAs are put into "
        "population-weighted deprivation quantiles by IMD 2019 score (deciles from 40 MSOAs, "
        "quintiles from 15; fewer and no index is given). Each quantile's life expectancy is "
        "the population-weighted mean of its MSOAs, placed at the mid-point of its cumulative "
        "population rank (0 = most deprived, 1 = least); life expectancy is regressed on rank "
        "with population weights (the square-root transform of PHE's phe_sii). The SII is the "
        "slope: the gap in years between the least and most deprived ends of the fitted line. "
        "The RII follows PHE (phe_sii with rii = TRUE): the fitted value at the least deprived "
        "end divided by the fitted value at the most deprived end, (intercept + SII) / "
        "intercept. The form SII / mean (Kunst and Mackenbach) is kept as sii_over_mean. "
        "Intervals (95%) come from 20,000 Monte Carlo draws of every quantile's value from a "
        "normal distribution with its standard error, refitted each time with a fixed seed. "
        "The published MSOA life expectancy carries no interval, so a quantile's standard "
        "error comes from the spread of MSOA values around their quantile means pooled over "
        "all quantiles (n - Q degrees of freedom), scaled by the quantile's population "
        "weights; it never rests on the two to four MSOAs of one quantile, so a quantile whose "
        "MSOAs happen to share a value does not get an interval of zero width. The gap is the "
        "least minus the most deprived quantile's value, with its interval from the same draws."
    ),
    "cliffs": (
        "Health cliffs. For every pair of MSOAs that share a border inside the area, the "
        "difference in life expectancy in years (not years per mile: dividing by the distance "
        "between centres mostly ranks how close the centres are). Each difference is compared "
        "with a noise model: the differences between MSOAs of the same area that do not touch "
        "but differ in deprivation by a similar amount (five equal-count bins of the "
        "deprivation difference; over 200,000 such pairs, a seeded random sample). noise_p is "
        "the share of those pairs at least as far apart; a border exceeds noise when its "
        "difference is above their 95th percentile, so about 5% of borders would be flagged "
        "if there were no cliffs at all. In a national build the pool is each ICB's own "
        "pairs (the two ICBs' together for a border between them), so a border is judged "
        "against the spread of its own system rather than England's. The build reports the "
        "Spearman correlation of the ranking with 1 / distance, to show it is not an artefact "
        "of distance."
    ),
    "years_per_mile": (
        "Years per mile is given only at system scale and with an interval: a population-"
        "weighted least-squares transect of MSOA life expectancy along the line from the "
        "highest to the lowest MSOA (MSOAs within 2 km of the line), with the slope's 95% "
        "confidence interval."
    ),
    "frimley_one_year_per_mile": (
        "Frimley's 'one year of life expectancy for every mile' claim, on this data (MSOA life "
        "expectancy 2015-19). Between neighbours it looks true only because of distance: the "
        "median over adjacent MSOAs is 1.30 years per mile for men and 1.34 for women, but that "
        "gradient correlates with 1 / distance (Spearman 0.62 and 0.53) while the difference in "
        "years barely does (0.14 and 0.07); 14 and 16 of 219 borders (6% and 7%) exceed the "
        "noise model, against 11 expected by chance. At system scale the male transect between "
        "the extremes (11.1 years apart, 8.2 miles) falls 1.06 years per mile (95% CI 0.14 to "
        "1.98, 9 MSOAs): consistent with the claim but loosely determined. The female transect "
        "(12.7 years apart, 18.9 miles) falls 0.16 years per mile (95% CI -0.05 to 0.38, 21 "
        "MSOAs): for women the claim does not hold."
    ),
    "gi_star": (
        "Hot spots (Getis-Ord Gi*) use their own weights: a fixed distance band that includes "
        "the area itself, set to the median distance from an area to its eighth nearest "
        "neighbour, as hot-spot practice does. Under the contiguity weights of the LISA map "
        "and the same permutations Gi* flags exactly the same areas as LISA, so the Gi* map "
        "would add nothing; on its band it shows where high or low values concentrate at a "
        "wider scale."
    ),
    "p_values": (
        "p-values. In stats_global, p_value is the analytical two-sided normal p-value (under "
        "randomisation for Moran's I and Geary's C, normality for General G) except for the "
        "bivariate Moran, which has no analytical variance and reports its permutation value; "
        "p_value_sides says which. p_sim is the one-sided folded permutation value of esda and "
        "GeoDa (the tail the observed value lies in), p_sim_two_sided the two-sided one. Local "
        "statistics use the folded value with a false discovery rate correction over the "
        "areas of the study area."
    ),
    "edge_ring": (
        "Edge ring. The MSOAs and LSOAs just outside the area are read so that areas at the "
        "border have their real neighbours. Local statistics (LISA, Gi*) use the ring as "
        "neighbours but report, and correct for multiple testing over, only the areas inside. "
        "Global statistics (Moran's I, Geary's C, General G) describe the area itself: the "
        "weights are cut to the areas inside and standardised again, so ring values do not "
        "enter the area's summary; a global statistic over the ring as well would describe a "
        "different, larger region. The two treatments therefore differ on purpose, and the "
        "number of ring areas left out is stored with each global statistic (edge_ring)."
    ),
    "spatial_models": (
        "Spatial lag and error models are fitted by maximum likelihood as spreg's ML_Lag and "
        "ML_Error. Above 2,500 MSOAs the log-determinant uses a sparse LU factor, and the "
        "variance and impact traces are exact sums over one dense LAPACK inverse instead of "
        "spreg's sparse inverse and matrix products; the results equal spreg's to 1e-6."
    ),
}
"""Methods note, one plain-text paragraph per topic."""
