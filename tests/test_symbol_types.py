"""One symbol type across every table the package returns: ``symbol`` is a plain ``string`` (issue 9),
so tables from different producers (ticks, quotes, bars, decoded stream batches) join on it as they are."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from feeds_support import frames, theta_trade
from quant_engine._core import StreamDecoder
from quant_engine.bars import aggregate_ticks
from quant_engine.feeds.catalog import Catalog
from quant_engine.feeds.massive import MassiveClient
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.synthetic import SyntheticMarket
from quant_engine.feeds.thetadata import ThetaDataClient
from quant_engine.sandbox import FakeMassive, FakeThetaTerminal, SandboxMarket
from quant_engine.schema import QUOTE_SCHEMA, TICK_SCHEMA, TRADE_SCHEMA, VENDOR_QUOTE_SCHEMA

KEY = "mk-0123456789abcdef"
FAST = Backoff(initial=0.01, maximum=0.05, retries=6)
START, END = "2024-01-02T14:30:00Z", "2024-01-02T15:00:00Z"
T0_MS = 1_704_205_800_000  # 2024-01-02 14:30 UTC
MASSIVE_MSG = (
    b'[{"ev":"T","sym":"AAPL","i":"1","x":10,"p":161.87,"s":300,"c":[14,41],"t":1704205800001,"q":5,"z":3},'
    b'{"ev":"Q","sym":"MSFT","bx":1,"bp":370.5,"bs":2,"ax":2,"ap":370.6,"as":3,"c":1,"t":1704205800002,"q":6,"z":3},'
    b'{"ev":"AM","sym":"AAPL","v":4110,"vw":187.2,"o":187.15,"c":187.83,"h":188.05,"l":186.35,"z":685,'
    b'"s":1704205800000,"e":1704205860000}]'
)


@pytest.fixture(scope="module")
def synthetic() -> SyntheticMarket:
    return SyntheticMarket(symbols=["AAPL", "MSFT"], days=2, ticks_per_day=2_000)


@pytest.fixture(scope="module")
def market() -> SandboxMarket:
    m = SandboxMarket.synthetic_market(symbols=["AAPL", "MSFT"], ticks_per_day=2_000)
    m.entitled = {"AAPL", "MSFT"}
    return m


@pytest.fixture(scope="module")
def massive(market: SandboxMarket) -> Iterator[MassiveClient]:
    with (
        FakeMassive(market, api_key=KEY, speed=3000, batch=40) as srv,
        MassiveClient(KEY, srv.rest_url, backoff=FAST) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def theta(market: SandboxMarket) -> Iterator[ThetaDataClient]:
    with FakeThetaTerminal(market, speed=3000) as srv, ThetaDataClient(srv.rest_url, backoff=FAST, timeout=2.0) as c:
        yield c


def _decoded(vendor: str) -> list[pa.RecordBatch]:
    """Every non-empty batch (trades, quotes, aggregate bars) one decoder returns."""
    if vendor == "massive":
        wire = frames([MASSIVE_MSG])
    else:
        wire = frames([theta_trade("AAPL", T0_MS + 11, 1, 187.18), theta_trade("MSFT", T0_MS + 12, 2, 370.5)])
    return [b for b in StreamDecoder(vendor).feed(wire)[:3] if b is not None]


def _producers(
    synthetic: SyntheticMarket, market: SandboxMarket, massive: MassiveClient, theta: ThetaDataClient, tmp: Path
) -> dict[str, Callable[[], pa.Table | pa.RecordBatch]]:
    """Every public producer of a table with a ``symbol`` column."""
    exp = dt.date(2024, 1, 19)
    day = dt.date(2024, 1, 2)
    cat = Catalog(tmp)
    cat.append("trades", synthetic.trades())
    cat.append("quotes", synthetic.quotes())
    return {
        "SyntheticMarket.ticks": synthetic.ticks,
        "SyntheticMarket.trades": synthetic.trades,
        "SyntheticMarket.quotes": synthetic.quotes,
        "SyntheticMarket.day_batches": lambda: next(iter(synthetic.day_batches())),
        "SyntheticMarket.tick_batches": lambda: next(iter(synthetic.tick_batches(500))),
        "SyntheticMarket.option_chain": lambda: synthetic.option_chain("AAPL"),
        "SyntheticMarket.option_trades": lambda: synthetic.option_trades("AAPL", exp, 190.0, "C", day),
        "SyntheticMarket.option_quotes": lambda: synthetic.option_quotes("AAPL", exp, 190.0, "C", day),
        "SandboxMarket.all_trades": market.all_trades,
        "Catalog.read(trades)": lambda: cat.read("trades"),
        "Catalog.read(quotes)": lambda: cat.read("quotes"),
        "Catalog.bars": lambda: cat.bars(["AAPL", "MSFT"], START, END),
        "aggregate_ticks": lambda: aggregate_ticks(synthetic.ticks(), "1m"),
        "MassiveClient.trades": lambda: massive.trades("AAPL", START, END),
        "MassiveClient.quotes": lambda: massive.quotes("MSFT", START, "2024-01-02T14:35:00Z"),
        "MassiveClient.aggregates": lambda: massive.aggregates("AAPL", 1, "minute", START, END),
        "ThetaDataClient.stock_trades": lambda: theta.stock_trades("AAPL", START, END),
        "ThetaDataClient.stock_quotes": lambda: theta.stock_quotes(
            "MSFT", START, "2024-01-02T14:31:00Z", interval="1s"
        ),
        "ThetaDataClient.stock_ohlc": lambda: theta.stock_ohlc("MSFT", START, END, "5m"),
        **{f"StreamDecoder(massive)[{i}]": (lambda b=b: b) for i, b in enumerate(_decoded("massive"))},
        **{f"StreamDecoder(thetadata)[{i}]": (lambda b=b: b) for i, b in enumerate(_decoded("thetadata"))},
    }


def test_the_shared_schemas_use_string_symbols() -> None:
    for schema in (TICK_SCHEMA, TRADE_SCHEMA, QUOTE_SCHEMA, VENDOR_QUOTE_SCHEMA):
        assert schema.field("symbol").type == pa.string()


def test_every_public_producer_returns_string_symbols(
    synthetic: SyntheticMarket, market: SandboxMarket, massive: MassiveClient, theta: ThetaDataClient, tmp_path: Path
) -> None:
    producers = _producers(synthetic, market, massive, theta, tmp_path)
    assert sum(k.startswith("StreamDecoder(massive)") for k in producers) == 3  # trades, quotes, aggregate bars
    wrong = {}
    for name, make in producers.items():
        table = make()
        assert table.num_rows > 0, name
        if table.schema.field("symbol").type != pa.string():
            wrong[name] = str(table.schema.field("symbol").type)
    assert not wrong


def _joined(ticks: pa.Table | pa.RecordBatch, bars: pa.Table) -> pa.Table:
    """Bars joined to the ticks they hold, on ``symbol`` and the bar start (the tick's 1-minute floor). The bars
    are the left side: with dictionary tick symbols (one dictionary per chunk) pyarrow refuses this join."""
    t = pa.table(ticks) if isinstance(ticks, pa.RecordBatch) else ticks
    t = t.append_column("start", pc.floor_temporal(t.column("ts"), unit="minute"))
    return bars.select(["symbol", "start", "low", "high"]).join(
        t.select(["symbol", "start", "price"]), ["symbol", "start"]
    )


def _assert_every_tick_in_its_bar(joined: pa.Table, n_ticks: int) -> None:
    assert joined.num_rows == n_ticks
    assert pc.all(
        pc.and_(
            pc.greater_equal(joined.column("price"), joined.column("low")),
            pc.less_equal(joined.column("price"), joined.column("high")),
        )
    ).as_py()


def test_synthetic_ticks_join_their_bars(synthetic: SyntheticMarket) -> None:
    ticks = synthetic.ticks()
    _assert_every_tick_in_its_bar(_joined(ticks, aggregate_ticks(ticks, "1m")), ticks.num_rows)


def test_catalog_ticks_join_their_bars(synthetic: SyntheticMarket, tmp_path: Path) -> None:
    cat = Catalog(tmp_path)
    cat.append("trades", synthetic.trades())
    ticks = cat.read("trades")
    _assert_every_tick_in_its_bar(_joined(ticks, aggregate_ticks(synthetic.ticks(), "1m")), ticks.num_rows)
    stored = cat.bars(["AAPL", "MSFT"], START, END)
    assert _joined(ticks, stored).num_rows > 0


def test_decoded_stream_batches_join_bars(synthetic: SyntheticMarket) -> None:
    trades, quotes, aggs = StreamDecoder("massive").feed(frames([MASSIVE_MSG]))[:3]
    assert trades is not None and quotes is not None and aggs is not None
    bars = aggregate_ticks(pa.table(trades), "1m")
    _assert_every_tick_in_its_bar(_joined(trades, bars), trades.num_rows)
    assert pa.table(aggs).select(["symbol", "start"]).join(bars, ["symbol", "start"]).num_rows == 1
    assert aggregate_ticks(synthetic.ticks(), "1m").join(pa.table(quotes).select(["symbol"]), "symbol").num_rows > 0


def test_ticks_of_different_producers_concatenate_and_join(synthetic: SyntheticMarket, tmp_path: Path) -> None:
    cat = Catalog(tmp_path)
    cat.append("trades", synthetic.trades())
    decoded = pa.table(StreamDecoder("massive").feed(frames([MASSIVE_MSG]))[0])
    cols = ["ts", "symbol", "price", "size"]
    parts = [synthetic.ticks(), cat.read("trades"), decoded]
    ticks = pa.concat_tables([pa.table({c: t.column(c) for c in cols}) for t in parts])  # types as returned
    bars = aggregate_ticks(ticks.sort_by([("ts", "ascending")]), "1m")
    _assert_every_tick_in_its_bar(_joined(ticks, bars), ticks.num_rows)
