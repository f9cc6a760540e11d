"""The backtester: fill timing, stops, costs, shared cash, rejections, sweeps, results, CLI.

Small hand-made bars make every expected number checkable by hand; an independent Python
simulation of the documented rules checks a long random run; sweeps must equal one backtest per
combination.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from bar_factory import MINUTE, T0, random_bars
from quant_engine.research import BacktestConfig, backtest, performance_metrics, sweep
from quant_engine.strategy import compile_strategy
from sim_oracle import reference_long_only


def bars_from(rows: list[tuple[float, float, float, float]], symbol: str = "AAPL", start: int = T0) -> pa.Table:
    """Bars from (open, high, low, close) rows, one minute apart."""
    o, h, lo, c = (np.array(col, np.float64) for col in zip(*rows))
    n = len(rows)
    return pa.table(
        {
            "symbol": pa.array([symbol] * n),
            "start": pa.array(start + MINUTE * np.arange(n, dtype=np.int64), pa.timestamp("ns", tz="UTC")),
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": np.full(n, 1_000.0),
        }
    )


def strategy(**rules: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"instruments": ["AAPL"], "sizing": {"kind": "fixed", "quantity": 10}}
    doc.update(rules)
    return doc


# entry when close > 100.5, exit when close < 99.5
ENTRY = {"op": "gt", "left": "close", "right": 100.5}
EXIT = {"op": "lt", "left": "close", "right": 99.5}
FREE = BacktestConfig(initial_cash=10_000.0)


def test_signal_at_close_fills_at_next_open() -> None:
    rows = [
        (100, 100.2, 99.8, 100),
        (100, 101.2, 99.9, 101),
        (102, 102.5, 101.5, 102),
        (101, 101, 99, 99),
        (98, 98.5, 97.5, 98),
    ]
    res = backtest(strategy(entry_long=ENTRY, exit_long=EXIT), bars_from(rows), FREE)
    fills = res.fills.to_pylist()
    assert [(f["side"], f["price"], f["reason"]) for f in fills] == [("buy", 102.0, "entry"), ("sell", 98.0, "signal")]
    assert fills[0]["ts"].timestamp() * 1e9 == pytest.approx(T0 + 2 * MINUTE)  # bar 2's open
    (trade,) = res.trades.to_pylist()
    assert trade["pnl"] == pytest.approx((98 - 102) * 10) and trade["exit_reason"] == "signal"
    assert trade["bars_held"] == 3
    eq = res.equity.column("equity").to_numpy()
    assert eq.tolist() == pytest.approx([10_000, 10_000, 10_000, 10_000 - 30, 10_000 - 40])
    assert res.metrics["trades"] == 1 and res.metrics["win_rate"] == 0.0


def test_no_fill_for_a_signal_on_the_last_bar() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 100, 101)]
    res = backtest(strategy(entry_long=ENTRY), bars_from(rows), FREE)
    assert res.fills.num_rows == 0


def test_stop_first_when_one_bar_reaches_both() -> None:
    rows = [(100, 101, 100, 101), (100, 100.5, 99.5, 100), (100, 104, 97, 100), (100, 100, 100, 100)]
    doc = strategy(
        entry_long=ENTRY, stop_loss={"kind": "percent", "value": 0.02}, take_profit={"kind": "points", "value": 3.0}
    )
    res = backtest(doc, bars_from(rows), FREE)
    (trade,) = res.trades.to_pylist()
    assert trade["exit_reason"] == "stop_loss"
    assert trade["exit_price"] == pytest.approx(98.0)  # 100 - 2 %, not the 103 take-profit


def test_stop_gap_fills_at_the_open_and_take_profit_at_the_limit() -> None:
    rows = [(100, 101, 100, 101), (100, 100.5, 99.5, 100), (96, 96.5, 95, 96)]
    doc = strategy(entry_long=ENTRY, stop_loss={"kind": "points", "value": 2.0})
    (trade,) = backtest(doc, bars_from(rows), FREE).trades.to_pylist()
    assert trade["exit_price"] == pytest.approx(96.0) and trade["exit_reason"] == "stop_loss"
    rows = [(100, 101, 100, 101), (100, 100.5, 99.5, 100), (100.5, 103.5, 100.2, 103)]
    doc = strategy(entry_long=ENTRY, take_profit={"kind": "points", "value": 3.0})
    (trade,) = backtest(doc, bars_from(rows), FREE).trades.to_pylist()
    assert trade["exit_price"] == pytest.approx(103.0) and trade["exit_reason"] == "take_profit"


def test_short_stop_and_time_stop() -> None:
    rows = [(100, 100, 99, 99), (100, 100.5, 99.5, 100), (100, 103, 99.5, 101), (100, 100, 100, 100)]
    doc = strategy(entry_short={"op": "lt", "left": "close", "right": 99.5}, stop_loss={"kind": "points", "value": 2.0})
    (trade,) = backtest(doc, bars_from(rows), FREE).trades.to_pylist()
    assert trade["side"] == "short" and trade["exit_price"] == pytest.approx(102.0)
    assert trade["pnl"] == pytest.approx(-20.0)
    rows = [(100, 101, 100, 101)] + [(100 + i, 100 + i, 100 + i, 100 + i) for i in range(1, 8)]
    doc = strategy(
        entry_long={"op": "gt", "left": "close", "right": 100.5}, time_stop=3, sizing={"kind": "fixed", "quantity": 1}
    )
    trades = backtest(
        doc, bars_from(rows), BacktestConfig(initial_cash=10_000.0, close_at_end=False)
    ).trades.to_pylist()
    first = trades[0]
    assert first["exit_reason"] == "time_stop" and first["bars_held"] == 4  # entered at bar 1, out at bar 4's open
    assert first["entry_price"] == 101.0 and first["exit_price"] == 104.0


def test_costs_are_charged_and_round_trip_pnl_is_exact() -> None:
    rows = [(100, 101, 100, 101), (100, 100.5, 99.5, 100), (105, 106, 104, 106), (99, 99, 98, 99), (110, 110, 110, 110)]
    cfg = BacktestConfig(
        initial_cash=10_000.0,
        execution={"slippage": {"fixed_bps": 10.0}, "equity_fees": {"per_unit": 0.01, "minimum": 1.0}},
    )
    res = backtest(strategy(entry_long=ENTRY, exit_long=EXIT), bars_from(rows), cfg)
    (trade,) = res.trades.to_pylist()
    buy, sell = res.fills.to_pylist()
    assert buy["price"] == pytest.approx(100 * 1.001) and sell["price"] == pytest.approx(110 * 0.999)
    assert buy["fees"] == 1.0 and sell["fees"] == 1.0  # 10 x 0.01 below the minimum
    base_pnl = (sell["base_price"] - buy["base_price"]) * 10
    assert trade["pnl"] == pytest.approx(base_pnl - 2.0 - buy["slippage"] - sell["slippage"])
    assert res.metrics["costs"] == pytest.approx(2.0 + buy["slippage"] + sell["slippage"])
    assert res.equity.column("equity")[-1].as_py() == pytest.approx(10_000 + trade["pnl"])
    # the execution model's own config types are accepted too, with the same result
    from quant_engine.execution import ExecutionConfig, FeeSchedule, Slippage
    from quant_engine.risk import RiskLimits

    typed = BacktestConfig(
        initial_cash=10_000.0,
        execution=ExecutionConfig(
            slippage=Slippage(fixed_bps=10.0), equity_fees=FeeSchedule(per_unit=0.01, minimum=1.0)
        ),
        risk_limits=RiskLimits(),
    )
    assert backtest(strategy(entry_long=ENTRY, exit_long=EXIT), bars_from(rows), typed).metrics == res.metrics


def test_sizing_rejections_are_counted() -> None:
    rows = [(100, 101, 100, 101)] * 5
    res = backtest(strategy(entry_long=ENTRY, sizing={"kind": "fixed", "quantity": 0.5}), bars_from(rows), FREE)
    assert res.fills.num_rows == 0
    assert sum(res.rejections.values()) == 4 and res.rejections
    res = backtest(strategy(entry_long=ENTRY, sizing={"kind": "notional", "amount": 50_000}), bars_from(rows), FREE)
    # buying power clamps the size to what 10,000 of cash can carry
    assert 0 < res.fills.column("quantity")[0].as_py() <= 100


def test_multi_symbol_portfolio_shares_cash() -> None:
    bars = pa.concat_tables([random_bars(400, symbols=("AAPL", "MSFT"), seed=9)])
    doc = {
        "instruments": ["AAPL", "MSFT"],
        "entry_long": {
            "op": "cross_above",
            "left": {"op": "ema", "x": "close", "n": 5},
            "right": {"op": "sma", "x": "close", "n": 20},
        },
        "exit_long": {
            "op": "cross_below",
            "left": {"op": "ema", "x": "close", "n": 5},
            "right": {"op": "sma", "x": "close", "n": 20},
        },
        "sizing": {"kind": "equity_fraction", "fraction": 0.4},
    }
    res = backtest(doc, bars, BacktestConfig(initial_cash=100_000.0))
    assert set(res.trades.column("symbol").to_pylist()) == {"AAPL", "MSFT"}
    eq = res.equity
    assert eq.num_rows == 400  # one point per distinct bar time
    fills = res.fills.to_pandas().sort_values("ts", kind="stable")
    flows = np.where(fills["side"] == "buy", -1, 1) * fills["quantity"] * fills["price"] - fills["fees"]
    cash = 100_000 + np.cumsum(flows.to_numpy())
    assert cash.min() > -1e-6  # two 40 % positions fit in the one account at every fill
    assert eq.column("equity")[-1].as_py() == pytest.approx(cash[-1])  # all closed at the end


def test_metrics_agree_with_the_return_series() -> None:
    bars = random_bars(3_000, symbols=("AAPL",), seed=4)
    doc = {
        "instruments": ["AAPL"],
        "entry_long": {"op": "gt", "left": {"op": "rsi", "n": 7}, "right": 55},
        "exit_long": {"op": "lt", "left": {"op": "rsi", "n": 7}, "right": 45},
        "entry_short": {"op": "lt", "left": {"op": "rsi", "n": 7}, "right": 30},
        "exit_short": {"op": "gt", "left": {"op": "rsi", "n": 7}, "right": 50},
        "stop_loss": {"kind": "atr", "n": 10, "mult": 2.0},
        "sizing": {"kind": "risk_fraction", "fraction": 0.01},
    }
    res = backtest(doc, bars, BacktestConfig(initial_cash=100_000.0, execution={"slippage": {"fixed_bps": 1.0}}))
    assert res.metrics["trades"] > 10
    ref = performance_metrics(
        res.returns.column("return").to_numpy(), 98_280.0, trade_pnl=res.trades.column("pnl").to_numpy()
    )
    for k in (
        "total_return",
        "sharpe",
        "sortino",
        "max_drawdown",
        "volatility",
        "win_rate",
        "profit_factor",
        "average_trade",
    ):
        assert res.metrics[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-12), k
    assert res.metrics["trades"] == res.trades.num_rows
    assert set(res.trades.column("exit_reason").to_pylist()) <= {"signal", "stop_loss", "end"}


def test_conforms_to_an_independent_simulation() -> None:
    bars = random_bars(5_000, symbols=("AAPL",), seed=21)
    doc = {
        "instruments": ["AAPL"],
        "entry_long": {
            "op": "cross_above",
            "left": {"op": "sma", "x": "close", "n": 8},
            "right": {"op": "sma", "x": "close", "n": 21},
        },
        "exit_long": {
            "op": "cross_below",
            "left": {"op": "sma", "x": "close", "n": 8},
            "right": {"op": "sma", "x": "close", "n": 21},
        },
        "sizing": {"kind": "equity_fraction", "fraction": 1.0},
    }
    cs = compile_strategy(doc)
    sig = cs.signals(bars)
    res = backtest(cs, bars, BacktestConfig(initial_cash=100_000.0, risk_limits={"check_buying_power": False}))
    cash, trades = reference_long_only(
        bars.column("open").to_numpy(),
        bars.column("close").to_numpy(),
        sig.column("entry_long").to_numpy(zero_copy_only=False),
        sig.column("exit_long").to_numpy(zero_copy_only=False),
        100_000.0,
    )
    assert res.metrics["trades"] == trades > 20
    assert res.metrics["final_equity"] == pytest.approx(cash, rel=1e-12)


def test_sweep_equals_one_backtest_per_combination() -> None:
    bars = random_bars(2_000, symbols=("AAPL",), seed=8)
    template = {
        "instruments": ["AAPL"],
        "entry_long": {
            "op": "cross_above",
            "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
            "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}},
        },
        "exit_long": {
            "op": "cross_below",
            "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
            "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}},
        },
        "stop_loss": {"kind": "percent", "value": {"op": "param", "name": "stop"}},
        "sizing": {"kind": "risk_fraction", "fraction": 0.02},
        "params": {"fast": 5, "slow": 20, "stop": 0.01},
    }
    cfg = BacktestConfig(initial_cash=50_000.0, execution={"slippage": {"fixed_bps": 2.0}}, threads=2)
    sw = sweep(template, {"fast": [3, 5, 8], "slow": [13, 21], "stop": [0.005, 0.02]}, bars, cfg, chunk=5)
    assert len(sw) == 12
    rows = sw.table.to_pylist()
    for row in rows:
        single = backtest(template, bars, cfg, params={k: row[k] for k in ("fast", "slow", "stop")})
        for k in ("total_return", "sharpe", "max_drawdown", "trades", "costs", "final_equity"):
            a, b = row[k], single.metrics[k]
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12), (row, k)
    best = sw.best("sharpe", top=3)
    assert best.num_rows == 3 and best.column("sharpe")[0].as_py() == max(
        r["sharpe"] for r in rows if not math.isnan(r["sharpe"])
    )


def test_result_tables_summary_and_tear_sheet(tmp_path: Path) -> None:
    bars = random_bars(1_500, symbols=("AAPL", "MSFT"), seed=3)
    doc = {
        "instruments": ["AAPL", "MSFT"],
        "name": "ema cross",
        "entry_long": {
            "op": "cross_above",
            "left": {"op": "ema", "x": "close", "n": 5},
            "right": {"op": "ema", "x": "close", "n": 30},
        },
        "exit_long": {
            "op": "cross_below",
            "left": {"op": "ema", "x": "close", "n": 5},
            "right": {"op": "ema", "x": "close", "n": 30},
        },
        "take_profit": {"kind": "percent", "value": 0.01},
        "sizing": {"kind": "equity_fraction", "fraction": 0.4},
    }
    res = backtest(doc, bars, BacktestConfig(initial_cash=100_000.0))
    assert res.returns.num_rows == res.equity.num_rows
    pos = res.positions
    assert pos.num_rows == res.fills.num_rows
    text = res.summary()
    assert "Sharpe" in text and res.strategy.hash[:16] in text
    fig = res.plot(tmp_path / "sheet.html")
    assert len(fig.data) >= 4
    html = (tmp_path / "sheet.html").read_text()
    assert "plotly" in html and "Max drawdown" in html


def test_cli_backtest_on_the_synthetic_market_and_a_parquet_file(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    spec = tmp_path / "s.json"
    spec.write_text(
        json.dumps(
            {
                "instruments": ["AAPL", "MSFT"],
                "timeframe": "5m",
                "entry_long": {
                    "op": "cross_above",
                    "left": {"op": "ema", "x": "close", "n": {"op": "param", "name": "fast"}},
                    "right": {"op": "sma", "x": "close", "n": 20},
                },
                "exit_long": {"op": "lt", "left": {"op": "rsi", "n": 14}, "right": 45},
                "params": {"fast": 5},
            }
        )
    )
    exe = [sys.executable, "-m", "quant_engine.cli"]
    report = tmp_path / "r.html"
    out = subprocess.run(
        [*exe, "backtest", str(spec), "--days", "2", "--ticks-per-day", "20000", "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Sharpe" in out.stdout and report.exists()
    pq.write_table(random_bars(500, symbols=("AAPL", "MSFT"), seed=2, step=5 * MINUTE), tmp_path / "b.parquet")
    out = subprocess.run(
        [*exe, "backtest", str(spec), "--data", str(tmp_path / "b.parquet"), "--grid", "fast=2:6"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "sweep of 4 combinations" in out.stdout
    bad = subprocess.run(
        [*exe, "backtest", str(spec), "--data", str(tmp_path / "missing.parquet")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "no such file" in bad.stderr


def test_bars_must_match_the_timeframe() -> None:
    from quant_engine.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="timeframe is 5m"):
        backtest(strategy(entry_long=ENTRY, timeframe="5m"), random_bars(50, symbols=("AAPL",)), FREE)
