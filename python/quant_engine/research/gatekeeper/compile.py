"""From memories to machine constraints (:func:`get_swarm_constraints`), and their retirement.

Active memories (not expired) of the mission and those that bind every mission compile into one
:class:`~quant_engine.research.gatekeeper.constraints.Constraints`: each memory's ``concerns``
becomes a constraint with the id ``M<memory id>.<kind>``; among floors of the same kind the
strongest binds. :func:`review_memories` retires memories the evidence no longer supports: a
banned subtree that a graduated or promoted strategy contains, recorded after the memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from quant_engine.research.gatekeeper.constraints import BannedSubtree, Bound, Constraints, FamilyBudget, _describe
from quant_engine.research.gatekeeper.patterns import find_pattern
from quant_engine.store import MemoryRecord, Store, expire_memories, list_memories, list_strategies, trial_counts
from quant_engine.strategy import compile_strategy

__all__ = ["get_swarm_constraints", "compile_constraints", "review_memories", "Review"]


def _active(store: Store, mission: int | None, at: float) -> list[MemoryRecord]:
    rows = list_memories(store, limit=None)
    return [
        m
        for m in rows
        if (m.expires_at is None or m.expires_at > at) and (m.mission_id is None or m.mission_id == mission)
    ]


def compile_constraints(memories: Sequence[MemoryRecord], family_trials: dict[str, int] | None = None) -> Constraints:
    """Constraints from memories (oldest first); memories without ``concerns`` bind nothing."""
    banned: list[BannedSubtree] = []
    floors: dict[str, Bound] = {}
    budgets: dict[str, FamilyBudget] = {}
    lines: list[str] = []
    used_ids: list[int] = []
    for m in sorted(memories, key=lambda r: r.id):
        concern = m.evidence.get("concerns") if isinstance(m.evidence, dict) else None
        if not isinstance(concern, dict) or "kind" not in concern:
            continue
        kind = str(concern["kind"])
        cid = f"M{m.id}.{kind}"
        if kind == "banned_subtree" and isinstance(concern.get("pattern"), dict):
            banned.append(BannedSubtree(cid, concern["pattern"], m.failure_type))
            lines.append(f"- [{cid}] never use {_describe(concern['pattern'])} ({m.failure_type})")
        elif kind in ("min_trades", "min_holding_bars", "cost_floor"):
            value = float(concern.get("value", 0.0))
            if kind not in floors or value > floors[kind].value:
                floors[kind] = Bound(cid, value, m.failure_type)
        elif kind == "family_budget" and isinstance(concern.get("family"), str):
            family = concern["family"]
            cap = int(concern.get("value", 0))
            if family not in budgets or cap < budgets[family].max_trials:
                used = (family_trials or {}).get(family, 0)
                budgets[family] = FamilyBudget(cid, family, cap, used, m.failure_type)
        else:
            continue
        used_ids.append(m.id)
        if m.lesson:
            lines.append(f"- lesson: {m.lesson}")
    words = {"min_trades": "at least {v:g} trades", "min_holding_bars": "hold positions at least {v:g} bars",
             "cost_floor": "survive costs of {v:g} bps per side"}  # fmt: skip
    for kind, b in floors.items():
        lines.append(f"- [{b.id}] {words[kind].format(v=b.value)} ({b.failure_type})")
    for budget in budgets.values():
        if budget.spent:
            lines.append(f"- [{budget.id}] do not propose more strategies of {budget.family} ({budget.failure_type})")
    prompt = (
        "Constraints learned from failed strategies (each is enforced by code):\n" + "\n".join(lines) if lines else ""
    )
    return Constraints(
        banned=tuple(banned), min_trades=floors.get("min_trades"), min_holding_bars=floors.get("min_holding_bars"),
        cost_floor=floors.get("cost_floor"), family_budgets=budgets, memory_ids=tuple(used_ids), prompt=prompt,
    )  # fmt: skip


def get_swarm_constraints(store: Store, mission: int | None = None, *, at: float | None = None) -> Constraints:
    """The machine constraints of ``mission`` (its memories and those of every mission) from the
    active causal memories at time ``at`` (default now), family budgets counted against the
    ledger's trials."""
    t = time.time() if at is None else float(at)
    memories = _active(store, mission, t)
    needs_counts = any(
        isinstance(m.evidence.get("concerns"), dict) and m.evidence["concerns"].get("kind") == "family_budget"
        for m in memories
    )
    return compile_constraints(memories, trial_counts(store) if needs_counts else None)


@dataclass(frozen=True)
class Review:
    """What :func:`review_memories` did: the memories retired and why."""

    retired: dict[int, str]
    active: int


def review_memories(store: Store, mission: int | None = None, *, at: float | None = None) -> Review:
    """Retires active banned-subtree memories contradicted by a graduated or promoted strategy
    recorded after the memory that contains the banned subtree."""
    t = time.time() if at is None else float(at)
    memories = _active(store, mission, t)
    graduates: list[tuple[float, str, Any]] = []
    for status in ("graduated", "promoted"):
        for rec in list_strategies(store, status=status):
            try:
                graduates.append((rec.created_at, rec.hash, compile_strategy(rec.spec).strategy))
            except ValueError:
                continue
    retired: dict[int, str] = {}
    for m in memories:
        concern = m.evidence.get("concerns")
        if not isinstance(concern, dict) or concern.get("kind") != "banned_subtree":
            continue
        for created, h, strategy in graduates:
            if created >= m.created_at and find_pattern(strategy, concern["pattern"]) is not None:
                retired[m.id] = f"graduate {h[:12]} contains the banned subtree"
                break
    for reason in sorted(set(retired.values())):
        expire_memories(store, [i for i, r in retired.items() if r == reason], reason=reason, at=t)
    return Review(retired, len(memories) - len(retired))
