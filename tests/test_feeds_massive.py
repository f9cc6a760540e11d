"""Massive: the REST clients and the stream against the fake Massive over real sockets, and the
fake's envelopes."""

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
    NoDataError,
    VendorAuthError,
    VendorPermissionError,
    VendorRequestError,
    VendorUnavailableError,
)
from quant_engine.feeds.massive import AsyncMassiveClient, MassiveClient, MassiveStream
from quant_engine.feeds.retry import Backoff
from quant_engine.sandbox import FakeMassive, SandboxMarket
from quant_engine.schema import BAR_SCHEMA, TRADE_SCHEMA

KEY = "mk-0123456789abcdef"
FAST = Backoff(initial=0.01, maximum=0.05, retries=6)
START, END = "2024-01-02T14:30:00Z", "2024-01-02T15:30:00Z"


@pytest.fixture(scope="module")
def market() -> SandboxMarket:
    return SandboxMarket.synthetic_market(symbols=["AAPL", "MSFT"], ticks_per_day=5_000)


@pytest.fixture(scope="module")
def fake(market: SandboxMarket) -> Iterator[FakeMassive]:
    with FakeMassive(market, api_key=KEY, speed=3000, batch=40) as srv:
        yield srv


@pytest.fixture
def client(fake: FakeMassive) -> Iterator[MassiveClient]:
    fake.faults.__init__()  # type: ignore[misc]
    with MassiveClient(KEY, fake.rest_url, backoff=FAST) as c:
        yield c


def test_aggregates_follow_next_url_with_the_key_in_the_header_only(client: MassiveClient, fake: FakeMassive) -> None:
    fake.seen_urls.clear()
    minute = client._run(client.plan_aggregates("AAPL", 1, "minute", START, END, True))
    assert minute.schema.equals(BAR_SCHEMA, check_metadata=False) and minute.num_rows == 60
    paged = client._run(_limited(client, f"/v2/aggs/ticker/AAPL/range/1/minute/{1704205800000}/{1704209399999}", 7))
    assert paged == 60 and len(fake.seen_urls) == 1 + 9  # 60 rows in pages of 7
    assert all("apiKey" not in u and KEY not in u for u in fake.seen_urls)
    assert all("cursor=" in u for u in fake.seen_urls[2:])


def _limited(client: MassiveClient, path: str, limit: int):  # type: ignore[no-untyped-def]
    tables = yield from client._pages(client._url(path, {"limit": limit}))
    return sum(t.num_rows for t in tables)


def test_daily_grouped_trades_quotes(client: MassiveClient, market: SandboxMarket) -> None:
    day = client.aggregates("MSFT", 1, "day", "2024-01-02", "2024-01-03")
    assert day.num_rows == 1 and day.column("start")[0].value == 1_704_171_600 * 10**9  # 00:00 New York
    grouped = client.grouped_daily("2024-01-02")
    assert sorted(grouped.column("symbol").to_pylist()) == ["AAPL", "MSFT"]
    trades = client.trades("AAPL", START, END, limit=1000)  # several pages, oldest first
    assert trades.schema.equals(TRADE_SCHEMA, check_metadata=False)
    ts = pc.cast(trades.column("ts"), pa.int64()).to_numpy()
    assert (ts[1:] >= ts[:-1]).all() and trades.num_rows > 1000
    truth = market.all_trades(["AAPL"])
    t = pc.cast(truth.column("ts"), pa.int64())
    in_range = truth.filter(pc.and_(pc.greater_equal(t, 1_704_205_800 * 10**9), pc.less(t, 1_704_209_400 * 10**9)))
    assert trades.column("sequence").to_pylist() == in_range.column("sequence").to_pylist()
    quotes = client.quotes("MSFT", START, "2024-01-02T14:35:00Z")
    assert quotes.num_rows > 0 and pc.all(pc.less(quotes.column("bid"), quotes.column("ask"))).as_py()
    assert client.aggregates("AAPL", 1, "minute", "2024-01-06T15:00:00Z", "2024-01-06T16:00:00Z").num_rows == 0


