"""Replay of stored (or in-memory) trades as a live stream, through the same interface as the
vendor streams (:class:`~quant_engine.feeds.stream.LiveStream`): ``start``/``close``,
``subscribe``/``unsubscribe``, ``async for batch in feed`` yielding
:class:`~quant_engine.feeds.stream.FeedBatch` items, ``run_into(buffer)``, ``status()``,
``stats()``. Code written against a vendor stream runs unchanged on a replay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.errors import InvalidArgumentError
from quant_engine.feeds.batches import BatchSource, FeedBatch
from quant_engine.feeds.health import EngineStatus
from quant_engine.feeds.stream import Subscription
from quant_engine.schema import TRADE_SCHEMA

__all__ = ["ReplayFeed"]


class ReplayFeed(BatchSource):
    """Plays trades in time order, at ``speed`` times real time (``None``: as fast as the
    consumer takes them), in batches of at most ``batch_size`` trades.

    ``source`` is a :class:`~quant_engine.feeds.catalog.Catalog` (then ``start``/``end`` select
    the range) or an Arrow table of trades. Only subscribed symbols are emitted; ``symbols``
    subscribes their trades up front. The stream ends after the last trade.
    """

    engine = "replay"

    def __init__(
        self,
        source: Any,
        *,
        symbols: Iterable[str] | None = None,
        start: Any = None,
        end: Any = None,
        speed: float | None = None,
        batch_size: int = 10_000,
    ) -> None:
        if speed is not None and speed <= 0:
            raise InvalidArgumentError(f"invalid speed: {speed} (a positive multiplier, or None)")
        if batch_size < 1:
            raise InvalidArgumentError(f"invalid batch_size: {batch_size}")
        from quant_engine.feeds.catalog import Catalog

        syms = list(symbols) if symbols is not None else None
        if isinstance(source, Catalog):
            table = source.read("trades", syms, start, end)
        else:
            table = source if isinstance(source, pa.Table) else pa.table(source)
        table = table.take(pc.sort_indices(table, [("ts", "ascending")])) if table.num_rows else table
        self._table = table.combine_chunks()
        self._ts = (
            pc.cast(self._table.column("ts"), pa.int64()).to_numpy() if table.num_rows else np.array([], np.int64)
        )
        self._names = (
            pc.cast(self._table.column("symbol"), pa.string()) if table.num_rows else pa.array([], pa.string())
        )
        super().__init__(maxsize=64)
        self.speed = speed
        self.batch_size = batch_size
        self._subs: dict[Subscription, None] = {}
        for s in syms or []:
            self._subs[Subscription("trades", s)] = None
        self._task: asyncio.Task[None] | None = None
        self._sent = 0
        self._done = False
        self._closing = False

    def __repr__(self) -> str:
        return f"ReplayFeed(trades={self._table.num_rows}, speed={self.speed}, subscriptions={len(self._subs)})"

    async def start(self) -> None:
        """Starts playing."""
        if self._task is None:
            self._task = asyncio.create_task(self._play(), name="replay")

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Ready at once (for interface parity with the vendor streams)."""

    async def close(self) -> None:
        """Stops playing; the iterator ends."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._finish(drop_pending=True)

    @property
    def subscriptions(self) -> list[Subscription]:
        """Active subscriptions."""
        return list(self._subs)

    async def subscribe(self, kind: str, symbol: str) -> None:
        """Subscribes to the trades of ``symbol`` (the replay holds no quotes)."""
        if kind != "trades":
            raise InvalidArgumentError(f"invalid kind: {kind!r} (a replay plays trades)")
        self._subs[Subscription("trades", symbol)] = None

    async def unsubscribe(self, kind: str, symbol: str) -> None:
        """Ends a subscription."""
        self._subs.pop(Subscription("trades", symbol), None)

    def status(self) -> EngineStatus:
        """Online while playing, offline once finished."""
        if self._done:
            return EngineStatus("replay", "offline", "replay finished", details=self.stats())
        return EngineStatus(
            "replay", "online" if self._task else "offline", "" if self._task else "not started", details=self.stats()
        )

    def stats(self) -> dict[str, Any]:
        """Trades sent and left."""
        return {"trades_total": int(self._table.num_rows), "trades_sent": self._sent, "subscriptions": len(self._subs)}

    async def _play(self) -> None:
        n = len(self._ts)
        wall0 = time.monotonic()
        t0 = int(self._ts[0]) if n else 0
        i = 0
        try:
            while i < n and not self._closing:
                j = min(i + self.batch_size, n)
                if self.speed is not None:
                    due = wall0 + (self._ts[i] - t0) / 1e9 / self.speed
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    # emit only what is due now (keeps the pace at low speeds)
                    now_market = t0 + int((time.monotonic() - wall0) * self.speed * 1e9)
                    j = max(i + 1, min(j, int(np.searchsorted(self._ts, now_market, "right"))))
                batch = self._table.slice(i, j - i)
                wanted = {s.symbol for s in self._subs}
                if wanted:
                    mask = pc.is_in(self._names.slice(i, j - i), pa.array(sorted(wanted), pa.string()))
                    batch = batch.filter(mask)
                    if batch.num_rows:
                        rb = batch.combine_chunks().to_batches()[0]
                        if (
                            "sequence" in rb.schema.names
                            and rb.schema.field("symbol").type != TRADE_SCHEMA.field("symbol").type
                        ):
                            rb = rb.cast(
                                pa.schema(
                                    [
                                        f.with_type(TRADE_SCHEMA.field("symbol").type) if f.name == "symbol" else f
                                        for f in rb.schema
                                    ]
                                )
                            )
                        self._sent += rb.num_rows
                        await self._emit_when_room(FeedBatch("trades", rb, "replay"))
                i = j
                if self.speed is None:
                    await asyncio.sleep(0)
        finally:
            self._done = True
            if not self._closing:  # close() ends the stream itself, without waiting for room
                await self._finish_when_room()
