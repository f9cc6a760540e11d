"""Red Team verdicts and factory calibrations.

A verdict row is one examination (``kind="examination"``) or the graduation decision
(``kind="graduation"``: the verdict, the strategy's single holdout evaluation and, when it
graduated, its pre-registered expectation for paper trading). The store keeps the documents as
JSON; their types live in ``quant_engine.research.redteam`` (the store never imports research).
A calibration row is one run of the factory calibration (false-graduation rate with its
Clopper-Pearson interval, power by planted strength); a graduation verdict points at the
calibration in force when it was decided.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from quant_engine.store import schema as S
from quant_engine.store.errors import StoreInputError, UnknownRecordError
from quant_engine.store.events import emit
from quant_engine.store.ledger import engine_version
from quant_engine.store.store import Store, from_json, now, to_json
from quant_engine.store.strategies import require_strategy
from quant_engine.store.taxonomy import parse_failure_type

__all__ = [
    "VerdictRecord",
    "CalibrationRecord",
    "record_verdict",
    "latest_verdict",
    "list_verdicts",
    "expectation_for",
    "record_calibration",
    "latest_calibration",
    "get_calibration",
]


@dataclass(frozen=True)
class VerdictRecord:
    """A row of ``verdicts`` with its JSON columns decoded."""

    id: int
    strategy_hash: str
    kind: str
    passed: bool
    seed: int | None
    failure_types: tuple[str, ...]
    document: dict[str, Any]
    expectation: dict[str, Any] | None
    holdout: dict[str, Any] | None
    snapshot_id: int | None
    calibration_id: int | None
    created_at: float


@dataclass(frozen=True)
class CalibrationRecord:
    """A row of ``calibrations`` with its JSON columns decoded."""

    id: int
    config: dict[str, Any]
    null_markets: int
    false_graduations: int
    false_graduation_rate: float
    fgr_lower: float
    fgr_upper: float
    power: dict[str, Any]
    document: dict[str, Any]
    engine_version: str
    created_at: float


def _optional_json(text: str | None) -> dict[str, Any] | None:
    return None if text is None else dict(from_json(text))


def _verdict(row: Any) -> VerdictRecord:
    return VerdictRecord(
        id=int(row.id),
        strategy_hash=row.strategy_hash,
        kind=row.kind,
        passed=bool(row.passed),
        seed=None if row.seed is None else int(row.seed),
        failure_types=tuple(from_json(row.failure_types)),
        document=dict(from_json(row.document)),
        expectation=_optional_json(row.expectation),
        holdout=_optional_json(row.holdout),
        snapshot_id=None if row.snapshot_id is None else int(row.snapshot_id),
        calibration_id=None if row.calibration_id is None else int(row.calibration_id),
        created_at=float(row.created_at),
    )


def _calibration(row: Any) -> CalibrationRecord:
    return CalibrationRecord(
        id=int(row.id),
        config=dict(from_json(row.config)),
        null_markets=int(row.null_markets),
        false_graduations=int(row.false_graduations),
        false_graduation_rate=float(row.false_graduation_rate),
        fgr_lower=float(row.fgr_lower),
        fgr_upper=float(row.fgr_upper),
        power=dict(from_json(row.power)),
        document=dict(from_json(row.document)),
        engine_version=row.engine_version,
        created_at=float(row.created_at),
    )


def _require_row(conn: sa.Connection, table: sa.Table, key: int | None, what: str) -> None:
    if key is None:
        return
    if conn.execute(sa.select(table.c.id).where(table.c.id == int(key))).first() is None:
        raise UnknownRecordError(f"unknown {what} {key!r}")


def record_verdict(
    store: Store,
    strategy_hash: str,
    *,
    kind: str,
    passed: bool,
    document: Mapping[str, Any],
    failure_types: Iterable[str] = (),
    seed: int | None = None,
    expectation: Mapping[str, Any] | None = None,
    holdout: Mapping[str, Any] | None = None,
    snapshot_id: int | None = None,
    calibration_id: int | None = None,
) -> int:
    """Records a verdict and emits ``verdict.recorded`` in the same transaction; returns its id.

    Raises :class:`StoreInputError` for an unknown kind, a failure type outside the taxonomy, a
    passing verdict that names failure types, or an expectation on anything but a passing
    graduation; :class:`UnknownStrategyError` / :class:`UnknownRecordError` for unknown
    references. Nothing is written then."""
    if kind not in S.VERDICT_KINDS:
        raise StoreInputError(f"unknown verdict kind {kind!r}; expected one of {', '.join(S.VERDICT_KINDS)}")
    types = sorted({parse_failure_type(t).value for t in failure_types})
    if passed and types:
        raise StoreInputError(f"a passing verdict names no failure types (got {', '.join(types)})")
    if expectation is not None and not (passed and kind == "graduation"):
        raise StoreInputError("only a passing graduation verdict carries a pre-registered expectation")
    with store.write() as conn:
        require_strategy(conn, strategy_hash)
        _require_row(conn, S.data_snapshots, snapshot_id, "data snapshot")
        _require_row(conn, S.calibrations, calibration_id, "calibration")
        result = conn.execute(
            sa.insert(S.verdicts).values(
                strategy_hash=strategy_hash,
                kind=kind,
                passed=bool(passed),
                seed=None if seed is None else int(seed),
                failure_types=to_json(types),
                document=to_json(dict(document)),
                expectation=None if expectation is None else to_json(dict(expectation)),
                holdout=None if holdout is None else to_json(dict(holdout)),
                snapshot_id=snapshot_id,
                calibration_id=calibration_id,
                created_at=now(),
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        verdict_id = int(pk[0])
        emit(
            conn,
            "verdict.recorded",
            strategy_hash,
            {"id": verdict_id, "kind": kind, "passed": bool(passed), "failure_types": types},
        )
    return verdict_id


def list_verdicts(store: Store, strategy_hash: str, *, kind: str | None = None) -> list[VerdictRecord]:
    """The strategy's verdicts, oldest first (optionally of one kind)."""
    query = sa.select(S.verdicts).where(S.verdicts.c.strategy_hash == strategy_hash)
    if kind is not None:
        query = query.where(S.verdicts.c.kind == kind)
    with store.read() as conn:
        return [_verdict(r) for r in conn.execute(query.order_by(S.verdicts.c.id))]


