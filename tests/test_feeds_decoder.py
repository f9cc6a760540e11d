"""The Rust stream decoder through its binding: raw WebSocket bytes to Arrow batches."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds_support import chunks, frames, theta_trade
from quant_engine._core import StreamDecoder
from quant_engine.errors import InvalidArgumentError, StreamProtocolError
from quant_engine.schema import TRADE_SCHEMA, VENDOR_QUOTE_SCHEMA

T0_MS = 34_200_000  # 09:30 New York


def test_theta_trades_decode_to_the_trade_schema() -> None:
    d = StreamDecoder("thetadata")
    trades, quotes, bars, events = d.feed(
        frames([theta_trade("AAPL", T0_MS + 11, 1, 187.18), theta_trade("MSFT", T0_MS + 12, 2, 370.5)])
    )
    assert trades is not None and quotes is None and bars is None and events == []
    assert trades.schema.equals(TRADE_SCHEMA.remove_metadata(), check_metadata=False)
    t = trades.to_pydict()
    assert t["symbol"] == ["AAPL", "MSFT"]
    assert [x.value for x in t["ts"]] == [1_704_205_800_011_000_000, 1_704_205_800_012_000_000]  # NY -> UTC once
    assert t["price"] == [187.18, 370.5] and t["sequence"] == [1, 2] and t["exchange"] == [57, 57]


def test_quotes_statuses_and_control_events() -> None:
    d = StreamDecoder("thetadata")
    quote = (
        b'{"header":{"status":"CONNECTED","type":"QUOTE"},"contract":{"security_type":"STOCK","root":"AAPL"},'
        b'"quote":{"ms_of_day":34200011,"bid_size":3,"bid_exchange":1,"bid":187.10,"bid_condition":0,'
        b'"ask_size":1,"ask_exchange":1,"ask":187.20,"ask_condition":0,"date":20240102}}'
    )
    msgs = [
        b'{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"SUBSCRIBED","req_id":7}}',
        quote,
        b'{"header":{"status":"CONNECTED","type":"STATUS"}}',
        b'{"header":{"type":"STATE","status":"CONNECTED","state":"START"}}',
    ]
    trades, quotes, _, events = d.feed(frames(msgs) + bytes([0x89, 2]) + b"hi")
    assert trades is None and quotes is not None
    assert quotes.schema.equals(VENDOR_QUOTE_SCHEMA.remove_metadata(), check_metadata=False)
    assert quotes.to_pydict()["bid"] == [187.10]
    kinds = [k for k, _ in events]
    assert kinds == ["req_response", "upstream", "state", "ping"]
    assert events[-1][1] == b"hi"
    assert d.upstream == "CONNECTED"


def test_malformed_messages_are_counted_and_skipped() -> None:
    d = StreamDecoder("thetadata")
    good = [theta_trade("AAPL", T0_MS + i, i, 100.0 + i) for i in range(10)]
    bad = [
        b'{"header":{"type":"TRADE"',
        b"not json",
        b'{"header":{"type":"TRADE","status":"X"},"contract":{"root":"A"}}',
        b"[]",
    ]
    msgs = good[:5] + bad + good[5:]
    trades, *_ = d.feed(frames(msgs))
    assert trades.num_rows == 10
    assert d.stats()["malformed"] == 4


def test_massive_batches_unknown_events_and_aggregates() -> None:
    d = StreamDecoder("massive")
    msg = (
        b'[{"ev":"T","sym":"AAPL","i":"1","x":10,"p":161.87,"s":300,"c":[14,41],"t":1704205800001,"q":5,"z":3},'
        b'{"ev":"LULD","T":"AAPL"},'
        b'{"ev":"Q","sym":"O:SPY241220P00720000","bx":1,"bp":1.5,"bs":2,"ax":2,"ap":1.6,"as":3,"c":1,"t":1704205800002,"q":6,"z":3},'
        b'{"ev":"AM","sym":"AAPL","v":4110,"vw":187.2,"o":187.15,"c":187.83,"h":188.05,"l":186.35,"z":685,"s":1704205800000,"e":1704205860000},'
        b'{"ev":"status","status":"success","message":"subscribed to: T.AAPL"}]'
    )
    trades, quotes, bars, events = d.feed(frames([msg]))
    assert trades.to_pydict()["condition"] == [14]
    assert quotes.to_pydict()["symbol"] == ["SPY241220P00720000"]
    assert bars.to_pydict()["close"] == [187.83]
    assert events[0][0] == "status"
    assert d.stats()["unknown"] == 1


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 4000), dup_every=st.integers(2, 9))
def test_any_read_boundaries_and_duplicates(size: int, dup_every: int) -> None:
    msgs = []
    for i in range(300):
        m = theta_trade("AAPL" if i % 2 else "MSFT", T0_MS + i, i + 1, 100.0 + i / 100)
        msgs.append(m)
        if i % dup_every == 0:
            msgs.append(m)  # a resend
    d = StreamDecoder("thetadata")
    got = [b for piece in chunks(frames(msgs), size) if (b := d.feed(piece)[0]) is not None]
    out = pa.Table.from_batches(got)
    assert out.column("sequence").to_pylist() == list(range(1, 301))
    assert d.stats()["duplicates"] == len(msgs) - 300


def test_gap_holds_live_trades_until_backfilled() -> None:
    d = StreamDecoder("thetadata", dedupe_horizon_ns=60_000_000_000)
    all_msgs = [theta_trade("AAPL", T0_MS + 10 * i, i + 1, 100.0 + i) for i in range(100)]
    first = d.feed(frames(all_msgs[:30]))[0]
    d.begin_gap()
    d.reset_transport()
    trades, _, _, events = d.feed(frames(all_msgs[60:]))
    assert trades is None and d.held == 40
    assert [k for k, _ in events] == ["gap_open", "gap_ready"]
    gap = d.gaps()[0]
    assert gap["from"]["AAPL"] == first.column("ts")[-1].value
    assert gap["first"]["AAPL"] == gap["until"]
    # The backfill overlaps both sides; the release is complete, ordered and without duplicates.
    whole = StreamDecoder("thetadata").feed(frames(all_msgs))[0]
    backfill = pa.Table.from_batches([whole]).slice(25, 45)
    released = d.close_gap(backfill)
    seqs = first.column("sequence").to_pylist() + released.column("sequence").to_pylist()
    assert seqs == list(range(1, 101))
    assert d.gaps() == [] and d.held == 0
    with pytest.raises(InvalidArgumentError):
        d.close_gap(None)


def test_framing_violation_raises_protocol_error() -> None:
    d = StreamDecoder("massive")
    with pytest.raises(StreamProtocolError):
        d.feed(bytes([0x80, 1, 0x41]))  # continuation without a message
    with pytest.raises(InvalidArgumentError):
        StreamDecoder("bloomberg")
