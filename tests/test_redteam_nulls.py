"""The Red Team's null tests (quant_engine.research.redteam.nulls): WNT-A, WNT-B, perturbation and
lag collapse, and the null-market kernels under them (VALIDATION.md §4, §6)."""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bar_factory import MINUTE, T0, random_bars
from quant_engine.kernels.null_markets import (
    bar_components,
    bar_factors,
    garch11_fit,
    resampled_markets,
    simulated_markets,
)
from quant_engine.research.backtester import backtest
from quant_engine.research.redteam import FailureType, RedTeamThresholds
from quant_engine.research.redteam.nulls import lag_collapse, perturbation, white_noise_a, white_noise_b
from quant_engine.strategy import register_operator, unregister_operator

CFG = {"initial_cash": 1_000_000.0, "instruments": {s: {"kind": "equity", "multiplier": 1.0} for s in ("AAA", "BBB")}}


def _bars_from_returns(r: np.ndarray, symbol: str = "AAA", seed: int = 0) -> pa.Table:
    """Consistent bars whose close-to-close log returns are ``r`` (open = previous close)."""
    rng = np.random.default_rng(seed)
    n = r.shape[0]
    close = 100.0 * np.exp(np.cumsum(r))
    open_ = np.concatenate([[100.0], close[:-1]])
    hi = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 2e-4, n)))
    lo = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 2e-4, n)))
    return pa.table({
        "symbol": pa.array([symbol] * n, pa.string()),
        "start": pa.array(T0 + MINUTE * np.arange(n, dtype=np.int64), pa.timestamp("ns", tz="UTC")),
        "open": open_, "high": hi, "low": lo, "close": close,
        "volume": rng.integers(100, 10_000, n).astype(np.float64),
    })  # fmt: skip


def _ar_returns(n: int, phi: float, seed: int, lag: int = 1, sd: float = 1e-3) -> np.ndarray:
    """``r[t] = phi * r[t - lag] + e[t]``: a planted, learnable signal (``phi = 0``: pure noise)."""
    e = np.random.default_rng(seed).normal(0.0, sd, n)
    r = e.copy()
    for t in range(lag, n):  # test data only
        r[t] += phi * r[t - lag]
    return r


_RET1 = {"op": "returns", "x": "close", "n": 1}

MOMENTUM = {  # long after an up bar, short after a down bar: earns AR(1) momentum
    "instruments": ["AAA"], "timeframe": "1m",
    "entry_long": {"op": "gt", "left": _RET1, "right": 0}, "exit_long": {"op": "lt", "left": _RET1, "right": 0},
    "entry_short": {"op": "lt", "left": _RET1, "right": 0}, "exit_short": {"op": "gt", "left": _RET1, "right": 0},
    "sizing": {"kind": "equity_fraction", "fraction": 1.0},
}  # fmt: skip

SMA_CROSS = {
    "instruments": ["AAA"], "timeframe": "1m",
    "entry_long": {"op": "cross_above", "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
                   "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}}},
    "exit_long": {"op": "cross_below", "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
                  "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}}},
    "params": {"fast": 5, "slow": 20},
}  # fmt: skip

NEVER = {"instruments": ["AAA"], "timeframe": "1m", "entry_long": {"op": "gt", "left": "close", "right": 1e9}}


@nb.njit(cache=True, nogil=True)
def _peek_next(inputs, iparams, fparams, out):  # type: ignore[no-untyped-def]
    """NOT causal on purpose: the next bar's value (a look-ahead bug for the tests to catch)."""
    n = out.shape[0]
    for t in range(n - 1):
        out[t] = inputs[0, t + 1]
    if n:
        out[n - 1] = np.nan


@pytest.fixture(scope="module")
def peeking() -> dict[str, object]:
    """A strategy that peeks one bar ahead (the language cannot express one; a user operator
    registered without its causality check can)."""
    register_operator("peek_next_close", _peek_next, inputs=1, verify=False, replace=True)
    peek = {"op": "call", "fn": "peek_next_close", "args": ["close"]}
    yield {"instruments": ["AAA"], "timeframe": "1m",
           "entry_long": {"op": "gt", "left": peek, "right": "close"},
           "exit_long": {"op": "lt", "left": peek, "right": "close"}}  # fmt: skip
    unregister_operator("peek_next_close")


# -- the null-market kernels ------------------------------------------------------------------


def _components(t: pa.Table) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray, np.ndarray]:
    o, h, lo, c = (np.asarray(t.column(k)) for k in ("open", "high", "low", "close"))
    v = np.asarray(t.column("volume"), dtype=np.float64)
    offsets = np.array([0, len(c)], np.int64)
    return bar_components(o, h, lo, c, c.copy(), offsets), v, offsets, o[:1].copy()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(400, 3000), vol=st.floats(5e-4, 2e-2), mu=st.floats(-1e-3, 1e-3))
