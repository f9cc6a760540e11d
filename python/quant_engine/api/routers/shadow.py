"""The shadow trader's paper session, read from the store's journal (the trader runs as
``quant-engine shadow run``; this server reads what it journaled): status, positions, orders,
fills, the equity curve, and the kill switch (a request the trader applies at its next bar
close). ``docs/shadow.md`` describes the journal; ``docs/api.md`` these endpoints."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Query, Request
from msgspec import Meta
from starlette.responses import Response

from quant_engine.api.errors import ApiError
from quant_engine.api.io import operation, read_body, reply
from quant_engine.api.queries import journal_newest, shadow_positions
from quant_engine.api.state import run_sync, store_of

__all__ = ["router", "shadow_health", "ONLINE_WITHIN_S"]

router = APIRouter(prefix="/shadow", tags=["trading"])

Account = Annotated[str, Query(min_length=1, max_length=200, description="the paper session's account")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
ONLINE_WITHIN_S = 120.0
"""A session whose newest account snapshot is older than this is reported as not running."""


class ShadowStatusBody(msgspec.Struct):
    """A paper session's state: ``state`` is ``online``, ``degraded`` (the trader's watchdog:
    stale data, orders stopped) or ``stopped`` (no snapshot for ``ONLINE_WITHIN_S`` seconds);
    the latest snapshot's cash, equity, open positions by slot, mode (``normal``, ``flatten``,
    ``freeze``), fills so far and the newest bar's time; the feed's rate over the session
    (``ticks_per_s``) and the newest bar close's latency to the journal (``bar_latency_ms``)."""

    account: str
    state: str
    reason: str
    cash: float
    equity: float
    positions: dict[str, float]
    mode: str
    slots: int
    fills: int
    last_bar_ns: int
    snapshot_at: float
    ticks_per_s: float | None = None
    bar_latency_ms: float | None = None


class ShadowPosition(msgspec.Struct):
    """One slot's (strategy on a symbol) position after its newest bar."""

    slot: str
    strategy: str
    symbol: str | None
    quantity: float
    entry_price: float | None
    stop: float | None
    take: float | None
    pending: str
    cash: float
    equity: float
    bar_ns: int


class ShadowEntry(msgspec.Struct):
    """A journaled order or fill (its payload as the trader wrote it)."""

    id: int
    symbol: str | None
    ts_ns: int
    recorded_at: float
    payload: dict[str, Any]


class EquityPoint(msgspec.Struct):
    """The session's account after a bar close."""

    ts_ns: int
    equity: float
    cash: float


class KillRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A kill-switch request: ``flatten`` (close every position and stop), ``freeze`` (no new
    orders, positions kept) or ``resume`` (lift a freeze)."""

    mode: Literal["flatten", "freeze", "resume"]
    account: Annotated[str, Meta(min_length=1, max_length=200)] = "shadow"
    reason: Annotated[str, Meta(max_length=2000)] = ""


class KillAccepted(msgspec.Struct):
    """The request's event id (the trader applies it at its next bar close)."""

    event_id: int
    account: str
    mode: str


def _status(store: Any, account: str) -> ShadowStatusBody | None:
    from quant_engine.trading.shadow_status import session_status

    snap = session_status(store, account)
    newest = journal_newest(store, account=account, kind="account", limit=1)
    if snap is None or not newest:
        return None
    age = time.time() - newest[0].recorded_at
    if age > ONLINE_WITHIN_S:
        state, reason = "stopped", f"no bar close journaled for {age:.0f} s"
    elif snap.get("health", "ok") != "ok":
        state, reason = "degraded", f"the trader reports {snap.get('health')}"
    else:
        state, reason = "online", f"{snap.get('slots', 0)} strategies trading"
    feed = dict(snap.get("feed") or {})
    took = newest[0].recorded_at - float(feed.get("started_at", newest[0].recorded_at))
    rate = float(feed["ticks"]) / took if "ticks" in feed and took > 0 else None
    latency = feed.get("last_latency_ms")
    return ShadowStatusBody(account, state, reason, float(snap.get("cash", 0.0)), float(snap.get("equity", 0.0)),
                            {str(k): float(v) for k, v in dict(snap.get("positions", {})).items()},
                            str(snap.get("mode", "normal")), int(snap.get("slots", 0)), int(snap["fills"]),
                            int(snap["last_bar"]), newest[0].recorded_at, rate,
                            None if latency is None else float(latency))  # fmt: skip


