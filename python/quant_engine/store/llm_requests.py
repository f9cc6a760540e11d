"""The LLM client's request log (``llm_requests``): one row per logical request with its usage.

Prompts and responses are kept as a SHA-256 of the full text plus an excerpt of at most
:data:`EXCERPT_CHARS` characters (enough to read what was asked and answered, bounded per row);
the base URL is stored without user info, query or fragment. The API key is never handed here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from quant_engine.store import schema as S
from quant_engine.store.errors import StoreInputError
from quant_engine.store.store import Store, now

__all__ = [
    "EXCERPT_CHARS",
    "LLMRequestRecord",
    "LLMUsage",
    "public_url",
    "record_llm_request",
    "list_llm_requests",
    "llm_usage",
]

EXCERPT_CHARS = 2000
"""The longest prompt or response excerpt stored (characters); the hash covers the full text."""


@dataclass(frozen=True)
class LLMRequestRecord:
    """A row of ``llm_requests`` (see ``docs/store.md``)."""

    id: int
    mission_id: int | None
    base_url: str
    model: str
    template: str
    template_version: str
    response_format: str
    outcome: str
    http_status: int | None
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_s: float
    prompt_hash: str
    prompt_excerpt: str
    response_hash: str | None
    response_excerpt: str | None
    error: str
    created_at: float


@dataclass(frozen=True)
class LLMUsage:
    """Totals over a mission's requests."""

    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "\u2026"


def public_url(url: str) -> str:
    """``url`` without user info, query and fragment (what is stored)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def record_llm_request(
    store: Store,
    *,
    mission_id: int | None,
    base_url: str,
    model: str,
    template: str,
    template_version: str,
    response_format: str,
    outcome: str,
    attempts: int,
    prompt: str,
    response: str | None = None,
    http_status: int | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost: float = 0.0,
    latency_s: float = 0.0,
    error: str = "",
) -> int:
    """Records one request (hashing and truncating ``prompt`` and ``response``); returns its id."""
    if outcome not in S.LLM_OUTCOMES:
        raise StoreInputError(f"LLM outcome must be one of {', '.join(S.LLM_OUTCOMES)}, not {outcome!r}")
    if attempts < 0 or prompt_tokens < 0 or completion_tokens < 0 or not cost >= 0 or not latency_s >= 0:
        raise StoreInputError("attempts, token counts, cost and latency must be non-negative")
    values: dict[str, Any] = {
        "mission_id": mission_id,
        "base_url": public_url(base_url)[:500],
        "model": model[:200],
        "template": template[:100],
        "template_version": template_version[:100],
        "response_format": response_format[:16],
        "outcome": outcome,
        "http_status": http_status,
        "attempts": attempts,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost": float(cost),
        "latency_s": float(latency_s),
        "prompt_hash": _sha(prompt),
        "prompt_excerpt": _excerpt(prompt),
        "response_hash": None if response is None else _sha(response),
        "response_excerpt": None if response is None else _excerpt(response),
        "error": _excerpt(error),
        "created_at": now(),
    }
    with store.write() as conn:
        res = conn.execute(sa.insert(S.llm_requests).values(**values))
        return int(res.inserted_primary_key[0])  # type: ignore[index]


def _record(r: Any) -> LLMRequestRecord:
    return LLMRequestRecord(**{c: getattr(r, c) for c in LLMRequestRecord.__dataclass_fields__})


def _mission(column: Any, mission_id: int | None) -> Any:
    return column.is_(None) if mission_id is None else column == mission_id


def list_llm_requests(
    store: Store, *, mission_id: int | None = None, all_missions: bool = False, limit: int | None = None
) -> list[LLMRequestRecord]:
    """Requests oldest first: those of ``mission_id`` (None: without a mission), or of every mission
    when ``all_missions``."""
    q = sa.select(S.llm_requests).order_by(S.llm_requests.c.id)
    if not all_missions:
        q = q.where(_mission(S.llm_requests.c.mission_id, mission_id))
    if limit is not None:
        q = q.limit(limit)
    with store.read() as conn:
        return [_record(r) for r in conn.execute(q)]


def llm_usage(store: Store, mission_id: int | None) -> LLMUsage:
    """Requests, tokens and cost recorded for ``mission_id`` (None: requests without a mission)."""
    t = S.llm_requests
    q = sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(t.c.prompt_tokens), 0),
        sa.func.coalesce(sa.func.sum(t.c.completion_tokens), 0),
        sa.func.coalesce(sa.func.sum(t.c.cost), 0.0),
    ).where(_mission(t.c.mission_id, mission_id))
    with store.read() as conn:
        n, p, c, cost = conn.execute(q).one()
    return LLMUsage(int(n), int(p), int(c), float(cost))