def test_null_markets_have_the_datas_moments_and_consistent_ohlc(seed: int, n: int, vol: float, mu: float) -> None:
    """WNT-A's markets: consistent OHLC and vwap, volumes drawn from the data's, log returns with
    the requested mean and variance (within 5 standard errors over all markets)."""
    comps, v, offsets, base = _components(random_bars(n, seed=seed % 1000, vol=vol))
    k = 8
    gp = np.array([[vol**2 * 0.1, 0.1, 0.8]])
    o, h, lo, c, vv, vw = simulated_markets(bar_factors(comps, v), base, offsets, np.array([mu]), np.array([vol]), gp,
                                            np.arange(k) % 2 == 1, seed=seed, first=0)  # fmt: skip
    assert np.all(h >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c)) and np.all(lo > 0)
    assert np.all((vw >= lo) & (vw <= h))
    assert np.isin(vv, v).all()
    r = np.diff(np.log(np.concatenate([np.repeat(base[None, :], k, axis=0), c], axis=1)), axis=1)
    for rows in (r[0::2], r[1::2]):  # i.i.d. and GARCH halves
        x = rows.reshape(-1)
        assert abs(x.mean() - mu) < 5 * vol / math.sqrt(x.size)
    x = r[0::2].reshape(-1)  # i.i.d.: the variance itself (GARCH's sample variance converges slowly)
    assert abs(x.var() / vol**2 - 1.0) < 5 * math.sqrt(2.0 / x.size)


def test_permutation_preserves_the_multiset_of_returns_and_moves_symbols_jointly() -> None:
    """WNT-B's permuted markets: every bar's return appears exactly once, the same dates move in
    every symbol, and the OHLC stay consistent."""
    t = random_bars(500, ("AAA", "BBB"), seed=4)
    o, h, lo, c = (np.asarray(t.column(k)) for k in ("open", "high", "low", "close"))
    v = np.asarray(t.column("volume"), dtype=np.float64)
    offsets = np.array([0, 500, 1000], np.int64)
    comps = bar_components(o, h, lo, c, c.copy(), offsets)
    base = o[offsets[:-1]].copy()
    mo, mh, ml, mc, mv, _ = resampled_markets(bar_factors(comps, v), base, offsets, seed=3, first=0, count=4,
                                              mean_block=None)  # fmt: skip
    assert np.all(mh >= np.maximum(mo, mc)) and np.all(ml <= np.minimum(mo, mc))
    real_r = comps[0] + comps[1]  # gap + body = bar-to-bar log return
    for m in range(4):
        for s in range(2):
            seg = slice(int(offsets[s]), int(offsets[s + 1]))
            prev = np.concatenate([[base[s]], mc[m, seg][:-1]])
            rr = np.log(mc[m, seg] / prev)
            assert np.allclose(np.sort(rr), np.sort(real_r[seg]), rtol=0, atol=1e-9)
            assert not np.allclose(rr, real_r[seg])
        # joint: the volume (kept as is) of both symbols comes from the same original bar
        pos = {(float(a), float(b)) for a, b in zip(v[:500], v[500:], strict=True)}
        assert all((float(a), float(b)) in pos for a, b in zip(mv[m, :500], mv[m, 500:], strict=True))


def test_garch_fit_recovers_simulated_parameters_and_agrees_with_arch() -> None:
    """The variance-targeted QML fit finds the parameters of a simulated GARCH(1,1) and the
    ``arch`` package's estimate (test-only reference), and alpha = beta = 0 on i.i.d. noise."""
    rng = np.random.default_rng(7)
    n, omega, alpha, beta = 20_000, 2e-6 * 0.05, 0.08, 0.9
    r = np.empty(n)
    h, e = 2e-6, 0.0
    for t in range(n):  # the reference simulation, in plain Python
        if t:
            h = omega + alpha * e * e + beta * h
        e = math.sqrt(h) * rng.standard_normal()
        r[t] = e
    _, a, b, _ = garch11_fit(r)
    assert abs(a - alpha) < 0.03 and abs(b - beta) < 0.04
    arch_model = pytest.importorskip("arch").arch_model
    ref = arch_model(r * 1000, mean="Constant", vol="GARCH", p=1, q=1).fit(disp="off").params
    assert abs(a - ref["alpha[1]"]) < 0.02 and abs(b - ref["beta[1]"]) < 0.03
    _, a0, b0, _ = garch11_fit(rng.normal(0, 0.01, 20_000))
    assert a0 + b0 < 0.2 or a0 < 0.01


