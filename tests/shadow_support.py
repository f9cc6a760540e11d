"""Test support for the shadow trader: a store with promoted strategies, a recorded session (the
synthetic market's trades written to a catalog) and a synchronous driver (ticks pushed batch by
batch, no event loop), so a test can stop a trader between any two batches as a crash would."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.feeds.synthetic import SyntheticMarket
from quant_engine.store import Store, open_store, read_journal
from quant_engine.trading.shadow import ShadowConfig, ShadowTrader
from quant_engine.trading.shadow_demo import demo_strategies, promote
from quant_engine.trading.shadow_feeds import History

SYMBOLS = ["AAA", "BBB"]
CASH = {"initial_cash": 100_000.0, "allow_unlisted_equities": True}


def session(
    symbols: Sequence[str] = SYMBOLS, *, days: int = 2, ticks: int = 20_000, seed: int = 7
) -> tuple[pa.Table, pa.Table, int]:
    """The synthetic market: ``(history trades, session trades, session open ns)`` (the last day is
    the session)."""
    m = SyntheticMarket(seed=seed, symbols=list(symbols), days=days, ticks_per_day=ticks)
    trades = m.trades()
    lo, _ = m.session_bounds(m.session_days()[-1])
    ts = pc.cast(trades.column("ts"), pa.int64())
    return trades.filter(pc.less(ts, lo)), trades.filter(pc.greater_equal(ts, lo)), lo


def make_store(path: Path, docs: Sequence[Mapping[str, Any]], expectations: Sequence[Any] | None = None) -> Store:
    """A SQLite store at ``path`` with ``docs`` promoted (each with its expectation)."""
    store = open_store(f"sqlite:///{path}")
    for i, d in enumerate(docs):
        promote(store, d, None if expectations is None else expectations[i])
    return store


def demo(n: int = 4, symbols: Sequence[str] = SYMBOLS) -> list[dict[str, Any]]:
    """``n`` demo strategies over ``symbols``."""
    return demo_strategies(symbols, n)


def trader(store: Store, history: pa.Table | None = None, **cfg: Any) -> ShadowTrader:
    """A trader on ``store`` (no feed: driven with :func:`drive`)."""
    hist = History.from_trades(history, "1m") if history is not None else History.empty()
    return ShadowTrader(store, None, history=hist, config=ShadowConfig(backtest=CASH, **cfg))


def drive(
    t: ShadowTrader, trades: pa.Table, *, batch: int = 2_000, stop_after: int | None = None, flush: bool = True
) -> None:
    """Opens the trader and pushes ``trades`` in batches (``stop_after`` batches at most, then
    returns as if the process died: no flush); flushes the last bar at the end."""
    t.open()
    for n, start in enumerate(range(0, trades.num_rows, batch)):
        if stop_after is not None and n >= stop_after:
            return
        t.on_ticks(trades.slice(start, batch))
    if flush:
        assert t.buffer is not None
        import time

        t.on_bars(t.buffer.flush(), time.perf_counter())


def journal_view(store: Store, account: str = "shadow") -> dict[str, list[Any]]:
    """The journal without its ids and wall-clock times: fills, orders and position records
    (bars with positions) by slot, and account snapshots (without their feed counters, which
    hold wall-clock rates)."""
    out: dict[str, list[Any]] = {"fill": [], "order": [], "position": [], "account": []}
    for e in read_journal(store, account=account):
        payload = {k: v for k, v in e.payload.items() if k != "feed"} if e.kind == "account" else e.payload
        out[e.kind].append((e.symbol, e.ts_ns, payload))
    return out
