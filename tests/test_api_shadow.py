"""The shadow trader's endpoints against a real server over a store holding a real paper session
(driven through ShadowTrader on the synthetic market): status, positions, orders, fills, the
equity curve agree with the journal, and the kill switch reaches the trader."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_support import TOKEN, Server, auth, start_server, stop_server
from quant_engine.store import open_store, read_journal
from quant_engine.trading.shadow_journal import kill_requests
from shadow_support import demo, drive, make_store, session, trader

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    root = tmp_path_factory.mktemp("shadow-api")
    path = root / "store.sqlite"
    history, trades, _ = session(days=2, ticks=4000)
    store = make_store(path, demo(2))
    drive(trader(store, history), trades)
    store.close()
    server = start_server(root, {"QE_API_TOKEN": TOKEN}, store=str(path))
    yield server, path
    stop_server(server)


def _get(server: Server, path: str, **params: Any) -> Any:
    r = httpx.get(server.url + path, params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_session_reads_as_journaled(paper: tuple[Server, Path]) -> None:
    server, path = paper
    store = open_store(f"sqlite:///{path}")
    journal = read_journal(store, account="shadow")
    store.close()
    fills = [e for e in journal if e.kind == "fill"]
    accounts = [e for e in journal if e.kind == "account" and e.ts_ns > 0]
    status = _get(server, "/shadow/status")
    assert status["state"] == "online" and status["fills"] == len(fills) > 0
    assert status["ticks_per_s"] > 0 and status["bar_latency_ms"] >= 0
    assert status["equity"] == pytest.approx(accounts[-1].payload["equity"])
    got = _get(server, "/shadow/fills", limit=10_000)
    assert [f["id"] for f in got] == [e.id for e in reversed(fills)]
    assert _get(server, "/shadow/fills", limit=3) == got[:3]
    curve = _get(server, "/shadow/pnl", limit=10_000)
    assert [p["equity"] for p in curve] == pytest.approx([e.payload["equity"] for e in accounts])
    positions = _get(server, "/shadow/positions")
    assert len(positions) == status["slots"] and {p["slot"] for p in positions} >= set(status["positions"])
    for p in positions:
        if p["slot"] in status["positions"]:
            assert p["quantity"] == pytest.approx(status["positions"][p["slot"]])
    orders = _get(server, "/shadow/orders")
    assert all(o["payload"]["slot"] for o in orders)
    health = _get(server, "/health")
    assert health["shadow_trader"]["state"] == "online"


def test_unknown_session_and_refusals(paper: tuple[Server, Path]) -> None:
    server, _ = paper
    r = httpx.get(server.url + "/shadow/status", params={"account": "nobody"}, timeout=30)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert _get(server, "/shadow/fills", account="nobody") == []
    r = httpx.post(server.url + "/shadow/kill", json={"mode": "flatten"}, timeout=30)
    assert r.status_code == 401
    r = httpx.post(server.url + "/shadow/kill", json={"mode": "explode"}, headers=auth(), timeout=30)
    assert r.status_code == 422 and r.json()["path"] == "$.mode"
    assert httpx.get(server.url + "/shadow/fills", params={"limit": 0}, timeout=30).status_code == 422


def test_the_kill_switch_writes_a_request_the_trader_reads(paper: tuple[Server, Path]) -> None:
    server, path = paper
    r = httpx.post(server.url + "/shadow/kill", json={"mode": "freeze", "reason": "api test"}, headers=auth(),
                   timeout=30)  # fmt: skip
    assert r.status_code == 202, r.text
    event_id = r.json()["event_id"]
    store = open_store(f"sqlite:///{path}")
    assert (event_id, "freeze") in kill_requests(store, "shadow", 0)  # what the running trader polls
    store.close()