# -- WNT-B ------------------------------------------------------------------------------------


def test_wnt_b_real_statistic_is_backtests_sharpe_and_a_planted_signal_passes() -> None:
    bars = _bars_from_returns(_ar_returns(3000, 0.25, seed=1))
    res = white_noise_b(MOMENTUM, bars, config=CFG, reps=200, seed=0)
    assert res.statistic == backtest(MOMENTUM, bars, CFG).metrics["sharpe"]
    assert res.reason is None and res.passed and res.p_value == pytest.approx(1 / 201)
    assert res.feeds == (FailureType.NOISE_FITTING,) and res.n_null == 200 and len(res.null) == 200
    blk = white_noise_b(MOMENTUM, bars, config=CFG, reps=200, method="block", mean_block=2.0, seed=0)
    assert blk.passed and blk.mean_block == 2.0


def test_wnt_b_on_pure_noise_does_not_pass() -> None:
    bars = _bars_from_returns(_ar_returns(3000, 0.0, seed=2))
    for method in ("permutation", "block"):
        res = white_noise_b(MOMENTUM, bars, config=CFG, reps=200, method=method, seed=0)  # type: ignore[arg-type]
        assert res.reason is None and not res.passed and res.p_value is not None and res.p_value > 0.01


def test_wnt_b_p_value_matches_a_numpy_oracle_of_the_null_sharpes() -> None:
    """``p = (1 + #{null >= real}) / (1 + B)`` recomputed from the reported null distribution, and
    a null Sharpe equal to a backtest of the rebuilt market."""
    bars = random_bars(1500, seed=9)
    res = white_noise_b(SMA_CROSS, bars, config=CFG, reps=40, seed=5)
    null = np.array(res.null)
    assert res.p_value == (1 + np.count_nonzero(null >= res.statistic)) / 41
    comps, v, offsets, base = _components(bars)
    o, h, lo, c, vv, _ = resampled_markets(
        bar_factors(comps, v), base, offsets, seed=5, first=3, count=1, mean_block=None
    )
    t = pa.table({"symbol": ["AAA"] * 1500, "start": bars.column("start"), "open": o[0], "high": h[0], "low": lo[0],
                  "close": c[0], "volume": vv[0]})  # fmt: skip
    assert backtest(SMA_CROSS, t, CFG).metrics["sharpe"] == pytest.approx(null[3], rel=1e-12, abs=1e-12)


def test_wnt_b_is_deterministic_for_a_seed() -> None:
    bars = random_bars(800, seed=3)
    a = white_noise_b(SMA_CROSS, bars, config=CFG, reps=30, seed=11)
    b = white_noise_b(SMA_CROSS, bars, config=CFG, reps=30, seed=11)
    c = white_noise_b(SMA_CROSS, bars, config=CFG, reps=30, seed=12)
    assert a == b and a.null != c.null


# -- WNT-A and lag collapse -------------------------------------------------------------------


def test_a_strategy_that_peeks_one_bar_ahead_fails_wnt_a_and_lag_collapse(peeking: dict[str, object]) -> None:
    bars = random_bars(2000, seed=5)
    a = white_noise_a(peeking, bars, config=CFG, markets=20, seed=1)
    assert a.reason is None and not a.passed and a.statistic > a.threshold  # type: ignore[operator]
    assert a.feeds == (FailureType.LOOKAHEAD_BIAS,) and a.n_graduating == 20
    lag = lag_collapse(peeking, bars, config=CFG)
    assert lag.reason is None and not lag.passed and lag.statistic < 0.5 and lag.sharpe > 10


