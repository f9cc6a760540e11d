"""``LiveStrategy``: one compiled strategy trading one account bar by bar.

It holds the compiled plan, its window of recent bars and a Rust ``TradingStepper`` (the core's
trading stepper, the same code ``backtest()`` drives over arrays). ``on_bar(bar)`` appends the bar,
evaluates the plan on the window and keeps the newest row's signal (the strategy language is
prefix-invariant: a bar's signal depends only on the bars up to it), then steps the account: the
order decided at the previous close fills at this bar's open, stops and take-profits are checked
against its range, and the rules decide at its close. ``on_bars(batch)`` does the same for a batch
with one plan evaluation and one Rust call (no Python per bar).

With ``window=None`` the window keeps every bar, and feeding bars one at a time yields exactly the
fills, trades, cash and positions ``backtest()`` yields on the same bars (a conformance test checks
it bit for bit). A bounded window bounds the work per bar; it changes no signal of a plan whose
indicators only look back a finite number of bars that fits in it (SMA, highest, crossings ...),
while recursive ones (EMA, RSI, ATR) then start from the window's first bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from quant_engine import _core
from quant_engine.errors import InvalidArgumentError
from quant_engine.research.backtester import BacktestConfig, _compiled, _config_json, _fills_table, _ppy, _rules, _trades_table
from quant_engine.strategy.bar_arrays import BarArrays
from quant_engine.strategy.compiled import CompiledStrategy
from quant_engine.strategy.plan import Schedule, run_schedule

__all__ = ["Bar", "LiveStrategy"]

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


class _Window:
    """The latest bars as contiguous columns (amortized O(1) append: a buffer of twice the
    window, compacted when full)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        cap = 1024 if limit is None else max(2 * limit, 16)
        self.ts = np.empty(cap, np.int64)
        self.cols = np.empty((5, cap), np.float64)  # open, high, low, close, volume
        self.lo = 0
        self.hi = 0

    def __len__(self) -> int:
        return self.hi - self.lo

    def _room(self, k: int) -> None:
        if self.hi + k <= self.ts.shape[0]:
            return
        keep = len(self) if self.limit is None else min(len(self), self.limit)
        cap = self.ts.shape[0]
        while keep + k > cap:
            cap *= 2
        ts = np.empty(cap, np.int64)
        cols = np.empty((5, cap), np.float64)
        ts[:keep] = self.ts[self.hi - keep : self.hi]
        cols[:, :keep] = self.cols[:, self.hi - keep : self.hi]
        self.ts, self.cols, self.lo, self.hi = ts, cols, 0, keep

    def append(self, ts: np.ndarray, cols: np.ndarray) -> None:
        """Appends ``k`` bars (``ts[k]``, ``cols[5, k]``)."""
        k = ts.shape[0]
        self._room(k)
        self.ts[self.hi : self.hi + k] = ts
        self.cols[:, self.hi : self.hi + k] = cols
        self.hi += k
        if self.limit is not None and len(self) > self.limit:
            self.lo = self.hi - self.limit

    def extent(self, extra: int) -> slice:
        """The rows to evaluate for the newest ``extra`` bars: the window before them (up to the
        limit) and the bars themselves."""
        keep = len(self) if self.limit is None else min(len(self), self.limit + extra - 1)
        return slice(max(self.hi - keep, 0), self.hi)