def shadow_health(store: Any, account: str = "shadow") -> tuple[str, str]:
    """The shadow trader's health for ``/health``: ``(state, detail)``."""
    status = _status(store, account)
    if status is None:
        return "not running", f"no paper session {account!r} in the store (start one with quant-engine shadow run)"
    return status.state, status.reason


@router.get("/status", summary="The paper session's state", **operation(response=ShadowStatusBody))
async def status(request: Request, account: Account = "shadow") -> Response:
    """The latest journaled account snapshot with its state (404: no session of that account)."""
    body = await run_sync(_status, store_of(request), account)
    if body is None:
        raise ApiError(404, "not_found", f"no paper session {account!r} in the store")
    return reply(body)


def _position(e: Any) -> ShadowPosition:
    p = e.payload
    return ShadowPosition(str(p["slot"]), str(p.get("strategy", "")), e.symbol, float(p.get("quantity", 0.0)),
                          p.get("entry_price"), p.get("stop"), p.get("take"), str(p.get("pending", "none")),
                          float(p.get("cash", 0.0)), float(p.get("equity", 0.0)), e.ts_ns)  # fmt: skip


@router.get("/positions", summary="Each strategy's position", **operation(response=list[ShadowPosition]))
async def positions(request: Request, account: Account = "shadow") -> Response:
    """Every slot's position after its newest bar (flat ones included)."""
    entries = await run_sync(shadow_positions, store_of(request), account)
    return reply([_position(e) for e in entries])


def _entries(kind: str):  # type: ignore[no-untyped-def]
    async def read(request: Request, account: Account = "shadow", limit: Limit = 100) -> Response:
        rows = await run_sync(journal_newest, store_of(request), account=account, kind=kind, limit=limit)
        return reply([ShadowEntry(e.id, e.symbol, e.ts_ns, e.recorded_at, e.payload) for e in rows])

    read.__doc__ = f"The newest journaled {kind}s, newest first."
    return read


router.add_api_route("/orders", _entries("order"), methods=["GET"], summary="Journaled orders",
                     **operation(response=list[ShadowEntry]))  # fmt: skip
router.add_api_route("/fills", _entries("fill"), methods=["GET"], summary="Journaled fills",
                     **operation(response=list[ShadowEntry]))  # fmt: skip


def equity_curve(store: Any, account: str, limit: int) -> list[EquityPoint]:
    """The newest ``limit`` account snapshots as an equity curve, oldest first."""
    rows = journal_newest(store, account=account, kind="account", limit=limit)
    points = [EquityPoint(e.ts_ns, float(e.payload["equity"]), float(e.payload.get("cash", 0.0)))
              for e in reversed(rows) if "equity" in e.payload and e.ts_ns > 0]  # fmt: skip
    return points


@router.get("/pnl", summary="The session's equity curve", **operation(response=list[EquityPoint]))
async def pnl(request: Request, account: Account = "shadow", limit: Limit = 2000) -> Response:
    """Equity and cash after each bar close (the newest ``limit``), oldest first."""
    return reply(await run_sync(equity_curve, store_of(request), account, limit))


@router.post("/kill", summary="The kill switch",
             **operation(body=KillRequest, response=KillAccepted, status=202, description="Accepted"))  # fmt: skip
async def kill(request: Request) -> Response:
    """Writes a kill-switch request (``shadow.kill`` event); the running trader applies it at its
    next bar close, so the answer is 202."""
    from quant_engine.trading.shadow_journal import request_kill

    body = await read_body(request, KillRequest)
    event_id = await run_sync(request_kill, store_of(request), body.account, body.mode, body.reason)
    return reply(KillAccepted(event_id, body.account, body.mode), status=202)
