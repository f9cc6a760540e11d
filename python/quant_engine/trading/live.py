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

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
import pyarrow as pa

from quant_engine import _core
from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels import plan_ops as P
from quant_engine.kernels.plan_eval import eval_combos, eval_shared
from quant_engine.research.backtester import _compiled, _fills_table, _ppy, _rules, _trades_table
from quant_engine.research.config import BacktestConfig, as_config
from quant_engine.strategy.bar_arrays import BarArrays
from quant_engine.strategy.compiled import CompiledStrategy
from quant_engine.strategy.plan import BLOCK, Schedule

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


class _Evaluator:
    """The plan scheduled for one window length with its buffers allocated once: what
    ``run_schedule`` does for one combination, without its per-call allocations (a full window
    has one length, so every bar reuses it)."""

    def __init__(self, sched: Schedule, n: int) -> None:
        self.sched = sched
        self.slab = np.empty((max(sched.slab_rows, 1), n), np.float64)
        self.scratch = np.empty((1, max(sched.scratch_rows, 1), n if sched.scratch_rows else 1), np.float64)
        self.has_stop = bool(sched.roots_kind[4, 0] != P.K_NONE)
        self.has_take = bool(sched.roots_kind[5, 0] != P.K_NONE)
        self.sig = np.empty((1, n), np.uint8)
        self.stop = np.empty((1, n) if self.has_stop else (1, 0), np.float64)
        self.take = np.empty((1, n) if self.has_take else (1, 0), np.float64)

        self._shared: Any = None
        self._combos: Any = None

    def run(self, fields: tuple[np.ndarray, ...], offsets: np.ndarray) -> None:
        """Evaluates the plan into ``sig`` (and ``stop`` / ``take``). The first call goes
        through the Numba dispatchers; later calls reuse the compiled entry points they chose
        (typing the plan's tuple of operator functions costs far more than the evaluation of a
        window)."""
        s = self.sched
        shared = (s.a_code, s.a_kind, s.a_val, s.levels, fields, self.slab, offsets, s.functions)
        combos = (
            s.b_code, s.b_kind, s.b_val, s.params, s.row_map, fields, self.slab, offsets, s.functions,
            s.roots_op, s.roots_kind, s.roots_val, 0, 1, self.sig, self.stop, self.take, self.scratch, BLOCK,
        )  # fmt: skip
        if self._combos is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=nb.NumbaExperimentalFeatureWarning)
                if s.a_code.shape[0]:
                    eval_shared(*shared)
                eval_combos(*combos)
                self._shared = _entry_point(eval_shared, shared) if s.a_code.shape[0] else None
                self._combos = _entry_point(eval_combos, combos)
            return
        if self._shared is not None:
            self._shared(*shared)
        self._combos(*combos)


def _entry_point(dispatcher: Any, args: tuple[Any, ...]) -> Any:
    """The compiled function ``dispatcher`` runs for arguments of the types of ``args`` (it
    unboxes by the fixed signature, skipping the per-call type dispatch); the dispatcher itself
    when it cannot be found."""
    try:
        sig = tuple(dispatcher.typeof_pyval(a) for a in args)
        return dispatcher.overloads[sig].entry_point
    except (KeyError, AttributeError):
        return dispatcher


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
        config: BacktestConfig | Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, float] | None = None,
        window: int | None = 500,
    ) -> None:
        cs: CompiledStrategy = _compiled(strategy)
        if len(cs.strategy.instruments) != 1:
            raise InvalidArgumentError(
                f"LiveStrategy runs one instrument; the strategy trades {list(cs.strategy.instruments)}"
            )
        if window is not None and window < 1:
            raise InvalidArgumentError(f"window must be at least 1 bar, got {window}")
        self.strategy = cs
        self.config = as_config(config)
        self.symbol: str = cs.strategy.instruments[0]
        self._grid = cs.grid({k: [v] for k, v in (params or {}).items()})
        self._rules = _rules(cs, self._grid)
        # one-digit futures years are read against the current month (a backtest uses its data's
        # first month)
        self._config_json = self.config.to_json()
        self._ppy = _ppy(cs, self.config)
        self._window = _Window(window)
        self._stepper: _core.TradingStepper | None = None
        self._evaluators: dict[int, _Evaluator] = {}
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
        bars = BarArrays(
            [self.symbol],
            np.array([0, n], np.int64),
            w.ts[sl],
            _ro(c[0]),
            _ro(c[1]),
            _ro(c[2]),
            close,
            _ro(c[4]),
            close,
            self.strategy.strategy.timezone,
        )
        ev = self._evaluators.get(n)
        if ev is None:
            ev = _Evaluator(self.strategy.schedule(bars, self._grid), n)
            if w.limit is not None:  # a full window has one length: keep its evaluator
                self._evaluators = {n: ev}
        ev.run(bars.fields(self.strategy.template.fields), bars.offsets)
        tail = slice(n - rows, n)
        stop = ev.stop[0, tail].copy() if ev.has_stop else None
        take = ev.take[0, tail].copy() if ev.has_take else None
        return ev.sig[0, tail].copy(), stop, take

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
        if len(self._window) and ts <= int(self._window.ts[self._window.hi - 1]):
            raise InvalidArgumentError(f"bar at {ts} is not after the previous bar")
        self._window.append(
            np.array([ts], np.int64), np.array([[b.open], [b.high], [b.low], [b.close], [b.volume]], np.float64)
        )
        sig, stop, take = self._signals(1)
        self.last_signal = (int(sig[0]) & allow) | force
        st = self._stepper_for(ts)
        nan = float("nan")
        st.step(0, ts, b.open, b.high, b.low, b.close, b.volume, self.last_signal,
                nan if stop is None else float(stop[0]), nan if take is None else float(take[0]), last)  # fmt: skip
        st.record_equity(ts)

    def on_bars(
        self,
        bars: Mapping[str, Any] | pa.Table,
        *,
        last: bool = False,
        allow: int | np.ndarray = 15,
        force: int | np.ndarray = 0,
    ) -> np.ndarray:
        """Steps the account with a batch of closed bars (columns ``start, open, high, low, close,
        volume``, in time order): one plan evaluation and one Rust call, no Python per bar.
        ``last`` marks the batch's final bar as the session's last; ``allow`` / ``force`` gate the
        signal bits as in :meth:`on_bar` (one value, or one per bar). Returns the equity after
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
        sig = ((sig & np.asarray(allow, np.uint8)) | np.asarray(force, np.uint8)).astype(np.uint8)
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
        e = np.empty(0)
        data = BarArrays([self.symbol], np.array([0, 0], np.int64), np.empty(0, np.int64), e, e, e, e, e, e)
        return _fills_table(out, data), _trades_table(out, data)
