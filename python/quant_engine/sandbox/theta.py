"""A fake Theta Terminal: the v3 REST API and the ``/v1/events`` stream, speaking the vendor's
wire formats (``shared/protocols.md`` section A), serving a :class:`SandboxMarket`.

REST (``uvicorn`` + ``starlette``): the ``/v3`` stock history, option list, option history
(trade, quote, interval Greeks: :mod:`quant_engine.sandbox.theta_options`) and Greeks snapshot
routes; CSV with CRLF by default, ``format=json`` (options grouped by contract) and
``ndjson``; the vendor's defaults injected, enums validated; plain-text errors: 472 for
weekends and unknown symbols, 471 for symbols the account is not entitled to, 473 for bad
parameters, 410 for v2 parameter names, 570 for ranges over a month, 429 above the concurrency
limit plus queue, 474 during upstream outages. ``/v3/terminal/{mdds,fpss}/status``.

Stream: one client at a time (a new connection replaces the old one); ``STATUS`` every second
(and at each upstream change); ``REQ_RESPONSE`` echoing ``req_id`` (``MAX_STREAMS_REACHED``
past ``max_streams``, ``INVALID_PERMS`` for refused security types); trades and quotes of the
subscribed contracts only (stocks, and the synthetic market's listed option contracts),
replayed on a market clock that runs ``speed`` times faster than the wall clock, starting
:data:`~quant_engine.sandbox.faults.START_DELAY` after the first subscription (``speed=0``: stock
trades as fast as the socket takes them). The clock keeps running while no client is connected: what is missed must be backfilled.

Faults: :class:`~quant_engine.sandbox.faults.FaultPlan`, changed with ``POST /_sandbox/faults``;
``GET /_sandbox/stats`` reports what was sent and injected.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import logging
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from quant_engine.feeds.synthetic import bsm_price_greeks
from quant_engine.sandbox import encode
from quant_engine.sandbox.faults import START_DELAY, FaultPlan
from quant_engine.sandbox.market import SandboxMarket
from quant_engine.sandbox.replay_server import ReplayServer
from quant_engine.sandbox.theta_options import GREEK_ENDPOINTS, Contract, Group, OptionHistory, option_body
from quant_engine.sandbox.theta_params import Reject as _Reject
from quant_engine.sandbox.theta_params import parse_date as _parse_date
from quant_engine.sandbox.theta_params import parse_time_ms as _parse_time_ms
from quant_engine.sandbox.wsserver import WRITE_HIGH, WsConnection
from quant_engine.schema import TIMESTAMP

__all__ = ["FakeThetaTerminal"]

log = logging.getLogger("quant_engine.sandbox.theta")

_INTERVALS = {
    "tick": 0,
    "10ms": 10,
    "100ms": 100,
    "500ms": 500,
    "1s": 1000,
    "5s": 5000,
    "10s": 10000,
    "15s": 15000,
    "30s": 30000,
    "1m": 60000,
    "5m": 300000,
    "10m": 600000,
    "15m": 900000,
    "30m": 1800000,
    "1h": 3600000,
}
_V2_PARAMS = {"root", "exp", "ivl", "use_csv", "rth", "start_date_v2"}
_FORMATS = ("csv", "json", "ndjson", "html")
_NS = 1_000_000_000
_TRADE_COLS = [
    "timestamp",
    "sequence",
    "ext_condition1",
    "ext_condition2",
    "ext_condition3",
    "ext_condition4",
    "condition",
    "size",
    "exchange",
    "price",
]
_QUOTE_COLS = [
    "timestamp",
    "bid_size",
    "bid_exchange",
    "bid",
    "bid_condition",
    "ask_size",
    "ask_exchange",
    "ask",
    "ask_condition",
]


class FakeThetaTerminal(ReplayServer):
    """The fake terminal (see the module docstring).

    Args:
        market: the data served.
        host: bind address.
        rest_port / ws_port: ports (0 picks free ones; see :attr:`rest_port`, :attr:`ws_port`).
        speed: market seconds per wall second of the stream replay (0 = as fast as possible).
        max_concurrent / queue: REST concurrency limit and queue (overflow gives 429).
        max_streams: stream subscriptions allowed per connection.
        refused_sec_types: security types answered ``INVALID_PERMS`` (e.g. ``{"OPTION"}``).
        faults: the initial fault plan.
    """

    ws_paths = ("/v1/events",)

    def __init__(
        self,
        market: SandboxMarket,
        *,
        host: str = "127.0.0.1",
        rest_port: int = 0,
        ws_port: int = 0,
        speed: float = 60.0,
        max_concurrent: int = 4,
        queue: int = 16,
        max_streams: int = 10_000,
        refused_sec_types: set[str] | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(market, host=host, rest_port=rest_port, ws_port=ws_port, speed=speed, faults=faults)
        self.max_concurrent = max_concurrent
        self.queue = queue
        self.max_streams = max_streams
        self.refused = refused_sec_types or set()
        self._inflight = 0
        self._conn: WsConnection | None = None
        self._subs: set[tuple[str, str]] = set()
        self._msg_counter = 0
        self._trade_counter = 0
        self._firehose: collections.deque[bytes] | None = None
        self.stats = {
            "trades_sent": 0,
            "quotes_sent": 0,
            "trades_lost": 0,
            "connections": 0,
            "requests": 0,
            "rest_rows": 0,
            "status_frames": 0,
            "subscriptions": 0,
        }
        self._last_status = "CONNECTED"
        self._option_history: OptionHistory | None = None
        self._option_since = 0

    # ------------------------------------------------------------------------------ lifecycle
    def _open_connections(self) -> list[WsConnection]:
        """The connected stream clients."""
        return [] if self._conn is None else [self._conn]

    @property
    def ws_url(self) -> str:
        """``ws://host:port/v1/events``."""
        return f"ws://{self.host}:{self.ws_port}/v1/events"

    # ------------------------------------------------------------------------------ REST
    def app(self) -> Starlette:
        """The starlette application of the REST API."""
        routes = [
            Route("/v3/stock/history/trade", self._stock_trade),
            Route("/v3/stock/history/quote", self._stock_quote),
            Route("/v3/stock/history/ohlc", self._stock_ohlc),
            Route("/v3/option/list/expirations", self._expirations),
            Route("/v3/option/list/strikes", self._strikes),
            Route("/v3/option/history/trade", self._option_trade),
            Route("/v3/option/history/quote", self._option_quote),
            Route("/v3/option/history/greeks/{order}", self._greeks_history),
            Route("/v3/option/snapshot/greeks/{order}", self._greeks_snapshot),
            Route("/v3/terminal/{name}/status", self._terminal_status),
            Route("/_sandbox/faults", self._faults, methods=["GET", "POST"]),
            Route("/_sandbox/stats", self._stats),
            Route("/_sandbox/replay", self._replay, methods=["POST"]),
        ]
        return Starlette(routes=routes)

    async def _guard(self, request: Request, handler: Any, offload: bool = False) -> Response:
        """Runs ``handler(query, format)`` under the concurrency limit, the fault plan and the
        vendor's parameter checks; ``offload`` runs it in a worker thread (heavy option
        history), so concurrent requests really overlap and the stream keeps flowing."""
        self.stats["requests"] += 1
        if self._inflight >= self.max_concurrent + self.queue:
            self.faults.count("http_429_queue_full")
            return PlainTextResponse("OS_LIMIT: the request queue is full", status_code=429)
        if self.faults.take("http_429"):
            return PlainTextResponse("OS_LIMIT: too many requests", status_code=429)
        if self.faults.take("http_5xx"):
            return PlainTextResponse("Service Unavailable", status_code=503)
        if self.faults.upstream_is_down():
            return PlainTextResponse("DISCONNECTED: the terminal is not connected to MDDS", status_code=474)
        self._inflight += 1
        try:
            q = dict(request.query_params)
            bad = sorted(set(q) & _V2_PARAMS)
            if bad:
                return PlainTextResponse(
                    f"We have upgraded to API v3. Parameter(s) {bad} no longer exist: root -> symbol, exp -> expiration, "
                    "ivl -> interval, use_csv -> format.",
                    status_code=410,
                )
            fmt = q.get("format", "csv").lower()
            if fmt not in _FORMATS:
                raise _Reject(473, f"Invalid format '{fmt}'. Expected one of {', '.join(_FORMATS)}.")
            status, body, media = await asyncio.to_thread(handler, q, fmt) if offload else handler(q, fmt)
            return await self._respond(status, body, media)
        except _Reject as r:
            return PlainTextResponse(r.text, status_code=r.status)
        finally:
            self._inflight -= 1

    async def _respond(self, status: int, body: bytes, media: str) -> Response:
        if status == 200 and media == "text/csv" and body.count(b"\r\n") > 1:
            if self.faults.take("truncate_body"):
                body = body[: -(min(6, len(body) // 4) + 2)]  # the last line loses its end and its CRLF
            elif self.faults.take("short_rows"):
                first_end = body.index(b"\r\n") + 2
                body = body[:first_end] + b"2024-01-02T09:30:00.001,1\r\n" + body[first_end:]
            elif self.faults.take("nan_rows"):
                lines = body.split(b"\r\n")
                header = lines[0].split(b",")
                if b"price" in header and len(lines) > 2:
                    cells = lines[1].split(b",")
                    cells[header.index(b"price")] = b"NaN"
                    lines.insert(2, b",".join(cells))
                    body = b"\r\n".join(lines)
        stall = self.faults.stall_body
        if stall > 0 and status == 200 and len(body) > 8:
            self.faults.stall_body = 0.0
            self.faults.count("stall_body")
            half = len(body) // 2

            async def chunks() -> Any:
                yield body[:half]
                await asyncio.sleep(stall)
                yield body[half:]

            return StreamingResponse(chunks(), status_code=200, media_type=media)
        return Response(body, status_code=status, media_type=media)

    def _symbol(self, q: dict[str, str]) -> str:
        sym = q.get("symbol")
        if not sym:
            raise _Reject(473, "Missing required parameter 'symbol'.")
        if sym in ("*",) or "," in sym:
            raise _Reject(473, "This endpoint takes one symbol.")
        if self.market.entitled is not None and sym not in self.market.entitled and sym in self.market.code:
            raise _Reject(471, f"PERMISSION: your subscription does not include {sym}.")
        if sym not in self.market.code:
            raise _Reject(472, f"NO_DATA: no data for symbol {sym}.")
        return sym

    def _day_range(self, q: dict[str, str], interval_required: bool) -> tuple[list[dt.date], int, int, int]:
        interval = q.get("interval", "1s")
        if interval not in _INTERVALS:
            raise _Reject(473, f"Invalid interval '{interval}'. Expected one of {', '.join(_INTERVALS)}.")
        if "date" in q:
            days = [_parse_date(q["date"])]
        elif "start_date" in q and "end_date" in q:
            a, b = _parse_date(q["start_date"]), _parse_date(q["end_date"])
            if b < a:
                raise _Reject(473, "end_date is before start_date.")
            if (b - a).days > 31:
                raise _Reject(570, "LARGE_REQUEST: date ranges cover at most 1 month; split the request.")
            days = [a + dt.timedelta(days=k) for k in range((b - a).days + 1)]
        else:
            raise _Reject(473, "Missing required parameter 'date' (or 'start_date' and 'end_date').")
        ivl_ms = _INTERVALS[interval]
        if ivl_ms < 60000 and len(days) > 1 and interval != "tick":
            raise _Reject(473, "Intervals under 1m are only allowed for single days.")
        t0 = _parse_time_ms(q.get("start_time", "09:30:00"))
        t1 = _parse_time_ms(q.get("end_time", "16:00:00"))
        days = [d for d in days if d.weekday() < 5 and d in self.market.dates]
        if not days:
            raise _Reject(472, "NO_DATA: no data for the requested dates (market closed?).")
        return days, t0, t1, ivl_ms

    def _rows(self, cols: Any, symbol: str, days: list[dt.date], t0: int, t1: int) -> np.ndarray:
        from quant_engine.feeds.newyork import utc_ns_of_ny

        code = self.market.code[symbol]
        parts = []
        for d in days:
            base = utc_ns_of_ny(d)
            parts.append(cols.between(code, base + t0 * 1_000_000, base + t1 * 1_000_000 + 999_999))
        return np.concatenate(parts) if parts else np.array([], dtype=np.int64)

    async def _stock_trade(self, request: Request) -> Response:
        def handle(q: dict[str, str], fmt: str) -> tuple[int, bytes, str]:
            sym = self._symbol(q)
            days, t0, t1, _ = self._day_range(q, False)
            if t1 - t0 > 60_000 and self.faults.take("large_request"):
                raise _Reject(570, "LARGE_REQUEST: the request is too large; split it.")
            rows = self._rows(self.market.trades, sym, days, t0, t1)
            if not len(rows):
                raise _Reject(472, "NO_DATA: no trades in the requested window.")
            t = self.market.trades_table(rows)
            self.stats["rest_rows"] += t.num_rows
            n = t.num_rows
            ext = pa.array(["255"] * n)
            cols = [
                ("timestamp", encode.ny_wall_strings(t.column("ts").combine_chunks())),
                ("sequence", encode.number_strings(t.column("sequence").combine_chunks())),
                ("ext_condition1", ext),
                ("ext_condition2", ext),
                ("ext_condition3", ext),
                ("ext_condition4", ext),
                ("condition", encode.number_strings(t.column("condition").combine_chunks())),
                ("size", encode.number_strings(pc.cast(t.column("size"), pa.int64()).combine_chunks())),
                ("exchange", encode.number_strings(t.column("exchange").combine_chunks())),
                ("price", encode.decimal_strings(t.column("price").combine_chunks())),
            ]
            return self._body(cols, fmt, quoted={"timestamp"})

        return await self._guard(request, handle)

    async def _stock_quote(self, request: Request) -> Response:
        def handle(q: dict[str, str], fmt: str) -> tuple[int, bytes, str]:
            sym = self._symbol(q)
            if "interval" not in q:
                raise _Reject(473, "Missing required parameter 'interval'.")
            days, t0, t1, ivl = self._day_range(q, True)
            if self.market.quotes is None:
                raise _Reject(472, "NO_DATA: no quotes.")
            rows = self._rows(self.market.quotes, sym, days, t0, t1)
            t = self.market.quotes_table(rows)
            if ivl and t.num_rows:  # the last quote of each interval, stamped at the interval start
                ts = pc.cast(t.column("ts"), pa.int64()).to_numpy()
                bucket = ts // (ivl * 1_000_000)
                last = np.nonzero(np.append(bucket[1:] != bucket[:-1], True))[0]
                t = t.take(pa.array(last))
                t = t.set_column(0, "ts", pa.array(bucket[last] * ivl * 1_000_000, pa.timestamp("ns", tz="UTC")))
            if not t.num_rows:
                raise _Reject(472, "NO_DATA: no quotes in the requested window.")
            zero = pa.array(["0"] * t.num_rows)
            cols = [
                ("timestamp", encode.ny_wall_strings(t.column("ts").combine_chunks())),
                ("bid_size", encode.number_strings(pc.cast(t.column("bid_size"), pa.int64()).combine_chunks())),
                ("bid_exchange", encode.number_strings(t.column("bid_exchange").combine_chunks())),
                ("bid", encode.decimal_strings(t.column("bid").combine_chunks())),
                ("bid_condition", zero),
                ("ask_size", encode.number_strings(pc.cast(t.column("ask_size"), pa.int64()).combine_chunks())),
                ("ask_exchange", encode.number_strings(t.column("ask_exchange").combine_chunks())),
                ("ask", encode.decimal_strings(t.column("ask").combine_chunks())),
                ("ask_condition", zero),
            ]
            return self._body(cols, fmt, quoted={"timestamp"})

        return await self._guard(request, handle)

    async def _stock_ohlc(self, request: Request) -> Response:
        def handle(q: dict[str, str], fmt: str) -> tuple[int, bytes, str]:
            sym = self._symbol(q)
            if "interval" not in q:
                raise _Reject(473, "Missing required parameter 'interval'.")
            days, t0, t1, ivl = self._day_range(q, True)
            if ivl == 0:
                raise _Reject(473, "Interval 'tick' is not allowed for OHLC.")
            if t1 - t0 > 60_000 and self.faults.take("large_request"):
                raise _Reject(570, "LARGE_REQUEST: the request is too large; split it.")
            rows = self._rows(self.market.trades, sym, days, t0, t1)
            if not len(rows):
                raise _Reject(472, "NO_DATA: no trades in the requested window.")
            bars = pa.concat_tables([self._vendor_bars(sym, d, t0, t1, ivl) for d in days])
            cols = [
                ("timestamp", encode.ny_wall_strings(bars.column("start").combine_chunks())),
                ("open", encode.decimal_strings(bars.column("open").combine_chunks())),
                ("high", encode.decimal_strings(bars.column("high").combine_chunks())),
                ("low", encode.decimal_strings(bars.column("low").combine_chunks())),
                ("close", encode.decimal_strings(bars.column("close").combine_chunks())),
                ("volume", encode.number_strings(pc.cast(bars.column("volume"), pa.int64()).combine_chunks())),
                ("count", encode.number_strings(bars.column("trades").combine_chunks())),
                ("vwap", encode.decimal_strings(bars.column("vwap").combine_chunks())),
            ]
            return self._body(cols, fmt, quoted={"timestamp"})

        return await self._guard(request, handle)

    def _vendor_bars(self, sym: str, day: dt.date, t0: int, t1: int, ivl: int) -> pa.Table:
        """One day's OHLC as the vendor builds it: a bar for *every* interval from ``start_time``
        (the grid is anchored there, so an off-grid start gives off-grid labels) up to
        ``end_time``, and all-zero rows (prices, volume, count, vwap 0) for intervals without
        trades."""
        from quant_engine.bars import aggregate_ticks
        from quant_engine.feeds.newyork import utc_ns_of_ny

        base = utc_ns_of_ny(day)
        origin = base + t0 * 1_000_000
        step = ivl * 1_000_000
        starts = origin + step * np.arange((t1 - t0) // ivl + 1, dtype=np.int64)
        rows = self._rows(self.market.trades, sym, [day], t0, t1)
        n = len(starts)
        cols = {name: np.zeros(n) for name in ("open", "high", "low", "close", "volume", "vwap")}
        count = np.zeros(n, dtype=np.int64)
        if len(rows):
            bars = aggregate_ticks(self.market.trades_table(rows), step, origin)
            at = (pc.cast(bars.column("start"), pa.int64()).to_numpy() - origin) // step
            for name in cols:
                cols[name][at] = bars.column(name).to_numpy()
            count[at] = bars.column("trades").to_numpy()
        return pa.table({"start": pa.array(starts, TIMESTAMP), **cols, "trades": count})

    def _chain(self, symbol: str) -> pa.Table:
        syn = self.market.synthetic
        if syn is None or symbol not in syn.symbols:
            raise _Reject(472, f"NO_DATA: no options for {symbol}.")
        return syn.option_chain(symbol)

    async def _expirations(self, request: Request) -> Response:
        def handle(q: dict[str, str], fmt: str) -> tuple[int, bytes, str]:
            sym = self._symbol(q)
            exps = pc.unique(self._chain(sym).column("expiration"))
            strs = pc.strftime(pc.cast(exps, pa.timestamp("s")), "%Y-%m-%d")
            return self._body(
                [("symbol", pa.array([sym] * len(exps))), ("expiration", strs)], fmt, quoted={"symbol", "expiration"}
            )

        return await self._guard(request, handle)

    async def _strikes(self, request: Request) -> Response:
        def handle(q: dict[str, str], fmt: str) -> tuple[int, bytes, str]:
            sym = self._symbol(q)
            exp = q.get("expiration")
            if not exp:
                raise _Reject(473, "Missing required parameter 'expiration'.")
            if exp == "*":
                raise _Reject(473, "expiration '*' is not allowed for option/list/strikes.")
            chain = self._chain(sym)
            d = _parse_date(exp)
            strikes = pc.unique(
                chain.filter(pc.equal(chain.column("expiration"), pa.scalar(d, pa.date32()))).column("strike")
            ).to_numpy()
            if not len(strikes):
                raise _Reject(472, "NO_DATA: no strikes for that expiration.")
            rng = np.random.default_rng(len(strikes))
            strikes = strikes[rng.permutation(len(strikes))]  # the vendor's list is unsorted
            return self._body(
                [("symbol", pa.array([sym] * len(strikes))), ("strike", encode.decimal_strings(strikes, 3))],
                fmt,
                quoted={"symbol"},
            )

        return await self._guard(request, handle)

    def _options(self) -> OptionHistory:
        syn = self.market.synthetic
        if syn is None:
            raise _Reject(472, "NO_DATA: this market has no options.")
        if self._option_history is None or self._option_history.market is not syn:
            self._option_history = OptionHistory(syn)
        return self._option_history

    def _option_request(
        self, q: dict[str, str], *, star_expiration: bool, interval_required: bool
    ) -> tuple[str, OptionHistory, list[Contract], list[dt.date], int, int, int]:
        """Symbol, option rows, contracts, days and window of an option history request."""
        sym = self._symbol(q)
        hist = self._options()
        if sym not in hist.market.symbols:
            raise _Reject(472, f"NO_DATA: no options for {sym}.")
        if interval_required and "interval" not in q:
            raise _Reject(473, "Missing required parameter 'interval'.")
        contracts = hist.contracts(sym, q, star_expiration=star_expiration)
        days, t0, t1, ivl = self._day_range(q, interval_required)
        if t1 - t0 > 60_000 and self.faults.take("large_request"):
            raise _Reject(570, "LARGE_REQUEST: the request is too large; split it.")
        return sym, hist, contracts, days, t0, t1, ivl

    def _option_result(self, sym: str, groups: list[Group], fmt: str) -> tuple[int, bytes, str]:
        self.stats["rest_rows"] += sum(len(cols[0][1]) for _, cols in groups)
        return option_body(sym, groups, fmt)

    async def _option_trade(self, request: Request) -> Response:
        def handle(q: dict[str, str], fmt: str) -> tuple[int, bytes, str]:
            sym, hist, contracts, days, t0, t1, _ = self._option_request(
                q, star_expiration=True, interval_required=False
            )
            return self._option_result(sym, hist.trades(sym, contracts, days, t0, t1), fmt)

        return await self._guard(request, handle, offload=True)

    async def _option_quote(self, request: Request) -> Response:
        def handle(q: dict[str, str], fmt: str) -> tuple[int, bytes, str]:
            sym, hist, contracts, days, t0, t1, ivl = self._option_request(
                q, star_expiration=True, interval_required=True
            )
            return self._option_result(sym, hist.quotes(sym, contracts, days, t0, t1, ivl), fmt)

        return await self._guard(request, handle, offload=True)

    async def _greeks_history(self, request: Request) -> Response:
        order = request.path_params["order"]

        def handle(q: dict[str, str], fmt: str) -> tuple[int, bytes, str]:
            if order not in GREEK_ENDPOINTS:
                raise _Reject(404, f"NO_IMPL: unknown greeks endpoint '{order}'.")
            sym, hist, contracts, days, t0, t1, ivl = self._option_request(
                q, star_expiration=False, interval_required=False
            )
            return self._option_result(sym, hist.greeks(sym, contracts, days, t0, t1, ivl, order, q), fmt)

        return await self._guard(request, handle, offload=True)

    async def _greeks_snapshot(self, request: Request) -> Response:
        order = request.path_params["order"]

        def handle(q: dict[str, str], fmt: str) -> tuple[int, bytes, str]:
            if order not in ("first_order", "second_order", "third_order", "all"):
                raise _Reject(404, f"NO_IMPL: unknown greeks order '{order}'.")
            sym = self._symbol(q)
            if "expiration" not in q:
                raise _Reject(473, "Missing required parameter 'expiration'.")
            chain = self._chain(sym)
            if q["expiration"] != "*":
                chain = chain.filter(
                    pc.equal(chain.column("expiration"), pa.scalar(_parse_date(q["expiration"]), pa.date32()))
                )
            if not chain.num_rows:
                raise _Reject(472, "NO_DATA: no contracts for that expiration.")
            cols = self._greek_columns(chain, order)
            if fmt == "json":  # options JSON is grouped by contract (one snapshot row each)
                exps, strikes, rights = (chain.column(n).to_pylist() for n in ("expiration", "strike", "right"))
                data = cols[4:]
                groups: list[Group] = [
                    (Contract(e, float(k), r), [(n, a.slice(i, 1)) for n, a in data])
                    for i, (e, k, r) in enumerate(zip(exps, strikes, rights))
                ]
                return option_body(sym, groups, fmt)
            return self._body(cols, fmt, quoted={"symbol", "expiration", "right", "timestamp", "underlying_timestamp"})

        return await self._guard(request, handle)

    def _greek_columns(self, chain: pa.Table, order: str) -> list[tuple[str, pa.Array]]:
        """Greeks of every order by finite differences of the BSM price (consistent by design);
        rows quoted bid=ask=0 carry the vendor's sentinels (iv 0.25, iv_error 100, ultima -100)."""
        n = chain.num_rows
        s = chain.column("underlying_price").to_numpy()
        k = chain.column("strike").to_numpy()
        call = pc.equal(chain.column("right"), "CALL").to_numpy(zero_copy_only=False)
        ts = pc.cast(chain.column("ts"), pa.int64()).to_numpy()
        exp_days = pc.cast(chain.column("expiration"), pa.int32()).to_numpy().astype(float)
        now_days = ts / (86400 * _NS)
        t = np.maximum(exp_days + 0.6667 - now_days, 1e-4) / 365.0
        v = chain.column("implied_vol").to_numpy()

        def price(ds: float = 0.0, dv: float = 0.0, dt_: float = 0.0, dr: float = 0.0) -> np.ndarray:
            return bsm_price_greeks(s * (1 + ds), k, np.maximum(t + dt_, 1e-6), v + dv, call, 0.04 + dr)["price"]

        hs, hv, ht, hr = 1e-3, 1e-3, 1.0 / 365.0, 1e-4
        p0 = price()

        def d_s(f: Any) -> np.ndarray:
            return (f(hs) - f(-hs)) / (2 * hs * s)

        delta = d_s(lambda e: price(ds=e))
        gamma = (price(ds=hs) - 2 * p0 + price(ds=-hs)) / (hs * s) ** 2
        vega = (price(dv=hv) - price(dv=-hv)) / (2 * hv) / 100.0
        theta = (price(dt_=-ht) - p0) / 1.0
        rho = (price(dr=hr) - price(dr=-hr)) / (2 * hr) / 100.0
        epsilon = -s * t * delta * 0.01
        lam = delta * s / np.maximum(p0, 1e-9)
        vanna = (
            (price(ds=hs, dv=hv) - price(ds=hs, dv=-hv) - price(ds=-hs, dv=hv) + price(ds=-hs, dv=-hv))
            / (4 * hs * s * hv)
            / 100.0
        )
        charm = d_s(lambda e: price(ds=e, dt_=-ht)) - delta
        vomma = (price(dv=hv) - 2 * p0 + price(dv=-hv)) / hv**2 / 10000.0
        veta = (price(dv=hv, dt_=-ht) - price(dv=-hv, dt_=-ht)) / (2 * hv) / 100.0 - vega
        g_up = (price(ds=2 * hs) - 2 * price(ds=hs) + p0) / (hs * s) ** 2
        speed = (g_up - gamma) / (hs * s)
        zomma = ((price(ds=hs, dv=hv) - 2 * price(dv=hv) + price(ds=-hs, dv=hv)) / (hs * s) ** 2 - gamma) / hv / 100.0
        color = (price(ds=hs, dt_=-ht) - 2 * price(dt_=-ht) + price(ds=-hs, dt_=-ht)) / (hs * s) ** 2 - gamma
        ultima = (
            ((price(dv=2 * hv) - 2 * price(dv=hv) + p0) / hv**2 - (price(dv=hv) - 2 * p0 + price(dv=-hv)) / hv**2)
            / hv
            / 1e6
        )
        bid = chain.column("bid").to_numpy().copy()
        ask = chain.column("ask").to_numpy().copy()
        iv = v.copy()
        iv_err = np.zeros(n)
        if self.faults.sentinel_greeks:
            zero = (bid <= 0.0) & (ask <= 0.02)
            bid[zero] = 0.0
            ask[zero] = 0.0
            iv[zero] = 0.25
            iv_err[zero] = 100.0
            ultima[zero] = -100.0
        ts_s = encode.ny_wall_strings(pa.array(ts, pa.int64()))
        exp_s = pc.strftime(pc.cast(chain.column("expiration").combine_chunks(), pa.timestamp("s")), "%Y-%m-%d")

        def fmt(a: np.ndarray) -> pa.Array:
            return encode.decimal_strings(np.nan_to_num(a), 4)

        head = [
            ("symbol", chain.column("underlying").combine_chunks()),
            ("expiration", exp_s),
            ("strike", encode.decimal_strings(k, 3)),
            ("right", chain.column("right").combine_chunks()),
            ("timestamp", ts_s),
            ("bid", encode.decimal_strings(bid, 2)),
            ("ask", encode.decimal_strings(ask, 2)),
        ]
        first = [
            ("delta", fmt(delta)),
            ("theta", fmt(theta)),
            ("vega", fmt(vega)),
            ("rho", fmt(rho)),
            ("epsilon", fmt(epsilon)),
            ("lambda", fmt(lam)),
        ]
        second = [
            ("gamma", fmt(gamma)),
            ("vanna", fmt(vanna)),
            ("charm", fmt(charm)),
            ("vomma", fmt(vomma)),
            ("veta", fmt(veta)),
        ]
        third = [("speed", fmt(speed)), ("zomma", fmt(zomma)), ("color", fmt(color)), ("ultima", fmt(ultima))]
        tail = [
            ("implied_vol", fmt(iv)),
            ("iv_error", fmt(iv_err)),
            ("underlying_timestamp", ts_s),
            ("underlying_price", encode.decimal_strings(s, 2)),
        ]
        body = {
            "first_order": first,
            "second_order": second,
            "third_order": third,
            "all": first + second + [("vera", fmt(veta * 0.0 + vomma * 0.0 + vanna * 0.1))] + third,
        }[order]
        return head + body + tail

    def _terminal_status(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("mdds", "fpss"):
            return PlainTextResponse("NO_IMPL", status_code=404)
        down = self.faults.upstream_is_down() or (name == "fpss" and self.faults.stream_is_down())
        return PlainTextResponse("DISCONNECTED" if down else "CONNECTED")

    def snapshot(self) -> dict[str, Any]:
        """Counters (what was sent, lost with no client, injected), the replay position, the
        connection and its subscriptions."""
        return {
            **super().snapshot(),
            "connected": self._conn is not None and not self._conn.closed,
            "subscribed": sorted(f"{k}:{s}" for k, s in self._subs),
        }

    def _body(self, cols: list[tuple[str, pa.Array]], fmt: str, quoted: set[str]) -> tuple[int, bytes, str]:
        if fmt == "csv":
            return 200, encode.csv_body(cols), "text/csv"
        rows = encode.json_rows([(n, c, n in quoted) for n, c in cols])
        if fmt == "ndjson":
            return 200, encode.ndjson_body(rows), "application/x-ndjson"
        if fmt == "html":
            cells = "".join(f"<th>{n}</th>" for n, _ in cols)
            return 200, f"<table><tr>{cells}</tr></table>".encode(), "text/html"
        return 200, b'{"response":[' + b",".join(r.encode() for r in rows.to_pylist()) + b"]}", "application/json"

    # ------------------------------------------------------------------------------ stream
    async def _ws_handler(self, conn: WsConnection) -> None:
        if self._conn is not None:
            self._conn.abort()  # one client at a time
        self._conn = conn
        self._subs = set()
        self.stats["connections"] += 1
        self._send_status(conn)
        while True:
            msg = await conn.recv()
            if msg is None:
                break
            self._on_request(conn, msg)
        if self._conn is conn:
            self._conn = None

    def _on_request(self, conn: WsConnection, raw: bytes) -> None:
        try:
            text = raw.decode()
            try:
                req = json.loads(text)
            except ValueError:  # the vendor's own sample sends Python dict syntax
                req = json.loads(text.replace("'", '"').replace("True", "true").replace("False", "false"))
            rid = int(req.get("id", -1))
            sec = str(req["sec_type"]).upper()
            kind = str(req["req_type"]).upper()
            contract = req.get("contract", {})
            root = str(contract["root"])
        except (ValueError, KeyError, TypeError):
            conn.send_text(
                json.dumps(
                    {"header": {"type": "REQ_RESPONSE", "status": "CONNECTED", "response": "ERROR", "req_id": -1}}
                )
            )
            return
        if sec in self.refused:
            answer = "INVALID_PERMS"
        elif kind not in ("TRADE", "QUOTE") or sec not in ("STOCK", "OPTION"):
            answer = "ERROR"
        else:
            symbol = root
            if sec == "OPTION":
                symbol = f"{root}{int(contract['expiration']) % 1_000_000:06d}{str(contract['right'])[0]}{int(contract['strike']):08d}"
            key = ("trades" if kind == "TRADE" else "quotes", symbol)
            if req.get("add", True):
                if key not in self._subs and len(self._subs) >= self.max_streams:
                    answer = "MAX_STREAMS_REACHED"
                else:
                    self._subs.add(key)
                    self.stats["subscriptions"] += 1
                    answer = "SUBSCRIBED"
                    if self._clock_wall0 is None:
                        self._clock_wall0 = time.monotonic() + START_DELAY
            else:
                self._subs.discard(key)
                answer = "SUBSCRIBED"
        conn.send_text(
            json.dumps({"header": {"type": "REQ_RESPONSE", "status": "CONNECTED", "response": answer, "req_id": rid}})
        )

    def _stream_down(self) -> bool:
        """Whether the stream's upstream (FPSS) is down: a whole-terminal outage or ``fpss_down``."""
        return self.faults.upstream_is_down() or self.faults.stream_is_down()

    def _send_status(self, conn: WsConnection | None) -> None:
        status = "DISCONNECTED" if self._stream_down() else "CONNECTED"
        self._last_status = status
        if conn is not None and not conn.closed:
            conn.send_text('{"header":{"status":"%s","type":"STATUS"}}' % status)  # noqa: UP031
            self.stats["status_frames"] += 1

    async def _stream_loop(self) -> None:
        next_status = time.monotonic() + 1.0
        next_disconnect = time.monotonic() + self.faults.disconnect_every if self.faults.disconnect_every else None
        next_outage = None
        while True:
            now = time.monotonic()
            conn = self._conn if self._conn is not None and not self._conn.closed else None
            if conn is not None and self.faults.is_silent():
                conn = None  # nothing reaches the client; the market moves on
            down = self._stream_down()
            if (down and self._last_status == "CONNECTED") or (not down and self._last_status == "DISCONNECTED"):
                self._send_status(conn)  # report changes at once
            if now >= next_status:
                self._send_status(conn)
                next_status = now + 1.0
            if self.faults.disconnect_every:
                if next_disconnect is None:
                    next_disconnect = now + self.faults.disconnect_every
                elif now >= next_disconnect:
                    next_disconnect = now + self.faults.disconnect_every
                    if conn is not None:
                        conn.abort()
                        self.faults.count("disconnects")
                        conn = None
            if self.faults.take("disconnect_now") and conn is not None:
                conn.abort()
                conn = None
            if self.faults.upstream_down_every and self._clock_wall0 is not None:
                if next_outage is None:
                    next_outage = now + self.faults.upstream_down_every
                elif now >= next_outage:
                    next_outage = now + self.faults.upstream_down_every
                    self.faults.start_outage(self.faults.upstream_down_for)
            if conn is not None and self.faults.take("state_frame"):
                conn.send_text('{"header":{"type":"STATE","status":"CONNECTED","state":"START"}}')
            if self._clock_wall0 is not None:
                self._replay_step(conn, self._stream_down())
            if conn is not None and conn.buffered() >= WRITE_HIGH:
                await conn.drain()
            else:  # spin only while a firehose still has data to hand over
                await asyncio.sleep(0 if self._firehose and conn is not None else 0.005)

    def trade_frames(self, symbols: list[str]) -> bytes:
        """The exact bytes the stream sends for every trade of ``symbols`` (no faults): for
        benchmarks and decoder tests."""
        tr = self.market.trades
        rows = np.nonzero(np.isin(tr.code, [self.market.code[s] for s in symbols]))[0]
        saved, self.faults = self.faults, FaultPlan()
        try:
            return b"".join(self._trade_frames(rows[i : i + 200_000]) for i in range(0, len(rows), 200_000))
        finally:
            self.faults = saved

    def _firehose_step(self, conn: WsConnection | None) -> None:
        """``speed=0``: half a second after the first subscription (time for the others), every
        remaining trade of the subscribed symbols is encoded at once, then sent as fast as the
        socket drains (faults other than disconnects do not apply)."""
        assert self._clock_wall0 is not None
        if self._firehose is None:
            if time.monotonic() < self._clock_wall0:
                return
            tr = self.market.trades
            codes = [self.market.code[s] for k, s in self._subs if k == "trades" and s in self.market.code]
            rows = np.arange(self._ptr_trades, len(tr.ts))
            rows = rows[np.isin(tr.code[rows], codes)]
            self._ptr_trades = len(tr.ts)
            self._firehose = collections.deque(
                self._trade_frames(rows[i : i + 200_000]) for i in range(0, len(rows), 200_000)
            )
        if self._firehose and conn is not None:
            conn.send_raw(self._firehose.popleft())

    def _restart_replay(self) -> None:
        super()._restart_replay()
        self._option_since = 0

    def _option_step(self, conn: WsConnection | None, t_now: int, down: bool) -> None:
        """Trades and quotes of the subscribed option contracts up to the market clock (lost,
        like stock data, while no client is connected or upstream is down). Nothing moves before
        the clock starts, so every subscription of a client's first burst sees the opening."""
        if self._clock_wall0 is None or time.monotonic() < self._clock_wall0:
            return
        subs = sorted((k, s) for k, s in self._subs if s not in self.market.code)
        after, self._option_since = self._option_since, max(self._option_since, t_now)
        if not subs or t_now <= after or self.market.synthetic is None:
            return
        hist = self._options()
        for kind, symbol in subs:
            msgs = hist.stream_messages(kind, symbol, after, t_now)
            if msgs is None:
                continue
            if conn is None or down:
                self.stats["trades_lost" if kind == "trades" else "quotes_lost"] = self.stats.get(
                    "trades_lost" if kind == "trades" else "quotes_lost", 0
                ) + len(msgs)
            elif kind == "trades":
                self.stats["trades_sent"] += len(msgs)
                conn.send_raw(self._with_malformed(msgs))
            else:
                self.stats["quotes_sent"] += len(msgs)
                conn.send_raw(encode.ws_frames(msgs))

    def _replay_step(self, conn: WsConnection | None, down: bool) -> None:
        if self.speed <= 0:
            return self._firehose_step(conn)
        t_now = self._market_now()
        self._option_step(conn, t_now, down)
        tr = self.market.trades
        hi = int(np.searchsorted(tr.ts, t_now, "right"))
        rows = np.arange(self._ptr_trades, hi)
        self._ptr_trades = hi
        q = self.market.quotes
        q_rows = np.array([], dtype=np.int64)
        if q is not None:
            qhi = int(np.searchsorted(q.ts, t_now, "right"))
            q_rows = np.arange(self._ptr_quotes, qhi)
            self._ptr_quotes = qhi
        if not len(rows) and not len(q_rows):
            return
        if conn is None or down:
            self.stats["trades_lost"] += len(rows)
            return
        trade_codes = {self.market.code[s] for k, s in self._subs if k == "trades" and s in self.market.code}
        quote_codes = {self.market.code[s] for k, s in self._subs if k == "quotes" and s in self.market.code}
        if trade_codes and len(rows):
            sel = rows[np.isin(tr.code[rows], list(trade_codes))]
            if len(sel):
                conn.send_raw(self._trade_frames(sel))
        if quote_codes and q is not None and len(q_rows):
            sel = q_rows[np.isin(q.code[q_rows], list(quote_codes))]
            if len(sel):
                conn.send_raw(self._quote_frames(sel))

    def _with_malformed(self, messages: pa.Array) -> bytes:
        every = self.faults.malformed_every
        if every and len(messages):
            k0 = self._msg_counter
            idx = np.arange(k0, k0 + len(messages))
            bad_at = np.nonzero(idx % every == every - 1)[0]
            if len(bad_at):
                bad = pa.array(['{"header":{"type":"TRADE","status":"CONN'] * len(bad_at))
                allm = pa.concat_arrays([messages, bad])
                order = np.insert(np.arange(len(messages)), bad_at + 1, len(messages) + np.arange(len(bad_at)))
                messages = allm.take(pa.array(order))
                self.faults.count("malformed", len(bad_at))
        self._msg_counter += len(messages)
        return encode.ws_frames(messages)

    def _trade_frames(self, rows: np.ndarray) -> bytes:
        tr = self.market.trades
        order, back = self.faults.reorder(self._trade_counter, len(rows))
        self._trade_counter += len(rows)
        r = rows[order]
        self.stats["trades_sent"] += len(rows)
        ts = pa.array(tr.ts[r], pa.int64())
        date, ms = encode.ny_date_ms(ts)
        root = pa.array(self.market.symbols).take(pa.array(tr.code[r]))
        v = tr.values
        rb = pc.if_else(pa.array(back), ',"records_back":1', "")

        def lit(text: str) -> pa.Array:
            return pa.array([text] * len(r))

        msg = pc.binary_join_element_wise(
            lit('{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK","root":"'),
            root,
            lit('"},"trade":{"ms_of_day":'),
            pc.cast(ms, pa.string()),
            lit(',"sequence":'),
            pc.cast(pa.array(v["sequence"][r]), pa.string()),
            lit(',"size":'),
            pc.cast(pa.array(v["size"][r].astype(np.int64)), pa.string()),
            lit(',"condition":'),
            pc.cast(pa.array(v["condition"][r]), pa.string()),
            lit(',"price":'),
            pc.cast(pa.array(v["price"][r]), pa.string()),
            lit(',"exchange":'),
            pc.cast(pa.array(v["exchange"][r]), pa.string()),
            lit(',"date":'),
            pc.cast(date, pa.string()),
            rb,
            lit("}}"),
            "",
        )
        return self._with_malformed(msg)

    def _quote_frames(self, rows: np.ndarray) -> bytes:
        q = self.market.quotes
        assert q is not None
        self.stats["quotes_sent"] += len(rows)
        ts = pa.array(q.ts[rows], pa.int64())
        date, ms = encode.ny_date_ms(ts)
        root = pa.array(self.market.symbols).take(pa.array(q.code[rows]))
        v = q.values

        def s(a: Any) -> pa.Array:
            return pc.cast(pa.array(a), pa.string())

        def lit(text: str) -> pa.Array:
            return pa.array([text] * len(rows))

        msg = pc.binary_join_element_wise(
            lit('{"header":{"status":"CONNECTED","type":"QUOTE"},"contract":{"security_type":"STOCK","root":"'),
            root,
            lit('"},"quote":{"ms_of_day":'),
            pc.cast(ms, pa.string()),
            lit(',"bid_size":'),
            s(v["bid_size"][rows].astype(np.int64)),
            lit(',"bid_exchange":'),
            s(v["bid_exchange"][rows]),
            lit(',"bid":'),
            s(v["bid"][rows]),
            lit(',"bid_condition":0,"ask_size":'),
            s(v["ask_size"][rows].astype(np.int64)),
            lit(',"ask_exchange":'),
            s(v["ask_exchange"][rows]),
            lit(',"ask":'),
            s(v["ask"][rows]),
            lit(',"ask_condition":0,"date":'),
            pc.cast(date, pa.string()),
            lit("}}"),
            "",
        )
        return encode.ws_frames(msg)
