"""Replay: stored trades played through the vendor-stream interface."""

from __future__ import annotations

import asyncio
import time

import pyarrow as pa
import pytest

from feeds_support import run
from quant_engine.bars import MultiSymbolBuffer, aggregate_ticks
from quant_engine.errors import InvalidArgumentError
from quant_engine.feeds.catalog import Catalog
from quant_engine.feeds.replay import ReplayFeed
from quant_engine.feeds.stream import LiveStream
from quant_engine.feeds.synthetic import SyntheticMarket


def test_replay_into_bars_equals_batch_aggregation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trades = SyntheticMarket(symbols=["AAPL", "MSFT", "SPY"], ticks_per_day=4_000, days=2).trades()
    cat = Catalog(tmp_path)
    cat.append("trades", trades)

    async def main() -> pa.Table:
        feed = ReplayFeed(cat, symbols=["AAPL", "SPY"], batch_size=777)
        buf = MultiSymbolBuffer(interval="1m", capacity=10_000, min_bars=1)
        closed: list[pa.Table] = []
        await feed.start()
        await feed.run_into(buf, closed.append)
        assert feed.status().state == "offline" and "finished" in feed.status().reason
        return pa.concat_tables([*closed, buf.flush()])

    got = run(main()).sort_by([("symbol", "ascending"), ("start", "ascending")])
    want = aggregate_ticks(cat.read("trades", ["AAPL", "SPY"]), "1m")
    assert got.equals(want)


def test_speed_paces_the_stream_and_the_interface_matches() -> None:
    trades = SyntheticMarket(symbols=["AAPL"], ticks_per_day=2_000).trades()
    first = trades.column("ts")[0].value
    window = trades.filter(pa.compute.less(pa.compute.cast(trades.column("ts"), pa.int64()), first + 30 * 10**9))

    async def main() -> float:
        feed = ReplayFeed(window, symbols=["AAPL"], speed=20.0)
        t0 = time.monotonic()
        n = 0
        async with feed:
            async for batch in feed:
                n += batch.data.num_rows
        assert n == window.num_rows
        return time.monotonic() - t0

    elapsed = run(main())
    span = (window.column("ts")[-1].value - first) / 1e9
    assert span / 20.0 * 0.8 <= elapsed <= span / 20.0 + 1.0
    for name in (
        "start",
        "close",
        "subscribe",
        "unsubscribe",
        "run_into",
        "status",
        "stats",
        "wait_ready",
        "__aiter__",
        "__anext__",
    ):
        assert hasattr(ReplayFeed, name) and hasattr(LiveStream, name), name
    with pytest.raises(InvalidArgumentError):
        ReplayFeed(window, speed=0)
    with pytest.raises(InvalidArgumentError):
        asyncio.run(ReplayFeed(window).subscribe("quotes", "AAPL"))
