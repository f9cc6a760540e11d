"""ThetaData option history: the sync and async clients against the fake terminal over real
sockets (trades, quotes, interval Greeks), the fake's option wire formats and its vendor error
codes and faults, checked against the synthetic market's ground truth and quant_engine.options."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Iterator

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from feeds_support import run
from quant_engine.errors import InvalidArgumentError, VendorPermissionError, VendorRequestError
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.synthetic_options import NS_PER_YEAR, expiry_close_ns
from quant_engine.feeds.thetadata import AsyncThetaDataClient, ThetaDataClient, ThetaDataStream, option_symbol
from quant_engine.options import THETADATA_COLUMNS, greeks, implied_vol
from quant_engine.sandbox import FakeThetaTerminal, SandboxMarket
from quant_engine.schema import TRADE_SCHEMA, VENDOR_QUOTE_SCHEMA

FAST = Backoff(initial=0.01, maximum=0.05, retries=5)
DAY = dt.date(2024, 1, 2)
START, END = "2024-01-02T14:30:00Z", "2024-01-02T16:30:00Z"  # 09:30 to 11:30 New York
_MS = 1_000_000


@pytest.fixture(scope="module")
def market() -> SandboxMarket:
    return SandboxMarket.synthetic_market(symbols=["AAPL", "MSFT"], ticks_per_day=5_000)


@pytest.fixture(scope="module")
def terminal(market: SandboxMarket) -> Iterator[FakeThetaTerminal]:
    with FakeThetaTerminal(market, max_concurrent=2, queue=2) as srv:
        yield srv


@pytest.fixture
def client(terminal: FakeThetaTerminal) -> Iterator[ThetaDataClient]:
    terminal.faults.__init__()  # type: ignore[misc]
    with ThetaDataClient(terminal.rest_url, backoff=FAST, timeout=30.0) as c:
        yield c


@pytest.fixture(scope="module")
def contract(market: SandboxMarket) -> tuple[dt.date, float]:
    """The first expiration's at-the-money strike of the listed chain."""
    assert market.synthetic is not None
    chain = market.synthetic.option_chain("AAPL")
    exp = chain.column("expiration")[0].as_py()
    spot = chain.column("underlying_price")[0].as_py()
    strikes = np.unique(chain.column("strike").to_numpy())
    return exp, float(strikes[np.argmin(np.abs(strikes - spot))])


def _window(t: pa.Table, lo: str = START, hi: str = END) -> pa.Table:
    ts = pc.cast(t.column("ts"), pa.int64())
    a, b = (int(dt.datetime.fromisoformat(x.replace("Z", "+00:00")).timestamp()) * 10**9 for x in (lo, hi))
    return t.filter(pc.and_(pc.greater_equal(ts, a), pc.less(ts, b)))


