"""The LLM as the Swarm's second generator: :class:`LLMProposer` adapts
:func:`quant_engine.research.llm.propose_strategies` (validation, repair prompts, retries, the
mission's budget, the request log) to the Swarm's :class:`~quant_engine.swarm.swarm.Proposer`
protocol. The Gatekeeper's constraints reach the LLM twice: as prompt text, and as the machine
check each answer must pass before it is accepted (a refused answer is sent back like any invalid
one); the Swarm then validates, dedupes and evaluates what it gets like any other child."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LLMProposer"]


@dataclass
class LLMProposer:
    """Asks the LLM for strategies on the Swarm's instruments and timeframe.

    Attributes:
        client: an :class:`~quant_engine.research.llm.LLMClient`.
        instruments, timeframe: what the proposed strategies must trade.
        check: an extra validator for each answer (e.g. ``Constraints.check``); None: none.
        examples: strategy documents shown to the LLM as examples.
        totals: what every call so far cost and met (requests, invalid, repaired, dropped,
            duplicates, failed, faults by kind, tokens, cost), for the Swarm's report.
    """

    client: Any
    instruments: Sequence[str]
    timeframe: str
    check: Callable[[Any], None] | None = None
    examples: Sequence[Any] = ()
    totals: Counter[str] = field(default_factory=Counter)

    def propose(self, k: int, prompt: str, mission: int | None) -> list[Any]:
        """Up to ``k`` valid strategies (``Strategy`` documents); nothing the LLM wrote runs."""
        from quant_engine.research.llm import propose_strategies

        if k <= 0:
            return []
        result = propose_strategies(
            k, client=self.client, mission=mission, constraints_text=prompt, examples=self.examples,
            instruments=list(self.instruments), timeframe=self.timeframe, check=self.check,
        )  # fmt: skip
        for name in ("requested", "invalid", "repaired", "dropped", "duplicates", "failed", "requests",
                     "prompt_tokens", "completion_tokens"):  # fmt: skip
            self.totals[name] += int(getattr(result, name))
        self.totals["budget_exhausted"] += int(bool(result.budget_exhausted))
        for kind, n in result.faults.items():
            self.totals[f"fault.{kind}"] += int(n)
        self.totals["accepted"] += len(result.strategies)
        return list(result.strategies)
