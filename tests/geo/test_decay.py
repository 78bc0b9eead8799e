"""Decay functions against their formulas and against pysal ``access.weights``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from access import weights as access_weights
from healthgap.geo import decay

from healthgap.errors import ParameterError

T = np.array([0.0, 0.5, 1.0, 5.0, 10.0, 12.5, 20.0, 30.0, 45.0, 90.0])


def test_exponential_formula():
    got = decay.exponential(T, beta=0.1)
    want = np.array([math.exp(-0.1 * t) for t in T])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # halves every ln2/beta
    assert decay.exponential(math.log(2) / 0.1, beta=0.1) == pytest.approx(0.5, rel=1e-12)


def test_gaussian_formula_and_access_package():
    got = decay.gaussian(T, sigma=10.0)
    want = np.array([math.exp(-(t**2) / (2 * 10.0**2)) for t in T])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    ref = access_weights.gaussian(10.0)
    np.testing.assert_allclose(got, [ref(t) for t in T], rtol=1e-12)
    assert decay.gaussian(10.0, sigma=10.0) == pytest.approx(0.6065306597126334, rel=1e-12)


def test_power_formula_and_access_gravity():
    got = decay.power(T, beta=1.5, t_min=1.0)
    want = np.array([max(t, 1.0) ** -1.5 for t in T])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    ref = access_weights.gravity(scale=1.0, alpha=-1.5, min_dist=1.0)
    np.testing.assert_allclose(got, [ref(t) for t in T], rtol=1e-12)
    # the floor keeps zero cost finite
    assert np.isfinite(decay.power(0.0, beta=2.0, t_min=0.5))
    assert decay.power(0.0, beta=2.0, t_min=0.5) == pytest.approx(4.0)


def test_linear_formula():
    got = decay.linear(T, threshold=30.0)
    want = np.array([max(0.0, 1.0 - t / 30.0) for t in T])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert decay.linear(30.0, threshold=30.0) == 0.0
    assert decay.linear(15.0, threshold=30.0) == 0.5


def test_step_matches_access_step_fn():
    bands = {10: 1.0, 20: 0.68, 30: 0.22}
    got = decay.step(T, steps=bands)
    ref = access_weights.step_fn(bands)
    np.testing.assert_allclose(got, [ref(t) for t in T], rtol=0, atol=0)
    # a cost on a bound belongs to that bound's band
    assert decay.step(10.0, steps=bands) == 1.0
    assert decay.step(10.000001, steps=bands) == 0.68
    assert decay.step(30.5, steps=bands) == 0.0


@pytest.mark.parametrize("name", decay.DECAYS)
def test_nan_and_negative_costs_stay_missing(name):
    params = {
        "exponential": {"beta": 0.1},
        "gaussian": {"sigma": 5},
        "power": {"beta": 1},
        "linear": {"threshold": 10},
        "step": {"steps": {10: 1}},
    }[name]
    f = decay.decay_function(name, **params)
    out = f(np.array([np.nan, -1.0, 0.0]))
    assert np.isnan(out[0]) and np.isnan(out[1])
    assert out[2] == pytest.approx(1.0)
    assert isinstance(f(3.0), float)


def test_shapes_are_kept():
    grid = np.arange(12, dtype=float).reshape(3, 4)
    assert decay.gaussian(grid, sigma=3).shape == (3, 4)
    assert decay.step(grid, steps={5: 1.0}).shape == (3, 4)


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: decay.exponential(1.0, beta=0), "beta"),
        (lambda: decay.exponential(1.0, beta=-1), "beta"),
        (lambda: decay.gaussian(1.0, sigma=0), "sigma"),
        (lambda: decay.gaussian(1.0, sigma=float("nan")), "sigma"),
        (lambda: decay.power(1.0, beta=1, t_min=0), "t_min"),
        (lambda: decay.power(1.0, beta="x"), "beta"),
        (lambda: decay.linear(1.0, threshold=-5), "threshold"),
        (lambda: decay.step(1.0, steps={}), "steps"),
        (lambda: decay.step(1.0, steps={10: 1.5}), "weight"),
        (lambda: decay.step(1.0, steps={-1: 0.5}), "upper bound"),
    ],
)
def test_bad_parameters_name_the_parameter(call, param):
    with pytest.raises(ParameterError, match=param):
        call()


def test_decay_function_checks_names_and_parameters():
    with pytest.raises(ParameterError, match="unknown function 'cubic'"):
        decay.decay_function("cubic", beta=1)
    with pytest.raises(ParameterError, match="missing parameter"):
        decay.decay_function("gaussian")
    with pytest.raises(ParameterError, match="unexpected parameter"):
        decay.decay_function("gaussian", sigma=1, beta=2)
    with pytest.raises(ParameterError, match="sigma"):
        decay.decay_function("gaussian", sigma=-2)
    f = decay.decay_function("exponential", beta=0.2)
    assert f(5.0) == pytest.approx(math.exp(-1.0))
