"""Performance metrics: a hand-checked example and agreement with an independent NumPy oracle
(written from the formulas in docs/backtest.md, not from the Rust accumulator) on random returns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import BadDataError, InvalidArgumentError
from quant_engine.research.metrics import METRIC_NAMES, performance_metrics, periods_per_year


def test_hand_checked_example() -> None:
    """Equity 100 -> 110 -> 99 -> 108.9 -> 118.8 (docs/backtest.md works it out by hand)."""
    r = np.array([0.10, -0.10, 0.10, 118.8 / 108.9 - 1.0])
    m = performance_metrics(
        r,
        4.0,
        timestamps=np.array([1, 2, 3, 4]) * 60_000_000_000,
        in_market=np.array([True, False, True, True]),
        trade_pnl=np.array([10.0, -11.0, 19.8]),
    )
    assert set(m) == set(METRIC_NAMES)
    assert m["total_return"] == pytest.approx(0.188)
    assert m["annualized_return"] == pytest.approx(0.188)  # four periods of a four-period year
    # mean 0.0477273, sample std 0.0985780 -> Sharpe 0.0477273 / 0.0985780 * 2
    assert m["sharpe"] == pytest.approx(0.968314455, rel=1e-8)
    assert m["volatility"] == pytest.approx(0.197156089, rel=1e-8)
    # downside deviation sqrt(0.01 / 4) = 0.05 -> Sortino 0.0477273 / 0.05 * 2
    assert m["sortino"] == pytest.approx(1.909090909, rel=1e-8)
    assert m["max_drawdown"] == pytest.approx(-0.10)
    assert m["max_drawdown_periods"] == 3 and m["max_drawdown_ns"] == 180_000_000_000
    assert m["calmar"] == pytest.approx(1.88)
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx(29.8 / 11.0)
    assert m["average_trade"] == pytest.approx(18.8 / 3)
    assert m["exposure"] == 0.75 and m["trades"] == 3 and m["periods"] == 4


def oracle_metrics(r: np.ndarray, ppy: float) -> dict[str, float]:
    """The return-series metrics of docs/backtest.md, computed directly with NumPy: equity from
    compounding, sample standard deviation, downside deviation over every period, drawdown
    against the running peak of the equity curve (which starts at 1)."""
    n = len(r)
    equity = np.cumprod(1.0 + r)
    growth = float(equity[-1])
    mean = float(np.mean(r))
    std = float(np.std(r, ddof=1))
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    curve = np.concatenate([[1.0], equity])
    drawdown = float(np.min(curve / np.maximum.accumulate(curve) - 1.0))
    annualized = float(np.power(growth, ppy / n)) - 1.0  # inf when compounding overflows, as float64 does
    root = math.sqrt(ppy)
    return {
        "total_return": growth - 1.0,
        "annualized_return": annualized,
        "volatility": std * root,
        "sharpe": mean / std * root if std > 0 else math.nan,
        "sortino": mean / downside * root if downside > 0 else (math.inf if mean > 0 else math.nan),
        "max_drawdown": drawdown,
        "calmar": annualized / abs(drawdown) if drawdown < 0 else math.nan,
    }


def test_oracle_reproduces_the_hand_checked_example() -> None:
    """The oracle itself is held to the figures worked out by hand."""
    r = np.array([0.10, -0.10, 0.10, 118.8 / 108.9 - 1.0])
    ref = oracle_metrics(r, 4.0)
    assert ref["total_return"] == pytest.approx(0.188) and ref["annualized_return"] == pytest.approx(0.188)
    assert ref["sharpe"] == pytest.approx(0.968314455, rel=1e-8)
    assert ref["volatility"] == pytest.approx(0.197156089, rel=1e-8)
    assert ref["sortino"] == pytest.approx(1.909090909, rel=1e-8)
    assert ref["max_drawdown"] == pytest.approx(-0.10) and ref["calmar"] == pytest.approx(1.88)


@pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning"
)  # huge compounding overflows in the oracle too
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(3, 400),
    scale=st.sampled_from([0.001, 0.01, 0.05]),
    ppy=st.sampled_from([252.0, 98_280.0, 12.0]),
)
def test_agrees_with_numpy_oracle(seed: int, n: int, scale: float, ppy: float) -> None:
    rng = np.random.default_rng(seed)
    r = rng.normal(scale / 10, scale, n).clip(-0.9, None)
    ours = performance_metrics(r, ppy)
    for k, v in oracle_metrics(r, ppy).items():
        if math.isnan(v) or math.isinf(v):
            assert ours[k] == v or (math.isnan(ours[k]) and math.isnan(v)), k
        else:
            assert ours[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k


def test_bad_input_is_rejected() -> None:
    with pytest.raises(BadDataError, match="return 1"):
        performance_metrics([0.01, float("nan")])
    with pytest.raises(BadDataError):
        performance_metrics([0.01, -1.5])
    with pytest.raises(InvalidArgumentError, match="periods_per_year"):
        performance_metrics([0.01], 0.0)


def test_periods_per_year() -> None:
    assert periods_per_year("1m") == 252 * 390
    assert periods_per_year("5m") == 252 * 78
    assert periods_per_year("1d") == 252
    assert periods_per_year("1h", session=None) == pytest.approx(365.25 * 24)
