"""The typed run spec across the FFI: ``_core.RunSpec`` is validated once (typed errors, never a
panic), its enums come from the core, and results come back as Arrow tables built in Rust."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from quant_engine import _core
from quant_engine.errors import InternalError, InvalidArgumentError, UnknownSymbolError
from quant_engine.research import BacktestConfig, backtest
from quant_engine.research.run_spec import run_spec
from quant_engine.strategy import compile_strategy
from quant_engine.trading import LiveStrategy

T0 = 1_704_205_800 * 1_000_000_000
MINUTE = 60_000_000_000

STRATEGY = {
    "instruments": ["AAPL"],
    "timeframe": "1m",
    "entry_long": {"op": "gt", "left": "close", "right": {"op": "sma", "x": "close", "n": 3}},
    "exit_long": {"op": "lt", "left": "close", "right": {"op": "sma", "x": "close", "n": 3}},
    "stop_loss": {"kind": "percent", "value": 0.004},
    "take_profit": {"kind": "points", "value": 0.5},
    "time_stop": 7,
}

REASONS = ("ENTRY", "SIGNAL", "STOP_LOSS", "TAKE_PROFIT", "TIME_STOP", "END")


def bars(n: int = 400, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.001, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.001, n)))
    return pa.table(
        {
            "symbol": ["AAPL"] * n,
            "start": pa.array(T0 + np.arange(n) * MINUTE, pa.timestamp("ns", tz="UTC")),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": np.full(n, 1e4),
        }
    )


def spec(**over: Any) -> _core.RunSpec:
    kw: dict[str, Any] = dict(
        periods_per_year=252.0,
        stop=_core.ExitKind.PERCENT,
        stop_values=np.array([0.01]),
        take=_core.ExitKind.NONE,
        take_values=np.array([0.0]),
        time_stops=np.array([0], np.int64),
        sizing=_core.SizingKind.FIXED,
        sizing_values=np.array([10.0]),
    )
    kw.update(over)
    symbols = kw.pop("symbols", ["AAPL"])
    return _core.RunSpec(symbols, **kw)


def test_enums_and_codes_come_from_the_core() -> None:
    assert [getattr(_core.FillReason, n).code for n in REASONS] == [n.lower() for n in REASONS]
    assert [int(getattr(_core.FillReason, n)) for n in REASONS] == list(range(6))
    assert _core.ExitKind.SERIES.code == "series" and _core.SizingKind.RISK_FRACTION.code == "risk_fraction"
    res = backtest(STRATEGY, bars(), BacktestConfig(initial_cash=100_000))
    assert res.fills.num_rows > 0
    for table, column in ((res.fills, "reason"), (res.trades, "exit_reason")):
        dictionary = table.column(column).combine_chunks().dictionary.to_pylist()
        assert dictionary == [getattr(_core.FillReason, n).code for n in REASONS]
    assert {"stop_loss", "take_profit"} & set(res.trades.column("exit_reason").cast(pa.string()).to_pylist())


def test_results_are_arrow_tables_with_the_documented_schemas() -> None:
    res = backtest(STRATEGY, bars(), BacktestConfig(initial_cash=100_000))
    ts = pa.timestamp("ns", tz="UTC")
    dictionary = pa.dictionary(pa.int32(), pa.string())
    assert res.fills.schema.types == [ts, pa.string(), dictionary] + [pa.float64()] * 6 + [dictionary]
    assert res.trades.schema.names[-1] == "exit_reason" and res.trades.schema.field("bars_held").type == pa.int64()
    assert res.trades.schema.field("entry_time").type == ts
    assert set(res.fills.column("symbol").to_pylist()) == {"AAPL"}
    sides = res.fills.column("side").cast(pa.string()).to_pylist()
    assert set(sides) <= {"buy", "sell"} and sides[0] == "buy"
    live = LiveStrategy(STRATEGY, BacktestConfig(initial_cash=100_000))
    live.on_bars(bars())
    fills, trades = live.drain()
    assert fills.schema == res.fills.schema and trades.schema == res.trades.schema


def test_the_spec_holds_the_account_and_every_combination() -> None:
    cs = compile_strategy(
        {**STRATEGY, "params": {"pct": 0.01}, "stop_loss": {"kind": "percent", "value": {"op": "param", "name": "pct"}}}
    )
    grid = cs.grid({"pct": [0.01, 0.02, 0.03]})
    s = run_spec(cs, grid, BacktestConfig(initial_cash=5e4, allow_short=False), ["AAPL"])
    assert (s.symbols, s.combinations, s.initial_cash, s.allow_short, s.close_at_end) == (["AAPL"], 3, 5e4, False, True)
    assert s.periods_per_year == 252 * 390


@pytest.mark.parametrize(
    ("over", "error", "words"),
    [
        ({"stop_values": np.array([-0.01])}, InvalidArgumentError, "stop_values"),
        ({"stop_values": np.array([np.nan])}, InvalidArgumentError, "stop_values"),
        ({"take": _core.ExitKind.POINTS, "take_values": np.array([0.0])}, InvalidArgumentError, "take_values"),
        ({"sizing_values": np.array([0.0])}, InvalidArgumentError, "sizing"),
        ({"time_stops": np.array([-2], np.int64)}, InvalidArgumentError, "time_stops"),
        ({"time_stops": np.array([1, 2], np.int64)}, InvalidArgumentError, "time_stops"),
        ({"stop": _core.ExitKind.NONE, "sizing": _core.SizingKind.RISK_FRACTION}, InvalidArgumentError, "stop-loss"),
        ({"periods_per_year": 0.0}, InvalidArgumentError, "periods_per_year"),
        ({"initial_cash": -1.0}, InvalidArgumentError, "initial_cash"),
        ({"symbols": []}, InvalidArgumentError, "symbol"),
        ({"symbols": ["NOTLISTED9"]}, UnknownSymbolError, "NOTLISTED9"),
        ({"execution": '{"slippage": {"fixed_bsp": 1}}'}, InvalidArgumentError, "fixed_bsp"),
        ({"risk_limits": '{"equity": {"max_position": -5}}'}, InvalidArgumentError, "max_position"),
        ({"instruments": '{"AAPL": {"multiplier": "x"}}'}, InvalidArgumentError, "instrument"),
        ({"reference_month": 202413}, InvalidArgumentError, "month"),
    ],
)
def test_a_bad_spec_is_a_typed_error_at_construction(over: dict[str, Any], error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words) as exc:
        spec(**over)
    assert not isinstance(exc.value, InternalError)


def test_entry_points_check_the_spec_against_their_inputs() -> None:
    s = spec()
    n = 10
    f = np.full(n, 100.0)
    cols = (np.arange(n, dtype=np.int64), f, f, f, f, f)
    with pytest.raises(InvalidArgumentError, match="combination"):
        _core.backtest_run(s, *cols, np.array([0, n]), np.zeros(0, np.int64), np.zeros(n, np.uint8), combination=1)
    with pytest.raises(InvalidArgumentError, match="symbol"):
        _core.backtest_run(s, *cols, np.array([0, 5, n]), np.arange(n, dtype=np.int64), np.zeros(n, np.uint8))
    with pytest.raises(InvalidArgumentError, match="combination"):
        _core.backtest_sweep(s, *cols, np.array([0, n]), np.zeros(0, np.int64), np.zeros((2, n), np.uint8))
    with pytest.raises(InvalidArgumentError, match="combination"):
        _core.TradingStepper(s, 0, 3)
    with pytest.raises(TypeError):
        _core.RunSpec(["AAPL"], periods_per_year=1.0, stop=1, stop_values=np.ones(1), take=_core.ExitKind.NONE,  # type: ignore[arg-type]
                      take_values=np.ones(1), time_stops=np.zeros(1, np.int64), sizing=_core.SizingKind.FIXED,
                      sizing_values=np.ones(1))  # fmt: skip
