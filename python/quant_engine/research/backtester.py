"""Backtests and parameter sweeps: Numba signals, Rust fills.

``backtest(strategy, bars, config)`` evaluates the compiled strategy's signals with the Numba plan
evaluator, then runs the fill loop in the Rust core: a signal at the close of bar t becomes an order
that fills at bar t+1's open through the one ``ExecutionModel`` (fees, slippage, multipliers),
sized and checked by the Rust sizing and ``RiskEngine`` limits; stops and take-profits are checked
intrabar against high/low (the stop first when both could have been hit); several instruments
share one cash balance. ``sweep(template, grid, bars, config)`` does the same for every parameter
combination in one call (signals in parallel Numba, fills in parallel Rust threads, metrics
accumulated per combination without storing per-bar series). ``docs/backtest.md`` is the reference.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from quant_engine import _core
from quant_engine.errors import InvalidArgumentError, ResourceLimitError
from quant_engine.instruments import month_of
from quant_engine.kernels import compile_watch
from quant_engine.research.config import BacktestConfig, as_config
from quant_engine.research.constraints import parse_where
from quant_engine.research.metrics import METRIC_NAMES
from quant_engine.research.run_spec import periods_of, run_spec
from quant_engine.schema import TIMESTAMP
from quant_engine.strategy.bar_arrays import BarArrays
from quant_engine.strategy.compiled import CompiledStrategy, Constraint, compile_strategy
from quant_engine.suggest import allowed, did_you_mean
from quant_engine.times import duration_ns

__all__ = ["BacktestConfig", "BacktestResult", "SweepResult", "backtest", "sweep"]


def _reference_month(bars: BarArrays) -> int | None:
    """The month (``YYYYMM``) of the data's first bar: one-digit futures years (``ESZ4``) in
    the data are read against it (docs/instruments.md)."""
    return month_of(int(bars.start.min())) if len(bars.start) else None


def _compiled(strategy: Any) -> CompiledStrategy:
    return strategy if isinstance(strategy, CompiledStrategy) else compile_strategy(strategy)


def _check_timeframe(cs: CompiledStrategy, bars: BarArrays) -> None:
    """Refuses bars whose spacing is not the strategy's timeframe (the typical bar gap of the
    first symbol, from up to 10,000 bars): windows and annualization assume it."""
    seg = bars.segment(bars.symbols[0])
    start = bars.start[seg][:10_001]
    if len(start) < 3:
        return
    gaps = np.diff(start)
    typical = int(np.median(gaps))
    want = duration_ns(cs.strategy.timeframe, "timeframe")
    if typical != want:
        raise InvalidArgumentError(
            f"the bars are {typical / 60e9:g} min apart but the strategy's timeframe is {cs.strategy.timeframe}: "
            "aggregate the bars to the timeframe (or fix the timeframe)"
        )


def _merge_order(bars: BarArrays) -> np.ndarray:
    """Bar indices in time order across symbols (ties: symbol order); empty for one symbol
    (already in order)."""
    if len(bars.symbols) == 1:
        return np.zeros(0, np.int64)
    return np.argsort(bars.start, kind="stable").astype(np.int64)


@dataclass
class BacktestResult:
    """The outcome of one backtest.

    Attributes:
        strategy: the compiled strategy (``strategy.hash`` is its identity).
        config: the run configuration.
        bars: the bars it ran on.
        trades: closed round trips (``symbol, side, quantity, entry_time, entry_price,
            exit_time, exit_price, pnl, fees, slippage, bars_held, exit_reason``).
        fills: every fill (``ts, symbol, side, quantity, price, base_price, fees, slippage,
            multiplier, reason``).
        equity: per bar time: ``ts, equity`` (cash plus positions at their latest closes).
        metrics: see :data:`~quant_engine.research.metrics.METRIC_NAMES`.
        rejections: rejected orders by reason code.
        timings: seconds of the call: ``compile_s`` spent compiling Numba kernels (0 once they are
            cached on disk, see ``quant-engine warmup``) and ``run_s``, the rest.
    """

    strategy: CompiledStrategy
    config: BacktestConfig
    bars: BarArrays
    trades: pa.Table
    fills: pa.Table
    equity: pa.Table
    metrics: dict[str, float]
    rejections: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def returns(self) -> pa.Table:
        """Per-period returns: ``ts, return`` (``equity[t] / equity[t-1] - 1``, the first
        against the initial cash)."""
        e = self.equity.column("equity").to_numpy(zero_copy_only=False)
        prev = np.concatenate([[self.config.initial_cash], e[:-1]])
        return pa.table({"ts": self.equity.column("ts"), "return": e / prev - 1.0})

    @property
    def positions(self) -> pa.Table:
        """Position changes: after each fill, ``ts, symbol, quantity`` (signed) held from then on."""
        f = self.fills
        if f.num_rows == 0:
            return pa.table(
                {
                    "ts": pa.array([], TIMESTAMP),
                    "symbol": pa.array([], pa.string()),
                    "quantity": pa.array([], pa.float64()),
                }
            )
        sym = f.column("symbol").to_pylist()
        buy = np.asarray(pa.compute.equal(f.column("side").cast(pa.string()), "buy").to_numpy(zero_copy_only=False))
        signed = f.column("quantity").to_numpy(zero_copy_only=False) * np.where(buy, 1.0, -1.0)
        held: dict[str, float] = {}
        out = np.empty(len(sym))
        for i, s in enumerate(sym):  # one row per fill (fills are few)
            held[s] = held.get(s, 0.0) + float(signed[i])
            out[i] = round(held[s], 9)
        return pa.table({"ts": f.column("ts"), "symbol": f.column("symbol"), "quantity": out})

    def summary(self) -> str:
        """A text summary (metrics, period, rejections)."""
        from quant_engine.research.tearsheet import summary_text

        return summary_text(self)

    def plot(self, path: str | Path | None = None, *, plotlyjs: str = "shared") -> Any:
        """The tear sheet (equity, drawdown, prices with trade markers) as a plotly Figure; with
        ``path``, also written as an HTML report with the metrics and the trade list
        (``plotlyjs="shared"``: plotly.js written once beside it; ``"embed"``: self-contained)."""
        from quant_engine.research.tearsheet import figure, write_html

        if path is not None:
            write_html(self, path, plotlyjs=plotlyjs)
        return figure(self)

    def __repr__(self) -> str:
        m = self.metrics
        return (
            f"BacktestResult({self.strategy.hash[:12]}, trades={int(m.get('trades', 0))}, "
            f"total_return={m.get('total_return', float('nan')):.4f}, sharpe={m.get('sharpe', float('nan')):.3f})"
        )


@dataclass
class SweepResult:
    """Metrics of every parameter combination of a sweep.

    Attributes:
        strategy: the compiled template.
        table: one row per combination: the parameter columns, then every metric.
        timings: seconds of the call: ``compile_s`` (Numba compilation) and ``run_s`` (the rest).
        returns: with ``sweep(..., returns=True)`` (the default when a ledger is given), the
            ``T x N`` float64 matrix of per-period net returns (column ``j`` is combination ``j``,
            row ``t`` the period ending at ``returns_ts[t]``; ``equity[t] / equity[t-1] - 1``, the
            first against the initial cash); otherwise None.
        returns_ts: the period times (UTC ns) of ``returns``: one per bar for one symbol, one
            per distinct bar time for several; None without returns.
    """

    strategy: CompiledStrategy
    table: pa.Table
    returns: np.ndarray | None = None
    returns_ts: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def best(self, metric: str = "sharpe", *, top: int = 1) -> pa.Table:
        """The ``top`` combinations by ``metric`` (descending; NaN last)."""
        if metric not in self.table.column_names or metric in self.strategy.params:
            raise InvalidArgumentError(
                f"unknown metric `{metric}`{did_you_mean(metric, METRIC_NAMES)}; metrics: {allowed(METRIC_NAMES)}"
            )
        col = np.nan_to_num(self.table.column(metric).to_numpy(zero_copy_only=False), nan=-np.inf)
        order = np.argsort(-col, kind="stable")[:top]
        return self.table.take(pa.array(order))

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame."""
        return self.table.to_pandas()

    def __len__(self) -> int:
        return self.table.num_rows


