"""Faults of the fake LLM server, per request: from a fixed sequence first, then at random with
given probabilities (seeded). Set at start (``--faults`` JSON) or with ``POST /_sandbox/faults``.

=================  ================================================================================
fault              the answer to the request
=================  ================================================================================
``ok``             a valid strategy (no fault)
``429``            HTTP 429 with ``Retry-After`` (:attr:`LLMFaultPlan.retry_after` seconds)
``500``            HTTP 500 with an OpenAI error body
``timeout``        a valid answer after :attr:`LLMFaultPlan.slow_seconds` (clients time out first)
``malformed``      content that is not valid JSON (cut mid-document, or prose around it)
``invalid``        well-formed JSON that breaks the schema (unknown operator, window 0 ...)
``truncated``      content cut mid-document with ``finish_reason: "length"``
=================  ================================================================================

Spec (JSON): ``{"sequence": ["429", "ok", "invalid"], "probabilities": {"500": 0.1},
"retry_after": 1, "slow_seconds": 5, "seed": 7}``; every field optional.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from quant_engine.errors import InvalidArgumentError

__all__ = ["LLM_FAULTS", "LLMFaultPlan"]

LLM_FAULTS = ("ok", "429", "500", "timeout", "malformed", "invalid", "truncated")
"""The fault names."""


@dataclass
class LLMFaultPlan:
    """The faults to inject (see the module doc) and the counts of those injected."""

    sequence: list[str] = field(default_factory=list)
    probabilities: dict[str, float] = field(default_factory=dict)
    retry_after: float = 1.0
    slow_seconds: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.injected: dict[str, int] = {}
        self._check()
        self._rng = random.Random(self.seed)

    def _check(self) -> None:
        for name in [*self.sequence, *self.probabilities]:
            if name not in LLM_FAULTS:
                raise InvalidArgumentError(f"unknown LLM fault {name!r}; known: {', '.join(LLM_FAULTS)}")
        if any(not 0.0 <= p <= 1.0 for p in self.probabilities.values()) or sum(self.probabilities.values()) > 1.0:
            raise InvalidArgumentError("fault probabilities must be in [0, 1] and sum to at most 1")
        if not (self.retry_after >= 0 and self.slow_seconds >= 0):
            raise InvalidArgumentError("retry_after and slow_seconds must be >= 0")

    def update(self, changes: dict[str, Any]) -> None:
        """Applies ``changes`` (unknown fields and faults are an error; a new seed restarts the
        random draws)."""
        if not isinstance(changes, dict):
            raise InvalidArgumentError("LLM faults must be a JSON object")
        known = {"sequence", "probabilities", "retry_after", "slow_seconds", "seed"}
        for key in changes:
            if key not in known:
                raise InvalidArgumentError(f"unknown LLM fault setting {key!r}; known: {', '.join(sorted(known))}")
        old = (list(self.sequence), dict(self.probabilities), self.retry_after, self.slow_seconds)
        self.sequence = [str(x) for x in changes.get("sequence", self.sequence)]
        self.probabilities = {str(k): float(v) for k, v in changes.get("probabilities", self.probabilities).items()}
        self.retry_after = float(changes.get("retry_after", self.retry_after))
        self.slow_seconds = float(changes.get("slow_seconds", self.slow_seconds))
        try:
            self._check()
        except InvalidArgumentError:
            self.sequence, self.probabilities, self.retry_after, self.slow_seconds = old
            raise
        if "seed" in changes:
            self.seed = int(changes["seed"])
            self._rng = random.Random(self.seed)

    def next(self) -> str:
        """The fault of the next request (counted)."""
        if self.sequence:
            fault = self.sequence.pop(0)
        else:
            fault, u, acc = "ok", self._rng.random(), 0.0
            for name, p in self.probabilities.items():
                acc += p
                if u < acc:
                    fault = name
                    break
        self.injected[fault] = self.injected.get(fault, 0) + 1
        return fault

    def as_dict(self) -> dict[str, Any]:
        """The settings and the injected counts."""
        return {
            "sequence": list(self.sequence),
            "probabilities": dict(self.probabilities),
            "retry_after": self.retry_after,
            "slow_seconds": self.slow_seconds,
            "seed": self.seed,
            "injected": dict(self.injected),
        }
