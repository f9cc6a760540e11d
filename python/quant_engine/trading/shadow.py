"""``ShadowTrader``: promoted strategies paper-trade a live (or replayed) stream, journaling every
decision before it moves on (``docs/shadow.md``).

Ticks go into a :class:`~quant_engine.bars.MultiSymbolBuffer`; each closed bar steps every slot
(a promoted strategy on one of its symbols, :class:`~quant_engine.trading.shadow_slots.Slot`)
through its ``LiveStrategy``: the core's trading stepper, so the risk engine, the execution model
(the order decided at a close fills at the next bar's open, as in ``backtest()``) and the account
are the backtester's. The bar close's orders, fills, positions and the account snapshot are
written to the store's journal and outbox in one transaction before the next bar is taken.

On start the trader replays the session's journal into fresh slots (the stepper is
deterministic: the same bars and gates give the same fills, checked against the journal), re-warms
the buffers and skips every bar it already journaled: no fill repeated, none dropped, positions,
pending orders and armed stops as they were.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from quant_engine.bars import MultiSymbolBuffer
from quant_engine.errors import InvalidArgumentError, QuantEngineError
from quant_engine.research.config import BacktestConfig, as_config
from quant_engine.store import Store, append_many, get_strategy, list_strategies
from quant_engine.store.store import from_json
from quant_engine.store.verdicts import expectation_for
from quant_engine.times import duration_ns
from quant_engine.trading.cusum import CusumParams
from quant_engine.trading.live import Bar
from quant_engine.trading.shadow_feeds import History, bar_rows
from quant_engine.trading.shadow_journal import Recovered, kill_requests, recover
from quant_engine.trading.shadow_retire import retire_strategy
from quant_engine.trading.shadow_slots import ALL_BITS, EXIT_BOTH, Entry, Slot

__all__ = ["ShadowConfig", "ShadowTrader"]


@dataclass
class ShadowConfig:
    """How the trader runs.

    Attributes:
        account: the journal's account name (one per paper session; a restart reuses it).
        interval: the bar interval.
        backtest: every slot's account configuration (cash, execution, ``risk_limits`` with the
            daily loss and drawdown limits, ``close_at_end``), as for ``backtest()``.
        window: bars of history each symbol is warmed with at least (a strategy's signals always
            equal the whole history's: ``LiveStrategy`` keeps each indicator's state; None: only
            what the buffers require).
        cusum: the sequential test's parameters.
        stale_after: seconds without data before health is degraded and orders stop.
        session: local open and close (bars outside are not traded; the last bar of a session
            is stepped as the last, so ``close_at_end`` flattens overnight); None: no hours.
        tz: the session's time zone.
        warmup_bars: bars each symbol's buffer wants before the session (``min_bars``).
        lateness: how long a bar stays open for late trades (a vendor stream's backfill after a
            gap, out-of-order trades); later trades are refused by the buffer, never re-open a bar.
    """

    account: str = "shadow"
    interval: str = "1m"
    backtest: BacktestConfig | Mapping[str, Any] | None = None
    window: int | None = 256
    cusum: CusumParams = field(default_factory=CusumParams)
    stale_after: float = 5.0
    session: tuple[str, str] | None = ("09:30", "16:00")
    tz: str = "America/New_York"
    warmup_bars: int = 50
    lateness: str = "0s"


class ShadowTrader:
    """Paper-trades the promoted strategies of ``store`` on ``feed`` (see the module doc).

    Args:
        store: the research store (strategies, verdicts, journal, events).
        feed: a stream (:class:`~quant_engine.feeds.replay.ReplayFeed`, a vendor
            ``LiveStream``): ``start``/``close``, ``async for`` of ``FeedBatch``.
        history: bars before the session for the warm-up (None: none).
        symbols: restrict trading to these symbols (None: every promoted strategy's).
        config: a :class:`ShadowConfig`.
    """

    def __init__(
        self,
        store: Store,
        feed: Any,
        *,
        history: History | None = None,
        symbols: list[str] | None = None,
        config: ShadowConfig | None = None,
    ) -> None:
        self.store = store
        self.feed = feed
        self.cfg = config or ShadowConfig()
        self.history = history or History.empty()
        self._only = set(symbols) if symbols is not None else None
        self.account_config = as_config(
            self.cfg.backtest if self.cfg.backtest is not None else {"initial_cash": 100_000.0}
        )
        self.interval_ns = duration_ns(self.cfg.interval, "interval")
        self.slots: dict[str, Slot] = {}
        self.by_symbol: dict[str, list[Slot]] = {}
        self.last_ts: dict[str, int] = {}
        self.counters: dict[str, int] = dict.fromkeys(
            ("ticks", "batches", "bar_closes", "bars", "duplicate_bars", "outside_session", "stale_bars",
             "paused", "retired", "skipped_strategies", "journal_entries"), 0)  # fmt: skip
        self.health = "ok"
        self.mode = "normal"
        self.latencies: deque[float] = deque(maxlen=100_000)
        self.started_at = time.time()
        self._kill_cursor = 0
        self._last_data = time.monotonic()
        self._stale_until = -(2**62)
        self._degraded = False
        self._sessions: dict[int, tuple[int, int]] = {}
        self._opened = False
        self.buffer: MultiSymbolBuffer | None = None
        self.started = time.monotonic()

    # ------------------------------------------------------------------ start and recovery
    def open(self) -> Recovered:
        """Loads the slots, replays the session's journal into them and warms the buffers
        (``run`` calls it; idempotent). Returns what the journal held."""
        rec = recover(self.store, self.cfg.account)
        if self._opened:
            return rec
        if rec.session is None:
            rec.session = {"backtest": _config_doc(self.account_config), "window": self.cfg.window,
                           "interval": self.cfg.interval}  # fmt: skip
            append_many(self.store, [("account", self.cfg.account, {"session": rec.session}, None, 0)])
        else:  # a restart trades on with the settings the journal was written with
            self.account_config = as_config(rec.session["backtest"])
            self.cfg.window = rec.session.get("window")
        pending = self._load(rec)
        self.last_ts = dict(rec.last_ts)
        reqs = kill_requests(self.store, self.cfg.account, 0)
        if reqs:
            self._kill_cursor, mode = reqs[-1]
            self.mode = "normal" if mode == "resume" else mode
        symbols = sorted(self.by_symbol)
        self.buffer = MultiSymbolBuffer(symbols, self.cfg.interval, capacity=max(500, self.cfg.warmup_bars),
                                        min_bars=self.cfg.warmup_bars, lateness=self.cfg.lateness)  # fmt: skip
        if pending:
            self._journal(pending, max(e[4] for e in pending))
        self._warm(rec)
        self._opened = True
        return rec

    def _load(self, rec: Recovered) -> list[Entry]:
        records = {r.hash: r for r in list_strategies(self.store, status="promoted")}
        for h in {s.strategy for s in rec.slots.values()} - set(records):
            records[h] = get_strategy(self.store, h)
        for h, r in sorted(records.items()):
            doc = r.document()
            tf = doc.get("timeframe")
            if tf is not None and duration_ns(tf, "timeframe") != self.interval_ns:
                self.counters["skipped_strategies"] += 1
                continue
            exp = expectation_for(self.store, h)
            for sym in doc.get("instruments", []):
                key = f"{h}:{sym}"
                if (self._only is not None and sym not in self._only) or (
                    key not in rec.slots and r.status != "promoted"
                ):
                    continue
                try:
                    slot = Slot.build(h, doc, sym, self.account_config, exp, self.cfg.cusum, self.cfg.window)
                except QuantEngineError:
                    self.counters["skipped_strategies"] += 1
                    continue
                if key in rec.slots:
                    slot.replay(rec.slots[key])
                self.slots[key] = slot
                self.by_symbol.setdefault(sym, []).append(slot)
        out: list[Entry] = []
        for slot in list(self.slots.values()):  # an alarm the journal did not record before a crash
            if slot.state == "active" and slot.cusum is not None and slot.cusum.side is not None:
                out.extend(self._retire(slot, slot.ts[-1] if slot.ts else 0))
        return out

    def _warm(self, rec: Recovered) -> None:
        """Warms each symbol's buffer (journaled bars first, history before them: the buffer's
        ``warmup_requirement()`` or the plan window, whichever is longer) and steps new slots
        through the history with orders gated off (journaled, so a restart replays them)."""
        assert self.buffer is not None
        need = self.buffer.warmup_requirement()
        entries: list[Entry] = []
        for sym, slots in sorted(self.by_symbol.items()):
            journaled = max((rec.slots[s.key].bars for s in slots if s.key in rec.slots), key=len, default=[])
            first = journaled[0][0] if journaled else (2**62)
            # the buffer's requirement, and a bounded plan window's length (a full window from the
            # first live bar: warmed indicators, and one evaluator length)
            want = max(int(need.get(sym, 0)), self.cfg.window or 0)
            past = self.history.before(sym, first, max(want - len(journaled), 0))
            table = _bars_table(past, journaled)
            if table.num_rows:
                self.buffer.warmup(table, symbol=sym)
            fresh = [s for s in slots if s.key not in rec.slots]  # e.g. promoted since the last run
            if fresh and table.num_rows:
                rows = _rows(table)
                self.last_ts[sym] = max(self.last_ts.get(sym, rows[-1].start), rows[-1].start)
                for s in fresh:
                    entries.extend(s.warm(self.cfg.account, rows))
        if entries:
            self._journal(entries, None)

    # ------------------------------------------------------------------ the stream
    async def run(self, *, on_status: Callable[[ShadowTrader], None] | None = None, every: float = 0.5) -> None:
        """Trades the feed until it ends (or the task is cancelled)."""
        self.open()
        await self.feed.start()
        self._last_data = time.monotonic()
        if not getattr(self.feed, "subscriptions", [None]):
            for s in sorted(self.by_symbol):
                await self.feed.subscribe("trades", s)
        watchdog = asyncio.create_task(self._watchdog(on_status, every))
        try:
            async for batch in self.feed:
                if batch.kind == "trades":
                    self.on_ticks(batch.data)
            assert self.buffer is not None
            self.on_bars(self.buffer.flush(), time.perf_counter())
        finally:
            watchdog.cancel()
            await self.feed.close()

    def on_ticks(self, data: pa.RecordBatch | pa.Table) -> None:
        """Pushes a batch of trades and trades the bars it closes."""
        t0 = time.perf_counter()
        assert self.buffer is not None
        self.counters["ticks"] += data.num_rows
        self.counters["batches"] += 1
        self._last_data = time.monotonic()
        if self._degraded and data.num_rows:
            first = int(data.column("ts").cast(pa.int64())[0].as_py())
            self._stale_until = (first // self.interval_ns + 1) * self.interval_ns
            self._degraded = False
            self.health = "ok"
        closed = self.buffer.push(data)
        if closed.num_rows:
            self.on_bars(closed, t0)

    async def _watchdog(self, on_status: Callable[[ShadowTrader], None] | None, every: float) -> None:
        tick = min(every, max(self.cfg.stale_after / 4, 0.05))
        shown = 0.0
        while True:
            await asyncio.sleep(tick)
            if time.monotonic() - self._last_data > self.cfg.stale_after and not self._degraded:
                self._degraded = True
                self.health = "degraded"
                self._stale_until = 2**62
            if on_status is not None and time.monotonic() - shown >= every:
                shown = time.monotonic()
                on_status(self)

    # ------------------------------------------------------------------ a bar close
    def on_bars(self, closed: pa.Table, t0: float) -> None:
        """Steps every slot with the closed bars (time order) and journals the bar close in one
        transaction; ``t0`` is when the data that closed them arrived (for the latency)."""
        rows = bar_rows(closed)
        if not rows:
            return
        self._poll_kill()
        entries: list[Entry] = []
        for sym, ts, o, h, lo, c, v in rows:
            if ts <= self.last_ts.get(sym, -(2**62)):
                self.counters["duplicate_bars"] += 1
                continue
            self.last_ts[sym] = ts
            inside, last = self._session(ts)
            if not inside:
                self.counters["outside_session"] += 1
                continue
            self.counters["bars"] += 1
            allow, force = self._gate(ts)
            bar = Bar(ts, o, h, lo, c, v)
            for slot in self.by_symbol.get(sym, ()):
                entries.extend(self._step(slot, bar, allow, force, last))
        if entries:
            self._journal(entries, max(r[1] for r in rows))
            self.latencies.append(time.perf_counter() - t0)
        self.counters["bar_closes"] += 1

    def _gate(self, ts: int) -> tuple[int, int]:
        if self.mode == "flatten":
            return 0, EXIT_BOTH
        if self.mode == "freeze":
            return 0, 0
        if ts < self._stale_until:
            self.counters["stale_bars"] += 1
            return 0, 0
        return ALL_BITS, 0

    def _session(self, ts: int) -> tuple[bool, bool]:
        if self.cfg.session is None:
            return True, False
        day = ts // 86_400_000_000_000
        bounds = self._sessions.get(day)
        if bounds is None:
            d = dt.datetime.fromtimestamp(ts / 1e9, dt.UTC).astimezone(ZoneInfo(self.cfg.tz)).date()
            bounds = self._sessions[day] = _bounds(d, self.cfg.session, self.cfg.tz)
        lo, hi = bounds
        return lo <= ts < hi, ts + self.interval_ns >= hi

    def _step(self, slot: Slot, bar: Bar, allow: int, force: int, last: bool) -> list[Entry]:
        if slot.state in ("paused", "retired"):
            return []
        if slot.state == "retiring":
            allow, force = 0, EXIT_BOTH
        try:
            out, alarm = slot.step(self.cfg.account, bar, allow, force, last)
        except Exception as exc:  # noqa: BLE001 - a strategy that raises is isolated, never fatal
            slot.state, slot.reason = "paused", f"{type(exc).__name__}: {exc}"[:500]
            self.counters["paused"] += 1
            payload = {"slot": slot.key, "strategy": slot.strategy, "paused": slot.reason}
            return [("position", self.cfg.account, payload, slot.symbol, bar.start)]
        if slot.state == "retiring" and slot.flat:
            slot.state = "retired"
        if alarm and slot.state == "active":
            out.extend(self._retire(slot, bar.start))
        return out

    def _retire(self, slot: Slot, ts: int) -> list[Entry]:
        """Retires the slot's strategy (every slot of it): store transition, causal memory and
        event (idempotent), exits forced until flat; returns the journal entries."""
        assert slot.cusum is not None
        reason, evidence = retire_strategy(self.store, self.cfg.account, slot, ts)
        out: list[Entry] = []
        for s in self.slots.values():
            if s.strategy == slot.strategy and s.state in ("active", "paused"):
                s.state, s.reason = ("retired" if s.flat else "retiring"), reason
                self.counters["retired"] += 1
                payload = {"slot": s.key, "strategy": s.strategy, "retired": reason, "evidence": evidence}
                out.append(("position", self.cfg.account, payload, s.symbol, ts))
        return out

    def _poll_kill(self) -> None:
        for event_id, mode in kill_requests(self.store, self.cfg.account, self._kill_cursor):
            self._kill_cursor = event_id
            self.mode = "normal" if mode == "resume" else mode

    def _journal(self, entries: list[Entry], ts: int | None) -> None:
        snap = self.snapshot()
        entries.append(("account", self.cfg.account, snap, None, ts if ts is not None else 0))
        append_many(self.store, entries)
        self.counters["journal_entries"] += len(entries)

    # ------------------------------------------------------------------ what it holds
    def snapshot(self) -> dict[str, Any]:
        """The portfolio now: cash, equity, open positions by slot, health, mode and the feed's
        counters (ticks and bars so far, when the trader started, the newest bar close's
        latency to the journal)."""
        cash = sum(s.live.cash for s in self.slots.values())
        equity = sum(s.live.equity for s in self.slots.values())
        positions = {
            k: float(s.live.position["quantity"]) for k, s in self.slots.items() if s.live.position["quantity"] != 0
        }
        states = {k: s.state for k, s in self.slots.items() if s.state != "active"}
        feed = {"ticks": int(self.counters["ticks"]), "bars": int(self.counters["bars"]),
                "started_at": self.started_at,
                "last_latency_ms": 1e3 * self.latencies[-1] if self.latencies else None}  # fmt: skip
        return {"cash": cash, "equity": equity, "positions": positions, "states": states, "health": self.health,
                "mode": self.mode, "slots": len(self.slots), "feed": feed}  # fmt: skip

    def latency_ms(self) -> dict[str, float]:
        """Bar close (the data that closed it) to journaled, p50 / p99 / max in milliseconds."""
        if not self.latencies:
            return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
        a = np.asarray(self.latencies) * 1e3
        return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def _config_doc(config: BacktestConfig) -> dict[str, Any]:
    """The account configuration as a mapping ``as_config`` reads back (what the journal keeps)."""
    doc = {k: v for k, v in from_json(config.to_json()).items() if k != "reference_month" and v is not None}
    if config.periods_per_year is not None:
        doc["periods_per_year"] = config.periods_per_year
    return doc


def _bounds(day: dt.date, session: tuple[str, str], tz: str) -> tuple[int, int]:
    out = []
    for hhmm in session:
        try:
            h, m = (int(x) for x in hhmm.split(":"))
        except ValueError:
            raise InvalidArgumentError(f"session times are HH:MM, got {hhmm!r}") from None
        local = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=ZoneInfo(tz))
        out.append(int(local.timestamp()) * 1_000_000_000)
    return out[0], out[1]


def _rows(t: pa.Table) -> list[Bar]:
    start = t.column("start").cast(pa.int64()).to_pylist()
    cols = [t.column(n).to_pylist() for n in ("open", "high", "low", "close", "volume")]
    return [Bar(int(start[i]), *(float(c[i]) for c in cols)) for i in range(t.num_rows)]


def _bars_table(past: pa.Table, journaled: list[tuple[int, float, float, float, float, float]]) -> pa.Table:
    names = ("open", "high", "low", "close", "volume")
    start = past.column("start").cast(pa.int64()).to_pylist() if past.num_rows else []
    cols = {n: (past.column(n).to_pylist() if past.num_rows else []) for n in names}
    start += [b[0] for b in journaled]
    for i, n in enumerate(names):
        cols[n] = cols[n] + [b[i + 1] for b in journaled]
    return pa.table({"start": pa.array(start, pa.int64()), **{n: pa.array(cols[n], pa.float64()) for n in names}})
