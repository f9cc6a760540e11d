"""Token and cost budgets per mission: a request is refused before it is sent when its worst case
(estimated prompt tokens plus the completion cap) would exceed what is left.

A mission's limits come from its ``budget`` in the store (``llm_tokens``, ``llm_cost``), else from
the settings' defaults; what it already used is read from the store's ``llm_requests`` once, then
tracked here. Concurrent requests reserve their worst case, so together they cannot overrun.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from quant_engine.errors import LLMBudgetError

__all__ = ["BudgetLimits", "Budget", "estimate_tokens"]


def estimate_tokens(text: str) -> int:
    """A conservative token estimate of ``text`` (one token per 3 characters, BPE tokenizers give
    about one per 4 on English and JSON)."""
    return math.ceil(len(text) / 3) + 4


@dataclass(frozen=True)
class BudgetLimits:
    """The most tokens and cost (None: unlimited) a mission may spend on LLM requests."""

    tokens: int | None = None
    cost: float | None = None


class Budget:
    """The running budget of one mission (thread-safe)."""

    def __init__(
        self, limits: BudgetLimits, *, mission_id: int | None = None, used_tokens: int = 0, used_cost: float = 0.0
    ) -> None:
        self.limits = limits
        self.mission_id = mission_id
        self.used_tokens = used_tokens
        self.used_cost = used_cost
        self._reserved_tokens = 0
        self._reserved_cost = 0.0
        self._lock = threading.Lock()

    def remaining(self) -> tuple[int | None, float | None]:
        """Tokens and cost left (None: unlimited), reservations of requests in flight deducted."""
        with self._lock:
            return self._remaining()

    def _remaining(self) -> tuple[int | None, float | None]:
        t = None if self.limits.tokens is None else self.limits.tokens - self.used_tokens - self._reserved_tokens
        c = None if self.limits.cost is None else self.limits.cost - self.used_cost - self._reserved_cost
        return t, c

    def reserve(self, tokens: int, cost: float) -> None:
        """Reserves a request's worst case; raises :class:`LLMBudgetError` if it does not fit."""
        with self._lock:
            left_t, left_c = self._remaining()
            if (left_t is not None and tokens > left_t) or (left_c is not None and cost > left_c + 1e-12):
                who = "no mission" if self.mission_id is None else f"mission {self.mission_id}"
                raise LLMBudgetError(
                    f"LLM budget of {who} exhausted: the request needs up to {tokens} tokens / {cost:.6f}, "
                    f"left {'unlimited' if left_t is None else max(left_t, 0)} tokens / "
                    f"{'unlimited' if left_c is None else f'{max(left_c, 0.0):.6f}'}",
                    mission_id=self.mission_id,
                    needed_tokens=tokens,
                    needed_cost=cost,
                    remaining_tokens=left_t,
                    remaining_cost=left_c,
                )
            self._reserved_tokens += tokens
            self._reserved_cost += cost

    def settle(self, reserved_tokens: int, reserved_cost: float, tokens: int, cost: float) -> None:
        """Replaces a reservation by the request's actual usage."""
        with self._lock:
            self._reserved_tokens -= reserved_tokens
            self._reserved_cost -= reserved_cost
            self.used_tokens += tokens
            self.used_cost += cost
