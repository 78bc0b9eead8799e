"""Health cliffs: the life-expectancy difference across every shared border.

Frames are indexed by area code and carry population-weighted centres in British National Grid
metres (``pw_x``, ``pw_y``). Missing life expectancy is never filled: rows are left out and
counted in each ``report_``.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from healthgap.geo import BNG
from healthgap.geo._models import (
    MILE_KM,
    FittedModel,
    centres,
    numeric_column,
    variance_from_ci,
)
from libpysal.graph import Graph

from healthgap.errors import InputError, ParameterError, UnknownAreaError, preview

logger = logging.getLogger(__name__)

__all__ = ["NeighbourGradients"]


def _graph_pairs(graph: Graph, codes: pd.Index) -> tuple[pd.DataFrame, list[str]]:
    """Return each unordered pair of neighbours once, and the isolates of the graph."""
    if not isinstance(graph, Graph):
        raise InputError(f"graph: expected libpysal.graph.Graph, got {type(graph).__name__}")
    adj = graph.adjacency
    focal = adj.index.get_level_values(0).astype(str)
    neigh = adj.index.get_level_values(1).astype(str)
    unknown = pd.Index(np.union1d(focal, neigh)).difference(codes.astype(str))
    if len(unknown):
        raise UnknownAreaError(
            f"graph: {len(unknown)} code(s) are not in the frame's index: {preview(unknown)}"
        )
    keep = (focal != neigh) & (adj.to_numpy() != 0)
    a = np.where(focal < neigh, focal, neigh)[keep]
    b = np.where(focal < neigh, neigh, focal)[keep]
    pairs = pd.DataFrame({"code_a": a, "code_b": b}).drop_duplicates(ignore_index=True)
    return pairs, [str(c) for c in graph.isolates]


# --------------------------------------------------------------------------- health cliffs


class NeighbourGradients(FittedModel):
    """Life-expectancy gradient across every pair of adjacent neighbourhoods ("health cliffs").

    For each unordered pair of neighbours in the graph, the absolute difference in life
    expectancy is divided by the distance between the two population-weighted centres.

    Parameters
    ----------
    value
        Column holding life expectancy (years).
    centre_x, centre_y
        Columns holding the population-weighted centres (EPSG:27700 metres).
    in_area
        Optional boolean column marking areas inside the study area. When given and present in
        the frame, pairs that touch an edge-ring area (``False``) are left out and counted.
    lci, uci
        Optional columns with each area's 95 % interval. Published small-area life expectancy
        is noisy, and the absolute difference of two noisy estimates is positive even when the
        true difference is zero; with intervals, each pair also gets ``se_diff`` =
        sqrt(se_a^2 + se_b^2), ``z`` = (le_a - le_b) / se_diff and ``significant`` (|z| > 1.96),
        and ``summary_`` gives the gradient expected from noise alone,
        sqrt(2/pi) * se_diff / distance, as ``median_noise_years_per_mile``. An area with a
        value but no interval is then left out like a missing value.

    Attributes
    ----------
    pairs_ : geopandas.GeoDataFrame
        One row per pair, steepest first: ``code_a, code_b, le_a, le_b, abs_diff, distance_km,
        distance_miles, years_per_km, years_per_mile`` and a LineString between the centres.
    report_ : dict
        Pairs in the graph, pairs kept, pairs left out for a missing value (and the codes),
        pairs touching the edge ring, pairs with coincident centres, and isolates.
    """

    _results = ("report_", "summary_")
    _packages = ("libpysal", "geopandas", "shapely")

    def __init__(
        self,
        *,
        value: str = "le",
        centre_x: str = "pw_x",
        centre_y: str = "pw_y",
        in_area: str | None = "in_area",
        lci: str | None = None,
        uci: str | None = None,
    ) -> None:
        if (lci is None) != (uci is None):
            raise ParameterError("lci= and uci= must be given together")
        self.value = value
        self.centre_x = centre_x
        self.centre_y = centre_y
        self.in_area = in_area
        self.lci = lci
        self.uci = uci
        self._params = {
            "value": value,
            "centre_x": centre_x,
            "centre_y": centre_y,
            "in_area": in_area,
            "lci": lci,
            "uci": uci,
        }

    def fit(self, frame: pd.DataFrame, graph: Graph) -> NeighbourGradients:
        """Compute the gradient of every adjacent pair.

        Parameters
        ----------
        frame
            Areas indexed by code, with the value and centre columns.
        graph
            Contiguity graph indexed by the same codes.

        Returns
        -------
        NeighbourGradients
            ``self``, fitted.
        """
        name = "NeighbourGradients frame"
        xy = centres(frame, self.centre_x, self.centre_y, name=name)
        le = numeric_column(frame, self.value, name=name)
        codes = frame.index.astype(str)
        pairs, isolates = _graph_pairs(graph, pd.Index(codes))
        n_graph_pairs = len(pairs)
        pos = pd.Series(np.arange(len(codes)), index=codes)
        ia = pos.loc[pairs["code_a"]].to_numpy()
        ib = pos.loc[pairs["code_b"]].to_numpy()

        keep = np.ones(len(pairs), dtype=bool)
        n_edge = 0
        if self.in_area is not None and self.in_area in frame.columns:
            inside = frame[self.in_area].fillna(False).astype(bool).to_numpy()
            edge = ~(inside[ia] & inside[ib])
            n_edge = int(edge.sum())
            keep &= ~edge
        values = le.to_numpy()
        if self.lci is not None and self.uci is not None:
            var = variance_from_ci(numeric_column(frame, self.lci, name=name),
                                   numeric_column(frame, self.uci, name=name)).to_numpy()
            values = np.where(np.isnan(var), np.nan, values)  # no interval: treated as missing
        else:
            var = None
        missing = np.isnan(values[ia]) | np.isnan(values[ib])
        missing_pairs = keep & missing
        missing_codes = sorted(
            {codes[i] for i in np.concatenate([ia[missing_pairs], ib[missing_pairs]])
             if np.isnan(values[i])}
        )
        keep &= ~missing
        dist_km = np.hypot(*(xy[ia] - xy[ib]).T) / 1000.0
        zero = keep & (dist_km <= 0)
        keep &= ~zero

        ia, ib = ia[keep], ib[keep]
        d_km = dist_km[keep]
        diff = np.abs(values[ia] - values[ib])
        lines = shapely.linestrings(
            np.stack([xy[ia], xy[ib]], axis=1)
        ) if len(ia) else np.array([], dtype=object)
        out = gpd.GeoDataFrame(
            {
                "code_a": codes[ia],
                "code_b": codes[ib],
                "le_a": values[ia],
                "le_b": values[ib],
                "abs_diff": diff,
                "distance_km": d_km,
                "distance_miles": d_km / MILE_KM,
                "years_per_km": diff / d_km,
                "years_per_mile": diff / d_km * MILE_KM,
            },
            geometry=gpd.GeoSeries(lines, crs=BNG),
            crs=BNG,
        )
        if var is not None:
            se_diff = np.sqrt(var[ia] + var[ib])
            out["se_diff"] = se_diff
            out["z"] = (values[ia] - values[ib]) / se_diff
            out["significant"] = np.abs(out["z"]) > 1.959963984540054
            out["noise_years_per_mile"] = np.sqrt(2.0 / np.pi) * se_diff / d_km * MILE_KM
        out = out.sort_values(
            ["years_per_mile", "code_a", "code_b"], ascending=[False, True, True],
            kind="mergesort",
        ).reset_index(drop=True)
        self.pairs_ = out
        self.report_ = {
            "value": self.value,
            "n_areas": int(len(codes)),
            "n_areas_missing_value": int(np.isnan(values).sum()),
            "n_pairs_in_graph": int(n_graph_pairs),
            "n_pairs": int(len(out)),
            "n_pairs_missing_value": int(missing_pairs.sum()),
            "missing_value_codes": missing_codes,
            "n_pairs_edge_ring": n_edge,
            "n_pairs_zero_distance": int(zero.sum()),
            "isolates": isolates,
        }
        g = out["years_per_mile"]
        self.summary_ = {
            "median_years_per_mile": float(g.median()) if len(g) else float("nan"),
            "p90_years_per_mile": float(g.quantile(0.9)) if len(g) else float("nan"),
            "max_years_per_mile": float(g.max()) if len(g) else float("nan"),
            "median_distance_km": float(out["distance_km"].median()) if len(g) else float("nan"),
        }
        if var is not None and len(g):
            self.summary_["share_significant"] = float(out["significant"].mean())
            self.summary_["median_noise_years_per_mile"] = float(
                out["noise_years_per_mile"].median()
            )
        if missing_pairs.any():
            logger.info(
                "%d neighbour pair(s) left out: missing %s in %s",
                int(missing_pairs.sum()), self.value, preview(missing_codes),
            )
        return self

    def share_at_least(self, years_per_mile: float) -> float:
        """Share of kept pairs whose gradient is at least ``years_per_mile``."""
        self._check_fitted()
        g = self.pairs_["years_per_mile"]
        return float((g >= years_per_mile).mean()) if len(g) else float("nan")
