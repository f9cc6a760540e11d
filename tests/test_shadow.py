"""The shadow trader with real parts: a SQLite store, the synthetic market's recorded session, the
core's stepper.

* Conformance: the session replayed through the trader journals exactly ``backtest()``'s fills on
  the same bars (paper = backtest), and the paper-vs-backtest tracking error is zero.
* Restart: a trader stopped between two batches (no flush, as a crash) and restarted rebuilds
  open positions, pending orders and armed stops from the journal, writes nothing on restart (no
  re-fill, no synthetic opposite fill), and ends with the uninterrupted run's journal.
* Kill switch (flatten, freeze), the session's last bar, duplicates, a strategy that raises.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from quant_engine.bars import aggregate_ticks
from quant_engine.research import backtest
from quant_engine.research.config import as_config
from quant_engine.store import get_strategy, read_events, read_journal
from quant_engine.strategy import register_operator, unregister_operator
from quant_engine.trading.shadow_journal import request_kill
from quant_engine.trading.shadow_status import session_status, tracking
from shadow_support import CASH, demo, drive, journal_view, make_store, session, trader

KEYS = ("ts", "side", "quantity", "price", "fees", "reason")


@pytest.fixture(scope="module")
def market() -> tuple[pa.Table, pa.Table, int]:
    return session()


def _fills(store, slot: str) -> list[tuple]:
    return [tuple(e.payload[k] for k in KEYS) for e in read_journal(store, kind="fill") if e.payload["slot"] == slot]


def test_replayed_session_gives_backtest_fills(tmp_path: Path, market) -> None:
    _, live, _ = market
    docs = demo(3)
    store = make_store(tmp_path / "s.db", docs)
    t = trader(store, window=None)
    drive(t, live)
    bars = aggregate_ticks(live, "1m")
    checked = 0
    for key, slot in t.slots.items():
        doc = get_strategy(store, slot.strategy).document()
        sym_bars = bars.filter(pa.compute.equal(bars.column("symbol"), slot.symbol))
        res = backtest({**doc}, sym_bars, CASH)
        want = [
            (int(r["ts"].value), r["side"], r["quantity"], r["price"], r["fees"], r["reason"])
            for r in res.fills.to_pylist()
        ]
        got = _fills(store, key)
        assert len(want) > 4
        assert got == want
        assert slot.live.equity == res.metrics["final_equity"]
        assert slot.live.position["quantity"] == 0.0
        checked += 1
    assert checked == 3
    te = tracking(store, "shadow")
    assert te and all(x.fills_equal and x.tracking_error == 0.0 for x in te)


def test_restart_keeps_open_positions_pending_orders_and_armed_stops(tmp_path: Path, market) -> None:
    history, live, _ = market
    docs = demo(4)
    whole = make_store(tmp_path / "whole.db", docs)
    drive(trader(whole, history), live)
    want = journal_view(whole)
    positions = [p for p in want["position"] if "bar" in p[2]]
    # a cut after which one slot holds a position with its stop armed and another has a pending order
    cut = None
    for batch in range(3, 60):
        stop_ts = int(live.column("ts").cast(pa.int64())[min(batch * 2_000, live.num_rows) - 1].as_py())
        last = {}
        for _sym, ts, p in positions:
            if ts < stop_ts - 60_000_000_000:
                last[p["slot"]] = p
        if any(p["quantity"] != 0 and p["stop"] is not None for p in last.values()) and any(
            p["pending"] != "none" for p in last.values()
        ):
            cut = batch
            break
    assert cut is not None, "no point with an open position and a pending order"
    store = make_store(tmp_path / "cut.db", docs)
    first = trader(store, history)
    drive(first, live, stop_after=cut)
    before = {k: s.live.position for k, s in first.slots.items()}
    n_before = len(read_journal(store))
    assert any(p["quantity"] != 0 and np.isfinite(p["stop"]) for p in before.values())
    assert any(p["pending"] != "none" for p in before.values())
    del first  # the process dies here

    second = trader(store, history)
    second.open()
    assert len(read_journal(store)) == n_before  # a restart writes nothing: no re-fill, no flattening
    after = {k: s.live.position for k, s in second.slots.items()}
    for k, p in before.items():
        q = after[k]
        assert q["quantity"] == p["quantity"] and q["pending"] == p["pending"]
        assert q["stop"] == p["stop"] or (np.isnan(q["stop"]) and np.isnan(p["stop"]))
        assert q["take"] == p["take"] or (np.isnan(q["take"]) and np.isnan(p["take"]))
    drive(second, live)  # the whole session again: bars already journaled are skipped
    got = journal_view(store)
    assert got["fill"] == want["fill"]
    assert got["order"] == want["order"]
    assert got["position"] == want["position"]
    assert [a[2]["equity"] for a in got["account"][1:]][-1] == [a[2]["equity"] for a in want["account"][1:]][-1]
    # the ticks of journaled bars came again: the re-warmed buffer refused them as late (or the
    # trader skipped their bars), none was traded twice
    assert second.buffer.stats()["rejected"]["late"] + second.counters["duplicate_bars"] > 0


def test_kill_flatten_and_freeze(tmp_path: Path, market) -> None:
    history, live, _ = market
    for mode in ("flatten", "freeze"):
        store = make_store(tmp_path / f"{mode}.db", demo(4))
        t = trader(store, history)
        drive(t, live, stop_after=8, flush=False)
        held = {k for k, s in t.slots.items() if s.live.position["quantity"] != 0}
        request_kill(store, "shadow", mode, "test")
        cut = max(e.id for e in read_journal(store))
        first_bar = min(t.last_ts.values()) + 60_000_000_000  # the next bar: orders decided before the kill fill
        drive(t, live)
        after = [e for e in read_journal(store) if e.id > cut]
        orders = [e.payload for e in after if e.kind == "order"]
        fills = [e.payload for e in after if e.kind == "fill"]
        late = [f for f in fills if f["ts"] > first_bar]
        assert t.mode == mode
        if mode == "flatten":
            assert held  # there was something to flatten
            assert orders and all(o["order"] == "exit" for o in orders)
            assert all(f["reason"] == "signal" for f in late if f["ts"] <= first_bar + 60_000_000_000)
            assert not any(f["reason"] == "entry" for f in late)
            assert not session_status(store, "shadow")["positions"]
        else:
            assert orders == []  # frozen: no new order at all
            assert all(f["reason"] in ("stop_loss", "take_profit", "time_stop", "end") for f in late)


def test_session_last_bar_flattens_and_nothing_trades_outside(tmp_path: Path, market) -> None:
    history, live, _ = market
    store = make_store(tmp_path / "s.db", demo(2))
    t = trader(store, history)
    drive(t, live)
    snap = session_status(store, "shadow")
    assert snap is not None and snap["positions"] == {}
    last_bar = max(e.ts_ns for e in read_journal(store, kind="position") if "bar" in e.payload)
    assert all(e.ts_ns <= last_bar for e in read_journal(store, kind="order"))
    # the same session again through the same trader: every bar is a duplicate, nothing journaled
    n = len(read_journal(store))
    drive(t, live)
    assert len(read_journal(store)) == n
    assert t.buffer.stats()["rejected"]["late"] + t.counters["duplicate_bars"] > 0


def test_strategy_that_raises_is_paused_and_the_trader_goes_on(tmp_path: Path, market) -> None:
    history, live, _ = market
    limit = float(
        np.median(live.column("price").to_numpy()[live.column("symbol").to_numpy(zero_copy_only=False) == "AAA"])
    )

    def boom(inputs, iparams, fparams, out):  # noqa: ANN001
        for i in range(inputs.shape[1]):
            if inputs[0, i] > fparams[0]:
                raise ValueError("user operator failed")
            out[i] = inputs[0, i]

    register_operator("shadow_boom", boom, inputs=1, float_params={"limit": (0.0, 1e9)}, verify=False, replace=True)
    try:
        bad = {
            "instruments": ["AAA"],
            "timeframe": "1m",
            "entry_long": {"op": "gt", "left": {"op": "call", "fn": "shadow_boom", "args": ["close"],
                                                 "params": {"limit": limit}}, "right": 0},
            "exit_long": {"op": "lt", "left": "close", "right": 0},
            "sizing": {"kind": "fixed", "quantity": 10},
        }  # fmt: skip
        store = make_store(tmp_path / "s.db", [bad, *demo(2)])
        t = trader(store, history)
        drive(t, live)
    finally:
        unregister_operator("shadow_boom")
    states = {k: s.state for k, s in t.slots.items()}
    assert sorted(states.values()) == ["active", "active", "paused"]
    assert t.counters["paused"] == 1
    paused = [e.payload for e in read_journal(store, kind="position") if e.payload.get("paused")]
    # (Numba reports a user kernel's exception raised through the plan evaluator as SystemError)
    assert len(paused) == 1 and paused[0]["paused"].startswith(("ValueError", "SystemError"))
    others = [k for k, s in t.slots.items() if s.state == "active"]
    assert all(t.slots[k].bars > 390 for k in others)
    # restart: the paused slot stays paused, nothing journaled again
    n = len(read_journal(store))
    register_operator("shadow_boom", boom, inputs=1, float_params={"limit": (0.0, 1e9)}, verify=False, replace=True)
    try:
        again = trader(store, history)
        again.open()
    finally:
        unregister_operator("shadow_boom")
    assert {k: s.state for k, s in again.slots.items()} == states
    assert len(read_journal(store)) == n
    assert read_events(store, kind="journal.position", limit=1)


def test_live_strategy_gates(market) -> None:
    """``allow``/``force`` gate the signal the same way bar by bar and in a batch; ``allow=0``
    places no order; ``force`` exits an open position at the next open."""
    from quant_engine.trading import Bar, LiveStrategy

    _, live, _ = market
    bars = aggregate_ticks(live, "1m")
    bars = bars.filter(pa.compute.equal(bars.column("symbol"), "AAA"))
    doc = demo(1)[0]
    rows = [
        Bar(int(r["start"].value), r["open"], r["high"], r["low"], r["close"], r["volume"]) for r in bars.to_pylist()
    ]
    rng = np.random.default_rng(5)
    allow = rng.choice([0, 15], size=len(rows)).astype(np.uint8)
    force = np.where(rng.random(len(rows)) < 0.05, 10, 0).astype(np.uint8)
    one = LiveStrategy(doc, CASH)
    for i, b in enumerate(rows):
        one.on_bar(b, allow=int(allow[i]), force=int(force[i]))
    batch = LiveStrategy(doc, CASH)
    cols = {n: bars.column(n).to_numpy() for n in ("open", "high", "low", "close", "volume")}
    batch.on_bars({"start": bars.column("start").cast(pa.int64()).to_numpy(), **cols}, allow=allow, force=force)
    assert one.drain()[0].equals(batch.drain()[0]) and one.equity == batch.equity
    closed = LiveStrategy(doc, CASH)
    for b in rows:
        closed.on_bar(b, allow=0)
    assert closed.drain()[0].num_rows == 0
    held = LiveStrategy(doc, CASH)
    j = 0
    while held.position["quantity"] == 0 or held.position["pending"] != "none":
        held.on_bar(rows[j])
        j += 1
    held.drain()
    held.on_bar(rows[j], allow=0, force=10)
    assert held.position["pending"] == "exit"
    held.on_bar(rows[j + 1], allow=0)
    fills = held.drain()[0].to_pylist()
    assert held.position["quantity"] == 0
    assert [(f["reason"], int(f["ts"].value)) for f in fills] == [("signal", rows[j + 1].start)]


def test_a_strategy_promoted_between_runs_is_warmed_up_to_the_last_journaled_bar(tmp_path: Path, market) -> None:
    from quant_engine.trading.shadow_demo import promote

    history, live, _ = market
    docs = demo(3)
    store = make_store(tmp_path / "s.db", docs[:2])
    first = trader(store, history)
    drive(first, live, stop_after=8, flush=False)
    last_aaa = first.last_ts["AAA"]
    h = promote(store, docs[2])  # on AAA
    again = trader(store, history)
    again.open()
    warm = [e.payload for e in read_journal(store, kind="position") if e.payload.get("warmup")]
    mine = [w for w in warm if w["strategy"] == h]
    assert len(mine) == 1 and mine[0]["warmup"][-1][0] == last_aaa
    starts = [b[0] for b in mine[0]["warmup"]]
    assert starts == sorted(set(starts)) and len(starts) >= 256
    drive(again, live)
    assert again.slots[f"{h}:AAA"].bars == len(starts) + sum(1 for b in again.slots[f"{h}:AAA"].ts if b > last_aaa)


def test_daily_loss_and_drawdown_limits_stop_new_entries(tmp_path: Path, market) -> None:
    """The slots' risk engines enforce the configured limits: once the day's loss passes the
    limit, new entries are rejected (counted), and the journal shows fewer entries."""
    history, live, _ = market
    counts = {}
    for name, limits in (("free", None), ("daily", {"max_daily_loss": 20.0}), ("dd", {"max_drawdown": 0.0002})):
        store = make_store(tmp_path / f"{name}.db", demo(2))
        t = trader(store, history)
        if limits is not None:
            t.account_config = as_config({**CASH, "risk_limits": limits})
        drive(t, live)
        entries = [e for e in read_journal(store, kind="fill") if e.payload["reason"] == "entry"]
        rejected: dict[str, int] = {}
        for s in t.slots.values():
            for k, v in s.live.rejections().items():
                rejected[k] = rejected.get(k, 0) + v
        counts[name] = (len(entries), rejected)
    free = counts["free"][1]
    assert not free.get("reducing_mode") and not free.get("halted")
    for name, code in (("daily", "reducing_mode"), ("dd", "halted")):
        assert counts[name][1].get(code, 0) > 0 and counts[name][0] < counts["free"][0], counts