def test_an_honest_strategy_passes_wnt_a_and_keeps_its_edge_with_one_more_bar() -> None:
    bars = _bars_from_returns(_ar_returns(3000, 0.3, seed=6, lag=1))
    a = white_noise_a(SMA_CROSS, bars, config=CFG, markets=40, seed=2)
    assert a.reason is None and a.passed and a.markets == 40 and len(a.null) == 40 and not a.fitted
    smooth = {**MOMENTUM, "entry_long": {"op": "gt", "left": {"op": "sma", "x": _RET1, "n": 3}, "right": 0},
              "exit_long": {"op": "lt", "left": {"op": "sma", "x": _RET1, "n": 3}, "right": 0},
              "entry_short": None, "exit_short": None}  # fmt: skip
    smooth = {k: v for k, v in smooth.items() if v is not None}
    lag = lag_collapse(smooth, _bars_from_returns(_ar_returns(5000, 0.5, seed=6, lag=1)), config=CFG)
    assert lag.reason is None and lag.passed, lag


def test_wnt_a_fits_a_family_per_market() -> None:
    bars = random_bars(1200, seed=8)
    a = white_noise_a(SMA_CROSS, bars, config=CFG, markets=12, seed=0, grid={"fast": [3, 5, 8], "slow": [20, 30]})
    assert a.reason is None and a.fitted and a.fit_fraction == 0.5 and len(a.null) == 12
    b = white_noise_a(SMA_CROSS, bars, config=CFG, markets=12, seed=0, grid={"fast": [3, 5, 8], "slow": [20, 30]})
    assert a == b


# -- perturbation -----------------------------------------------------------------------------


def test_perturbation_passes_a_smooth_edge_and_fails_a_knife_edge_window() -> None:
    smooth = {"instruments": ["AAA"], "timeframe": "1m",
              "entry_long": {"op": "gt", "left": {"op": "sma", "x": _RET1, "n": 5}, "right": 0},
              "exit_long": {"op": "lt", "left": {"op": "sma", "x": _RET1, "n": 5}, "right": 0}}  # fmt: skip
    ok = perturbation(smooth, _bars_from_returns(_ar_returns(4000, 0.3, seed=3)), config=CFG)
    assert ok.reason is None and ok.passed
    assert {"$.entry_long.left.n", "$.exit_long.left.x.n", "$.exit_long.right"} <= set(ok.sites)
    windows = [i for i, p in enumerate(ok.sites) if p.endswith(".n")]
    assert all(row[i].is_integer() and row[i] >= 1 for row in ok.values for i in windows)
    assert any("zero" in s for s in ok.skipped)
    # the edge lives at exactly 20 bars: a lag of 19 on a bar return predicts the next bar
    knife = {"instruments": ["AAA"], "timeframe": "1m",
             "entry_long": {"op": "gt", "left": {"op": "lag", "x": _RET1, "n": 19}, "right": 0},
             "exit_long": {"op": "lt", "left": {"op": "lag", "x": _RET1, "n": 19}, "right": 0}}  # fmt: skip
    bad = perturbation(knife, _bars_from_returns(_ar_returns(4000, 0.4, seed=3, lag=20)), config=CFG)
    assert bad.reason is None and not bad.passed and bad.peak_sharpe > 0 and bad.statistic < 0.5, bad
    assert bad.feeds == (FailureType.PARAMETER_INSTABILITY,)


def test_perturbation_variants_are_valid_integers_and_the_centre_is_the_strategy() -> None:
    bars = random_bars(1500, seed=5)  # a positive Sharpe (a peak to perturb around)
    res = perturbation(SMA_CROSS, bars, config=CFG, points=2, joint=4, seed=0)
    assert res.reason is None and res.points == len(res.values) == len(res.sharpes) >= 4
    assert res.peak_sharpe == backtest(SMA_CROSS, bars, CFG).metrics["sharpe"]
    assert res.sites == ("$.params.fast", "$.params.slow")
    for fast, slow in res.values:
        assert fast.is_integer() and slow.is_integer() and fast >= 1 and slow >= 1
        assert 0.8 * 5 - 0.5 <= fast <= 1.2 * 5 + 0.5 and 0.8 * 20 - 0.5 <= slow <= 1.2 * 20 + 0.5
    assert (5.0, 20.0) not in res.values


# -- degenerate inputs ------------------------------------------------------------------------


def _constant(n: int) -> pa.Table:
    return pa.table({"symbol": ["AAA"] * n, "start": pa.array(T0 + MINUTE * np.arange(n), pa.timestamp("ns", tz="UTC")),
                     "open": np.full(n, 100.0), "high": np.full(n, 100.0), "low": np.full(n, 100.0),
                     "close": np.full(n, 100.0), "volume": np.full(n, 1000.0)})  # fmt: skip