_BarArgs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class _Clock:
    """Wall time since construction, split into Numba compilation and the rest."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.compiled = compile_watch.compile_seconds()

    def timings(self) -> dict[str, float]:
        compile_s = compile_watch.compile_seconds() - self.compiled
        return {"compile_s": compile_s, "run_s": max(0.0, time.perf_counter() - self.started - compile_s)}


def _bar_args(bars: BarArrays) -> _BarArgs:
    return (
        bars.start,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        bars.offsets,
        _merge_order(bars),
    )


def backtest(
    strategy: Any,
    bars: Any,
    config: BacktestConfig | Mapping[str, Any] | None = None,
    *,
    params: Mapping[str, float] | None = None,
    ledger: Any = None,
) -> BacktestResult:
    """Backtests one strategy (a document, a ``Strategy`` or a ``CompiledStrategy``) on bars
    (an Arrow table, a DataFrame, ``BarArrays`` ...); ``config`` is a :class:`BacktestConfig` or
    a dict of its fields; ``params`` override template defaults. With ``ledger`` (a
    ``quant_engine.store.Store``) the run is recorded as a trial, returns included."""
    clock = _Clock()
    t0 = time.perf_counter()
    cs = _compiled(strategy)
    config = as_config(config)
    data = cs.prepare(bars)
    _check_timeframe(cs, data)
    grid = cs.bind(params)
    spec = run_spec(cs, grid, config, data.symbols, reference_month=_reference_month(data))  # checked before any work
    chunk = next(iter(cs.signal_chunks(data, grid, threads=config.threads)))
    out = _core.backtest_run(
        spec, *_bar_args(data), chunk.signals[0],
        None if chunk.stop_distance is None else chunk.stop_distance[0],
        None if chunk.take_distance is None else chunk.take_distance[0],
    )  # fmt: skip
    equity = pa.table({"ts": pa.array(out.equity_ts, TIMESTAMP), "equity": out.equity})
    result = BacktestResult(cs, config, data, out.trades, out.fills, equity, dict(out.metrics), dict(out.rejections),
                            clock.timings())  # fmt: skip
    if ledger is not None:
        metrics = np.array([[result.metrics.get(k, np.nan) for k in METRIC_NAMES]])
        _record(ledger, cs, data, config, grid, metrics, t0, result.returns.column("return").to_numpy().reshape(-1, 1))
    return result


def _record(
    ledger: Any,
    cs: CompiledStrategy,
    data: BarArrays,
    config: BacktestConfig,
    grid: np.ndarray,
    metrics: np.ndarray,
    t0: float,
    returns: Any,
) -> None:
    """Records a run in the trial ledger (``quant_engine.store.ledger.record_run``); ``returns``
    is T x N (one column per grid row) or None."""
    from quant_engine.store.ledger import record_run

    config_json = config.to_json(reference_month=_reference_month(data)) + f"|ppy={periods_of(cs, config)}"
    record_run(ledger, cs, data, grid=grid, metric_names=METRIC_NAMES, metrics=metrics, config_json=config_json,
               wall_time_s=time.perf_counter() - t0, returns=returns)  # fmt: skip


DEFAULT_MAX_RETURNS_BYTES = 2 << 30
"""The default cap of ``sweep(..., returns=True)``'s matrix: 2 GiB (``T x N x 8`` bytes)."""


