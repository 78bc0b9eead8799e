"""The demo area's smooth random fields and LSOA attributes (deprivation, population)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from healthgap.data._demo_base import _CENTRE, _ENGLAND_LSOAS
from healthgap.data._demo_geometry import _Area, _density
from scipy.special import ndtr

# --------------------------------------------------------------------------------------------
# smooth random fields
# --------------------------------------------------------------------------------------------


class _Fields:
    """Smooth Gaussian random fields (random Fourier features), unit variance."""

    def __init__(self, rng: np.random.Generator, scale: float) -> None:
        self._specs = {}
        for name, length in (("deprivation", 4_000.0), ("life", 5_000.0), ("no2", 3_000.0)):
            k = 64
            w = rng.normal(0.0, 1.0 / (length * scale), size=(k, 2))
            b = rng.uniform(0.0, 2 * math.pi, size=k)
            self._specs[name] = (w, b)

    def __call__(self, name: str, xy: np.ndarray) -> np.ndarray:
        w, b = self._specs[name]
        xy = np.asarray(xy, dtype=float).reshape(-1, 2) - np.array(_CENTRE)
        return np.sqrt(2.0 / len(b)) * np.cos(xy @ w.T + b).sum(axis=1)

    def grid(self, name: str, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Evaluate on the grid ``ys`` (rows) x ``xs`` (columns), fast.

        Uses cos(a + b) = cos a cos b - sin a sin b, with ``a`` depending on the column only.
        """
        w, b = self._specs[name]
        ax = np.outer(np.asarray(xs, dtype=float) - _CENTRE[0], w[:, 0])
        by = np.outer(np.asarray(ys, dtype=float) - _CENTRE[1], w[:, 1]) + b
        total = np.cos(by) @ np.cos(ax).T - np.sin(by) @ np.sin(ax).T
        return np.sqrt(2.0 / len(b)) * total


# --------------------------------------------------------------------------------------------
# LSOA attributes: deprivation, domains, population, centroids, rural-urban class
# --------------------------------------------------------------------------------------------

_DOMAINS = ("income", "employment", "education", "health", "crime", "housing_and_access",
            "environment")
_SUBDOMAINS = ("children_and_young_people", "adult_skills", "geographical_barriers",
               "wider_barriers", "indoors", "outdoors")


@dataclass
class _LsoaAttrs:
    z: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    decile: np.ndarray
    dz: dict[str, np.ndarray]
    drank: dict[str, np.ndarray]
    ddecile: dict[str, np.ndarray]
    urban: np.ndarray
    town_km: np.ndarray
    pop2017: np.ndarray
    pop2015: np.ndarray
    pop_0_15: np.ndarray
    pop_16_59: np.ndarray
    pop_60: np.ndarray
    pop_wa: np.ndarray
    pw: np.ndarray          # population-weighted centroid proxy (n, 2) BNG
    n_postcodes: np.ndarray
    ruc: list[str]


def _national_rank(z: np.ndarray) -> np.ndarray:
    """Rank among England's 32,844 LSOAs for a deprivation z (standard normal nationally)."""
    return (1 + np.floor((_ENGLAND_LSOAS - 1) * (1.0 - ndtr(z)))).astype(int)


def _decile(rank: np.ndarray) -> np.ndarray:
    return np.clip(np.ceil(rank * 10 / _ENGLAND_LSOAS), 1, 10).astype(int)


