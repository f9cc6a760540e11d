"""New York wall clock on DST-change days: one conversion for the REST path
(``feeds.newyork.ny_wall_to_utc``) and the stream decoder (``decode/nytime.rs``), checked against
an independent oracle (``zoneinfo`` with PEP 495 ``fold=0``): ambiguous times take the earlier
instant, nonexistent ones the offset before the gap. Also the one option-symbol parser."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from feeds_support import theta_trade
from quant_engine import _core
from quant_engine.feeds.newyork import ny_wall_to_utc
from quant_engine.feeds.thetadata import ThetaDataStream, parse_option_symbol

NY = ZoneInfo("America/New_York")
DST_DAYS = [dt.date(2024, 3, 10), dt.date(2024, 11, 3), dt.date(2023, 3, 12), dt.date(2023, 11, 5), dt.date(2024, 1, 2)]


def _oracle_ns(day: dt.date, minute: int, ms: int = 0) -> int:
    local = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=NY)  # fold=0
    return int(local.timestamp()) * 1_000_000_000 + ms * 1_000_000


@pytest.mark.parametrize("day", DST_DAYS, ids=str)
def test_rest_path_matches_the_oracle_every_minute(day: dt.date) -> None:
    minutes = range(0, 6 * 60)  # midnight to 06:00 local: both transitions happen at 02:00
    text = pa.array([f"{day.isoformat()}T{m // 60:02d}:{m % 60:02d}:00" + (".250" if m % 2 else "") for m in minutes])
    got = pc.cast(ny_wall_to_utc(text), pa.int64()).to_pylist()
    assert got == [_oracle_ns(day, m, 250 if m % 2 else 0) for m in minutes]


@pytest.mark.parametrize("day", DST_DAYS, ids=str)
def test_stream_decoder_matches_the_rest_path(day: dt.date) -> None:
    date = int(day.strftime("%Y%m%d"))
    msgs = [theta_trade("AAPL", m * 60_000 + 7, 1000 + m, 100.0, date=date) for m in range(6 * 60)]
    stream = []
    for part in (msgs[:180], msgs[180:]):  # a fresh decoder each: 02:xx and 03:xx may map to the same instants
        trades = _core.StreamDecoder("thetadata").feed_messages(part)[0]
        stream += pc.cast(trades.column("ts"), pa.int64()).to_pylist()
    rest = pc.cast(
        ny_wall_to_utc(pa.array([f"{day.isoformat()}T{m // 60:02d}:{m % 60:02d}:00.007" for m in range(6 * 60)])),
        pa.int64(),
    ).to_pylist()
    assert stream == rest


def test_the_two_rules_by_name() -> None:
    spring = ny_wall_to_utc(pa.array(["2024-03-10T02:30:00", "2024-11-03T01:30:00"])).to_pylist()
    assert spring[0] == dt.datetime(2024, 3, 10, 7, 30, tzinfo=dt.UTC)  # nonexistent: EST, the offset before the gap
    assert spring[1] == dt.datetime(2024, 11, 3, 5, 30, tzinfo=dt.UTC)  # ambiguous: the earlier instant (EDT)
    assert ny_wall_to_utc(pa.array(["2024-01-02T09:30:00", None])).null_count == 1
    local = np.array([0], dtype=np.int64)
    assert _core.StreamDecoder.ny_wall_to_utc(local).tolist() == [5 * 3600 * 1_000_000_000]  # 1970-01-01 00:00 EST


def test_feed_option_symbols_use_the_one_parser() -> None:
    assert parse_option_symbol("AAPL240119C00190000") == ("AAPL", "20240119", "C", 190_000)
    assert parse_option_symbol("AAPL  240119C00190000") == ("AAPL", "20240119", "C", 190_000)  # OCC padded
    assert parse_option_symbol("O:SPXW240119P04800500") == ("SPXW", "20240119", "P", 4_800_500)
    for not_an_option in ("AAPL", "AAPL241341C00190000", "AAPL240230C00190000", "240119C00190000"):
        assert parse_option_symbol(not_an_option) is None, not_an_option
    s = ThetaDataStream("ws://127.0.0.1:1/v1/events")
    from quant_engine.feeds.stream import Subscription

    _, msg = s._request(Subscription("trades", "AAPL  240119C00190000"), True)
    assert b'"contract":{"root":"AAPL","expiration":20240119,"strike":190000,"right":"C"}' in msg
