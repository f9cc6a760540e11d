"""What both fake vendor servers share: the replay clock over a :class:`SandboxMarket`, the
replay pointers, and the control endpoints (``/_sandbox/faults``, ``/_sandbox/stats``,
``/_sandbox/replay``) that tests and the CLI use to steer them."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from quant_engine.sandbox.faults import FaultPlan
from quant_engine.sandbox.market import SandboxMarket
from quant_engine.sandbox.server import BackgroundServer
from quant_engine.sandbox.wsserver import WsConnection, serve_websocket

__all__ = ["ReplayServer"]

_NS = 1_000_000_000


class ReplayServer(BackgroundServer):
    """A background server that replays ``market`` at ``speed`` market seconds per wall second
    (0 = as fast as possible) under a :class:`FaultPlan`, with a REST app (:meth:`app`) on
    ``rest_port`` and a WebSocket server (:meth:`_ws_handler` on :attr:`ws_paths`) on ``ws_port``
    (0: any free port, known once started).

    Attributes:
        market: the data served.
        host: the bind address.
        rest_port / ws_port: the ports.
        speed: the replay speed.
        faults: the active fault plan.
        stats: counters, extended by each vendor server.
    """

    ws_paths: tuple[str, ...] = ()
    """The WebSocket paths the server accepts."""

    def __init__(
        self, market: SandboxMarket, *, host: str, rest_port: int, ws_port: int, speed: float, faults: FaultPlan | None
    ) -> None:
        super().__init__()
        self.market = market
        self.host = host
        self.rest_port = rest_port
        self.ws_port = ws_port
        self.speed = speed
        self.faults = faults or FaultPlan()
        self.stats: dict[str, int] = {}
        self._clock_wall0: float | None = None
        self._ptr_trades = 0
        self._ptr_quotes = 0
        self._firehose: Any = None

    @property
    def rest_url(self) -> str:
        """``http://host:port`` of the REST API."""
        return f"http://{self.host}:{self.rest_port}"

    @abc.abstractmethod
    def app(self) -> Starlette:
        """The REST application."""

    @abc.abstractmethod
    async def _ws_handler(self, conn: WsConnection) -> None:
        """Serves one WebSocket connection."""

    @abc.abstractmethod
    async def _stream_loop(self) -> None:
        """The replay loop: runs until cancelled."""

    @abc.abstractmethod
    def _open_connections(self) -> Iterable[WsConnection]:
        """The WebSocket connections to abort on shutdown."""

    async def serve(self, started: asyncio.Event) -> None:
        """Runs the REST app, the WebSocket server and the replay loop until cancelled."""
        import uvicorn

        handler: Callable[[WsConnection], Awaitable[None]] = self._ws_handler
        ws_server = await serve_websocket(handler, self.host, self.ws_port, self.ws_paths, self._admit)
        self.ws_port = ws_server.sockets[0].getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                self.app(), host=self.host, port=self.rest_port, log_level="warning", lifespan="off", access_log=False
            )
        )
        rest = asyncio.create_task(server.serve())
        while not server.started:
            if rest.done():
                rest.result()
            await asyncio.sleep(0.01)
        self.rest_port = server.servers[0].sockets[0].getsockname()[1]
        loop_task = asyncio.create_task(self._stream_loop())
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            loop_task.cancel()
            server.should_exit = True
            ws_server.close()
            for conn in list(self._open_connections()):
                conn.abort()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(rest, 5.0)

    def _admit(self, path: str) -> tuple[int, str] | None:
        """The ``refuse_handshake`` fault: every stream handshake refused with that status."""
        code = self.faults.refuse_handshake
        if code:
            self.faults.count("refused_handshakes")
            text = "another client is already connected" if code == 409 else f"refused by the sandbox ({code})"
            return code, text + "\n"
        return None

    def _market_now(self) -> int:
        """The replay clock in market time (ns): before the first trade until the clock starts
        (the start delay after the first subscription included, so every subscription of a
        client's first burst sees the opening trades), the end of the market at speed 0."""
        if self._clock_wall0 is None or time.monotonic() < self._clock_wall0:
            return self.market.start_ns - 1
        if self.speed <= 0:
            return self.market.end_ns
        return self.market.start_ns + int(max(0.0, time.monotonic() - self._clock_wall0) * self.speed * _NS)

    def _restart_replay(self) -> None:
        """Rewinds the replay to the first trade; the clock restarts with the next stream."""
        self._clock_wall0 = None
        self._ptr_trades = self._ptr_quotes = 0
        self._firehose = None

    def snapshot(self) -> dict[str, Any]:
        """Counters, injected faults and the replay position."""
        total = len(self.market.trades.ts)
        return {
            **self.stats,
            "faults": self.faults.injected,
            "replay_position": self._ptr_trades,
            "replay_total": total,
            "replay_done": self._ptr_trades >= total,
        }

    async def _faults(self, request: Request) -> Response:
        """``GET`` the fault plan, ``POST`` a JSON object to change it (400 on a bad one)."""
        if request.method == "POST":
            try:
                self.faults.update(await request.json())
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.faults.as_dict())

    async def _stats(self, request: Request) -> Response:
        """The :meth:`snapshot`."""
        return JSONResponse(self.snapshot())

    async def _replay(self, request: Request) -> Response:
        """``POST {"speed": x, "restart": true}``: changes the speed and/or rewinds."""
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            if "speed" in body:
                speed = float(body["speed"])
                if not speed >= 0:
                    raise ValueError(f"invalid speed: {speed} (expected >= 0)")
                self.speed = speed
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            return JSONResponse({"error": str(exc)}, status_code=400)
        if body.get("restart"):
            self._restart_replay()
        return JSONResponse(self.snapshot())
