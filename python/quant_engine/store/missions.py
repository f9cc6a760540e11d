"""Missions: what the research loop is asked to find (directive, scope, budget) and how far it got."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from quant_engine.store import schema as S
from quant_engine.store.errors import StoreInputError, UnknownRecordError
from quant_engine.store.events import emit
from quant_engine.store.store import Store, from_json, now, to_json

__all__ = ["MissionRecord", "create_mission", "update_mission", "get_mission", "find_mission", "list_missions"]


@dataclass(frozen=True)
class MissionRecord:
    """A row of ``missions`` with its JSON columns decoded."""

    id: int
    name: str
    directive: str
    scope: dict[str, Any]
    budget: dict[str, Any]
    status: str
    progress: dict[str, Any]
    created_at: float
    updated_at: float


def _record(r: Any) -> MissionRecord:
    return MissionRecord(
        int(r.id),
        r.name,
        r.directive,
        from_json(r.scope),
        from_json(r.budget),
        r.status,
        from_json(r.progress),
        float(r.created_at),
        float(r.updated_at),
    )


def _status(status: str) -> str:
    if status not in S.MISSION_STATUSES:
        raise StoreInputError(f"mission status must be one of {', '.join(S.MISSION_STATUSES)}, not {status!r}")
    return status


def create_mission(
    store: Store,
    name: str,
    directive: str,
    *,
    scope: Mapping[str, Any] | None = None,
    budget: Mapping[str, Any] | None = None,
) -> MissionRecord:
    """Records a new ``active`` mission (emits ``mission.created``); the name must be unique."""
    if not 0 < len(name) <= 200 or not directive.strip():
        raise StoreInputError("a mission needs a name (1 to 200 characters) and a directive")
    t = now()
    with store.write() as conn:
        if conn.execute(sa.select(S.missions.c.id).where(S.missions.c.name == name)).first() is not None:
            raise StoreInputError(f"a mission named {name!r} exists")
        res = conn.execute(
            sa.insert(S.missions).values(
                name=name,
                directive=directive,
                scope=to_json(dict(scope or {})),
                budget=to_json(dict(budget or {})),
                status="active",
                progress="{}",
                created_at=t,
                updated_at=t,
            )
        )
        mission_id = int(res.inserted_primary_key[0])  # type: ignore[index]
        emit(conn, "mission.created", str(mission_id), {"id": mission_id, "name": name})
        return _record(conn.execute(sa.select(S.missions).where(S.missions.c.id == mission_id)).one())


def update_mission(
    store: Store, mission_id: int, *, status: str | None = None, progress: Mapping[str, Any] | None = None
) -> MissionRecord:
    """Sets a mission's status and/or merges ``progress`` into its progress (emits ``mission.updated``)."""
    with store.write() as conn:
        row = conn.execute(sa.select(S.missions).where(S.missions.c.id == mission_id)).first()
        if row is None:
            raise UnknownRecordError(f"unknown mission {mission_id!r}")
        values: dict[str, Any] = {"updated_at": now()}
        if status is not None:
            values["status"] = _status(status)
        if progress is not None:
            values["progress"] = to_json({**from_json(row.progress), **dict(progress)})
        conn.execute(sa.update(S.missions).where(S.missions.c.id == mission_id).values(**values))
        emit(
            conn,
            "mission.updated",
            str(mission_id),
            {"id": mission_id, "status": values.get("status", row.status), "progress": dict(progress or {})},
        )
        return _record(conn.execute(sa.select(S.missions).where(S.missions.c.id == mission_id)).one())


def get_mission(store: Store, mission_id: int) -> MissionRecord:
    """The mission with this id; raises :class:`UnknownRecordError`."""
    with store.read() as conn:
        row = conn.execute(sa.select(S.missions).where(S.missions.c.id == mission_id)).first()
    if row is None:
        raise UnknownRecordError(f"unknown mission {mission_id!r}")
    return _record(row)


def find_mission(store: Store, key: str) -> MissionRecord:
    """The mission whose id or name is ``key``; raises :class:`UnknownRecordError`."""
    with store.read() as conn:
        q = sa.select(S.missions).where(S.missions.c.name == key)
        if key.isdigit():
            q = (
                sa.select(S.missions)
                .where(sa.or_(S.missions.c.id == int(key), S.missions.c.name == key))
                .order_by(S.missions.c.id)
            )
        row = conn.execute(q).first()
    if row is None:
        raise UnknownRecordError(f"unknown mission {key!r}")
    return _record(row)


def list_missions(store: Store, *, status: str | None = None) -> list[MissionRecord]:
    """Missions, newest first."""
    q = sa.select(S.missions).order_by(S.missions.c.id.desc())
    if status is not None:
        q = q.where(S.missions.c.status == _status(status))
    with store.read() as conn:
        return [_record(r) for r in conn.execute(q)]
