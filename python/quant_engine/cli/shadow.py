"""``quant-engine shadow``: the shadow trader (paper trading of promoted strategies).

* ``shadow run``: trade a feed (synthetic market, catalog replay, ThetaData or Massive stream)
  with every promoted strategy of the store, journaling each bar close; a live status line on a
  terminal; restarting with the same ``--account`` resumes from the journal.
* ``shadow status``: the latest journaled account snapshot of a session.
* ``shadow kill``: ask a running trader to flatten or freeze (or resume), through the store.
* ``shadow report``: HTML tear sheets of the paper session, with paper-vs-backtest tracking error.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Adds the ``shadow`` command group."""
    p = subparsers.add_parser(
        "shadow",
        help="paper-trade the promoted strategies on a live or replayed stream (run, status, kill, report)",
        description="The shadow trader: promoted strategies paper-trade a stream on the backtester's stepper; "
        "every bar close is journaled in the research store before the next (docs/shadow.md).",
    )
    sub = p.add_subparsers(dest="shadow_command", metavar="ACTION")
    sub.required = True

    run = sub.add_parser("run", help="trade a feed with the store's promoted strategies")
    run.add_argument("--feed", choices=("synthetic", "replay", "theta", "massive"), default="synthetic")
    run.add_argument(
        "--speed", type=float, default=None, help="replay speed (x real time; default: as fast as possible)"
    )
    _store_args(run)
    run.add_argument("--symbols", default=None, help="comma-separated symbols (default: the promoted strategies')")
    run.add_argument("--catalog", default=None, help="catalog folder (replay feed; warm-up for the vendor feeds)")
    run.add_argument("--day", default=None, help="session date YYYY-MM-DD to replay from the catalog")
    run.add_argument("--url", default=None, help="vendor stream URL (e.g. a fake server from quant-engine sandbox)")
    run.add_argument("--history-days", type=int, default=1, help="days of history for the warm-up (default 1)")
    run.add_argument("--batch", type=int, default=10_000, help="trades per replayed feed batch (default 10000)")
    run.add_argument("--seed", type=int, default=7, help="synthetic market seed (default 7)")
    run.add_argument("--ticks-per-day", type=int, default=20_000, help="synthetic trades per symbol and day")
    run.add_argument("--demo", type=int, default=0, help="first promote N demo SMA strategies over the symbols")
    run.add_argument("--window", type=int, default=256, help="bars each strategy keeps (0: all, exactly backtest)")
    run.add_argument("--stale-after", type=float, default=5.0, help="seconds of silence before orders stop")
    run.add_argument("--cash", type=float, default=100_000.0, help="each strategy account's starting cash")
    run.add_argument("--json", action="store_true", help="print the session summary as JSON at the end")
    run.set_defaults(func=_cmd_run)

    status = sub.add_parser("status", help="the latest account snapshot of a session")
    _store_args(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_cmd_status)

    kill = sub.add_parser("kill", help="ask the running trader to flatten or freeze (or resume)")
    _store_args(kill)
    kill.add_argument("--mode", choices=("flatten", "freeze", "resume"), default="flatten")
    kill.add_argument("--reason", default="", help="recorded with the request")
    kill.set_defaults(func=_cmd_kill)

    report = sub.add_parser("report", help="HTML tear sheets of the paper session")
    _store_args(report)
    report.add_argument("--out", required=True, help="output folder (index.html and one tear sheet per slot)")
    report.set_defaults(func=_cmd_report)


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None, help="store URL or SQLite path (default: $QE_STORE_URL or the user store)")
    p.add_argument("--account", default="shadow", help="the paper session's journal account (default: shadow)")


def _symbols(args: argparse.Namespace, store: Any) -> list[str]:
    from quant_engine.errors import InvalidArgumentError
    from quant_engine.store import list_strategies

    if args.symbols:
        return [s.strip() for s in args.symbols.split(",") if s.strip()]
    found = sorted({s for r in list_strategies(store, status="promoted") for s in r.document().get("instruments", [])})
    if not found and not args.demo:
        raise InvalidArgumentError("no promoted strategy in the store: pass --demo N or promote strategies first")
    return found or ["AAA", "BBB", "CCC"]


