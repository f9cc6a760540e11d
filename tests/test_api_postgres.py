"""The research endpoints and the event stream over a real PostgreSQL store (a throw-away
cluster from ``store_support``), served by a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from api_support import TOKEN, Server, auth, start_server, stop_server
from quant_engine.store import add_strategy, open_store, read_events, transition
from store_support import PostgresServer, pg_server, spec  # noqa: F401

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def pg_api(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:  # noqa: F811
    url = pg_server.create_database()
    server = start_server(Path(tmp_path_factory.mktemp("api-pg")), {"QE_API_TOKEN": TOKEN}, store=url)
    yield server, url
    stop_server(server)


async def _events(server: Server, after: int, n: int) -> list[dict[str, object]]:
    async with websockets.connect(server.ws_url + f"/ws/events?after={after}", additional_headers=auth()) as ws:
        return [json.loads(await asyncio.wait_for(ws.recv(), 20)) for _ in range(n)]


def test_research_endpoints_on_postgresql(pg_api: tuple[Server, str]) -> None:
    server, url = pg_api
    assert httpx.get(server.url + "/health", timeout=30).json()["store"]["detail"].startswith("postgresql")
    store = open_store(url)
    try:
        a = add_strategy(store, spec(fast=7), family="pg-api")
        b = add_strategy(store, spec(fast=8), family="pg-api")
        transition(store, b.hash, "testing")
        transition(store, b.hash, "graduated")
        before = max([0, *[e.id for e in read_events(store, limit=100_000)]])
    finally:
        store.close()
    page = httpx.get(server.url + "/strategies", params={"family": "pg-api", "limit": 1}, timeout=30).json()
    assert len(page["items"]) == 1 and page["next_offset"] == 1
    r = httpx.post(server.url + f"/strategies/{a.hash}/promote", headers=auth(), timeout=30)
    assert r.status_code == 409 and r.json()["code"] == "illegal_transition"
    r = httpx.post(server.url + f"/strategies/{b.hash}/promote", json={"reason": "pg"}, headers=auth(), timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "promoted"
    r = httpx.post(server.url + "/missions", json={"directive": "on postgres"}, headers=auth(), timeout=30)
    assert r.status_code == 201
    got = asyncio.run(_events(server, before, 2))
    assert [e["kind"] for e in got] == ["strategy.status", "mission.created"]
    assert got[0]["payload"]["to"] == "promoted" and got[0]["id"] < got[1]["id"]
