"""The shadow trader's journal records and their recovery.

A bar close is journaled as one transaction (:func:`quant_engine.store.append_many`, one outbox
event per entry) before the trader takes the next bar:

* ``position`` with ``warmup``: the history bars a new slot was stepped through before its first
  live bar, orders gated off, in one record.
* ``position``, one per strategy slot stepped: the bar it stepped on (``bar``: start, OHLCV), the
  gate applied to its signal (``allow``, ``force``, ``last``) and the resulting position (quantity,
  entry price, armed stop and take-profit, pending order), cash and equity. A slot paused or
  retired writes a ``position`` entry with ``paused`` / ``retired`` instead of a bar.
* ``order``: an order decided at the bar's close (it fills at the next bar's open).
* ``fill``: every fill, numbered per slot (``seq``): the same fields as ``backtest()``'s fills.
* ``account``: the portfolio after the bar close (cash, equity, open positions, health).

Recovery (:func:`recover`) reads the session's entries in id order. The bars each slot stepped on
with their gates are enough to rebuild its account exactly (the stepper is deterministic): the
trader replays them through the slot's ``LiveStrategy`` and checks the fills it gets against the
journaled ones (:class:`ShadowRecoveryError` when they differ).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from quant_engine.errors import QuantEngineError
from quant_engine.store import Store, read_journal
from quant_engine.store import schema as S
from quant_engine.store.events import emit
from quant_engine.store.store import from_json, now

__all__ = [
    "SlotHistory",
    "Recovered",
    "ShadowRecoveryError",
    "recover",
    "request_kill",
    "kill_requests",
    "emit_event",
    "KILL_EVENT",
]

KILL_EVENT = "shadow.kill"
"""The outbox event ``quant-engine shadow kill`` writes and a running trader polls for."""


class ShadowRecoveryError(QuantEngineError, RuntimeError):
    """The journal cannot be replayed into the same state (a fill differs, or a record is broken)."""


@dataclass
class SlotHistory:
    """What the journal holds for one slot (``strategy:symbol``)."""

    strategy: str
    symbol: str
    bars: list[tuple[int, float, float, float, float, float]] = field(default_factory=list)
    gates: list[tuple[int, int, bool]] = field(default_factory=list)
    warm: list[bool] = field(default_factory=list)
    """Whether each bar came in a warm-up batch (replayed with one ``on_bars`` call)."""
    fills: list[dict[str, Any]] = field(default_factory=list)
    paused: str | None = None
    retired: str | None = None


@dataclass
class Recovered:
    """The session's journal, grouped for a restart."""

    slots: dict[str, SlotHistory] = field(default_factory=dict)
    last_ts: dict[str, int] = field(default_factory=dict)
    last_id: int = 0
    entries: int = 0
    bar_closes: int = 0
    session: dict[str, Any] | None = None
    """The session's settings, journaled when it first opened (a restart keeps them)."""


def _slot(rec: Recovered, p: Mapping[str, Any], symbol: str | None) -> SlotHistory:
    key = str(p["slot"])
    h = rec.slots.get(key)
    if h is None:
        h = rec.slots[key] = SlotHistory(str(p["strategy"]), str(symbol))
    return h


def recover(store: Store, account: str) -> Recovered:
    """The journal of ``account`` grouped by slot, in the order it was written."""
    rec = Recovered()
    for e in read_journal(store, account=account):
        rec.entries += 1
        rec.last_id = e.id
        p = e.payload
        if e.kind == "account":
            if "session" in p and rec.session is None:
                rec.session = dict(p["session"])
            else:
                rec.bar_closes += 1
            continue
        if "slot" not in p:
            raise ShadowRecoveryError(f"journal entry {e.id} ({e.kind}) names no slot")
        h = _slot(rec, p, e.symbol)
        if e.kind == "fill":
            h.fills.append(p)
        elif e.kind == "position":
            bars = [p["bar"]] if "bar" in p else p.get("warmup", [])
            for b in bars:
                h.bars.append((int(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4]), float(b[5])))
                h.gates.append((int(p["allow"]), int(p["force"]), bool(p["last"])) if "bar" in p else (0, 0, False))
                h.warm.append("bar" not in p)
                if e.symbol is not None:
                    rec.last_ts[e.symbol] = max(rec.last_ts.get(e.symbol, int(b[0])), int(b[0]))
            if p.get("paused"):
                h.paused = str(p["paused"])
            if p.get("retired"):
                h.retired = str(p["retired"])
    return rec


def emit_event(store: Store, kind: str, subject: str, payload: Mapping[str, Any]) -> int:
    """Writes one outbox event in its own transaction and returns its id."""
    with store.write() as conn:
        return emit(conn, kind, subject, payload)


def request_kill(store: Store, account: str, mode: str, reason: str = "") -> int:
    """Asks the trader of ``account`` to flatten or freeze (``mode``) at its next bar close;
    returns the request's event id. ``mode="resume"`` lifts a freeze."""
    if mode not in ("flatten", "freeze", "resume"):
        raise QuantEngineError(f"kill mode must be flatten, freeze or resume, not {mode!r}")
    return emit_event(store, KILL_EVENT, account, {"mode": mode, "reason": reason, "requested_at": now()})


def kill_requests(store: Store, account: str, after: int) -> list[tuple[int, str]]:
    """The kill requests for ``account`` with event id above ``after``: ``(id, mode)``."""
    ev = S.events.c
    q = sa.select(ev.id, ev.payload).where(ev.id > after, ev.kind == KILL_EVENT, ev.subject == account).order_by(ev.id)
    with store.read() as conn:
        return [(int(r.id), str(from_json(r.payload)["mode"])) for r in conn.execute(q)]
