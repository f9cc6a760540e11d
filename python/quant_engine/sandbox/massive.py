"""A fake Massive (formerly Polygon): REST and WebSocket in the vendor's exact envelopes
(``shared/protocols.md`` section B), serving a :class:`SandboxMarket`.

REST (``uvicorn`` + ``starlette``): aggregates (``second|minute|hour|day``), grouped daily,
trades and quotes (``timestamp.gte``-style filters, ``order`` default ``desc``, ``limit`` caps),
the options chain snapshot and single-contract snapshots. Envelopes: ``status: OK``, a 32-hex
``request_id``, counts, ``results`` omitted when empty, ``otc`` never sent (false), ns for
trades and quotes and ms for bars, ``next_url`` = path + ``?cursor=<opaque>`` without the key
(an invalid cursor gives 400). Auth: ``apiKey`` query or ``Authorization: Bearer``; 401
``ERROR`` otherwise; 403 ``NOT_AUTHORIZED`` for tickers outside ``market.entitled``. A token
bucket returns 429 (sometimes with an empty body, with ``Retry-After``).

WebSocket (``/stocks``, ``/options``): ``connected`` -> ``auth`` -> ``auth_success`` (or
``auth_failed`` and a close) -> per-channel ``success`` acks; ``T.``, ``Q.``, ``AM.`` channels
of symbols or ``*``; events batched in JSON arrays (``batch`` per message); ``AM`` bars at each
minute of the replay clock. Faults as for the fake terminal (:mod:`quant_engine.sandbox.faults`),
plus unknown event types, a status followed by a clean close, and late ``AM`` bars.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime as dt
import json
import secrets
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quant_engine.bars import aggregate_ticks
from quant_engine.feeds.newyork import utc_ns_of_ny
from quant_engine.sandbox import encode
from quant_engine.sandbox.faults import START_DELAY, FaultPlan
from quant_engine.sandbox.market import SandboxMarket
from quant_engine.sandbox.replay_server import ReplayServer
from quant_engine.sandbox.wsserver import WRITE_HIGH, WsConnection

__all__ = ["FakeMassive"]

_NS = 1_000_000_000
_MS = 1_000_000
_SPAN_NS = {"second": _NS, "minute": 60 * _NS, "hour": 3600 * _NS, "day": 86400 * _NS}
_FAILURES = (502, 503, 499, 413)
_TAPE = {1: 1, 2: 1, 3: 1, 4: 2, 7: 2, 10: 3, 11: 3, 12: 3, 17: 3, 19: 3, 57: 3}


class _Http(Exception):
    def __init__(self, status: int, body: dict[str, Any] | None):
        super().__init__(status)
        self.status = status
        self.body = body


def _rid() -> str:
    return secrets.token_hex(16)


def _instant(text: str, end: bool = False) -> int:
    """``YYYY-MM-DD`` (NY midnight; the end of the day when ``end``), or an integer in ns/ms."""
    if "-" in text:
        try:
            d = dt.date.fromisoformat(text)
        except ValueError:
            raise _Http(400, {"status": "ERROR", "error": f"invalid date {text!r}"}) from None
        return utc_ns_of_ny(d + dt.timedelta(days=1)) - 1 if end else utc_ns_of_ny(d)
    if not text.lstrip("-").isdigit():
        raise _Http(400, {"status": "ERROR", "error": f"invalid timestamp {text!r}"})
    v = int(text)
    return v if abs(v) > 10**15 else v * _MS


class FakeMassive(ReplayServer):
    """The fake Massive (see the module docstring).

    Args:
        market: the data served.
        api_key: the only accepted key.
        rest_port / ws_port: ports (0 = any free one).
        speed: stream replay speed (market seconds per wall second; 0 = as fast as possible).
        rate: requests per second of the token bucket (0 = unlimited); ``burst`` its size.
        batch: events per WebSocket message.
    """

    ws_paths = ("/stocks", "/options")

    def __init__(
        self,
        market: SandboxMarket,
        *,
        api_key: str = "sandbox",
        host: str = "127.0.0.1",
        rest_port: int = 0,
        ws_port: int = 0,
        speed: float = 60.0,
        rate: float = 0.0,
        burst: int = 20,
        batch: int = 100,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(market, host=host, rest_port=rest_port, ws_port=ws_port, speed=speed, faults=faults)
        self._key = api_key
        self.rate = rate
        self.burst = burst
        self.batch = batch
        self._tokens = float(burst)
        self._refill = time.monotonic()
        self._fail_i = 0
        self._conns: dict[WsConnection, dict[str, Any]] = {}
        self._minute = -1
        self._trade_counter = 0
        self._msg_counter = 0
        self._firehose: dict[WsConnection, collections.deque[bytes]] | None = None
        self.stats = {
            "requests": 0,
            "unauthorized": 0,
            "throttled": 0,
            "trades_sent": 0,
            "quotes_sent": 0,
            "aggregates_sent": 0,
            "connections": 0,
            "auth_failed": 0,
        }
        self.seen_urls: list[str] = []

    def __repr__(self) -> str:
        return f"FakeMassive(rest={self.rest_url!r}, ws={self.ws_url!r}, api_key=***)"

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL (append ``/stocks`` or ``/options``)."""
        return f"ws://{self.host}:{self.ws_port}"

    def _open_connections(self) -> list[WsConnection]:
        """The connected stream clients."""
        return list(self._conns)

    # ------------------------------------------------------------------------------ REST
    def app(self) -> Starlette:
        """The starlette application."""
        return Starlette(
            routes=[
                Route("/v2/aggs/ticker/{ticker}/range/{mult}/{timespan}/{start}/{end}", self._aggs),
                Route("/v2/aggs/grouped/locale/us/market/stocks/{date}", self._grouped),
                Route("/v3/trades/{ticker}", self._trades),
                Route("/v3/quotes/{ticker}", self._quotes),
                Route("/v3/snapshot/options/{underlying}", self._chain),
                Route("/v3/snapshot/options/{underlying}/{contract}", self._contract),
                Route("/v1/marketstatus/now", self._market_status),
                Route("/_sandbox/faults", self._faults, methods=["GET", "POST"]),
                Route("/_sandbox/stats", self._stats),
                Route("/_sandbox/replay", self._replay, methods=["POST"]),
            ]
        )

    async def _handle(self, request: Request, fn: Any) -> Response:
        self.stats["requests"] += 1
        self.seen_urls.append(str(request.url))
        try:
            q = dict(request.query_params)
            auth = request.headers.get("authorization", "")
            key = q.pop("apiKey", None) or (auth[7:] if auth.lower().startswith("bearer ") else None)
            if not key:
                self.stats["unauthorized"] += 1
                raise _Http(401, {"status": "ERROR", "error": "API Key was not provided"})
            if key != self._key:
                self.stats["unauthorized"] += 1
                raise _Http(401, {"status": "ERROR", "error": "Unknown API Key"})
            self._throttle()
            if self.faults.take("http_5xx"):
                code = _FAILURES[self._fail_i % len(_FAILURES)]
                self._fail_i += 1
                raise _Http(code, {"status": "ERROR", "error": "upstream failure (sandbox fault)"})
            if "cursor" in q:
                q = self._decode_cursor(q["cursor"])
            body = fn(request.path_params, q, request.url.path)
            rows = body.pop("_rows", None)
            body.setdefault("status", "OK")
            body["request_id"] = _rid()
            text = json.dumps(body, separators=(",", ":"))
            if rows is not None and len(rows):
                text = text.replace('"__RESULTS__"', "[" + ",".join(rows.to_pylist()) + "]", 1)
            return Response(text.encode(), media_type="application/json")
        except _Http as h:
            if h.body is None:
                return Response(b"", status_code=h.status, headers={"Retry-After": "1"})
            h.body.setdefault("request_id", _rid())
            headers = {"Retry-After": "1"} if h.status == 429 else None
            return JSONResponse(h.body, status_code=h.status, headers=headers)

    def _throttle(self) -> None:
        if self.faults.take("http_429"):
            self.stats["throttled"] += 1
            raise _Http(
                429,
                None
                if self.stats["throttled"] % 2
                else {
                    "status": "ERROR",
                    "error": "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue.",
                },
            )
        if self.rate <= 0:
            return
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._refill) * self.rate)
        self._refill = now
        if self._tokens < 1:
            self.stats["throttled"] += 1
            raise _Http(
                429,
                {
                    "status": "ERROR",
                    "error": "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue.",
                },
            )
        self._tokens -= 1

    @staticmethod
    def _encode_cursor(q: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(q, sort_keys=True).encode()).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(cursor: str) -> dict[str, str]:
        try:
            q = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            assert isinstance(q, dict) and "offset" in q
            return {str(k): str(v) for k, v in q.items()}
        except Exception:  # noqa: BLE001 - any garbage is a bad cursor
            raise _Http(400, {"status": "ERROR", "error": "invalid or expired cursor"}) from None

    def _page(self, rows: pa.Array, q: dict[str, str], path: str, default: int, cap: int) -> dict[str, Any]:
        try:
            limit = int(q.get("limit", default))
        except ValueError:
            raise _Http(400, {"status": "ERROR", "error": "limit must be an integer"}) from None
        if not 1 <= limit <= cap:
            raise _Http(400, {"status": "ERROR", "error": f"limit must be between 1 and {cap}"})
        offset = int(q.get("offset", "0"))
        chunk = rows[offset : offset + limit]
        out: dict[str, Any] = {}
        if len(chunk):
            out["results"] = "__RESULTS__"
        if offset + limit < len(rows):
            out["next_url"] = (
                f"{self.rest_url}{path}?cursor={self._encode_cursor({**q, 'offset': str(offset + limit)})}"
            )
        out["_rows"] = chunk
        return out

    def _symbol(self, ticker: str) -> str:
        sym = ticker.removeprefix("O:")
        if self.market.entitled is not None and sym not in self.market.entitled:
            raise _Http(
                403,
                {
                    "status": "NOT_AUTHORIZED",
                    "message": "Your plan doesn't include this data timeframe. Please upgrade your plan.",
                },
            )
        return sym

    def _bars_rows(self, bars: pa.Table, with_ticker: bool) -> pa.Array:
        cols: list[tuple[str, pa.Array, bool]] = []
        if with_ticker:
            cols.append(("T", bars.column("symbol").combine_chunks(), True))
        cols += [
            ("v", encode.number_strings(bars.column("volume").combine_chunks()), False),
            ("vw", encode.number_strings(pc.round(bars.column("vwap"), 4).combine_chunks()), False),
            ("o", encode.number_strings(bars.column("open").combine_chunks()), False),
            ("c", encode.number_strings(bars.column("close").combine_chunks()), False),
            ("h", encode.number_strings(bars.column("high").combine_chunks()), False),
            ("l", encode.number_strings(bars.column("low").combine_chunks()), False),
            (
                "t",
                encode.number_strings(pc.divide(pc.cast(bars.column("start"), pa.int64()), _MS).combine_chunks()),
                False,
            ),
            ("n", encode.number_strings(bars.column("trades").combine_chunks()), False),
        ]
        return encode.json_rows(cols)

    def _aggregate(self, sym: str, lo: int, hi: int, span: int) -> pa.Table:
        code = self.market.code.get(sym)
        if code is None:
            return pa.table({})
        rows = self.market.trades.between(code, lo, hi)
        if not len(rows):
            return pa.table({})
        origin: Any = "00:00 America/New_York" if span >= 86400 * _NS else None
        return aggregate_ticks(self.market.trades_table(rows), span, origin)

    async def _market_status(self, request: Request) -> Response:
        """``/v1/marketstatus/now`` (the clients' health probe): the market clock's state."""

        def fn(p: dict[str, str], q: dict[str, str], path: str) -> dict[str, Any]:
            now = self._market_now()
            is_open = self.market.start_ns <= now < self.market.end_ns
            return {
                "market": "open" if is_open else "closed",
                "serverTime": dt.datetime.now(dt.UTC).isoformat(),
                "exchanges": {"nasdaq": "open" if is_open else "closed", "nyse": "open" if is_open else "closed"},
            }

        return await self._handle(request, fn)

    async def _aggs(self, request: Request) -> Response:
        def fn(p: dict[str, str], q: dict[str, str], path: str) -> dict[str, Any]:
            sym = self._symbol(p["ticker"])
            span = p["timespan"]
            if span not in _SPAN_NS:
                raise _Http(400, {"status": "ERROR", "error": f"timespan {span!r} is not served by the sandbox"})
            mult = int(p["mult"])
            bars = self._aggregate(sym, _instant(p["start"]), _instant(p["end"], end=True), mult * _SPAN_NS[span])
            if bars.num_rows and q.get("sort", "asc") == "desc":
                bars = bars.take(pa.array(np.arange(bars.num_rows)[::-1]))
            rows = self._bars_rows(bars, False) if bars.num_rows else pa.array([], pa.string())
            page = self._page(rows, q, path, 5000, 50000)
            n = len(page["_rows"])
            return {
                "ticker": p["ticker"],
                "queryCount": n,
                "resultsCount": n,
                "adjusted": q.get("adjusted", "true") != "false",
                **page,
                "count": n,
            }

        return await self._handle(request, fn)

    async def _grouped(self, request: Request) -> Response:
        def fn(p: dict[str, str], q: dict[str, str], path: str) -> dict[str, Any]:
            day = dt.date.fromisoformat(p["date"])
            lo, hi = utc_ns_of_ny(day), utc_ns_of_ny(day + dt.timedelta(days=1)) - 1
            tables = [self._aggregate(s, lo, hi, 86400 * _NS) for s in self.market.symbols]
            tables = [t for t in tables if t.num_rows]
            out: dict[str, Any] = {"queryCount": 0, "resultsCount": 0, "adjusted": q.get("adjusted", "true") != "false"}
            if tables:
                bars = pa.concat_tables(tables)
                close_ns = utc_ns_of_ny(day, 16)  # the vendor's mock stamps grouped bars 16:00 ET
                bars = bars.set_column(
                    1, "start", pa.array(np.full(bars.num_rows, close_ns), pa.timestamp("ns", tz="UTC"))
                )
                rows = self._bars_rows(bars, True)
                out.update(queryCount=len(rows), resultsCount=len(rows), results="__RESULTS__", _rows=rows)
            out["count"] = out["resultsCount"]
            return out

        return await self._handle(request, fn)

    def _range(self, q: dict[str, str]) -> tuple[int, int]:
        lo, hi = -(2**62), 2**62
        if "timestamp" in q:
            lo, hi = _instant(q["timestamp"]), _instant(q["timestamp"], end=True)
        if "timestamp.gte" in q:
            lo = max(lo, _instant(q["timestamp.gte"]))
        if "timestamp.gt" in q:
            lo = max(lo, _instant(q["timestamp.gt"]) + 1)
        if "timestamp.lte" in q:
            hi = min(hi, _instant(q["timestamp.lte"], end=True))
        if "timestamp.lt" in q:
            hi = min(hi, _instant(q["timestamp.lt"]) - 1)
        return lo, hi

    def _ticks(self, p: dict[str, str], q: dict[str, str], path: str, quotes: bool) -> dict[str, Any]:
        sym = self._symbol(p["ticker"])
        if q.get("order", "desc") not in ("asc", "desc"):
            raise _Http(400, {"status": "ERROR", "error": "order must be asc or desc"})
        code = self.market.code.get(sym)
        lo, hi = self._range(q)
        src = self.market.quotes if quotes else self.market.trades
        rows = src.between(code, lo, hi) if code is not None and src is not None else np.array([], np.int64)
        if q.get("order", "desc") == "desc":
            rows = rows[::-1]
        if not len(rows):
            return {}
        off = int(q.get("offset", "0"))
        lim = int(q.get("limit", 1000))
        window = rows[off : off + lim]

        def n(a: Any) -> pa.Array:
            return encode.number_strings(pa.array(a))

        if quotes:
            v = self.market.quotes.values  # type: ignore[union-attr]
            ts = self.market.quotes.ts[window]  # type: ignore[union-attr]
            cols = [
                ("ask_exchange", n(v["ask_exchange"][window]), False),
                ("ask_price", n(v["ask"][window]), False),
                ("ask_size", n(v["ask_size"][window]), False),
                ("bid_exchange", n(v["bid_exchange"][window]), False),
                ("bid_price", n(v["bid"][window]), False),
                ("bid_size", n(v["bid_size"][window]), False),
                ("participant_timestamp", n(ts - 20_000), False),
                ("sequence_number", n(np.arange(len(window)) + off + 1), False),
                ("sip_timestamp", n(ts), False),
                ("tape", pa.array(["3"] * len(window)), False),
            ]
        else:
            v = self.market.trades.values
            ts = self.market.trades.ts[window]
            conds = pc.if_else(
                pc.equal(pa.array(v["condition"][window]), 0),
                "[]",
                pc.binary_join_element_wise("[", pc.cast(pa.array(v["condition"][window]), pa.string()), "]", ""),
            )
            tape = (
                np.vectorize(lambda x: _TAPE.get(int(x), 3))(v["exchange"][window])
                if len(window)
                else np.array([], int)
            )
            cols = [
                ("conditions", conds, False),
                ("exchange", n(v["exchange"][window]), False),
                ("id", n(v["sequence"][window]), True),
                ("participant_timestamp", n(ts - 30_000), False),
                ("price", n(v["price"][window]), False),
                ("sequence_number", n(v["sequence"][window]), False),
                ("sip_timestamp", n(ts), False),
                ("size", n(v["size"][window]), False),
                ("tape", n(tape), False),
            ]
        body: dict[str, Any] = {"results": "__RESULTS__", "_rows": encode.json_rows(cols)}
        limit = int(q.get("limit", 1000))
        if not 1 <= limit <= 50000:
            raise _Http(400, {"status": "ERROR", "error": "limit must be between 1 and 50000"})
        if off + lim < len(rows):
            body["next_url"] = f"{self.rest_url}{path}?cursor={self._encode_cursor({**q, 'offset': str(off + lim)})}"
        return body

    async def _trades(self, request: Request) -> Response:
        return await self._handle(request, lambda p, q, path: self._ticks(p, q, path, False))

    async def _quotes(self, request: Request) -> Response:
        return await self._handle(request, lambda p, q, path: self._ticks(p, q, path, True))

    def _chain_table(self, underlying: str, q: dict[str, str]) -> pa.Table:
        syn = self.market.synthetic
        if syn is None or underlying not in syn.symbols:
            return pa.table({})
        chain = syn.option_chain(underlying)
        if "expiration_date" in q:
            chain = chain.filter(
                pc.equal(
                    chain.column("expiration"), pa.scalar(dt.date.fromisoformat(q["expiration_date"]), pa.date32())
                )
            )
        if "contract_type" in q:
            chain = chain.filter(pc.equal(chain.column("right"), q["contract_type"].upper()))
        for op, fn in (("gte", pc.greater_equal), ("lte", pc.less_equal), ("gt", pc.greater), ("lt", pc.less)):
            if f"strike_price.{op}" in q:
                chain = chain.filter(fn(chain.column("strike"), float(q[f"strike_price.{op}"])))
        return chain

    def _chain_rows(self, chain: pa.Table) -> list[str]:
        out = []
        for r in chain.to_pylist():  # a chain is at most a few hundred rows
            ts = int(r["ts"].timestamp() * 1e9) if hasattr(r["ts"], "timestamp") else int(r["ts"])
            item: dict[str, Any] = {
                "break_even_price": round(
                    r["strike"] + r["mid"] if r["right"] == "CALL" else r["strike"] - r["mid"], 4
                ),
                "day": {"close": r["mid"], "last_updated": ts},
                "details": {
                    "contract_type": r["right"].lower(),
                    "exercise_style": "american",
                    "expiration_date": r["expiration"].isoformat(),
                    "shares_per_contract": 100,
                    "strike_price": r["strike"],
                    "ticker": "O:" + r["symbol"],
                },
                "implied_volatility": round(r["implied_vol"], 4),
                "open_interest": 1000,
                "last_quote": {
                    "ask": r["ask"],
                    "ask_size": 10,
                    "bid": r["bid"],
                    "bid_size": 10,
                    "midpoint": r["mid"],
                    "last_updated": ts,
                    "timeframe": "REAL-TIME",
                },
                "underlying_asset": {
                    "price": r["underlying_price"],
                    "ticker": r["underlying"],
                    "last_updated": ts,
                    "timeframe": "REAL-TIME",
                },
            }
            if r["bid"] > 0:
                item["greeks"] = {
                    "delta": round(r["delta"], 4),
                    "gamma": round(r["gamma"], 5),
                    "theta": round(r["theta"], 4),
                    "vega": round(r["vega"], 4),
                }
            out.append(json.dumps(item, separators=(",", ":")))
        return out

    async def _chain(self, request: Request) -> Response:
        def fn(p: dict[str, str], q: dict[str, str], path: str) -> dict[str, Any]:
            sym = self._symbol(p["underlying"])
            rows = pa.array(self._chain_rows(self._chain_table(sym, q)), pa.string())
            return self._page(rows, q, path, 10, 250)

        return await self._handle(request, fn)

    async def _contract(self, request: Request) -> Response:
        def fn(p: dict[str, str], q: dict[str, str], path: str) -> dict[str, Any]:
            sym = self._symbol(p["underlying"])
            chain = self._chain_table(sym, {})
            hit = (
                chain.filter(pc.equal(chain.column("symbol"), p["contract"].removeprefix("O:")))
                if chain.num_rows
                else chain
            )
            if not hit.num_rows:
                raise _Http(404, {"status": "NOT_FOUND", "message": "Contract not found."})
            return {"results": json.loads(self._chain_rows(hit)[0])}

        return await self._handle(request, fn)

    def snapshot(self) -> dict[str, Any]:
        """Counters, injected faults, the replay position and open connections."""
        return {**super().snapshot(), "connections_open": len(self._conns)}

    # ------------------------------------------------------------------------------ WebSocket
    async def _ws_handler(self, conn: WsConnection) -> None:
        state: dict[str, Any] = {"auth": False, "T": set(), "Q": set(), "AM": set()}
        self.stats["connections"] += 1
        conn.send_text('[{"ev":"status","status":"connected","message":"Connected Successfully"}]')
        self._conns[conn] = state
        try:
            while True:
                raw = await conn.recv()
                if raw is None:
                    return
                try:
                    msg = json.loads(raw)
                    action, params = str(msg.get("action", "")), str(msg.get("params", ""))
                except (ValueError, AttributeError):
                    conn.send_text('[{"ev":"status","status":"error","message":"invalid message"}]')
                    continue
                if action == "auth":
                    if params == self._key:
                        state["auth"] = True
                        conn.send_text('[{"ev":"status","status":"auth_success","message":"authenticated"}]')
                    else:
                        self.stats["auth_failed"] += 1
                        conn.send_text('[{"ev":"status","status":"auth_failed","message":"authentication failed"}]')
                        await conn.close(1008, "authentication failed")
                        return
                elif action in ("subscribe", "unsubscribe"):
                    if not state["auth"]:
                        conn.send_text('[{"ev":"status","status":"auth_required","message":"authentication required"}]')
                        continue
                    acks = []
                    for channel in [c.strip() for c in params.split(",") if c.strip()]:
                        prefix, _, sym = channel.partition(".")
                        if prefix not in ("T", "Q", "AM") or not sym:
                            acks.append({"ev": "status", "status": "error", "message": f"invalid channel: {channel}"})
                            continue
                        target = state[prefix]
                        (target.add if action == "subscribe" else target.discard)(sym.removeprefix("O:"))
                        verb = "subscribed to" if action == "subscribe" else "unsubscribed to"
                        acks.append({"ev": "status", "status": "success", "message": f"{verb}: {channel}"})
                        if self._clock_wall0 is None and action == "subscribe":
                            self._clock_wall0 = time.monotonic() + START_DELAY
                    conn.send_text(json.dumps(acks, separators=(",", ":")))
                else:
                    conn.send_text('[{"ev":"status","status":"error","message":"unknown action"}]')
        finally:
            self._conns.pop(conn, None)

    async def _stream_loop(self) -> None:
        next_disconnect: float | None = None
        while True:
            now = time.monotonic()
            if self.faults.disconnect_every:
                if next_disconnect is None:
                    next_disconnect = now + self.faults.disconnect_every
                elif now >= next_disconnect:
                    next_disconnect = now + self.faults.disconnect_every
                    for c in list(self._conns):
                        c.abort()
                        self.faults.count("disconnects")
            if self.faults.take("disconnect_now"):
                for c in list(self._conns):
                    c.abort()
            if self.faults.status_close:
                status, self.faults.status_close = self.faults.status_close, ""
                self.faults.count("status_close")
                for c in list(self._conns):
                    c.send_text(
                        json.dumps([{"ev": "status", "status": status, "message": f"{status} (sandbox fault)"}])
                    )
                    await c.close(1000, status)
            if self._clock_wall0 is not None:
                self._step()
            if any(c.buffered() >= WRITE_HIGH for c in self._conns):
                await asyncio.gather(*(c.drain() for c in list(self._conns)))
            else:  # spin only while a firehose still has data to hand over
                busy = self._firehose and any(chunks and not c.closed for c, chunks in self._firehose.items())
                await asyncio.sleep(0 if busy else 0.005)

    def trade_frames(self, symbols: list[str]) -> bytes:
        """The exact bytes the stream sends for every trade of ``symbols`` (no faults)."""
        tr = self.market.trades
        rows = np.nonzero(np.isin(tr.code, [self.market.code[s] for s in symbols]))[0]
        saved, self.faults = self.faults, FaultPlan()
        try:
            return b"".join(
                self._frames(self._trade_events(rows[i : i + 200_000])) for i in range(0, len(rows), 200_000)
            )
        finally:
            self.faults = saved

    def _firehose_step(self) -> None:
        """``speed=0``: as for the fake terminal, everything subscribed is encoded once (half a
        second after the first subscription) and sent as fast as the sockets drain."""
        assert self._clock_wall0 is not None
        if self._firehose is None:
            if time.monotonic() < self._clock_wall0:
                return
            tr = self.market.trades
            self._firehose = {}
            for conn, st in self._conns.items():
                codes = self._codes(st["T"])
                rows = np.arange(self._ptr_trades, len(tr.ts))
                rows = rows[np.isin(tr.code[rows], codes)] if codes is not None else rows[:0]
                self._firehose[conn] = collections.deque(
                    self._frames(self._trade_events(rows[i : i + 200_000])) for i in range(0, len(rows), 200_000)
                )
            self._ptr_trades = len(tr.ts)
        for conn, chunks in self._firehose.items():
            if chunks and not conn.closed:
                conn.send_raw(chunks.popleft())

    def _step(self) -> None:
        if self.speed <= 0:
            return self._firehose_step()
        t_now = self._market_now()
        tr = self.market.trades
        hi = int(np.searchsorted(tr.ts, t_now, "right"))
        rows = np.arange(self._ptr_trades, hi)
        self._ptr_trades = hi
        q = self.market.quotes
        q_rows = np.array([], np.int64)
        if q is not None:
            qhi = int(np.searchsorted(q.ts, t_now, "right"))
            q_rows = np.arange(self._ptr_quotes, qhi)
            self._ptr_quotes = qhi
        minute = t_now // (60 * _NS)
        finished_minute = None
        if self._minute >= 0 and minute > self._minute:
            finished_minute = self._minute
        self._minute = minute
        for conn, st in list(self._conns.items()):
            if not st["auth"] or conn.closed:
                continue
            events: list[pa.Array] = []
            t_codes = self._codes(st["T"])
            if t_codes is not None and len(rows):
                sel = rows[np.isin(tr.code[rows], t_codes)]
                if len(sel):
                    events.append(self._trade_events(sel))
            q_codes = self._codes(st["Q"])
            if q is not None and q_codes is not None and len(q_rows):
                sel = q_rows[np.isin(q.code[q_rows], q_codes)]
                if len(sel):
                    events.append(self._quote_events(sel))
                    self.stats["quotes_sent"] += len(sel)
            am_codes = self._codes(st["AM"])
            if am_codes is not None and finished_minute is not None:
                am = self._minute_bars(finished_minute, am_codes)
                if am is not None:
                    events.append(am)
            if events:
                conn.send_raw(self._frames(pa.concat_arrays(events)))

    def _codes(self, subs: set[str]) -> np.ndarray | None:
        if not subs:
            return None
        if "*" in subs:
            return np.arange(len(self.market.symbols))
        return np.array([self.market.code[s] for s in subs if s in self.market.code], dtype=np.int32)

    def _trade_events(self, rows: np.ndarray) -> pa.Array:
        order, _ = self.faults.reorder(self._trade_counter, len(rows))
        self._trade_counter += len(rows)
        r = rows[order]
        self.stats["trades_sent"] += len(rows)
        tr = self.market.trades
        v = tr.values

        def s(a: Any) -> pa.Array:
            return pc.cast(pa.array(a), pa.string())

        sym = pa.array(self.market.symbols).take(pa.array(tr.code[r]))
        conds = pc.if_else(
            pc.equal(pa.array(v["condition"][r]), 0),
            "[]",
            pc.binary_join_element_wise("[", s(v["condition"][r]), "]", ""),
        )
        return encode.json_rows(
            [
                ("ev", pa.array(["T"] * len(r)), True),
                ("sym", sym, True),
                ("i", s(v["sequence"][r]), True),
                ("x", s(v["exchange"][r]), False),
                ("p", s(v["price"][r]), False),
                ("s", s(v["size"][r].astype(np.int64)), False),
                ("c", conds, False),
                ("t", s(tr.ts[r] // _MS), False),
                ("q", s(v["sequence"][r]), False),
                ("z", pa.array(["3"] * len(r)), False),
            ]
        )

    def _quote_events(self, rows: np.ndarray) -> pa.Array:
        q = self.market.quotes
        assert q is not None
        v = q.values

        def s(a: Any) -> pa.Array:
            return pc.cast(pa.array(a), pa.string())

        sym = pa.array(self.market.symbols).take(pa.array(q.code[rows]))
        return encode.json_rows(
            [
                ("ev", pa.array(["Q"] * len(rows)), True),
                ("sym", sym, True),
                ("bx", s(v["bid_exchange"][rows]), False),
                ("bp", s(v["bid"][rows]), False),
                ("bs", s((v["bid_size"][rows] // 100).astype(np.int64)), False),
                ("ax", s(v["ask_exchange"][rows]), False),
                ("ap", s(v["ask"][rows]), False),
                ("as", s((v["ask_size"][rows] // 100).astype(np.int64)), False),
                ("c", pa.array(["1"] * len(rows)), False),
                ("t", s(q.ts[rows] // _MS), False),
                ("z", pa.array(["3"] * len(rows)), False),
            ]
        )

    def _minute_bars(self, minute: int, codes: np.ndarray) -> pa.Array | None:
        lo, hi = minute * 60 * _NS, (minute + 1) * 60 * _NS - 1
        tables = []
        for c in codes:
            rows = self.market.trades.between(int(c), lo, hi)
            if len(rows):
                tables.append(aggregate_ticks(self.market.trades_table(rows), "1m"))
        if not tables:
            return None
        b = pa.concat_tables(tables)
        self.stats["aggregates_sent"] += b.num_rows

        def s(a: Any) -> Any:
            return pc.cast(a, pa.string())

        start_ms = pc.divide(pc.cast(b.column("start"), pa.int64()), _MS)
        z = pc.cast(
            pc.round(pc.divide(b.column("volume"), pc.cast(pc.max_element_wise(b.column("trades"), 1), pa.float64()))),
            pa.int64(),
        )
        return encode.json_rows(
            [
                ("ev", pa.array(["AM"] * b.num_rows), True),
                ("sym", b.column("symbol").combine_chunks(), True),
                ("v", s(pc.cast(b.column("volume"), pa.int64())).combine_chunks(), False),
                ("vw", s(pc.round(b.column("vwap"), 4)).combine_chunks(), False),
                ("o", s(b.column("open")).combine_chunks(), False),
                ("c", s(b.column("close")).combine_chunks(), False),
                ("h", s(b.column("high")).combine_chunks(), False),
                ("l", s(b.column("low")).combine_chunks(), False),
                ("z", s(z).combine_chunks(), False),
                ("s", s(start_ms).combine_chunks(), False),
                ("e", s(pc.add(start_ms, 60_000)).combine_chunks(), False),
            ]
        )

    def _frames(self, events: pa.Array) -> bytes:
        values = events.to_pylist()
        if self.faults.unknown_events and values:
            values.insert(
                len(values) // 2,
                '{"ev":"LULD","T":"%s","h":1.0,"l":0.9,"i":[],"z":3,"t":0}' % self.market.symbols[0],  # noqa: UP031
            )
            values.append('{"ev":"FMV","sym":"%s","fmv":1.0,"t":0}' % self.market.symbols[0])  # noqa: UP031
            self.faults.count("unknown_events", 2)
        messages = ["[" + ",".join(values[i : i + self.batch]) + "]" for i in range(0, len(values), self.batch)]
        every = self.faults.malformed_every
        if every:
            out = []
            for m in messages:
                out.append(m)
                self._msg_counter += 1
                if self._msg_counter % every == 0:
                    out.append('[{"ev":"T","sym":"AAPL","p":')
                    self.faults.count("malformed")
            messages = out
        return encode.ws_frames([m.encode() for m in messages])
