"""Markets and candidates for the Red Team's tests: daily bars with a planted, documented edge (a
persistent drift that a momentum rule can follow) or none (``edge = 0``), and a one-parameter
momentum template whose family can be swept into a store."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from quant_engine.schema import BAR_SCHEMA

DAY = 86_400_000_000_000
T0 = 1_420_070_400 * 1_000_000_000  # 2015-01-01 00:00 UTC


def planted_bars(n: int = 1000, *, edge: float = 0.005, persistence: float = 0.9, sigma: float = 0.01,
                 seed: int = 0, symbol: str = "AAPL", volume: float = 1e8) -> pa.Table:  # fmt: skip
    """``n`` daily bars whose log returns are ``r[t] = m[t] + e[t]``: a slowly varying drift ``m``
    (AR(1) with coefficient ``persistence`` and stationary standard deviation ``edge``) plus noise
    ``e ~ N(0, sigma^2)``. Each bar opens at the previous close, so a momentum rule that follows the
    sign of the recent drift earns it, and the edge survives a bar of delay. ``edge = 0``: none."""
    rng = np.random.default_rng(seed)
    eta = rng.normal(0.0, edge * np.sqrt(1.0 - persistence**2), n)
    e = rng.normal(0.0, sigma, n)
    m = np.empty(n)
    m[0] = eta[0]
    for t in range(1, n):  # test data, n ~ 1000
        m[t] = persistence * m[t - 1] + eta[t]
    close = 100.0 * np.exp(np.cumsum(m + e))
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
