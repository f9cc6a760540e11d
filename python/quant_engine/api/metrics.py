"""Prometheus metrics of the API (``GET /metrics``): requests by method, route template and
status, request latency, open event streams and events sent. One registry per app, so several
apps in one process (tests) do not collide."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ApiMetrics", "MetricsMiddleware", "CONTENT_TYPE_LATEST"]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


class ApiMetrics:
    """The API's collectors, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "qe_api_requests_total", "HTTP requests answered", ("method", "route", "status"), registry=self.registry
        )
        self.latency = Histogram("qe_api_request_seconds", "HTTP request latency (seconds)", ("method", "route"), registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))  # fmt: skip
        self.ws_clients = Gauge("qe_api_event_streams", "Open /ws/events connections", registry=self.registry)
        self.events_sent = Counter(
            "qe_api_events_sent_total", "Outbox events sent on /ws/events", registry=self.registry
        )

    def render(self) -> bytes:
        """The exposition text."""
        return bytes(generate_latest(self.registry))


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (``/strategies/{strategy_hash}``,
    never the raw path, so the label set stays small; ``unmatched`` otherwise)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def recording_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, route, str(status[0])).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - t0)
