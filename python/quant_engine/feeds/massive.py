"""Massive (formerly Polygon): REST (sync and async, ``httpx``) and the WebSocket stream.

REST: aggregates (bars of any ``multiplier``/``timespan``), grouped daily bars (every ticker of
one day: market-wide scans), trades, quotes and the options chain snapshot. Results are
``pyarrow.Table``\\ s: each JSON page is parsed by Arrow's JSON reader (no Python object per row)
and ``next_url`` pages are followed verbatim. The API key travels only in the
``Authorization: Bearer`` header: never in a URL, a log line, an exception or a ``repr`` (a
``next_url`` that carried one would have it removed). 429, 413, 499 and 5xx are retried with
backoff; 401 raises :class:`~quant_engine.errors.VendorAuthError`, 403
:class:`~quant_engine.errors.VendorPermissionError`, other 4xx
:class:`~quant_engine.errors.VendorRequestError` (the body's ``error`` or ``message`` is
quoted).

Stream: :class:`MassiveStream` (``/stocks`` or ``/options``): connected -> ``auth`` ->
``auth_success`` -> ``subscribe``, batched arrays of events decoded in Rust; reconnects re-auth and
re-subscribe everything. ``auth_failed`` stops the stream (no retry can fix a bad key).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Generator
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.errors import (
    InvalidArgumentError,
    NoDataError,
    VendorAuthError,
    VendorError,
    VendorPermissionError,
    VendorRateLimitError,
    VendorRequestError,
    VendorUnavailableError,
)
from quant_engine.feeds.config import Secret, settings
from quant_engine.feeds.health import EngineStatus
from quant_engine.feeds.massive_tables import Page as _Page
from quant_engine.feeds.massive_tables import bars as _bars
from quant_engine.feeds.massive_tables import chain as _chain
from quant_engine.feeds.massive_tables import parse_page as _parse_page
from quant_engine.feeds.massive_tables import quotes as _quotes
from quant_engine.feeds.massive_tables import strip_key as _strip_key
from quant_engine.feeds.massive_tables import trades as _trades
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.stream import LiveStream, Subscription
from quant_engine.feeds.websocket import RawWebSocket
from quant_engine.schema import TIMESTAMP
from quant_engine.times import instant_ns

__all__ = ["MassiveClient", "AsyncMassiveClient", "MassiveStream", "massive_ticker"]

log = logging.getLogger("quant_engine.feeds.massive")

_RETRYABLE = {413, 429, 499, 500, 502, 503, 504}
_TIMESPANS = ("second", "minute", "hour", "day", "week", "month", "quarter", "year")
_MS = 1_000_000

T = TypeVar("T")


def massive_ticker(symbol: str) -> str:
    """The vendor ticker of a canonical symbol: OSI-style option symbols get ``O:``."""
    from quant_engine.feeds.thetadata import parse_option_symbol

    if symbol.startswith("O:") or parse_option_symbol(symbol) is None:
        return symbol
    return "O:" + symbol


_Plan = Generator[str, _Page, T]


class _MassiveApi:
    """Request plans and response handling shared by the sync and async clients."""

    engine = "massive"

    def __init__(
        self, api_key: str | Secret | None, base_url: str | None, timeout: float | None, backoff: Backoff | None
    ) -> None:
        cfg = settings()
        key = cfg.massive_api_key if api_key is None else api_key if isinstance(api_key, Secret) else Secret(api_key)
        if not key:
            raise VendorAuthError("Massive API key missing (set QE_MASSIVE_API_KEY)", vendor="massive", status=401)
        base_url = cfg.massive_base_url if base_url is None else base_url
        if not base_url.startswith(("http://", "https://")):
            raise InvalidArgumentError(f"invalid base_url: {base_url!r}")
        self._key = key
        self.base_url = base_url.rstrip("/")
        self.timeout = cfg.http_timeout if timeout is None else timeout
        self.backoff = Backoff(retries=cfg.http_retries) if backoff is None else backoff
        self.requests = 0
        self.retries = 0
        self.throttled = 0
        self.last_error = ""
        self.last_ok = 0.0
        self.consecutive_failures = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=***)"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key.reveal()}", "Accept-Encoding": "gzip"}

    def _url(self, path_or_url: str, params: dict[str, Any] | None = None) -> str:
        url = path_or_url if path_or_url.startswith("http") else self.base_url + path_or_url
        url = _strip_key(url)
        if params:
            q = {
                k: ("true" if v is True else "false" if v is False else str(v))
                for k, v in params.items()
                if v is not None
            }
            url += ("&" if "?" in url else "?") + urlencode(q)
        return url

    @staticmethod
    def _path(url: str) -> str:
        return urlsplit(url).path

    def _error(self, status: int, body: bytes, url: str) -> VendorError:
        text = ""
        try:
            doc = json.loads(body)
            text = str(doc.get("error") or doc.get("message") or doc.get("status") or "")
        except (ValueError, AttributeError):
            text = body[:200].decode(errors="replace")
        msg = f"Massive {status} on {self._path(url)}: {text or 'no message'}"
        if status == 401:
            return VendorAuthError(msg, vendor="massive", status=status)
        if status == 403:
            return VendorPermissionError(msg, vendor="massive", status=status)
        if status == 404:
            return NoDataError(msg, vendor="massive", status=status)
        if status == 429:
            return VendorRateLimitError(msg, vendor="massive", status=status)
        if status in _RETRYABLE or status >= 500:
            return VendorUnavailableError(msg, vendor="massive", status=status)
        return VendorRequestError(msg, vendor="massive", status=status)

    def _response(self, url: str, status: int, body: bytes, retry_after: str | None, attempt: int) -> _Page | float:
        """What one response means (``status`` -1: a transport error named in ``body``): the
        parsed page, or the delay before retry ``attempt + 1`` (the backoff, stretched to a
        numeric ``Retry-After`` up to the backoff maximum); raises the typed error otherwise."""
        if status == 200:
            try:
                page = _parse_page(body, url)
            except VendorError as exc:
                self._outcome(False, str(exc))
                raise
            self._outcome(True)
            return page
        if status == 429:
            self.throttled += 1
        if (status in _RETRYABLE or status == -1) and attempt < self.backoff.retries:
            self.retries += 1
            delay = float(self.backoff.delay(attempt))
            if retry_after and retry_after.replace(".", "", 1).isdigit():
                delay = max(delay, min(float(retry_after), self.backoff.maximum))
            return delay
        err = (
            VendorUnavailableError(f"Massive unreachable on {self._path(url)}: {body.decode()}", vendor="massive")
            if status == -1
            else self._error(status, body, url)
        )
        self._outcome(False, str(err))
        raise err

    def _outcome(self, ok: bool, error: str = "") -> None:
        if ok:
            self.last_ok = time.time()
            self.consecutive_failures = 0
        else:
            self.consecutive_failures += 1
            self.last_error = error

    # ---- plans: generators that yield URLs and receive pages
    def _pages(self, first_url: str, limit_rows: int | None = None) -> _Plan[list[pa.Table]]:
        tables = []
        url: str | None = first_url
        rows = 0
        while url:
            page = yield url
            if page.results.num_rows:
                tables.append(page.results)
                rows += page.results.num_rows
            if limit_rows is not None and rows >= limit_rows:
                break
            url = page.next_url
        return tables

    @staticmethod
    def _concat(tables: list[pa.Table]) -> pa.Table:
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="permissive")

    def plan_aggregates(
        self, symbol: str, multiplier: int, timespan: str, start: Any, end: Any, adjusted: bool
    ) -> _Plan[pa.Table]:
        if timespan not in _TIMESPANS:
            raise InvalidArgumentError(f"invalid timespan: {timespan!r} (expected one of {_TIMESPANS})")
        s, e = instant_ns(start, "start") // _MS, (instant_ns(end, "end") - 1) // _MS
        path = f"/v2/aggs/ticker/{massive_ticker(symbol)}/range/{int(multiplier)}/{timespan}/{s}/{e}"
        tables = yield from self._pages(self._url(path, {"adjusted": adjusted, "sort": "asc", "limit": 50000}))
        out = _bars(self._concat(tables), symbol)
        ts = pc.cast(out.column("start"), pa.int64())
        return out.filter(pc.and_(pc.greater_equal(ts, s * _MS), pc.less_equal(ts, e * _MS)))

    def plan_grouped_daily(self, date: str, adjusted: bool, include_otc: bool) -> _Plan[pa.Table]:
        path = f"/v2/aggs/grouped/locale/us/market/stocks/{date}"
        tables = yield from self._pages(self._url(path, {"adjusted": adjusted, "include_otc": include_otc}))
        return _bars(self._concat(tables), None)

    def _ticks(self, path: str, start: Any, end: Any, limit: int) -> _Plan[pa.Table]:
        params = {
            "timestamp.gte": instant_ns(start, "start"),
            "timestamp.lt": instant_ns(end, "end"),
            "order": "asc",
            "sort": "timestamp",
            "limit": limit,
        }
        tables = yield from self._pages(self._url(path, params))
        return self._concat(tables)

    def plan_trades(self, symbol: str, start: Any, end: Any, limit: int) -> _Plan[pa.Table]:
        t = yield from self._ticks(f"/v3/trades/{massive_ticker(symbol)}", start, end, limit)
        return _trades(t, symbol)

    def plan_quotes(self, symbol: str, start: Any, end: Any, limit: int) -> _Plan[pa.Table]:
        t = yield from self._ticks(f"/v3/quotes/{massive_ticker(symbol)}", start, end, limit)
        return _quotes(t, symbol)

    def plan_option_chain(self, underlying: str, params: dict[str, Any]) -> _Plan[pa.Table]:
        tables = yield from self._pages(self._url(f"/v3/snapshot/options/{underlying}", {"limit": 250, **params}))
        return _chain(self._concat(tables))


class MassiveClient(_MassiveApi):
    """Synchronous Massive REST client (see the module docstring).

    ``MassiveClient(api_key=None, base_url=None, timeout=None, backoff=None)``: an argument left
    out comes from the ``QE_*`` settings (:func:`quant_engine.feeds.config.settings`:
    ``QE_MASSIVE_API_KEY``, ``QE_MASSIVE_BASE_URL``, ``QE_HTTP_TIMEOUT``, ``QE_HTTP_RETRIES``).
    """

    def __init__(
        self,
        api_key: str | Secret | None = None,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        backoff: Backoff | None = None,
    ):
        super().__init__(api_key, base_url, timeout, backoff)
        self._http = httpx.Client(timeout=self.timeout, headers=self._headers())

    def close(self) -> None:
        """Closes the connection pool."""
        self._http.close()

    def __enter__(self) -> MassiveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, url: str) -> _Page:
        attempt = 0
        while True:
            self.requests += 1
            try:
                r = self._http.get(url)
                out = self._response(url, r.status_code, r.content, r.headers.get("Retry-After"), attempt)
            except httpx.HTTPError as exc:
                out = self._response(url, -1, type(exc).__name__.encode(), None, attempt)
            if isinstance(out, _Page):
                return out
            time.sleep(out)
            attempt += 1

    def _run(self, plan: _Plan[T]) -> T:
        try:
            url = next(plan)
            while True:
                url = plan.send(self._get(url))
        except StopIteration as stop:
            return stop.value

    def aggregates(
        self, symbol: str, multiplier: int, timespan: str, start: Any, end: Any, *, adjusted: bool = True
    ) -> pa.Table:
        """Bars of ``multiplier`` x ``timespan`` over ``[start, end)`` (bar schema)."""
        return self._run(self.plan_aggregates(symbol, multiplier, timespan, start, end, adjusted))

    def grouped_daily(self, date: str, *, adjusted: bool = True, include_otc: bool = False) -> pa.Table:
        """Daily bars of every ticker on ``date`` (``YYYY-MM-DD``), in one table."""
        return self._run(self.plan_grouped_daily(date, adjusted, include_otc))

    def trades(self, symbol: str, start: Any, end: Any, *, limit: int = 50000) -> pa.Table:
        """Trades in ``[start, end)``, oldest first (trade schema)."""
        return self._run(self.plan_trades(symbol, start, end, limit))

    def quotes(self, symbol: str, start: Any, end: Any, *, limit: int = 50000) -> pa.Table:
        """Quotes in ``[start, end)``, oldest first (vendor quote schema)."""
        return self._run(self.plan_quotes(symbol, start, end, limit))

    def option_chain(self, underlying: str, **params: Any) -> pa.Table:
        """The options chain snapshot (every page), flattened: contract, expiration, strike,
        right, quote, last trade, implied volatility, delta/gamma/theta/vega, open interest.
        ``params`` are vendor filters (``expiration_date``, ``contract_type``, ``strike_price.gte``...)."""
        return self._run(self.plan_option_chain(underlying, params))

    def status(self) -> EngineStatus:
        """Health, probed now: one request to ``/v1/marketstatus/now`` (no retry, at most 3 s):
        offline when nothing answers or the key is refused (401), degraded when throttled, not
        entitled or failing (5xx); then recent outcomes (offline after 3 consecutive failures, degraded after
        a failure), else online."""
        url = self._url(_PROBE_PATH)
        try:
            r = self._http.get(url, timeout=min(self.timeout, 3.0))
        except httpx.HTTPError as exc:
            return _probe_status(self, -1, f"{type(exc).__name__}: {exc}".encode())
        return _probe_status(self, r.status_code, r.content)


class AsyncMassiveClient(_MassiveApi):
    """Asynchronous Massive REST client: the same methods as :class:`MassiveClient` (arguments
    left out come from the ``QE_*`` settings)."""

    def __init__(
        self,
        api_key: str | Secret | None = None,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        backoff: Backoff | None = None,
    ):
        super().__init__(api_key, base_url, timeout, backoff)
        self._http = httpx.AsyncClient(timeout=self.timeout, headers=self._headers())

    async def aclose(self) -> None:
        """Closes the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMassiveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get(self, url: str) -> _Page:
        attempt = 0
        while True:
            self.requests += 1
            try:
                r = await self._http.get(url)
                out = self._response(url, r.status_code, r.content, r.headers.get("Retry-After"), attempt)
            except httpx.HTTPError as exc:
                out = self._response(url, -1, type(exc).__name__.encode(), None, attempt)
            if isinstance(out, _Page):
                return out
            await asyncio.sleep(out)
            attempt += 1

    async def _run(self, plan: _Plan[T]) -> T:
        try:
            url = next(plan)
            while True:
                url = plan.send(await self._get(url))
        except StopIteration as stop:
            return stop.value

    async def aggregates(
        self, symbol: str, multiplier: int, timespan: str, start: Any, end: Any, *, adjusted: bool = True
    ) -> pa.Table:
        """See :meth:`MassiveClient.aggregates`."""
        return await self._run(self.plan_aggregates(symbol, multiplier, timespan, start, end, adjusted))

    async def grouped_daily(self, date: str, *, adjusted: bool = True, include_otc: bool = False) -> pa.Table:
        """See :meth:`MassiveClient.grouped_daily`."""
        return await self._run(self.plan_grouped_daily(date, adjusted, include_otc))

    async def trades(self, symbol: str, start: Any, end: Any, *, limit: int = 50000) -> pa.Table:
        """See :meth:`MassiveClient.trades`."""
        return await self._run(self.plan_trades(symbol, start, end, limit))

    async def trades_for(self, symbol: str, start_ns: int, end_ns_inclusive: int) -> pa.Table:
        """Trades over an inclusive range (the stream's backfill function). Times are floored to
        milliseconds, the stream's resolution, so recovered and live trades order alike."""
        lo = start_ns - start_ns % _MS
        t = await self.trades(symbol, lo, end_ns_inclusive - end_ns_inclusive % _MS + _MS)
        if not t.num_rows:
            return t
        ms = pc.multiply(pc.divide(pc.cast(t.column("ts"), pa.int64()), _MS), _MS)
        return t.set_column(0, "ts", pc.cast(ms, TIMESTAMP))

    async def quotes(self, symbol: str, start: Any, end: Any, *, limit: int = 50000) -> pa.Table:
        """See :meth:`MassiveClient.quotes`."""
        return await self._run(self.plan_quotes(symbol, start, end, limit))

    async def option_chain(self, underlying: str, **params: Any) -> pa.Table:
        """See :meth:`MassiveClient.option_chain`."""
        return await self._run(self.plan_option_chain(underlying, params))

    async def status(self) -> EngineStatus:
        """See :meth:`MassiveClient.status`."""
        url = self._url(_PROBE_PATH)
        try:
            r = await self._http.get(url, timeout=min(self.timeout, 3.0))
        except httpx.HTTPError as exc:
            return _probe_status(self, -1, f"{type(exc).__name__}: {exc}".encode())
        return _probe_status(self, r.status_code, r.content)


