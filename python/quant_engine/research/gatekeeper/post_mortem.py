"""The post-mortem: a failed strategy's verdict becomes causal memories that bind the next generation.

The Red Team's detectors decide the failure types (``Verdict.failure_types``); nothing else can.
An LLM, when one is configured (any object with a ``write_post_mortem`` method, see
:class:`PostMortemWriter`), may write the narrative and propose a type: the proposal is stored
only when a detector raised that type, and is otherwise counted as unconfirmed and dropped.

Each confirmed type becomes one memory holding the type, the detectors that confirmed it, their
values as evidence, the lesson, what it concerns (a subtree pattern with parameter ranges, a
minimum trade count, a cost floor or a family budget; see :data:`CONCERNS`) and an expiry.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from quant_engine.errors import InvalidArgumentError
from quant_engine.research.gatekeeper.patterns import generalize, node_json, shape_family
from quant_engine.research.redteam.detectors import DETECTORS
from quant_engine.research.redteam.verdict import Verdict
from quant_engine.store import FailureType, Memory, Store, record_memories, trial_counts
from quant_engine.store.strategies import add_strategy, get_strategy
from quant_engine.strategy import CompiledStrategy, Strategy, canonicalize, compile_strategy
from quant_engine.strategy import nodes as N
from quant_engine.strategy.walk import iter_rules, iter_tree

__all__ = [
    "PostMortemNote",
    "PostMortemWriter",
    "PostMortem",
    "conduct_post_mortem",
    "CONCERNS",
    "DEFAULT_TTL_DAYS",
    "DETECTOR_NAMES",
]

DEFAULT_TTL_DAYS = 30.0
"""How long a memory binds unless retired earlier (days)."""

CONCERNS: dict[FailureType, str] = {
    FailureType.OVERFITTING: "family_budget",
    FailureType.LOOKAHEAD_BIAS: "banned_subtree",
    FailureType.NOISE_FITTING: "banned_subtree",
    FailureType.REGIME_DEPENDENCE: "banned_subtree",
    FailureType.COST_SENSITIVITY: "cost_floor",
    FailureType.CAPACITY_LIQUIDITY: "family_budget",
    FailureType.PARAMETER_INSTABILITY: "banned_subtree",
    FailureType.INSUFFICIENT_EVIDENCE: "min_trades",
    FailureType.REDUNDANCY_DECAY: "family_budget",
    FailureType.EXCESSIVE_DRAWDOWN: "banned_subtree",
    FailureType.EXECUTION_DIVERGENCE: "banned_subtree",
}
"""The machine constraint each failure type compiles to."""

DETECTOR_NAMES: dict[FailureType, str] = {d.failure_type: "+".join(d.tests) for d in DETECTORS}
"""The tests of each type's detector, as stored in the memory's ``detector``."""

_LESSONS: dict[str, str] = {
    "banned_subtree": "{type}: the rule {pattern} failed the {detector} detector; do not propose it again "
    "with parameters in these ranges.",
    "min_trades": "{type}: {trades:g} trades are not evidence; candidates need at least {value:g} trades.",
    "min_holding_bars": "{type}: holding periods this short do not survive costs; hold at least {value:g} bars.",
    "cost_floor": "{type}: the edge did not survive costs; candidates must survive {value:g} bps per side.",
    "family_budget": "{type}: the family {family} has used its {value:g} trials; explore other shapes.",
}


@dataclass(frozen=True)
class PostMortemNote:
    """What an LLM wrote about a failure: the narrative and the type it proposes (or None)."""

    narrative: str
    proposed_type: str | None = None


class PostMortemWriter(Protocol):
    """An LLM adapter: given the strategy document and the verdict (plain JSON), a note."""

    def write_post_mortem(self, strategy: Mapping[str, Any], verdict: Mapping[str, Any]) -> PostMortemNote:
        """The narrative and the proposed failure type."""
        ...


@dataclass(frozen=True)
class PostMortem:
    """The outcome of :func:`conduct_post_mortem`.

    Attributes:
        strategy_hash: the strategy examined.
        failure_types: the confirmed types (the detectors'), one memory each.
        memories: the memories recorded.
        proposed_type: the LLM's proposal, if any; ``proposal_confirmed`` whether a detector raised it.
        narrative: the LLM's narrative ("" without one).
    """

    strategy_hash: str
    failure_types: tuple[str, ...]
    memories: tuple[Memory, ...] = ()
    proposed_type: str | None = None
    proposal_confirmed: bool = False
    narrative: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def _compiled(store: Store, strategy: Any) -> CompiledStrategy:
    if isinstance(strategy, CompiledStrategy):
        return strategy
    if isinstance(strategy, str) and len(strategy) == 64 and all(c in "0123456789abcdef" for c in strategy):
        return compile_strategy(get_strategy(store, strategy).spec)
    return compile_strategy(strategy)


def _rule(strategy: Strategy) -> Any:
    canon = canonicalize(strategy)
    for name in ("entry_long", "entry_short"):
        root = getattr(canon, name)
        if root is not None and not isinstance(root, bool):
            return root
    raise InvalidArgumentError("the strategy has no entry rule to learn from")


def _calls(strategy: Strategy) -> list[str]:
    return sorted(
        {v.fn for rp, root in iter_rules(strategy) for _, v, _ in iter_tree(root, rp) if isinstance(v, N.Call)}
    )


def _concern(
    ft: FailureType, cs: CompiledStrategy, values: Mapping[str, float | None], store: Store, subtree: Any, spread: float
) -> dict[str, Any]:
    kind = CONCERNS[ft]
    if kind == "banned_subtree":
        calls = _calls(cs.strategy)
        if subtree is None and ft is FailureType.LOOKAHEAD_BIAS and calls:
            return {"kind": kind, "pattern": {"op": "call", "fn": calls[0]}}
        node = _rule(cs.strategy) if subtree is None else subtree
        exact = ft in (FailureType.LOOKAHEAD_BIAS, FailureType.EXECUTION_DIVERGENCE)
        pattern = node_json(node) if exact else generalize(node, spread)
        return {"kind": kind, "pattern": pattern}
    if kind == "min_trades":
        return {"kind": kind, "value": float(values.get("trades.threshold") or 30.0)}
    if kind == "cost_floor":
        bps = values.get("breakeven_cost.threshold")
        if bps is not None and bps > 0:
            return {"kind": kind, "value": float(bps)}
        return {"kind": "min_holding_bars", "value": 5.0}
    family = shape_family(cs.strategy)
    return {"kind": kind, "family": family, "value": float(trial_counts(store).get(family, 0))}


def _lesson(ft: FailureType, concern: Mapping[str, Any], values: Mapping[str, float | None]) -> str:
    from quant_engine.research.gatekeeper.constraints import _describe

    return _LESSONS[concern["kind"]].format(
        type=ft.value,
        pattern=_describe(concern.get("pattern")),
        detector=DETECTOR_NAMES.get(ft, ""),
        trades=float(values.get("trades.statistic") or 0.0),
        value=float(concern.get("value", 0.0)),
        family=concern.get("family", ""),
    )


def _gate(values: Mapping[str, float | None], ft: FailureType) -> tuple[float | None, float | None]:
    """The statistic and threshold of the first failed test feeding ``ft`` in the evidence."""
    for test in DETECTOR_NAMES.get(ft, "").split("+"):
        if values.get(f"{test}.passed") == 0.0:
            return values.get(f"{test}.statistic"), values.get(f"{test}.threshold")
    return None, None


def conduct_post_mortem(
    store: Store,
    strategy: Any,
    verdict: Verdict,
    *,
    llm: PostMortemWriter | None = None,
    mission: int | None = None,
    subtree: Any = None,
    spread: float = 0.2,
    ttl_days: float = DEFAULT_TTL_DAYS,
    now: float | None = None,
) -> PostMortem:
    """Learns from a failed verdict: one causal memory per failure type its detectors raised.

    Args:
        store: the research store (the strategy is recorded in it if it is not yet).
        strategy: the strategy examined (hash, document, ``Strategy`` or ``CompiledStrategy``).
        verdict: the Red Team's :class:`~quant_engine.research.redteam.Verdict` on it.
        llm: an optional :class:`PostMortemWriter` for the narrative and a proposed type.
        mission: the mission the memories bind (None: every mission).
        subtree: the node the lesson concerns (default: the canonical entry rule).
        spread: the relative parameter range banned around the subtree's numbers (+-20%).
        ttl_days: the memories' lifetime.
        now: the clock (seconds since the epoch; default the current time).

    Raises :class:`~quant_engine.errors.InvalidArgumentError` when the verdict is about another
    strategy or the strategy has no entry rule.
    """
    cs = _compiled(store, strategy)
    if verdict.strategy_hash != cs.hash:
        raise InvalidArgumentError(f"the verdict is about strategy {verdict.strategy_hash[:12]}, not {cs.hash[:12]}")
    add_strategy(store, cs, mission_id=mission)  # no-op when already recorded
    t = time.time() if now is None else float(now)
    note = llm.write_post_mortem(_document(cs), verdict.to_dict()) if llm is not None else None
    confirmed = [FailureType(ft) for ft in verdict.failure_types if FailureType(ft) in CONCERNS]
    proposed = None if note is None or note.proposed_type is None else note.proposed_type.strip().upper()
    is_confirmed = proposed is not None and proposed in {ft.value for ft in confirmed}
    memories = []
    for ft in confirmed:
        values = dict(verdict.evidence.get(ft, {}))
        concern = _concern(ft, cs, values, store, subtree, spread)
        statistic, threshold = _gate(values, ft)
        evidence: dict[str, Any] = {"values": values, "concerns": concern}
        narrative = note.narrative if note is not None else ""
        if narrative:
            evidence["narrative"] = narrative[:4000]
        if is_confirmed and proposed == ft.value:
            evidence["proposed_by_llm"] = True
        memories.append(
            Memory(
                ft, DETECTOR_NAMES.get(ft, "detector"), strategy_hash=cs.hash, mission_id=mission, statistic=statistic,
                threshold=threshold, evidence=evidence, lesson=_lesson(ft, concern, values), created_at=t,
                expires_at=t + ttl_days * 86_400.0,
            )
        )  # fmt: skip
    record_memories(store, memories)
    counts = {"confirmed": len(memories), "unconfirmed_proposals": int(proposed is not None and not is_confirmed)}
    return PostMortem(cs.hash, tuple(ft.value for ft in confirmed), tuple(memories), proposed, is_confirmed,
                      note.narrative if note else "", counts)  # fmt: skip


def _document(cs: CompiledStrategy) -> dict[str, Any]:
    import msgspec

    out: dict[str, Any] = msgspec.to_builtins(cs.strategy)
    return out
