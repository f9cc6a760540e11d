"""The shadow trader on a vendor stream with faults, through the fake ThetaData server (a real
child process over real sockets): disconnects, upstream outages, duplicated and out-of-order
trades. No bar is counted twice (each slot's journaled bars are the ground truth's bars, once
each), and no order is decided on a bar the staleness watchdog marked stale."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from feeds_support import ms_truncated, run
from quant_engine.bars import aggregate_ticks
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.thetadata import AsyncThetaDataClient, ThetaDataStream
from quant_engine.sandbox import SandboxMarket, SandboxProcess
from quant_engine.store import read_journal
from quant_engine.trading.shadow import ShadowConfig, ShadowTrader
from shadow_support import CASH, demo, make_store

SYMS = ["AAPL", "MSFT"]
SESSION_CLOSE = 1_704_229_200 * 10**9
QUICK = Backoff(initial=0.05, maximum=0.5, retries=10**6)


async def _trade(proc: Any, store: Any) -> ShadowTrader:
    rest = AsyncThetaDataClient(proc.info["rest"], backoff=Backoff(0.05, 0.5, retries=20))
    stream = ThetaDataStream(proc.info["ws"], rest=rest, reconnect=QUICK)
    cfg = ShadowConfig(backtest=CASH, stale_after=0.3, lateness="3s")
    trader = ShadowTrader(store, stream, config=cfg)
    task = asyncio.create_task(trader.run())
    try:
        async with httpx.AsyncClient(base_url=proc.info["rest"], timeout=30.0) as admin:
            deadline = asyncio.get_running_loop().time() + 240
            while not (await admin.get("/_sandbox/stats")).json()["replay_done"]:
                assert asyncio.get_running_loop().time() < deadline, "the replay did not finish"
                assert not task.done(), task.exception()
                await asyncio.sleep(0.25)
            await admin.post("/_sandbox/faults", json={"disconnect_every": 0, "upstream_down_every": 0})
            await asyncio.sleep(1.0)
            await stream.settle(until_ns=SESSION_CLOSE, timeout=120)
            while stream.pending():
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await rest.aclose()
    return trader


def test_vendor_faults_count_no_bar_twice_and_trade_no_stale_bar(tmp_path: Path) -> None:
    faults = {"disconnect_every": 1.5, "upstream_down_every": 2.0, "upstream_down_for": 0.8, "duplicate_every": 97,
              "out_of_order_every": 101}  # fmt: skip
    args = ["theta", "--port", "0", "--ws-port", "0", "--symbols", ",".join(SYMS), "--ticks-per-day", "20000",
            "--speed", "1170", "--no-quotes", "--faults", json.dumps(faults)]  # fmt: skip
    store = make_store(tmp_path / "s.db", demo(4, SYMS))
    with SandboxProcess(args) as proc:
        trader = run(_trade(proc, store))
    market = SandboxMarket.synthetic_market(symbols=SYMS, ticks_per_day=20_000, quotes=False)
    truth = aggregate_ticks(ms_truncated(market.all_trades()), "1m")
    positions = [e for e in read_journal(store, kind="position") if "bar" in e.payload]
    assert positions
    by_slot: dict[str, list[list[float]]] = {}
    for e in positions:
        by_slot.setdefault(e.payload["slot"], []).append(e.payload["bar"])
    for slot, bars in by_slot.items():
        sym = slot.split(":")[1]
        starts = [b[0] for b in bars]
        assert starts == sorted(set(starts))  # no bar twice, in order
        t = truth.filter(pa.compute.equal(truth.column("symbol"), sym))
        want = {int(s.value): (o, h, lo, c, v) for s, o, h, lo, c, v in zip(
            *(t.column(n).to_pylist() for n in ("start", "open", "high", "low", "close", "volume")))}  # fmt: skip
        for b in bars:
            assert tuple(b[1:]) == want[b[0]], (slot, b[0])
        assert len(bars) >= len(want) - 2  # every bar but the still open last one(s)
    # the watchdog saw the outages, and no order was decided on a stale bar
    assert trader.counters["stale_bars"] > 0
    gate = {(e.payload["slot"], e.ts_ns): e.payload["allow"] for e in positions}
    orders = read_journal(store, kind="order")
    assert orders and all(gate[(o.payload["slot"], o.ts_ns)] == 15 for o in orders)
    stale = [k for k, a in gate.items() if a == 0]
    assert stale and all(not any(o.payload["slot"] == s and o.ts_ns == ts for o in orders) for s, ts in stale)
