"""A client WebSocket whose incoming bytes go, raw and uncopied, to the Rust decoder.

The opening handshake and every outgoing frame (masked, as RFC 6455 requires of clients) are
done by the ``websockets`` library's sans-I/O :class:`websockets.client.ClientProtocol`. After
the handshake the incoming byte stream is *not* parsed in Python: the socket receives straight
into a preallocated buffer (an :class:`asyncio.BufferedProtocol`), and :meth:`RawWebSocket.read`
hands a view of it to :class:`quant_engine._core.StreamDecoder`, which parses frames and messages
in Rust. That is what keeps the live path free of a Python object (or a copy) per message:
ThetaData sends one trade per message.

The library's frame logging is never enabled for these connections: outgoing frames carry
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

from quant_engine.errors import (
    VendorAuthError,
    VendorError,
    VendorPermissionError,
    VendorRequestError,
    VendorUnavailableError,
)

__all__ = ["RawWebSocket", "FRAME_LOGGER", "handshake_refused", "is_permanent"]


class _NeverLogFrames(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that is never enabled for frame tracing: frames may carry credentials (the
    Massive ``auth`` action). Unlike ``Logger.disabled``, logging configuration done later by
    another library (``dictConfig`` re-enables existing loggers) cannot turn it back on."""

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


FRAME_LOGGER = _NeverLogFrames(logging.getLogger("quant_engine.feeds.websocket"), {})
"""The logger handed to the ``websockets`` protocol objects (client and sandbox server)."""

_BUFFER = 8 << 20
_MIN_FREE = 256 << 10


class _Receiver(asyncio.BufferedProtocol):
    """Receives into one preallocated buffer; reading pauses while it is nearly full."""

    def __init__(self) -> None:
        self.buf = bytearray(_BUFFER)
        self.filled = 0
        self.eof = False
        self.transport: Any = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buf)[self.filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self.filled += nbytes
        if len(self.buf) - self.filled < _MIN_FREE and not self._paused:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self) -> None:
        while self.filled == 0 and not self.eof:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None

    def release(self, consumed: int) -> None:
        """Drops the first ``consumed`` bytes; bytes received after them move to the front
        (data can arrive between a read and its release)."""
        rest = self.filled - consumed
        if rest > 0:
            self.buf[:rest] = self.buf[consumed : self.filled]
        self.filled = max(rest, 0)
        if self._paused and not self.eof and len(self.buf) - self.filled >= _MIN_FREE:
            self._paused = False
            self.transport.resume_reading()


def _status_line(head: bytes) -> tuple[int | None, str]:
    """The status code and reason of an HTTP response head (None when unreadable)."""
    parts = head[: head.find(b"\r\n")].decode("latin-1").split(" ", 2)
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return code, parts[2] if len(parts) > 2 else ""


async def _refusal_body(rx: _Receiver, head: bytes, end: int, timeout: float) -> str:
    """Up to 1 KiB of a refused handshake's body (as much as arrives within ``timeout``)."""
    length = 1024
    for line in head[:end].split(b"\r\n"):
        if line.lower().startswith(b"content-length:") and line[15:].strip().isdigit():
            length = min(length, int(line[15:].strip()))
    body = head[end:]
    try:
        async with asyncio.timeout(timeout):
            while len(body) < length and not rx.eof:
                await rx.wait()
                n = rx.filled
                body += bytes(rx.buf[:n])
                rx.release(n)
    except (TimeoutError, OSError):
        pass
    return body[:length].decode(errors="replace").strip()


def handshake_refused(url: str, status: int | None, reason: str, body: str, vendor: str) -> VendorError:
    """The typed error of a refused handshake, keeping the HTTP status and body: permanent
    refusals (4xx except 408 and 429) are :class:`VendorAuthError` (401),
    :class:`VendorPermissionError` (403) or :class:`VendorRequestError`, which no reconnection
    can fix; anything else is :class:`VendorUnavailableError` (retried)."""
    msg = f"websocket handshake with {url} refused: HTTP {status} {reason}".rstrip() + (f": {body}" if body else "")
    cls: type[VendorError] = VendorUnavailableError
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        cls = {401: VendorAuthError, 403: VendorPermissionError}.get(status, VendorRequestError)
    return cls(msg, vendor=vendor, status=status, code="HANDSHAKE_REFUSED")