def test_option_chain_snapshot(client: MassiveClient) -> None:
    chain = client.option_chain("AAPL")
    assert chain.num_rows == 88 and set(chain.column("right").to_pylist()) == {"CALL", "PUT"}
    calls = chain.filter(pc.and_(pc.equal(chain.column("right"), "CALL"), pc.is_valid(chain.column("delta"))))
    assert pc.all(pc.and_(pc.greater_equal(calls.column("delta"), 0), pc.less_equal(calls.column("delta"), 1))).as_py()
    assert chain.column("symbol")[0].as_py().startswith("AAPL24")
    one = client.option_chain("AAPL", contract_type="put", limit=5)
    assert set(one.column("right").to_pylist()) == {"PUT"} and one.num_rows == 44


def test_errors_and_retries(client: MassiveClient, fake: FakeMassive) -> None:
    fake.faults.update({"http_429": 2, "http_5xx": 3})
    assert client.aggregates("AAPL", 1, "minute", START, END).num_rows == 60
    assert client.throttled == 2
    with pytest.raises(VendorAuthError) as bad:
        MassiveClient("wrong-key", fake.rest_url, backoff=FAST).trades("AAPL", START, END)
    assert bad.value.status == 401 and "Unknown API Key" in str(bad.value)
    fake.market.entitled = {"MSFT"}
    try:
        with pytest.raises(VendorPermissionError, match="NOT_AUTHORIZED|plan"):
            client.trades("AAPL", START, END)
    finally:
        fake.market.entitled = None
    with pytest.raises(NoDataError):
        client._get(client._url("/v3/snapshot/options/AAPL/O:AAPL990101C00001000"))
    with pytest.raises(VendorRequestError):
        client._get(client._url("/v3/trades/AAPL", {"cursor": "garbage"}))
    fake.faults.update({"http_5xx": 100})
    with pytest.raises(VendorUnavailableError):
        client.trades("AAPL", START, END)
    fake.faults.http_5xx = 0
    assert client.status().state in ("degraded", "offline")


def test_envelopes_match_the_vendor(fake: FakeMassive) -> None:
    r = httpx.get(
        fake.rest_url + "/v2/aggs/ticker/AAPL/range/1/minute/2024-01-02/2024-01-02", params={"apiKey": KEY, "limit": 5}
    )
    body = r.json()
    assert body["status"] == "OK" and re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert body["resultsCount"] == body["queryCount"] == body["count"] == 5 and body["ticker"] == "AAPL"
    assert "otc" not in body["results"][0] and set(body["results"][0]) == {"v", "vw", "o", "c", "h", "l", "t", "n"}
    assert "?cursor=" in body["next_url"] and "apiKey" not in body["next_url"] and KEY not in body["next_url"]
    empty = httpx.get(fake.rest_url + "/v3/trades/AAPL", params={"apiKey": KEY, "timestamp": "2024-01-06"}).json()
    assert empty["status"] == "OK" and "results" not in empty
    desc = httpx.get(fake.rest_url + "/v3/trades/AAPL", params={"apiKey": KEY, "limit": 3}).json()["results"]
    assert desc[0]["sip_timestamp"] > desc[1]["sip_timestamp"]  # trades default to newest first, ns
    assert isinstance(desc[0]["id"], str) and isinstance(desc[0]["conditions"], list)
    no_key = httpx.get(fake.rest_url + "/v3/trades/AAPL")
    assert no_key.status_code == 401 and no_key.json()["error"] == "API Key was not provided"


def test_async_client(fake: FakeMassive) -> None:
    async def main() -> None:
        async with AsyncMassiveClient(KEY, fake.rest_url, backoff=FAST) as c:
            a, g = await asyncio.gather(c.aggregates("AAPL", 5, "minute", START, END), c.grouped_daily("2024-01-02"))
            assert a.num_rows == 12 and g.num_rows == 2

    run(main())


