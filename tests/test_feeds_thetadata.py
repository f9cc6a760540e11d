"""ThetaData: the REST clients and the stream against the fake terminal over real sockets, and
the fake terminal's wire format."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from feeds_support import run
from quant_engine.errors import (
    InvalidArgumentError,
    VendorPermissionError,
    VendorRequestError,
    VendorUnavailableError,
)
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.thetadata import (
    AsyncThetaDataClient,
    ThetaDataClient,
    ThetaDataStream,
    option_symbol,
    parse_option_symbol,
)
from quant_engine.sandbox import FakeThetaTerminal, SandboxMarket
from quant_engine.schema import BAR_SCHEMA, TRADE_SCHEMA

FAST = Backoff(initial=0.01, maximum=0.05, retries=5)
START, END = "2024-01-02T14:30:00Z", "2024-01-02T15:30:00Z"


@pytest.fixture(scope="module")
def market() -> SandboxMarket:
    return SandboxMarket.synthetic_market(symbols=["AAPL", "MSFT"], ticks_per_day=5_000)


@pytest.fixture(scope="module")
def terminal(market: SandboxMarket) -> Iterator[FakeThetaTerminal]:
    market.entitled = {"AAPL", "MSFT"}
    with FakeThetaTerminal(market, speed=3000, max_concurrent=2, queue=2) as srv:
        yield srv


@pytest.fixture
def client(terminal: FakeThetaTerminal) -> Iterator[ThetaDataClient]:
    terminal.faults.__init__()  # type: ignore[misc]
    with ThetaDataClient(terminal.rest_url, backoff=FAST, timeout=2.0) as c:
        yield c


def test_trades_match_the_ground_truth(client: ThetaDataClient, market: SandboxMarket) -> None:
    got = client.stock_trades("AAPL", START, END)
    assert got.schema.equals(TRADE_SCHEMA, check_metadata=False)
    truth = market.all_trades(["AAPL"])
    ts = pc.cast(truth.column("ts"), pa.int64())
    lo, hi = pa.scalar(1_704_205_800 * 10**9), pa.scalar(1_704_209_400 * 10**9)
    truth = truth.filter(pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi)))
    assert got.num_rows == truth.num_rows > 100
    # ms resolution on the wire: NY wall clock parsed back to the same UTC millisecond
    assert pc.cast(got.column("ts"), pa.int64()).to_pylist() == [
        v // 10**6 * 10**6 for v in pc.cast(truth.column("ts"), pa.int64()).to_pylist()
    ]
    assert got.column("price").to_pylist() == truth.column("price").to_pylist()
    assert got.column("sequence").to_pylist() == truth.column("sequence").to_pylist()


def test_ohlc_quotes_and_lists(client: ThetaDataClient) -> None:
    bars = client.stock_ohlc("MSFT", START, END, "5m")
    assert bars.schema.equals(BAR_SCHEMA, check_metadata=False) and bars.num_rows == 12
    quotes = client.stock_quotes("MSFT", START, "2024-01-02T14:31:00Z", interval="1s")
    assert quotes.num_rows > 10 and pc.all(pc.less(quotes.column("bid"), quotes.column("ask"))).as_py()
    exps = client.option_expirations("AAPL")
    assert exps.column("expiration").type == pa.date32() and exps.num_rows == 4
    strikes = client.option_strikes("AAPL", exps.column("expiration")[0].as_py().isoformat())
    assert strikes.column("strike").to_pylist() == sorted(strikes.column("strike").to_pylist())


def test_greeks_snapshots_by_order(client: ThetaDataClient) -> None:
    first = client.greeks_snapshot("AAPL", order="first_order")
    for col in ("delta", "theta", "vega", "rho", "epsilon", "lambda", "implied_vol", "iv_error", "underlying_price"):
        assert col in first.column_names
    second = client.greeks_snapshot("AAPL", order="second_order")
    assert {"gamma", "vanna", "charm", "vomma", "veta"} <= set(
        second.column_names
    ) and "vera" not in second.column_names
    third = client.greeks_snapshot("AAPL", order="third_order")
    assert {"speed", "zomma", "color", "ultima"} <= set(third.column_names)
    assert "vera" in client.greeks_snapshot("AAPL", order="all").column_names
    assert set(first.column("right").to_pylist()) == {"CALL", "PUT"}
    assert first.column("timestamp").type == pa.timestamp("ns", tz="UTC")
    zero = first.filter(pc.and_(pc.equal(first.column("bid"), 0.0), pc.equal(first.column("ask"), 0.0)))
    assert zero.num_rows and set(zero.column("iv_error").to_pylist()) == {100.0}  # the vendor's sentinel
    calls = first.filter(pc.equal(first.column("right"), "CALL"))
    assert pc.all(pc.and_(pc.greater_equal(calls.column("delta"), 0), pc.less_equal(calls.column("delta"), 1))).as_py()
    with pytest.raises(InvalidArgumentError):
        client.greeks_snapshot("AAPL", order="fourth_order")


def test_vendor_codes_map_to_typed_errors(client: ThetaDataClient, terminal: FakeThetaTerminal) -> None:
    empty = client.stock_trades("AAPL", "2024-01-06T15:00:00Z", "2024-01-06T16:00:00Z")  # Saturday: 472
    assert empty.num_rows == 0 and empty.schema.equals(TRADE_SCHEMA, check_metadata=False)
    assert client.stock_trades("ZZZZ", START, END).num_rows == 0  # unknown symbol: 472
    terminal.market.entitled = {"MSFT"}
    try:
        with pytest.raises(VendorPermissionError) as err:
            client.stock_trades("AAPL", START, END)
        assert err.value.status == 471 and err.value.code == "PERMISSION"
    finally:
        terminal.market.entitled = {"AAPL", "MSFT"}
    with pytest.raises(VendorRequestError) as bad:
        client._run(
            client.plan_single("/v3/stock/history/quote", {"symbol": "AAPL", "date": "20240102", "interval": "7m"})
        )
    assert bad.value.status == 473
    r = httpx.get(terminal.rest_url + "/v3/stock/history/trade", params={"root": "AAPL", "date": "20240102"})
    assert r.status_code == 410 and "symbol" in r.text and r.headers["content-type"].startswith("text/plain")


def test_retries_429_5xx_474_and_stalled_bodies(client: ThetaDataClient, terminal: FakeThetaTerminal) -> None:
    terminal.faults.update({"http_429": 2, "http_5xx": 2})
    assert client.stock_trades("AAPL", START, END).num_rows > 0
    assert terminal.faults.injected["http_429"] == 2 and terminal.faults.injected["http_5xx"] == 2
    terminal.faults.update({"upstream_down": 0.15})
    assert client.status().state == "degraded"
    assert client.stock_trades("AAPL", START, END).num_rows > 0  # 474, retried until upstream is back
    terminal.faults.update({"stall_body": 3.0})
    assert client.stock_trades("AAPL", START, END).num_rows > 0  # read timeout (2 s), retried
    terminal.faults.update({"http_5xx": 50})
    with pytest.raises(VendorUnavailableError):
        client.stock_trades("AAPL", START, END)
    terminal.faults.http_5xx = 0


def test_truncated_short_and_nan_rows_are_dropped_and_counted(
    client: ThetaDataClient, terminal: FakeThetaTerminal
) -> None:
    full = client.stock_trades("AAPL", START, END).num_rows
    for fault in ("truncate_body", "short_rows", "nan_rows"):
        before = client.rows_dropped
        assert httpx.post(terminal.rest_url + "/_sandbox/faults", json={fault: 1}).status_code == 200  # by command
        got = client.stock_trades("AAPL", START, END)
        assert client.rows_dropped == before + 1, fault
        assert got.num_rows == (full - 1 if fault == "truncate_body" else full)
        assert pc.all(pc.is_finite(got.column("price"))).as_py()


def test_large_request_is_split(client: ThetaDataClient, terminal: FakeThetaTerminal) -> None:
    whole = client.stock_trades("AAPL", START, END)
    terminal.faults.update({"large_request": 3})
    assert client.stock_trades("AAPL", START, END).equals(whole)
    assert terminal.faults.injected["large_request"] == 3


def test_async_client_and_status(terminal: FakeThetaTerminal) -> None:
    async def main() -> None:
        async with AsyncThetaDataClient(terminal.rest_url, backoff=FAST) as c:
            a, b = await asyncio.gather(c.stock_trades("AAPL", START, END), c.stock_trades("MSFT", START, END))
            assert a.num_rows and b.num_rows
            assert (await c.terminal_status()) == {"mdds": "CONNECTED", "fpss": "CONNECTED"}

    run(main())
    assert ThetaDataClient("http://127.0.0.1:9", backoff=FAST).status().state == "offline"


def test_option_symbols_round_trip() -> None:
    s = option_symbol("AAPL", "2023-12-22", "call", 200.0)
    assert s == "AAPL231222C00200000"
    assert parse_option_symbol(s) == ("AAPL", "20231222", "C", 200_000)
    assert parse_option_symbol("O:SPY241220P00720000") == ("SPY", "20241220", "P", 720_000)
    assert parse_option_symbol("AAPL") is None


def test_wire_format_csv_json_ndjson(terminal: FakeThetaTerminal) -> None:
    base = terminal.rest_url + "/v3/stock/history/trade"
    q = {"symbol": "AAPL", "date": "20240102", "start_time": "09:30:00", "end_time": "09:45:00"}
    csv = httpx.get(base, params=q).content
    lines = csv.split(b"\r\n")
    assert (
        lines[0]
        == b"timestamp,sequence,ext_condition1,ext_condition2,ext_condition3,ext_condition4,condition,size,exchange,price"
    )
    assert csv.endswith(b"\r\n") and b"\n" not in csv.replace(b"\r\n", b"")
    row = lines[1].split(b",")
    assert re.fullmatch(rb"2024-01-02T09:\d\d:\d\d(\.\d{3})?", row[0]) and re.fullmatch(rb"\d+\.\d{4}", row[-1])
    ohlc = httpx.get(terminal.rest_url + "/v3/stock/history/ohlc", params={**q, "interval": "1m"}).content.split(
        b"\r\n"
    )
    assert ohlc[1].startswith(b"2024-01-02T09:30:00,")  # no .SSS on interval boundaries
    nd = httpx.get(base, params={**q, "format": "ndjson"}).text.splitlines()
    assert nd[0].startswith('{"timestamp":"2024-01-02T09:')
    js = httpx.get(base, params={**q, "format": "json"}).json()
    assert set(js) == {"response"} and "price" in js["response"][0]
    g = httpx.get(
        terminal.rest_url + "/v3/option/snapshot/greeks/first_order", params={"symbol": "AAPL", "expiration": "*"}
    ).text
    assert g.split("\r\n")[0].startswith(
        "symbol,expiration,strike,right,timestamp,bid,ask,delta,theta,vega,rho,epsilon,lambda,implied_vol"
    )
    assert re.search(r",\d+\.000,(CALL|PUT),", g)  # strikes as 220.000, rights uppercase


def _restart_replay(url: str) -> None:
    """Restarts the server's market clock (it starts again at the next subscription)."""
    assert httpx.post(url + "/_sandbox/replay", json={"restart": True}).status_code == 200


