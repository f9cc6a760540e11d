"""Performance metrics: a hand-checked example and agreement with empyrical on random returns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import BadDataError, InvalidArgumentError
from quant_engine.research.metrics import METRIC_NAMES, performance_metrics, periods_per_year


def test_hand_checked_example() -> None:
    """Equity 100 -> 110 -> 99 -> 108.9 -> 118.8 (docs/backtest.md works it out by hand)."""
    r = np.array([0.10, -0.10, 0.10, 118.8 / 108.9 - 1.0])
    m = performance_metrics(r, 4.0, timestamps=np.array([1, 2, 3, 4]) * 60_000_000_000,
                            in_market=np.array([True, False, True, True]), trade_pnl=np.array([10.0, -11.0, 19.8]))
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


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # empyrical's own overflow on huge compounding
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(3, 400),
    scale=st.sampled_from([0.001, 0.01, 0.05]),
    ppy=st.sampled_from([252.0, 98_280.0, 12.0]),
)
def test_agrees_with_empyrical(seed: int, n: int, scale: float, ppy: float) -> None:
    empyrical = pytest.importorskip("empyrical")
    rng = np.random.default_rng(seed)
    r = rng.normal(scale / 10, scale, n).clip(-0.9, None)
    ours = performance_metrics(r, ppy)
    s = pd.Series(r)
    ref = {
        "total_return": float(empyrical.cum_returns_final(s)),
        "annualized_return": float(empyrical.annual_return(s, annualization=ppy)),
        "volatility": float(empyrical.annual_volatility(s, annualization=ppy)),
        "sharpe": float(empyrical.sharpe_ratio(s, annualization=ppy)),
        "sortino": float(empyrical.sortino_ratio(s, annualization=ppy)),
        "max_drawdown": float(empyrical.max_drawdown(s)),
        "calmar": float(empyrical.calmar_ratio(s, annualization=ppy)),
    }
    for k, v in ref.items():
        if math.isnan(v):
            assert math.isnan(ours[k]) or ours[k] == 0.0 or k == "calmar", k
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
