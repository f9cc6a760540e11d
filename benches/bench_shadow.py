"""Shadow trader benchmark: one replayed session, many symbols, many promoted strategies.

Measures, in one run:

* feed throughput while trading: ticks per second from the replay (``ReplayFeed``) through the
  ``MultiSymbolBuffer`` and every strategy's ``LiveStrategy`` to the journal, and the same feed
  into the buffer with no strategy (the data path alone);
* bar close to journaled order: from the arrival of the batch that closes bars to the commit of
  the bar close's journal transaction, p50 / p99 / max (SQLite, WAL, ``synchronous=NORMAL``: a
  commit survives a process crash, not a power loss);
* RSS at the end;
* side by side, the same strategies run by ``backtest()`` on the same bars; the fills are asserted
  equal before anything is printed (no warm-up history and ``window=None``: paper = backtest);
* then the trader's default configuration (one day of history warms a 256-bar plan window) on the
  same session: ticks per second, latency and CPU seconds per strategy-bar.

Usage::

    python benches/bench_shadow.py                      # 100 symbols, 100 strategies
    python benches/bench_shadow.py --symbols 10 --strategies 10 --ticks-per-day 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.bars import MultiSymbolBuffer, aggregate_ticks
from quant_engine.feeds.replay import ReplayFeed
from quant_engine.feeds.synthetic import SyntheticMarket
from quant_engine.research import backtest
from quant_engine.store import get_strategy, open_store, read_journal
from quant_engine.trading.shadow import ShadowConfig, ShadowTrader
from quant_engine.trading.shadow_demo import demo_strategies, promote

CASH = {"initial_cash": 100_000.0, "allow_unlisted_equities": True}


def _symbols(n: int) -> list[str]:
    return [f"S{i:03d}" for i in range(n)]


async def _feed_only(trades: pa.Table, symbols: list[str], batch: int) -> float:
    buf = MultiSymbolBuffer(symbols, "1m", min_bars=1)
    feed = ReplayFeed(trades, symbols=symbols, batch_size=batch)
    t0 = time.perf_counter()
    async with feed:
        async for b in feed:
            buf.push(b.data)
    buf.flush()
    return time.perf_counter() - t0


def _default_config(symbols: list[str], args: argparse.Namespace) -> dict[str, object]:
    from quant_engine.trading.shadow_feeds import synthetic_feed

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        for doc in demo_strategies(symbols, args.strategies):
            promote(store, doc)
        feed, history, _ = synthetic_feed(symbols, history_days=1, ticks_per_day=args.ticks_per_day,
                                          batch_size=args.batch)  # fmt: skip
        trader = ShadowTrader(store, feed, history=history, config=ShadowConfig(backtest=CASH, window=256))
        trader.open()
        c0, t0 = time.process_time(), time.perf_counter()
        asyncio.run(trader.run())
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        store.close()
    steps = trader.counters["bars"] * args.strategies / max(len(symbols), 1)
    return {"ticks_per_s": trader.counters["ticks"] / wall, "wall_s": wall, "cpu_s": cpu,
            "cpu_ms_per_strategy_bar": cpu / steps * 1e3, "latency_ms": trader.latency_ms()}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--strategies", type=int, default=100)
    ap.add_argument("--ticks-per-day", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=10_000, help="trades per feed batch")
    ap.add_argument("--default-only", action="store_true", help="only the default-configuration phase")
    args = ap.parse_args()
    symbols = _symbols(args.symbols)
    if args.default_only:
        d = _default_config(symbols, args)
        print(f"shadow default config, {args.strategies} strategies on {args.symbols} symbols: "
              f"{d['ticks_per_s']:,.0f} ticks/s, {d['cpu_ms_per_strategy_bar']:.2f} CPU ms per strategy-bar, "
              f"p50 {d['latency_ms']['p50']:.2f} ms p99 {d['latency_ms']['p99']:.2f} ms, "
              f"RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")  # fmt: skip
        return 0
    trades = SyntheticMarket(seed=7, symbols=symbols, days=1, ticks_per_day=args.ticks_per_day).trades()
    feed_s = asyncio.run(_feed_only(trades, symbols, args.batch))

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        for doc in demo_strategies(symbols, args.strategies):
            promote(store, doc)
        feed = ReplayFeed(trades, symbols=symbols, batch_size=args.batch)
        trader = ShadowTrader(store, feed, config=ShadowConfig(backtest=CASH, window=None))
        t0 = time.perf_counter()
        asyncio.run(trader.run())
        paper_s = time.perf_counter() - t0
        lat = trader.latency_ms()

        bars = aggregate_ticks(trades, "1m")
        fills_by_slot: dict[str, list[tuple]] = {}
        for e in read_journal(store, kind="fill"):
            fills_by_slot.setdefault(e.payload["slot"], []).append(
                (e.payload["ts"], e.payload["price"], e.payload["quantity"])
            )
        bt_s = 0.0
        n_fills = 0
        for key, slot in trader.slots.items():
            doc = get_strategy(store, slot.strategy).document()
            sym_bars = bars.filter(pc.equal(bars.column("symbol"), slot.symbol))
            t1 = time.perf_counter()
            res = backtest(doc, sym_bars, CASH)
            bt_s += time.perf_counter() - t1
            want = [(int(r["ts"].value), r["price"], r["quantity"]) for r in res.fills.to_pylist()]
            assert fills_by_slot.get(key, []) == want, f"paper and backtest fills differ for {key}"
            n_fills += len(want)
        store.close()

    n_bars = trader.counters["bars"]
    out = {
        "symbols": args.symbols,
        "strategies": len(trader.slots),
        "ticks": trades.num_rows,
        "bars": n_bars,
        "fills": n_fills,
        "feed_only_ticks_per_s": trades.num_rows / feed_s,
        "trading_ticks_per_s": trades.num_rows / paper_s,
        "paper_s": paper_s,
        "backtest_s": bt_s,
        "paper_over_backtest": paper_s / bt_s,
        "bar_close_to_journal_ms": lat,
        "sqlite": "WAL, synchronous=NORMAL",
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(f"shadow: {out['strategies']} strategies on {args.symbols} symbols, {out['ticks']:,} ticks, "
          f"{n_bars:,} bars, {n_fills:,} fills (equal to backtest())")  # fmt: skip
    print(f"  feed only         {out['feed_only_ticks_per_s']:>14,.0f} ticks/s")
    print(f"  trading           {out['trading_ticks_per_s']:>14,.0f} ticks/s  ({paper_s:.2f} s)")
    print(
        f"  backtest()        {bt_s:>14.2f} s for the same strategies and bars (paper/backtest x{out['paper_over_backtest']:.1f})"
    )
    print(
        f"  bar close -> journaled  p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms  max {lat['max']:.2f} ms (SQLite WAL, synchronous=NORMAL)"
    )
    print(f"  RSS {out['rss_mb']:.0f} MB")
    out["default_config"] = _default_config(symbols, args)
    d = out["default_config"]
    print(f"  default config (history warm-up, window 256): {d['ticks_per_s']:,.0f} ticks/s, "
          f"{d['cpu_ms_per_strategy_bar']:.2f} CPU ms per strategy-bar, bar close -> journaled "
          f"p50 {d['latency_ms']['p50']:.2f} ms p99 {d['latency_ms']['p99']:.2f} ms")  # fmt: skip
    res_dir = Path(__file__).parent / "bench-results"
    res_dir.mkdir(exist_ok=True)
    (res_dir / "shadow.json").write_text(json.dumps(out, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
