"""ThetaData OHLC: the fake terminal reproduces the vendor's all-zero rows for intervals without
trades and its grid anchored at ``start_time``; the client drops zero-price rows (counted) and
returns bars on the engine's grid, equal to bars aggregated from the trades."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from quant_engine.bars import aggregate_ticks
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.thetadata import ThetaDataClient
from quant_engine.sandbox import FakeThetaTerminal, SandboxMarket

FAST = Backoff(initial=0.01, maximum=0.02, retries=2)
NS_MIN = 60_000_000_000


@pytest.fixture(scope="module")
def market() -> SandboxMarket:
    return SandboxMarket.synthetic_market(symbols=["AAPL"], ticks_per_day=2_000, quotes=False)


@pytest.fixture(scope="module")
def terminal(market: SandboxMarket) -> Iterator[FakeThetaTerminal]:
    with FakeThetaTerminal(market, speed=3000) as srv:
        yield srv


def _truth(market: SandboxMarket, start: str, end: str, interval: str) -> pa.Table:
    t = market.all_trades()
    ts = pc.cast(t.column("ts"), pa.int64())
    lo = pc.cast(pa.scalar(start).cast(pa.timestamp("ns", tz="UTC")), pa.int64())
    hi = pc.cast(pa.scalar(end).cast(pa.timestamp("ns", tz="UTC")), pa.int64())
    return aggregate_ticks(t.filter(pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi))), interval)


def test_fake_terminal_sends_the_vendors_zero_rows_and_start_anchored_grid(terminal: FakeThetaTerminal) -> None:
    r = httpx.get(
        f"{terminal.rest_url}/v3/stock/history/ohlc",
        params={
            "symbol": "AAPL",
            "date": "20240102",
            "interval": "1m",
            "start_time": "00:00:00",
            "end_time": "23:59:59.999",
        },
    )
    lines = r.text.strip().split("\r\n")[1:]
    assert len(lines) == 1440
    zero = [x for x in lines if all(float(v) == 0 for v in x.split(",")[1:])]
    assert len(zero) >= 1440 - 390  # every minute outside the session (and quiet minutes inside) is all zeros
    off = httpx.get(
        f"{terminal.rest_url}/v3/stock/history/ohlc",
        params={
            "symbol": "AAPL",
            "date": "20240102",
            "interval": "1m",
            "start_time": "10:02:30",
            "end_time": "10:10:00",
        },
    )
    assert off.text.split("\r\n")[1].startswith("2024-01-02T10:02:30")  # the vendor labels bars from start_time


def test_whole_day_minute_bars_drop_zero_rows(terminal: FakeThetaTerminal, market: SandboxMarket) -> None:
    with ThetaDataClient(terminal.rest_url, backoff=FAST) as c:
        bars = c.stock_ohlc("AAPL", "2024-01-02T05:00:00Z", "2024-01-03T05:00:00Z", "1m")
        assert c.empty_bars_dropped >= 1440 - 390 and c.rows_dropped == 0
    assert pc.all(pc.greater(bars.column("low"), 0)).as_py()
    truth = _truth(market, "2024-01-02T05:00:00Z", "2024-01-03T05:00:00Z", "1m")
    assert bars.num_rows == truth.num_rows and c.empty_bars_dropped == 1440 - truth.num_rows
    assert bars.column("close").equals(truth.column("close"))


def test_off_grid_start_gives_bars_on_the_grid(terminal: FakeThetaTerminal, market: SandboxMarket) -> None:
    with ThetaDataClient(terminal.rest_url, backoff=FAST) as c:
        bars = c.stock_ohlc("AAPL", "2024-01-02T15:02:30Z", "2024-01-02T16:00:00Z", "1m")
    start = pc.cast(bars.column("start"), pa.int64()).to_numpy()
    assert len(start) and (start % NS_MIN == 0).all()
    assert start[0] == 1_704_207_720 * 10**9  # 15:02:00Z: the bar holding the start, whole
    truth = _truth(market, "2024-01-02T15:02:00Z", "2024-01-02T16:00:00Z", "1m")
    assert bars.column("start").equals(truth.column("start")) and bars.column("high").equals(truth.column("high"))


def test_large_request_split_keeps_bars_on_the_grid(terminal: FakeThetaTerminal, market: SandboxMarket) -> None:
    terminal.faults.__init__()  # type: ignore[misc]
    terminal.faults.update({"large_request": 1})
    with ThetaDataClient(terminal.rest_url, backoff=FAST) as c:
        bars = c.stock_ohlc("AAPL", "2024-01-02T14:30:00Z", "2024-01-02T20:58:00Z", "5m")  # halves meet at 12:44 NY
    terminal.faults.__init__()  # type: ignore[misc]
    truth = _truth(market, "2024-01-02T14:30:00Z", "2024-01-02T20:58:00Z", "5m")
    assert bars.column("start").equals(truth.column("start")) and bars.column("volume").equals(truth.column("volume"))
