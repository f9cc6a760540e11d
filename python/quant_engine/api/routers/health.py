"""``/health`` and ``/health/theta`` (the original quant-engine's paths)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from quant_engine.api.bodies import ComponentHealth, EngineStatusBody, HealthBody
from quant_engine.api.io import operation, reply
from quant_engine.api.metrics import CONTENT_TYPE_LATEST
from quant_engine.api.state import AppState, app_state, run_sync

__all__ = ["router", "engine_body", "health_body"]

router = APIRouter(tags=["health"])


def engine_body(status: Any) -> EngineStatusBody:
    """An :class:`EngineStatusBody` from a :class:`~quant_engine.feeds.health.EngineStatus`."""
    return EngineStatusBody(
        status.engine, status.state, status.reason, status.configured, status.checked_at, dict(status.details)
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quant-engine")
    except PackageNotFoundError:
        return "unknown"


@router.get(
    "/health", summary="Health of the store, the feeds, the LLM and the shadow trader", **operation(response=HealthBody)
)
async def health(request: Request) -> Response:
    """The store (open or why not), every market-data engine, the LLM and the shadow trader."""
    return reply(await run_sync(health_body, app_state(request)))


def _llm() -> ComponentHealth:
    """Whether an LLM is configured (``QE_LLM_*``; the key is never shown)."""
    from quant_engine.research.llm import llm_status

    st = llm_status()
    if not st.configured or st.settings is None:
        return ComponentHealth("not configured", st.reason)
    return ComponentHealth("online", f"{st.settings.model} at {st.settings.base_url}")


def _shadow(state: AppState) -> ComponentHealth:
    """The paper session's state from the journal (the trader runs as ``quant-engine shadow run``)."""
    from quant_engine.api.routers.shadow import shadow_health

    if state.store is None:
        return ComponentHealth("unknown", "the store is not open")
    return ComponentHealth(*shadow_health(state.store))


def health_body(state: AppState) -> HealthBody:
    """The health of every part (blocking: it asks each market-data engine)."""
    feeds = state.router.engines_status()
    if state.store is not None:
        store = ComponentHealth("online", f"{state.store.dialect} revision {state.store.schema.after}")
    else:
        store = ComponentHealth("offline", state.store_error)
    return HealthBody(
        status="ok" if state.store is not None else "degraded",
        version=_version(),
        store=store,
        feeds={name: engine_body(s) for name, s in feeds.items()},
        llm=_llm(),
        shadow_trader=_shadow(state),
    )


@router.get(
    "/health/theta", summary="ThetaData terminal: online, degraded or offline", **operation(response=EngineStatusBody)
)
async def health_theta(request: Request) -> Response:
    """The ThetaData engine's state, checked now (online: MDDS connected; degraded: terminal up,
    upstream not connected; offline: not configured or not answering)."""
    state = app_state(request)
    status = await run_sync(state.router.status, "thetadata", refresh=True)
    return reply(engine_body(status))


@router.get("/metrics", summary="Prometheus metrics", **operation(media=("text/plain",)))
async def metrics(request: Request) -> Response:
    """Request counts by method, route and status; request latency; open event streams; events
    sent (Prometheus text format)."""
    return Response(app_state(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
