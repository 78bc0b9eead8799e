"""Distance-decay functions: how much a facility counts as travel cost grows.

Every function takes a cost ``t`` (minutes or metres: the functions do not know, so keep units
consistent) as a scalar or array and returns weights of the same shape, vectorised with numpy.
Weights are 1 at zero cost for every function except ``power``, which is unbounded near zero and
therefore takes a floor ``t_min``. Negative or NaN costs give NaN weights: a cost that is missing
stays missing.

=============  ============================================  ==================================
name           weight                                        parameters
=============  ============================================  ==================================
exponential    ``exp(-beta * t)``                            ``beta > 0``
gaussian       ``exp(-t**2 / (2 * sigma**2))``               ``sigma > 0``
power          ``max(t, t_min) ** -beta``                    ``beta > 0``, ``t_min > 0``
linear         ``max(0, 1 - t / threshold)``                 ``threshold > 0``
step           weight of the first band with ``t <= upper``  ``steps``: {upper: weight}
=============  ============================================  ==================================

:func:`decay_function` builds one of them by name with its parameters checked, which is how the
access measures in :mod:`geo.access` take their decay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from healthgap.geo._validation import number_above_zero
from numpy.typing import ArrayLike, NDArray

from healthgap.errors import ParameterError

DecayFunction = Callable[[ArrayLike], Any]
"""A vectorised weight function: cost(s) in, weight(s) of the same shape out."""

DECAYS = ("exponential", "gaussian", "power", "linear", "step")
"""The names :func:`decay_function` accepts."""


def _positive(name: str, value: float, function: str) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number above zero."""
    return number_above_zero(
        value, f"{function}: parameter {name!r} must be a number > 0, got {value!r}"
    )


def _costs(t: ArrayLike) -> NDArray[np.float64]:
    """Return costs as a float array with negative values replaced by NaN."""
    arr = np.asarray(t, dtype=float)
    return np.where(arr < 0, np.nan, arr)


def _out(weights: NDArray[np.float64], t: ArrayLike) -> Any:
    """Return a Python float for scalar input, else the array."""
    return float(weights) if np.ndim(t) == 0 else weights


def _weigh(t: ArrayLike, weight: Callable[[NDArray[np.float64]], NDArray[np.float64]]) -> Any:
    """Return ``weight`` of the costs ``t`` (negative ones NaN), a float for a scalar ``t``."""
    return _out(weight(_costs(t)), t)


def exponential(t: ArrayLike, *, beta: float) -> Any:
    """Return ``exp(-beta * t)``.

    Parameters
    ----------
    t
        Travel cost(s), >= 0.
    beta
        Decay rate per unit of cost, > 0. The weight halves every ``ln 2 / beta`` units.

    Returns
    -------
    float or numpy.ndarray
        Weights in (0, 1]; NaN where ``t`` is NaN or negative.
    """
    b = _positive("beta", beta, "exponential")
    return _weigh(t, lambda costs: np.exp(-b * costs))


def gaussian(t: ArrayLike, *, sigma: float) -> Any:
    """Return ``exp(-t**2 / (2 * sigma**2))`` (unnormalised, so the weight at 0 is 1).

    Parameters
    ----------
    t
        Travel cost(s), >= 0.
    sigma
        Width, > 0, in the units of ``t``. The weight is 0.607 at ``t = sigma``.

    Returns
    -------
    float or numpy.ndarray
        Weights in (0, 1]; NaN where ``t`` is NaN or negative.
    """
    s = _positive("sigma", sigma, "gaussian")
    return _weigh(t, lambda costs: np.exp(-(costs**2) / (2.0 * s**2)))


def power(t: ArrayLike, *, beta: float, t_min: float = 1.0) -> Any:
    """Return the inverse power ``max(t, t_min) ** -beta`` (the classic gravity decay).

    Parameters
    ----------
    t
        Travel cost(s), >= 0.
    beta
        Exponent, > 0 (the weight is ``t ** -beta``, so pass 2 for inverse-square).
    t_min
        Floor on the cost, > 0, so that a facility at zero cost does not get infinite weight.
        With the default 1 the weight is at most 1.

    Returns
    -------
    float or numpy.ndarray
        Weights in (0, t_min ** -beta]; NaN where ``t`` is NaN or negative.
    """
    b = _positive("beta", beta, "power")
    floor = _positive("t_min", t_min, "power")
    return _weigh(t, lambda costs: np.power(np.maximum(costs, floor), -b))


