"""One execution model: ``LiveStrategy`` fed bar by bar equals ``backtest()`` bit for bit.

* Prefix invariance through the live path: the signal ``on_bar`` acts on for the newest bar equals
  that bar's signal when the plan is evaluated on the whole window (random strategies).
* Conformance: random strategies, bars and configurations; bars fed one at a time (and in random
  batches) through ``LiveStrategy`` yield exactly the fills, trades, cash, positions, equity and
  metrics of ``backtest()`` on the same bars. 200 examples by default; ``-m slow`` runs more.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bar_factory import random_bars
from quant_engine.errors import InvalidArgumentError, StrategyValidationError, UnknownSymbolError
from quant_engine.research import BacktestConfig, backtest
from quant_engine.strategy import compile_strategy
from quant_engine.strategy.compiled import CompiledStrategy
from quant_engine.trading import Bar, LiveStrategy
from test_strategy_causality import cond_tree

UNLISTED = BacktestConfig(allow_unlisted_equities=True)
_SETTINGS = dict(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
)

stops = st.one_of(
    st.none(),
    st.builds(lambda v: {"kind": "percent", "value": v}, st.sampled_from([0.002, 0.005, 0.01])),
    st.builds(lambda v: {"kind": "points", "value": v}, st.sampled_from([0.1, 0.3, 1.0])),
    st.builds(lambda n, m: {"kind": "atr", "n": n, "mult": m}, st.integers(2, 6), st.sampled_from([0.5, 1.0, 2.0])),
)
sizings = st.sampled_from(
    [
        {"kind": "fixed", "quantity": 25},
        {"kind": "notional", "amount": 5_000.0},
        {"kind": "equity_fraction", "fraction": 0.5},
        {"kind": "risk_fraction", "fraction": 0.01},
    ]
)
configs = st.builds(
    lambda short, end, bps, fee: BacktestConfig(
        initial_cash=100_000.0, allow_short=short, close_at_end=end, allow_unlisted_equities=True,
        execution={"slippage": {"fixed_bps": bps}, "equity_fees": {"per_unit": fee, "minimum": 0.0}},
    ),
    st.booleans(), st.booleans(), st.sampled_from([0.0, 1.0, 5.0]), st.sampled_from([0.0, 0.005]),
)  # fmt: skip


@st.composite
def strategies(draw: st.DrawFn) -> CompiledStrategy:
    """A random strategy of the strategy language with random exit and sizing rules."""
    doc: dict[str, Any] = {
        "instruments": ["AAA"],
        "entry_long": draw(cond_tree),
        "exit_long": draw(cond_tree),
        "sizing": draw(sizings),
    }
    if draw(st.booleans()):
        doc["entry_short"] = draw(cond_tree)
        doc["exit_short"] = draw(cond_tree)
    for key in ("stop_loss", "take_profit"):
        rule = draw(stops)
        if rule is not None:
            doc[key] = rule
    if doc["sizing"]["kind"] == "risk_fraction" and "stop_loss" not in doc:
        doc["stop_loss"] = {"kind": "percent", "value": 0.005}  # the risk per unit
    if draw(st.booleans()):
        doc["time_stop"] = draw(st.integers(1, 8))
    try:
        return compile_strategy(doc)
    except StrategyValidationError as exc:  # e.g. log(0) between constants
        assume("undefined" not in exc.reason)
        raise


def _bars(seed: int, n: int) -> pa.Table:
    return random_bars(n, seed=seed, vol=0.004).drop_columns(["vwap"])


def _rows(bars: pa.Table) -> list[Bar]:
    cols = [bars.column(k).to_numpy() for k in ("open", "high", "low", "close", "volume")]
    ts = bars.column("start").cast(pa.int64()).to_numpy()
    return [Bar(int(ts[i]), *(float(c[i]) for c in cols)) for i in range(bars.num_rows)]


def _same_metrics(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        x, y = float(a[k]), float(b[k])
        assert (math.isnan(x) and math.isnan(y)) or x == y, (k, x, y)


def _check_conforms(live: LiveStrategy, cs: CompiledStrategy, bars: pa.Table, config: BacktestConfig) -> None:
    res = backtest(cs, bars, config)
    fills, trades = live.drain()
    assert fills.equals(res.fills), (fills.to_pydict(), res.fills.to_pydict())
    assert trades.equals(res.trades)
    assert live.equity == res.equity.column("equity")[-1].as_py() == res.metrics["final_equity"]
    held = res.positions.column("quantity").to_pylist()
    assert live.position["quantity"] == (held[-1] if held else 0.0)
    _same_metrics(live.metrics(), res.metrics)
    assert live.rejections() == res.rejections


@settings(max_examples=200, **_SETTINGS)  # type: ignore[arg-type]
@given(cs=strategies(), config=configs, seed=st.integers(0, 10_000), n=st.integers(3, 90))
def test_bar_by_bar_equals_backtest(cs: CompiledStrategy, config: BacktestConfig, seed: int, n: int) -> None:
    bars = _bars(seed, n)
    live = LiveStrategy(cs, config)
    rows = _rows(bars)
    for i, bar in enumerate(rows):
        live.on_bar(bar, last=i + 1 == n)
    _check_conforms(live, cs, bars, config)


@pytest.mark.slow
@settings(max_examples=1_500, **_SETTINGS)  # type: ignore[arg-type]
@given(cs=strategies(), config=configs, seed=st.integers(0, 10_000), n=st.integers(3, 200))
def test_bar_by_bar_equals_backtest_many(cs: CompiledStrategy, config: BacktestConfig, seed: int, n: int) -> None:
    test_bar_by_bar_equals_backtest.hypothesis.inner_test(cs, config, seed, n)  # type: ignore[attr-defined]


@settings(max_examples=100, **_SETTINGS)  # type: ignore[arg-type]
@given(cs=strategies(), config=configs, seed=st.integers(0, 10_000), n=st.integers(3, 150), data=st.data())
def test_batches_equal_backtest(
    cs: CompiledStrategy, config: BacktestConfig, seed: int, n: int, data: st.DataObject
) -> None:
    """``on_bars`` over random batch boundaries (mixed with ``on_bar``) equals the backtest."""
    bars = _bars(seed, n)
    live = LiveStrategy(cs, config)
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=6)))
    rows = _rows(bars)
    for a, b in zip([0, *cuts], [*cuts, n]):
        if b - a == 1 and data.draw(st.booleans()):
            live.on_bar(rows[a], last=b == n)
        else:
            live.on_bars(bars.slice(a, b - a), last=b == n)
    _check_conforms(live, cs, bars, config)


@settings(max_examples=150, **_SETTINGS)  # type: ignore[arg-type]
@given(cs=strategies(), seed=st.integers(0, 10_000), n=st.integers(1, 140), data=st.data())
def test_on_bar_signal_equals_the_whole_history(cs: CompiledStrategy, seed: int, n: int, data: st.DataObject) -> None:
    """Prefix invariance through the step evaluator: the signal bits, stop and take-profit
    distances ``on_bar`` computes for the newest bar alone (incremental indicator state, no
    re-evaluation) equal, bit for bit and NaN warm-up included, the row of that bar when the plan
    is evaluated on the whole history; ``on_bars`` over random batches gives the same."""
    bars = _bars(seed, n)
    if data.draw(st.booleans()):  # a session boundary inside the data (session sums restart)
        ts = bars.column("start").cast(pa.int64()).to_numpy().copy()
        ts[n // 2 :] += 86_400_000_000_000
        bars = bars.set_column(1, "start", pa.array(ts, pa.timestamp("ns", tz="UTC")))
    chunk = next(iter(cs.signal_chunks(cs.prepare(bars))))
    live = LiveStrategy(cs, UNLISTED)
    assert live.program is not None
    sig, stop, take = [], [], []
    for bar in _rows(bars):
        live.on_bar(bar)
        sig.append(live.last_signal)
        stop.append(live.last_stop_distance)
        take.append(live.last_take_distance)
    assert np.array_equal(np.array(sig, np.uint8), chunk.signals[0])
    if chunk.stop_distance is not None:
        assert np.array_equal(np.array(stop), chunk.stop_distance[0], equal_nan=True)
    if chunk.take_distance is not None:
        assert np.array_equal(np.array(take), chunk.take_distance[0], equal_nan=True)
    batched = LiveStrategy(cs, UNLISTED)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(n - 1, 1)), max_size=4)) - {n})
    got = []
    for a, b in zip([0, *cuts], [*cuts, n]):
        batched.on_bars(bars.slice(a, b - a))
        got.append(batched.last_signal)
    assert got == [int(chunk.signals[0][b - 1]) for b in [*cuts, n]]


def _bits(cs: CompiledStrategy, bars: pa.Table) -> np.ndarray:
    chunk = next(iter(cs.signal_chunks(cs.prepare(bars))))
    return chunk.signals[0].copy()


def test_bad_input_is_refused() -> None:
    cs = compile_strategy({"instruments": ["AAA"], "entry_long": {"op": "gt", "left": "close", "right": 1.0}})
    with pytest.raises(UnknownSymbolError):
        LiveStrategy(cs)  # an unlisted ticker needs the opt-in, as in a backtest
    with pytest.raises(InvalidArgumentError):
        LiveStrategy(
            compile_strategy({"instruments": ["AAA", "BBB"], "entry_long": {"op": "gt", "left": "close", "right": 1.0}})
        )
    live = LiveStrategy(cs, {"allow_unlisted_equities": True})
    bar = _rows(_bars(1, 3))
    live.on_bar(bar[1])
    with pytest.raises(InvalidArgumentError):
        live.on_bar(bar[0])  # not after the previous bar
    with pytest.raises(InvalidArgumentError):
        live.on_bars({"start": np.zeros(0, np.int64), "open": [], "high": [], "low": [], "close": [], "volume": []})


def _lagdiff(inputs, iparams, fparams, out):  # type: ignore[no-untyped-def]
    x = inputs[0]
    n = iparams[0]
    for i in range(x.shape[0]):
        out[i] = np.nan if i < n else x[i] - x[i - n]


def test_user_operator_plans_evaluate_the_whole_history() -> None:
    """A plan calling a user operator (no step form) trades exactly as ``backtest()``, alone and
    in a book, bar by bar and in batches."""
    from quant_engine.strategy import register_operator, unregister_operator
    from quant_engine.trading import LiveBook

    register_operator("live_lagdiff", _lagdiff, inputs=1, int_params={"n": (1, 50)}, replace=True)
    try:
        move = {"op": "call", "fn": "live_lagdiff", "args": ["close"], "params": {"n": 3}}
        cs = compile_strategy(
            {
                "instruments": ["AAA"],
                "entry_long": {"op": "gt", "left": move, "right": 0.0},
                "exit_long": {"op": "lt", "left": move, "right": 0.0},
                "stop_loss": {"kind": "atr", "n": 4, "mult": 1.0},
            }
        )
        bars = _bars(5, 60)
        alone = LiveStrategy(cs, UNLISTED)
        assert alone.program is None
        for i, bar in enumerate(_rows(bars)):
            alone.on_bar(bar, last=i == 59)
        _check_conforms(alone, cs, bars, UNLISTED)
        batched = LiveStrategy(cs, UNLISTED)
        batched.on_bars(bars.slice(0, 25))
        batched.on_bars(bars.slice(25, 35), last=True)
        _check_conforms(batched, cs, bars, UNLISTED)
        runner = LiveStrategy(cs, UNLISTED)
        book = LiveBook([runner, LiveStrategy(SMA_DOC, UNLISTED)])
        for i in range(60):
            book.on_close(bars.slice(i, 1), last=i == 59)
        _check_conforms(runner, cs, bars, UNLISTED)
    finally:
        unregister_operator("live_lagdiff")


SMA_DOC = {
    "instruments": ["AAA"],
    "entry_long": {"op": "gt", "left": "close", "right": {"op": "sma", "x": "close", "n": 5}},
}
