"""What every stream hands its consumer: :class:`FeedBatch` items, and :class:`BatchSource`, the
queue and async-iteration protocol shared by the vendor streams and the replay feed."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

__all__ = ["FeedBatch", "BatchSource", "BarSink", "Kind"]

Kind = Literal["trades", "quotes", "bars"]
BarSink = Callable[[pa.Table], Any]
"""Receives each non-empty table of closed bars."""


@dataclass(frozen=True)
class FeedBatch:
    """One batch from a stream.

    Attributes:
        kind: ``"trades"`` (the trade schema), ``"quotes"`` (vendor quote schema) or ``"bars"``
            (vendor aggregate bars).
        data: the Arrow record batch.
        engine: the engine that produced it (``thetadata``, ``massive``, ``replay``).
        backfill: whether it holds trades recovered over REST after a gap (plus the live trades
            that were held behind the gap).
    """

    kind: Kind
    data: pa.RecordBatch
    engine: str
    backfill: bool = False


_DONE = object()
"""Queued once a source ends; stays queued so every later reader stops too."""


class BatchSource(abc.ABC):
    """A producer of :class:`FeedBatch` items through an internal queue: ``async with`` starts
    and closes it, ``async for`` reads batches until it ends, :meth:`run_into` feeds a bar buffer.
    Subclasses put batches with :meth:`_emit` (or :meth:`_emit_when_room` on a bounded queue, for
    back-pressure) and end the stream with :meth:`_finish` / :meth:`_finish_when_room`.

    Args:
        maxsize: queue bound (0: unbounded).
    """

    def __init__(self, maxsize: int = 0) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=maxsize)

    @abc.abstractmethod
    async def start(self) -> None:
        """Starts producing batches."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stops producing; readers see the end of the stream."""

    def _emit(self, batch: FeedBatch) -> None:
        """Queues a batch (unbounded queue)."""
        self._queue.put_nowait(batch)

    async def _emit_when_room(self, batch: FeedBatch) -> None:
        """Queues a batch, waiting while a bounded queue is full."""
        await self._queue.put(batch)

    def _finish(self, *, drop_pending: bool = False) -> None:
        """Ends the stream for readers, after the batches already queued unless ``drop_pending``
        (always dropped when a bounded queue is full, so closing never blocks)."""
        if drop_pending or self._queue.full():
            while not self._queue.empty():
                self._queue.get_nowait()
        self._queue.put_nowait(_DONE)

    async def _finish_when_room(self) -> None:
        """Ends the stream for readers after every queued batch, waiting for room."""
        await self._queue.put(_DONE)

    def pending(self) -> int:
        """Items queued and not yet consumed."""
        return self._queue.qsize()

    async def __aenter__(self) -> BatchSource:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[FeedBatch]:
        return self

    async def __anext__(self) -> FeedBatch:
        item = await self._queue.get()
        if item is _DONE:
            self._queue.put_nowait(_DONE)
            raise StopAsyncIteration
        assert isinstance(item, FeedBatch)
        return item

    async def run_into(self, buffer: Any, on_bars: BarSink | None = None) -> None:
        """Pushes every trade batch into ``buffer`` (a ``MultiSymbolBuffer``) until the stream
        ends; ``on_bars`` receives each non-empty table of closed bars."""
        async for batch in self:
            if batch.kind == "trades":
                closed = buffer.push(batch.data)
                if on_bars is not None and closed.num_rows:
                    on_bars(closed)
