"""The live-stream machinery shared by the ThetaData and Massive streams (and the interface the
:class:`~quant_engine.feeds.replay.ReplayFeed` imitates).

A :class:`LiveStream` owns one WebSocket connection at a time and a Rust
:class:`~quant_engine._core.StreamDecoder`. Its background task reads raw bytes, lets the decoder
turn them into Arrow record batches, and queues them as :class:`FeedBatch` items for the
consumer (``async for batch in stream``, or :meth:`LiveStream.run_into` a
:class:`~quant_engine.bars.MultiSymbolBuffer`).

Reliability, in order of what can go wrong:

* **Silence**: no byte for ``silence_timeout`` seconds (ThetaData sends a STATUS every second)
  means the connection is dead: it is dropped and reopened.
* **Disconnects**: reconnection with exponential backoff (0.5 s to 30 s by default); every
  subscription is sent again on the new connection.
* **Lost data**: a disconnect, or an upstream outage the vendor reports, opens a *gap* in the
  decoder; trades received after it are held until the missing range has been fetched over REST
  (the ``backfill`` function) and released in time order. See ``quant_engine_core::decode``.
  A permanent backfill error (401/403/404, a rejected request), or trades held longer than
  ``backfill_max_hold`` seconds while the backfill keeps failing, gives the gap up: the held
  trades are released and the gap is recorded as unfilled (:meth:`LiveStream.unfilled_gaps`,
  ``stats()["gaps_unfilled"]``, ``degraded`` status).
* **Duplicates** (reconnect overlaps, vendor resends, backfill overlaps) are dropped by
  ``(symbol, sequence)``; **malformed** messages are counted and skipped.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from quant_engine import _core
from quant_engine.errors import (
    InvalidArgumentError,
    NoDataError,
    VendorAuthError,
    VendorError,
    VendorPermissionError,
    VendorRequestError,
)
from quant_engine.feeds.batches import BarSink, BatchSource, FeedBatch, Kind
from quant_engine.feeds.config import settings
from quant_engine.feeds.health import EngineStatus
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.websocket import RawWebSocket, is_permanent
from quant_engine.times import duration_ns

__all__ = ["FeedBatch", "Subscription", "LiveStream", "BackfillFn", "BarSink"]

log = logging.getLogger("quant_engine.feeds")

BackfillFn = Callable[[str, int, int], Awaitable[pa.Table]]
"""``backfill(symbol, start_ns, end_ns_inclusive)``: the trades of one symbol in a time range."""


@dataclass(frozen=True)
class Subscription:
    """A stream subscription: ``kind`` (``trades`` / ``quotes`` / ``bars``) of one ``symbol`` (a
    stock, an option in the OSI-style form ``AAPL240119C00190000``, or ``*`` where the vendor
    allows it)."""

    kind: Kind
    symbol: str


def _permanent(exc: BaseException) -> bool:
    """Whether a backfill error is final: no retry can fix bad credentials, a plan without the
    data, an unknown symbol or a rejected request (401/403/404/4xx)."""
    return isinstance(
        exc, (VendorAuthError, VendorPermissionError, VendorRequestError, NoDataError, InvalidArgumentError)
    )


class LiveStream(BatchSource):
    """Base class of the vendor streams (see the module docstring)."""

    engine: str = "stream"
    kinds: tuple[str, ...] = ("trades", "quotes")

    def __init__(
        self,
        url: str,
        *,
        backfill: BackfillFn | None = None,
        reconnect: Backoff = Backoff(initial=0.5, maximum=30.0, retries=1_000_000),
        silence_timeout: float | None = 3.0,
        ping_interval: float | None = None,
        dedupe_horizon: Any = "60s",
        connect_timeout: float = 10.0,
        max_reconnects: int | None = None,
        gap_grace: float = 0.5,
        gap_overlap: Any = "2s",
        backfill_max_hold: float | None = None,
    ) -> None:
        self.url = url
        self._backfill_fn = backfill
        self._reconnect = reconnect
        self.silence_timeout = silence_timeout
        self.ping_interval = ping_interval
        self._connect_timeout = connect_timeout
        self._max_reconnects = max_reconnects
        self.gap_grace = gap_grace
        self.gap_overlap_ns = duration_ns(gap_overlap, "gap_overlap")
        self._gap_seen: dict[tuple[Any, Any], float] = {}
        self.backfill_max_hold = settings().backfill_max_hold if backfill_max_hold is None else backfill_max_hold
        self._unfilled: list[dict[str, Any]] = []
        self._decoder = _core.StreamDecoder(self.engine, duration_ns(dedupe_horizon, "dedupe_horizon"))
        super().__init__()
        self._subs: dict[Subscription, None] = {}
        self._ws: RawWebSocket | None = None
        self._task: asyncio.Task[None] | None = None
        self._backfill_task: asyncio.Task[None] | None = None
        self._gap_wakeup = asyncio.Event()
        self._closing = False
        self._ready = False
        self._ever_ready = False
        self._fatal: Exception | None = None
        self._last_error = ""
        self._reconnects = 0
        self._connects = 0
        self._backfill_failures = 0
        self._last_bytes_at = 0.0
        self._ready_event = asyncio.Event()

    # ----------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Starts the connection task (idempotent). Returns at once; use :meth:`wait_ready`."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name=f"{self.engine}-stream")
            self._backfill_task = asyncio.create_task(self._backfill_loop(), name=f"{self.engine}-backfill")

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Waits until the stream is connected (and authenticated) or raises the reason."""
        try:
            await asyncio.wait_for(self._ready_event.wait(), timeout)
        except TimeoutError:
            if self._fatal is not None:
                raise self._fatal from None
            raise TimeoutError(f"{self.engine} stream not ready after {timeout} s: {self._last_error}") from None
        if self._fatal is not None:
            raise self._fatal

    async def close(self) -> None:
        """Closes the connection and stops the tasks; the iterator ends."""
        self._closing = True
        self._gap_wakeup.set()
        if self._ws is not None:
            await self._ws.close()
        for task in (self._task, self._backfill_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._backfill_task = None
        self._finish()

    # ----------------------------------------------------------------------------- subscriptions
    @property
    def subscriptions(self) -> list[Subscription]:
        """The active subscriptions, in the order they were made."""
        return list(self._subs)

    async def subscribe(self, kind: str, symbol: str) -> None:
        """Subscribes to ``trades`` or ``quotes`` (Massive also ``bars``: minute aggregates) of
        ``symbol``; restored after every reconnect."""
        sub = self._subscription(kind, symbol)
        if sub in self._subs:
            return
        self._subs[sub] = None
        if self._ready and self._ws is not None:
            await self._send_subscriptions(self._ws, [sub], add=True, wait=True)

    async def unsubscribe(self, kind: str, symbol: str) -> None:
        """Ends a subscription."""
        sub = self._subscription(kind, symbol)
        if self._subs.pop(sub, 0) is None and self._ready and self._ws is not None:
            await self._send_subscriptions(self._ws, [sub], add=False, wait=False)

    def _subscription(self, kind: str, symbol: str) -> Subscription:
        if kind not in self.kinds:
            raise InvalidArgumentError(f"invalid kind: {kind!r} (expected one of {self.kinds})")
        if not symbol or not isinstance(symbol, str):
            raise InvalidArgumentError(f"invalid symbol: {symbol!r}")
        return Subscription(kind, symbol)  # type: ignore[arg-type]

    # ----------------------------------------------------------------------------- status
    def stats(self) -> dict[str, Any]:
        """Decoder counters plus connection counters."""
        s: dict[str, Any] = dict(self._decoder.stats())
        s.update(
            connects=self._connects,
            reconnects=self._reconnects,
            backfill_failures=self._backfill_failures,
            gaps_unfilled=len(self._unfilled),
            subscriptions=len(self._subs),
            queued=self._queue.qsize(),
        )
        return s

    def status(self) -> EngineStatus:
        """``online`` when connected with no known problem, ``degraded`` when connected but
        the upstream is down or gaps are being backfilled (or while reconnecting after having
        been online), ``offline`` otherwise; with the reason."""
        details = {
            "url": self.url,
            "subscriptions": len(self._subs),
            "upstream": self._decoder.upstream,
            "gaps_unfilled": len(self._unfilled),
        }
        if self._fatal is not None:
            return EngineStatus(self.engine, "offline", f"stopped: {self._fatal}", details=details)
        if self._task is None:
            return EngineStatus(self.engine, "offline", "stream not started", details=details)
        if not self._ready:
            if self._ever_ready:
                return EngineStatus(self.engine, "degraded", f"reconnecting: {self._last_error}", details=details)
            return EngineStatus(
                self.engine, "offline", f"not connected: {self._last_error or 'connecting'}", details=details
            )
        upstream = self._decoder.upstream
        if upstream not in (None, "CONNECTED"):
            return EngineStatus(self.engine, "degraded", f"vendor upstream {upstream}", details=details)
        gaps = self._decoder.gaps()
        if gaps:
            return EngineStatus(self.engine, "degraded", f"backfilling {len(gaps)} gap(s)", details=details)
        if self._unfilled:
            last = self._unfilled[-1]["reason"]
            return EngineStatus(
                self.engine,
                "degraded",
                f"{len(self._unfilled)} gap(s) left unfilled (trades missing); last: {last}",
                details=details,
            )
        return EngineStatus(self.engine, "online", "", details=details)

    def unfilled_gaps(self) -> list[dict[str, Any]]:
        """Gaps given up on: ``global_from``, ``until`` (UTC ns), ``symbols`` and ``reason`` (a
        permanent backfill error, or trades held longer than ``backfill_max_hold``). Their held
        trades were released; the trades missed inside them are lost."""
        return [dict(g) for g in self._unfilled]

    # ----------------------------------------------------------------------------- gaps
    def gaps(self) -> list[dict[str, Any]]:
        """The open gaps (see :meth:`quant_engine._core.StreamDecoder.gaps`)."""
        return self._decoder.gaps()

    async def settle(self, until_ns: int | None = None, timeout: float = 30.0) -> None:
        """Waits until every gap is closed. ``until_ns`` (the end of the data, e.g. the session
        close) ends a gap that saw no trade after it, so it is backfilled up to that time."""
        deadline = time.monotonic() + timeout
        if until_ns is not None and self._decoder.gaps():
            self._decoder.set_gap_until(until_ns)
            self._gap_wakeup.set()
        while self._decoder.gaps():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.engine}: gaps still open after {timeout} s: {self._decoder.gaps()}")
            self._gap_wakeup.set()
            await asyncio.sleep(0.01)

    async def _backfill_loop(self) -> None:
        last_key: tuple[Any, Any] | None = None
        last = ""  # the last backfill error of the gap being filled
        while not self._closing:
            await self._gap_wakeup.wait()
            self._gap_wakeup.clear()
            while not self._closing:
                gaps = self._decoder.gaps()
                if not gaps or gaps[0]["until"] is None:
                    break
                # Let every subscription resume before choosing each symbol's end of gap.
                key = (gaps[0]["global_from"], gaps[0]["until"])
                seen = self._gap_seen.setdefault(key, time.monotonic())
                wait = seen + self.gap_grace - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                if key != last_key:
                    last_key, last = key, ""
                left = seen + self.backfill_max_hold - time.monotonic()
                try:
                    table = await asyncio.wait_for(self._fetch_gap(gaps[0]), max(left, 0.001))
                except Exception as exc:  # noqa: BLE001 - retried while trades may be held, else given up
                    self._backfill_failures += 1
                    timed_out = isinstance(exc, (TimeoutError, asyncio.TimeoutError))  # the hold cap cut the fetch
                    if not timed_out or not last:
                        last = (
                            f"{type(exc).__name__}: {exc}" if not timed_out else "the backfill did not finish in time"
                        )
                    self._last_error = f"backfill failed: {last}"
                    if _permanent(exc) or timed_out or time.monotonic() - seen >= self.backfill_max_hold:
                        why = (
                            f"permanent error: {last}"
                            if _permanent(exc)
                            else f"trades held for {self.backfill_max_hold:g} s while the backfill kept failing: {last}"
                        )
                        self._give_up_gap(gaps[0], why)
                        self._gap_seen.pop(key, None)
                        continue
                    log.warning("%s: backfill failed, retrying: %s", self.engine, exc)
                    await asyncio.sleep(min(self._reconnect.delay(min(self._backfill_failures, 6)), max(left, 0.0)))
                    continue
                released = self._decoder.close_gap(table)
                self._gap_seen.pop(key, None)
                if released is not None:
                    self._emit(FeedBatch("trades", released, self.engine, backfill=True))

    def _give_up_gap(self, gap: dict[str, Any], reason: str) -> None:
        """Closes the oldest gap without its missing trades: the held trades are released (in
        time order, through the duplicate filter) and the gap is recorded as unfilled."""
        released = self._decoder.close_gap(None)
        symbols = sorted({s.symbol for s in self._subs if s.kind == "trades"})
        self._unfilled.append(
            {"global_from": gap["global_from"], "until": gap["until"], "symbols": symbols, "reason": reason}
        )
        log.warning("%s: gap left unfilled (%s)", self.engine, reason)
        if released is not None:
            self._emit(FeedBatch("trades", released, self.engine, backfill=False))

    async def _fetch_gap(self, gap: dict[str, Any]) -> pa.Table | None:
        """The trades missed in a gap: per symbol from its last trade before the gap (less
        ``gap_overlap``) to the newest trade received after the gap, both ends inclusive (the
        decoder drops the overlaps).

        The end is the newest trade of *any* symbol, not each symbol's first trade after the
        gap: after the grace period every subscription has resumed, so everything newer arrives
        live, whereas a symbol's first trade after the gap may be a resend or an out-of-order
        trade that would end its backfill too early."""
        symbols = [s.symbol for s in self._subs if s.kind == "trades"]
        if self._backfill_fn is None or not symbols:
            return None
        upto = gap["newest"] if gap["newest"] is not None else gap["until"]
        tables = []
        for sym in symbols:
            since = gap["from"].get(sym, gap["global_from"])
            if since is None or upto is None or since > upto:
                continue
            # Start a little before the last trade received: trades delivered out of order
            # just before the cut may be missing below it (the overlap is dropped as duplicates).
            since -= self.gap_overlap_ns
            t = await self._backfill_fn(sym, int(since), int(upto))
            if t.num_rows:
                tables.append(t.select(["ts", "symbol", "price", "size", "sequence"]))
        if not tables:
            return None
        return pa.concat_tables([t.cast(tables[0].schema) for t in tables])

    # ----------------------------------------------------------------------------- connection
    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                ws = await RawWebSocket.connect(self.url, timeout=self._connect_timeout, vendor=self.engine)
            except VendorError as exc:
                self._last_error = str(exc)
                if is_permanent(exc):  # a 4xx refusal (404, 409 ...): no reconnection can fix it
                    self._fatal = exc
                    self._ready_event.set()
                    return
            else:
                self._ws = ws
                self._connects += 1
                try:
                    await self._on_open(ws)
                    await self._read_loop(ws)
                    self._last_error = "connection closed by the server"
                except VendorAuthError as exc:
                    self._fatal = exc
                    self._ready_event.set()
                    ws.abort()
                    return
                except TimeoutError:
                    self._last_error = f"no data for {self.silence_timeout} s (silence watchdog)"
                except (ConnectionError, OSError, VendorError) as exc:
                    self._last_error = f"{type(exc).__name__}: {exc}"
                finally:
                    ws.abort()
                    self._ws = None
                    if self._ready:
                        attempt = 0
                    self._ready = False
                    self._ready_event.clear()
                    self._decoder.begin_gap()
                    self._decoder.reset_transport()
            if self._closing:
                return
            self._reconnects += 1
            if self._max_reconnects is not None and self._reconnects > self._max_reconnects:
                self._fatal = VendorError(
                    f"gave up after {self._max_reconnects} reconnects: {self._last_error}", vendor=self.engine
                )
                self._ready_event.set()
                return
            log.info("%s: reconnecting (%s)", self.engine, self._last_error)
            await asyncio.sleep(self._reconnect.delay(attempt))
            attempt += 1

    def _mark_ready(self) -> None:
        self._ready = self._ever_ready = True
        self._ready_event.set()

    async def _read_loop(self, ws: RawWebSocket) -> None:
        pinger = asyncio.create_task(self._pinger(ws)) if self.ping_interval else None
        try:
            while not self._closing:
                if self.silence_timeout is not None:
                    data = await asyncio.wait_for(ws.read(), self.silence_timeout)
                else:
                    data = await ws.read()
                if not data:
                    return
                self._last_bytes_at = time.monotonic()
                try:
                    trades, quotes, bars, events = self._decoder.feed(data)
                finally:
                    ws.release()
                if trades is not None:
                    self._emit(FeedBatch("trades", trades, self.engine))
                if quotes is not None:
                    self._emit(FeedBatch("quotes", quotes, self.engine))
                if bars is not None:
                    self._emit(FeedBatch("bars", bars, self.engine))
                for kind, payload in events:
                    if kind == "ping":
                        await ws.pong(payload)
                    elif kind == "close":
                        return
                    elif kind == "gap_ready":
                        self._gap_wakeup.set()
                    elif kind in ("gap_open", "pong"):
                        pass
                    else:
                        await self._on_event(ws, kind, payload)
        finally:
            if pinger is not None:
                pinger.cancel()

    async def _pinger(self, ws: RawWebSocket) -> None:
        assert self.ping_interval is not None
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(self.ping_interval)
                await ws.ping()

    # ----------------------------------------------------------------------------- vendor hooks
    @abc.abstractmethod
    async def _on_open(self, ws: RawWebSocket) -> None:
        """Called after the handshake (send subscriptions, or start the vendor's auth)."""

    @abc.abstractmethod
    async def _on_event(self, ws: RawWebSocket, kind: str, payload: bytes) -> None:
        """A vendor control event (``req_response``, ``status``, ``upstream``, ``state`` ...)."""

    @abc.abstractmethod
    async def _send_subscriptions(self, ws: RawWebSocket, subs: list[Subscription], *, add: bool, wait: bool) -> None:
        """Sends subscribe (``add=True``) or unsubscribe requests."""
