"""Property tests: the Rust bar engine against an independent Python model (tests/bar_oracle.py)
and the Numba reference kernel, on generated tick streams with out-of-order, duplicate-timestamp,
bad, null and multi-symbol ticks."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bar_oracle import BarOracle, OracleTick
from conftest import T0
from quant_engine.bars import MultiSymbolBuffer, StreamBuffer, aggregate_ticks_with_stats
from quant_engine.kernels.bars_reference import aggregate_reference

SYMBOLS = ["A", "B", "C"]
MS = 1_000_000

prices = st.one_of(
    st.integers(1, 400).map(lambda c: 100.0 + c * 0.01),
    st.sampled_from([math.nan, math.inf, 0.0, -5.0]),
    st.none(),
)
sizes = st.one_of(
    st.integers(0, 1000).map(float),
    st.sampled_from([-0.0, -1.0, math.nan, 0.37]),
    st.none(),
)


@st.composite
def tick_streams(draw: Any, symbols: list[str] = SYMBOLS, max_size: int = 250) -> list[OracleTick]:
    """Mostly increasing time on a coarse clock, with jitter, duplicates, bad values and nulls."""
    unit = draw(st.sampled_from([250, 500, 1000])) * MS
    n = draw(st.integers(1, max_size))
    clock = T0
    out = []
    for _ in range(n):
        clock += draw(st.sampled_from([0, 0, 1, 1, 2, 3, 7, 40])) * unit
        kind = draw(st.integers(0, 99))
        ts: int | None = clock
        if kind < 12:
            ts = clock - draw(st.integers(1, 12)) * unit
        elif kind == 12:
            ts = 5
        elif kind == 13:
            ts = None
        sym = draw(st.sampled_from(symbols + ["Z"] if draw(st.integers(0, 30)) == 0 else symbols))
        out.append(OracleTick(ts, sym, draw(prices) if kind % 9 else 100.5, draw(sizes) if kind % 11 else 10.0))
    return out


def _table(ticks: list[OracleTick], symbol_type: str = "dict") -> pa.Table:
    sym = pa.array([t.symbol for t in ticks], pa.string())
    if symbol_type == "dict":
        sym = sym.dictionary_encode()
    elif symbol_type == "large":
        sym = sym.cast(pa.large_string())
    return pa.table(
        {
            "ts": pa.array([t.ts for t in ticks], pa.int64()),
            "symbol": sym,
            "price": pa.array([t.price for t in ticks], pa.float64()),
            "size": pa.array([t.size for t in ticks], pa.float64()),
        }
    )


def _key(bar: dict[str, Any]) -> tuple[Any, ...]:
    """Bitwise-exact comparison key of one bar."""
    start = bar["start"]
    if not isinstance(start, int):
        start = int(pa.scalar(start, pa.timestamp("ns", tz="UTC")).value)
    floats = tuple(float(bar[c]).hex() for c in ("open", "high", "low", "close", "volume", "vwap"))
    return (bar["symbol"], start, *floats, int(bar["trades"]))


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    t = table.set_column(1, "start", table.column("start").cast(pa.int64()))
    return [_key(r) for r in t.to_pylist()]


def _by_symbol(rows: list[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        out[r[0]].append(r)
    return dict(out)


def _cuts(draw_cuts: list[int], n: int) -> list[tuple[int, int]]:
    bounds = sorted({0, n, *(c % (n + 1) for c in draw_cuts)})
    return list(zip(bounds[:-1], bounds[1:]))


PROFILE = settings(
    max_examples=int(os.environ.get("QE_HYPOTHESIS_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROFILE
@given(
    ticks=tick_streams(),
    interval_s=st.sampled_from([1, 5, 60]),
    lateness_ms=st.sampled_from([0, 500, 1000, 30_000]),
    cuts=st.lists(st.integers(0, 300), max_size=5),
    advance_every=st.sampled_from([0, 2]),
    fixed=st.booleans(),
    symbol_type=st.sampled_from(["dict", "string", "large"]),
)
def test_multi_symbol_stream_matches_oracle(
    ticks: list[OracleTick],
    interval_s: int,
    lateness_ms: int,
    cuts: list[int],
    advance_every: int,
    fixed: bool,
    symbol_type: str,
) -> None:
    interval, lateness = interval_s * 1_000_000_000, lateness_ms * MS
    buf = MultiSymbolBuffer(SYMBOLS if fixed else None, interval=interval, lateness=lateness, capacity=7, min_bars=3)
    oracle = BarOracle(interval, 0, lateness, frozenset(SYMBOLS) if fixed else None)
    table = _table(ticks, symbol_type)
    got: list[tuple[Any, ...]] = []
    for k, (a, b) in enumerate(_cuts(cuts, len(ticks))):
        got += _rows(buf.push(table.slice(a, b - a)))
        for t in ticks[a:b]:
            oracle.push(t)
        if advance_every and k % advance_every == 1:
            clock = max((t.ts for t in ticks[a:b] if t.ts and t.ts > 10**18), default=T0) + interval // 2
            got += _rows(buf.advance(clock))
            oracle.advance(clock)
    got += _rows(buf.flush())
    oracle.flush()
    want = [_key(b) for b in oracle.emitted]
    assert _by_symbol(got) == _by_symbol(want)
    stats = buf.stats()
    assert {k: v for k, v in stats["rejected"].items() if v} == dict(oracle.rejected)
    assert stats["ticks_seen"] == len(ticks)
    for sym, rows in _by_symbol(want).items():
        assert _rows(buf.bars(sym)) == rows[-7:]
        assert buf.is_ready(sym) == (len(rows) >= 3)


@PROFILE
@given(
    ticks=tick_streams(symbols=["A"]),
    lateness_ms=st.sampled_from([0, 1000]),
    single=st.booleans(),
)
def test_stream_buffer_matches_oracle(ticks: list[OracleTick], lateness_ms: int, single: bool) -> None:
    interval, lateness = 1_000_000_000, lateness_ms * MS
    buf = StreamBuffer("A", interval=interval, lateness=lateness, capacity=5, min_bars=2)
    oracle = BarOracle(interval, 0, lateness, frozenset(["A"]))
    got: list[tuple[Any, ...]] = []
    if single:  # one tick at a time, as from a live callback
        for t in ticks:
            if None in (t.ts, t.price, t.size) or t.symbol != "A":
                continue
            got += _rows(buf.push(t.ts, t.price, t.size))
            oracle.push(t)
    else:
        got += _rows(buf.push(_table(ticks)))
        for t in ticks:
            oracle.push(t)
    got += _rows(buf.flush())
    oracle.flush()
    assert got == [_key(b) for b in oracle.emitted]
    assert {k: v for k, v in buf.stats()["rejected"].items() if v} == dict(oracle.rejected)
    assert _rows(buf.bars()) == [_key(b) for b in oracle.emitted][-5:]


@PROFILE
@given(ticks=tick_streams(), interval_s=st.sampled_from([1, 5, 60]), cuts=st.lists(st.integers(0, 300), max_size=4))
def test_batch_aggregation_matches_oracle_and_numba_reference(
    ticks: list[OracleTick], interval_s: int, cuts: list[int]
) -> None:
    interval = interval_s * 1_000_000_000
    table = _table(ticks)
    # Feed the table as several record batches: state must carry across batches.
    batches = [b for a, e in _cuts(cuts, len(ticks)) for b in table.slice(a, e - a).to_batches()]
    reader = pa.RecordBatchReader.from_batches(table.schema, batches)
    bars, stats = aggregate_ticks_with_stats(reader, interval)
    oracle = BarOracle(interval, 0, None)
    for t in ticks:
        oracle.push(t)
    oracle.flush()
    assert _rows(bars) == sorted(_key(b) for b in oracle.emitted)
    assert {k: v for k, v in stats["rejected"].items() if v} == dict(oracle.rejected)
    ref, ref_rejects = aggregate_reference(table, interval)
    assert ref.equals(bars)  # bit for bit, column by column
    assert ref_rejects == stats["rejected"]


@PROFILE
@given(
    ticks=tick_streams(max_size=300),
    interval_s=st.sampled_from([1, 60]),
    cuts=st.lists(st.integers(0, 300), max_size=5),
)
def test_stream_and_batch_agree_when_nothing_is_late(ticks: list[OracleTick], interval_s: int, cuts: list[int]) -> None:
    ordered = sorted((t for t in ticks if t.ts is not None), key=lambda t: t.ts or 0)
    table = _table(ordered)
    interval = interval_s * 1_000_000_000
    buf = MultiSymbolBuffer(interval=interval, capacity=10_000, min_bars=0)
    streamed: list[tuple[Any, ...]] = []
    for a, b in _cuts(cuts, len(ordered)):
        streamed += _rows(buf.push(table.slice(a, b - a)))
    streamed += _rows(buf.flush())
    assert buf.stats()["rejected"]["late"] == 0
    batch, _ = aggregate_ticks_with_stats(table, interval)
    assert sorted(streamed) == _rows(batch)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_numba_reference_agrees_on_large_random_input(seed: int) -> None:
    """A larger input than hypothesis draws: 200k ticks, 50 symbols, 5% out of order, bad ticks."""
    rng = np.random.default_rng(seed)
    n = 200_000
    ts = T0 + np.sort(rng.integers(0, 3_600_000_000_000, n))
    swap = rng.random(n) < 0.05
    ts[swap] -= rng.integers(0, 120_000_000_000, int(swap.sum()))
    price = np.round(100 + np.cumsum(rng.normal(0, 0.05, n)), 2)
    price[rng.random(n) < 0.001] = np.nan
    size = rng.integers(0, 500, n).astype(float)
    size[rng.random(n) < 0.001] = -1
    codes = rng.integers(0, 50, n).astype(np.int32)
    table = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
            "symbol": pa.DictionaryArray.from_arrays(codes, [f"S{i:02d}" for i in range(50)]),
            "price": price,
            "size": size,
        }
    )
    for interval in (1_000_000_000, 60_000_000_000):
        bars, stats = aggregate_ticks_with_stats(table, interval)
        ref, ref_rejects = aggregate_reference(table, interval)
        assert ref.equals(bars)
        assert ref_rejects == stats["rejected"]
        assert stats["ticks_accepted"] == int(pa.compute.sum(bars.column("trades")).as_py())
