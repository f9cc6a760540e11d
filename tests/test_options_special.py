"""The vectorizable special functions behind the option kernels, against mpmath."""

from __future__ import annotations

import math

import mpmath as mp
import numba as nb
import numpy as np
import pytest

from quant_engine.kernels.special import erf_small, erfcx_pos, fexp, flog, norm_cdf_pdf

EPS = 2.220446049250313e-16
mp.mp.dps = 40


@nb.njit(cache=False)
def _map(kind: int, x: np.ndarray) -> np.ndarray:  # a loop like the kernels' (vectorized)
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        if kind == 0:
            out[i] = fexp(x[i])
        elif kind == 1:
            out[i] = flog(x[i])
        elif kind == 2:
            out[i] = erfcx_pos(x[i])
        elif kind == 3:
            out[i] = norm_cdf_pdf(x[i])[0]
        elif kind == 4:
            out[i] = norm_cdf_pdf(x[i])[1]
        else:
            out[i] = erf_small(x[i])
    return out


RNG = np.random.default_rng(0)


def _ulps(got: np.ndarray, ref: list[mp.mpf]) -> float:
    r = np.array([float(v) for v in ref])
    return float(np.max(np.abs(got - r) / np.abs(r)) / EPS)


def test_exp_is_within_2_ulp_over_the_normal_range() -> None:
    x = np.concatenate([RNG.uniform(-708.0, 709.0, 3000), RNG.uniform(-1.0, 1.0, 1000), [0.0, 1e-300, -1e-300]])
    assert _ulps(_map(0, x), [mp.exp(mp.mpf(v)) for v in x]) <= 2.0
    assert _map(0, np.array([-800.0, 800.0]))[0] == 0.0  # clamped: underflows to 0, caps near max
    assert math.isfinite(_map(0, np.array([800.0]))[0])


def test_log_is_within_2_ulp() -> None:
    x = np.concatenate([np.exp(RNG.uniform(-700.0, 700.0, 3000)), RNG.uniform(0.5, 2.0, 1000), [1.0 + 1e-15, 2.0, 0.5]])
    got = _map(1, x)
    ref = [mp.log(mp.mpf(v)) for v in x]
    r = np.array([float(v) for v in ref])
    assert (
        np.max(np.abs(got - r) / np.maximum(np.abs(r), 1e-300)) / EPS <= 2.0
        or np.max(np.abs(got - r)) <= 4 * EPS * 1e-15
    )
    assert _map(1, np.array([1.0]))[0] == 0.0


def test_erfcx_and_erf_small() -> None:
    x = np.concatenate([RNG.uniform(0.0, 10.0, 1000), [0.0, 4.0]])
    assert _ulps(_map(2, x), [mp.erfc(mp.mpf(v)) * mp.exp(mp.mpf(v) ** 2) for v in x]) <= 5.0
    x = RNG.uniform(10.0, 27.5, 500)  # up to where exp(-x^2) underflows
    assert _ulps(_map(2, x), [mp.erfc(mp.mpf(v)) * mp.exp(mp.mpf(v) ** 2) for v in x]) <= 20.0
    assert _map(2, np.array([1e3]))[0] == pytest.approx(float(mp.erfc(1000) * mp.exp(mp.mpf(1000) ** 2)), rel=1e-12)
    z = RNG.uniform(-0.75, 0.75, 2000)
    assert _ulps(_map(5, z), [mp.erf(mp.mpf(v)) for v in z]) <= 3.0


def test_normal_cdf_has_relative_accuracy_in_both_tails() -> None:
    # The argument's own rounding limits Phi(z) to about z^2 ulps deep in the tail (condition number).
    z = np.concatenate([RNG.uniform(-37.0, -5.0, 500), RNG.uniform(-5.0, 8.0, 1500)])
    got = _map(3, z)
    ref = np.array([float(mp.ncdf(mp.mpf(v))) for v in z])
    tol = (8.0 + z * z) * EPS
    assert np.all(np.abs(got - ref) / ref <= tol)
    pdf = _map(4, z)
    ref_pdf = np.array([float(mp.npdf(mp.mpf(v))) for v in z])
    assert np.all(np.abs(pdf - ref_pdf) / ref_pdf <= (4.0 + z * z) * EPS)


@pytest.mark.parametrize("z", [-38.0, -8.0, 0.0, 8.0])
def test_normal_cdf_limits(z: float) -> None:
    cdf, pdf = norm_cdf_pdf(z)
    assert 0.0 <= cdf <= 1.0 and pdf >= 0.0
    assert cdf == pytest.approx(float(mp.ncdf(z)), rel=1e-12, abs=1e-300)
