"""Typed results the build's stages hand on: what each local statistic was computed with.

The statistics stage returns a :class:`StatisticsResults` beside its JSON results; the atlas
reads the permutation count and the spatial weights of each cluster map from it, not from key
paths of the manifest. The manifest keeps the same facts, in full, under
``results.statistics`` (``lisa_<level>_<indicator>``, ``weights_<level>_<indicator>``,
``gi_weights_<level>_<indicator>``), as it always has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from healthgap.errors import ParameterError

__all__ = ["LocalRun", "StatisticsResults", "WeightsUsed"]


@dataclass(frozen=True)
class WeightsUsed:
    """The spatial weights a statistic was computed on.

    Attributes
    ----------
    kind
        ``queen``, ``rook``, ``knn``, ``distance_band`` or ``kernel``.
    transform
        The transformation the statistic applied (``r`` row-standardised, ``b`` binary...).
    k
        Neighbours of a ``knn`` graph.
    threshold_m
        Distance band in metres.
    points
        Which points distances were measured between (population-weighted centres or polygon
        centroids), for point-based kinds.
    self_included
        Whether each area counts as its own neighbour (Gi*).
    """

    kind: str
    transform: str
    k: int | None = None
    threshold_m: float | None = None
    points: str | None = None
    self_included: bool = False

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any], *, transform: str | None = None,
                     self_included: bool = False) -> WeightsUsed:
        """Read the weights from `geo.weights.WeightsResult.summary` (as the manifest holds it).

        ``transform`` is the one the statistic applied when it differs from the graph's own
        (Gi* reads the binary structure of its distance band).
        """
        params = summary.get("params", {})
        if "kind" not in summary:
            raise ParameterError(f"weights summary without 'kind': {sorted(summary)}")
        threshold = summary.get("threshold_m", params.get("threshold"))
        return cls(kind=str(summary["kind"]),
                   transform=str(transform or params.get("transform", "r")).lower(),
                   k=None if params.get("k") is None else int(params["k"]),
                   threshold_m=None if threshold is None else float(threshold),
                   points=params.get("points"), self_included=self_included)


@dataclass(frozen=True)
class LocalRun:
    """One indicator's local statistics at one level: LISA and Gi*, with what they used."""

    level: str
    indicator: str
    permutations: int
    weights: WeightsUsed
    gi_permutations: int
    gi_weights: WeightsUsed


@dataclass(frozen=True)
class StatisticsResults:
    """What the statistics stage computed, typed for the stages after it.

    Attributes
    ----------
    local
        One :class:`LocalRun` per (level, indicator) tested.
    global_permutations
        Permutations behind the global statistics' pseudo p-values.
    """

    local: tuple[LocalRun, ...] = ()
    global_permutations: int = 0
    _index: dict[tuple[str, str], LocalRun] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {(r.level, r.indicator): r for r in self.local})

    def find(self, level: str, indicator: str) -> LocalRun | None:
        """Return the local run of ``indicator`` at ``level``, or None if it was not tested."""
        return self._index.get((level, indicator))
