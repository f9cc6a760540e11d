"""What the app holds while it runs (the store, the data router) and the helpers endpoints use to
reach it without blocking the event loop."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request

from quant_engine.api.errors import ApiError
from quant_engine.api.settings import ApiSettings

__all__ = ["AppState", "app_state", "store_of", "jobs_of", "run_sync"]

log = logging.getLogger("quant_engine.api")
T = TypeVar("T")


@dataclass
class AppState:
    """The running app's resources.

    Attributes:
        settings: the server's settings.
        store: the open research store, or None when it could not be opened (``store_error``).
        store_error: why the store is not open (one line, no credentials).
        router: the market-data router.
        metrics: the app's :class:`~quant_engine.api.metrics.ApiMetrics`.
        jobs: the :class:`~quant_engine.api.jobs.JobRunner` of long work (while the app runs).
    """

    settings: ApiSettings
    metrics: Any = None
    store: Any = None
    store_error: str = "not opened yet"
    router: Any = None
    jobs: Any = None

    def open(self) -> None:
        """Opens the store and picks the router (a store that fails to open is reported by
        ``/health`` and answered with 503 by the research endpoints; the server still runs)."""
        from quant_engine.api.jobs import JobRunner
        from quant_engine.feeds.router import get_data_router
        from quant_engine.store import open_store

        self.router = self.settings.router or get_data_router()
        self.jobs = JobRunner(workers=self.settings.job_workers, max_queued=self.settings.job_queue)
        try:
            self.store = open_store(self.settings.store_url)
            self.store_error = ""
        except Exception as exc:  # any failure to open leaves the server up, degraded
            self.store_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.error("research store not opened: %s", self.store_error)

    def close(self) -> None:
        """Stops the job runner (queued jobs are cancelled) and releases the store's connections."""
        if self.jobs is not None:
            self.jobs.close()
            self.jobs = None
        if self.store is not None:
            self.store.close()
            self.store = None


def app_state(request: Any) -> AppState:
    """The :class:`AppState` of the app serving ``request`` (an HTTP request or a WebSocket)."""
    state: AppState = request.app.state.qe
    return state


def store_of(request: Request) -> Any:
    """The open store; a 503 :class:`ApiError` when it is not open."""
    state = app_state(request)
    if state.store is None:
        raise ApiError(503, "store_unavailable", f"the research store is not open: {state.store_error}")
    return state.store


def jobs_of(request: Request) -> Any:
    """The app's :class:`~quant_engine.api.jobs.JobRunner`; 503 while the app is not running."""
    state = app_state(request)
    if state.jobs is None:
        raise ApiError(503, "jobs_unavailable", "the job runner is not running")
    return state.jobs


async def run_sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs blocking work (store queries, compute, vendor calls) in a worker thread."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
