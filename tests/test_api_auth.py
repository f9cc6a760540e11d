"""Authentication against a real server: every mutating route (found by enumerating the app's
routes, so a new one cannot slip through) and every WebSocket refuses a missing or wrong token
with 401 before its body is read; without QE_API_TOKEN they are refused with 403; reads can be
guarded too; the token never appears in responses or logs."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute

from api_support import TOKEN, Server, api_server, auth, start_server, stop_server  # noqa: F401
from quant_engine.api import ApiSettings, create_app

pytestmark = pytest.mark.timeout(300)


def _walk(routes: list[Any]) -> Iterator[Any]:
    """Every route, descending into included routers (FastAPI keeps them nested)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)
        else:
            yield route


def _routes() -> tuple[list[tuple[str, str]], list[str]]:
    """(method, path) of every mutating HTTP route and the path of every WebSocket route, with
    path parameters filled in with plausible values."""
    app = create_app(ApiSettings(token="x"))
    mutating: list[tuple[str, str]] = []
    sockets: list[str] = []
    for route in _walk(app.routes):
        path = re.sub(r"\{[^}]*hash[^}]*\}", "a" * 64, getattr(route, "path", ""))
        path = re.sub(r"\{[^}]*\}", "1", path)
        if isinstance(route, APIRoute):
            mutating += [(m, path) for m in sorted(route.methods) if m not in ("GET", "HEAD", "OPTIONS")]
        elif isinstance(route, APIWebSocketRoute):
            sockets.append(path)
    return mutating, sockets


MUTATING, SOCKETS = _routes()


def test_the_enumeration_finds_the_routes() -> None:
    assert ("POST", "/missions") in MUTATING and ("POST", "/data/market") in MUTATING
    assert ("POST", "/strategies/" + "a" * 64 + "/promote") in MUTATING and len(MUTATING) >= 5
    assert SOCKETS == ["/ws/events"]
    # the OpenAPI document (what clients see) lists no mutating operation the walk missed
    doc = create_app(ApiSettings(token="x")).openapi()
    documented = {
        (m.upper(), re.sub(r"\{[^}]*hash[^}]*\}", "a" * 64, p))
        for p, ops in doc["paths"].items()
        for m in ops
        if m != "get"
    }
    assert {(m, re.sub(r"\{[^}]*\}", "1", p)) for m, p in documented} <= set(MUTATING)


@pytest.mark.parametrize(("method", "path"), MUTATING)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic " + TOKEN, "Bearer " + TOKEN + "x"])
def test_mutating_routes_refuse_a_missing_or_wrong_token(
    api_server: Server, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    for body in (b"", b"{not json", b'{"directive": "x"}'):
        r = httpx.request(method, api_server.url + path, content=body, headers=headers, timeout=30)
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["code"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in r.text


def _raw_request(server: Server, request: bytes) -> bytes:
    """Sends ``request`` on a raw socket and returns what the server answers within 10 s."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


@pytest.mark.parametrize(("method", "path"), MUTATING)
def test_the_token_is_checked_before_the_body_is_read(api_server: Server, method: str, path: str) -> None:
    # The request announces 1 MB and sends none of it: a server that read the body first would
    # wait (and time out here); the guard answers at once.
    request = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n".encode()
    assert _raw_request(api_server, request).startswith(b"HTTP/1.1 401")


async def _ws_status(url: str, headers: dict[str, str], subprotocols: list[str] | None = None) -> int:
    try:
        async with websockets.connect(
            url,
            additional_headers=headers,
            open_timeout=10,
            subprotocols=subprotocols,  # type: ignore[arg-type]
        ) as ws:
            assert ws.subprotocol == ("qe.v1" if subprotocols else None)  # never the token's subprotocol
            return 101
    except websockets.InvalidStatus as exc:
        return int(exc.response.status_code)


@pytest.mark.parametrize("path", SOCKETS)
def test_websockets_refuse_a_missing_or_wrong_token(api_server: Server, path: str) -> None:
    url = api_server.ws_url + path
    assert asyncio.run(_ws_status(url, {})) == 401
    assert asyncio.run(_ws_status(url, {"Authorization": "Bearer nope"})) == 401
    assert asyncio.run(_ws_status(url, auth())) == 101
    # browsers cannot set headers on a WebSocket: the token may come as a subprotocol
    assert asyncio.run(_ws_status(url, {}, ["qe.v1", "bearer." + TOKEN])) == 101
    assert asyncio.run(_ws_status(url, {}, ["qe.v1", "bearer.nope"])) == 401
    assert asyncio.run(_ws_status(url, {}, ["qe.v1"])) == 401


def test_reads_are_open_by_default(api_server: Server) -> None:
    assert httpx.get(api_server.url + "/strategies", timeout=30).status_code == 200
    assert (
        httpx.get(api_server.url + "/strategies", headers={"Authorization": "Bearer nope"}, timeout=30).status_code
        == 200
    )


def test_the_token_is_never_logged(api_server: Server) -> None:
    httpx.post(api_server.url + "/missions", json={"directive": "log check"}, headers=auth(), timeout=30)
    httpx.post(
        api_server.url + "/missions",
        json={"directive": "log check"},
        headers={"Authorization": "Bearer " + TOKEN + "z"},
        timeout=30,
    )
    assert "POST /missions" in api_server.log_text() and TOKEN not in api_server.log_text()


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server without QE_API_TOKEN whose reads require a token."""
    server = start_server(Path(tmp_path_factory.mktemp("api-no-token")), {"QE_API_READ_TOKEN": "1"})
    yield server
    stop_server(server)


@pytest.mark.parametrize(("method", "path"), MUTATING)
def test_without_a_configured_token_mutations_are_refused(guarded_server: Server, method: str, path: str) -> None:
    r = httpx.request(
        method, guarded_server.url + path, content=b"{}", headers={"Authorization": "Bearer anything"}, timeout=30
    )
    assert r.status_code == 403 and r.json()["code"] == "auth_not_configured" and "QE_API_TOKEN" in r.json()["message"]


def test_guarded_reads_and_open_paths(guarded_server: Server) -> None:
    assert httpx.get(guarded_server.url + "/strategies", timeout=30).status_code == 403
    for path in ("/health", "/openapi.json", "/docs"):
        assert httpx.get(guarded_server.url + path, timeout=30).status_code == 200, path
    assert asyncio.run(_ws_status(guarded_server.ws_url + "/ws/events", {"Authorization": "Bearer anything"})) == 403
