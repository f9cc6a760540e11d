"""The app factory: ``create_app(settings)`` builds the FastAPI app (routers, error handlers, the
guard middleware, the msgspec OpenAPI document); ``quant-engine serve`` runs it with uvicorn."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from quant_engine.api.errors import install_error_handlers
from quant_engine.api.metrics import ApiMetrics, MetricsMiddleware
from quant_engine.api.openapi import install_openapi
from quant_engine.api.routers import (
    analytics,
    data,
    events,
    health,
    jobs,
    options,
    research,
    research_jobs,
    risk,
    shadow,
    strategies,
)
from quant_engine.api.security import GuardMiddleware
from quant_engine.api.settings import ApiSettings
from quant_engine.api.state import AppState
from quant_engine.web import install_dashboard

__all__ = ["create_app"]

DESCRIPTION = """The quant-engine server: health, market data through the data router, regimes and
discovery, and the research store (strategies, trials, missions, memories, the events outbox).

Mutating endpoints and WebSockets need `Authorization: Bearer $QE_API_TOKEN`; every error is
`{code, message, path?}`. See docs/api.md."""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API app (``settings`` default: :meth:`ApiSettings.from_env`). The store opens when the
    app starts (lifespan) and closes when it stops."""
    settings = settings or ApiSettings.from_env()
    state = AppState(settings, metrics=ApiMetrics())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.open()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(title="quant-engine", version=_version(), description=DESCRIPTION, lifespan=lifespan)
    app.state.qe = state
    for module in (health, data, analytics, strategies, research, jobs, research_jobs, shadow, risk, options, events):
        app.include_router(module.router)
    install_dashboard(app)
    install_error_handlers(app)
    install_openapi(app)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type", "Accept"])  # fmt: skip
    app.add_middleware(GuardMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)  # outermost: refusals are counted too
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quant-engine")
    except PackageNotFoundError:
        return "0"
