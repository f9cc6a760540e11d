"""The pool's health: :func:`audit_pool` reports, :func:`repair_pool` fixes.

The pool is the Swarm's candidates (``origin = search``, status ``candidate``). The audit finds:

* **duplicates**: pool members whose spec, recompiled by this version, has the identity of another
  strategy in the store (an upgrade of the canonical form merged them); the newer ones are extra;
* **invalid**: pool members whose spec no longer validates (an operator unregistered, a limit
  lowered, a language change);
* **stale**: pool members not touched for ``stale_days`` days;
* **orphan trials**: trials whose strategy is not in the store (a damaged store: foreign keys were
  off); they belong to no family, so no multiple-testing count can use them.

The repair moves every duplicate, invalid and stale member ``candidate -> testing -> failed`` with
the reason (nothing is deleted), and deletes orphan trials with their batches and return blobs, all
in one transaction.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from quant_engine.errors import StrategyValidationError
from quant_engine.store import Store, list_strategies
from quant_engine.store import schema as S
from quant_engine.store.strategies import insert_transition
from quant_engine.strategy import compile_strategy
from quant_engine.swarm.record import ACTOR

__all__ = ["Finding", "AuditReport", "audit_pool", "repair_pool", "DEFAULT_STALE_DAYS"]

DEFAULT_STALE_DAYS = 30.0
"""A pool member untouched for this many days is stale."""


@dataclass(frozen=True)
class Finding:
    """One problem: its kind (``duplicate``, ``invalid``, ``stale``), the strategy and why."""

    kind: str
    strategy_hash: str
    detail: str


@dataclass
class AuditReport:
    """What :func:`audit_pool` found; ``orphan_trials`` are trial ids."""

    pool: int
    findings: list[Finding] = field(default_factory=list)
    orphan_trials: list[int] = field(default_factory=list)

    def count(self, kind: str) -> int:
        """How many findings of ``kind``."""
        return sum(1 for f in self.findings if f.kind == kind)

    @property
    def healthy(self) -> bool:
        """Nothing to repair."""
        return not self.findings and not self.orphan_trials

    def summary(self) -> dict[str, int]:
        """Counts per kind."""
        return {"pool": self.pool, "duplicate": self.count("duplicate"), "invalid": self.count("invalid"),
                "stale": self.count("stale"), "orphan_trials": len(self.orphan_trials)}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON builtins."""
        return {"summary": self.summary(), "findings": [asdict(f) for f in self.findings],
                "orphan_trials": self.orphan_trials}  # fmt: skip


def audit_pool(store: Store, *, stale_days: float = DEFAULT_STALE_DAYS, now: float | None = None) -> AuditReport:
    """Finds the pool's problems (see the module doc); changes nothing."""
    t = time.time() if now is None else float(now)
    pool = [r for r in list_strategies(store, status="candidate") if r.origin == "search"]
    with store.read() as conn:
        stored = {h for (h,) in conn.execute(sa.select(S.strategies.c.hash))}
        orphans = [
            int(i)
            for (i,) in conn.execute(
                sa.select(S.trials.c.id).where(S.trials.c.strategy_hash.not_in(sa.select(S.strategies.c.hash)))
            )
        ]
    report = AuditReport(len(pool), orphan_trials=sorted(orphans))
    first_owner: dict[str, str] = {}
    for rec in sorted(pool, key=lambda r: (r.created_at, r.hash)):
        try:
            cs = compile_strategy(rec.spec)
        except StrategyValidationError as exc:
            report.findings.append(Finding("invalid", rec.hash, str(exc)))
            continue
        if cs.hash != rec.hash and cs.hash in stored:
            report.findings.append(Finding("duplicate", rec.hash, f"now the same strategy as {cs.hash[:12]}"))
            continue
        if cs.hash in first_owner:
            report.findings.append(Finding("duplicate", rec.hash, f"same strategy as {first_owner[cs.hash][:12]}"))
            continue
        first_owner[cs.hash] = rec.hash
        if rec.updated_at < t - stale_days * 86_400.0:
            age = (t - rec.updated_at) / 86_400.0
            report.findings.append(Finding("stale", rec.hash, f"untouched for {age:.0f} days"))
    return report


def repair_pool(store: Store, report: AuditReport | None = None, **audit: Any) -> AuditReport:
    """Fixes what ``report`` (default: a fresh :func:`audit_pool`) found, in one transaction, and
    returns the report it acted on."""
    report = report or audit_pool(store, **audit)
    with store.write() as conn:
        for f in report.findings:
            insert_transition(conn, f.strategy_hash, "testing", reason=f"audit: {f.kind}", actor=ACTOR)
            insert_transition(conn, f.strategy_hash, "failed", reason=f"audit: {f.kind}: {f.detail}", actor=ACTOR)
        if report.orphan_trials:
            ids = report.orphan_trials
            batches = [
                int(b) for (b,) in conn.execute(sa.select(S.trials.c.batch_id).where(S.trials.c.id.in_(ids)).distinct())
            ]
            conn.execute(sa.delete(S.trials).where(S.trials.c.id.in_(ids)))
            left = {
                int(b) for (b,) in conn.execute(sa.select(S.trials.c.batch_id).where(S.trials.c.batch_id.in_(batches)))
            }
            empty = [b for b in batches if b not in left]
            if empty:
                conn.execute(sa.delete(S.return_blobs).where(S.return_blobs.c.batch_id.in_(empty)))
                conn.execute(sa.delete(S.trial_batches).where(S.trial_batches.c.id.in_(empty)))
    return report
