"""Research: backtests, parameter sweeps and performance metrics (later: the Red Team, the trial
ledger, the Gatekeeper and the swarm)."""

from __future__ import annotations

from quant_engine.research.backtester import BacktestConfig, BacktestResult, SweepResult, backtest, sweep
from quant_engine.research.metrics import METRIC_NAMES, performance_metrics, periods_per_year

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "SweepResult",
    "backtest",
    "sweep",
    "METRIC_NAMES",
    "performance_metrics",
    "periods_per_year",
]
