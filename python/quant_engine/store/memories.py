"""Causal memories: confirmed failures of strategies (a failure type of the taxonomy, the detector
that confirmed it, its statistic and threshold, the evidence and the lesson), and the
``failure_type_stats`` view over them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from quant_engine.store import schema as S
from quant_engine.store.errors import StoreInputError, UnknownRecordError, UnknownStrategyError
from quant_engine.store.events import emit
from quant_engine.store.store import Store, from_json, now, to_json
from quant_engine.store.taxonomy import FailureType, parse_failure_type

__all__ = [
    "Memory",
    "MemoryRecord",
    "record_memory",
    "record_memories",
    "list_memories",
    "expire_memories",
    "failure_type_stats",
]


@dataclass(frozen=True)
class Memory:
    """A failure to remember (input of :func:`record_memories`)."""

    failure_type: FailureType | str
    detector: str
    strategy_hash: str | None = None
    mission_id: int | None = None
    statistic: float | None = None
    threshold: float | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    lesson: str = ""
    expires_at: float | None = None
    created_at: float | None = None


@dataclass(frozen=True)
class MemoryRecord:
    """A row of ``causal_memories`` with its evidence decoded."""

    id: int
    strategy_hash: str | None
    mission_id: int | None
    failure_type: str
    detector: str
    statistic: float | None
    threshold: float | None
    evidence: dict[str, Any]
    lesson: str
    created_at: float
    expires_at: float | None


def _row(m: Memory, t: float) -> dict[str, Any]:
    ft = parse_failure_type(m.failure_type)
    if not m.detector or len(m.detector) > 200:
        raise StoreInputError("a memory names its detector (1 to 200 characters)")
    for name in ("statistic", "threshold"):
        v = getattr(m, name)
        if v is not None and not math.isfinite(float(v)):
            raise StoreInputError(f"{name} must be finite or None")
    return {
        "strategy_hash": m.strategy_hash,
        "mission_id": m.mission_id,
        "failure_type": ft.value,
        "detector": m.detector,
        "statistic": None if m.statistic is None else float(m.statistic),
        "threshold": None if m.threshold is None else float(m.threshold),
        "evidence": to_json(dict(m.evidence)),
        "lesson": m.lesson,
        "created_at": t if m.created_at is None else float(m.created_at),
        "expires_at": m.expires_at,
    }


def record_memories(store: Store, memories: Iterable[Memory]) -> int:
    """Records causal memories in one transaction (one ``memory.recorded`` event with the count)
    and returns how many. Raises :class:`UnknownFailureTypeError` for a type outside the
    taxonomy, :class:`UnknownStrategyError` / :class:`UnknownRecordError` for unknown references;
    nothing is written then."""
    t = now()
    rows = [_row(m, t) for m in memories]
    if not rows:
        return 0
    with store.write() as conn:
        hashes = {r["strategy_hash"] for r in rows} - {None}
        if hashes:
            known = {h for (h,) in conn.execute(sa.select(S.strategies.c.hash).where(S.strategies.c.hash.in_(hashes)))}
            if hashes - known:
                raise UnknownStrategyError(f"unknown strategy {sorted(hashes - known)[0]!r}")
        missions = {r["mission_id"] for r in rows} - {None}
        if missions:
            known_m = {int(i) for (i,) in conn.execute(sa.select(S.missions.c.id).where(S.missions.c.id.in_(missions)))}
            if missions - known_m:
                raise UnknownRecordError(f"unknown mission {sorted(missions - known_m)[0]!r}")
        conn.execute(sa.insert(S.causal_memories), rows)
        subject = rows[0]["strategy_hash"] or "" if len(rows) == 1 else ""
        emit(
            conn,
            "memory.recorded",
            subject,
            {"count": len(rows), "failure_types": sorted({r["failure_type"] for r in rows})},
        )
    return len(rows)


def record_memory(store: Store, failure_type: FailureType | str, detector: str, **fields: Any) -> None:
    """Records one causal memory (see :class:`Memory` for the fields)."""
    record_memories(store, [Memory(failure_type, detector, **fields)])


def list_memories(
    store: Store,
    *,
    failure_type: FailureType | str | None = None,
    strategy_hash: str | None = None,
    mission_id: int | None = None,
    active_only: bool = False,
    limit: int | None = 100,
) -> list[MemoryRecord]:
    """Causal memories, newest first; ``active_only`` drops expired ones."""
    c = S.causal_memories.c
    q = sa.select(S.causal_memories).order_by(c.id.desc())
    if failure_type is not None:
        q = q.where(c.failure_type == parse_failure_type(failure_type).value)
    if strategy_hash is not None:
        q = q.where(c.strategy_hash == strategy_hash)
    if mission_id is not None:
        q = q.where(c.mission_id == mission_id)
    if active_only:
        q = q.where(sa.or_(c.expires_at.is_(None), c.expires_at > now()))
    if limit is not None:
        q = q.limit(limit)
    with store.read() as conn:
        rows = conn.execute(q).all()
    return [
        MemoryRecord(
            int(r.id),
            r.strategy_hash,
            None if r.mission_id is None else int(r.mission_id),
            r.failure_type,
            r.detector,
            r.statistic,
            r.threshold,
            from_json(r.evidence),
            r.lesson,
            float(r.created_at),
            r.expires_at,
        )
        for r in rows
    ]


def expire_memories(store: Store, ids: Iterable[int], *, reason: str, at: float | None = None) -> int:
    """Retires causal memories: their ``expires_at`` becomes ``at`` (default now) unless they
    already expired earlier, in one transaction with one ``memory.retired`` event naming the ids
    and the reason. Returns how many were retired."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return 0
    t = now() if at is None else float(at)
    c = S.causal_memories.c
    with store.write() as conn:
        res = conn.execute(
            sa.update(S.causal_memories)
            .where(c.id.in_(wanted), sa.or_(c.expires_at.is_(None), c.expires_at > t))
            .values(expires_at=t)
        )
        n = int(res.rowcount or 0)
        if n:
            emit(conn, "memory.retired", "", {"ids": wanted, "reason": reason, "count": n})
    return n


def failure_type_stats(
    store: Store, *, mission_id: int | None = None, all_missions: bool = True
) -> list[dict[str, Any]]:
    """Rows of the ``failure_type_stats`` view (``mission_id, failure_type, count, share,
    recent_count, prior_count, trend``), ordered by mission and descending count; with
    ``mission_id`` only that mission's rows."""
    v = S.failure_type_stats.c
    q = sa.select(S.failure_type_stats).order_by(v.mission_id, v.count.desc(), v.failure_type)
    if mission_id is not None:
        q = q.where(v.mission_id == mission_id)
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