def test_stream_subscribe_acks_heartbeats_and_quotes(terminal: FakeThetaTerminal) -> None:
    _restart_replay(terminal.rest_url)

    async def main() -> None:
        s = ThetaDataStream(terminal.ws_url, reconnect=Backoff(0.05, 0.2, retries=100))
        await s.start()
        await s.wait_ready(5)
        await s.subscribe("trades", "AAPL")
        await s.subscribe("quotes", "MSFT")
        kinds: set[str] = set()
        t0 = time.monotonic()

        async def consume() -> None:
            async for batch in s:
                kinds.add(batch.kind)
                if len(kinds) == 2 and time.monotonic() - t0 > 1.2:
                    break

        await asyncio.wait_for(consume(), 30)
        assert s.responses.get("SUBSCRIBED", 0) >= 2
        assert s.stats()["status_frames"] >= 1 and s.status().state == "online"
        await s.close()

    run(main())


def test_stream_refusals_raise(market: SandboxMarket) -> None:
    with FakeThetaTerminal(market, max_streams=1, refused_sec_types={"OPTION"}) as srv:

        async def main() -> None:
            s = ThetaDataStream(srv.ws_url)
            await s.start()
            await s.wait_ready(5)
            await s.subscribe("trades", "AAPL")
            with pytest.raises(VendorRequestError, match="MAX_STREAMS_REACHED"):
                await s.subscribe("trades", "MSFT")
            with pytest.raises(VendorPermissionError, match="INVALID_PERMS"):
                await s.subscribe("trades", "AAPL231222C00200000")
            assert [x.symbol for x in s.subscriptions] == ["AAPL"]
            await s.close()

        run(main())


def test_silence_watchdog_reconnects_and_resubscribes(terminal: FakeThetaTerminal) -> None:
    async def main() -> None:
        # heartbeats come every second: 2.5 s of silence can only be the injected fault
        s = ThetaDataStream(terminal.ws_url, silence_timeout=2.5, reconnect=Backoff(0.05, 0.2, retries=100))
        await s.start()
        await s.wait_ready(5)
        await s.subscribe("trades", "MSFT")
        await asyncio.sleep(1.5)
        assert s.stats()["reconnects"] == 0
        terminal.faults.update({"silence": 4.0})
        deadline = time.monotonic() + 15
        while s.stats()["reconnects"] < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert s.stats()["reconnects"] >= 1
        await s.wait_ready(5)
        await asyncio.sleep(0.5)
        assert "trades:MSFT" in terminal.snapshot()["subscribed"]  # restored on the new connection
        await s.close()

    run(main())
