"""Red Team: moments, PSR, DSR, MinTRL (VALIDATION.md §1 test vectors) and the effective number
of trials."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels.sharpe_stats import (
    column_moments,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe,
)
from quant_engine.research.redteam import (
    FailureType,
    RedTeamThresholds,
    dsr,
    dsr_from_trials,
    effective_trials,
    min_trl,
    psr,
    sharpe_summary,
)

# --- VALIDATION.md §1 test vectors -------------------------------------------------------------


def test_psr_vector() -> None:
    assert probabilistic_sharpe(0.10, 756, -0.5, 5.0) == pytest.approx(0.996, abs=5e-4)


def test_sr0_and_dsr_vector() -> None:
    sr0 = expected_max_sharpe(100, 0.05)
    assert sr0 == pytest.approx(0.1265, abs=5e-5)
    assert probabilistic_sharpe(0.10, 756, -0.5, 5.0, sr0) == pytest.approx(0.239, abs=5e-4)


def test_min_trl_vector() -> None:
    assert min_track_record_length(0.10, -0.5, 5.0, 0.0, 0.05) == pytest.approx(288, abs=0.5)


def test_closed_forms_match_an_independent_evaluation() -> None:
    nd = statistics.NormalDist()
    sr, t, g3, g4 = 0.07, 500, 0.3, 4.0
    z = sr * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert probabilistic_sharpe(sr, t, g3, g4) == pytest.approx(nd.cdf(z), rel=1e-12)
    assert expected_max_sharpe(1, 0.05) == 0.0
    assert math.isinf(min_track_record_length(-0.01, 0.0, 3.0))


# --- moments ------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=60), st.integers(1, 4))
def test_column_moments_match_a_plain_python_oracle(values: list[float], k: int) -> None:
    x = np.array([[v * (j + 1) for j in range(k)] for v in values])
    got = column_moments(x)
    for j in range(k):
        col = [float(v) for v in x[:, j]]
        n = len(col)
        mean = math.fsum(col) / n
        m2 = math.fsum((c - mean) ** 2 for c in col) / n
        assert got[0, j] == pytest.approx(mean, rel=1e-9, abs=1e-9)
        assert got[1, j] == pytest.approx(math.sqrt(m2 * n / (n - 1)), rel=1e-9, abs=1e-9)
        if m2 > 1e-6 * max(1.0, mean * mean):
            m3 = math.fsum((c - mean) ** 3 for c in col) / n
            m4 = math.fsum((c - mean) ** 4 for c in col) / n
            assert got[2, j] == pytest.approx(m3 / m2**1.5, rel=1e-6, abs=1e-6)
            assert got[3, j] == pytest.approx(m4 / m2**2, rel=1e-6, abs=1e-6)


def test_sharpe_summary_of_a_series() -> None:
    r = np.random.default_rng(3).normal(0.001, 0.01, 400)
    s = sharpe_summary(r)
    assert s.reason is None
    assert s.sharpe == pytest.approx(r.mean() / r.std(ddof=1))


# --- PSR / MinTRL / DSR through the API ---------------------------------------------------------


def _series_with(sr: float, n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(n)
    x = (x - x.mean()) / x.std(ddof=1)
    return x + sr


def test_psr_api_passes_a_strong_series_and_fails_a_weak_one() -> None:
    strong = psr(_series_with(0.2, 756))
    weak = psr(_series_with(0.01, 756))
    assert strong.passed and strong.statistic > 0.95 and strong.feeds == (FailureType.INSUFFICIENT_EVIDENCE,)
    assert not weak.passed and weak.reason is None
    assert strong.p_value == pytest.approx(1 - strong.statistic)


def test_min_trl_api_compares_with_the_sample_length() -> None:
    r = _series_with(0.1, 756)
    res = min_trl(r)
    s = sharpe_summary(r)
    assert res.statistic == pytest.approx(min_track_record_length(s.sharpe, s.g3, s.g4))
    assert res.passed == (res.statistic <= 756)
    short = min_trl(_series_with(0.1, 100))
    assert not short.passed and short.statistic > 100


def test_dsr_api_reproduces_the_vector_logic() -> None:
    r = _series_with(0.1, 756)
    s = sharpe_summary(r)
    res = dsr(r, n_trials=100, sr_std=0.05)
    assert res.sr0 == pytest.approx(0.12653, abs=1e-4)
    assert res.statistic == pytest.approx(probabilistic_sharpe(s.sharpe, 756, s.g3, s.g4, res.sr0))
    assert not res.passed and res.feeds == (FailureType.OVERFITTING,)
    assert dsr(r, n_trials=1, sr_std=0.05).statistic == pytest.approx(psr(r).statistic)


@pytest.mark.parametrize(
    "bad, why",
    [
        (np.r_[np.ones(50) * 0.01, np.nan], "non-finite"),
        (np.full(100, 0.001), "zero variance"),
        (np.array([0.01, -0.02, 0.03]), "too few"),
        (np.r_[np.random.default_rng(0).standard_normal(50), np.inf], "non-finite"),
    ],
)
def test_uncomputable_series_fail_with_a_reason(bad: np.ndarray, why: str) -> None:
    for res in (psr(bad), min_trl(bad), dsr(bad, n_trials=10, sr_std=0.05)):
        assert not res.passed and not res.computable
        assert why in (res.reason or "")
        assert math.isnan(res.statistic)


def test_dsr_rejects_meaningless_trial_counts_with_a_reason() -> None:
    r = _series_with(0.1, 300)
    assert "trials" in (dsr(r, n_trials=0.5, sr_std=0.05).reason or "")
    assert "standard deviation" in (dsr(r, n_trials=10, sr_std=float("nan")).reason or "")


def test_wrong_shapes_raise_typed_errors() -> None:
    with pytest.raises(InvalidArgumentError):
        psr(np.zeros((10, 2)))
    with pytest.raises(InvalidArgumentError):
        psr(["a", "b"])
    with pytest.raises(InvalidArgumentError):
        RedTeamThresholds(dsr_min=1.5)


# --- effective number of trials -----------------------------------------------------------------


def test_identical_trials_count_as_one() -> None:
    x = np.repeat(np.random.default_rng(1).standard_normal((500, 1)), 40, axis=1)
    assert effective_trials(x).effective == pytest.approx(1.0, abs=1e-6)


def test_independent_trials_count_as_n() -> None:
    x = np.random.default_rng(2).standard_normal((1000, 40))
    assert effective_trials(x).effective == pytest.approx(40, rel=0.02)


@pytest.mark.parametrize("k", [2, 5, 8])
def test_planted_blocks_count_as_k(k: int) -> None:
    rng = np.random.default_rng(k)
    factors = rng.standard_normal((1000, k))
    x = np.repeat(factors, 6, axis=1) + 0.1 * rng.standard_normal((1000, 6 * k))
    assert effective_trials(x).effective == pytest.approx(k, rel=0.15)


def test_constant_trials_are_counted_once_and_nans_give_a_reason() -> None:
    rng = np.random.default_rng(4)
    x = np.c_[rng.standard_normal((300, 5)), np.zeros((300, 3))]
    res = effective_trials(x)
    assert res.n_degenerate == 3 and res.effective == pytest.approx(6, rel=0.1)
    x[4, 0] = np.nan
    bad = effective_trials(x)
    assert bad.reason is not None and bad.effective == 8.0


def test_dsr_from_trials_uses_effective_n_and_the_sharpe_dispersion() -> None:
    rng = np.random.default_rng(5)
    trials = rng.normal(0.0, 0.01, (756, 30))
    res, eff = dsr_from_trials(trials[:, 0], trials)
    sharpes = trials.mean(0) / trials.std(0, ddof=1)
    assert res.n_trials == pytest.approx(eff.effective)
    assert res.sr_std == pytest.approx(np.std(sharpes, ddof=1))
    assert res.sr0 == pytest.approx(expected_max_sharpe(eff.effective, res.sr_std))
    assert not res.passed


def test_thresholds_round_trip_and_validate_on_decode() -> None:
    import msgspec

    th = RedTeamThresholds(pbo_max=0.1, spa_pvalue="lower")
    assert msgspec.json.decode(msgspec.json.encode(th), type=RedTeamThresholds) == th
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"spa_pvalue": "middle"}', type=RedTeamThresholds)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"cscv_blocks": 7}', type=RedTeamThresholds)