def is_permanent(exc: VendorError) -> bool:
    """Whether a connection error is final (a permanent handshake refusal or bad credentials)."""
    return isinstance(exc, (VendorAuthError, VendorPermissionError, VendorRequestError))


class RawWebSocket:
    """One client connection (see the module docstring). Create with :meth:`connect`."""

    def __init__(self, url: str, receiver: _Receiver, proto: ClientProtocol, leftover: bytes):
        self.url = url
        self._rx = receiver
        self._proto = proto
        self._leftover = leftover
        self._lent = 0
        self.closed = False

    def __repr__(self) -> str:
        return f"RawWebSocket({self.url!r}, closed={self.closed})"

    @classmethod
    async def connect(cls, url: str, *, timeout: float = 10.0, vendor: str = "") -> RawWebSocket:
        """Opens the TCP (or TLS, for ``wss://``) connection and performs the handshake."""
        uri = parse_uri(url)
        ctx: Any = _ssl.create_default_context() if uri.secure else None
        loop = asyncio.get_running_loop()
        try:
            _, rx = await asyncio.wait_for(loop.create_connection(_Receiver, uri.host, uri.port, ssl=ctx), timeout)
        except (TimeoutError, OSError) as exc:
            raise VendorUnavailableError(
                f"cannot connect to {url}: {type(exc).__name__}: {exc}", vendor=vendor
            ) from None
        proto = ClientProtocol(uri, logger=FRAME_LOGGER, max_size=None)
        proto.send_request(proto.connect())
        rx.transport.write(b"".join(proto.data_to_send()))
        head = b""
        try:
            async with asyncio.timeout(timeout):
                while b"\r\n\r\n" not in head:
                    await rx.wait()
                    if rx.filled == 0 and rx.eof:
                        raise ConnectionResetError("closed during the handshake")
                    n = rx.filled
                    head += bytes(rx.buf[:n])
                    rx.release(n)
                    if len(head) > 65536:
                        raise ConnectionError("handshake response too large")
        except (TimeoutError, OSError) as exc:
            rx.transport.close()
            raise VendorUnavailableError(
                f"websocket handshake with {url} failed: {type(exc).__name__}", vendor=vendor
            ) from None
        end = head.index(b"\r\n\r\n") + 4
        status, reason = _status_line(head)
        if status != 101:
            body = await _refusal_body(rx, head, end, min(timeout, 2.0))
            rx.transport.close()
            raise handshake_refused(url, status, reason, body, vendor)
        proto.receive_data(head[:end])
        events = proto.events_received()
        if proto.handshake_exc is not None or not any(isinstance(e, Response) for e in events):
            rx.transport.close()
            raise VendorUnavailableError(
                f"websocket handshake with {url} was refused: {proto.handshake_exc}", vendor=vendor
            )
        return cls(url, rx, proto, head[end:])

    async def read(self) -> bytes | memoryview:
        """The next received bytes, as a view of the receive buffer that is valid until
        :meth:`release` (call it once the bytes are consumed); ``b""`` once the peer closed."""
        if self._leftover:
            data, self._leftover = self._leftover, b""
            return data
        await self._rx.wait()
        if self._rx.filled == 0:
            self.closed = True
            return b""
        self._lent = self._rx.filled
        return memoryview(self._rx.buf)[: self._lent]

    def release(self) -> None:
        """Hands the bytes returned by the last :meth:`read` back to the receive buffer."""
        lent, self._lent = self._lent, 0
        if lent:
            self._rx.release(lent)

    async def _write(self) -> None:
        if self.closed or self._rx.transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        self._rx.transport.write(b"".join(self._proto.data_to_send()))

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
                await self._write()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        self.abort()

    def abort(self) -> None:
        """Drops the connection at once."""
        self.closed = True
        self._rx.transport.close()
