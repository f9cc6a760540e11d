"""``POST /data/market`` and ``GET /data/engines/status``: the data router over HTTP."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from quant_engine.api.bodies import EngineStatusBody, MarketRequest, MarketResponse, Tried
from quant_engine.api.io import operation, read_body, reply
from quant_engine.api.routers.health import engine_body
from quant_engine.api.state import app_state, run_sync
from quant_engine.api.tables import ARROW_STREAM, ipc_stream, json_columns, wants_arrow

__all__ = ["router"]

router = APIRouter(prefix="/data", tags=["data"])


@router.post("/market", summary="Market data through the data router (JSON, or Arrow IPC on request)",
             **operation(body=MarketRequest, response=MarketResponse, media=(ARROW_STREAM,)))  # fmt: skip
async def market(request: Request) -> Response:
    """Trades, quotes or bars of one symbol, from the engine the router picks for the use case
    (discovery: Massive then the catalog; execution: ThetaData then the catalog). JSON columns by
    default; an Arrow IPC stream (``X-QE-Engine`` names the engine) when the request sends
    ``Accept: application/vnd.apache.arrow.stream``. No engine with data: 404."""
    body = await read_body(request, MarketRequest)
    state = app_state(request)
    data = await run_sync(state.router.get_market_data, body.symbol, body.asset_type, body.use_case, body.start, body.end,
                          body.timeframe)  # fmt: skip
    if wants_arrow(request.headers.get("accept")):
        payload = await run_sync(ipc_stream, data.table)
        return Response(
            payload, media_type=ARROW_STREAM, headers={"X-QE-Engine": data.engine, "X-QE-Timeframe": data.timeframe}
        )
    columns = await run_sync(json_columns, data.table)
    tried = [Tried(e, r) for e, r in data.tried]
    return reply(MarketResponse(data.engine, data.timeframe, data.table.num_rows, tried, columns))


@router.get(
    "/engines/status", summary="Every market-data engine's state", **operation(response=dict[str, EngineStatusBody])
)
async def engines_status(request: Request) -> Response:
    """``thetadata``, ``massive`` and ``catalog``: online, degraded or offline, and why (checked now)."""
    state = app_state(request)
    statuses = await run_sync(state.router.engines_status, refresh=True)
    return reply({name: engine_body(s) for name, s in statuses.items()})
