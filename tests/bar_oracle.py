"""An independent, straightforward Python model of the documented bar semantics.

Keeps each open bar's ticks in a list and computes bars from scratch with the watermark/lateness
rule written out literally (docs/bars.md). Used by the property tests as the oracle for the Rust
engine (streaming buffers and batch aggregation).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

MIN_TS = 315_532_800 * 1_000_000_000
MAX_TS = 7_258_118_400 * 1_000_000_000


@dataclass
class OracleTick:
    """One tick; ``None`` fields are nulls."""

    ts: int | None
    symbol: str | None
    price: float | None
    size: float | None


def classify(ts: int, price: float, size: float) -> str | None:
    """The documented validation order; None when valid."""
    if not (MIN_TS <= ts < MAX_TS):
        return "ts_out_of_range"
    if not math.isfinite(price):
        return "non_finite_price"
    if price <= 0.0:
        return "non_positive_price"
    if not math.isfinite(size):
        return "non_finite_size"
    if size < 0.0:
        return "negative_size"
    return None


def make_bar(symbol: str, start: int, ticks: list[tuple[int, float, float]]) -> dict[str, object]:
    """A bar from its ticks in arrival order."""
    t0, p0, s0 = ticks[0]
    open_, open_ts, close, close_ts = p0, t0, p0, t0
    high, low, vol, pv = p0, p0, s0, p0 * s0
    for t, p, s in ticks[1:]:
        if p > high:
            high = p
        if p < low:
            low = p
        if t < open_ts:
            open_, open_ts = p, t
        if t >= close_ts:
            close, close_ts = p, t
        vol += s
        pv += p * s
    return {
        "symbol": symbol,
        "start": start,
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": vol,
        "vwap": pv / vol if vol > 0 else close,
        "trades": len(ticks),
    }


@dataclass
class _Sym:
    watermark: int | None = None
    closed_end: int | None = None
    open: dict[int, list[tuple[int, float, float]]] = field(default_factory=dict)


@dataclass
class BarOracle:
    """Streaming semantics (``lateness=None``: batch mode, nothing closes before ``flush``)."""

    interval: int
    origin: int = 0
    lateness: int | None = 0
    symbols: frozenset[str] | None = None
    emitted: list[dict[str, object]] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    state: dict[str, _Sym] = field(default_factory=dict)
    clock: int | None = None

    def _start(self, ts: int) -> int:
        return self.origin + (ts - self.origin) // self.interval * self.interval

    def _close_due(self, sym: str, s: _Sym) -> None:
        if self.lateness is None or s.watermark is None:
            return
        for start in sorted(s.open):
            if start + self.interval + self.lateness > s.watermark:
                break
            self.emitted.append(make_bar(sym, start, s.open.pop(start)))
            s.closed_end = start + self.interval

    def push(self, tick: OracleTick) -> None:
        """Processes one tick."""
        if tick.ts is None or tick.price is None or tick.size is None or tick.symbol is None:
            self.rejected["null_field"] += 1
            return
        if tick.symbol == "" or (self.symbols is not None and tick.symbol not in self.symbols):
            self.rejected["unknown_symbol"] += 1
            return
        reason = classify(tick.ts, tick.price, tick.size)
        if reason:
            self.rejected[reason] += 1
            return
        s = self.state.setdefault(tick.symbol, _Sym(watermark=self.clock))
        start = self._start(tick.ts)
        end = start + self.interval
        if start not in s.open:
            late_closed = s.closed_end is not None and end <= s.closed_end
            late_wm = self.lateness is not None and s.watermark is not None and end + self.lateness <= s.watermark
            if late_closed or late_wm:
                self.rejected["late"] += 1
                return
        s.open.setdefault(start, []).append((tick.ts, tick.price, tick.size))
        s.watermark = tick.ts if s.watermark is None else max(s.watermark, tick.ts)
        self._close_due(tick.symbol, s)

    def advance(self, ts: int) -> None:
        """Moves every symbol's watermark to ``ts``, including symbols not seen yet."""
        self.clock = ts if self.clock is None else max(self.clock, ts)
        for sym, s in self.state.items():
            s.watermark = ts if s.watermark is None else max(s.watermark, ts)
            self._close_due(sym, s)

    def flush(self) -> None:
        """Closes every open bar."""
        for sym, s in self.state.items():
            for start in sorted(s.open):
                self.emitted.append(make_bar(sym, start, s.open[start]))
                s.closed_end = start + self.interval
            s.open.clear()