def linear(t: ArrayLike, *, threshold: float) -> Any:
    """Return ``max(0, 1 - t / threshold)``: 1 at zero cost, falling linearly to 0 at the threshold.

    Parameters
    ----------
    t
        Travel cost(s), >= 0.
    threshold
        Cost at which the weight reaches zero, > 0.

    Returns
    -------
    float or numpy.ndarray
        Weights in [0, 1]; NaN where ``t`` is NaN or negative.
    """
    d0 = _positive("threshold", threshold, "linear")
    return _weigh(t, lambda costs: np.clip(1.0 - costs / d0, 0.0, None))


def _check_steps(steps: Mapping[float, float]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the sorted upper bounds and weights of a step decay, or raise."""
    if not isinstance(steps, Mapping) or not steps:
        raise ParameterError(
            f"step: parameter 'steps' must be a non-empty mapping of upper bound -> weight, "
            f"got {steps!r}"
        )
    items = sorted((float(k), float(v)) for k, v in steps.items())
    uppers = np.array([k for k, _ in items])
    weights = np.array([v for _, v in items])
    if not np.all(np.isfinite(uppers)) or np.any(uppers <= 0):
        raise ParameterError(f"step: every upper bound in 'steps' must be > 0, got {list(uppers)}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or np.any(weights > 1):
        raise ParameterError(
            f"step: every weight in 'steps' must be in [0, 1], got {list(weights)}"
        )
    return uppers, weights


def step(t: ArrayLike, *, steps: Mapping[float, float]) -> Any:
    """Return the weight of the first band whose upper bound is >= ``t``; 0 beyond the last.

    Parameters
    ----------
    t
        Travel cost(s), >= 0.
    steps
        Upper bound -> weight, e.g. ``{10: 1.0, 20: 0.68, 30: 0.22}`` (Luo & Qi 2009). Bounds > 0,
        weights in [0, 1]. A cost equal to a bound belongs to that bound's band.

    Returns
    -------
    float or numpy.ndarray
        Weights; NaN where ``t`` is NaN or negative.
    """
    uppers, weights = _check_steps(steps)
    arr = _costs(t)
    band = np.searchsorted(uppers, arr, side="left")
    padded = np.append(weights, 0.0)
    out = padded[np.clip(band, 0, len(weights))]
    out = np.where(np.isnan(arr), np.nan, out)
    return _out(out, t)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "exponential": exponential,
    "gaussian": gaussian,
    "power": power,
    "linear": linear,
    "step": step,
}
_PARAMETERS: dict[str, tuple[set[str], set[str]]] = {
    # name: (required, optional)
    "exponential": ({"beta"}, set()),
    "gaussian": ({"sigma"}, set()),
    "power": ({"beta"}, {"t_min"}),
    "linear": ({"threshold"}, set()),
    "step": ({"steps"}, set()),
}


def decay_function(name: str, **params: Any) -> DecayFunction:
    """Return the named decay with its parameters bound and checked.

    Parameters
    ----------
    name
        One of :data:`DECAYS`.
    **params
        The parameters of that function (see the module table), e.g. ``sigma=10``.

    Returns
    -------
    callable
        ``f(t)`` giving weights for scalar or array costs.

    Raises
    ------
    ParameterError
        If the name is unknown, a parameter is missing or unexpected, or a value is out of range.
    """
    if name not in _FUNCTIONS:
        raise ParameterError(f"decay: unknown function {name!r}; allowed: {', '.join(DECAYS)}")
    required, optional = _PARAMETERS[name]
    missing = required - params.keys()
    extra = params.keys() - required - optional
    if missing:
        raise ParameterError(f"decay {name!r}: missing parameter(s) {sorted(missing)}")
    if extra:
        raise ParameterError(
            f"decay {name!r}: unexpected parameter(s) {sorted(extra)}; "
            f"allowed: {sorted(required | optional)}"
        )
    function = _FUNCTIONS[name]
    function(0.0, **params)  # validates the parameters now rather than at first use

    def weight(t: ArrayLike) -> Any:
        return function(t, **params)

    weight.__name__ = f"{name}_decay"
    weight.__doc__ = f"{name} decay with {params}."
    return weight
