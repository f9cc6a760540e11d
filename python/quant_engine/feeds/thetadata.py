"""ThetaData through the locally running Theta Terminal: the v3 REST API (sync and async,
``httpx``) and the stream (``/v1/events`` on the terminal's WebSocket port).

REST: every method returns a ``pyarrow.Table``. Bodies are requested as CSV (the vendor's
default) and parsed by Arrow's CSV reader straight into columns; the New York wall-clock
timestamps become ``timestamp[ns, UTC]`` once, vectorized. Vendor codes map to typed exceptions
(:mod:`quant_engine.errors`): 472 NO_DATA is an empty table, 429/474/571 (and 5xx, dropped or
stalled connections) are retried with exponential backoff, 570 LARGE_REQUEST splits the time
window, anything else raises at once. A truncated last CSV line (no line end) and short rows are
dropped and counted (:attr:`ThetaDataClient.rows_dropped`).

Time ranges are UTC instants ``[start, end)`` (``int`` ns, ``datetime``, ISO strings). They are
split into New York days (one request per day: ``date`` plus ``start_time``/``end_time``).

Stream: :class:`ThetaDataStream` (see :mod:`quant_engine.feeds.stream`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pyarrow as pa

from quant_engine.errors import (
    InvalidArgumentError,
    LargeRequestError,
    NoDataError,
    VendorError,
    VendorPermissionError,
    VendorRateLimitError,
    VendorRequestError,
    VendorServerError,
    VendorUnavailableError,
)
from quant_engine.feeds.config import settings
from quant_engine.feeds.health import EngineStatus
from quant_engine.feeds.newyork import ny_windows
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.stream import LiveStream, Subscription
from quant_engine.feeds.theta_tables import PARSERS as _PARSERS
from quant_engine.feeds.theta_tables import concat as _concat
from quant_engine.feeds.theta_tables import csv_table as _csv_table
from quant_engine.feeds.theta_tables import empty as _empty
from quant_engine.feeds.theta_tables import filter_range as _filter_range
from quant_engine.feeds.theta_tables import ns as _ns
from quant_engine.feeds.websocket import RawWebSocket
from quant_engine.instruments import parse_option_symbol as parse_occ

__all__ = [
    "ThetaDataClient",
    "AsyncThetaDataClient",
    "ThetaDataStream",
    "THETA_ERRORS",
    "option_symbol",
    "parse_option_symbol",
]

log = logging.getLogger("quant_engine.feeds.thetadata")

THETA_ERRORS: dict[int, tuple[str, type[VendorError]]] = {
    400: ("INVALID_PARAMS", VendorRequestError),
    404: ("NO_IMPL", VendorRequestError),
    410: ("GONE", VendorRequestError),
    429: ("OS_LIMIT", VendorRateLimitError),
    470: ("GENERAL", VendorServerError),
    471: ("PERMISSION", VendorPermissionError),
    472: ("NO_DATA", NoDataError),
    473: ("INVALID_PARAMS", VendorRequestError),
    474: ("DISCONNECTED", VendorUnavailableError),
    475: ("TERMINAL_PARSE", VendorRequestError),
    476: ("WRONG_IP", VendorPermissionError),
    477: ("NO_PAGE_FOUND", VendorServerError),
    478: ("INVALID_SESSION_ID", VendorPermissionError),
    570: ("LARGE_REQUEST", LargeRequestError),
    571: ("SERVER_STARTING", VendorUnavailableError),
    572: ("UNCAUGHT_ERROR", VendorServerError),
}
"""ThetaData status codes: name and exception class."""

_RETRYABLE = {429, 474, 571, 500, 502, 503, 504}
_MIN_SPLIT_NS = 60 * 1_000_000_000
_OHLC_INTERVAL_MS = {
    "10ms": 10,
    "100ms": 100,
    "500ms": 500,
    "1s": 1000,
    "5s": 5000,
    "10s": 10_000,
    "15s": 15_000,
    "30s": 30_000,
    "1m": 60_000,
    "5m": 300_000,
    "10m": 600_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
}
_GREEK_ORDERS = ("first_order", "second_order", "third_order", "all", "implied_volatility")


def option_symbol(root: str, expiration: str, right: str, strike: float) -> str:
    """The OSI-style symbol ``ROOT`` + ``YYMMDD`` + ``C|P`` + strike x 1000 on 8 digits."""
    exp = expiration.replace("-", "")
    if len(exp) != 8 or not exp.isdigit():
        raise InvalidArgumentError(f"invalid expiration: {expiration!r} (expected YYYYMMDD or YYYY-MM-DD)")
    r = right.strip().upper()[:1]
    if r not in ("C", "P"):
        raise InvalidArgumentError(f"invalid right: {right!r} (expected call or put)")
    return f"{root}{exp[2:]}{r}{round(strike * 1000):08d}"


def parse_option_symbol(symbol: str) -> tuple[str, str, str, int] | None:
    """``(root, YYYYMMDD, C|P, strike in tenths of a cent)`` of an OSI-style symbol (compact,
    OCC-padded or Massive ``O:``), or None for anything else (a stock). The one option-symbol
    parser of the package does the work (:func:`quant_engine.instruments.parse_option_symbol`)."""
    try:
        terms = parse_occ(symbol)
    except InvalidArgumentError:
        return None
    return str(terms["root"]), str(terms["expiry"]), str(terms["right"]), int(terms["strike_milli"])


@dataclass(frozen=True)
class _Request:
    path: str
    params: dict[str, str]
    kind: str
    symbol: str = ""
    window: tuple[int, int] | None = None


T = TypeVar("T")
_Plan = Generator[_Request, pa.Table, T]


class _ThetaApi:
    """Request plans and response handling shared by the sync and async clients."""

    engine = "thetadata"

    def __init__(self, base_url: str | None, timeout: float | None, backoff: Backoff | None) -> None:
        cfg = settings()
        base_url = cfg.theta_base_url if base_url is None else base_url
        if not base_url.startswith(("http://", "https://")):
            raise InvalidArgumentError(f"invalid base_url: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = cfg.http_timeout if timeout is None else timeout
        self.backoff = Backoff(retries=cfg.http_retries) if backoff is None else backoff
        self.rows_dropped = 0
        self.empty_bars_dropped = 0
        self.requests = 0
        self.retries = 0
        self.last_error = ""
        self.last_ok = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # ---- plans: generators that yield requests and receive parsed tables
    def _windowed(
        self, path: str, kind: str, symbol: str, start: Any, end: Any, extra: dict[str, str]
    ) -> _Plan[pa.Table]:
        s, e = _ns(start, "start"), _ns(end, "end")
        if e <= s:
            raise InvalidArgumentError("invalid range: end must be after start")
        tables = []
        for date, t0, t1 in ny_windows(s, e):
            params = {"symbol": symbol, "date": date, "start_time": t0, "end_time": t1, **extra}
            tables.append((yield _Request(path, params, kind, symbol, (s, e))))
        out = _concat(tables, kind)
        return _filter_range(out, "start" if kind == "bars" else "ts", s, e)

    @staticmethod
    def _option_extra(expiration: str, strike: str | float, right: str) -> dict[str, str]:
        strike_s = strike if isinstance(strike, str) else f"{float(strike):.3f}"
        return {"expiration": expiration.replace("-", ""), "strike": strike_s, "right": right.lower()}

    def plan_stock_trades(self, symbol: str, start: Any, end: Any) -> _Plan[pa.Table]:
        return self._windowed("/v3/stock/history/trade", "trades", symbol, start, end, {})

    def plan_stock_quotes(self, symbol: str, start: Any, end: Any, interval: str) -> _Plan[pa.Table]:
        return self._windowed("/v3/stock/history/quote", "quotes", symbol, start, end, {"interval": interval})

    def plan_stock_ohlc(self, symbol: str, start: Any, end: Any, interval: str) -> _Plan[pa.Table]:
        """Bars on the engine's grid (multiples of the interval since the epoch, as
        :func:`quant_engine.bars.aggregate_ticks` with the default origin): the vendor anchors its
        bars at ``start_time``, so the start is floored to the grid before asking (the bar
        holding ``start`` comes whole)."""
        ivl_ms = _OHLC_INTERVAL_MS.get(interval)
        if ivl_ms is None:
            raise InvalidArgumentError(f"invalid interval: {interval!r} (expected one of {sorted(_OHLC_INTERVAL_MS)})")
        s = _ns(start, "start")
        s -= s % (ivl_ms * 1_000_000)
        return self._windowed("/v3/stock/history/ohlc", "bars", symbol, s, end, {"interval": interval})

    def plan_option_trades(
        self, symbol: str, expiration: str, start: Any, end: Any, strike: str | float, right: str
    ) -> _Plan[pa.Table]:
        extra = self._option_extra(expiration, strike, right)
        return self._windowed("/v3/option/history/trade", "trades", symbol, start, end, extra)

    def plan_option_quotes(
        self, symbol: str, expiration: str, start: Any, end: Any, strike: str | float, right: str, interval: str
    ) -> _Plan[pa.Table]:
        extra = {**self._option_extra(expiration, strike, right), "interval": interval}
        return self._windowed("/v3/option/history/quote", "quotes", symbol, start, end, extra)

    def plan_greeks_history(
        self,
        symbol: str,
        expiration: str,
        date: str,
        order: str,
        interval: str,
        strike: str | float,
        right: str,
        params: dict[str, str],
    ) -> _Plan[pa.Table]:
        """Interval Greeks of one day (the vendor refuses ``expiration='*'`` there: so do we)."""
        if order not in _GREEK_ORDERS:
            raise InvalidArgumentError(f"invalid order: {order!r} (expected one of {_GREEK_ORDERS})")
        if expiration == "*":
            raise InvalidArgumentError("expiration '*' is not allowed for interval greeks (vendor rule)")
        p = {
            "symbol": symbol,
            "date": date.replace("-", ""),
            "interval": interval,
            **self._option_extra(expiration, strike, right),
            **params,
        }
        return (yield from self.plan_single(f"/v3/option/history/greeks/{order}", p, symbol=symbol))

    def plan_single(self, path: str, params: dict[str, str], kind: str = "raw", symbol: str = "") -> _Plan[pa.Table]:
        return (yield _Request(path, params, kind, symbol))

    def plan_trades_for(self, symbol: str, start_ns: int, end_ns_inclusive: int) -> _Plan[pa.Table]:
        """Trades of a stock or an OSI-style option symbol over an inclusive range (backfill)."""
        end = end_ns_inclusive + 1_000_000
        opt = parse_option_symbol(symbol)
        if opt is None:
            return (yield from self.plan_stock_trades(symbol, start_ns, end))
        root, exp, right, strike = opt
        t = yield from self.plan_option_trades(
            root, exp, start_ns, end, strike / 1000.0, "call" if right == "C" else "put"
        )
        return t

    # ---- responses
    def _error(self, status: int, text: str, req: _Request) -> VendorError:
        name, cls = THETA_ERRORS.get(status, ("HTTP", VendorServerError if status >= 500 else VendorRequestError))
        msg = f"ThetaData {status} {name} on {req.path}: {text.strip()[:300] or 'no message'}"
        return cls(msg, vendor="thetadata", status=status, code=name)

    def _failure(self, status: int, body: bytes, req: _Request, err: Exception | None, retried: bool) -> VendorError:
        """The exception for a final failure (after retries when ``retried``)."""
        if err is not None:
            exc: VendorError = VendorUnavailableError(
                f"ThetaData terminal at {self.base_url} unreachable on {req.path}: {type(err).__name__}: {err}",
                vendor="thetadata",
            )
        else:
            exc = self._error(status, body.decode(errors="replace"), req)
            if retried and isinstance(exc, VendorServerError):
                exc = VendorUnavailableError(str(exc), vendor="thetadata", status=status)
        self.last_error = str(exc)
        return exc

    def _outcome(
        self, req: _Request, status: int, body: bytes, err: httpx.HTTPError | None, attempt: int
    ) -> pa.Table | list[_Request] | float:
        """What one response means (``status`` -1: transport error ``err``): the result table
        (200; 472 "no data" is an empty table), the sub-requests a too-long range splits into
        (570), or the delay before retry ``attempt + 1``; raises the typed error otherwise."""
        if status == 200:
            self.last_ok = time.time()
            return self._parse(body, req)
        if status == 472:
            return _empty(req.kind)
        if status == 570:
            parts = self._split(req)
            if parts is None:
                raise self._error(status, body.decode(errors="replace"), req)
            return parts
        retryable = status in _RETRYABLE or status == -1
        if not retryable or attempt >= self.backoff.retries:
            raise self._failure(status, body, req, err, retryable)
        self.retries += 1
        return float(self.backoff.delay(attempt))

    def _parse(self, body: bytes, req: _Request) -> pa.Table:
        counter = [0, 0]  # malformed rows dropped, empty (all-zero) bars dropped
        table = _csv_table(body, counter)
        out = _PARSERS[req.kind](table, req.symbol, counter)
        self.empty_bars_dropped += counter[1]
        if counter[0]:
            self.rows_dropped += counter[0]
            log.warning("thetadata %s: dropped %d malformed row(s)", req.path, counter[0])
        return out

    def _params(self, req: _Request) -> dict[str, str]:
        return {**req.params, "format": "csv"}

    @staticmethod
    def _split(req: _Request) -> list[_Request] | None:
        """Halves a one-day request's time window (for 570 LARGE_REQUEST)."""
        p = req.params
        if "start_time" not in p or "end_time" not in p:
            return None

        def ms(hms: str) -> int:
            h, m, s = hms.split(":")
            return (int(h) * 3600 + int(m) * 60) * 1000 + round(float(s) * 1000)

        def fmt(v: int) -> str:
            return f"{v // 3_600_000:02d}:{v // 60_000 % 60:02d}:{v // 1000 % 60:02d}.{v % 1000:03d}"

        a, b = ms(p["start_time"]), ms(p["end_time"])
        if (b - a) * 1_000_000 < _MIN_SPLIT_NS:
            return None
        mid = (a + b) // 2 + 1  # the second half's start
        step = _OHLC_INTERVAL_MS.get(p.get("interval", ""), 0) if req.kind == "bars" else 0
        if step:  # bars: split on the grid, so both halves stay anchored on it
            mid -= mid % step
            if mid <= a:
                return None
        return [
            _Request(req.path, {**p, "start_time": fmt(a), "end_time": fmt(mid - 1)}, req.kind, req.symbol),
            _Request(req.path, {**p, "start_time": fmt(mid), "end_time": fmt(b)}, req.kind, req.symbol),
        ]


