"""An independent oracle for signals: indicators and crossings computed here by hand in NumPy
(SMA, EMA seeded with the mean of the first n values, Wilder's RSI; NaN during warm-up), never
through the plan evaluator, and compared with the strategy's signals and with a backtest driven
by the oracle's own signals.

The crossing rule is the one the strategy language documents: ``cross_above(a, b)`` holds at t
when ``a[t] > b[t]`` and ``a[t-1] <= b[t-1]`` (both known); replacing it by ``a > b`` fails here.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bar_factory import MINUTE, T0, random_bars
from quant_engine.research import BacktestConfig, backtest
from quant_engine.strategy import compile_strategy
from sim_oracle import reference_long_only


def o_sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    for t in range(n - 1, x.shape[0]):
        out[t] = x[t - n + 1 : t + 1].sum() / n
    return out


def o_ema(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] < n:
        return out
    e = x[:n].mean()
    out[n - 1] = e
    for t in range(n, x.shape[0]):
        e = e + 2.0 / (n + 1.0) * (x[t] - e)
        out[t] = e
    return out


def o_rsi(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    d = np.diff(x)
    gain, loss = np.maximum(d, 0.0), np.maximum(-d, 0.0)
    if d.shape[0] < n:
        return out
    ag, al = gain[:n].mean(), loss[:n].mean()
    for k in range(n - 1, d.shape[0]):
        if k >= n:
            ag = (ag * (n - 1) + gain[k]) / n
            al = (al * (n - 1) + loss[k]) / n
        out[k + 1] = (100.0 if ag > 0 else 50.0) if al == 0 else 100.0 - 100.0 / (1.0 + ag / al)
    return out


def o_cross_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape[0], bool)
    for t in range(1, a.shape[0]):
        known = not (math.isnan(a[t]) or math.isnan(b[t]) or math.isnan(a[t - 1]) or math.isnan(b[t - 1]))
        out[t] = known and a[t] > b[t] and a[t - 1] <= b[t - 1]
    return out


def o_cross_below(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return o_cross_above(-a, -b)


ORACLE = {"sma": o_sma, "ema": o_ema}


def _close_table(close: np.ndarray) -> pa.Table:
    n = close.shape[0]
    return pa.table({
        "symbol": ["AAA"] * n,
        "start": pa.array(T0 + MINUTE * np.arange(n, dtype=np.int64), pa.timestamp("ns", tz="UTC")),
        "open": close, "high": close, "low": close, "close": close, "volume": np.full(n, 1_000.0),
    })  # fmt: skip


def _signal(doc_rule: dict[str, object], bars: pa.Table, key: str = "entry_long") -> np.ndarray:
    cs = compile_strategy({"instruments": ["AAA"], "entry_long": doc_rule})
    return cs.signals(bars).column(key).to_numpy(zero_copy_only=False)


def test_crossing_with_equal_values_and_runs_above() -> None:
    """Closes stay above the level for several bars and touch it exactly: only the bars that
    come from at-or-below count (a plain ``close > 100`` would also flag bars 2, 5 and 6)."""
    close = np.array([99.0, 101.0, 102.0, 100.0, 101.0, 103.0, 104.0, 100.0, 100.0, 99.0, 100.5])
    got = _signal({"op": "cross_above", "left": "close", "right": 100.0}, _close_table(close))
    assert got.tolist() == [False, True, False, False, True, False, False, False, False, False, True]
    below = _signal({"op": "cross_below", "left": "close", "right": 100.0}, _close_table(close))
    assert below.tolist() == o_cross_below(close, np.full(close.shape[0], 100.0)).tolist()
    assert below.tolist() == [False] * 9 + [True, False]  # 100 -> 99 only: touching 100 is not crossing it


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), fast=st.integers(2, 12), slow=st.integers(3, 30),
       fk=st.sampled_from(["sma", "ema"]), sk=st.sampled_from(["sma", "ema"]))  # fmt: skip
def test_moving_average_crossings_match_the_oracle(seed: int, fast: int, slow: int, fk: str, sk: str) -> None:
    bars = random_bars(400, seed=seed, vol=0.003)
    close = bars.column("close").to_numpy()
    a, b = ORACLE[fk](close, fast), ORACLE[sk](close, slow)
    left = {"op": fk, "x": "close", "n": fast}
    right = {"op": sk, "x": "close", "n": slow}
    up = _signal({"op": "cross_above", "left": left, "right": right}, bars)
    down = _signal({"op": "cross_below", "left": left, "right": right}, bars)
    # bars where the two averages are within rounding of each other are ambiguous: skip them
    near = np.abs(a - b) <= 1e-9 * np.abs(b)
    ambiguous = near | np.concatenate([[False], near[:-1]])
    ok = ~ambiguous
    assert np.array_equal(up[ok], o_cross_above(a, b)[ok])
    assert np.array_equal(down[ok], o_cross_below(a, b)[ok])
    # warm-up: nothing before both averages exist (and one more bar for the previous value)
    first = max(fast, slow)
    assert not up[:first].any() and not down[:first].any()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 20), level=st.sampled_from([30.0, 50.0, 70.0]))
def test_rsi_threshold_crossings_match_the_oracle(seed: int, n: int, level: float) -> None:
    bars = random_bars(300, seed=seed, vol=0.004)
    r = o_rsi(bars.column("close").to_numpy(), n)
    got = _signal({"op": "cross_above", "left": {"op": "rsi", "n": n}, "right": level}, bars)
    ok = ~(np.abs(r - level) <= 1e-9)
    ok &= np.concatenate([[True], ok[:-1]])
    assert np.array_equal(got[ok], o_cross_above(r, np.full(r.shape[0], level))[ok])
    assert not got[: n + 1].any()


def test_backtest_conforms_to_the_oracle_signals_and_simulation() -> None:
    """The backtest of an EMA/SMA crossover equals a simulation whose signals come from the
    oracle's own indicators (not from the strategy's signals)."""
    bars = random_bars(5_000, seed=21)
    close, open_ = bars.column("close").to_numpy(), bars.column("open").to_numpy()
    fast, slow = o_ema(close, 8), o_sma(close, 21)
    doc = {"instruments": ["AAA"],
           "entry_long": {"op": "cross_above", "left": {"op": "ema", "x": "close", "n": 8}, "right": {"op": "sma", "x": "close", "n": 21}},
           "exit_long": {"op": "cross_below", "left": {"op": "ema", "x": "close", "n": 8}, "right": {"op": "sma", "x": "close", "n": 21}},
           "sizing": {"kind": "equity_fraction", "fraction": 1.0}}  # fmt: skip
    assert not (np.abs(fast - slow) <= 1e-9 * slow).any(), "a near tie would make the oracle ambiguous"
    res = backtest(
        doc,
        bars,
        BacktestConfig(initial_cash=100_000.0, risk_limits={"check_buying_power": False}, allow_unlisted_equities=True),
    )
    cash, trades = reference_long_only(open_, close, o_cross_above(fast, slow), o_cross_below(fast, slow), 100_000.0)
    assert res.metrics["trades"] == trades > 20
    assert res.metrics["final_equity"] == pytest.approx(cash, rel=1e-12)
