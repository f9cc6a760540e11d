"""``LiveBook``: many live runners (strategies x symbols) stepped together at each bar close.

A book groups :class:`~quant_engine.trading.LiveStrategy` runners, each one strategy trading one
symbol's account. ``on_close(bars)`` takes the bars closing now (one row per symbol) and evaluates
every runner's plan for that bar in one Numba call (the step evaluator over all accounts: no
Python per runner there), then steps each runner's account through the core's trading stepper.
The runners keep working alone: their plan state lives in the book's arrays (views), so
``runner.on_bar`` and ``book.on_close`` can be mixed, and every runner yields exactly what it
would alone (a test checks it). Runners of plans calling user operators are stepped one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from quant_engine import _core
from quant_engine.errors import InvalidArgumentError
from quant_engine.research.config import BacktestConfig
from quant_engine.tables import as_table
from quant_engine.trading.live import Bar, LiveStrategy, bar_matrix
from quant_engine.trading.program import StepBank

__all__ = ["LiveBook"]

_COLUMNS = ("symbol", "start", "open", "high", "low", "close", "volume")


class LiveBook:
    """Runners stepped together at each bar close (see the module doc).

    Args:
        runners: the runners (each one strategy on one symbol); several may trade one symbol.
    """

    def __init__(self, runners: Sequence[LiveStrategy]) -> None:
        if not runners:
            raise InvalidArgumentError("a LiveBook needs at least one runner")
        self.runners: list[LiveStrategy] = list(runners)
        if len({id(r) for r in self.runners}) != len(self.runners):
            raise InvalidArgumentError("a runner appears twice in the book")
        self.symbols: list[str] = sorted({r.symbol for r in self.runners})
        sym_index = {s: k for k, s in enumerate(self.symbols)}
        self._sym_index = sym_index
        fast = [r for r in self.runners if r.program is not None]
        self._slow = [r for r in self.runners if r.program is None]
        self._fast = fast
        self._bank = (
            StepBank([r.program for r in fast if r.program is not None], [r.state for r in fast]) if fast else None
        )
        self._account_sym = np.array([sym_index[r.symbol] for r in fast], np.int64)
        self._steppers: list[Any] = [r._stepper for r in fast]
        self._has_stepper = np.array([st is not None for st in self._steppers], bool)
        # one bar matrix per time zone of the plans reading local time (the others read none)
        zones = sorted({r.strategy.strategy.timezone for r in fast if r.program is not None and r.program.time_fields})
        self._zones = zones
        self._zone_of = np.array(
            [
                zones.index(r.strategy.strategy.timezone) + 1 if r.program is not None and r.program.time_fields else 0
                for r in fast
            ],
            np.int64,
        )

    @classmethod
    def grid(
        cls,
        strategies: Iterable[Any],
        symbols: Iterable[str],
        config: BacktestConfig | Mapping[str, Any] | None = None,
        *,
        params: Sequence[Mapping[str, float] | None] | None = None,
    ) -> LiveBook:
        """A book running every strategy on every symbol (strategies' plans are compiled and laid
        out once, then shared by their symbols' runners); ``params[k]`` binds strategy ``k``."""
        strategies = list(strategies)
        symbols = list(symbols)
        if not symbols:
            raise InvalidArgumentError("a LiveBook needs at least one symbol")
        runners = []
        for k, s in enumerate(strategies):
            first = LiveStrategy(s, config, params=None if params is None else params[k], symbol=symbols[0])
            runners.append(first)
            runners.extend(first.for_symbol(sym) for sym in symbols[1:])
        return cls(runners)

    def _bar_rows(self, ts: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The evaluator's bar rows, one block per time zone (block 0 without local time)."""
        blocks = [bar_matrix(ts, cols, "UTC", False)]
        blocks += [bar_matrix(ts, cols, z, True) for z in self._zones]
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)

    def on_close(self, bars: Any, *, last: bool = False) -> None:
        """Steps every runner whose symbol has a bar in ``bars`` (anything table-like with
        ``symbol, start, open, high, low, close, volume``, one row per symbol; symbols no runner
        trades are ignored). ``last`` marks the bars as the session's last."""
        table = as_table(bars, what="bars", required=_COLUMNS)
        names = table.column("symbol").to_pylist()
        if len(set(names)) != len(names):
            raise InvalidArgumentError("on_close takes one bar per symbol; a symbol appears twice")
        col = table.column("start")
        start = col.cast(pa.int64()) if pa.types.is_timestamp(col.type) else col
        ts = np.ascontiguousarray(start.to_numpy(), dtype=np.int64)
        cols = np.stack([np.asarray(table.column(k).to_numpy(), np.float64) for k in _COLUMNS[2:]])
        row_of = np.full(len(self.symbols), -1, np.int64)
        for i, name in enumerate(names):
            k = self._sym_index.get(name)
            if k is not None:
                row_of[k] = i
        if self._bank is not None:
            self._step_fast(row_of, ts, cols, last)
        for r in self._slow:
            k = row_of[self._sym_index[r.symbol]]
            if k >= 0:
                r.on_bar(Bar(int(ts[k]), *(float(c) for c in cols[:, k])), last=last)

    def _step_fast(self, row_of: np.ndarray, ts: np.ndarray, cols: np.ndarray, last: bool) -> None:
        """The runners with step programs: one Numba call for every plan, one Rust call for every
        account."""
        bank = self._bank
        assert bank is not None
        rows = row_of[self._account_sym]
        accounts = np.flatnonzero(rows >= 0)
        bar_row = rows[accounts]
        seen = bank.clock[accounts, 0] > 0
        late = seen & (ts[bar_row] <= bank.clock[accounts, 2])
        if late.any():
            r = self._fast[int(accounts[np.argmax(late)])]
            raise InvalidArgumentError(
                f"{r.symbol}: bar at {int(ts[bar_row[np.argmax(late)]])} is not after the previous bar"
            )
        m = ts.shape[0]
        sig, dist = bank.step(accounts, bar_row + self._zone_of[accounts] * m, self._bar_rows(ts, cols))
        bank.clock[accounts, 2] = ts[bar_row]
        bank.last[accounts, 0] = sig
        bank.last[accounts, 1:] = dist
        # the accounts' Rust steppers (made at each runner's first bar), stepped in one call
        fresh = np.flatnonzero(~self._has_stepper[accounts])
        for j in fresh.tolist():
            a = int(accounts[j])
            self._steppers[a] = self._fast[a]._stepper_for(int(ts[bar_row[j]]))
            self._has_stepper[a] = True
        every = accounts.shape[0] == len(self._fast)
        steppers = self._steppers if every else [self._steppers[a] for a in accounts.tolist()]
        bar_ts = ts[bar_row]
        _core.TradingStepper.step_each(
            steppers, bar_ts, cols[0, bar_row], cols[1, bar_row], cols[2, bar_row], cols[3, bar_row],
            cols[4, bar_row], sig, np.ascontiguousarray(dist[:, 0]), np.ascontiguousarray(dist[:, 1]), last,
        )  # fmt: skip