_PROBE_PATH = "/v1/marketstatus/now"
"""The vendor's lightest authenticated endpoint: the health probe."""


def _probe_status(c: _MassiveApi, status: int, body: bytes) -> EngineStatus:
    """The status after a probe answered ``status`` (-1: nothing answered; ``body`` says why)."""
    details = {"base_url": c.base_url, "requests": c.requests, "throttled": c.throttled, "probe": status}
    if status == -1:
        return EngineStatus(
            "massive", "offline", f"not reachable at {c.base_url}: {body.decode(errors='replace')}", details=details
        )
    if status != 200:
        err = c._error(status, body, c._url(_PROBE_PATH))
        if status == 401:
            return EngineStatus(
                "massive", "offline", f"unauthorized: {err} (check QE_MASSIVE_API_KEY)", details=details
            )
        return EngineStatus("massive", "degraded", str(err), details=details)  # 403, 429, 5xx: answering
    return _status(c, details)


def _status(c: _MassiveApi, details: dict[str, Any]) -> EngineStatus:
    if c.consecutive_failures >= 3:
        return EngineStatus(
            "massive", "offline", f"{c.consecutive_failures} failures in a row: {c.last_error}", details=details
        )
    if c.consecutive_failures:
        return EngineStatus("massive", "degraded", f"last request failed: {c.last_error}", details=details)
    return EngineStatus("massive", "online", "", details=details)


