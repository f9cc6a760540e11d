"""Recording a generation: every evaluated candidate, its trial and its fate, in one transaction.

Each evaluated candidate becomes a strategy (origin ``search``, family = its shape, lineage = its
parents) and one trial with its metrics on the data snapshot it was screened on. Candidates that
do not enter the pool move ``candidate -> testing -> failed`` with the reason (``screened:
correlated 0.93 with 1a2b...``, ``screened: M4.min_trades`` ...); those admitted stay
``candidate``: the pool is the swarm's candidates. Readers see a whole generation or none of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from quant_engine.research.metrics import METRIC_NAMES
from quant_engine.store import Store
from quant_engine.store import schema as S
from quant_engine.store.ledger import insert_trials
from quant_engine.store.strategies import insert_strategy, insert_transitions
from quant_engine.strategy import CompiledStrategy

__all__ = ["Outcome", "record_generation", "known_hashes", "ACTOR"]

ACTOR = "swarm"
"""The actor named in the transitions the Swarm records."""


@dataclass(frozen=True)
class Outcome:
    """An evaluated candidate and its fate (``rejection`` is "" when admitted to the pool)."""

    cs: CompiledStrategy
    family: str
    parents: tuple[str, ...]
    metrics: np.ndarray
    seconds: float
    rejection: str = ""


def record_generation(
    store: Store, outcomes: Sequence[Outcome], *, snapshot_id: int, config_json: str, mission_id: int | None
) -> int:
    """Records the outcomes (see the module doc) and returns the number of trials written."""
    config_hash = hashlib.sha256(config_json.encode()).hexdigest()
    names = list(METRIC_NAMES)
    with store.write() as conn:
        for o in outcomes:
            insert_strategy(conn, o.cs, family=o.family, origin="search", mission_id=mission_id,
                            parents=o.parents, actor=ACTOR, reason="generated")  # fmt: skip
            insert_trials(conn, o.cs.hash, params=[{}], metrics=o.metrics.reshape(1, -1), metric_names=names,
                          config_hash=config_hash, snapshot_id=snapshot_id, mission_id=mission_id,
                          wall_time_s=max(0.0, float(o.seconds)))  # fmt: skip
        rejected = [o for o in outcomes if o.rejection]
        hashes = [o.cs.hash for o in rejected]
        insert_transitions(conn, hashes, "testing", reasons=["screening"] * len(hashes), actor=ACTOR)
        insert_transitions(conn, hashes, "failed", reasons=[f"screened: {o.rejection}" for o in rejected], actor=ACTOR)
    return len(outcomes)


def known_hashes(store: Store) -> set[str]:
    """Every strategy hash the store holds (a candidate among them is a duplicate)."""
    with store.read() as conn:
        return {h for (h,) in conn.execute(sa.select(S.strategies.c.hash))}
