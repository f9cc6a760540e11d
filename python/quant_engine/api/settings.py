"""Settings of the API server: the bearer token, what it guards, size limits, CORS, the store."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quant_engine.errors import InvalidArgumentError

__all__ = ["ApiSettings"]

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ApiSettings:
    """How the API server behaves.

    Attributes:
        token: the bearer token (``$QE_API_TOKEN``). Mutating endpoints and WebSockets require it;
            without one they are refused (403), never open.
        read_requires_token: require the token on read endpoints too (``$QE_API_READ_TOKEN=1``).
            ``/health``, ``/openapi.json`` and ``/docs`` stay open.
        max_body_bytes: request bodies above this are refused with 413 (``$QE_API_MAX_BODY``).
        cors_origins: origins allowed by CORS (``$QE_API_CORS_ORIGINS``, comma-separated); empty:
            CORS off.
        store_url: the research store (None: ``$QE_STORE_URL`` or the default SQLite file).
        ws_poll_interval: seconds between polls of the events outbox for a WebSocket client.
        ws_queue: events buffered per WebSocket client (the outbox is read only as fast as the
            client consumes, so memory per client is bounded by this).
        ws_send_timeout: seconds a client may take to accept one message before it is
            disconnected as a slow consumer (close code 4008).
        router: a :class:`~quant_engine.feeds.router.DataRouter` (None: the process-wide one).
        job_workers: jobs (backtests, Red Team examinations ...) run at once (``$QE_API_JOB_WORKERS``).
        job_queue: jobs allowed to wait; a submission beyond is refused with 429.
    """

    token: str | None = field(default=None, repr=False)
    read_requires_token: bool = False
    max_body_bytes: int = 1 << 20
    cors_origins: tuple[str, ...] = ()
    store_url: str | None = None
    ws_poll_interval: float = 0.25
    ws_queue: int = 1000
    ws_send_timeout: float = 10.0
    router: Any = field(default=None, repr=False)
    job_workers: int = 2
    job_queue: int = 64

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise InvalidArgumentError(f"invalid max_body_bytes: {self.max_body_bytes} (expected >= 1)")
        if self.ws_queue < 1 or self.ws_poll_interval <= 0 or self.ws_send_timeout <= 0:
            raise InvalidArgumentError("ws_queue, ws_poll_interval and ws_send_timeout must be positive")
        if self.job_workers < 1 or self.job_queue < 1:
            raise InvalidArgumentError(
                f"job_workers and job_queue must be at least 1 (got {self.job_workers}, {self.job_queue})"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ApiSettings:
        """Reads ``QE_API_TOKEN``, ``QE_API_READ_TOKEN``, ``QE_API_MAX_BODY``,
        ``QE_API_CORS_ORIGINS`` and ``QE_STORE_URL`` (``os.environ`` by default); keyword
        ``overrides`` win."""
        e = os.environ if env is None else env
        max_body = e.get("QE_API_MAX_BODY", "").strip()
        try:
            max_body_bytes = int(max_body) if max_body else cls.max_body_bytes
        except ValueError:
            raise InvalidArgumentError(f"invalid QE_API_MAX_BODY: {max_body!r} (expected a number of bytes)") from None
        workers = e.get("QE_API_JOB_WORKERS", "").strip()
        if workers and not workers.isdigit():
            raise InvalidArgumentError(f"invalid QE_API_JOB_WORKERS: {workers!r} (expected a whole number)")
        values: dict[str, Any] = {
            "token": e.get("QE_API_TOKEN") or None,
            "read_requires_token": e.get("QE_API_READ_TOKEN", "").strip().lower() in _TRUE,
            "max_body_bytes": max_body_bytes,
            "cors_origins": tuple(o.strip() for o in e.get("QE_API_CORS_ORIGINS", "").split(",") if o.strip()),
            "store_url": e.get("QE_STORE_URL") or None,
        }
        if workers:
            values["job_workers"] = int(workers)
        values.update(overrides)
        return cls(**values)
