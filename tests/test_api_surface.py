"""The package surface: submodules reachable from ``import quant_engine``; readiness of buffers
that cannot be misread; one symbol type and time vocabulary across the tables the package returns."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

import quant_engine
from bar_factory import MINUTE, T0, random_bars
from quant_engine.bars import MultiSymbolBuffer, StreamBuffer, aggregate_ticks
from quant_engine.errors import UsageError
from quant_engine.research import backtest
from quant_engine.strategy import compile_strategy


def test_submodules_are_attributes_and_load_lazily() -> None:
    code = (
        "import sys, quant_engine\n"
        "assert 'quant_engine.research' not in sys.modules\n"
        "assert quant_engine.bars.StreamBuffer and quant_engine.research.backtest and quant_engine.options.greeks\n"
        "assert 'quant_engine.research' in sys.modules\n"
        "assert {'bars', 'research', 'options', 'strategy', 'instruments'} <= set(dir(quant_engine))\n"
        "assert set(quant_engine.SUBMODULES) <= set(quant_engine.__all__)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    with pytest.raises(AttributeError):
        quant_engine.not_a_module  # noqa: B018


def _ticks(symbols: list[str], n: int = 200) -> pa.Table:
    ts = T0 + np.arange(n, dtype=np.int64) * (MINUTE // 4)
    return pa.table(
        {
            "ts": pa.array(np.repeat(ts, len(symbols)), pa.timestamp("ns", tz="UTC")),
            "symbol": pa.array(symbols * n).dictionary_encode(),
            "price": np.linspace(100, 101, n * len(symbols)),
            "size": np.ones(n * len(symbols)),
        }
    )


def test_readiness_cannot_be_misread() -> None:
    msb = MultiSymbolBuffer(["AAPL", "MSFT"], interval="1m", min_bars=3)
    with pytest.raises(UsageError, match="needs a symbol"):
        if msb.is_ready:
            pass
    assert msb.is_ready("AAPL") is False and msb.ready("AAPL") is False and msb.all_ready is False
    msb.push(_ticks(["AAPL", "MSFT"]))
    assert msb.is_ready("AAPL") is True and msb.ready("MSFT") is True and msb.all_ready is True
    sb = StreamBuffer("AAPL", interval="1m", min_bars=3)
    assert sb.is_ready is False
    sb.push(_ticks(["AAPL"]))
    assert sb.is_ready is True


def test_returned_tables_share_one_symbol_type_and_join() -> None:
    bars = random_bars(120, ["AAPL"], seed=2)
    doc = {
        "instruments": ["AAPL"],
        "sizing": {"kind": "fixed", "quantity": 1},
        "entry_long": {"op": "gt", "left": "close", "right": {"op": "sma", "x": "close", "n": 5}},
        "exit_long": {"op": "lt", "left": "close", "right": {"op": "sma", "x": "close", "n": 5}},
    }
    res = backtest(doc, bars)
    signals = compile_strategy(doc).signals(bars)
    own_bars = aggregate_ticks(_ticks(["AAPL"]), interval="1m")
    for table in (res.fills, res.trades, res.positions, signals, own_bars):
        assert table.schema.field("symbol").type == pa.string(), table.schema
    # bars with fills: the bar each fill happened in
    fills = res.fills.select(["symbol", "ts", "price"]).rename_columns(["symbol", "start", "fill_price"])
    joined = bars.join(fills, keys=["symbol", "start"], join_type="inner")
    assert joined.num_rows == res.fills.num_rows > 0
    # trades with bars: the entry bar of each trade
    entries = res.trades.select(["symbol", "entry_time"]).rename_columns(["symbol", "start"])
    assert bars.join(entries, keys=["symbol", "start"], join_type="inner").num_rows == res.trades.num_rows
    # signals with bars
    assert bars.join(signals, keys=["symbol", "start"]).num_rows == bars.num_rows
