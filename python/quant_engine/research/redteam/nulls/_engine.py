"""Running one strategy over many altered markets in few calls (the engine of the null tests).

A *market stack* is ``M`` markets with the real data's layout and bar times: six ``M x N``
arrays (``open, high, low, close, volume, vwap``). Signals of every market (and every grid
combination) come from **one** plan evaluation: the markets' symbol segments are laid back to
back as ``M x S`` segments of one long series, so indicators restart at every market and the
Numba evaluator runs in parallel over (instruction, segment). Fills go through the same Rust
sweep loop as :func:`quant_engine.research.backtest` / ``sweep`` (``_core.backtest_sweep``),
one call per market and combination chunk on a pool of threads (the loop releases the GIL). No
Python runs per bar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
import numpy.typing as npt

from quant_engine import _core
from quant_engine.research.backtester import (
    _bar_args,
    _BarArgs,
    _check_timeframe,
    _compiled,
    _ppy,
    _reference_month,
    _Rules,
    _rules,
)
from quant_engine.research.config import BacktestConfig, as_config
from quant_engine.research.constraints import parse_where
from quant_engine.research.metrics import METRIC_NAMES
from quant_engine.strategy.bar_arrays import BarArrays
from quant_engine.strategy.compiled import CompiledStrategy
from quant_engine.strategy.plan import run_schedule, schedule

__all__ = ["Prepared", "Markets", "prepare", "real_markets", "run_markets", "SHARPE", "TRADES"]

Markets = tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]
"""``(open, high, low, close, volume, vwap)``, each ``M x N`` (row = one market)."""

SHARPE = METRIC_NAMES.index("sharpe")
TRADES = METRIC_NAMES.index("trades")
EXPOSURE = METRIC_NAMES.index("exposure")
PERIODS = METRIC_NAMES.index("periods")

_MARKET_BYTES = 192 << 20  # target memory of one stacked chunk of markets (fields + slab + signals)


@dataclass
class Prepared:
    """A strategy bound to its data and configuration, ready to run on market stacks.

    Attributes:
        cs: the compiled strategy.
        config: the run configuration.
        data: the real bars (the strategy's instruments).
        grid: ``C x P`` parameter combinations (one row: the strategy's own parameters).
        bar_args: the real bars as the Rust loop reads them.
        config_json: the configuration for the Rust loop.
        ppy: periods per year.
    """

    cs: CompiledStrategy
    config: BacktestConfig
    data: BarArrays
    grid: npt.NDArray[np.float64]
    bar_args: _BarArgs
    config_json: str
    ppy: float

    @property
    def n_bars(self) -> int:
        """Bars of one market (all symbols)."""
        return len(self.data)

    def aligned(self) -> str | None:
        """Why the symbols cannot be resampled jointly (unequal lengths or bar times), or None."""
        lengths = np.diff(self.data.offsets)
        if np.any(lengths != lengths[0]):
            return f"the symbols have different bar counts ({int(lengths.min())} to {int(lengths.max())})"
        if len(lengths) > 1:
            st = self.data.start.reshape(len(lengths), -1)
            if np.any(st != st[0]):
                return "the symbols' bars are not at the same times (align them before resampling dates jointly)"
        return None


def prepare(
    strategy: Any,
    bars: Any,
    config: BacktestConfig | Mapping[str, Any] | None,
    *,
    grid: Mapping[str, Any] | np.ndarray | None = None,
    where: str | Iterable[Any] | None = (),
) -> Prepared:
    """Compiles ``strategy``, prepares ``bars`` (checked as :func:`backtest` checks them) and
    expands ``grid`` (None: the strategy's own parameters)."""
    cs = _compiled(strategy)
    cfg = as_config(config)
    data = cs.prepare(bars)
    _check_timeframe(cs, data)
    if grid is None:
        g = cs.bind(None)
    elif isinstance(grid, np.ndarray):
        g = np.ascontiguousarray(grid, dtype=np.float64)
    else:
        g = cs.grid(grid, where=parse_where(where, cs.params))
    return Prepared(
        cs, cfg, data, g, _bar_args(data), cfg.to_json(reference_month=_reference_month(data)), _ppy(cs, cfg)
    )


def real_markets(data: BarArrays) -> Markets:
    """The real bars as a one-market stack (views, no copy)."""
    return (data.open[None, :], data.high[None, :], data.low[None, :], data.close[None, :],
            data.volume[None, :], data.vwap[None, :])  # fmt: skip


def markets_per_chunk(prep: Prepared, grid: np.ndarray) -> int:
    """How many markets one stacked evaluation holds within the memory target."""
    n = max(prep.n_bars, 1)
    sched = schedule(prep.cs.template, grid, n)
    per_market = n * (8 * (8 + sched.slab_rows) + min(grid.shape[0], 64) * 9)
    return max(1, int(_MARKET_BYTES // per_market))


def _stacked_fields(prep: Prepared, mk: Markets) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    m, n = mk[0].shape
    flat = [np.ascontiguousarray(a).reshape(-1) for a in mk]
    needed = set(prep.cs.template.fields)
    tod = np.tile(prep.data.time_of_day(), m) if "time_of_day" in needed else flat[3]
    sess = np.tile(prep.data.session_start(), m) if "session_start" in needed else flat[3]
    base = prep.data.offsets[:-1]
    offsets = np.concatenate([(base[None, :] + n * np.arange(m)[:, None]).reshape(-1), [m * n]]).astype(np.int64)
    return (flat[0], flat[1], flat[2], flat[3], flat[4], flat[5], tod, sess), offsets


def _lagged(a: np.ndarray, lag: int, seg_starts: np.ndarray, fill: float | int) -> np.ndarray:
    """``a`` (``k x L``) delayed by ``lag`` bars within every segment (the first bars get ``fill``)."""
    out = np.empty_like(a)
    out[:, lag:] = a[:, :-lag]
    for s in seg_starts:
        out[:, s : s + lag] = fill
    return out


def run_markets(
    prep: Prepared,
    mk: Markets,
    grid: np.ndarray | None = None,
    *,
    lag: int = 0,
    returns: bool = False,
    pool: ThreadPoolExecutor | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Runs every combination of ``grid`` (default ``prep.grid``) on every market of ``mk``.

    Returns the ``M x C x len(METRIC_NAMES)`` metrics and, with ``returns``, the
    ``M x C x periods`` per-period net returns. ``lag`` delays every signal (and stop distance)
    by that many extra bars, within each symbol.
    """
    g = prep.grid if grid is None else grid
    m, n = mk[0].shape
    c = g.shape[0]
    fields, offsets = _stacked_fields(prep, mk)
    sched = schedule(prep.cs.template, g, m * n)
    rules: _Rules = _rules(prep.cs, g)
    ts, _o, _h, _l, _c, _v, offs, order, symbols = prep.bar_args
    periods = _core.backtest_periods(*prep.bar_args[:8]) if returns else 0
    metrics = np.empty((m, c, len(METRIC_NAMES)))
    rets = np.empty((m, c, periods)) if returns else None
    seg_starts = offsets[:-1]
    threads = prep.config.threads or nb.get_num_threads()
    rust_threads = 1 if m >= threads else 0  # few markets: the Rust loop spreads the combinations
    own = pool is None
    ex = pool or ThreadPoolExecutor(max_workers=threads)
    try:
        for ch in run_schedule(sched, fields, offsets, threads=prep.config.threads):
            sig, stop, take = ch.signals, ch.stop_distance, ch.take_distance
            if lag:
                sig = _lagged(sig, lag, seg_starts, 0)
                stop = None if stop is None else _lagged(stop, lag, seg_starts, np.nan)
                take = None if take is None else _lagged(take, lag, seg_starts, np.nan)
            sl = slice(ch.c0, ch.c1)

            def fill(j: int, sig: np.ndarray = sig, stop: Any = stop, take: Any = take, sl: slice = sl) -> None:
                cols = slice(j * n, (j + 1) * n)
                buf = None
                if rets is not None:
                    buf = np.empty((sl.stop - sl.start, periods))
                metrics[j, sl] = _core.backtest_sweep(
                    ts, mk[0][j], mk[1][j], mk[2][j], mk[3][j], mk[4][j], offs, order, symbols,
                    np.ascontiguousarray(sig[:, cols]),
                    None if stop is None else np.ascontiguousarray(stop[:, cols]),
                    None if take is None else np.ascontiguousarray(take[:, cols]),
                    rules.stop_kind, rules.stop_value[sl], rules.take_kind, rules.take_value[sl],
                    rules.time_stop[sl], rules.sizing_kind, rules.sizing_value[sl], prep.config_json, prep.ppy, rust_threads, buf,
                )  # fmt: skip
                if rets is not None and buf is not None:
                    rets[j, sl] = buf

            for f in [ex.submit(fill, j) for j in range(m)]:
                f.result()
    finally:
        if own:
            ex.shutdown()
    return metrics, rets