def test_both_clients_wait_for_retry_after(fake: FakeMassive) -> None:
    """A 429 carries ``Retry-After: 1``: the sync and the async client wait at least that long
    (backoff maximum permitting) before the retry that succeeds."""
    patient = Backoff(initial=0.01, maximum=2.0, retries=3)
    fake.faults.__init__()  # type: ignore[misc]
    fake.faults.update({"http_429": 1})
    t0 = time.monotonic()
    with MassiveClient(KEY, fake.rest_url, backoff=patient) as c:
        assert c.grouped_daily("2024-01-02").num_rows == 2 and c.throttled == 1 and c.retries == 1
    assert time.monotonic() - t0 >= 1.0

    async def main() -> float:
        fake.faults.update({"http_429": 1})
        t1 = time.monotonic()
        async with AsyncMassiveClient(KEY, fake.rest_url, backoff=patient) as c:
            assert (await c.grouped_daily("2024-01-02")).num_rows == 2 and c.throttled == 1 and c.retries == 1
        return time.monotonic() - t1

    assert run(main()) >= 1.0


def _restart_replay(url: str) -> None:
    """Restarts the server's market clock (it starts again at the next subscription)."""
    assert httpx.post(url + "/_sandbox/replay", params={"apiKey": KEY}, json={"restart": True}).status_code == 200


def test_stream_handshake_batches_and_resubscribe(fake: FakeMassive) -> None:
    fake.faults.__init__()  # type: ignore[misc]
    _restart_replay(fake.rest_url)

    async def main() -> None:
        s = MassiveStream(fake.ws_url + "/stocks", KEY, reconnect=Backoff(0.05, 0.2, retries=100))
        await s.start()
        await s.wait_ready(5)
        assert s.statuses["connected"] == 1 and s.statuses["auth_success"] == 1
        await s.subscribe("trades", "AAPL")
        await s.subscribe("quotes", "MSFT")
        fake.faults.update({"unknown_events": True, "malformed_every": 3})
        kinds: dict[str, int] = {}
        t0 = time.monotonic()

        async def consume() -> None:
            async for batch in s:
                kinds[batch.kind] = kinds.get(batch.kind, 0) + batch.data.num_rows
                if time.monotonic() - t0 > 1.0 and len(kinds) == 2:
                    break

        await asyncio.wait_for(consume(), 30)
        assert kinds.get("trades") and kinds.get("quotes")
        st = s.stats()
        assert st["unknown"] >= 2 and st["malformed"] >= 1
        fake.faults.update({"unknown_events": False, "malformed_every": 0, "status_close": "slow_consumer"})
        deadline = time.monotonic() + 5
        while s.stats()["reconnects"] < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await s.wait_ready(5)
        await asyncio.sleep(0.3)
        assert s.statuses["auth_success"] == 2 and s.statuses["success"] >= 4  # re-authenticated, re-subscribed
        await s.close()

    run(main())


def test_stream_minute_aggregates(fake: FakeMassive) -> None:
    _restart_replay(fake.rest_url)

    async def main() -> None:
        s = MassiveStream(fake.ws_url + "/stocks", KEY)
        await s.start()
        await s.wait_ready(5)
        await s.subscribe("bars", "*")

        async def first_bars() -> dict[str, list[object]]:
            async for batch in s:
                if batch.kind == "bars":
                    return batch.data.to_pydict()  # type: ignore[no-any-return]
            raise AssertionError("the stream ended without bars")

        b = await asyncio.wait_for(first_bars(), 30)
        assert set(b["symbol"]) <= {"AAPL", "MSFT"} and all(h >= lo for h, lo in zip(b["high"], b["low"]))  # type: ignore[operator]
        await s.close()

    run(main())


def test_stream_bad_key_stops_with_auth_error(fake: FakeMassive) -> None:
    async def main() -> None:
        s = MassiveStream(fake.ws_url + "/stocks", "bad-key")
        await s.start()
        with pytest.raises(VendorAuthError):
            await s.wait_ready(5)
        assert s.status().state == "offline"
        await s.close()

    run(main())