def _ms(t: pa.Table) -> list[int]:
    return [v // _MS * _MS for v in pc.cast(t.column("ts"), pa.int64()).to_pylist()]


def test_option_quotes_are_the_ground_truth_and_the_chain(
    client: ThetaDataClient, market: SandboxMarket, contract: tuple[dt.date, float]
) -> None:
    syn = market.synthetic
    assert syn is not None
    exp, k = contract
    got = client.option_quotes("AAPL", exp.isoformat(), START, END, strike=k, right="call")
    assert got.schema.equals(VENDOR_QUOTE_SCHEMA, check_metadata=False)
    assert set(got.column("symbol").to_pylist()) == {option_symbol("AAPL", exp.isoformat(), "C", k)}
    truth = _window(syn.option_quotes("AAPL", exp, k, "CALL", DAY))
    assert got.num_rows == truth.num_rows > 50
    assert pc.cast(got.column("ts"), pa.int64()).to_pylist() == _ms(truth)
    for name in ("bid", "ask", "bid_size", "ask_size", "bid_exchange", "ask_exchange"):
        assert got.column(name).to_pylist() == truth.column(name).to_pylist(), name
    bid, ask = got.column("bid").to_numpy(), got.column("ask").to_numpy()
    assert (ask > bid).all() and (bid >= 0).all()
    tick = np.where(ask < 3.0, 0.01, 0.05)
    assert np.allclose(np.round(ask / tick), ask / tick, atol=1e-6)  # on the option tick grid
    # The chain priced at 15:00 UTC quotes the contract exactly as the history's quote in force then.
    at = "2024-01-02T15:00:00Z"
    chain = syn.option_chain("AAPL", at=at, expirations=[exp.isoformat()])
    row = chain.filter(pc.and_(pc.equal(chain.column("strike"), k), pc.equal(chain.column("right"), "CALL")))
    assert row.num_rows == 1
    in_force = _window(got, START, at).slice(_window(got, START, at).num_rows - 1)
    assert (in_force.column("bid")[0].as_py(), in_force.column("ask")[0].as_py()) == (
        row.column("bid")[0].as_py(),
        row.column("ask")[0].as_py(),
    )
    # 5-minute quotes: the quote in force at each boundary, stamped at the boundary.
    ivl = client.option_quotes("AAPL", exp.isoformat(), START, END, strike=k, right="call", interval="5m")
    ts = pc.cast(ivl.column("ts"), pa.int64()).to_numpy()
    assert ivl.num_rows == 24 and (np.diff(ts) == 300 * 10**9).all()
    assert ivl.column("bid")[0].as_py() == ivl.column("ask")[0].as_py() == 0.0  # 09:30:00: no quote yet
    tick_ts = pc.cast(got.column("ts"), pa.int64()).to_numpy()
    j = np.searchsorted(tick_ts, ts[1:], "right") - 1
    assert ivl.column("bid").to_numpy()[1:].tolist() == bid[j].tolist()
    assert ivl.column("ask").to_numpy()[1:].tolist() == ask[j].tolist()


def test_option_trades_are_the_ground_truth_inside_the_quotes(
    client: ThetaDataClient, market: SandboxMarket, contract: tuple[dt.date, float]
) -> None:
    syn = market.synthetic
    assert syn is not None
    exp, k = contract
    got = client.option_trades(
        "AAPL", exp.isoformat(), "2024-01-02T14:30:00Z", "2024-01-02T21:00:00Z", strike=k, right="call"
    )
    assert got.schema.equals(TRADE_SCHEMA, check_metadata=False)
    truth = syn.option_trades("AAPL", exp, k, "CALL", DAY)
    assert got.num_rows == truth.num_rows > 5
    assert pc.cast(got.column("ts"), pa.int64()).to_pylist() == _ms(truth)
    for name in ("price", "size", "sequence", "exchange", "condition"):
        assert got.column(name).to_pylist() == truth.column(name).to_pylist(), name
    assert (np.diff(got.column("sequence").to_numpy()) > 0).all()
    o = syn.option_day("AAPL", exp, k, "CALL", DAY)
    j = o.quote_at(o.trade_ts)
    assert (
        (j >= 0).all()
        and (o.price >= o.bid[j] - 1e-9).all()
        and (o.price <= o.ask[j] + 1e-9).all()
        and (o.price > 0).all()
    )
    # strike * and right both: every listed contract of the expiration, OSI-style symbols.
    chain = syn.option_chain("AAPL")
    listed = set(
        chain.filter(pc.equal(chain.column("expiration"), pa.scalar(exp, pa.date32()))).column("symbol").to_pylist()
    )
    every = client.option_trades("AAPL", exp.isoformat(), "2024-01-02T14:30:00Z", "2024-01-02T21:00:00Z")
    names = set(every.column("symbol").to_pylist())
    assert names <= listed and len(names) >= len(listed) // 2
    assert {s[-9] for s in names} == {"C", "P"}


def _check_greeks(
    table: pa.Table, syn_market: SandboxMarket, exp: dt.date, k: float, order: str, rate: float = 0.04
) -> None:
    """The Greeks columns agree with quant_engine.options at the midpoint's implied vol."""
    syn = syn_market.synthetic
    assert syn is not None
    head = ["symbol", "expiration", "strike", "right", "timestamp", "bid", "ask"]
    assert table.column_names == head + list(THETADATA_COLUMNS[order]) + [
        "implied_vol",
        "iv_error",
        "underlying_timestamp",
        "underlying_price",
        "contract",
    ]
    ts = pc.cast(table.column("timestamp"), pa.int64()).to_numpy()
    bid, ask = table.column("bid").to_numpy(), table.column("ask").to_numpy()
    first = table.slice(0, 1).to_pylist()[0]  # 09:30:00, before the first quote: the vendor's sentinels
    assert first["bid"] == first["ask"] == 0.0 and first["implied_vol"] == 0.25 and first["iv_error"] == 100.0
    if "ultima" in THETADATA_COLUMNS[order]:
        assert first["ultima"] == -100.0
    spot = syn.underlying_mid("AAPL", DAY, ts)
    assert np.abs(table.column("underlying_price").to_numpy() - spot).max() <= 0.005 + 1e-9
    live = ask > 0
    assert live.sum() == len(ts) - 1
    years = (expiry_close_ns(exp) - ts[live]) / NS_PER_YEAR
    mid = (bid[live] + ask[live]) / 2
    iv = implied_vol(mid, spot[live], k, years, rate, 0.0, "call", strict=True).column("implied_vol").to_numpy()
    np.testing.assert_allclose(table.column("implied_vol").to_numpy()[live], iv, atol=5.1e-5, rtol=0)
    want = greeks(spot[live], k, years, rate, 0.0, iv, "call", order="all", units="thetadata")
    for name in THETADATA_COLUMNS[order]:
        np.testing.assert_allclose(
            table.column(name).to_numpy()[live], want.column(name).to_numpy(), atol=5.1e-5, rtol=1e-9, err_msg=name
        )
    np.testing.assert_allclose(table.column("iv_error").to_numpy()[live], 0.0, atol=5.1e-5)


def test_greeks_history_agree_with_quant_engine_options(
    client: ThetaDataClient, market: SandboxMarket, contract: tuple[dt.date, float]
) -> None:
    exp, k = contract
    for order in ("first_order", "second_order", "third_order", "all"):
        t = client.greeks_history("AAPL", exp.isoformat(), "2024-01-02", order, interval="15m", strike=k, right="call")
        assert t.num_rows == 27 and t.column("timestamp").type == pa.timestamp("ns", tz="UTC")
        assert t.column("expiration").type == pa.date32() and set(t.column("right").to_pylist()) == {"CALL"}
        _check_greeks(t, market, exp, k, order)
    at5 = client.greeks_history(
        "AAPL", exp.isoformat(), "2024-01-02", "first_order", interval="1h", strike=k, right="call", rate_value="5.0"
    )
    _check_greeks(at5, market, exp, k, "first_order", rate=0.05)
    ivs = client.greeks_history(
        "AAPL", exp.isoformat(), "2024-01-02", "implied_volatility", interval="30m", strike=k, right="call"
    )
    assert ivs.column_names[4:12] == [
        "timestamp",
        "bid",
        "bid_implied_vol",
        "midpoint",
        "implied_vol",
        "ask",
        "ask_implied_vol",
        "iv_error",
    ]
    live = ivs.filter(pc.greater(ivs.column("bid"), 0))
    assert live.num_rows == ivs.num_rows - 1
    assert pc.all(pc.less(live.column("bid_implied_vol"), live.column("implied_vol"))).as_py()
    assert pc.all(pc.less(live.column("implied_vol"), live.column("ask_implied_vol"))).as_py()
    both = client.greeks_history("AAPL", exp.isoformat(), "2024-01-02", "first_order", interval="1h")
    assert both.num_rows == 7 * 22 and len(set(both.column("contract").to_pylist())) == 22  # 11 strikes x call/put
    puts = both.filter(pc.and_(pc.equal(both.column("right"), "PUT"), pc.greater(both.column("ask"), 0)))
    assert pc.all(pc.less_equal(puts.column("delta"), 0)).as_py()
    with pytest.raises(InvalidArgumentError, match=r"expiration '\*'"):
        client.greeks_history("AAPL", "*", "2024-01-02")


def test_async_client_option_history(
    terminal: FakeThetaTerminal, client: ThetaDataClient, contract: tuple[dt.date, float]
) -> None:
    exp, k = contract

    async def main() -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
        async with AsyncThetaDataClient(terminal.rest_url, backoff=FAST, timeout=30.0) as c:
            exps = await c.option_expirations("AAPL")
            assert exp in exps.column("expiration").to_pylist()
            strikes = await c.option_strikes("AAPL", exp.isoformat())
            assert k in strikes.column("strike").to_pylist()
            result = await asyncio.gather(
                c.option_trades("AAPL", exp.isoformat(), START, END, strike=k, right="call"),
                c.option_quotes("AAPL", exp.isoformat(), START, END, strike=k, right="call", interval="1m"),
                c.greeks_history(
                    "AAPL", exp.isoformat(), "2024-01-02", "second_order", interval="10m", strike=k, right="call"
                ),
            )
            return exps, result[0], result[1], result[2]

    _, trades, quotes, second = run(main())
    assert trades.equals(client.option_trades("AAPL", exp.isoformat(), START, END, strike=k, right="call"))
    assert quotes.equals(
        client.option_quotes("AAPL", exp.isoformat(), START, END, strike=k, right="call", interval="1m")
    )
    assert second.equals(
        client.greeks_history(
            "AAPL", exp.isoformat(), "2024-01-02", "second_order", interval="10m", strike=k, right="call"
        )
    )
    assert quotes.num_rows == 120


def test_option_wire_formats(terminal: FakeThetaTerminal, contract: tuple[dt.date, float]) -> None:
    exp, k = contract
    base = terminal.rest_url + "/v3/option/history/"
    q = {
        "symbol": "AAPL",
        "expiration": exp.strftime("%Y%m%d"),
        "date": "20240102",
        "start_time": "09:30:00",
        "end_time": "12:00:00",
    }
    heads = {
        "trade": "symbol,expiration,strike,right,timestamp,sequence,ext_condition1,ext_condition2,ext_condition3,ext_condition4,condition,size,exchange,price",
        "quote": "symbol,expiration,strike,right,timestamp,bid_size,bid_exchange,bid,bid_condition,ask_size,ask_exchange,ask,ask_condition",
        "greeks/first_order": "symbol,expiration,strike,right,timestamp,bid,ask,delta,theta,vega,rho,epsilon,lambda,implied_vol,iv_error,underlying_timestamp,underlying_price",
        "greeks/second_order": "symbol,expiration,strike,right,timestamp,bid,ask,gamma,vanna,charm,vomma,veta,implied_vol,iv_error,underlying_timestamp,underlying_price",
        "greeks/third_order": "symbol,expiration,strike,right,timestamp,bid,ask,speed,zomma,color,ultima,implied_vol,iv_error,underlying_timestamp,underlying_price",
        "greeks/all": "symbol,expiration,strike,right,timestamp,bid,ask,delta,theta,vega,rho,epsilon,lambda,gamma,vanna,charm,vomma,veta,vera,"
        "speed,zomma,color,ultima,d1,d2,dual_delta,dual_gamma,implied_vol,iv_error,underlying_timestamp,underlying_price",
        "greeks/implied_volatility": "symbol,expiration,strike,right,timestamp,bid,bid_implied_vol,midpoint,implied_vol,ask,ask_implied_vol,iv_error,"
        "underlying_timestamp,underlying_price",
    }
    for path, head in heads.items():
        params = {**q, "interval": "30m"} if path != "trade" else dict(q)
        csv = httpx.get(base + path, params=params, timeout=30).content
        lines = csv.split(b"\r\n")
        assert lines[0].decode() == head, path
        assert csv.endswith(b"\r\n") and b"\n" not in csv.replace(b"\r\n", b""), path
        assert re.fullmatch(
            rb"AAPL," + exp.isoformat().encode() + rb",\d+\.\d{3},(CALL|PUT),2024-01-02T\d\d:\d\d:\d\d(\.\d{3})?,.*",
            lines[1],
        ), path
        nd = httpx.get(base + path, params={**params, "format": "ndjson"}, timeout=30).text.splitlines()
        assert len(nd) == len(lines) - 2 and set(json.loads(nd[0])) == set(head.split(",")), path
        js = httpx.get(base + path, params={**params, "format": "json"}, timeout=30)
        groups = js.json()["response"]
        assert len(groups) == 22 and sum(len(g["data"]) for g in groups) == len(nd), path
        assert list(groups[0]["contract"]) == ["symbol", "strike", "right", "expiration"]
        assert set(groups[0]["data"][0]) == set(head.split(",")) - {"symbol", "expiration", "strike", "right"}, path
        assert re.search(
            r'"contract":\{"symbol":"AAPL","strike":\d+\.\d{3},"right":"(CALL|PUT)","expiration":"\d{4}-\d\d-\d\d"\}',
            js.text,
        )
        if path != "trade":  # interval rows: whole boundaries, no .SSS
            assert (
                lines[1].split(b",")[4] == b"2024-01-02T09:30:00" and lines[2].split(b",")[4] == b"2024-01-02T10:00:00"
            )
    # the same values whatever the format
    csv_rows = httpx.get(base + "quote", params={**q, "interval": "1m"}).text.split("\r\n")
    nd_rows = [
        json.loads(x)
        for x in httpx.get(base + "quote", params={**q, "interval": "1m", "format": "ndjson"}).text.splitlines()
    ]
    assert [r.split(",")[7] for r in csv_rows[1:-1]] == [f"{r['bid']:.2f}" for r in nd_rows]
    # snapshots are option bodies too: JSON grouped by contract
    snap = httpx.get(
        terminal.rest_url + "/v3/option/snapshot/greeks/second_order",
        params={"symbol": "AAPL", "expiration": "*", "format": "json"},
    ).json()
    assert len(snap["response"]) == 88 and all(len(g["data"]) == 1 for g in snap["response"])
    assert {"gamma", "vanna", "charm", "vomma", "veta", "implied_vol"} <= set(snap["response"][0]["data"][0])


def test_option_vendor_errors_and_faults(
    client: ThetaDataClient, terminal: FakeThetaTerminal, market: SandboxMarket, contract: tuple[dt.date, float]
) -> None:
    exp, k = contract
    e = exp.strftime("%Y%m%d")
    url = terminal.rest_url + "/v3/option/history/"

    def status(path: str, **params: str) -> int:
        return httpx.get(url + path, params={"symbol": "AAPL", "date": "20240102", **params}, timeout=30).status_code

    assert status("greeks/first_order", expiration="*", interval="1h") == 473  # interval greeks refuse expiration *
    assert status("greeks/implied_volatility", expiration="*") == 473
    assert status("quote", expiration="*", interval="1h") == 200  # allowed on quotes and trades
    assert status("trade") == 473  # expiration missing
    assert status("quote", expiration=e) == 473  # interval missing
    assert status("quote", expiration=e, interval="7m") == 473
    assert status("trade", expiration=e, right="calls") == 473
    assert status("trade", expiration=e, strike="abc") == 473
    assert status("greeks/first_order", expiration=e, rate_type="libor") == 473
    assert status("greeks/fourth_order", expiration=e) == 404
    assert status("trade", expiration=e, strike="1.000") == 472  # not listed
    assert (
        httpx.get(
            url + "trade", params={"symbol": "AAPL", "expiration": e, "start_date": "20240102", "end_date": "20240301"}
        ).status_code
        == 570
    )
    assert httpx.get(url + "trade", params={"root": "AAPL", "exp": e, "date": "20240102"}).status_code == 410
    # the client: 472 is an empty table, 473 a typed error, 471 a permission error
    sat = client.option_trades(
        "AAPL", exp.isoformat(), "2024-01-06T15:00:00Z", "2024-01-06T16:00:00Z", strike=k, right="call"
    )
    assert sat.num_rows == 0 and sat.schema.equals(TRADE_SCHEMA, check_metadata=False)
    assert client.option_quotes("AAPL", exp.isoformat(), START, END, strike=1.0, right="put").num_rows == 0
    with pytest.raises(VendorRequestError) as bad:
        client.option_quotes("AAPL", exp.isoformat(), START, END, strike=k, right="call", interval="2m")
    assert bad.value.status == 473
    market.entitled = {"MSFT"}
    try:
        with pytest.raises(VendorPermissionError):
            client.greeks_history("AAPL", exp.isoformat(), "2024-01-02", strike=k, right="call")
    finally:
        market.entitled = None
    # retried: 429 (and the queue-full 429 of the concurrency limit), 5xx, 474
    whole = client.option_trades("AAPL", exp.isoformat(), START, END, strike=k, right="call")
    terminal.faults.update({"http_429": 2, "http_5xx": 1, "upstream_down": 0.1})
    assert client.option_trades("AAPL", exp.isoformat(), START, END, strike=k, right="call").equals(whole)
    assert terminal.faults.injected["http_429"] == 2 and terminal.faults.injected["http_5xx"] == 1
    terminal.faults.update({"large_request": 3})  # 570: the client splits the window
    assert client.option_trades("AAPL", exp.isoformat(), START, END, strike=k, right="call").equals(whole)
    assert terminal.faults.injected["large_request"] == 3
    for fault in ("truncate_body", "short_rows", "nan_rows"):
        before = client.rows_dropped
        terminal.faults.update({fault: 1})
        got = client.option_trades("AAPL", exp.isoformat(), START, END, strike=k, right="call")
        assert client.rows_dropped == before + 1, fault
        assert got.num_rows == (whole.num_rows - 1 if fault == "truncate_body" else whole.num_rows), fault
        assert pc.all(pc.is_finite(got.column("price"))).as_py()


def test_concurrency_limit_answers_429(terminal: FakeThetaTerminal, contract: tuple[dt.date, float]) -> None:
    exp, _ = contract
    params = {"symbol": "AAPL", "expiration": exp.strftime("%Y%m%d"), "date": "20240102", "interval": "1m"}

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as h:
            rs = await asyncio.gather(
                *[h.get(terminal.rest_url + "/v3/option/history/greeks/all", params=params) for _ in range(12)]
            )
            return [r.status_code for r in rs]

    codes = run(burst())
    assert 429 in codes and 200 in codes and set(codes) <= {200, 429}


def test_stream_carries_subscribed_option_trades_and_quotes(
    market: SandboxMarket, contract: tuple[dt.date, float]
) -> None:
    syn = market.synthetic
    assert syn is not None
    exp, k = contract
    osi = option_symbol("AAPL", exp.isoformat(), "C", k)
    with FakeThetaTerminal(market, speed=3000) as srv:

        async def main() -> tuple[list[pa.RecordBatch], list[pa.RecordBatch]]:
            s = ThetaDataStream(srv.ws_url, reconnect=Backoff(0.05, 0.2, retries=100))
            await s.start()
            await s.wait_ready(5)
            await s.subscribe("trades", osi)
            await s.subscribe("quotes", osi)
            trades: list[pa.RecordBatch] = []
            quotes: list[pa.RecordBatch] = []

            async def consume() -> None:
                async for batch in s:
                    (trades if batch.kind == "trades" else quotes).append(batch.data)
                    if sum(b.num_rows for b in trades) >= 5 and sum(b.num_rows for b in quotes) >= 50:
                        break

            await asyncio.wait_for(consume(), 30)
            assert srv.snapshot()["subscribed"] == sorted([f"quotes:{osi}", f"trades:{osi}"])
            await s.close()
            return trades, quotes

        trades, quotes = run(main())
    t = pa.Table.from_batches(trades)
    q = pa.Table.from_batches(quotes)
    assert set(pc.cast(t.column("symbol"), pa.string()).to_pylist()) == {
        osi
    }  # the put of that strike is not subscribed
    assert set(pc.cast(q.column("symbol"), pa.string()).to_pylist()) == {osi}
    truth = syn.option_trades("AAPL", exp, k, "CALL", DAY)
    n = t.num_rows
    assert pc.cast(t.column("ts"), pa.int64()).to_pylist() == _ms(truth)[:n]
    assert t.column("price").to_pylist() == truth.column("price").to_pylist()[:n]
    assert t.column("sequence").to_pylist() == truth.column("sequence").to_pylist()[:n]
    qt = syn.option_quotes("AAPL", exp, k, "CALL", DAY)
    m = q.num_rows
    assert pc.cast(q.column("ts"), pa.int64()).to_pylist() == _ms(qt)[:m]
    assert q.column("bid").to_pylist() == qt.column("bid").to_pylist()[:m]
    assert q.column("ask").to_pylist() == qt.column("ask").to_pylist()[:m]
