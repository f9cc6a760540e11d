"""The guard in front of the app (pure ASGI, so it runs before any body is read or parsed):
bearer-token authentication and the request body size limit.

* Mutating requests (any method but GET, HEAD, OPTIONS) and WebSockets need
  ``Authorization: Bearer <QE_API_TOKEN>``; read requests too when ``read_requires_token``
  (``/health``, ``/openapi.json`` and ``/docs`` always stay open). A missing or wrong token is a
  401 whatever the body; with no token configured, mutating requests are refused with 403.
  Tokens are compared in constant time (:func:`hmac.compare_digest`) and never echoed or logged.
  Browsers cannot set headers on a WebSocket: a WebSocket may instead offer the subprotocols
  ``qe.v1`` and ``bearer.<token>`` (the server answers with ``qe.v1``, never the token one).
* A body larger than ``max_body_bytes`` is a 413: refused from its ``Content-Length`` before it
  is read, or, without one, as soon as what arrived passes the limit (the body is buffered, up to
  the limit, before the app runs).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from quant_engine.api.errors import ErrorBody
from quant_engine.api.settings import ApiSettings

__all__ = ["GuardMiddleware", "is_mutating", "accepted_subprotocol", "OPEN_PATHS", "OPEN_PREFIXES", "WS_SUBPROTOCOL"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/"})
"""Paths readable without a token even when reads require one (``/`` is the dashboard's shell,
which holds no data: its panels are fetched with the token)."""
OPEN_PREFIXES = ("/static/",)
"""Path prefixes readable without a token (the dashboard's scripts and styles)."""

WS_SUBPROTOCOL = "qe.v1"
"""The subprotocol a WebSocket is accepted with when the client offered it."""
_WS_BEARER = "bearer."

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NO_TOKEN_MESSAGE = "mutating endpoints are disabled: set QE_API_TOKEN in the server's environment and restart it"


def is_mutating(method: str) -> bool:
    """Whether an HTTP method changes state (needs the token)."""
    return method.upper() not in _READ_METHODS


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    if scope["type"] == "websocket":
        for offered in scope.get("subprotocols", ()):
            if offered.startswith(_WS_BEARER):
                return str(offered[len(_WS_BEARER) :])
    return None


def accepted_subprotocol(scope: Scope) -> str | None:
    """The subprotocol to accept a WebSocket with: :data:`WS_SUBPROTOCOL` when offered."""
    return WS_SUBPROTOCOL if WS_SUBPROTOCOL in scope.get("subprotocols", ()) else None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


class GuardMiddleware:
    """Authentication and body size limit (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings
        self._token = settings.token.encode() if settings.token else None

    def _check(self, scope: Scope) -> tuple[int, str, str] | None:
        """None when the request may proceed, else ``(status, code, message)``."""
        websocket = scope["type"] == "websocket"
        method = "WEBSOCKET" if websocket else scope.get("method", "GET")
        mutating = websocket or is_mutating(method)
        path = str(scope.get("path", ""))
        if not mutating and (
            not self.settings.read_requires_token or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        ):
            return None
        if self._token is None:
            if mutating:
                return 403, "auth_not_configured", NO_TOKEN_MESSAGE
            return 403, "auth_not_configured", "reads require a token but QE_API_TOKEN is not set on the server"
        given = _bearer(scope)
        if given is None:
            return 401, "unauthorized", "missing bearer token (send 'Authorization: Bearer <token>')"
        if not hmac.compare_digest(given.encode(), self._token):
            return 401, "unauthorized", "wrong bearer token"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = self._check(scope)
        if refused is not None:
            if scope["type"] == "websocket":
                await _refuse_websocket(scope, receive, send, *refused)
            else:
                await _send_error(send, *refused)
            return
        if scope["type"] == "http" and is_mutating(scope.get("method", "GET")):
            receive = await self._bounded(scope, receive, send)  # type: ignore[assignment]
            if receive is None:
                return
        await self.app(scope, receive, send)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Reads the body up to the limit and returns a ``receive`` that replays it; None (after
        sending 413) when it is too large."""
        limit = self.settings.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_error(send, 413, "body_too_large", f"the body is {declared} bytes; the limit is {limit}")
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_error(send, 413, "body_too_large", f"the body is larger than the limit of {limit} bytes")
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        return replayed


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = msgspec.json.encode(ErrorBody(code, message))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    """Refuses a WebSocket handshake: an HTTP error response when the server supports the ASGI
    ``websocket.http.response`` extension, else a close (1008, policy violation)."""
    message_in = await receive()
    if message_in["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        body = msgspec.json.encode(ErrorBody(code, message))
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": code})