class ThetaDataClient(_ThetaApi):
    """Synchronous ThetaData v3 REST client (see the module docstring).

    ``ThetaDataClient(base_url=None, timeout=None, backoff=None)``: an argument left out comes
    from the ``QE_*`` settings (:func:`quant_engine.feeds.config.settings`: ``QE_THETA_BASE_URL``,
    ``QE_HTTP_TIMEOUT``, ``QE_HTTP_RETRIES``; defaults ``http://127.0.0.1:25503``, 30 s, 5).
    """

    def __init__(self, base_url: str | None = None, *, timeout: float | None = None, backoff: Backoff | None = None):
        super().__init__(base_url, timeout, backoff)
        self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout)

    def close(self) -> None:
        """Closes the connection pool."""
        self._http.close()

    def __enter__(self) -> ThetaDataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, plan: _Plan[T]) -> T:
        try:
            req = next(plan)
            while True:
                req = plan.send(self._execute(req))
        except StopIteration as stop:
            return stop.value

    def _execute(self, req: _Request) -> pa.Table:
        attempt = 0
        while True:
            self.requests += 1
            try:
                r = self._http.get(req.path, params=self._params(req))
                out = self._outcome(req, r.status_code, r.content, None, attempt)
            except httpx.HTTPError as exc:
                out = self._outcome(req, -1, b"", exc, attempt)
            if isinstance(out, float):
                time.sleep(out)
                attempt += 1
            elif isinstance(out, list):
                return _concat([self._execute(p) for p in out], req.kind)
            else:
                return out

    # ---- public endpoints
    def stock_trades(self, symbol: str, start: Any, end: Any) -> pa.Table:
        """Trades of a stock in ``[start, end)`` (trade schema)."""
        return self._run(self.plan_stock_trades(symbol, start, end))

    def stock_quotes(self, symbol: str, start: Any, end: Any, interval: str = "tick") -> pa.Table:
        """Quotes (NBBO) of a stock (vendor quote schema); ``interval`` as the vendor's."""
        return self._run(self.plan_stock_quotes(symbol, start, end, interval))

    def stock_ohlc(self, symbol: str, start: Any, end: Any, interval: str = "1m") -> pa.Table:
        """OHLC bars of a stock (bar schema; ``trades`` is the vendor's count)."""
        return self._run(self.plan_stock_ohlc(symbol, start, end, interval))

    def option_expirations(self, symbol: str) -> pa.Table:
        """Expirations of an option root: ``symbol, expiration`` (date)."""
        return self._run(self.plan_single("/v3/option/list/expirations", {"symbol": symbol}))

    def option_strikes(self, symbol: str, expiration: str) -> pa.Table:
        """Strikes of one expiration (the vendor returns them unsorted; they come back sorted)."""
        t = self._run(
            self.plan_single("/v3/option/list/strikes", {"symbol": symbol, "expiration": expiration.replace("-", "")})
        )
        return t.sort_by("strike") if t.num_rows else t

    def option_trades(
        self, symbol: str, expiration: str, start: Any, end: Any, *, strike: str | float = "*", right: str = "both"
    ) -> pa.Table:
        """Option trades (trade schema; ``symbol`` is the OSI-style contract symbol)."""
        return self._run(self.plan_option_trades(symbol, expiration, start, end, strike, right))

    def option_quotes(
        self,
        symbol: str,
        expiration: str,
        start: Any,
        end: Any,
        *,
        strike: str | float = "*",
        right: str = "both",
        interval: str = "tick",
    ) -> pa.Table:
        """Option quotes (vendor quote schema, OSI-style symbols)."""
        return self._run(self.plan_option_quotes(symbol, expiration, start, end, strike, right, interval))

    def greeks_snapshot(
        self, symbol: str, expiration: str = "*", order: str = "first_order", **params: str
    ) -> pa.Table:
        """Greeks snapshot of a chain: ``order`` is ``first_order`` (delta, theta, vega, rho,
        epsilon, lambda), ``second_order`` (gamma, vanna, charm, vomma, veta), ``third_order``
        (speed, zomma, color, ultima) or ``all``; vendor columns, UTC timestamps."""
        if order not in _GREEK_ORDERS[:4]:
            raise InvalidArgumentError(f"invalid order: {order!r} (expected one of {_GREEK_ORDERS[:4]})")
        p = {"symbol": symbol, "expiration": expiration.replace("-", ""), **params}
        return self._run(self.plan_single(f"/v3/option/snapshot/greeks/{order}", p))

    def greeks_history(
        self,
        symbol: str,
        expiration: str,
        date: str,
        order: str = "first_order",
        *,
        interval: str = "1m",
        strike: str | float = "*",
        right: str = "both",
        **params: str,
    ) -> pa.Table:
        """Greeks history of one day, one row per ``interval`` boundary and contract, computed by
        the terminal from quote midpoints: ``order`` as for snapshots, or ``implied_volatility``
        (``bid_implied_vol, midpoint, implied_vol, ask_implied_vol``); vendor columns, UTC
        timestamps, ``expiration`` as dates, an OSI-style ``contract`` column. Extra vendor
        parameters (``rate_type``, ``rate_value`` in percent, ``annual_dividend``) pass through.
        ``expiration='*'`` is refused (the vendor's rule)."""
        return self._run(self.plan_greeks_history(symbol, expiration, date, order, interval, strike, right, params))

    def terminal_status(self) -> dict[str, str]:
        """``{"mdds": ..., "fpss": ...}``: ``CONNECTED | UNVERIFIED | DISCONNECTED | ERROR``, or
        ``UNREACHABLE (<error>)`` when the terminal does not answer."""
        out = {}
        for name in ("mdds", "fpss"):
            try:
                r = self._http.get(f"/v3/terminal/{name}/status", timeout=min(self.timeout, 3.0))
                out[name] = r.text.strip() if r.status_code == 200 else f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                out[name] = f"UNREACHABLE ({type(exc).__name__})"
        return out

    def status(self) -> EngineStatus:
        """The terminal's health, probed now (see :func:`terminal_health`)."""
        return terminal_health(self.base_url, self.terminal_status())


