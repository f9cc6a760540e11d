"""A client WebSocket whose incoming bytes go, raw, to the Rust decoder.

The opening handshake and every outgoing frame (masked, as RFC 6455 requires of clients) are
done by the ``websockets`` library's sans-I/O :class:`websockets.client.ClientProtocol`. After
the handshake the incoming byte stream is *not* parsed in Python: :meth:`RawWebSocket.read`
returns large chunks of bytes exactly as read from the socket, and
:class:`quant_engine._core.StreamDecoder` parses frames and messages in Rust. That is what keeps
the live path free of a Python object per message (ThetaData sends one trade per message).

The library's frame logging is disabled for this connection: outgoing frames carry
credentials (the Massive ``auth`` action) and must never reach a log.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
from typing import Any

from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.uri import parse_uri

from quant_engine.errors import VendorUnavailableError

__all__ = ["RawWebSocket", "FRAME_LOGGER"]


class _NeverLogFrames(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that is never enabled for frame tracing: frames may carry credentials (the
    Massive ``auth`` action). Unlike ``Logger.disabled``, logging configuration done later by
    another library (``dictConfig`` re-enables existing loggers) cannot turn it back on."""

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


FRAME_LOGGER = _NeverLogFrames(logging.getLogger("quant_engine.feeds.websocket"), {})
"""The logger handed to the ``websockets`` protocol objects (client and sandbox server)."""
_READ_SIZE = 1 << 20


class RawWebSocket:
    """One client connection (see the module docstring). Create with :meth:`connect`."""

    def __init__(self, url: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proto: ClientProtocol):
        self.url = url
        self._reader = reader
        self._writer = writer
        self._proto = proto
        self.closed = False

    def __repr__(self) -> str:
        return f"RawWebSocket({self.url!r}, closed={self.closed})"

    @classmethod
    async def connect(cls, url: str, *, timeout: float = 10.0, vendor: str = "") -> RawWebSocket:
        """Opens the TCP (or TLS, for ``wss://``) connection and performs the handshake."""
        uri = parse_uri(url)
        ctx: Any = _ssl.create_default_context() if uri.secure else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(uri.host, uri.port, ssl=ctx, limit=_READ_SIZE * 4), timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise VendorUnavailableError(
                f"cannot connect to {url}: {type(exc).__name__}: {exc}", vendor=vendor
            ) from None
        proto = ClientProtocol(uri, logger=FRAME_LOGGER, max_size=None)
        try:
            proto.send_request(proto.connect())
            writer.write(b"".join(proto.data_to_send()))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            proto.receive_data(head)
            events = proto.events_received()
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            writer.close()
            raise VendorUnavailableError(f"websocket handshake with {url} failed: {type(exc).__name__}", vendor=vendor) from None
        if proto.handshake_exc is not None or not any(isinstance(e, Response) for e in events):
            writer.close()
            raise VendorUnavailableError(
                f"websocket handshake with {url} was refused: {proto.handshake_exc}", vendor=vendor
            )
        return cls(url, reader, writer, proto)

    async def read(self, n: int = _READ_SIZE) -> bytes:
        """The next raw bytes (up to ``n``); ``b""`` when the peer closed the connection."""
        try:
            data = await self._reader.read(n)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.closed = True
        return data

    async def _write(self) -> None:
        if self.closed:
            raise ConnectionResetError("the connection is closed")
        self._writer.write(b"".join(self._proto.data_to_send()))
        await self._writer.drain()

    async def send_text(self, text: str | bytes) -> None:
        """Sends one text message."""
        self._proto.send_text(text.encode() if isinstance(text, str) else text)
        await self._write()

    async def pong(self, payload: bytes) -> None:
        """Answers a ping."""
        self._proto.send_pong(payload)
        await self._write()

    async def ping(self, payload: bytes = b"qe") -> None:
        """Sends a ping (a pong comes back as a ``pong`` event of the decoder)."""
        self._proto.send_ping(payload)
        await self._write()

    async def close(self, code: int = 1000) -> None:
        """Sends a close frame (best effort) and closes the socket."""
        if not self.closed:
            try:
                self._proto.send_close(code)
                await asyncio.wait_for(self._write(), 1.0)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        self.abort()

    def abort(self) -> None:
        """Drops the connection at once."""
        self.closed = True
        self._writer.close()
