"""Random but consistent OHLCV bars for strategy and backtest tests (no ticks needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from quant_engine.schema import BAR_SCHEMA

T0 = 1_704_205_800 * 1_000_000_000  # 2024-01-02 09:30 New York
MINUTE = 60_000_000_000


def random_bars(
    n: int, symbols: Sequence[str] = ("AAA",), seed: int = 0, *, start: int = T0, step: int = MINUTE, vol: float = 0.002
) -> pa.Table:
    """``n`` one-minute bars per symbol from a geometric random walk, OHLC consistent, sorted
    by symbol then start (the layout ``aggregate_ticks`` produces)."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, sym in enumerate(sorted(symbols)):
        p0 = 50.0 + 20.0 * k
        close = p0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
        open_ = np.concatenate([[p0], close[:-1]]) * np.exp(rng.normal(0.0, vol / 4, n))
        hi = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, vol / 2, n)))
        lo = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, vol / 2, n)))
        volume = rng.integers(100, 10_000, n).astype(np.float64)
        vwap = np.clip((open_ + hi + lo + close) / 4.0, lo, hi)
        parts.append(
            pa.table(
                {
                    "symbol": pa.array([sym] * n, pa.string()),
                    "start": pa.array(start + step * np.arange(n, dtype=np.int64), pa.timestamp("ns", tz="UTC")),
                    "open": open_,
                    "high": hi,
                    "low": lo,
                    "close": close,
                    "volume": volume,
                    "vwap": vwap,
                    "trades": rng.integers(1, 100, n).astype(np.int64),
                },
                schema=BAR_SCHEMA,
            )
        )
    return pa.concat_tables(parts)
