"""What both fake vendor servers share: the replay clock over a :class:`SandboxMarket`, the
replay pointers, and the control endpoints (``/_sandbox/faults``, ``/_sandbox/stats``,
``/_sandbox/replay``) that tests and the CLI use to steer them."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from quant_engine.sandbox.faults import FaultPlan
from quant_engine.sandbox.market import SandboxMarket
from quant_engine.sandbox.server import BackgroundServer

__all__ = ["ReplayServer"]

_NS = 1_000_000_000


class ReplayServer(BackgroundServer):
    """A background server that replays ``market`` at ``speed`` market seconds per wall second
    (0 = as fast as possible) under a :class:`FaultPlan`.

    Attributes:
        market: the data served.
        speed: the replay speed.
        faults: the active fault plan.
        stats: counters, extended by each vendor server.
    """

    def __init__(self, market: SandboxMarket, *, speed: float, faults: FaultPlan | None) -> None:
        super().__init__()
        self.market = market
        self.speed = speed
        self.faults = faults or FaultPlan()
        self.stats: dict[str, int] = {}
        self._clock_wall0: float | None = None
        self._ptr_trades = 0
        self._ptr_quotes = 0
        self._firehose: Any = None

    def _market_now(self) -> int:
        """The replay clock in market time (ns): before the first trade until the clock starts,
        the end of the market at speed 0."""
        if self._clock_wall0 is None:
            return self.market.start_ns - 1
        if self.speed <= 0:
            return self.market.end_ns
        return self.market.start_ns + int(max(0.0, time.monotonic() - self._clock_wall0) * self.speed * _NS)

    def _restart_replay(self) -> None:
        """Rewinds the replay to the first trade; the clock restarts with the next stream."""
        self._clock_wall0 = None
        self._ptr_trades = self._ptr_quotes = 0
        self._firehose = None

    def snapshot(self) -> dict[str, Any]:
        """Counters, injected faults and the replay position."""
        total = len(self.market.trades.ts)
        return {**self.stats, "faults": self.faults.injected, "replay_position": self._ptr_trades,
                "replay_total": total, "replay_done": self._ptr_trades >= total}

    async def _faults(self, request: Request) -> Response:
        """``GET`` the fault plan, ``POST`` a JSON object to change it (400 on a bad one)."""
        if request.method == "POST":
            try:
                self.faults.update(await request.json())
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.faults.as_dict())

    async def _stats(self, request: Request) -> Response:
        """The :meth:`snapshot`."""
        return JSONResponse(self.snapshot())

    async def _replay(self, request: Request) -> Response:
        """``POST {"speed": x, "restart": true}``: changes the speed and/or rewinds."""
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            if "speed" in body:
                speed = float(body["speed"])
                if not speed >= 0:
                    raise ValueError(f"invalid speed: {speed} (expected >= 0)")
                self.speed = speed
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            return JSONResponse({"error": str(exc)}, status_code=400)
        if body.get("restart"):
            self._restart_replay()
        return JSONResponse(self.snapshot())