def _lsoa_attributes(rng: np.random.Generator, area: _Area, fields: _Fields) -> _LsoaAttrs:
    s = area.scale
    xy = np.array([[c.centroid.x, c.centroid.y] for c in area.cells])
    da = np.hypot(xy[:, 0] - area.town_a[0], xy[:, 1] - area.town_a[1])
    db = np.hypot(xy[:, 0] - area.town_b[0], xy[:, 1] - area.town_b[1])
    core_a = 2.3 * np.exp(-da**2 / (2 * (1_600.0 * s) ** 2))
    suburb_a = -1.2 * np.exp(-(da - 3_600.0 * s) ** 2 / (2 * (1_100.0 * s) ** 2))
    core_b = 2.0 * np.exp(-db**2 / (2 * (1_300.0 * s) ** 2))
    n = area.n
    z = (-0.35 + core_a + suburb_a + core_b + 0.45 * fields("deprivation", xy)
         + rng.normal(0.0, 0.22, n))
    z = np.clip(z, -2.6, 2.55)  # keeps the score inside England's range (0.5-92.7)
    score = np.round(np.exp(2.868 + 0.647 * z), 3)
    rank = _national_rank(z)
    urban = np.clip(np.exp(-da**2 / (2 * (2_500.0 * s) ** 2))
                    + 0.7 * np.exp(-db**2 / (2 * (1_600.0 * s) ** 2)), 0.0, 1.0)
    town_km = np.minimum(da, db) / 1000.0 / s
    remote = town_km / 6.0 - 1.0

    def mix(base: np.ndarray, noise: float) -> np.ndarray:
        return base + rng.normal(0.0, noise, n)

    dz = {
        "income": mix(0.95 * z, 0.31),
        "employment": mix(0.92 * z, 0.39),
        "education": mix(0.85 * z, 0.5),
        "health": mix(0.85 * z, 0.5),
        "crime": mix(0.55 * z + 0.6 * urban - 0.2, 0.5),
        "housing_and_access": mix(0.25 * z + 1.0 * remote, 0.5),
        "environment": mix(0.35 * z + 1.2 * urban - 0.4, 0.5),
    }
    dz["children_and_young_people"] = mix(0.9 * dz["education"], 0.44)
    dz["adult_skills"] = mix(0.9 * dz["education"], 0.44)
    dz["geographical_barriers"] = mix(1.6 * remote, 0.4)
    dz["wider_barriers"] = mix(0.5 * z + 0.8 * urban - 0.3, 0.4)
    dz["indoors"] = mix(0.4 * z + 0.5 * (1 - urban), 0.6)
    dz["outdoors"] = mix(0.3 * z + 1.5 * urban - 0.5, 0.5)
    drank = {k: _national_rank(v) for k, v in dz.items()}
    ddecile = {k: _decile(v) for k, v in drank.items()}

    pop2017 = np.clip(np.round(1_550 + rng.normal(0, 330, n) + 250 * urban + 60 * z),
                      1_000, 3_000).astype(int)
    pop2015 = np.round(pop2017 * rng.uniform(0.955, 0.995, n)).astype(int)
    child_share = np.clip(0.18 + 0.025 * z + rng.normal(0, 0.02, n), 0.08, 0.32)
    old_share = np.clip(0.24 - 0.05 * urban - 0.02 * z + 0.03 * np.clip(remote, 0, 2)
                        + rng.normal(0, 0.03, n), 0.06, 0.45)
    pop_0_15 = np.round(pop2015 * child_share).astype(int)
    pop_60 = np.round(pop2015 * old_share).astype(int)
    pop_16_59 = pop2015 - pop_0_15 - pop_60
    pop_wa = np.round(pop_16_59 * 0.955 + pop_60 * 0.11).astype(int)

    pw = np.empty((n, 2))
    for i, cell in enumerate(area.cells):
        minx, miny, maxx, maxy = cell.bounds
        cand = rng.uniform([minx, miny], [maxx, maxy], size=(96, 2))
        cand = cand[shapely.contains_xy(cell, cand[:, 0], cand[:, 1])]
        if len(cand) >= 3:
            w = _density(cand, area.town_a, area.town_b, s) ** 2
            p = (cand * w[:, None]).sum(axis=0) / w.sum()
            if shapely.contains_xy(cell, p[0], p[1]):
                pw[i] = p
                continue
        rp = cell.representative_point()
        pw[i] = (rp.x, rp.y)
    pw = np.round(pw, 1)
    n_postcodes = np.maximum(5, np.round(pop2017 / 38 + rng.normal(0, 5, n))).astype(int)

    area_km2 = np.array([c.area for c in area.cells]) / 1e6
    ruc = ["C1" if (u > 0.25 or a < 1.2) else ("D1" if a < 6.0 else "E1")
           for u, a in zip(urban, area_km2, strict=True)]
    return _LsoaAttrs(z=z, score=score, rank=rank, decile=_decile(rank), dz=dz, drank=drank,
                      ddecile=ddecile, urban=urban, town_km=town_km, pop2017=pop2017,
                      pop2015=pop2015, pop_0_15=pop_0_15, pop_16_59=pop_16_59, pop_60=pop_60,
                      pop_wa=pop_wa, pw=pw, n_postcodes=n_postcodes, ruc=ruc)


_RUC_LABELS = {"C1": ("Urban", "Urban city and town"), "D1": ("Rural", "Rural town and fringe"),
               "E1": ("Rural", "Rural village")}
