"""The run spec: one validated ``_core.RunSpec`` per backtest, sweep or live account.

:func:`run_spec` turns a compiled strategy, its parameter grid and a :class:`BacktestConfig`
into the core's ``RunSpec``: the account (instruments resolved for the run's symbols, execution
model, risk limits, cash, annualization) and every combination's exit and sizing rules, typed by
the core's own enums (``_core.ExitKind``, ``_core.SizingKind``). The core checks it once, at
construction (``InvalidArgumentError`` / ``UnknownSymbolError``), and every Rust entry point of
the run (``backtest_run``, ``backtest_sweep``, ``TradingStepper``) takes it as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from quant_engine import _core
from quant_engine.research.config import BacktestConfig
from quant_engine.research.metrics import periods_per_year
from quant_engine.strategy import nodes as N
from quant_engine.strategy.compiled import CompiledStrategy
from quant_engine.strategy.spec import AtrStop, EquityFraction, Fixed, Notional, PercentStop, PointsStop, RiskFraction

__all__ = ["run_spec", "periods_of"]

_EXIT_KIND: dict[type, _core.ExitKind] = {
    type(None): _core.ExitKind.NONE,
    PercentStop: _core.ExitKind.PERCENT,
    PointsStop: _core.ExitKind.POINTS,
    AtrStop: _core.ExitKind.SERIES,
}
"""The strategy language's stop types as the core's exit kinds."""

_SIZING_KIND: dict[type, tuple[_core.SizingKind, str]] = {
    Fixed: (_core.SizingKind.FIXED, "quantity"),
    Notional: (_core.SizingKind.NOTIONAL, "amount"),
    EquityFraction: (_core.SizingKind.EQUITY_FRACTION, "fraction"),
    RiskFraction: (_core.SizingKind.RISK_FRACTION, "fraction"),
}
"""The strategy language's sizing types as the core's sizing kinds, with the field holding the value."""


def periods_of(cs: CompiledStrategy, config: BacktestConfig) -> float:
    """Periods per year of the metrics: the configuration's, or the strategy timeframe's."""
    return float(config.periods_per_year or periods_per_year(cs.strategy.timeframe))


def _column(value: Any, cs: CompiledStrategy, grid: np.ndarray) -> np.ndarray:
    """A per-combination column for a scalar that may be a parameter."""
    if isinstance(value, N.Param):
        return np.ascontiguousarray(grid[:, cs.params.index(value.name)], dtype=np.float64)
    return np.full(grid.shape[0], float(value), np.float64)


def _exit_values(stop: Any, cs: CompiledStrategy, grid: np.ndarray) -> np.ndarray:
    if stop is None or isinstance(stop, AtrStop):  # an ATR distance series already holds its multiplier
        return np.ones(grid.shape[0])
    return _column(stop.value, cs, grid)


def run_spec(
    cs: CompiledStrategy,
    grid: np.ndarray,
    config: BacktestConfig,
    symbols: Sequence[str],
    *,
    reference_month: int | None = None,
) -> _core.RunSpec:
    """The core's ``RunSpec`` for ``symbols`` (slot order, the bars' segment order) and every row
    of ``grid`` (one combination each). ``reference_month`` (``YYYYMM``) reads one-digit futures
    years (the data's first month; None: the current month)."""
    s = cs.strategy
    sizing, field = _SIZING_KIND[type(s.sizing)]
    time_stops = (
        np.zeros(grid.shape[0], np.int64) if s.time_stop is None else _column(s.time_stop, cs, grid).astype(np.int64)
    )
    enc = msgspec.json.encode
    return _core.RunSpec(
        list(symbols),
        periods_per_year=periods_of(cs, config),
        stop=_EXIT_KIND[type(s.stop_loss)],
        stop_values=_exit_values(s.stop_loss, cs, grid),
        take=_EXIT_KIND[type(s.take_profit)],
        take_values=_exit_values(s.take_profit, cs, grid),
        time_stops=time_stops,
        sizing=sizing,
        sizing_values=_column(getattr(s.sizing, field), cs, grid),
        initial_cash=float(config.initial_cash),
        execution=enc(config.execution).decode(),
        risk_limits=None if config.risk_limits is None else enc(config.risk_limits).decode(),
        instruments=enc(config.instruments).decode(),
        allow_unlisted_equities=config.allow_unlisted_equities,
        reference_month=reference_month,
        allow_short=config.allow_short,
        close_at_end=config.close_at_end,
    )
