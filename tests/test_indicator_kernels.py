"""The Numba indicator kernels against plain, independent reference implementations.

References are written from the textbook definitions (Python loops, pandas rolling) and share no
code with the kernels. Inputs include NaN gaps: the documented rule is that a window is defined
once it holds ``n`` consecutive valid values and that a NaN restarts every warm-up.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.kernels import indicators as ind

RTOL = 1e-9


def _runs(x: np.ndarray) -> np.ndarray:
    """Length of the run of consecutive valid values ending at each index."""
    out = np.zeros(len(x), np.int64)
    run = 0
    for i, v in enumerate(x):
        run = 0 if math.isnan(v) else run + 1
        out[i] = run
    return out


def ref_window(x: np.ndarray, n: int, fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    runs = _runs(x)
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        if runs[i] >= n:
            out[i] = fn(x[i - n + 1 : i + 1])
    return out


def ref_smoothed(x: np.ndarray, n: int, update) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Seeded with the mean of the first n values of each valid run, then ``update(prev, v)``."""
    out = np.full(len(x), np.nan)
    run, prev = 0, math.nan
    for i, v in enumerate(x):
        if math.isnan(v):
            run = 0
            continue
        run += 1
        if run == n:
            prev = float(np.mean(x[i - n + 1 : i + 1]))
            out[i] = prev
        elif run > n:
            prev = update(prev, v)
            out[i] = prev
    return out


def ref_rsi(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    run = 0
    gains: list[float] = []
    losses: list[float] = []
    ag = al = 0.0
    for i, v in enumerate(x):
        if math.isnan(v):
            run, gains, losses = 0, [], []
            continue
        run += 1
        if run == 1:
            continue
        d = v - x[i - 1]
        g, lo = max(d, 0.0), max(-d, 0.0)
        k = run - 1
        if k <= n:
            gains.append(g)
            losses.append(lo)
            if k < n:
                continue
            ag, al = sum(gains) / n, sum(losses) / n
        else:
            ag = (ag * (n - 1) + g) / n
            al = (al * (n - 1) + lo) / n
        out[i] = (100.0 if ag > 0 else 50.0) if al == 0 else 100.0 - 100.0 / (1.0 + ag / al)
    return out


def _series(draw_values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in draw_values], np.float64)


values = st.lists(
    st.one_of(st.none(), st.floats(min_value=1.0, max_value=200.0, allow_nan=False)),
    min_size=0,
    max_size=120,
).map(_series)


def _close(a: np.ndarray, b: np.ndarray, rtol: float = RTOL, atol: float = 1e-9) -> None:
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=rtol, atol=atol)


def _out(x: np.ndarray) -> np.ndarray:
    return np.full(len(x), -1.0)


@settings(max_examples=80, deadline=None)
@given(x=values, n=st.integers(1, 12))
def test_windowed_kernels_match_references(x: np.ndarray, n: int) -> None:
    cases = [
        (ind.sma, lambda w: float(np.mean(w))),
        (ind.rolling_sum, lambda w: float(np.sum(w))),
        (ind.rolling_min, lambda w: float(np.min(w))),
        (ind.rolling_max, lambda w: float(np.max(w))),
        (ind.wma, lambda w: float(np.dot(w, np.arange(1, len(w) + 1)) / (len(w) * (len(w) + 1) / 2))),
    ]
    for kernel, fn in cases:
        out = _out(x)
        kernel(x, n, out)
        _close(out, ref_window(x, n, fn))
    for ddof in (0, 1):
        out = _out(x)
        ind.rolling_std(x, n, ddof, out)
        expected = ref_window(x, n, lambda w, d=ddof: float(np.std(w, ddof=d)) if len(w) > d else math.nan)
        _close(out, expected, rtol=1e-7, atol=1e-7)


@settings(max_examples=80, deadline=None)
@given(x=values, n=st.integers(1, 12))
def test_exponential_kernels_match_references(x: np.ndarray, n: int) -> None:
    alpha = 2.0 / (n + 1.0)
    out = _out(x)
    ind.ema(x, n, out)
    _close(out, ref_smoothed(x, n, lambda p, v: p + alpha * (v - p)))
    out = _out(x)
    ind.wilder(x, n, out)
    _close(out, ref_smoothed(x, n, lambda p, v: (p * (n - 1) + v) / n))
    out = _out(x)
    ind.rsi(x, n, out)
    _close(out, ref_rsi(x, n))


def test_pandas_agrees_on_gap_free_data() -> None:
    rng = np.random.default_rng(3)
    x = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 5_000)))
    s = pd.Series(x)
    for n in (1, 5, 20, 200):
        out = np.empty_like(x)
        ind.sma(x, n, out)
        _close(out, s.rolling(n).mean().to_numpy())
        ind.rolling_std(x, n, 1, out)
        _close(out, s.rolling(n).std(ddof=1).to_numpy(), rtol=1e-7, atol=1e-9)
        ind.rolling_min(x, n, out)
        _close(out, s.rolling(n).min().to_numpy())
        ind.rolling_max(x, n, out)
        _close(out, s.rolling(n).max().to_numpy())
        ind.lag(x, n, out)
        _close(out, s.shift(n).to_numpy())
        ind.ema(x, n, out)
        seeded = s.copy()
        seeded.iloc[: n - 1] = np.nan
        seeded.iloc[n - 1] = s.iloc[:n].mean()
        _close(
            out, seeded.ewm(span=n, adjust=False, ignore_na=False).mean().where(seeded.notna().cumsum() > 0).to_numpy()
        )


def test_long_series_do_not_drift() -> None:
    """Compensated running sums: after a million bars the SMA equals a fresh window mean."""
    rng = np.random.default_rng(5)
    x = 1e4 + rng.normal(0, 1, 1_000_000)
    out = np.empty_like(x)
    ind.sma(x, 50, out)
    assert out[-1] == pytest.approx(float(np.mean(x[-50:])), rel=1e-14)
    ind.rolling_std(x, 50, 0, out)
    assert out[-1] == pytest.approx(float(np.std(x[-50:])), rel=1e-9)
    ind.wma(x, 50, out)
    w = np.arange(1, 51)
    assert out[-1] == pytest.approx(float(np.dot(x[-50:], w) / w.sum()), rel=1e-13)


def test_true_range_and_session_sum() -> None:
    h = np.array([10.0, 12.0, 11.0, 15.0])
    lo = np.array([9.0, 10.5, 8.0, 14.0])
    c = np.array([9.5, 11.0, 9.0, 14.5])
    out = np.empty(4)
    ind.true_range(h, lo, c, out)
    assert out.tolist() == [1.0, 2.5, 3.0, 6.0]
    x = np.array([1.0, 2.0, 3.0, np.nan, 5.0, 6.0])
    flag = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    ind.session_sum(x, flag, out := np.empty(6))
    assert out[:3].tolist() == [1.0, 3.0, 6.0]
    assert np.isnan(out[3])
    assert out[4:].tolist() == [5.0, 11.0]


def test_rsi_edge_cases() -> None:
    out = np.empty(6)
    ind.rsi(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), 3, out)
    assert np.isnan(out[:3]).all() and (out[3:] == 100.0).all()
    ind.rsi(np.full(6, 7.0), 3, out)
    assert (out[3:] == 50.0).all()