def _returns_buffer(
    data: BarArrays, bar_args: _BarArgs, n_combos: int, max_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``N x T`` buffer the Rust workers fill (row per combination) and the period times."""
    periods = _core.backtest_periods(*bar_args)
    need = periods * n_combos * 8
    if need > max_bytes:
        raise ResourceLimitError(
            f"the return matrix of {periods:,} periods x {n_combos:,} combinations needs {need / 2**20:,.1f} MiB, "
            f"above max_returns_bytes={max_bytes:,}: sweep fewer combinations or bars, or raise the cap"
        )
    if len(data.symbols) == 1:
        ts = data.start
    else:
        st = data.start[bar_args[7]]
        ts = st[np.concatenate([st[1:] != st[:-1], [True]])] if st.size else st
    return np.empty((n_combos, periods), np.float64), np.ascontiguousarray(ts)


def sweep(
    template: Any,
    grid: Mapping[str, Any] | pa.Table | np.ndarray | None,
    bars: Any,
    config: BacktestConfig | Mapping[str, Any] | None = None,
    *,
    where: str | Constraint | Iterable[str | Constraint] | None = (),
    chunk: int | None = None,
    ledger: Any = None,
    returns: bool | None = None,
    max_returns_bytes: int = DEFAULT_MAX_RETURNS_BYTES,
) -> SweepResult:
    """Backtests every combination of ``grid`` (parameter name -> values, Cartesian product, or
    a table of explicit combinations; see :meth:`CompiledStrategy.grid`) in one call and
    returns their metrics. ``where`` keeps only the combinations that satisfy constraints such
    as ``"fast < slow"`` (text or ``("fast", "<", "slow")`` tuples, one or a list; see
    :mod:`quant_engine.research.constraints`); rerun :func:`backtest` with the chosen
    parameters for trades and curves.

    With ``returns=True`` the result also holds every combination's per-period net returns
    (``SweepResult.returns``: ``T x N`` float64, a column per combination, filled in place by
    the Rust threads; no Python runs per combination). That matrix costs ``T x N x 8`` bytes
    (100 k bars x 990 combinations: 792 MB): a request above ``max_returns_bytes`` (default
    2 GiB) raises :class:`~quant_engine.errors.ResourceLimitError` before anything runs.
    Without it only the metrics are kept, as fast as before.

    With ``ledger`` (a ``quant_engine.store.Store``) every combination is recorded as a trial,
    in one transaction, with its returns: ``returns`` defaults to True then (pass
    ``returns=False`` to record metrics only)."""
    clock = _Clock()
    t0 = time.perf_counter()
    if returns is None:
        returns = ledger is not None
    cs = _compiled(template)
    config = as_config(config)
    data = cs.prepare(bars)
    _check_timeframe(cs, data)
    g = grid if isinstance(grid, np.ndarray) else cs.grid(grid, where=parse_where(where, cs.params))
    spec = run_spec(cs, g, config, data.symbols, reference_month=_reference_month(data))  # checked before any work
    metrics = np.empty((g.shape[0], len(METRIC_NAMES)), np.float64)
    bar_args = _bar_args(data)
    threads = config.threads or 0
    buf, ts = _returns_buffer(data, bar_args, g.shape[0], max_returns_bytes) if returns else (None, None)
    for ch in cs.signal_chunks(data, g, chunk=chunk, threads=config.threads):
        sl = slice(ch.c0, ch.c1)
        metrics[sl] = _core.backtest_sweep(spec, *bar_args, ch.signals, ch.stop_distance, ch.take_distance, ch.c0, threads,
                                           None if buf is None else buf[sl])  # fmt: skip
    cols: dict[str, Any] = {name: g[:, i] for i, name in enumerate(cs.params)}
    for j, name in enumerate(METRIC_NAMES):
        cols[name] = metrics[:, j]
    out = None if buf is None else buf.T
    if ledger is not None:
        _record(ledger, cs, data, config, g, metrics, t0, out)
    return SweepResult(cs, pa.table(cols), out, ts, clock.timings())