def terminal_health(base_url: str, s: dict[str, str]) -> EngineStatus:
    """The engine status from the terminal's ``mdds`` (history) and ``fpss`` (streaming) states:
    ``offline`` when the terminal does not answer, ``degraded`` when either side is not
    ``CONNECTED`` (history or streaming unavailable), ``online`` otherwise."""
    details = {"base_url": base_url, **s}
    if s["mdds"].startswith("UNREACHABLE"):
        return EngineStatus(
            "thetadata", "offline", f"terminal not reachable at {base_url}: {s['mdds']}", details=details
        )
    bad = [
        f"{label} {s[name]}"
        for name, label in (("mdds", "history (MDDS)"), ("fpss", "streaming (FPSS)"))
        if s[name] != "CONNECTED"
    ]
    if bad:
        return EngineStatus("thetadata", "degraded", "terminal up, " + ", ".join(bad), details=details)
    return EngineStatus("thetadata", "online", "", details=details)


class AsyncThetaDataClient(_ThetaApi):
    """Asynchronous ThetaData v3 REST client: the same methods as :class:`ThetaDataClient`,
    as coroutines (arguments left out come from the ``QE_*`` settings)."""

    def __init__(self, base_url: str | None = None, *, timeout: float | None = None, backoff: Backoff | None = None):
        super().__init__(base_url, timeout, backoff)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout)

    async def aclose(self) -> None:
        """Closes the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncThetaDataClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self, plan: _Plan[T]) -> T:
        try:
            req = next(plan)
            while True:
                req = plan.send(await self._execute(req))
        except StopIteration as stop:
            return stop.value

    async def _execute(self, req: _Request) -> pa.Table:
        attempt = 0
        while True:
            self.requests += 1
            try:
                r = await self._http.get(req.path, params=self._params(req))
                out = self._outcome(req, r.status_code, r.content, None, attempt)
            except httpx.HTTPError as exc:
                out = self._outcome(req, -1, b"", exc, attempt)
            if isinstance(out, float):
                await asyncio.sleep(out)
                attempt += 1
            elif isinstance(out, list):
                return _concat([await self._execute(p) for p in out], req.kind)
            else:
                return out

    async def stock_trades(self, symbol: str, start: Any, end: Any) -> pa.Table:
        """Trades of a stock in ``[start, end)``."""
        return await self._run(self.plan_stock_trades(symbol, start, end))

    async def stock_quotes(self, symbol: str, start: Any, end: Any, interval: str = "tick") -> pa.Table:
        """Quotes of a stock."""
        return await self._run(self.plan_stock_quotes(symbol, start, end, interval))

    async def stock_ohlc(self, symbol: str, start: Any, end: Any, interval: str = "1m") -> pa.Table:
        """OHLC bars of a stock."""
        return await self._run(self.plan_stock_ohlc(symbol, start, end, interval))

    async def option_trades(
        self, symbol: str, expiration: str, start: Any, end: Any, *, strike: str | float = "*", right: str = "both"
    ) -> pa.Table:
        """Option trades."""
        return await self._run(self.plan_option_trades(symbol, expiration, start, end, strike, right))

    async def option_quotes(
        self,
        symbol: str,
        expiration: str,
        start: Any,
        end: Any,
        *,
        strike: str | float = "*",
        right: str = "both",
        interval: str = "tick",
    ) -> pa.Table:
        """Option quotes (see :meth:`ThetaDataClient.option_quotes`)."""
        return await self._run(self.plan_option_quotes(symbol, expiration, start, end, strike, right, interval))

    async def option_expirations(self, symbol: str) -> pa.Table:
        """Expirations of an option root (see :meth:`ThetaDataClient.option_expirations`)."""
        return await self._run(self.plan_single("/v3/option/list/expirations", {"symbol": symbol}))

    async def option_strikes(self, symbol: str, expiration: str) -> pa.Table:
        """Strikes of one expiration, sorted (see :meth:`ThetaDataClient.option_strikes`)."""
        t = await self._run(
            self.plan_single("/v3/option/list/strikes", {"symbol": symbol, "expiration": expiration.replace("-", "")})
        )
        return t.sort_by("strike") if t.num_rows else t

    async def greeks_history(
        self,
        symbol: str,
        expiration: str,
        date: str,
        order: str = "first_order",
        *,
        interval: str = "1m",
        strike: str | float = "*",
        right: str = "both",
        **params: str,
    ) -> pa.Table:
        """Greeks history of one day (see :meth:`ThetaDataClient.greeks_history`)."""
        return await self._run(
            self.plan_greeks_history(symbol, expiration, date, order, interval, strike, right, params)
        )

    async def trades_for(self, symbol: str, start_ns: int, end_ns_inclusive: int) -> pa.Table:
        """Trades of a stock or OSI-style option symbol over an inclusive range (the stream's
        backfill function)."""
        return await self._run(self.plan_trades_for(symbol, start_ns, end_ns_inclusive))

    async def greeks_snapshot(
        self, symbol: str, expiration: str = "*", order: str = "first_order", **params: str
    ) -> pa.Table:
        """Greeks snapshot of a chain (see :meth:`ThetaDataClient.greeks_snapshot`)."""
        if order not in _GREEK_ORDERS[:4]:
            raise InvalidArgumentError(f"invalid order: {order!r}")
        p = {"symbol": symbol, "expiration": expiration.replace("-", ""), **params}
        return await self._run(self.plan_single(f"/v3/option/snapshot/greeks/{order}", p))

    async def terminal_status(self) -> dict[str, str]:
        """See :meth:`ThetaDataClient.terminal_status`."""
        out = {}
        for name in ("mdds", "fpss"):
            try:
                r = await self._http.get(f"/v3/terminal/{name}/status", timeout=min(self.timeout, 3.0))
                out[name] = r.text.strip() if r.status_code == 200 else f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                out[name] = f"UNREACHABLE ({type(exc).__name__})"
        return out

    async def status(self) -> EngineStatus:
        """See :meth:`ThetaDataClient.status`."""
        return terminal_health(self.base_url, await self.terminal_status())


class ThetaDataStream(LiveStream):
    """The terminal's stream (``ws://127.0.0.1:25520/v1/events``): trades and quotes of stocks
    and options, decoded in Rust into Arrow batches.

    Requests carry incrementing ids (every request, resubscriptions included); the terminal's
    ``REQ_RESPONSE`` acknowledges them (``SUBSCRIBED``, or ``ERROR`` / ``MAX_STREAMS_REACHED`` /
    ``INVALID_PERMS``, raised by :meth:`subscribe`). ``STATUS`` heartbeats arrive every second:
    3 s of silence reconnects; ``DISCONNECTED`` upstream makes the stream ``degraded`` and opens a
    gap that is backfilled over REST (``rest``) when data resumes. ``url`` defaults to
    ``QE_THETA_WS_URL`` (``ws://127.0.0.1:25520/v1/events``).
    """

    engine = "thetadata"

    def __init__(self, url: str | None = None, *, rest: AsyncThetaDataClient | None = None, **kwargs: Any):
        self.rest = rest
        backfill = rest.trades_for if rest is not None else None
        super().__init__(settings().theta_ws_url if url is None else url, backfill=backfill, **kwargs)
        self._next_id = 0
        self._acks: dict[int, asyncio.Future[str]] = {}
        self.responses: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ThetaDataStream(url={self.url!r}, subscriptions={len(self._subs)}, state={self.status().state})"

    def _request(self, sub: Subscription, add: bool) -> tuple[int, bytes]:
        rid = self._next_id
        self._next_id += 1
        opt = parse_option_symbol(sub.symbol)
        contract: dict[str, Any]
        if opt is None:
            sec, contract = "STOCK", {"root": sub.symbol}
        else:
            root, exp, right, strike = opt
            sec, contract = "OPTION", {"root": root, "expiration": int(exp), "strike": strike, "right": right}
        msg = {
            "msg_type": "STREAM",
            "sec_type": sec,
            "req_type": "TRADE" if sub.kind == "trades" else "QUOTE",
            "add": add,
            "id": rid,
            "contract": contract,
        }
        return rid, json.dumps(msg, separators=(",", ":")).encode()

    async def _send_subscriptions(self, ws: RawWebSocket, subs: list[Subscription], *, add: bool, wait: bool) -> None:
        futures = []
        for sub in subs:
            rid, msg = self._request(sub, add)
            if wait:
                fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                self._acks[rid] = fut
                futures.append((sub, fut))
            await ws.send_text(msg)
        for sub, fut in futures:
            try:
                answer = await asyncio.wait_for(fut, 5.0)
            except TimeoutError:
                log.warning("thetadata: no REQ_RESPONSE for %s within 5 s", sub)
                continue
            if answer == "INVALID_PERMS":
                self._subs.pop(sub, None)
                raise VendorPermissionError(f"ThetaData refused {sub}: INVALID_PERMS", vendor="thetadata", code=answer)
            if answer in ("ERROR", "MAX_STREAMS_REACHED"):
                self._subs.pop(sub, None)
                raise VendorRequestError(f"ThetaData refused {sub}: {answer}", vendor="thetadata", code=answer)

    async def _on_open(self, ws: RawWebSocket) -> None:
        self._mark_ready()
        await self._send_subscriptions(ws, list(self._subs), add=True, wait=False)

    async def _on_event(self, ws: RawWebSocket, kind: str, payload: bytes) -> None:
        if kind == "req_response":
            try:
                header = json.loads(payload)["header"]
                rid, answer = int(header.get("req_id", -1)), str(header.get("response", ""))
            except (ValueError, KeyError, TypeError):
                return
            self.responses[answer] = self.responses.get(answer, 0) + 1
            fut = self._acks.pop(rid, None)
            if fut is not None and not fut.done():
                fut.set_result(answer)
            elif answer != "SUBSCRIBED":
                log.warning("thetadata: request %d answered %s", rid, answer)
        elif kind == "upstream":
            log.info("thetadata: terminal upstream %s", payload.decode(errors="replace"))
        elif kind == "state":
            log.info("thetadata: STATE %s", payload[:200].decode(errors="replace"))
