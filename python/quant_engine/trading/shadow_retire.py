"""Retiring a strategy that left its pre-registered band: the store transition
``promoted -> retired`` with the reason, a causal memory ``EXECUTION_DIVERGENCE`` carrying the
CUSUM evidence for the Gatekeeper, and a ``shadow.retired`` event. Idempotent (a restart that
replays the alarm does not write them twice)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quant_engine.store import Status, get_strategy, list_memories, record_memory, transition
from quant_engine.store.taxonomy import FailureType
from quant_engine.trading.shadow_journal import emit_event

if TYPE_CHECKING:
    from quant_engine.store import Store
    from quant_engine.trading.shadow_slots import Slot

__all__ = ["retire_strategy", "DETECTOR", "RETIRED_EVENT"]

DETECTOR = "shadow-cusum"
"""The detector name of the causal memories the shadow trader records."""

RETIRED_EVENT = "shadow.retired"


def retire_strategy(store: Store, account: str, slot: Slot, ts: int) -> tuple[str, dict[str, Any]]:
    """Records the retirement of ``slot``'s strategy; returns ``(reason, evidence)``."""
    assert slot.cusum is not None
    c = slot.cusum
    stat = max(c.hi, c.lo)
    evidence = {**c.evidence(), "symbol": slot.symbol, "bar_ts": ts, "account": account}
    reason = (
        f"paper returns left the pre-registered band ({c.side}): two-sided CUSUM {stat:.2f} > h={c.params.h} "
        f"(k={c.params.k}) after {c.bars} bars on {slot.symbol}"
    )
    if get_strategy(store, slot.strategy).status == Status.PROMOTED.value:
        transition(store, slot.strategy, Status.RETIRED, reason=reason, actor="shadow-trader")
    known = list_memories(store, strategy_hash=slot.strategy, failure_type=FailureType.EXECUTION_DIVERGENCE, limit=None)
    if not any(m.detector == DETECTOR for m in known):
        record_memory(
            store, FailureType.EXECUTION_DIVERGENCE, DETECTOR, strategy_hash=slot.strategy, statistic=stat,
            threshold=c.params.h, evidence=evidence,
            lesson="live per-bar returns diverged from the distribution the Red Team pre-registered",
        )  # fmt: skip
        emit_event(store, RETIRED_EVENT, slot.strategy, {"reason": reason, **evidence})
    return reason, evidence