class LiveStrategy:
    """A compiled strategy trading one instrument's account bar by bar (see the module doc).

    Args:
        strategy: a strategy document, ``Strategy`` or ``CompiledStrategy`` with one instrument.
        config: the account's configuration (cash, execution, risk limits, instrument overrides,
            ``allow_short``, ``close_at_end``), as for ``backtest()``.
        params: parameter values over the template's defaults.
        window: bars kept for evaluating the plan (None: all of them, exactly ``backtest()``).
    """

    def __init__(
        self,
        strategy: Any,
        config: BacktestConfig | None = None,
        *,
        params: Mapping[str, float] | None = None,
        window: int | None = 500,
    ) -> None:
        cs: CompiledStrategy = _compiled(strategy)
        if len(cs.strategy.instruments) != 1:
            raise InvalidArgumentError(f"LiveStrategy runs one instrument; the strategy trades {list(cs.strategy.instruments)}")
        if window is not None and window < 1:
            raise InvalidArgumentError(f"window must be at least 1 bar, got {window}")
        self.strategy = cs
        self.config = config or BacktestConfig()
        self.symbol: str = cs.strategy.instruments[0]
        self._grid = cs.grid({k: [v] for k, v in (params or {}).items()})
        self._rules = _rules(cs, self._grid)
        self._config_json = _config_json(self.config)
        self._ppy = _ppy(cs, self.config)
        self._window = _Window(window)
        self._stepper: _core.TradingStepper | None = None
        self._schedules: dict[int, Schedule] = {}
        # checks the configuration now; answers queries before the first bar (the account's
        # stepper starts at the first bar's time, the start of its metrics' time axis)
        self._idle = self._make_stepper(0)
        self.last_signal = 0
        """The signal bits the newest bar's close produced (1 entry long, 2 exit long, 4 entry
        short, 8 exit short)."""

    def _make_stepper(self, start_ts: int) -> _core.TradingStepper:
        r = self._rules
        return _core.TradingStepper(
            [self.symbol], self._config_json, self._ppy,
            r.stop_kind, float(r.stop_value[0]), r.take_kind, float(r.take_value[0]),
            int(r.time_stop[0]), r.sizing_kind, float(r.sizing_value[0]), start_ts,
        )  # fmt: skip

    def _signals(self, rows: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Signal bytes (and ATR distances) of the newest ``rows`` bars, from one evaluation of
        the plan on the window."""
        w = self._window
        sl = w.extent(rows)
        n = sl.stop - sl.start
        c = w.cols[:, sl]
        close = _ro(c[3])
        bars = BarArrays([self.symbol], np.array([0, n], np.int64), w.ts[sl], _ro(c[0]), _ro(c[1]), _ro(c[2]), close, _ro(c[4]), close, self.strategy.strategy.timezone)
        sched = self._schedules.get(n)
        if sched is None:
            sched = self.strategy.schedule(bars, self._grid)
            if w.limit is not None:  # a full window has one length: keep its schedule
                self._schedules = {n: sched}
        chunk = next(iter(run_schedule(sched, bars.fields(self.strategy.template.fields), bars.offsets, threads=1)))
        tail = slice(n - rows, n)
        stop = None if chunk.stop_distance is None else chunk.stop_distance[0, tail].copy()
        take = None if chunk.take_distance is None else chunk.take_distance[0, tail].copy()
        return chunk.signals[0, tail].copy(), stop, take

    def _stepper_for(self, start_ts: int) -> _core.TradingStepper:
        if self._stepper is None:
            self._stepper = self._make_stepper(start_ts)
        return self._stepper

    def _current(self) -> _core.TradingStepper:
        return self._idle if self._stepper is None else self._stepper

    def on_bar(self, bar: Bar | Mapping[str, Any], *, last: bool = False) -> None:
        """Steps the account with one closed bar (``Bar`` or a mapping with ``start, open, high,
        low, close, volume``). ``last`` marks the final bar of the session: no new order, and the
        position is closed at its close when ``close_at_end``."""
        b = bar if isinstance(bar, Bar) else Bar(**{k: bar[k] for k in _COLUMNS})
        ts = int(b.start)
        if len(self._window) and ts <= int(self._window.ts[self._window.hi - 1]):
            raise InvalidArgumentError(f"bar at {ts} is not after the previous bar")
        self._window.append(np.array([ts], np.int64), np.array([[b.open], [b.high], [b.low], [b.close], [b.volume]], np.float64))
        sig, stop, take = self._signals(1)
        self.last_signal = int(sig[0])
        st = self._stepper_for(ts)
        nan = float("nan")
        st.step(0, ts, b.open, b.high, b.low, b.close, b.volume, int(sig[0]),
                nan if stop is None else float(stop[0]), nan if take is None else float(take[0]), last)  # fmt: skip
        st.record_equity(ts)

    def on_bars(self, bars: Mapping[str, Any] | pa.Table, *, last: bool = False) -> np.ndarray:
        """Steps the account with a batch of closed bars (columns ``start, open, high, low, close,
        volume``, in time order): one plan evaluation and one Rust call, no Python per bar.
        ``last`` marks the batch's final bar as the session's last. Returns the equity after
        each bar."""
        get = (lambda k: bars.column(k).to_numpy()) if isinstance(bars, pa.Table) else (lambda k: np.asarray(bars[k]))
        ts = np.ascontiguousarray(get("start")).astype(np.int64)
        if ts.shape[0] == 0:
            raise InvalidArgumentError("on_bars needs at least one bar")
        cols = np.stack([np.asarray(get(k), np.float64) for k in _COLUMNS[1:]])
        prev = int(self._window.ts[self._window.hi - 1]) if len(self._window) else None
        if np.any(np.diff(ts) <= 0) or (prev is not None and int(ts[0]) <= prev):
            raise InvalidArgumentError("bars must be in strictly increasing time order, after the previous bar")
        self._window.append(ts, cols)
        sig, stop, take = self._signals(ts.shape[0])
        self.last_signal = int(sig[-1])
        st = self._stepper_for(int(ts[0]))
        eq = st.step_bars(0, ts, cols[0], cols[1], cols[2], cols[3], cols[4], sig, stop, take, last, True)
        return eq

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
        out = self._current().drain()
        data = BarArrays([self.symbol], np.array([0, 0], np.int64), *(np.empty(0) for _ in range(7)))
        return _fills_table(out, data), _trades_table(out, data)
