"""``LiveBook``: many runners stepped at each bar close equal the same runners fed alone.

Random strategies on several symbols, closes where some symbols have no bar, runners fed through
the book and through ``on_bar`` mixed: every runner's fills, trades, equity, metrics and signals
equal those of a twin runner fed the same bars one at a time on its own (itself checked against
``backtest()`` in ``test_trading_live.py``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bar_factory import random_bars
from quant_engine.errors import InvalidArgumentError, SchemaError
from quant_engine.research import BacktestConfig
from quant_engine.strategy import compile_strategy
from quant_engine.strategy.compiled import CompiledStrategy
from quant_engine.trading import Bar, LiveBook, LiveStrategy
from test_trading_live import _SETTINGS, UNLISTED, _same_metrics, strategies

SYMBOLS = ("AAA", "BBB", "CCC")


def _closes(n: int, seed: int, drop: np.ndarray) -> list[pa.Table]:
    """``n`` bar closes of the three symbols, a symbol's bar left out where ``drop[t, k]``."""
    bars = random_bars(n, SYMBOLS, seed=seed, vol=0.004).drop_columns(["vwap", "trades"])
    out = []
    for t in range(n):
        rows = [k * n + t for k in range(len(SYMBOLS)) if not drop[t, k]]
        out.append(bars.take(pa.array(rows, pa.int64())))
    return out


def _bar(table: pa.Table, i: int) -> Bar:
    ts = table.column("start").cast(pa.int64())[i].as_py()
    return Bar(ts, *(table.column(k)[i].as_py() for k in ("open", "high", "low", "close", "volume")))


@settings(max_examples=40, **_SETTINGS)  # type: ignore[arg-type]
@given(
    plans=st.lists(strategies(), min_size=1, max_size=3),
    config=st.just(BacktestConfig(allow_unlisted_equities=True, allow_short=True)),
    seed=st.integers(0, 10_000),
    n=st.integers(2, 60),
    data=st.data(),
)
def test_book_equals_runners_alone(
    plans: list[CompiledStrategy], config: BacktestConfig, seed: int, n: int, data: st.DataObject
) -> None:
    drop = np.array(data.draw(st.lists(st.booleans(), min_size=n * 3, max_size=n * 3))).reshape(n, 3)
    closes = _closes(n, seed, drop)
    runners = [LiveStrategy(cs, config, symbol=s) for cs in plans for s in SYMBOLS]
    twins = [LiveStrategy(cs, config, symbol=s) for cs in plans for s in SYMBOLS]
    book = LiveBook(runners)
    direct = data.draw(st.sets(st.integers(0, n - 1), max_size=3))  # closes fed runner by runner
    for t, close in enumerate(closes):
        names = close.column("symbol").to_pylist()
        if t in direct:
            for r in runners:
                if r.symbol in names:
                    r.on_bar(_bar(close, names.index(r.symbol)), last=t + 1 == n)
        else:
            book.on_close(close, last=t + 1 == n)
        for r, tw in zip(runners, twins):
            if r.symbol in names:
                tw.on_bar(_bar(close, names.index(r.symbol)), last=t + 1 == n)
                assert r.last_signal == tw.last_signal
    for r, tw in zip(runners, twins):
        fills, trades = r.drain()
        want_fills, want_trades = tw.drain()
        assert fills.equals(want_fills) and trades.equals(want_trades)
        assert r.equity == tw.equity and r.cash == tw.cash
        _same_metrics(r.metrics(), tw.metrics())


def test_grid_builds_every_pair_and_steps_them() -> None:
    doc = {
        "instruments": ["AAA"],
        "entry_long": {"op": "gt", "left": "close", "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "n"}}},
        "exit_long": {"op": "lt", "left": "close", "right": {"op": "ema", "x": "close", "n": 4}},
        "params": {"n": 3},
    }  # fmt: skip
    book = LiveBook.grid([doc, doc], SYMBOLS, UNLISTED, params=[{"n": 3}, {"n": 5}])
    assert [(r.symbol, r._grid[0, 0]) for r in book.runners] == [(s, n) for n in (3.0, 5.0) for s in SYMBOLS]
    closes = _closes(30, 1, np.zeros((30, 3), bool))
    for close in closes:
        book.on_close(close)
    alone = LiveStrategy(doc, UNLISTED, params={"n": 5}, symbol="BBB")
    for close in closes:
        alone.on_bar(_bar(close, 1))
    assert book.runners[4].equity == alone.equity and book.runners[4].last_signal == alone.last_signal


def test_bad_closes_are_refused() -> None:
    cs = compile_strategy({"instruments": ["AAA"], "entry_long": {"op": "gt", "left": "close", "right": 1.0}})
    with pytest.raises(InvalidArgumentError):
        LiveBook([])
    r = LiveStrategy(cs, UNLISTED)
    with pytest.raises(InvalidArgumentError):
        LiveBook([r, r])
    book = LiveBook([r, r.for_symbol("BBB")])
    with pytest.raises(InvalidArgumentError, match="at most one"):
        LiveBook([r])  # its state lives in the first book
    closes = _closes(3, 2, np.zeros((3, 3), bool))
    book.on_close(closes[1])
    with pytest.raises(InvalidArgumentError, match="not after the previous bar"):
        book.on_close(closes[0])
    with pytest.raises(InvalidArgumentError, match="one bar per symbol"):
        book.on_close(pa.concat_tables([closes[2], closes[2]]))
    with pytest.raises(SchemaError, match="'close'"):
        book.on_close(closes[2].drop_columns(["close"]))
    with pytest.raises(SchemaError):
        book.on_close([1, 2, 3])


def test_step_each_refuses_columns_of_another_length() -> None:
    from quant_engine import _core

    r = LiveStrategy(
        compile_strategy({"instruments": ["AAA"], "entry_long": {"op": "gt", "left": "close", "right": 1.0}}), UNLISTED
    )
    st = r._stepper_for(0)
    one, two = np.ones(1), np.ones(2)
    with pytest.raises(InvalidArgumentError, match="needs 1 rows"):
        _core.TradingStepper.step_each(
            [st], np.ones(1, np.int64), one, one, one, two, one, np.zeros(1, np.uint8), one, one
        )
    _core.TradingStepper.step_each([st], np.ones(1, np.int64), one, one, one, one, one, np.zeros(1, np.uint8), one, one)
    assert st.position(0)["last_close"] == 1.0
