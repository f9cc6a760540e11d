"""``/ws/events`` against a real server: the outbox from a cursor, then live events, and a client
that reconnects with its last id misses nothing and sees nothing twice."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from api_support import Server, api_server, auth  # noqa: F401
from quant_engine.store import open_store, read_events

pytestmark = pytest.mark.timeout(300)


def _outbox(server: Server, after: int = 0) -> list[dict[str, Any]]:
    """The oracle: the outbox read directly from the store."""
    store = open_store(server.store_path)
    try:
        return [
            {"id": e.id, "kind": e.kind, "subject": e.subject, "payload": e.payload}
            for e in read_events(store, after=after, limit=100_000)
        ]
    finally:
        store.close()


async def _receive(ws: Any, n: int, timeout: float = 20) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        out.append({k: message[k] for k in ("id", "kind", "subject", "payload")})
    return out


def _create_mission(server: Server, directive: str) -> int:
    r = httpx.post(server.url + "/missions", json={"directive": directive}, headers=auth(), timeout=30)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _scenario(server: Server) -> None:
    _create_mission(server, "history 1")
    _create_mission(server, "history 2")
    history = _outbox(server)
    assert len(history) >= 2
    url = server.ws_url + "/ws/events?after=0"
    async with websockets.connect(url, additional_headers=auth()) as ws:
        assert await _receive(ws, len(history)) == history
        mission = await asyncio.to_thread(_create_mission, server, "live")
        live = await _receive(ws, 1)
        assert live[0]["kind"] == "mission.created" and live[0]["payload"]["id"] == mission
        last = live[0]["id"]
    # while disconnected, more happens; reconnecting after the last id handled gets exactly that
    await asyncio.to_thread(_create_mission, server, "missed 1")
    await asyncio.to_thread(_create_mission, server, "missed 2")
    missed = _outbox(server, after=last)
    assert [e["kind"] for e in missed] == ["mission.created", "mission.created"]
    async with websockets.connect(server.ws_url + f"/ws/events?after={last}", additional_headers=auth()) as ws:
        assert await _receive(ws, 2) == missed
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 1.0)  # nothing repeated, nothing extra


def test_events_from_a_cursor_then_live_and_after_a_reconnect(api_server: Server) -> None:
    asyncio.run(_scenario(api_server))


async def _close_code(server: Server, query: str) -> int | None:
    async with websockets.connect(server.ws_url + "/ws/events" + query, additional_headers=auth()) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code


def test_a_bad_cursor_closes_with_4400(api_server: Server) -> None:
    assert asyncio.run(_close_code(api_server, "?after=-3")) == 4400
    assert asyncio.run(_close_code(api_server, "?after=abc")) == 4400
