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
        "with population weights (the regression of PHE's phe_sii, applied to MSOA values, "
        "not PHE's life tables). The SII is the slope: the gap in years between the least and "
        "most deprived ends of the fitted line. The RII follows PHE (phe_sii with rii = TRUE): "
        "the fitted value at the least deprived end divided by the fitted value at the most "
        "deprived end, (intercept + SII) / intercept. The form SII / mean (Kunst and "
        "Mackenbach) is kept as sii_over_mean. The 95% interval (sii_lo, sii_hi) is a spatial "
        "block bootstrap: the MSOAs are cut into contiguous tiles of about equal count (about "
        "the square root of their number, at least 8; local authorities without centres), whole "
        "tiles are drawn with replacement 999 times, the tenths are formed again from the "
        "MSOAs drawn and the SII refitted, so the interval covers the MSOAs' spatial "
        "dependence and where the cuts between tenths fall. On simulated areas with spatially "
        "dependent values it covered the true SII 93-94% of the time where the older interval "
        "covered it about half the time. That older interval is kept, labelled, as "
        "sii_pooled_lo / sii_pooled_hi: 20,000 Monte Carlo draws of every quantile's value "
        "with a standard error from the spread of MSOA values around their quantile means "
        "pooled over all quantiles, treating MSOAs as independent. "
        "The SII on an area's own tenths measures the gap across the deprivation the area "
        "holds: an area spanning half of England's IMD range has a smaller SII than England "
        "even if life expectancy falls just as steeply with deprivation, so the SII alone "
        "cannot rank areas. The comparison with England is made on the fall in life "
        "expectancy per 10 IMD points (population-weighted least squares over the MSOAs) for "
        "the area and for England's MSOAs within the area's own IMD range, with the 95% "
        "interval of their difference; the area is called steeper or less steep than England "
        "only when that interval excludes zero."
    ),
    "cliffs": (
        "Health cliffs. For every pair of MSOAs that share a border inside the area, the "
        "difference in life expectancy in years (not years per mile: dividing by the distance "
        "between centres mostly ranks how close the centres are). Life expectancy is first "
        "adjusted for deprivation (a least-squares line on IMD score), and each border's "
        "residual difference is compared with the spread of the residual differences across "
        "all the area's borders: a Student t whose shape matches the ratio of their 90th to "
        "50th percentile and whose scale matches their median, so a minority of true cliffs "
        "barely widens it (an empirical null, Efron 2004). A border is a cliff only when its "
        "p-value passes the Benjamini-Hochberg false discovery rate of 5% across all the "
        "borders of the area; the page states how many pass, and how many have an unadjusted "
        "p below 0.05 against the number chance alone would give (5% of the borders). In "
        "simulations with no cliffs at all, 0-3% of datasets had any false cliff with normal "
        "noise (up to about 15% with heavy-tailed noise, where the rate is approximate); "
        "three planted 8-year cliffs were found about half the time with almost no false "
        "ones. The older noise model (noise_p, exceeds_noise: the share of non-adjacent pairs "
        "of similar deprivation at least as far apart) is kept for reference; its smallest "
        "possible p-value, about 0.0014 in Frimley, is above the false discovery rate's first "
        "cut for 219 borders, so it cannot name a cliff. In a national build the pool is each "
        "ICB's own borders (the two ICBs' together for a border between them)."
    ),
    "years_per_mile": (
        "Years per mile. Between neighbours it is given only beside its caveat (it mostly "
        "ranks how close two centres are). The test of whether life expectancy changes with "
        "distance uses every pair of MSOAs of the area whose centres are within 10 miles: the "
        "absolute difference in life expectancy is regressed on the distance between the "
        "centres, and the slope (extra years of difference per mile of separation) is "
        "compared with the slopes obtained by shuffling the same values over the same places "
        "(999 permutations, locations fixed), with a 95% interval from a spatial block "
        "bootstrap. The transect between the highest and the lowest MSOA used before chose its "
        "endpoints by their values and so found a slope even in shuffled data (26% of "
        "shuffles as steep); it is no longer quoted."
    ),
    "frimley_one_year_per_mile": (
        "Frimley's 'one year of life expectancy for every mile' claim, on this data (MSOA life "
        "expectancy 2015-19). Between neighbours it looks true only because of distance: the "
        "median over adjacent MSOAs is 1.30 years per mile for men and 1.34 for women, but that "
        "gradient correlates with 1 / distance (Spearman 0.62 and 0.53) while the difference in "
        "years barely does (0.14 and 0.07). No border passes the 5% false discovery rate for "
        "either sex (8 and 18 of 219 borders have an unadjusted p below 0.05, against 11 "
        "expected by chance). Over all 2,115 pairs of MSOAs within 10 miles, the difference "
        "in life expectancy does not grow with distance: 0.00 years per mile for men (95% "
        "interval -0.07 to 0.11, permutation p = 0.47) and -0.07 for women (-0.14 to 0.05, "
        "p = 0.99); two MSOAs are on average about 2.6 years apart (men) whether they are one mile "
        "or ten apart. The data rule out one year of life expectancy per mile as a rate of "
        "change with distance; what is true is that neighbouring MSOAs can differ by several "
        "years, about as much as MSOAs far apart."
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