def _feed(args: argparse.Namespace, symbols: list[str]) -> tuple[Any, Any]:
    import datetime as dt

    from quant_engine.errors import InvalidArgumentError
    from quant_engine.trading.shadow_feeds import History, replay_feed, synthetic_feed, vendor_feed

    if args.feed == "synthetic":
        feed, history, _ = synthetic_feed(symbols, seed=args.seed, history_days=args.history_days,
                                          ticks_per_day=args.ticks_per_day, speed=args.speed,
                                          batch_size=args.batch)  # fmt: skip
        return feed, history
    if args.feed == "replay":
        if not args.catalog or not args.day:
            raise InvalidArgumentError("--feed replay needs --catalog and --day")
        return replay_feed(args.catalog, symbols, dt.date.fromisoformat(args.day), speed=args.speed,
                           history_days=args.history_days, batch_size=args.batch)  # fmt: skip
    history = History.empty()
    if args.catalog and args.day:
        _, history = replay_feed(args.catalog, symbols, dt.date.fromisoformat(args.day),
                                 history_days=args.history_days)  # fmt: skip
    return vendor_feed(args.feed, args.url), history


def _cmd_run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import sys

    from quant_engine.store import open_store
    from quant_engine.trading.shadow import ShadowConfig, ShadowTrader
    from quant_engine.trading.shadow_demo import demo_strategies, promote

    store = open_store(args.store)
    symbols = _symbols(args, store)
    for doc in demo_strategies(symbols, args.demo):
        promote(store, doc)
    feed, history = _feed(args, symbols)
    cfg = ShadowConfig(account=args.account, window=args.window or None, stale_after=args.stale_after,
                       backtest={"initial_cash": args.cash, "allow_unlisted_equities": True})  # fmt: skip
    trader = ShadowTrader(store, feed, history=history, symbols=symbols, config=cfg)
    tty = sys.stdout.isatty()
    asyncio.run(trader.run(on_status=_status_line if tty else None))
    if tty:
        print()
    summary = {**trader.snapshot(), "counters": trader.counters, "latency_ms": trader.latency_ms()}
    if args.json:
        print(json.dumps(summary, sort_keys=True, default=float))
    else:
        c = trader.counters
        print(
            f"shadow {args.account}: {c['bars']:,} bars, {c['ticks']:,} ticks, {len(trader.slots)} slots, "
            f"equity {summary['equity']:,.2f}, open positions {len(summary['positions'])}, health {trader.health}"
        )
    return 0


def _status_line(trader: Any) -> None:
    import sys
    import time

    snap = trader.snapshot()
    elapsed = max(time.monotonic() - trader.started, 1e-9)
    lat = trader.latency_ms()
    line = (f"\r{trader.counters['bars']:,} bars ({trader.counters['bars'] / elapsed:,.0f}/s)  "
            f"positions {len(snap['positions'])}  equity {snap['equity']:,.2f}  lag p50 {lat['p50']:.1f} ms  "
            f"{trader.health} {trader.mode}   ")  # fmt: skip
    sys.stdout.write(line)
    sys.stdout.flush()


def _cmd_status(args: argparse.Namespace) -> int:
    import json

    from quant_engine.errors import InvalidArgumentError
    from quant_engine.store import open_store
    from quant_engine.trading.shadow_status import session_status

    store = open_store(args.store)

    status = session_status(store, args.account)
    if status is None:
        raise InvalidArgumentError(f"no journal for account {args.account!r} in {store.url}")
    if args.json:
        print(json.dumps(status, sort_keys=True, default=float))
    else:
        print(f"account {args.account}: equity {status['equity']:,.2f}, cash {status['cash']:,.2f}, "
              f"{len(status['positions'])} open positions, {status['fills']} fills, health {status['health']}, "
              f"mode {status['mode']}, last bar {status['last_bar']}")  # fmt: skip
        for k, q in sorted(status["positions"].items()):
            print(f"  {k}: {q:g}")
        for k, s in sorted(status["states"].items()):
            print(f"  {k}: {s}")
    return 0


def _cmd_kill(args: argparse.Namespace) -> int:
    from quant_engine.store import open_store
    from quant_engine.trading.shadow_journal import request_kill

    store = open_store(args.store)
    event_id = request_kill(store, args.account, args.mode, args.reason)
    print(f"kill request {event_id} ({args.mode}) written for account {args.account!r}; "
          f"the trader applies it at its next bar close")  # fmt: skip
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from quant_engine.store import open_store
    from quant_engine.trading.shadow_status import write_report

    store = open_store(args.store)
    index = write_report(store, args.account, args.out)
    print(f"wrote {index}")
    return 0
