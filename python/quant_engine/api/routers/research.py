"""Trials, missions, causal memories and failure statistics from the research store."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from quant_engine.api.bodies import FailureTypeStat, MemoryBody, MissionBody, MissionCreate, TrialBody, TrialPage
from quant_engine.api.errors import ApiError
from quant_engine.api.io import operation, read_body, reply
from quant_engine.api.queries import trials_page
from quant_engine.api.state import run_sync, store_of

__all__ = ["router"]

router = APIRouter(tags=["research"])

MissionId = Annotated[int, Path(ge=1, le=2**62)]
MissionFilter = Annotated[int | None, Query(ge=1, le=2**62)]
HashFilter = Annotated[str | None, Query(min_length=64, max_length=64, pattern="^[0-9a-f]+$")]


def _trial(r: Any) -> TrialBody:
    return TrialBody(r.id, r.batch_id, r.seq, r.strategy_hash, r.family, r.params, r.metrics, r.snapshot_id, r.config_hash,
                     r.engine_version, r.wall_time_s, r.has_returns, r.created_at)  # fmt: skip


@router.get("/trials", summary="List trials of the ledger", **operation(response=TrialPage))
async def list_trials(
    request: Request,
    strategy: HashFilter = None,
    family: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="cursor: trials with a smaller id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Trials newest first, of one strategy or one family; page with ``before`` (``next_before``
    of the previous page)."""
    records, nxt = await run_sync(
        trials_page, store_of(request), strategy_hash=strategy, family=family, before=before, limit=limit
    )
    return reply(TrialPage([_trial(r) for r in records], nxt))


def _mission(m: Any) -> MissionBody:
    return MissionBody(m.id, m.name, m.directive, m.scope, m.budget, m.status, m.progress, m.created_at, m.updated_at)


@router.get("/missions", summary="List missions", **operation(response=list[MissionBody]))
async def list_missions(
    request: Request, status: Annotated[str | None, Query(pattern="^(active|paused|completed|cancelled)$")] = None
) -> Response:
    """Missions, newest first, optionally of one status."""
    from quant_engine.store import list_missions as query

    return reply([_mission(m) for m in await run_sync(query, store_of(request), status=status)])


@router.get("/missions/{mission_id}", summary="One mission", **operation(response=MissionBody))
async def get_mission(request: Request, mission_id: MissionId) -> Response:
    """The mission with this id (404 when there is none)."""
    from quant_engine.store import get_mission as query

    return reply(_mission(await run_sync(query, store_of(request), mission_id)))


@router.post("/missions", summary="Send a directive (create a mission)", **operation(body=MissionCreate, response=MissionBody, status=201,
             description="Created"))  # fmt: skip
async def create_mission(request: Request) -> Response:
    """Records an ``active`` mission with the directive, scope and budget (emits
    ``mission.created``). A name already used: 409."""
    from quant_engine.store import StoreInputError
    from quant_engine.store import create_mission as create

    body = await read_body(request, MissionCreate)
    store = store_of(request)
    name = body.name or f"mission-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{time.time_ns() % 1_000_000:06d}"

    def run() -> MissionBody:
        try:
            return _mission(create(store, name, body.directive, scope=body.scope, budget=body.budget))
        except StoreInputError as exc:
            if "exists" in str(exc):
                raise ApiError(409, "conflict", str(exc)) from None
            raise

    return reply(await run_sync(run), status=201)


@router.post("/missions/{mission_id}/cancel", summary="Cancel a mission", **operation(response=MissionBody))
async def cancel_mission(request: Request, mission_id: MissionId) -> Response:
    """Sets an active or paused mission to ``cancelled`` (emits ``mission.updated``); a completed or
    already cancelled one: 409."""
    from quant_engine.store import get_mission, update_mission

    store = store_of(request)

    def run() -> MissionBody:
        current = get_mission(store, mission_id)
        if current.status in ("completed", "cancelled"):
            raise ApiError(
                409,
                "conflict",
                f"mission {mission_id} is {current.status}; only an active or paused mission can be cancelled",
            )
        return _mission(update_mission(store, mission_id, status="cancelled"))

    return reply(await run_sync(run))


@router.get("/memories", summary="List causal memories", **operation(response=list[MemoryBody]))
async def list_memories(
    request: Request,
    failure_type: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    strategy: HashFilter = None,
    mission_id: MissionFilter = None,
    active_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Causal memories newest first (an unknown ``failure_type``: 422 naming the taxonomy)."""
    from quant_engine.store import list_memories as query

    rows = await run_sync(query, store_of(request), failure_type=failure_type, strategy_hash=strategy, mission_id=mission_id,
                          active_only=active_only, limit=limit)  # fmt: skip
    return reply([MemoryBody(m.id, m.strategy_hash, m.mission_id, m.failure_type, m.detector, m.statistic, m.threshold, m.evidence,
                             m.lesson, m.created_at, m.expires_at) for m in rows])  # fmt: skip


@router.get(
    "/memories/stats",
    summary="Failure statistics (the failure_type_stats view)",
    **operation(response=list[FailureTypeStat]),
)
async def failure_stats(request: Request, mission_id: MissionFilter = None) -> Response:
    """Count, share and trend of each failure type, per mission (or one mission's rows)."""
    from quant_engine.store import failure_type_stats

    rows = await run_sync(failure_type_stats, store_of(request), mission_id=mission_id)
    return reply([msgspec_convert(r) for r in rows])


def msgspec_convert(row: dict[str, Any]) -> FailureTypeStat:
    """A :class:`FailureTypeStat` from a row of the view (keys as plain ``str``, numbers normalized)."""
    import msgspec

    return msgspec.convert({str(k): v for k, v in row.items()}, FailureTypeStat, strict=False)