def latest_verdict(store: Store, strategy_hash: str, *, kind: str | None = None) -> VerdictRecord | None:
    """The strategy's most recent verdict (optionally of one kind), or ``None``."""
    found = list_verdicts(store, strategy_hash, kind=kind)
    return found[-1] if found else None


def expectation_for(store: Store, strategy_hash: str) -> dict[str, Any] | None:
    """The pre-registered expectation stored when the strategy graduated, or ``None``."""
    record = latest_verdict(store, strategy_hash, kind="graduation")
    return None if record is None else record.expectation


def _rate(name: str, value: float) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise StoreInputError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def record_calibration(
    store: Store,
    *,
    null_markets: int,
    false_graduations: int,
    fgr_lower: float,
    fgr_upper: float,
    power: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    document: Mapping[str, Any] | None = None,
) -> int:
    """Records a factory calibration (``calibration.recorded`` event) and returns its id.

    The false-graduation rate is ``false_graduations / null_markets``; ``fgr_lower``/``fgr_upper``
    are its interval (Clopper-Pearson, computed by the caller)."""
    if null_markets < 1 or not 0 <= false_graduations <= null_markets:
        raise StoreInputError(
            f"a calibration needs null_markets >= 1 and 0 <= false_graduations <= null_markets "
            f"(got {false_graduations} of {null_markets})"
        )
    rate = false_graduations / null_markets
    lower, upper = _rate("fgr_lower", fgr_lower), _rate("fgr_upper", fgr_upper)
    if not lower <= rate <= upper:
        raise StoreInputError(f"the interval [{lower}, {upper}] does not contain the rate {rate}")
    with store.write() as conn:
        result = conn.execute(
            sa.insert(S.calibrations).values(
                config=to_json(dict(config or {})),
                null_markets=int(null_markets),
                false_graduations=int(false_graduations),
                false_graduation_rate=rate,
                fgr_lower=lower,
                fgr_upper=upper,
                power=to_json(dict(power)),
                document=to_json(dict(document or {})),
                engine_version=engine_version(),
                created_at=now(),
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        calibration_id = int(pk[0])
        emit(conn, "calibration.recorded", str(calibration_id), {"id": calibration_id, "rate": rate})
    return calibration_id


def get_calibration(store: Store, calibration_id: int) -> CalibrationRecord:
    """The calibration with this id; raises :class:`UnknownRecordError`."""
    with store.read() as conn:
        row = conn.execute(sa.select(S.calibrations).where(S.calibrations.c.id == int(calibration_id))).first()
    if row is None:
        raise UnknownRecordError(f"unknown calibration {calibration_id!r}")
    return _calibration(row)


def latest_calibration(store: Store) -> CalibrationRecord | None:
    """The most recent calibration, or ``None`` when the factory was never calibrated."""
    with store.read() as conn:
        row = conn.execute(sa.select(S.calibrations).order_by(S.calibrations.c.id.desc()).limit(1)).first()
    return None if row is None else _calibration(row)
