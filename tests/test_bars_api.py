"""Behaviour of the public bar API: semantics, inputs, errors, warm-up, windows, events."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from conftest import MINUTE, SECOND, T0
from quant_engine import _core
from quant_engine.bars import MultiSymbolBuffer, StreamBuffer, aggregate_ticks, aggregate_ticks_with_stats
from quant_engine.errors import (
    BadDataError,
    InternalError,
    InvalidArgumentError,
    QuantEngineError,
    SchemaError,
    UnknownSymbolError,
)
from quant_engine.schema import BAR_SCHEMA


def ticks(rows: list[tuple[Any, ...]], symbol: bool = True) -> pa.Table:
    """(ts, symbol, price, size) rows, or (ts, price, size) with symbol=False."""
    if symbol:
        ts, sym, price, size = zip(*rows) if rows else ([], [], [], [])
        return pa.table(
            {"ts": pa.array(ts, pa.int64()), "symbol": pa.array(sym, pa.string()), "price": price, "size": size}
        )
    ts, price, size = zip(*rows) if rows else ([], [], [])
    return pa.table({"ts": pa.array(ts, pa.int64()), "price": pa.array(price, pa.float64()), "size": size})


# --- bar semantics -------------------------------------------------------------------------


def test_bar_fields_and_half_open_intervals() -> None:
    rows = [
        (T0 + 1 * SECOND, "AAPL", 10.0, 100.0),
        (T0 + 30 * SECOND, "AAPL", 12.0, 50.0),
        (T0 + 59 * SECOND, "AAPL", 9.0, 50.0),
        (T0 + MINUTE, "AAPL", 11.0, 10.0),  # exactly at the boundary: next bar
    ]
    bars = aggregate_ticks(ticks(rows), "1m")
    assert bars.schema == BAR_SCHEMA
    b = bars.to_pylist()
    assert [x["start"].timestamp() for x in b] == [T0 / 1e9, (T0 + MINUTE) / 1e9]
    assert (b[0]["open"], b[0]["high"], b[0]["low"], b[0]["close"]) == (10.0, 12.0, 9.0, 9.0)
    assert b[0]["volume"] == 200.0 and b[0]["trades"] == 3
    assert b[0]["vwap"] == (10 * 100 + 12 * 50 + 9 * 50) / 200
    assert b[1]["trades"] == 1


def test_open_and_close_follow_timestamps_and_zero_volume_vwap() -> None:
    rows = [
        (T0 + 20 * SECOND, "X", 10.0, 0.0),
        (T0 + 10 * SECOND, "X", 11.0, 0.0),  # earlier: becomes open
        (T0 + 40 * SECOND, "X", 12.0, 0.0),
        (T0 + 40 * SECOND, "X", 13.0, 0.0),  # same ts, later arrival: becomes close
    ]
    (b,) = aggregate_ticks(ticks(rows), "1m").to_pylist()
    assert (b["open"], b["close"], b["volume"]) == (11.0, 13.0, 0.0)
    assert b["vwap"] == 13.0  # all sizes zero: vwap is the close


def test_many_symbols_sorted_by_symbol_then_start() -> None:
    rows = [(T0 + k * 20 * SECOND, s, 100.0 + k, 1.0) for k in range(12) for s in ("MSFT", "AAPL", "AMZN")]
    bars = aggregate_ticks(ticks(rows), "1m")
    syms = bars.column("symbol").to_pylist()
    assert syms == sorted(syms)
    assert bars.num_rows == 3 * 4


def test_no_empty_bars_unless_asked() -> None:
    rows = [(T0, "A", 10.0, 1.0), (T0 + 3 * MINUTE + 5, "A", 11.0, 1.0)]
    assert aggregate_ticks(ticks(rows), "1m").num_rows == 2
    filled = aggregate_ticks(ticks(rows), "1m", fill_gaps=True).to_pylist()
    assert len(filled) == 4
    assert [f["trades"] for f in filled] == [1, 0, 0, 1]
    assert filled[1]["open"] == filled[1]["close"] == filled[1]["vwap"] == 10.0
    assert filled[1]["volume"] == 0.0


@pytest.mark.parametrize(
    ("interval", "ns"),
    [
        ("1s", SECOND),
        ("5s", 5 * SECOND),
        ("1m", MINUTE),
        ("5min", 5 * MINUTE),
        ("1h", 60 * MINUTE),
        ("1d", 1440 * MINUTE),
    ],
)
def test_intervals(interval: str, ns: int) -> None:
    rows = [(T0 + k * 7 * SECOND + 3, "A", 10.0 + k, 1.0) for k in range(2000)]
    bars = aggregate_ticks(ticks(rows), interval)
    starts = np.array(bars.column("start").cast(pa.int64()).to_pylist())
    assert np.all(starts % ns == 0)
    assert int(pa.compute.sum(bars.column("trades")).as_py()) == 2000
    assert StreamBuffer("A", interval=interval).interval_ns == ns


@pytest.mark.parametrize("bad", ["0s", "500ms", "2d", "1x", "", "-1m", "m"])
def test_bad_intervals_raise(bad: str) -> None:
    with pytest.raises(InvalidArgumentError):
        aggregate_ticks(ticks([]), bad)
    with pytest.raises(InvalidArgumentError):
        StreamBuffer("A", interval=bad)


def test_interval_accepts_timedelta_and_ns() -> None:
    assert StreamBuffer("A", interval=dt.timedelta(minutes=5)).interval_ns == 5 * MINUTE
    assert StreamBuffer("A", interval=np.timedelta64(30, "s")).interval_ns == 30 * SECOND
    assert StreamBuffer("A", interval=MINUTE, lateness=dt.timedelta(seconds=2)).lateness_ns == 2 * SECOND


def test_fixed_origin_shifts_the_grid() -> None:
    rows = [(T0 + k * SECOND, "A", 10.0, 1.0) for k in range(0, 300, 10)]
    bars = aggregate_ticks(ticks(rows), "1m", origin=T0 + 15 * SECOND)
    starts = [int(x) for x in bars.column("start").cast(pa.int64()).to_pylist()]
    assert starts[0] == T0 - 45 * SECOND and all((s - T0 - 15 * SECOND) % MINUTE == 0 for s in starts)
    iso = aggregate_ticks(ticks(rows), "1m", origin="2024-01-02T14:30:15Z")
    assert iso.equals(bars)


def test_session_origin_is_dst_aware() -> None:
    """Hourly bars anchored at 09:30 New York stay at :30 local across the March DST change, and
    daily bars span one local session day (23 h on the change)."""
    fri = 1_709_908_200 * SECOND  # 2024-03-08 09:30 EST
    mon = 1_710_163_800 * SECOND  # 2024-03-11 09:30 EDT
    rows = [(fri + k * 10 * MINUTE, "SPY", 500.0, 1.0) for k in range(0, 6 * 24 * 4)]
    hourly = aggregate_ticks(ticks(rows), "1h", origin="09:30 America/New_York")
    starts = {int(s) for s in hourly.column("start").cast(pa.int64()).to_pylist()}
    assert fri in starts and mon in starts
    daily = aggregate_ticks(ticks(rows), "1d", origin="09:30 America/New_York")
    d = [int(s) for s in daily.column("start").cast(pa.int64()).to_pylist()]
    assert d[:4] == [fri, fri + 86_400 * SECOND, fri + 2 * 86_400 * SECOND - 3600 * SECOND, mon]
    with pytest.raises(InvalidArgumentError):
        aggregate_ticks(ticks(rows), "1h", origin="09:30 Mars/Olympus")


# --- bad ticks ---------------------------------------------------------------------------


def test_bad_ticks_are_counted_by_reason_and_good_ones_kept() -> None:
    rows = [
        (T0 + 1, "A", 10.0, 1.0),
        (T0 + 2, "A", math.nan, 1.0),
        (T0 + 3, "A", math.inf, 1.0),
        (T0 + 4, "A", 0.0, 1.0),
        (T0 + 5, "A", -1.0, 1.0),
        (T0 + 6, "A", 10.0, math.nan),
        (T0 + 7, "A", 10.0, -2.0),
        (5, "A", 10.0, 1.0),
        (T0 + 8, "A", 11.0, 2.0),
    ]
    table = ticks(rows)
    table = pa.concat_tables(
        [
            table,
            pa.table(
                {"ts": pa.array([None, T0], pa.int64()), "symbol": ["A", None], "price": [1.0, 1.0], "size": [1.0, 1.0]}
            ),
        ]
    )
    bars, stats = aggregate_ticks_with_stats(table, "1m")
    assert bars.column("trades").to_pylist() == [2]
    assert bars.column("close").to_pylist() == [11.0]
    rejected = {k: v for k, v in stats["rejected"].items() if v}
    assert rejected == {
        "non_finite_price": 2,
        "non_positive_price": 2,
        "non_finite_size": 1,
        "negative_size": 1,
        "ts_out_of_range": 1,
        "null_field": 2,
    }
    assert stats["ticks_seen"] == 11 and stats["ticks_accepted"] == 2
    with pytest.raises(BadDataError, match="9 of 11 ticks rejected"):
        aggregate_ticks(table, "1m", strict=True)


def test_fixed_symbol_set_rejects_unknown() -> None:
    rows = [(T0, "A", 10.0, 1.0), (T0 + 1, "B", 10.0, 1.0), (T0 + 2, "", 10.0, 1.0)]
    bars, stats = aggregate_ticks_with_stats(ticks(rows), "1m", symbols=["A"])
    assert bars.column("symbol").to_pylist() == ["A"]
    assert stats["rejected"]["unknown_symbol"] == 2


# --- inputs ------------------------------------------------------------------------------


def _base() -> pa.Table:
    return ticks([(T0 + k * SECOND, "AAPL" if k % 2 else "MSFT", 100.0 + k, float(k % 5)) for k in range(200)])


def test_accepts_every_arrow_producer_and_pandas() -> None:
    import polars as pl
    from arro3.core import Table as Arro3Table

    base = _base()
    want = aggregate_ticks(base, "1m")
    assert aggregate_ticks(base.to_batches()[0], "1m").equals(want)
    assert aggregate_ticks(pl.from_arrow(base), "1m").equals(want)
    assert aggregate_ticks(Arro3Table.from_arrow(base), "1m").equals(want)
    assert aggregate_ticks(base.to_pandas(), "1m").equals(want)
    assert aggregate_ticks(base.to_pydict(), "1m").equals(want)
    reader = pa.RecordBatchReader.from_batches(base.schema, base.to_batches(max_chunksize=7))
    assert aggregate_ticks(reader, "1m").equals(want)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_timestamp_units_and_symbol_encodings(unit: str) -> None:
    base = _base()
    scale = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    ts = pa.array(np.asarray(base.column("ts")) // scale, pa.int64()).cast(pa.timestamp(unit, tz="UTC"))
    for sym in (
        base.column("symbol"),
        base.column("symbol").cast(pa.large_string()),
        base.column("symbol").cast(pa.string_view()),
        base.column("symbol").dictionary_encode(),
        pa.chunked_array(
            [
                pa.DictionaryArray.from_arrays(
                    pa.array(np.asarray([i % 2 for i in range(200)], np.uint8)), ["MSFT", "AAPL"]
                )
            ]
        ),
    ):
        t = pa.table({"ts": ts, "symbol": sym, "price": base.column("price"), "size": base.column("size")})
        bars = aggregate_ticks(t, "1m")
        assert bars.num_rows == 8
        assert sorted(set(bars.column("symbol").to_pylist())) == ["AAPL", "MSFT"]


def test_numeric_columns_of_other_types_are_converted() -> None:
    base = _base()
    t = base.set_column(3, "size", base.column("size").cast(pa.int32())).set_column(
        2, "price", base.column("price").cast(pa.float32())
    )
    assert aggregate_ticks(t, "1m").num_rows == 8


def test_columns_mapping_renames() -> None:
    t = _base().rename_columns(["timestamp", "ticker", "px", "qty"])
    bars = aggregate_ticks(t, "1m", columns={"timestamp": "ts", "ticker": "symbol", "px": "price", "qty": "size"})
    assert bars.num_rows == 8


def test_schema_errors_name_the_problem() -> None:
    with pytest.raises(SchemaError, match="'price'"):
        aggregate_ticks(_base().drop_columns(["price"]), "1m")
    with pytest.raises(SchemaError, match="'ts' has type"):
        aggregate_ticks(_base().set_column(0, "ts", pa.array(["x"] * 200)), "1m")
    with pytest.raises(SchemaError, match="numeric"):
        aggregate_ticks(_base().set_column(2, "price", pa.array(["x"] * 200)), "1m")
    with pytest.raises(SchemaError):
        aggregate_ticks(object(), "1m")
    with pytest.raises(SchemaError, match="symbol"):
        MultiSymbolBuffer().push(_base().drop_columns(["symbol"]))


# --- streaming -------------------------------------------------------------------------


def test_stream_buffer_push_closes_bars_and_keeps_window() -> None:
    buf = StreamBuffer("AAPL", interval="1m", capacity=3, min_bars=2)
    assert not buf.is_ready and buf.warmup_requirement() == 2 and buf.get_warmup_requirement() == 2
    closed = buf.push(ticks([(T0 + k * 20 * SECOND, 100.0 + k, 1.0) for k in range(15)], symbol=False))
    assert closed.num_rows == 4 and closed.schema == BAR_SCHEMA
    assert len(buf) == 3 and buf.is_ready and buf.warmup_requirement() == 0
    window = buf.bars()
    assert window.column("start").cast(pa.int64()).to_pylist() == [T0 + k * MINUTE for k in (1, 2, 3)]
    assert window.to_pandas().shape == (3, 9)
    import polars as pl

    assert pl.from_arrow(window).height == 3
    cur = buf.current_bar()
    assert cur is not None and cur["start"] == T0 + 4 * MINUTE and cur["trades"] == 3
    s = buf.stats()
    assert (s["ticks_seen"], s["ticks_accepted"], s["bars_closed"], s["open_bars"]) == (15, 15, 4, 1)
    assert s["watermark"] == T0 + 14 * 20 * SECOND


def test_single_tick_push_and_numpy_arrays() -> None:
    a = StreamBuffer("A", interval="1s")
    b = StreamBuffer("A", interval="1s")
    ts = T0 + np.arange(100, dtype=np.int64) * 300_000_000
    price = 10 + np.arange(100) * 0.01
    size = np.ones(100)
    out_a = [a.push(int(t), float(p), float(s)) for t, p, s in zip(ts, price, size)]
    out_b = b.push_arrays(ts, price, size)
    assert pa.concat_tables(out_a).equals(out_b)
    with pytest.raises(InvalidArgumentError):
        a.push(T0, 1.0)
    with pytest.raises(InvalidArgumentError, match="lengths differ"):
        a.push_arrays(ts, price[:5], size)


def test_symbol_column_in_stream_buffer_must_match() -> None:
    buf = StreamBuffer("AAPL")
    buf.push(ticks([(T0, "AAPL", 1.0, 1.0), (T0 + 1, "MSFT", 1.0, 1.0)]))
    assert buf.stats()["rejected"]["unknown_symbol"] == 1


def test_late_ticks_are_counted_and_dropped() -> None:
    buf = StreamBuffer("A", interval="1m", lateness="5s")
    buf.push(ticks([(T0 + SECOND, 10.0, 1.0), (T0 + MINUTE + 2 * SECOND, 11.0, 1.0)], symbol=False))
    buf.push(ticks([(T0 + 30 * SECOND, 9.0, 1.0)], symbol=False))  # within lateness: merged
    closed = buf.push(ticks([(T0 + MINUTE + 6 * SECOND, 12.0, 1.0)], symbol=False))
    assert closed.column("low").to_pylist() == [9.0] and closed.column("trades").to_pylist() == [2]
    buf.push(ticks([(T0 + 59 * SECOND, 1.0, 1.0)], symbol=False))  # its bar is closed: late
    assert buf.stats()["rejected"]["late"] == 1
    assert buf.bars().column("low").to_pylist() == [9.0]


def test_advance_closes_by_clock_and_flush_closes_everything() -> None:
    buf = StreamBuffer("A", interval="1m", fill_gaps=True)
    buf.push(ticks([(T0 + SECOND, 10.0, 1.0)], symbol=False))
    assert buf.advance(T0 + MINUTE - 1).num_rows == 0
    assert buf.advance(T0 + MINUTE).num_rows == 1
    filled = buf.advance(T0 + 4 * MINUTE)
    assert filled.column("trades").to_pylist() == [0, 0, 0]
    buf.push(ticks([(T0 + 4 * MINUTE + 1, 11.0, 1.0)], symbol=False))
    assert buf.flush().column("close").to_pylist() == [11.0]
    with pytest.raises(InvalidArgumentError):
        buf.advance(0)


def test_warmup_injects_history_and_reports() -> None:
    hist = aggregate_ticks(ticks([(T0 + k * 10 * SECOND, "A", 10.0 + k * 0.1, 1.0) for k in range(6 * 60)]), "1m")
    buf = StreamBuffer("A", interval="1m", min_bars=50)
    report = buf.warmup(hist.slice(10))
    assert report["inserted"] == 50 and buf.is_ready
    report = buf.warmup(hist)  # older rows are prepended, overlapping ones skipped
    assert report["inserted"] == 10 and report["skipped_overlap"] == 50
    assert len(buf) == 60
    # Ticks for warmed-up intervals are late; the next interval trades normally.
    buf.push(ticks([(T0 + 30 * SECOND, 1.0, 1.0), (T0 + 60 * MINUTE, 20.0, 1.0)], symbol=False))
    assert buf.stats()["rejected"]["late"] == 1 and buf.current_bar() is not None
    bad = hist.slice(0, 3).set_column(3, "high", pa.array([1.0, 1.0, 1.0]))
    misaligned = hist.slice(0, 1).set_column(1, "start", pa.array([T0 + 7], pa.int64()))
    fresh = StreamBuffer("A", interval="1m")
    r = fresh.warmup(pa.concat_tables([bad.cast(bad.schema), misaligned.cast(bad.schema)]))
    assert (r["rejected_invalid"], r["rejected_misaligned"], r["inserted"]) == (3, 1, 0)
    other = fresh.warmup(hist.set_column(0, "symbol", pa.array(["B"] * hist.num_rows)))
    assert other["skipped_other_symbol"] == hist.num_rows
    with pytest.raises(SchemaError, match="'close'"):
        fresh.warmup(hist.drop_columns(["close"]))


def test_constructor_validation() -> None:
    with pytest.raises(InvalidArgumentError, match="min_bars"):
        StreamBuffer("A", capacity=10, min_bars=11)
    with pytest.raises(InvalidArgumentError, match="capacity"):
        StreamBuffer("A", capacity=0, min_bars=0)
    with pytest.raises(InvalidArgumentError, match="lateness"):
        StreamBuffer("A", lateness="2d")
    with pytest.raises(InvalidArgumentError, match="duplicate"):
        MultiSymbolBuffer(["A", "A"])
    with pytest.raises((OverflowError, TypeError)):
        StreamBuffer("A", capacity=-1)


def test_multi_symbol_buffer_events_and_queries() -> None:
    seen: list[pa.Table] = []
    buf = MultiSymbolBuffer(["AAPL", "MSFT"], interval="1m", capacity=10, min_bars=2, on_bar=seen.append)
    rows = [(T0 + k * 20 * SECOND, s, 100.0 + k, 1.0) for k in range(9) for s in ("AAPL", "MSFT", "TSLA")]
    closed = buf.push(ticks(rows))
    assert closed.num_rows == 4 and len(seen) == 1 and seen[0].equals(closed)
    assert buf.stats()["rejected"]["unknown_symbol"] == 9
    assert buf.ready_symbols() == ["AAPL", "MSFT"] and buf.is_ready("AAPL")
    assert buf.warmup_requirement() == {"AAPL": 0, "MSFT": 0} and buf.warmup_requirement("MSFT") == 0
    assert buf.bars("MSFT").num_rows == 2 and buf.snapshot().num_rows == 4
    assert "AAPL" in buf and "TSLA" not in buf and len(buf) == 2 and buf.symbols() == ["AAPL", "MSFT"]
    with pytest.raises(UnknownSymbolError):
        buf.bars("TSLA")
    assert buf.push_tick("TSLA", T0, 1.0, 1.0).num_rows == 0
    assert buf.current_bar("AAPL") is not None
    per = buf.stats("AAPL")
    assert per["bars_closed"] == 2 and per["ticks_accepted"] == 9


def test_multi_symbol_stream_iterator_and_dynamic_symbols() -> None:
    buf = MultiSymbolBuffer(interval="1m", min_bars=1)
    table = ticks([(T0 + k * 20 * SECOND, f"S{k % 4}", 100.0 + k, 1.0) for k in range(40)])
    events = list(buf.stream(table.to_batches(max_chunksize=5), flush=True))
    assert all(e.num_rows for e in events)
    total = pa.concat_tables(events)
    assert total.num_rows == aggregate_ticks(table, "1m").num_rows
    assert sorted(buf.symbols()) == ["S0", "S1", "S2", "S3"]


def test_advance_applies_to_symbols_registered_later() -> None:
    """Results must not depend on when a symbol was first seen (a dictionary column registers
    every value of its dictionary at once; a plain string column only those present)."""
    rows = [(T0 - 250_000_000, "B", 10.0, 1.0), (T0 - 250_000_000, "A", 10.0, 1.0)]
    for table in (ticks(rows), ticks(rows).set_column(1, "symbol", ticks(rows).column("symbol").dictionary_encode())):
        buf = MultiSymbolBuffer(interval="1s")
        buf.push(table.slice(0, 1))
        buf.advance(T0 + 250_000_000)
        buf.push(table.slice(1, 1))
        assert buf.stats()["rejected"]["late"] == 1


def test_callback_exceptions_propagate() -> None:
    def boom(_: pa.Table) -> None:
        raise RuntimeError("callback failed")

    buf = StreamBuffer("A", interval="1s", on_bar=boom)
    buf.push(T0, 1.0, 1.0)
    with pytest.raises(RuntimeError, match="callback failed"):
        buf.push(T0 + 2 * SECOND, 1.0, 1.0)
    assert len(buf) == 1  # the bar was kept before the callback ran


# --- FFI safety --------------------------------------------------------------------------


def test_rust_panic_becomes_internal_error_not_a_crash() -> None:
    with pytest.raises(InternalError, match="boom"):
        _core._debug_panic("boom")
    buf = StreamBuffer("A")
    with pytest.raises(InternalError):
        buf._debug_panic()
    with pytest.raises(InternalError, match="unusable"):
        buf.push(T0, 1.0, 1.0)
    assert issubclass(InternalError, QuantEngineError) and issubclass(InternalError, Exception)


def test_memory_of_window_store_is_within_twice_raw_bytes() -> None:
    """500 bars x 10,000 symbols: the window store holds them in < 2x the raw column bytes."""
    n_sym, cap = 10_000, 500
    buf = MultiSymbolBuffer(interval="1s", capacity=cap, min_bars=0)
    syms = pa.array([f"S{i:05d}" for i in range(n_sym)]).dictionary_encode()
    sym_col = pa.DictionaryArray.from_arrays(
        pa.array(np.tile(np.arange(n_sym, dtype=np.int32), cap + 1)), syms.dictionary
    )
    ts = np.repeat(T0 + np.arange(cap + 1, dtype=np.int64) * SECOND, n_sym)
    buf.push(pa.table({"ts": ts, "symbol": sym_col, "price": np.full(len(ts), 10.0), "size": np.ones(len(ts))}))
    assert buf.snapshot().num_rows == n_sym * cap
    raw = n_sym * cap * 8 * 8  # 8 columns of 8 bytes (the symbol is stored once per symbol)
    assert buf.memory_bytes() <= 2 * raw
    assert buf.memory_bytes() == raw  # growth is capped exactly at capacity
