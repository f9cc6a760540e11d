"""The events outbox: an append-only, monotonically numbered log of what happened.

Contract (``docs/store.md``):

* Every write that changes a table emits its event(s) in the same transaction, so an event exists
  exactly when its change committed.
* Ids increase in commit order: on PostgreSQL an event is inserted under a transaction-level
  advisory lock (held to commit), so no transaction can commit a lower id after a consumer saw a
  higher one; SQLite has one writer at a time. A consumer that reads ``id > cursor`` in id order
  therefore never misses an event.
* A consumer (:class:`EventCursor`) persists its position in ``event_cursors``; after a restart it
  resumes after the last event it acknowledged: nothing acknowledged is delivered again and
  nothing is skipped. Events polled but not acknowledged are delivered again (at least once).
* Rows are never updated or deleted (triggers refuse it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from quant_engine.store import schema as S
from quant_engine.store.errors import StoreInputError
from quant_engine.store.store import Store, from_json, insert_or_ignore, now, to_json

__all__ = ["Event", "EventCursor", "emit", "read_events", "latest_event_id", "EVENT_KINDS"]

EVENTS_LOCK = 0x51454556  # "QEEV": PostgreSQL advisory lock ordering event ids by commit

EVENT_KINDS = (
    "strategy.created",
    "strategy.status",
    "trials.recorded",
    "mission.created",
    "mission.updated",
    "memory.recorded",
    "memory.retired",
    "verdict.recorded",
    "calibration.recorded",
    "holdout.refused",
    "journal.order",
    "journal.fill",
    "journal.position",
    "journal.account",
    "shadow.kill",
    "shadow.retired",
)
"""The kinds of event the store emits."""


@dataclass(frozen=True)
class Event:
    """One outbox event."""

    id: int
    kind: str
    subject: str
    payload: dict[str, Any]
    created_at: float


def emit(conn: sa.Connection, kind: str, subject: str, payload: Mapping[str, Any]) -> int:
    """Appends an event inside the caller's write transaction and returns its id."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENTS_LOCK})
    result = conn.execute(
        sa.insert(S.events).values(kind=kind, subject=subject, payload=to_json(dict(payload)), created_at=now())
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def _event(row: Any) -> Event:
    return Event(int(row.id), row.kind, row.subject, from_json(row.payload), float(row.created_at))


def read_events(store: Store, *, after: int = 0, limit: int = 100, kind: str | None = None) -> list[Event]:
    """Events with ``id > after`` in id order (at most ``limit``), optionally of one kind."""
    q = sa.select(S.events).where(S.events.c.id > after).order_by(S.events.c.id).limit(limit)
    if kind is not None:
        q = q.where(S.events.c.kind == kind)
    with store.read() as conn:
        return [_event(r) for r in conn.execute(q)]


def latest_event_id(store: Store) -> int:
    """The id of the newest event (0 when there is none): a consumer interested only in what
    happens from now on starts after it."""
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(S.events.c.id), 0))).scalar_one())


class EventCursor:
    """A consumer's persisted position in the outbox.

    ``poll(limit)`` returns the next events after the last acknowledged one; ``ack(id)`` records
    that everything up to ``id`` is handled. A new consumer starts at the beginning (``start=0``)
    or, with ``start="end"``, after the newest event.
    """

    def __init__(self, store: Store, consumer: str, *, start: int | str = 0) -> None:
        if not consumer or len(consumer) > 200:
            raise StoreInputError("a consumer name is 1 to 200 characters")
        self.store = store
        self.consumer = consumer
        with store.write() as conn:
            exists = conn.execute(
                sa.select(S.event_cursors.c.position).where(S.event_cursors.c.consumer == consumer)
            ).first()
            if exists is None:
                if start == "end":
                    position = int(
                        conn.execute(sa.select(sa.func.coalesce(sa.func.max(S.events.c.id), 0))).scalar_one()
                    )
                elif isinstance(start, int) and start >= 0:
                    position = start
                else:
                    raise StoreInputError(f"start must be a non-negative event id or 'end', not {start!r}")
                insert_or_ignore(
                    conn, S.event_cursors, {"consumer": consumer, "position": position, "updated_at": now()}
                )

    @property
    def position(self) -> int:
        """The id of the last acknowledged event (0: none)."""
        with self.store.read() as conn:
            return int(
                conn.execute(
                    sa.select(S.event_cursors.c.position).where(S.event_cursors.c.consumer == self.consumer)
                ).scalar_one()
            )

    def poll(self, limit: int = 100) -> list[Event]:
        """The next (at most ``limit``) unacknowledged events, oldest first. Polling twice without
        acknowledging returns the same events."""
        if limit < 1:
            raise StoreInputError("limit must be >= 1")
        return read_events(self.store, after=self.position, limit=limit)

    def ack(self, event_id: int) -> None:
        """Acknowledges every event up to and including ``event_id``. Acknowledging an id at or
        below the position is a no-op; an id that does not exist raises :class:`StoreInputError`."""
        with self.store.write() as conn:
            position = int(
                conn.execute(
                    sa.select(S.event_cursors.c.position).where(S.event_cursors.c.consumer == self.consumer)
                ).scalar_one()
            )
            if event_id <= position:
                return
            if conn.execute(sa.select(S.events.c.id).where(S.events.c.id == event_id)).first() is None:
                raise StoreInputError(f"cannot acknowledge event {event_id}: no such event")
            conn.execute(
                sa.update(S.event_cursors)
                .where(S.event_cursors.c.consumer == self.consumer)
                .values(position=event_id, updated_at=now())
            )

    def __repr__(self) -> str:
        return f"EventCursor({self.consumer!r})"
