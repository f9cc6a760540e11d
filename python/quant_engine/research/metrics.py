"""Performance metrics of return series and backtests.

One implementation, in the Rust core (``quant_engine_core::metrics``): the backtester and the
parameter sweep accumulate it bar by bar, and :func:`performance_metrics` runs the same
accumulator over any return series. Definitions are in ``docs/backtest.md``; a test checks them
against an independent NumPy oracle written from those formulas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quant_engine import _core
from quant_engine.errors import InvalidArgumentError
from quant_engine.times import duration_ns

__all__ = ["METRIC_NAMES", "performance_metrics", "periods_per_year"]

METRIC_NAMES: tuple[str, ...] = tuple(_core.METRIC_NAMES)
"""Every metric, in the order of sweep result columns."""

_YEAR_NS = 365.25 * 86_400e9


def periods_per_year(timeframe: Any, *, session: str | None = "390m", trading_days: float = 252.0) -> float:
    """Bars per year for a bar interval: ``trading_days * session / interval`` for intraday bars
    of a market with sessions (390 minutes for US equities; ``session=None`` for a 24/7 market, which
    uses 365.25 days of 24 h), and ``trading_days`` for daily bars."""
    interval = duration_ns(timeframe, "timeframe")
    if interval <= 0:
        raise InvalidArgumentError(f"invalid timeframe: {timeframe!r}")
    if session is None:
        return _YEAR_NS / interval
    if interval >= 86_400_000_000_000:
        return trading_days * 86_400_000_000_000 / interval
    return trading_days * max(1.0, duration_ns(session, "session") / interval)


def performance_metrics(
    returns: Any,
    periods_per_year: float = 252.0,
    *,
    timestamps: Any = None,
    in_market: Any = None,
    trade_pnl: Any = None,
) -> dict[str, float]:
    """Metrics of per-period returns (see :data:`METRIC_NAMES`); ``timestamps`` (ns) date the
    drawdown durations, ``in_market`` flags periods with a position, ``trade_pnl`` holds closed
    trades' net P&L."""
    r = np.ascontiguousarray(np.asarray(returns, dtype=np.float64))
    ts = (
        None
        if timestamps is None
        else np.ascontiguousarray(np.asarray(timestamps).astype("datetime64[ns]").astype(np.int64))
    )
    mkt = None if in_market is None else np.ascontiguousarray(np.asarray(in_market, dtype=np.bool_))
    pnl = None if trade_pnl is None else np.ascontiguousarray(np.asarray(trade_pnl, dtype=np.float64))
    return dict(_core.performance_metrics(r, float(periods_per_year), ts, mkt, pnl))
