"""Fault injection of the local vendor servers, changed on command (``POST /_sandbox/faults``
with a JSON object, or :meth:`FaultPlan.update` in process).

===========================  ===================================================================
field                        effect
===========================  ===================================================================
``disconnect_every``         seconds: the stream connection is reset (TCP abort) this often
``disconnect_now``           reset the stream connection once
``silence``                  seconds: the stream sends nothing at all (not even heartbeats)
``large_request``            the next N ThetaData requests whose window is over 1 minute get 570
``upstream_down``            seconds: ThetaData upstream outage from now (STATUS DISCONNECTED,
                             no data, REST 474, ``mdds/status`` DISCONNECTED)
``fpss_down``                seconds: only the terminal's streaming side (FPSS) is down:
                             ``fpss/status`` DISCONNECTED, history (MDDS) still served
``refuse_handshake``         an HTTP status (e.g. 409, 404): every stream handshake is refused
                             with it (and a text body) until set back to 0
``upstream_down_every``      seconds between automatic outages of ``upstream_down_for`` seconds
``upstream_down_for``        length of the automatic outages (default 0.5 s)
``http_429``                 the next N REST requests get 429 (Massive: some with an empty body)
``http_5xx``                 the next N REST requests get 503 (Massive: 502/503/499/413 in turn)
``stall_body``               the next REST body stalls this many seconds halfway (once)
``truncate_body``            the next N CSV bodies lose the end of their last line
``short_rows``               the next N CSV bodies get a row with missing fields
``nan_rows``                 the next N CSV bodies get a row with ``NaN`` price
``malformed_every``          every Nth stream message is followed by a malformed message
``duplicate_every``          every Nth trade is sent twice
``out_of_order_every``       every Nth trade is swapped with the next one
``records_back_every``       every Nth trade is resent later with ``records_back > 0``
``state_frame``              send a STATE frame (ThetaData) once
``unknown_events``           add unknown event types (Massive ``LULD``/``FMV``) to batches
``status_close``             Massive: send this status (``slow_consumer`` ...) then close cleanly
``sentinel_greeks``          greeks rows with bid=ask=0 carry the vendor's sentinel values
===========================  ===================================================================
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from quant_engine.errors import InvalidArgumentError

__all__ = ["FaultPlan", "START_DELAY"]

START_DELAY = 0.5
"""Seconds between the first stream subscription and the start of the servers' market clock,
so that every subscription a client sends at once is in place when the replay begins."""


@dataclass
class FaultPlan:
    """The active faults (see the module docstring); counters of what was injected in
    :attr:`injected`."""

    disconnect_every: float = 0.0
    disconnect_now: bool = False
    silence: float = 0.0
    large_request: int = 0
    upstream_down: float = 0.0
    fpss_down: float = 0.0
    refuse_handshake: int = 0
    upstream_down_every: float = 0.0
    upstream_down_for: float = 0.5
    http_429: int = 0
    http_5xx: int = 0
    stall_body: float = 0.0
    truncate_body: int = 0
    short_rows: int = 0
    nan_rows: int = 0
    malformed_every: int = 0
    duplicate_every: int = 0
    out_of_order_every: int = 0
    records_back_every: int = 0
    state_frame: bool = False
    unknown_events: bool = False
    status_close: str = ""
    sentinel_greeks: bool = True

    def __post_init__(self) -> None:
        self.injected: dict[str, int] = {}
        self._down_until = 0.0
        self._silent_until = 0.0
        self._fpss_down_until = 0.0

    def update(self, changes: dict[str, Any]) -> None:
        """Applies ``changes`` (unknown fields are an error)."""
        known = {f.name: f.type for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise InvalidArgumentError(f"unknown fault {key!r}; known: {sorted(known)}")
            current = getattr(self, key)
            setattr(self, key, type(current)(value))
        if self.silence > 0:
            self._silent_until = time.monotonic() + self.silence
            self.silence = 0.0
            self.count("silences")
        if self.fpss_down > 0:
            self._fpss_down_until = time.monotonic() + self.fpss_down
            self.fpss_down = 0.0
            self.count("fpss_outages")
        if self.upstream_down > 0:
            self._down_until = time.monotonic() + self.upstream_down
            self.upstream_down = 0.0
            self.count("upstream_outages")

    def count(self, name: str, n: int = 1) -> None:
        """Records an injected fault."""
        self.injected[name] = self.injected.get(name, 0) + n

    def take(self, name: str) -> bool:
        """Consumes one of a "next N" fault; True if it applies now."""
        left = getattr(self, name)
        if isinstance(left, bool):
            if left:
                setattr(self, name, False)
                self.count(name)
            return bool(left)
        if left > 0:
            setattr(self, name, left - 1 if isinstance(left, int) else 0)
            self.count(name)
            return True
        return False

    def is_silent(self) -> bool:
        """Whether the stream must stay silent now."""
        return time.monotonic() < self._silent_until

    def upstream_is_down(self) -> bool:
        """Whether a ThetaData upstream outage is in progress."""
        return time.monotonic() < self._down_until

    def stream_is_down(self) -> bool:
        """Whether the terminal's streaming side (FPSS) alone is down now."""
        return time.monotonic() < self._fpss_down_until

    def start_outage(self, seconds: float) -> None:
        """Starts an upstream outage now."""
        self._down_until = time.monotonic() + seconds
        self.count("upstream_outages")

    def as_dict(self) -> dict[str, Any]:
        """The settings and the injected counters."""
        d = asdict(self)
        d["upstream_is_down"] = self.upstream_is_down()
        d["injected"] = dict(self.injected)
        return d

    def reorder(self, first_index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The send order of ``n`` trades (numbered from ``first_index`` in the whole replay)
        after the out-of-order, duplicate and records-back faults, and a flag per sent row
        telling whether it is a records-back resend."""
        order = np.arange(n)
        idx = np.arange(first_index, first_index + n)
        if self.out_of_order_every:
            swap = np.nonzero((idx % self.out_of_order_every == 0) & (np.arange(n) < n - 1))[0]
            swap = swap[np.diff(np.append(-2, swap)) > 1]
            order[swap], order[swap + 1] = order[swap + 1], order[swap].copy()
            self.count("out_of_order", len(swap))
        if self.duplicate_every:
            dup = np.nonzero(idx % self.duplicate_every == 0)[0]
            order = np.insert(order, dup + 1, order[dup])
            self.count("duplicates", len(dup))
        back = np.zeros(len(order), dtype=bool)
        if self.records_back_every:
            again = np.nonzero(idx % self.records_back_every == 0)[0]
            order = np.concatenate([order, again])
            back = np.concatenate([back, np.ones(len(again), dtype=bool)])
            self.count("records_back", len(again))
        return order, back