class MassiveStream(LiveStream):
    """The Massive WebSocket (``<ws base>/stocks`` or ``/options``): trades, quotes and minute
    aggregates, batched arrays decoded in Rust. ``rest`` (an :class:`AsyncMassiveClient`)
    backfills trades lost while disconnected. ``url`` and ``api_key`` default to the ``QE_*``
    settings (``QE_MASSIVE_WS_URL`` + ``/stocks``, ``QE_MASSIVE_API_KEY``)."""

    engine = "massive"
    kinds = ("trades", "quotes", "bars")

    def __init__(
        self,
        url: str | None = None,
        api_key: str | Secret | None = None,
        *,
        rest: AsyncMassiveClient | None = None,
        **kwargs: Any,
    ) -> None:
        cfg = settings()
        url = cfg.massive_ws_url + "/stocks" if url is None else url
        self._key = (
            cfg.massive_api_key if api_key is None else api_key if isinstance(api_key, Secret) else Secret(api_key)
        )
        if not self._key:
            raise VendorAuthError("Massive API key missing (set QE_MASSIVE_API_KEY)", vendor="massive", status=401)
        self.rest = rest
        kwargs.setdefault("silence_timeout", 30.0)
        kwargs.setdefault("ping_interval", 10.0)
        super().__init__(url, backfill=rest.trades_for if rest is not None else None, **kwargs)
        self.statuses: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"MassiveStream(url={self.url!r}, api_key=***, subscriptions={len(self._subs)})"

    @staticmethod
    def _channel(sub: Subscription) -> str:
        prefix = {"trades": "T.", "quotes": "Q.", "bars": "AM."}[sub.kind]
        return prefix + massive_ticker(sub.symbol)

    async def _send_subscriptions(self, ws: RawWebSocket, subs: list[Subscription], *, add: bool, wait: bool) -> None:
        if not subs:
            return
        params = ",".join(self._channel(s) for s in subs)
        await ws.send_text(json.dumps({"action": "subscribe" if add else "unsubscribe", "params": params}))

    async def _on_open(self, ws: RawWebSocket) -> None:
        """Nothing to send yet: the server speaks first (``connected``)."""

    async def _on_event(self, ws: RawWebSocket, kind: str, payload: bytes) -> None:
        if kind != "status":
            return
        try:
            ev = json.loads(payload)
        except ValueError:
            return
        status = str(ev.get("status", ""))
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status in ("connected", "success") and not self._ready and "auth" not in str(ev.get("message", "")).lower():
            if status == "connected" or "connected" in str(ev.get("message", "")).lower():
                await ws.send_text(json.dumps({"action": "auth", "params": self._key.reveal()}))
        elif status == "auth_success":
            self._mark_ready()
            await self._send_subscriptions(ws, list(self._subs), add=True, wait=False)
        elif status in ("auth_failed", "auth_timeout"):
            raise VendorAuthError(f"Massive stream authentication failed ({status})", vendor="massive", code=status)
        elif status in ("max_connections", "force_disconnect", "slow_consumer", "error", "auth_required"):
            log.warning("massive stream status %s: %s", status, ev.get("message", ""))
