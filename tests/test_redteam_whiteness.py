"""Red Team: WNT-C (Ljung-Box, Lo's adjusted Sharpe) and the WNT-B null machinery (VALIDATION.md §4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.diagnostic import acorr_ljungbox
from statsmodels.tsa.stattools import acf

from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels.whiteness import autocorrelations, chi2_sf, ljung_box, lo_eta
from quant_engine.research.redteam import (
    FailureType,
    RedTeamThresholds,
    fixed_position_null_test,
    null_index_sets,
    null_test,
    whiteness,
)


def _ar1(n: int, phi: float, seed: int, mean: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n) * 0.01
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x + mean


# --- Ljung-Box ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n, phi", [(60, 0.0), (500, 0.2), (1000, -0.1)])
def test_ljung_box_equals_statsmodels(n: int, phi: float) -> None:
    x = _ar1(n, phi, n)
    h = min(10, n // 5)
    rho = autocorrelations(x, h)
    np.testing.assert_allclose(rho, acf(x, nlags=h, fft=False), rtol=1e-10, atol=1e-12)
    ref = acorr_ljungbox(x, lags=[h])
    q = ljung_box(rho, n, h)
    assert q == pytest.approx(float(ref["lb_stat"].iloc[0]), rel=1e-10)
    assert chi2_sf(q, h) == pytest.approx(float(ref["lb_pvalue"].iloc[0]), rel=1e-9, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 200.0), st.integers(1, 40))
def test_chi2_survival_equals_scipy(x: float, df: int) -> None:
    assert chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-10, abs=1e-300)


def test_lo_eta_matches_the_formula_written_out() -> None:
    x = _ar1(800, 0.25, 3)
    q = 12
    rho = acf(x, nlags=q - 1, fft=False)
    want = q / math.sqrt(q + 2 * sum((q - k) * rho[k] for k in range(1, q)))
    assert lo_eta(autocorrelations(x, q - 1), q) == pytest.approx(want, rel=1e-10)
    assert lo_eta(np.array([1.0] + [0.0] * 20), 16) == pytest.approx(4.0)


def test_white_pnl_passes_and_is_not_flagged() -> None:
    x = np.random.default_rng(1).standard_normal(750) * 0.01 + 0.001
    res = whiteness(x)
    assert res.passed and not res.flagged and res.lags == 10 and res.p_value is not None and res.p_value > 0.05
    assert res.feeds == (FailureType.INSUFFICIENT_EVIDENCE,)
    # white returns: eta(q) ~ sqrt(q) (summing all 251 sample lags would inflate it: they sum to -1/2)
    assert res.eta == pytest.approx(math.sqrt(252), rel=0.15)


def test_autocorrelated_pnl_is_flagged_and_its_sharpe_deflated() -> None:
    x = _ar1(750, 0.5, 2, mean=0.0015)
    res = whiteness(x)
    assert res.flagged and res.p_value is not None and res.p_value < 1e-6
    # positive autocorrelation: eta(q) < sqrt(q), so the adjusted Sharpe is smaller
    assert res.eta < math.sqrt(252) and abs(res.sharpe_adjusted) < abs(res.sharpe)
    assert res.passed == (res.psr_adjusted >= 0.95)


def test_short_lag_rule_and_reasons() -> None:
    assert whiteness(np.random.default_rng(0).standard_normal(40)).lags == 8  # h = min(10, 40 // 5)
    bad = whiteness(np.r_[np.random.default_rng(0).standard_normal(100), np.nan])
    assert not bad.passed and "non-finite" in (bad.reason or "")
    flat = whiteness(np.zeros(100))
    assert not flat.passed and "zero variance" in (flat.reason or "")


# --- WNT-B --------------------------------------------------------------------------------------


def test_null_pvalue_formula() -> None:
    null = np.array([0.1, 0.5, 0.3, 0.5, -0.2])
    res = null_test(0.5, null)
    assert res.p_value == pytest.approx((1 + 2) / (1 + 5)) and res.n_exceed == 2 and not res.passed
    best = null_test(9.0, np.zeros(999))
    assert best.p_value == pytest.approx(1 / 1000) and best.passed and best.feeds == (FailureType.NOISE_FITTING,)
    assert "not finite" in (null_test(0.5, np.array([0.1, np.nan])).reason or "")
    assert "empty" in (null_test(0.5, np.array([])).reason or "")


def test_null_index_sets_move_dates_jointly_and_are_seeded() -> None:
    perm = null_index_sets(100, 20, seed=3)
    assert np.array_equal(perm, null_index_sets(100, 20, seed=3))
    bars = np.random.default_rng(0).standard_normal((100, 4))  # 4 symbols
    permuted = bars[perm[0]]  # one row permutes every symbol's dates the same way
    assert np.array_equal(permuted[:, 2], bars[perm[0], 2])
    block = null_index_sets(100, 20, method="block", mean_block=5.0, seed=3)
    assert block.shape == (20, 100)
    with pytest.raises(InvalidArgumentError):
        null_index_sets(100, 5, method="bogus")  # type: ignore[arg-type]


def test_fixed_position_null_test_separates_signal_from_noise() -> None:
    rng = np.random.default_rng(4)
    r = rng.standard_normal(1500) * 0.01
    informed = np.sign(r + rng.standard_normal(1500) * 0.03)  # peeks at the same bar: a real "edge"
    noise_pos = np.sign(rng.standard_normal(1500))
    th = RedTeamThresholds(wnt_b_reps=499)
    assert fixed_position_null_test(informed, r, th, seed=1).passed
    res = fixed_position_null_test(noise_pos, r, th, seed=1)
    assert not res.passed and res.p_value is not None and res.p_value > 0.01
    assert "zero variance" in (fixed_position_null_test(np.zeros(1500), r, th).reason or "")
