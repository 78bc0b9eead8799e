"""The registry of run kinds: what a model rerun is, apart from the runner that runs it.

A *kind* is a function ``(frames, params) -> dict`` registered with a pydantic model of its
parameters. ``frames`` gives lazy access to one build's layers (`StoreFrames`); ``params`` is the
validated model dumped to a dict. The function calls geo/ and returns plain JSON values; it never
touches HTTP. A new kind joins with one entry: a module-level function decorated with
``@register(name, Params, description)``, where ``Params`` subclasses `RunParams` with
``kind: Literal[name]`` (the kinds healthgap ships are in `services.kinds`).

The registry imports neither the runner (`services.jobs`) nor any kind, so a kind's module (the
what-if scenario, `services.whatif`) can use it without an import circle, as pygeoapi keeps its
plugin registry apart from the server.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from healthgap.services.store import BuildStore
from pydantic import BaseModel, ConfigDict, model_validator

from healthgap.errors import ParameterError

Progress = Callable[[float, str], None]

#: Build parameters that name machine paths; left out of run ids and public manifests.
PATH_PARAMETERS = ("data_dir", "out_dir")


_NUMBERS = (int, float, int | None, float | None)


class RunParams(BaseModel):
    """Base of every kind's parameters: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """Refuse ``true``/``false`` for a number (pydantic would read them as 1 and 0)."""
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if isinstance(value, bool) and field is not None and \
                        field.annotation in _NUMBERS:
                    raise ValueError(f"{name}={str(value).lower()}: a number, not a boolean")
        return data

    def requires(self) -> dict[str, list[str]]:
        """Return ``{layer: [columns]}`` the run reads, checked before it is queued."""
        return {}

    def check_limits(self, *, max_permutations: int, max_repetitions: int) -> RunParams:
        """Return the parameters within the service's limits.

        A count the client gave above a limit raises `ParameterError`; a default above it is
        lowered to the limit (the OpenAPI document shows that default).
        """
        lowered: dict[str, int] = {}
        for name, limit in (("permutations", max_permutations),
                            ("repetitions", max_repetitions)):
            value = getattr(self, name, None)
            if isinstance(value, int) and value > limit:
                if name in self.model_fields_set:
                    raise ParameterError(f"{name}={value}: this service allows at most {limit}")
                lowered[name] = limit
        return self.model_copy(update=lowered) if lowered else self


RunFunction = Callable[["StoreFrames", dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """A registered run kind."""

    name: str
    function: RunFunction
    params: type[RunParams]
    description: str


KINDS: dict[str, Kind] = {}


def register(name: str, params: type[RunParams], description: str
             ) -> Callable[[RunFunction], RunFunction]:
    """Register a module-level function as run kind ``name`` (a decorator)."""
    def deco(fn: RunFunction) -> RunFunction:
        KINDS[name] = Kind(name, fn, params, description)
        return fn
    return deco


def get_kind(name: str) -> Kind:
    """Return a registered kind, or raise `ParameterError` naming the kinds there are."""
    if name not in KINDS:
        raise ParameterError(f"kind {name!r}: allowed {', '.join(sorted(KINDS))}")
    return KINDS[name]


class StoreFrames:
    """Lazy, cached access to one build's layers for a run.

    Parameters
    ----------
    path
        The build's GeoPackage.
    progress
        Called as ``progress(fraction, message)``.
    """

    def __init__(self, path: Path, progress: Progress | None = None) -> None:
        self.store = BuildStore(path)
        self._progress = progress
        self._cache: dict[str, pd.DataFrame] = {}

    def layer(self, name: str, *, index: str | None = None) -> pd.DataFrame:
        """Return a whole layer (read once), indexed by ``index`` when given."""
        if name not in self._cache:
            self._cache[name] = self.store.read_layer(name)
        frame = self._cache[name]
        return frame.set_index(index) if index and index in frame.columns else frame.copy()

    def progress(self, fraction: float, message: str) -> None:
        """Report progress (0 to 1) with a short message."""
        if self._progress is not None:
            self._progress(min(max(float(fraction), 0.0), 1.0), message)


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON values (NaN and infinities as None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return jsonable(value.reset_index().to_dict(orient="records")
                        if value.index.name else value.to_dict(orient="records"))
    if isinstance(value, pd.Series):
        return jsonable(value.to_dict())
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)
