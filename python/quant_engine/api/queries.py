"""Paged reads of the store that its query API does not offer yet (offset paging of strategies,
keyset paging of trials). They read the store's Core tables and return the store's records."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from quant_engine.store import StrategyRecord, TrialRecord
from quant_engine.store import schema as S
from quant_engine.store.lifecycle import parse_status
from quant_engine.store.store import from_json

__all__ = ["strategies_page", "trials_page", "journal_newest", "shadow_positions"]


def strategies_page(store: Any, *, status: str | None, family: str | None, mission_id: int | None, limit: int,
                    offset: int) -> tuple[list[StrategyRecord], bool]:  # fmt: skip
    """Strategies newest first (``created_at`` then hash), ``limit`` from ``offset``, and whether
    more follow."""
    c = S.strategies.c
    q = sa.select(S.strategies).order_by(c.created_at.desc(), c.hash)
    if status is not None:
        q = q.where(c.status == parse_status(status).value)
    if family is not None:
        q = q.where(c.family == family)
    if mission_id is not None:
        q = q.where(c.mission_id == mission_id)
    with store.read() as conn:
        rows = conn.execute(q.limit(limit + 1).offset(offset)).all()
    records = [
        StrategyRecord(r.hash, r.template_hash, r.family, r.name, r.spec, r.origin, None if r.mission_id is None else int(r.mission_id),
                       r.status, float(r.created_at), float(r.updated_at))
        for r in rows[:limit]
    ]  # fmt: skip
    return records, len(rows) > limit


def trials_page(store: Any, *, strategy_hash: str | None, family: str | None, before: int | None,
                limit: int) -> tuple[list[TrialRecord], int | None]:  # fmt: skip
    """Trials newest first (id descending) with ``id < before``, and the ``before`` of the next
    page (None on the last)."""
    t = S.trials
    cols = [t.c.id, t.c.batch_id, t.c.seq, t.c.strategy_hash, S.strategies.c.family, t.c.params, t.c.metrics, t.c.snapshot_id,
            t.c.config_hash, t.c.engine_version, t.c.wall_time_s, t.c.blob_id, t.c.created_at]  # fmt: skip
    q = sa.select(*cols).select_from(t.join(S.strategies, S.strategies.c.hash == t.c.strategy_hash))
    if strategy_hash is not None:
        q = q.where(t.c.strategy_hash == strategy_hash)
    if family is not None:
        q = q.where(S.strategies.c.family == family)
    if before is not None:
        q = q.where(t.c.id < before)
    with store.read() as conn:
        rows = conn.execute(q.order_by(t.c.id.desc()).limit(limit + 1)).all()
    records = [
        TrialRecord(int(r.id), int(r.batch_id), int(r.seq), r.strategy_hash, r.family, from_json(r.params), from_json(r.metrics),
                    None if r.snapshot_id is None else int(r.snapshot_id), r.config_hash, r.engine_version, float(r.wall_time_s),
                    r.blob_id is not None, float(r.created_at))
        for r in rows[:limit]
    ]  # fmt: skip
    return records, (records[-1].id if len(rows) > limit else None)


def journal_newest(store: Any, *, account: str, kind: str, limit: int) -> list[Any]:
    """The newest ``limit`` journal entries of ``kind`` for ``account``, newest first (the
    store's :class:`~quant_engine.store.JournalEntry`)."""
    from quant_engine.store import JournalEntry

    c = S.journal.c
    q = sa.select(S.journal).where(c.account == account, c.kind == kind).order_by(c.id.desc()).limit(limit)
    with store.read() as conn:
        return [
            JournalEntry(
                int(r.id), r.kind, r.account, r.symbol, int(r.ts_ns), from_json(r.payload), float(r.recorded_at)
            )
            for r in conn.execute(q)
        ]


def shadow_positions(store: Any, account: str, *, scan: int = 5000) -> list[Any]:
    """Each slot's latest position entry (among the newest ``scan`` ones), by slot key."""
    latest: dict[str, Any] = {}
    for e in journal_newest(store, account=account, kind="position", limit=scan):
        slot = str(e.payload.get("slot", ""))
        if slot and slot not in latest and "quantity" in e.payload:
            latest[slot] = e
    return [latest[k] for k in sorted(latest)]