@pytest.mark.parametrize(
    ("strategy", "bars", "words"),
    [
        (NEVER, random_bars(500, seed=1), "no trades"),
        (SMA_CROSS, _constant(500), "constant prices"),
        (SMA_CROSS, random_bars(10, seed=1), "too few bars"),
    ],
)
def test_degenerate_inputs_fail_with_a_reason(strategy: dict[str, object], bars: pa.Table, words: str) -> None:
    results = [
        white_noise_b(strategy, bars, config=CFG, reps=10),
        lag_collapse(strategy, bars, config=CFG),
        perturbation(strategy, bars, config=CFG),
        white_noise_a(strategy, bars, config=CFG, markets=4),
    ]
    for r in results:
        assert not r.passed and r.reason is not None and words in r.reason, (r.name, r.reason)


def test_unaligned_symbols_cannot_be_permuted_jointly() -> None:
    t = random_bars(300, ("AAA", "BBB"), seed=1)
    t = t.filter(pa.array(np.arange(600) != 5))  # AAA loses one bar
    two = {**SMA_CROSS, "instruments": ["AAA", "BBB"]}
    res = white_noise_b(two, t, config=CFG, reps=5)
    assert not res.passed and res.reason is not None and "bar counts" in res.reason


def test_invalid_arguments_raise_typed_errors() -> None:
    from quant_engine.errors import InvalidArgumentError

    bars = random_bars(200, seed=1)
    with pytest.raises(InvalidArgumentError):
        white_noise_b(SMA_CROSS, bars, config=CFG, method="shuffle")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        white_noise_b(SMA_CROSS, bars, config=CFG, reps=0)
    with pytest.raises(InvalidArgumentError):
        white_noise_a(SMA_CROSS, bars, config=CFG, markets=1)
    with pytest.raises(InvalidArgumentError):
        perturbation(SMA_CROSS, bars, config=CFG, scale=1.5)
    with pytest.raises(InvalidArgumentError):
        lag_collapse(SMA_CROSS, bars, config=CFG, lag=0)
    with pytest.raises(InvalidArgumentError):
        RedTeamThresholds(wnt_a_graduation_psr=1.5)


def test_sharpe_psr_rows_match_the_column_moments_kernel() -> None:
    from quant_engine.kernels.sharpe_stats import column_moments, probabilistic_sharpe
    from quant_engine.research.redteam.nulls._common import sharpe_psr

    x = np.random.default_rng(3).standard_t(5, (6, 400)) * 0.01 + 0.001
    sr, ps = sharpe_psr(x, 252.0)
    mom = column_moments(np.ascontiguousarray(x.T))
    for j in range(6):
        mean, sd, g3, g4 = mom[:, j]
        assert sr[j] == pytest.approx(mean / sd * math.sqrt(252.0), rel=1e-10)
        assert ps[j] == pytest.approx(probabilistic_sharpe(mean / sd, 400, g3, g4, 0.0), rel=1e-9)


def test_several_symbols_and_atr_stops_run_as_backtest_runs_them() -> None:
    """Two symbols (shared cash, merged order) and ATR stop / take-profit series: the real
    statistic of WNT-B and the unlagged Sharpe of lag collapse are backtest()'s, and WNT-A runs."""
    two = {**SMA_CROSS, "instruments": ["AAA", "BBB"], "entry_short": SMA_CROSS["exit_long"],
           "exit_short": SMA_CROSS["entry_long"], "stop_loss": {"kind": "atr", "n": 10, "mult": 2.0},
           "take_profit": {"kind": "atr", "n": 10, "mult": 3.0}, "time_stop": 40}  # fmt: skip
    for seed in range(6):
        bars = random_bars(1200, ("AAA", "BBB"), seed=seed)
        want = backtest(two, bars, CFG).metrics["sharpe"]
        if want > 0:
            break
    b = white_noise_b(two, bars, config=CFG, reps=20, seed=1)
    assert b.reason is None and b.statistic == want
    lag = lag_collapse(two, bars, config=CFG)
    assert lag.sharpe == want
    a = white_noise_a(two, bars, config=CFG, markets=6, seed=1)
    assert a.reason is None and len(a.garch) == 2
