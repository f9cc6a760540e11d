"""``/ws/events``: the store's events outbox over a WebSocket, from a client-given cursor.

Contract (``docs/api.md``):

* Connect with ``?after=ID`` (default 0: from the first event) and the bearer token in the
  ``Authorization`` header. Every event with ``id > ID`` is sent in id order, one JSON text
  message each (:class:`~quant_engine.api.bodies.EventBody`), then new events as they commit
  (the outbox is polled every ``ws_poll_interval`` seconds). A client that remembers the last id
  it handled and reconnects with ``after=<that id>`` misses nothing and sees nothing twice.
* Memory per client is bounded: the outbox is read only as fast as the client takes messages
  (at most ``ws_queue`` events are buffered). A client that does not accept a message within
  ``ws_send_timeout`` seconds is disconnected with close code **4008** (slow consumer); it
  reconnects with its last id.
* A bad ``after`` closes with **4400**; a store that is not open closes with **1011**.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from quant_engine.api.bodies import EventBody
from quant_engine.api.security import accepted_subprotocol
from quant_engine.api.state import app_state, run_sync

__all__ = ["router", "CLOSE_SLOW_CONSUMER", "CLOSE_BAD_REQUEST", "CLOSE_STORE_UNAVAILABLE"]

log = logging.getLogger("quant_engine.api")
router = APIRouter(tags=["events"])

CLOSE_SLOW_CONSUMER = 4008
CLOSE_BAD_REQUEST = 4400
CLOSE_STORE_UNAVAILABLE = 1011
_BATCH = 500


def _after(ws: WebSocket) -> int | None:
    text = ws.query_params.get("after", "0")
    return int(text) if text.isdigit() and len(text) < 19 else None


async def _produce(store: Any, cursor: int, queue: asyncio.Queue[EventBody], poll: float) -> None:
    from quant_engine.store import read_events

    while True:
        room = queue.maxsize - queue.qsize()
        if room <= 0:
            await asyncio.sleep(poll)
            continue
        events = await run_sync(read_events, store, after=cursor, limit=min(room, _BATCH))
        for e in events:
            queue.put_nowait(EventBody(e.id, e.kind, e.subject, e.payload, e.created_at))
            cursor = e.id
        if len(events) < min(room, _BATCH):
            await asyncio.sleep(poll)


async def _consume(ws: WebSocket, queue: asyncio.Queue[EventBody], timeout: float, sent: Any) -> None:
    while True:
        event = await queue.get()
        try:
            await asyncio.wait_for(ws.send_text(msgspec.json.encode(event).decode()), timeout)
            sent.inc()
        except TimeoutError:
            log.warning("events client %s disconnected: slow consumer", ws.client)
            await ws.close(CLOSE_SLOW_CONSUMER, "slow consumer: reconnect with ?after=<last id>")
            return


async def _until_disconnect(ws: WebSocket) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return


@router.websocket("/ws/events")
async def events(ws: WebSocket) -> None:
    """Streams the events outbox (see the module docstring)."""
    state = app_state(ws)
    await ws.accept(subprotocol=accepted_subprotocol(ws.scope))
    after = _after(ws)
    if after is None:
        await ws.close(CLOSE_BAD_REQUEST, "after must be a non-negative integer event id")
        return
    if state.store is None:
        await ws.close(CLOSE_STORE_UNAVAILABLE, "the research store is not open")
        return
    settings = state.settings
    queue: asyncio.Queue[EventBody] = asyncio.Queue(maxsize=settings.ws_queue)
    tasks = [
        asyncio.ensure_future(_produce(state.store, after, queue, settings.ws_poll_interval)),
        asyncio.ensure_future(_consume(ws, queue, settings.ws_send_timeout, state.metrics.events_sent)),
        asyncio.ensure_future(_until_disconnect(ws)),
    ]
    state.metrics.ws_clients.inc()
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            exc = t.exception()
            if exc is not None and not isinstance(exc, (WebSocketDisconnect, RuntimeError, OSError)):
                log.error("events stream failed", exc_info=exc)
                if ws.application_state == WebSocketState.CONNECTED:
                    await ws.close(1011, "internal error")
    finally:
        state.metrics.ws_clients.dec()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
