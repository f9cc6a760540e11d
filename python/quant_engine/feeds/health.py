"""Engine health: one :class:`EngineStatus` per market-data engine."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["EngineStatus", "State"]

State = Literal["online", "degraded", "offline"]


@dataclass(frozen=True)
class EngineStatus:
    """The health of one engine: ``online | degraded | offline`` and why.

    Attributes:
        engine: ``"thetadata"``, ``"massive"`` or ``"catalog"``.
        state: ``online`` (usable), ``degraded`` (answering, but with a known problem: upstream
            disconnected, throttled, backfilling ...) or ``offline`` (not configured or not
            reachable).
        reason: one line saying why (empty when online and nothing to add).
        configured: whether the engine is configured at all.
        checked_at: UNIX time of the check.
        details: extra facts (URLs without secrets, counters).
    """

    engine: str
    state: State
    reason: str = ""
    configured: bool = True
    checked_at: float = field(default_factory=time.time)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """Whether requests may be routed to the engine (online or degraded)."""
        return self.state != "offline"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "engine": self.engine,
            "state": self.state,
            "reason": self.reason,
            "configured": self.configured,
            "checked_at": self.checked_at,
            "details": dict(self.details),
        }
