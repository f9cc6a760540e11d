"""A small WebSocket server for the local vendor servers: the ``websockets`` library's sans-I/O
:class:`~websockets.server.ServerProtocol` does the handshake and parses the (few) client
messages; outgoing market data is written as pre-framed bytes (many messages per write), which
is how the servers reach millions of messages per second. Faults need raw control too: an
abrupt close is a TCP reset, not a close frame.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from quant_engine.feeds.websocket import FRAME_LOGGER
from quant_engine.sandbox.encode import ws_frame

__all__ = ["WsConnection", "serve_websocket"]

log = logging.getLogger("quant_engine.sandbox")


WRITE_HIGH = 32 << 20
"""Write buffer above which a connection's sender waits (the kernel is kept fed meanwhile)."""


class WsConnection:
    """One accepted client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proto: ServerProtocol, path: str):
        self._reader = reader
        self._writer = writer
        self._proto = proto
        self.path = path
        self.closed = False
        self._pending: collections.deque[Any] = collections.deque()
        transport = writer.transport
        if transport is not None:  # keep the kernel fed while the event loop does other work
            transport.set_write_buffer_limits(high=WRITE_HIGH, low=WRITE_HIGH // 4)

    def _flush_proto(self) -> None:
        data = self._proto.data_to_send()
        if data and not self.closed:
            self._writer.write(b"".join(data))

    async def recv(self) -> bytes | None:
        """The next text (or binary) message from the client; None once it closed."""
        while not self.closed:
            self._pending.extend(self._proto.events_received())
            while self._pending:
                ev = self._pending.popleft()
                if ev.opcode in (Opcode.TEXT, Opcode.BINARY):
                    return bytes(ev.data)
                if ev.opcode == Opcode.CLOSE:
                    self._flush_proto()
                    self.abort()
                    return None
            try:
                data = await self._reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                self.abort()
                return None
            self._proto.receive_data(data)
            self._flush_proto()
        return None

    def send_raw(self, frames: bytes) -> None:
        """Writes pre-framed bytes."""
        if not self.closed and frames:
            self._writer.write(frames)

    def send_text(self, text: str | bytes) -> None:
        """Sends one text message."""
        self.send_raw(ws_frame(text.encode() if isinstance(text, str) else text))

    async def drain(self) -> None:
        """Waits while the write buffer is above :data:`WRITE_HIGH` (always yields once)."""
        if not self.closed:
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.drain()
        await asyncio.sleep(0)

    def buffered(self) -> int:
        """Bytes waiting in the write buffer."""
        transport = self._writer.transport
        return 0 if transport is None or self.closed else transport.get_write_buffer_size()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """A clean close: close frame, then the socket."""
        if self.closed:
            return
        self.send_raw(ws_frame(code.to_bytes(2, "big") + reason.encode(), opcode=0x8))
        await self.drain()
        self.abort()

    def abort(self) -> None:
        """An abrupt close (TCP reset where the platform allows it)."""
        if not self.closed:
            self.closed = True
            transport = self._writer.transport
            if transport is not None:
                transport.abort()


Handler = Callable[[WsConnection], Awaitable[None]]


Admit = Callable[[str], "tuple[int, str] | None"]
"""``admit(path)``: None to accept a handshake, or the HTTP status and body that refuse it."""


async def serve_websocket(
    handler: Handler, host: str, port: int, paths: tuple[str, ...], admit: Admit | None = None
) -> asyncio.Server:
    """Starts a server; each accepted connection to one of ``paths`` runs ``handler`` (unless
    ``admit`` refuses it: the refusal's status and body are sent, as a server does)."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proto = ServerProtocol(logger=FRAME_LOGGER, max_size=1 << 20)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        proto.receive_data(head)
        request = next((e for e in proto.events_received() if isinstance(e, Request)), None)
        if request is None:
            writer.close()
            return
        path = request.path.split("?")[0]
        refusal = admit(path) if admit is not None and path in paths else None
        if path not in paths:
            response = proto.reject(404, f"no websocket at {path}\n")
        elif refusal is not None:
            response = proto.reject(refusal[0], refusal[1])
        else:
            response = proto.accept(request)
        proto.send_response(response)
        writer.write(b"".join(proto.data_to_send()))
        if response.status_code != 101:
            await writer.drain()
            writer.close()
            return
        conn = WsConnection(reader, writer, proto, path)
        try:
            await handler(conn)
        except Exception:  # noqa: BLE001 - one bad connection must not stop the server
            log.exception("sandbox websocket handler failed")
        finally:
            conn.abort()

    return await asyncio.start_server(on_client, host, port, limit=1 << 20)
