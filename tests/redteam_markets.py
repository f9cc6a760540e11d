"""Markets and candidates for the Red Team's tests: daily bars with a planted, documented edge
(AR(1) returns: the sign of one bar's return predicts the next bar's) or none (phi = 0), and a
one-parameter momentum template whose family can be swept into a store."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from quant_engine.schema import BAR_SCHEMA

DAY = 86_400_000_000_000
T0 = 1_420_070_400 * 1_000_000_000  # 2015-01-01 00:00 UTC


def planted_bars(n: int = 1000, *, phi: float = 0.3, sigma: float = 0.01, seed: int = 0, symbol: str = "AAPL",
                 volume: float = 1e8) -> pa.Table:  # fmt: skip
    """``n`` daily bars whose close-to-close log returns follow ``r[t] = phi * r[t-1] + e[t]``
    (``e ~ N(0, sigma^2)``); each bar opens at the previous close, so a position taken at the
    open after a bar with ``r > 0`` earns ``phi * E|r|`` per bar on average. ``phi = 0``: no edge."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, sigma, n)
    r = np.empty(n)
    r[0] = e[0]
    for t in range(1, n):  # test data, n ~ 1000
        r[t] = phi * r[t - 1] + e[t]
    close = 100.0 * np.exp(np.cumsum(r))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, sigma / 4, n))
    hi = np.maximum(open_, close) * np.exp(wick)
    lo = np.minimum(open_, close) * np.exp(-wick)
    return pa.table(
        {
            "symbol": pa.array([symbol] * n, pa.string()),
            "start": pa.array(T0 + DAY * np.arange(n, dtype=np.int64), pa.timestamp("ns", tz="UTC")),
            "open": open_,
            "high": hi,
            "low": lo,
            "close": close,
            "volume": np.full(n, volume),
            "vwap": np.clip((open_ + close) / 2.0, lo, hi),
            "trades": np.full(n, 1000, np.int64),
        },
        schema=BAR_SCHEMA,
    )


def momentum_spec(k: float = 1, *, symbol: str = "AAPL", name: str = "momentum") -> dict[str, Any]:
    """Long after a positive ``k``-bar return, short after a negative one (``k`` a parameter)."""
    ret = {"op": "returns", "x": "close", "n": {"op": "param", "name": "k"}}
    return {
        "name": name,
        "instruments": [symbol],
        "timeframe": "1d",
        "entry_long": {"op": "gt", "left": ret, "right": 0.0},
        "exit_long": {"op": "lt", "left": ret, "right": 0.0},
        "entry_short": {"op": "lt", "left": ret, "right": 0.0},
        "exit_short": {"op": "gt", "left": ret, "right": 0.0},
        "sizing": {"kind": "equity_fraction", "fraction": 1.0},
        "params": {"k": k},
        "timezone": "UTC",
    }
