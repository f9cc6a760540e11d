"""``LiveStrategy``: one compiled strategy trading one account bar by bar.

It holds the compiled plan laid out as a step program (:mod:`quant_engine.trading.program`), the
plan's incremental state and a Rust ``TradingStepper`` (the core's trading stepper, the same code
``backtest()`` drives over arrays). ``on_bar(bar)`` evaluates the plan for the newest bar only:
every indicator keeps its state across bars (running sums, exponential averages, deques of
rolling extremes ...) and the values later bars read stay in short rings, so a bar costs a few
operations per instruction whatever the length of the history, and its signal is bit for bit the
signal of the plan evaluated on the whole history (prefix invariance; a property test checks it
on random strategies). Then it steps the account: the order decided at the previous close fills at
this bar's open, stops and take-profits are checked against its range, and the rules decide at
its close. ``on_bars(batch)`` does the same for a batch of bars with one Numba call and one Rust
call (no Python per bar); :class:`~quant_engine.trading.book.LiveBook` steps many strategies and
symbols at one bar close in one Numba call.

Feeding bars one at a time yields exactly the fills, trades, cash and positions ``backtest()``
yields on the same bars (a conformance test checks it bit for bit). Plans calling user operators
(whole-series kernels with no step form) are evaluated over the whole history at each bar:
exact, at a cost that grows with the history.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from quant_engine import _core
from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels import plan_step as K
from quant_engine.research.backtester import _compiled
from quant_engine.research.config import BacktestConfig, as_config
from quant_engine.research.run_spec import run_spec
from quant_engine.strategy.bar_arrays import DAY_NS, BarArrays, local_ns
from quant_engine.strategy.compiled import CompiledStrategy
from quant_engine.tables import as_table
from quant_engine.trading.program import StepProgram, StepState, entry_point, step_program

__all__ = ["Bar", "LiveStrategy", "bar_matrix"]

_COLUMNS = ("start", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Bar:
    """One closed bar: ``start`` (UTC ns) and OHLCV."""

    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def _ro(a: np.ndarray) -> np.ndarray:
    """A read-only view (the plan evaluator is compiled for read-only bar columns, as
    ``BarArrays`` hands them out)."""
    v = a.view()
    v.setflags(write=False)
    return v


class _History:
    """Every bar seen, as contiguous columns (amortized O(1) append), for plans evaluated over
    the whole history (those calling user operators)."""

    def __init__(self) -> None:
        self.ts = np.empty(1024, np.int64)
        self.cols = np.empty((5, 1024), np.float64)  # open, high, low, close, volume
        self.n = 0

    def append(self, ts: np.ndarray, cols: np.ndarray) -> None:
        """Appends ``k`` bars (``ts[k]``, ``cols[5, k]``)."""
        k = ts.shape[0]
        if self.n + k > self.ts.shape[0]:
            cap = max(2 * self.ts.shape[0], self.n + k)
            ts_new, cols_new = np.empty(cap, np.int64), np.empty((5, cap), np.float64)
            ts_new[: self.n], cols_new[:, : self.n] = self.ts[: self.n], self.cols[:, : self.n]
            self.ts, self.cols = ts_new, cols_new
        self.ts[self.n : self.n + k] = ts
        self.cols[:, self.n : self.n + k] = cols
        self.n += k


def bar_matrix(ts: np.ndarray, cols: np.ndarray, timezone: str, time_fields: bool) -> np.ndarray:
    """The step evaluator's bar rows (``m x 8``): open, high, low, close, volume, vwap (the
    close), minutes since local midnight and the local day (computed only with
    ``time_fields``), from ``ts[m]`` and ``cols[5, m]`` (open, high, low, close, volume)."""
    m = ts.shape[0]
    out = np.zeros((m, 8), np.float64)
    out[:, :5] = cols.T
    out[:, 5] = cols[3]
    if time_fields:
        local = local_ns(ts, timezone)
        out[:, 6] = (local % DAY_NS) / 60e9
        out[:, 7] = local // DAY_NS
    return out


class LiveStrategy:
    """A compiled strategy trading one instrument's account bar by bar (see the module doc).

    Args:
        strategy: a strategy document, ``Strategy`` or ``CompiledStrategy`` with one instrument.
        config: the account's configuration (cash, execution, risk limits, instrument overrides,
            ``allow_short``, ``close_at_end``), as for ``backtest()``.
        params: parameter values over the template's defaults.
        symbol: the instrument traded (default: the strategy's one instrument), so that one
            compiled strategy serves many symbols.
    """

    def __init__(
        self,
        strategy: Any,
        config: BacktestConfig | Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, float] | None = None,
        symbol: str | None = None,
    ) -> None:
        cs: CompiledStrategy = _compiled(strategy)
        if symbol is None and len(cs.strategy.instruments) != 1:
            raise InvalidArgumentError(
                f"LiveStrategy runs one instrument; the strategy trades {list(cs.strategy.instruments)}"
                " (pass symbol=...)"
            )
        self.strategy = cs
        self.config = as_config(config)
        self.symbol: str = cs.strategy.instruments[0] if symbol is None else str(symbol)
        self._grid = cs.bind(params)
        # one-digit futures years are read against the current month (a backtest uses its data's
        # first month)
        self._spec = run_spec(cs, self._grid, self.config, [self.symbol])
        self._stepper: _core.TradingStepper | None = None
        # checks the configuration now; answers queries before the first bar (the account's
        # stepper starts at the first bar's time, the start of its metrics' time axis)
        self._idle = self._make_stepper(0)
        self.program: StepProgram | None = step_program(cs, self._grid)
        """The plan as a step program (None: a plan calling user operators, evaluated over the
        whole history)."""
        self._history = _History() if self.program is None else None
        if self.program is not None:
            p = self.program
            self.state = StepState(p)
            self._prog = np.array([[0, p.n_instr, 0]], np.int64)
            self._roots_i, self._roots_v = p.roots_i[None], p.roots_v[None]
            self._bar1 = np.zeros((1, 8), np.float64)
            self._sig1 = np.zeros(1, np.uint8)
            self._dist1 = np.zeros((1, 2), np.float64)
            self._run: Any = None
        self._own_last = np.array([[0.0, np.nan, np.nan]])  # plans without a step form

    def for_symbol(self, symbol: str) -> LiveStrategy:
        """A fresh runner of the same strategy, parameters and configuration trading ``symbol``
        (sharing this one's step program: cheap to make by the thousand)."""
        other = copy.copy(self)
        other.symbol = str(symbol)
        other._spec = run_spec(self.strategy, self._grid, self.config, [other.symbol])
        other._stepper = None
        other._idle = other._make_stepper(0)  # checks the symbol against the configuration
        other._history = _History() if self.program is None else None
        if self.program is not None:
            other.state = StepState(self.program)
            other._bar1, other._sig1, other._dist1 = np.zeros((1, 8)), np.zeros(1, np.uint8), np.zeros((1, 2))
        other._own_last = np.array([[0.0, np.nan, np.nan]])
        return other

    def _make_stepper(self, start_ts: int) -> _core.TradingStepper:
        return _core.TradingStepper(self._spec, start_ts)

    def _step_plan(self, bars: np.ndarray, sig: np.ndarray, dist: np.ndarray) -> None:
        """Steps the plan's state through ``bars`` (rows of :func:`bar_matrix`) into ``sig`` and
        ``dist``: one Numba call (its compiled entry point after the first)."""
        p, s = self.program, self.state
        assert p is not None
        args = (0, bars, p.code, p.val, p.rows, self._prog, self._roots_i, self._roots_v,
                s.acc, s.clock, s.ring, s.fst, s.ist, s.aux, sig, dist)  # fmt: skip
        if self._run is None:
            K.step_series(*args)
            self._run = entry_point(K.step_series, args)
        else:
            self._run(*args)

    def _history_signals(self, rows: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Signal bytes (and distances) of the newest ``rows`` bars from the plan evaluated over
        the whole history (plans calling user operators)."""
        h = self._history
        assert h is not None
        c = h.cols[:, : h.n]
        close = _ro(c[3])
        bars = BarArrays(
            [self.symbol], np.array([0, h.n], np.int64), h.ts[: h.n], _ro(c[0]), _ro(c[1]), _ro(c[2]), close,
            _ro(c[4]), close, self.strategy.strategy.timezone,
        )  # fmt: skip
        chunk = next(iter(self.strategy.signal_chunks(bars, self._grid)))
        tail = slice(h.n - rows, h.n)
        stop = None if chunk.stop_distance is None else chunk.stop_distance[0, tail].copy()
        take = None if chunk.take_distance is None else chunk.take_distance[0, tail].copy()
        return chunk.signals[0, tail].copy(), stop, take

    def _last_start(self) -> int | None:
        if self.program is not None:
            return self.state.last_start if self.state.bars_seen else None
        h = self._history
        assert h is not None
        return int(h.ts[h.n - 1]) if h.n else None

    def _stepper_for(self, start_ts: int) -> _core.TradingStepper:
        if self._stepper is None:
            self._stepper = self._make_stepper(start_ts)
        return self._stepper

    def _current(self) -> _core.TradingStepper:
        return self._idle if self._stepper is None else self._stepper

    def on_bar(self, bar: Bar | Mapping[str, Any], *, last: bool = False, allow: int = 15, force: int = 0) -> None:
        """Steps the account with one closed bar (``Bar`` or a mapping with ``start, open, high,
        low, close, volume``). ``last`` marks the final bar of the session: no new order, and the
        position is closed at its close when ``close_at_end``. ``allow`` and ``force`` gate the
        plan's signal bits (``(signal & allow) | force``; the shadow trader's kill switch and
        staleness guard): ``allow=0`` places no order, ``force=10`` exits both sides."""
        b = bar if isinstance(bar, Bar) else Bar(**{k: bar[k] for k in _COLUMNS})
        ts = int(b.start)
        prev = self._last_start()
        if prev is not None and ts <= prev:
            raise InvalidArgumentError(f"bar at {ts} is not after the previous bar")
        p = self.program
        if p is not None:
            row = self._bar1[0]
            row[0], row[1], row[2], row[3], row[4], row[5] = b.open, b.high, b.low, b.close, b.volume, b.close
            if p.time_fields:
                local = int(local_ns(np.array([ts], np.int64), self.strategy.strategy.timezone)[0])
                row[6], row[7] = (local % DAY_NS) / 60e9, local // DAY_NS
            self._step_plan(self._bar1, self._sig1, self._dist1)
            self.state.clock[0, 2] = ts
            sig, stop, take = int(self._sig1[0]), float(self._dist1[0, 0]), float(self._dist1[0, 1])
        else:
            assert self._history is not None
            cols = np.array([[b.open], [b.high], [b.low], [b.close], [b.volume]], np.float64)
            self._history.append(np.array([ts], np.int64), cols)
            s, sd, td = self._history_signals(1)
            nan = float("nan")
            sig, stop, take = int(s[0]), nan if sd is None else float(sd[0]), nan if td is None else float(td[0])
        sig = (sig & allow) | force
        last_row = self._last[0]
        last_row[0], last_row[1], last_row[2] = sig, stop, take
        st = self._stepper_for(ts)
        st.step(0, ts, b.open, b.high, b.low, b.close, b.volume, sig, stop, take, last)
        st.record_equity(ts)

    def on_bars(
        self,
        bars: Any,
        *,
        last: bool = False,
        allow: int | np.ndarray = 15,
        force: int | np.ndarray = 0,
    ) -> np.ndarray:
        """Steps the account with a batch of closed bars (anything table-like with columns
        ``start, open, high, low, close, volume``, in time order): one Numba call for the plan
        and one Rust call for the account, no Python per bar. ``last`` marks the batch's final
        bar as the session's last; ``allow`` / ``force`` gate the signal bits as in
        :meth:`on_bar` (one value, or one per bar). Returns the equity after each bar."""
        table = as_table(bars, what="bars")
        missing = [k for k in _COLUMNS if k not in table.column_names]
        if missing:
            raise InvalidArgumentError(f"bars need the columns {list(_COLUMNS)}; missing {missing}")
        col = table.column("start")
        start = col.cast(pa.int64()) if pa.types.is_timestamp(col.type) else col
        ts = np.ascontiguousarray(start.to_numpy(), dtype=np.int64)
        if ts.shape[0] == 0:
            raise InvalidArgumentError("on_bars needs at least one bar")
        cols = np.stack([np.asarray(table.column(k).to_numpy(), np.float64) for k in _COLUMNS[1:]])
        prev = self._last_start()
        if np.any(np.diff(ts) <= 0) or (prev is not None and int(ts[0]) <= prev):
            raise InvalidArgumentError("bars must be in strictly increasing time order, after the previous bar")
        p = self.program
        stop: np.ndarray | None
        take: np.ndarray | None
        if p is not None:
            m = ts.shape[0]
            sig, dist = np.empty(m, np.uint8), np.empty((m, 2), np.float64)
            self._step_plan(bar_matrix(ts, cols, self.strategy.strategy.timezone, p.time_fields), sig, dist)
            self.state.clock[0, 2] = ts[-1]
            stop = np.ascontiguousarray(dist[:, 0]) if p.roots_i[4, 1] != K.S_NONE else None
            take = np.ascontiguousarray(dist[:, 1]) if p.roots_i[5, 1] != K.S_NONE else None
        else:
            assert self._history is not None
            self._history.append(ts, cols)
            sig, stop, take = self._history_signals(ts.shape[0])
        sig = ((sig & np.asarray(allow, np.uint8)) | np.asarray(force, np.uint8)).astype(np.uint8)
        nan = float("nan")
        self._last[0] = (sig[-1], nan if stop is None else stop[-1], nan if take is None else take[-1])
        st = self._stepper_for(int(ts[0]))
        eq = st.step_bars(0, ts, cols[0], cols[1], cols[2], cols[3], cols[4], sig, stop, take, last, True)
        return eq

    @property
    def _last(self) -> np.ndarray:
        """The newest bar's signal byte and distances (in the plan's state, shared with a book)."""
        return self.state.last if self.program is not None else self._own_last

    @property
    def last_signal(self) -> int:
        """The signal bits the newest bar's close produced (1 entry long, 2 exit long, 4 entry
        short, 8 exit short)."""
        return int(self._last[0, 0])

    @property
    def last_stop_distance(self) -> float:
        """The newest bar's stop-loss distance in price units (ATR stops; NaN otherwise)."""
        return float(self._last[0, 1])

    @property
    def last_take_distance(self) -> float:
        """The newest bar's take-profit distance in price units (ATR take-profits; NaN otherwise)."""
        return float(self._last[0, 2])

    @property
    def cash(self) -> float:
        """Cash."""
        return self._current().cash

    @property
    def equity(self) -> float:
        """Cash plus the position at the latest close."""
        return self._current().equity

    @property
    def position(self) -> dict[str, Any]:
        """The position: ``quantity`` (signed), ``entry_price``, ``stop``, ``take``,
        ``bars_held``, ``pending`` (``none``, ``buy``, ``sell``, ``exit``), ``last_close``."""
        return self._current().position(0)

    def metrics(self) -> dict[str, float]:
        """Performance so far (the backtest's metrics over the bars seen)."""
        return self._current().metrics()

    def rejections(self) -> dict[str, int]:
        """Rejected orders by reason code so far."""
        return self._current().rejections()

    def drain(self) -> tuple[pa.Table, pa.Table]:
        """The fills and closed trades since the last drain, as the tables of ``backtest()``."""
        return self._current().drain()
