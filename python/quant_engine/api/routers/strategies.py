"""Strategies: list (filters, paging), one with transitions and lineage, promote, retire."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from quant_engine.api.bodies import StrategyDetail, StrategyPage, StrategySummary, TransitionBody, TransitionRequest
from quant_engine.api.io import operation, read_body, reply
from quant_engine.api.queries import strategies_page
from quant_engine.api.state import run_sync, store_of

__all__ = ["router", "summary"]

router = APIRouter(prefix="/strategies", tags=["research"])

StrategyStatus = Annotated[str | None, Query(pattern="^(candidate|testing|failed|graduated|promoted|retired)$")]
HashArg = Annotated[
    str, Path(min_length=4, max_length=64, pattern="^[0-9a-fA-F]+$", description="hash or a prefix (>= 4 hex digits)")
]


def summary(r: Any) -> StrategySummary:
    """A :class:`StrategySummary` from a store ``StrategyRecord``."""
    return StrategySummary(
        r.hash, r.name, r.family, r.template_hash, r.origin, r.mission_id, r.status, r.created_at, r.updated_at
    )


@router.get("", summary="List strategies", **operation(response=StrategyPage))
async def list_strategies(
    request: Request,
    status: StrategyStatus = None,
    family: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    mission_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """Strategies, newest first, filtered by status, family and mission; ``next_offset`` gives
    the next page."""
    store = store_of(request)
    records, more = await run_sync(
        strategies_page, store, status=status, family=family, mission_id=mission_id, limit=limit, offset=offset
    )
    return reply(StrategyPage([summary(r) for r in records], limit, offset, offset + limit if more else None))


def _detail(store: Any, key: str) -> StrategyDetail:
    from quant_engine.store import find_strategy, get_strategy, parents, transitions

    record = get_strategy(store, key.lower()) if len(key) == 64 else find_strategy(store, key)
    moves = [
        TransitionBody(t.id, t.from_status, t.to_status, t.at, t.reason, t.actor)
        for t in transitions(store, record.hash)
    ]
    return StrategyDetail(summary(record), record.document(), moves, parents(store, record.hash))


@router.get(
    "/{strategy_hash}", summary="One strategy with its transitions and lineage", **operation(response=StrategyDetail)
)
async def get_strategy(request: Request, strategy_hash: HashArg) -> Response:
    """The strategy (by hash, or a unique prefix), its canonical spec, every lifecycle transition
    and its parents. Unknown or ambiguous: 404."""
    return reply(await run_sync(_detail, store_of(request), strategy_hash))


async def _move(request: Request, key: str, to: str) -> Response:
    from quant_engine.store import find_strategy, get_strategy, transition

    body = await read_body(request, TransitionRequest, empty_ok=True)
    store = store_of(request)

    def move() -> StrategySummary:
        record = get_strategy(store, key.lower()) if len(key) == 64 else find_strategy(store, key)
        return summary(transition(store, record.hash, to, reason=body.reason, actor="api"))

    return reply(await run_sync(move))


@router.post("/{strategy_hash}/promote", summary="Promote a graduated strategy",
             **operation(body=TransitionRequest, body_required=False, response=StrategySummary))  # fmt: skip
async def promote(request: Request, strategy_hash: HashArg) -> Response:
    """``graduated -> promoted`` (recorded with the reason, actor ``api``); any other current
    status: 409 with the lifecycle's message."""
    return await _move(request, strategy_hash, "promoted")


@router.post("/{strategy_hash}/retire", summary="Retire a graduated or promoted strategy",
             **operation(body=TransitionRequest, body_required=False, response=StrategySummary))  # fmt: skip
async def retire(request: Request, strategy_hash: HashArg) -> Response:
    """``graduated | promoted -> retired``; any other current status: 409."""
    return await _move(request, strategy_hash, "retired")
