"""``sweep(..., returns=True)``: the T x N per-period return matrix of every combination."""

from __future__ import annotations

import numpy as np
import pytest

from bar_factory import random_bars
from quant_engine.errors import ResourceLimitError
from quant_engine.research import BacktestConfig, backtest, sweep

TEMPLATE = {
    "instruments": ["AAA", "BBB"],
    "entry_long": {"op": "cross_above", "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
                   "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}}},
    "exit_long": {"op": "cross_below", "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
                  "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}}},
    "stop_loss": {"kind": "percent", "value": 0.01},
    "sizing": {"kind": "equity_fraction", "fraction": 0.4},
    "params": {"fast": 5, "slow": 20},
}  # fmt: skip
CONFIG = BacktestConfig(
    initial_cash=50_000.0, execution={"slippage": {"fixed_bps": 1.0}}, threads=2, allow_unlisted_equities=True
)


@pytest.mark.parametrize("symbols", [["AAA"], ["AAA", "BBB"]])
def test_each_column_is_that_combination_s_returns(symbols: list[str]) -> None:
    bars = random_bars(700, symbols=("AAA", "BBB"), seed=3)
    doc = dict(TEMPLATE, instruments=symbols)
    grid = {"fast": [3, 5, 8], "slow": [13, 21]}
    sw = sweep(doc, grid, bars, CONFIG, returns=True, chunk=4)
    plain = sweep(doc, grid, bars, CONFIG)
    assert sw.returns is not None and sw.returns_ts is not None
    assert sw.returns.shape == (700, 6)  # both symbols share their bar times
    assert sw.table.equals(plain.table), "keeping the returns changes no metric"
    for j, row in enumerate(sw.table.to_pylist()):
        single = backtest(doc, bars, CONFIG, params={"fast": row["fast"], "slow": row["slow"]})
        expected = single.returns
        assert np.array_equal(sw.returns_ts, expected.column("ts").cast("int64").to_numpy())
        assert np.array_equal(sw.returns[:, j], expected.column("return").to_numpy()), j


def test_a_matrix_above_the_cap_is_refused_before_running() -> None:
    bars = random_bars(500, seed=2)
    doc = dict(TEMPLATE, instruments=["AAA"])
    with pytest.raises(ResourceLimitError, match="500 periods x 4 combinations"):
        sweep(doc, {"fast": [3, 5], "slow": [13, 21]}, bars, CONFIG, returns=True, max_returns_bytes=500 * 4 * 8 - 1)
    ok = sweep(doc, {"fast": [3, 5], "slow": [13, 21]}, bars, CONFIG, returns=True, max_returns_bytes=500 * 4 * 8)
    assert ok.returns is not None and ok.returns.shape == (500, 4)
    assert sweep(doc, {"fast": [3]}, bars, CONFIG).returns is None
