"""Retries with exponential backoff and jitter, shared by the REST clients and the streams."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Delays ``initial * factor**k`` capped at ``maximum``, each scaled by a random factor in
    ``[1 - jitter, 1]`` (so many clients do not retry in lock step)."""

    initial: float = 0.25
    maximum: float = 8.0
    factor: float = 2.0
    jitter: float = 0.2
    retries: int = 5

    def delay(self, attempt: int) -> float:
        """The delay before retry number ``attempt`` (0-based)."""
        base = min(self.maximum, self.initial * self.factor**attempt)
        return base * (1.0 - self.jitter * random.random())

    def delays(self) -> Iterator[float]:
        """The delays of every allowed retry."""
        for k in range(self.retries):
            yield self.delay(k)
