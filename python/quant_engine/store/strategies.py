"""Strategies in the store: recorded once by their canonical hash, with lineage and a lifecycle.

A spec is validated and canonicalized by the strategy language (:func:`compile_strategy`): the
row keeps the canonical template JSON (parameters unbound, so it recompiles to the same
strategy), the identity ``hash`` (:func:`strategy_hash`, parameters bound to their defaults) and
the ``template_hash`` (:func:`template_identity`). ``family`` defaults to the template hash: the trials
of a family are the population the multiple-testing statistics count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa

from quant_engine.store import schema as S
from quant_engine.store.errors import IllegalTransitionError, StoreInputError, UnknownRecordError, UnknownStrategyError
from quant_engine.store.events import emit
from quant_engine.store.lifecycle import Status, is_legal, parse_status
from quant_engine.store.store import Store, from_json, insert_or_ignore, now
from quant_engine.strategy import CompiledStrategy, canonical_json, compile_strategy, strategy_hash

__all__ = [
    "StrategyRecord",
    "TransitionRecord",
    "add_strategy",
    "get_strategy",
    "find_strategy",
    "list_strategies",
    "strategy_counts",
    "transition",
    "transitions",
    "parents",
    "require_strategy",
    "require_mission",
    "insert_strategy",
    "insert_transition",
    "insert_transitions",
    "template_identity",
]


@dataclass(frozen=True)
class StrategyRecord:
    """A row of ``strategies`` (``spec`` is the canonical template JSON)."""

    hash: str
    template_hash: str
    family: str
    name: str
    spec: str
    origin: str
    mission_id: int | None
    status: str
    created_at: float
    updated_at: float

    def document(self) -> dict[str, Any]:
        """The canonical spec as a JSON document."""
        return dict(from_json(self.spec))


@dataclass(frozen=True)
class TransitionRecord:
    """A row of ``strategy_transitions``: who moved a strategy from which status to which, when and why."""

    id: int
    strategy_hash: str
    from_status: str | None
    to_status: str
    at: float
    reason: str
    actor: str


def _record(row: Any) -> StrategyRecord:
    return StrategyRecord(
        row.hash,
        row.template_hash,
        row.family,
        row.name,
        row.spec,
        row.origin,
        None if row.mission_id is None else int(row.mission_id),
        row.status,
        float(row.created_at),
        float(row.updated_at),
    )


def template_identity(cs: CompiledStrategy) -> str:
    """The template hash: the canonical form with parameters unbound and their defaults ignored
    (the rules' structure and the parameter names), so every parameterization of one template
    shares it."""
    blank = msgspec.structs.replace(cs.strategy, params={name: 0.0 for name in cs.strategy.params})
    return strategy_hash(blank, bind=False)


def require_strategy(conn: sa.Connection, strategy_hash: str) -> None:
    """Raises :class:`UnknownStrategyError` unless ``strategy_hash`` is in the store."""
    if conn.execute(sa.select(S.strategies.c.hash).where(S.strategies.c.hash == strategy_hash)).first() is None:
        raise UnknownStrategyError(f"unknown strategy {strategy_hash!r}: record it with add_strategy() first")


def require_mission(conn: sa.Connection, mission_id: int | None) -> None:
    """Raises :class:`UnknownRecordError` unless ``mission_id`` is None or an existing mission."""
    if (
        mission_id is not None
        and conn.execute(sa.select(S.missions.c.id).where(S.missions.c.id == mission_id)).first() is None
    ):
        raise UnknownRecordError(f"unknown mission {mission_id!r}")


def add_strategy(
    store: Store,
    spec: Any,
    *,
    family: str | None = None,
    origin: str = "human",
    mission_id: int | None = None,
    parents: Sequence[str] = (),
    actor: str = "",
    reason: str = "",
) -> StrategyRecord:
    """Records a strategy (a JSON document, mapping, ``Strategy`` or ``CompiledStrategy``) as a
    ``candidate`` and returns its row; a strategy already recorded (same canonical hash) is
    returned unchanged. Raises :class:`~quant_engine.errors.StrategyValidationError` for an invalid
    spec, :class:`UnknownStrategyError` for an unknown parent and :class:`StoreInputError` for a
    bad origin; nothing is written then."""
    cs = spec if isinstance(spec, CompiledStrategy) else compile_strategy(spec)
    with store.write() as conn:
        strategy = insert_strategy(
            conn, cs, family=family, origin=origin, mission_id=mission_id, parents=parents, actor=actor, reason=reason
        )
        return strategy


def insert_strategy(
    conn: sa.Connection,
    cs: CompiledStrategy,
    *,
    family: str | None = None,
    origin: str = "human",
    mission_id: int | None = None,
    parents: Sequence[str] = (),
    actor: str = "",
    reason: str = "",
) -> StrategyRecord:
    """:func:`add_strategy` inside the caller's write transaction."""
    if origin not in S.ORIGINS:
        raise StoreInputError(f"origin must be one of {', '.join(S.ORIGINS)}, not {origin!r}")
    template_hash = template_identity(cs)
    family = family or template_hash
    if not 0 < len(family) <= 200:
        raise StoreInputError("a family name is 1 to 200 characters")
    t = now()
    require_mission(conn, mission_id)
    for parent in parents:
        require_strategy(conn, parent)
    row = {
        "hash": cs.hash,
        "template_hash": template_hash,
        "family": family,
        "name": cs.strategy.name,
        "spec": canonical_json(cs.strategy, bind=False).decode(),
        "origin": origin,
        "mission_id": mission_id,
        "status": Status.CANDIDATE.value,
        "created_at": t,
        "updated_at": t,
    }
    if insert_or_ignore(conn, S.strategies, row):
        if parents:
            conn.execute(
                sa.insert(S.strategy_lineage),
                [{"child_hash": cs.hash, "parent_hash": p} for p in dict.fromkeys(parents)],
            )
        conn.execute(
            sa.insert(S.strategy_transitions).values(
                strategy_hash=cs.hash,
                from_status=None,
                to_status=Status.CANDIDATE.value,
                at=t,
                reason=reason or "recorded",
                actor=actor,
            )
        )
        payload = {
            "hash": cs.hash,
            "family": family,
            "origin": origin,
            "mission_id": mission_id,
            "parents": list(parents),
        }
        emit(conn, "strategy.created", cs.hash, payload)
    return _record(conn.execute(sa.select(S.strategies).where(S.strategies.c.hash == cs.hash)).one())


def get_strategy(store: Store, strategy_hash: str) -> StrategyRecord:
    """The strategy with this exact hash; raises :class:`UnknownStrategyError`."""
    with store.read() as conn:
        row = conn.execute(sa.select(S.strategies).where(S.strategies.c.hash == strategy_hash)).first()
    if row is None:
        raise UnknownStrategyError(f"unknown strategy {strategy_hash!r}")
    return _record(row)


def find_strategy(store: Store, prefix: str) -> StrategyRecord:
    """The strategy whose hash starts with ``prefix`` (at least 4 hex digits); raises
    :class:`UnknownStrategyError` when none or several match."""
    prefix = prefix.strip().lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise StoreInputError(f"a strategy hash prefix is at least 4 hex digits, not {prefix!r}")
    with store.read() as conn:
        rows = conn.execute(
            sa.select(S.strategies).where(S.strategies.c.hash.startswith(prefix, autoescape=True)).limit(2)
        ).all()
    if len(rows) != 1:
        raise UnknownStrategyError(f"{'no' if not rows else 'more than one'} strategy matches {prefix!r}")
    return _record(rows[0])


def list_strategies(
    store: Store,
    *,
    status: str | None = None,
    family: str | None = None,
    mission_id: int | None = None,
    limit: int | None = None,
) -> list[StrategyRecord]:
    """Strategies, newest first, optionally filtered."""
    q = sa.select(S.strategies).order_by(S.strategies.c.created_at.desc(), S.strategies.c.hash)
    if status is not None:
        q = q.where(S.strategies.c.status == parse_status(status).value)
    if family is not None:
        q = q.where(S.strategies.c.family == family)
    if mission_id is not None:
        q = q.where(S.strategies.c.mission_id == mission_id)
    if limit is not None:
        q = q.limit(limit)
    with store.read() as conn:
        return [_record(r) for r in conn.execute(q)]


def transition(
    store: Store, strategy_hash: str, to: Status | str, *, reason: str = "", actor: str = ""
) -> StrategyRecord:
    """Moves a strategy to status ``to``, records the transition and emits ``strategy.status``,
    in one transaction. Raises :class:`IllegalTransitionError` when the lifecycle does not allow
    it (nothing is written) and :class:`UnknownStrategyError` for an unknown hash."""
    with store.write() as conn:
        return insert_transition(conn, strategy_hash, to, reason=reason, actor=actor)


def insert_transition(
    conn: sa.Connection, strategy_hash: str, to: Status | str, *, reason: str = "", actor: str = ""
) -> StrategyRecord:
    """:func:`transition` inside the caller's write transaction."""
    target = parse_status(to)
    t = now()
    row = conn.execute(sa.select(S.strategies.c.status).where(S.strategies.c.hash == strategy_hash)).first()
    if row is None:
        raise UnknownStrategyError(f"unknown strategy {strategy_hash!r}")
    current = Status(row.status)
    if not is_legal(current, target):
        raise IllegalTransitionError(strategy_hash, current.value, target.value)
    updated = conn.execute(
        sa.update(S.strategies)
        .where(S.strategies.c.hash == strategy_hash, S.strategies.c.status == current.value)
        .values(status=target.value, updated_at=t)
    ).rowcount
    if updated != 1:  # a concurrent transition won (PostgreSQL READ COMMITTED)
        latest = conn.execute(sa.select(S.strategies.c.status).where(S.strategies.c.hash == strategy_hash)).scalar_one()
        raise IllegalTransitionError(strategy_hash, latest, target.value)
    conn.execute(
        sa.insert(S.strategy_transitions).values(
            strategy_hash=strategy_hash,
            from_status=current.value,
            to_status=target.value,
            at=t,
            reason=reason,
            actor=actor,
        )
    )
    emit(
        conn,
        "strategy.status",
        strategy_hash,
        {"hash": strategy_hash, "from": current.value, "to": target.value, "reason": reason, "actor": actor},
    )
    return _record(conn.execute(sa.select(S.strategies).where(S.strategies.c.hash == strategy_hash)).one())


def insert_transitions(
    conn: sa.Connection, strategy_hashes: Sequence[str], to: Status | str, *, reasons: Sequence[str], actor: str = ""
) -> int:
    """:func:`insert_transition` for many strategies at once (one status read, one update, one
    bulk insert of the transitions, one event each), inside the caller's write transaction.
    Raises like :func:`transition` for the first strategy that is unknown or may not move."""
    if len(reasons) != len(strategy_hashes):
        raise StoreInputError("one reason per strategy")
    if not strategy_hashes:
        return 0
    target = parse_status(to)
    t = now()
    hashes = list(strategy_hashes)
    current = dict(
        conn.execute(sa.select(S.strategies.c.hash, S.strategies.c.status).where(S.strategies.c.hash.in_(hashes))).all()
    )
    for h in hashes:
        if h not in current:
            raise UnknownStrategyError(f"unknown strategy {h!r}")
        if not is_legal(Status(current[h]), target):
            raise IllegalTransitionError(h, current[h], target.value)
    for status in sorted(set(current.values())):
        group = [h for h in hashes if current[h] == status]
        updated = conn.execute(
            sa.update(S.strategies)
            .where(S.strategies.c.hash.in_(group), S.strategies.c.status == status)
            .values(status=target.value, updated_at=t)
        ).rowcount
        if updated != len(group):  # a concurrent transition won (PostgreSQL READ COMMITTED)
            raise IllegalTransitionError(group[0], status, target.value)
    rows = [
        {"strategy_hash": h, "from_status": current[h], "to_status": target.value, "at": t, "reason": r, "actor": actor}
        for h, r in zip(hashes, reasons)
    ]
    conn.execute(sa.insert(S.strategy_transitions), rows)
    for h, r in zip(hashes, reasons):
        payload = {"hash": h, "from": current[h], "to": target.value, "reason": r, "actor": actor}
        emit(conn, "strategy.status", h, payload)
    return len(rows)


def transitions(store: Store, strategy_hash: str) -> list[TransitionRecord]:
    """The strategy's recorded transitions, oldest first (the first is ``None -> candidate``)."""
    q = (
        sa.select(S.strategy_transitions)
        .where(S.strategy_transitions.c.strategy_hash == strategy_hash)
        .order_by(S.strategy_transitions.c.id)
    )
    with store.read() as conn:
        rows = conn.execute(q).all()
    return [
        TransitionRecord(int(r.id), r.strategy_hash, r.from_status, r.to_status, float(r.at), r.reason, r.actor)
        for r in rows
    ]


def parents(store: Store, strategy_hash: str) -> list[str]:
    """The hashes of the strategy's parents (its lineage one level up)."""
    q = (
        sa.select(S.strategy_lineage.c.parent_hash)
        .where(S.strategy_lineage.c.child_hash == strategy_hash)
        .order_by(S.strategy_lineage.c.parent_hash)
    )
    with store.read() as conn:
        return [r[0] for r in conn.execute(q)]


def strategy_counts(store: Store, *, mission_id: int | None = None) -> dict[str, dict[str, int]]:
    """Strategies by status, then family: ``{status: {family: count}}`` (every status present,
    possibly empty), optionally of one mission."""
    c = S.strategies.c
    q = sa.select(c.status, c.family, sa.func.count()).group_by(c.status, c.family)
    if mission_id is not None:
        q = q.where(c.mission_id == mission_id)
    out: dict[str, dict[str, int]] = {s.value: {} for s in Status}
    with store.read() as conn:
        for status, family, n in conn.execute(q):
            out.setdefault(status, {})[family] = int(n)
    return out
