"""The shadow trader's journal: orders, fills, positions and account snapshots, append-only.

An entry is committed (with its ``journal.<kind>`` event) before :func:`append` returns, so the
caller acknowledges only what is durable. UPDATE and DELETE on ``journal`` are refused by triggers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from quant_engine.store import schema as S
from quant_engine.store.errors import StoreInputError
from quant_engine.store.events import EVENTS_LOCK
from quant_engine.store.store import Store, from_json, now, to_json

__all__ = ["JournalEntry", "append", "append_many", "read_journal"]


@dataclass(frozen=True)
class JournalEntry:
    """One journal row (``payload`` decoded)."""

    id: int
    kind: str
    account: str
    symbol: str | None
    ts_ns: int
    payload: dict[str, Any]
    recorded_at: float


def _row(
    kind: str, account: str, payload: Mapping[str, Any], symbol: str | None, ts_ns: int, t: float
) -> dict[str, Any]:
    if kind not in S.JOURNAL_KINDS:
        raise StoreInputError(f"journal kind must be one of {', '.join(S.JOURNAL_KINDS)}, not {kind!r}")
    if not account:
        raise StoreInputError("a journal entry names its account")
    return {
        "kind": kind,
        "account": account,
        "symbol": symbol,
        "ts_ns": int(ts_ns),
        "payload": to_json(dict(payload)),
        "recorded_at": t,
    }


def append_many(store: Store, entries: Iterable[tuple[str, str, Mapping[str, Any], str | None, int]]) -> list[int]:
    """Appends ``(kind, account, payload, symbol, ts_ns)`` entries in one transaction (one event
    each) and returns their ids. Two bulk statements whatever the count (the shadow trader
    journals a whole bar close at once)."""
    t = now()
    rows = [_row(*e, t) for e in entries]
    if not rows:
        return []
    with store.write() as conn:
        result = conn.execute(sa.insert(S.journal).returning(S.journal.c.id, sort_by_parameter_order=True), rows)
        ids = [int(r[0]) for r in result]
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENTS_LOCK})
        conn.execute(
            sa.insert(S.events),
            [
                {
                    "kind": f"journal.{r['kind']}",
                    "subject": r["account"],
                    "payload": to_json(
                        {"id": entry_id, "symbol": r["symbol"], "ts_ns": r["ts_ns"], **from_json(r["payload"])}
                    ),
                    "created_at": t,
                }
                for entry_id, r in zip(ids, rows, strict=True)
            ],
        )
    return ids


def append(
    store: Store, kind: str, account: str, payload: Mapping[str, Any], *, symbol: str | None = None, ts_ns: int
) -> int:
    """Appends one entry (committed with its event before returning) and returns its id."""
    return append_many(store, [(kind, account, payload, symbol, ts_ns)])[0]


def read_journal(
    store: Store, *, account: str | None = None, kind: str | None = None, after: int = 0, limit: int | None = None
) -> list[JournalEntry]:
    """Entries with ``id > after`` in id order (the replay order after a restart)."""
    c = S.journal.c
    q = sa.select(S.journal).where(c.id > after).order_by(c.id)
    if account is not None:
        q = q.where(c.account == account)
    if kind is not None:
        q = q.where(c.kind == kind)
    if limit is not None:
        q = q.limit(limit)
    with store.read() as conn:
        return [
            JournalEntry(
                int(r.id), r.kind, r.account, r.symbol, int(r.ts_ns), from_json(r.payload), float(r.recorded_at)
            )
            for r in conn.execute(q)
        ]
