"""A shadow trader's slot: one promoted strategy trading one symbol through its ``LiveStrategy``.

:meth:`Slot.step` steps the slot's account with one closed bar and a gate, and returns the journal
entries that describe what happened (the bar and gate, the position, a new order, the fills), so
the trader can journal them in one transaction before it acknowledges the bar.
:meth:`Slot.replay` feeds journaled bars back after a restart and checks the fills it gets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from quant_engine.research.config import BacktestConfig
from quant_engine.trading.cusum import Cusum, CusumParams
from quant_engine.trading.live import Bar, LiveStrategy
from quant_engine.trading.shadow_journal import ShadowRecoveryError, SlotHistory

__all__ = ["Slot", "Entry", "EXIT_BOTH", "ALL_BITS", "fill_rows"]

Entry = tuple[str, str, Mapping[str, Any], str | None, int]
"""A journal entry for :func:`quant_engine.store.append_many`: kind, account, payload, symbol, ts."""

ALL_BITS = 15
_OHLCV = ("open", "high", "low", "close", "volume")
EXIT_BOTH = 2 | 8


def fill_rows(fills: pa.Table) -> list[dict[str, Any]]:
    """The rows of a fills table as JSON-ready dicts (``ts`` in UTC ns)."""
    if fills.num_rows == 0:
        return []
    cols = {n: fills.column(n) for n in fills.column_names}
    ts = cols.pop("ts").cast(pa.int64()).to_pylist()
    rest = {n: c.to_pylist() for n, c in cols.items()}
    return [{"ts": int(ts[i]), **{n: v[i] for n, v in rest.items()}} for i in range(fills.num_rows)]


def _same_fill(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("ts", "side", "quantity", "price", "fees", "reason")
    return all(a.get(k) == b.get(k) for k in keys)


@dataclass
class Slot:
    """One strategy on one symbol (``key`` is ``hash:symbol``).

    ``state`` is ``active``, ``paused`` (it raised: frozen, never stepped again this session),
    ``retiring`` (left its band: exits forced until flat) or ``retired``."""

    strategy: str
    symbol: str
    live: LiveStrategy
    cusum: Cusum | None = None
    state: str = "active"
    reason: str = ""
    fills: int = 0
    bars: int = 0
    orders: int = 0
    equity: list[float] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    window: int | None = None

    @property
    def key(self) -> str:
        """``strategy_hash:symbol``."""
        return f"{self.strategy}:{self.symbol}"

    @classmethod
    def build(
        cls,
        strategy: str,
        document: Mapping[str, Any],
        symbol: str,
        config: BacktestConfig,
        expectation: Mapping[str, Any] | None,
        cusum: CusumParams,
        window: int | None,
    ) -> Slot:
        """A slot of ``document`` bound to ``symbol`` (raises the strategy language's errors)."""
        doc = {**dict(document), "instruments": [symbol]}
        live = LiveStrategy(doc, config)
        test = None
        if expectation is not None:
            sd = float(expectation.get("sd", float("nan")))
            mean = float(expectation.get("mean", float("nan")))
            if math.isfinite(sd) and sd > 0 and math.isfinite(mean):
                test = Cusum(mean, sd, cusum)
        return cls(strategy, symbol, live, test, window=window)

    @property
    def flat(self) -> bool:
        """No position and no pending order."""
        p = self.live.position
        return float(p["quantity"]) == 0.0 and p["pending"] == "none"

    def _bar(self, bar: Bar, allow: int, force: int, last: bool) -> tuple[list[dict[str, Any]], bool]:
        """Steps one bar; returns the new fills and whether the CUSUM just alarmed."""
        before = self.live.position
        busy = before["pending"] != "none" or float(before["quantity"]) != 0.0
        prev = self.live.equity
        self.live.on_bar(bar, last=last, allow=allow, force=force)
        fills = fill_rows(self.live.drain()[0]) if busy else []
        self.bars += 1
        eq = self.live.equity
        self.equity.append(eq)
        self.ts.append(bar.start)
        alarm = False
        if self.cusum is not None and allow == ALL_BITS and force == 0 and prev > 0:
            alarm = self.cusum.update(eq / prev - 1.0)
        return fills, alarm

    def step(self, account: str, bar: Bar, allow: int, force: int, last: bool) -> tuple[list[Entry], bool]:
        """Steps one closed bar with its gate; returns the journal entries and whether the
        strategy just left its expected band. Raises what the strategy raises (the caller
        pauses the slot)."""
        fills, alarm = self._bar(bar, allow, force, last)
        pos = self.live.position
        out: list[Entry] = []
        for f in fills:
            self.fills += 1
            out.append(("fill", account, {"slot": self.key, "strategy": self.strategy, "seq": self.fills, **f},
                        self.symbol, int(f["ts"])))  # fmt: skip
        if pos["pending"] != "none":
            self.orders += 1
            out.append(("order", account, {"slot": self.key, "strategy": self.strategy, "seq": self.orders,
                                           "order": pos["pending"], "decided_at": bar.start, "fills": "next open"},
                        self.symbol, bar.start))  # fmt: skip
        payload = {
            "slot": self.key,
            "strategy": self.strategy,
            "bar": [bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume],
            "allow": allow,
            "force": force,
            "last": last,
            "signal": self.live.last_signal,
            "quantity": pos["quantity"],
            "entry_price": _num(pos["entry_price"]),
            "stop": _num(pos["stop"]),
            "take": _num(pos["take"]),
            "pending": pos["pending"],
            "cash": self.live.cash,
            "equity": self.live.equity,
        }
        out.append(("position", account, payload, self.symbol, bar.start))
        return out, alarm

    def warm(self, account: str, bars: list[Bar]) -> list[Entry]:
        """Steps the slot through history bars with every order gated off, in one ``on_bars``
        call (the plan's window fills; the account stays flat); returns the journal entry."""
        if not bars:
            return []
        self._warm_batch(bars)
        rows = [[b.start, b.open, b.high, b.low, b.close, b.volume] for b in bars]
        payload = {"slot": self.key, "strategy": self.strategy, "warmup": rows, "cash": self.live.cash}
        return [("position", account, payload, self.symbol, bars[-1].start)]

    def _warm_batch(self, bars: list[Bar]) -> None:
        step = len(bars)  # one batch: the step evaluator keeps every indicator's state
        for i in range(0, len(bars), step):
            part = bars[i : i + step]
            cols = {n: np.array([getattr(b, n) for b in part], np.float64) for n in _OHLCV}
            eq = self.live.on_bars({"start": np.array([b.start for b in part], np.int64), **cols}, allow=0)
            self.equity.extend(float(x) for x in eq)
            self.ts.extend(b.start for b in part)
            self.bars += len(part)

    def replay(self, history: SlotHistory) -> None:
        """Feeds the journaled bars back with their gates and checks every fill against the
        journal (raises :class:`ShadowRecoveryError` on the first difference)."""
        got: list[dict[str, Any]] = []
        batch: list[Bar] = []
        for (ts, o, h, lo, c, v), (allow, force, last), warm in zip(history.bars, history.gates, history.warm,
                                                                   strict=True):  # fmt: skip
            if warm:
                batch.append(Bar(ts, o, h, lo, c, v))
                continue
            if batch:
                self._warm_batch(batch)
                batch = []
            fills, _ = self._bar(Bar(ts, o, h, lo, c, v), allow, force, last)
            got.extend(fills)
            if self.live.position["pending"] != "none":
                self.orders += 1
        if batch:
            self._warm_batch(batch)
        if len(got) != len(history.fills) or not all(_same_fill(a, b) for a, b in zip(got, history.fills)):
            raise ShadowRecoveryError(
                f"slot {self.key}: replaying {len(history.bars)} journaled bars gives {len(got)} fills, "
                f"the journal holds {len(history.fills)} (or they differ)"
            )
        self.fills = len(got)
        if history.paused:
            self.state, self.reason = "paused", history.paused
        elif history.retired:
            self.state, self.reason = ("retired" if self.flat else "retiring"), history.retired

    def returns(self) -> np.ndarray:
        """Per-bar returns of the paper account (the first bar against the initial cash)."""
        eq = np.asarray(self.equity, np.float64)
        if eq.shape[0] == 0:
            return eq
        prev = np.concatenate([[self.live.config.initial_cash], eq[:-1]])
        return eq / prev - 1.0


def _num(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None
