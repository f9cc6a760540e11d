"""Bar engine benchmark: quant-engine against polars, pandas and Numba on the same 10 M ticks.

Cases (targets from the foundation issue):
* batch aggregation, one thread: 1 symbol (>= 300 M ticks/s) and 100 interleaved symbols
  (>= 200 M ticks/s), about 3x polars or better and no slower than the Numba reference;
* streaming ``push`` of 1,000-tick batches (>= 100 M ticks/s);
* one ``push`` of a single tick from Python (< 1 µs); ``bars()`` of a 500-bar window (< 10 µs);
* memory: 500 bars x 10,000 symbols in < 2x the raw column bytes.

Run: ``make bench`` or ``.venv/bin/python benches/bench_bars.py [--ticks N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numba as nb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

sys.path.insert(0, str(Path(__file__).parent))
from _harness import Bench, Timing, check_agree  # noqa: E402
from quant_engine.bars import MultiSymbolBuffer, StreamBuffer, aggregate_ticks  # noqa: E402
from quant_engine.kernels.bars_reference import aggregate_reference  # noqa: E402

T0 = 1_704_205_800 * 1_000_000_000
MINUTE = 60_000_000_000


def make_ticks(n: int, n_symbols: int, seed: int = 1) -> pa.Table:
    """Time-sorted ticks over 6.5 hours: random-walk prices, integer sizes, dictionary symbols."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.sort(rng.integers(0, 23_400_000_000_000, n))
    price = np.round(100 + np.cumsum(rng.normal(0, 0.01, n)), 2)
    size = rng.integers(1, 500, n).astype(np.float64)
    codes = rng.integers(0, n_symbols, n).astype(np.int32)
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
            "symbol": pa.DictionaryArray.from_arrays(codes, [f"S{i:03d}" for i in range(n_symbols)]),
            "price": price,
            "size": size,
        }
    )


@nb.njit(cache=True, nogil=True)
def numba_single_pass(ts, sym, price, size, nsym, interval):  # type: ignore[no-untyped-def]
    """The plain single-pass kernel of the issue's reference figures (sorted input)."""
    n = ts.shape[0]
    cur = np.full(nsym, -1, np.int64)
    cur_start = np.zeros(nsym, np.int64)
    # at most one bar per tick, and per symbol and interval (no bounds checks: never fewer)
    cap = min(n, nsym * ((ts[n - 1] - ts[0]) // interval + 2)) if n else 0
    o = np.empty(cap)
    h = np.empty(cap)
    lo = np.empty(cap)
    c = np.empty(cap)
    v = np.empty(cap)
    pv = np.empty(cap)
    tr = np.empty(cap, np.int64)
    nb_ = 0
    for i in range(n):
        k = sym[i]
        t = ts[i]
        p = price[i]
        s = size[i]
        j = cur[k]
        if j < 0 or t >= cur_start[k] + interval:
            j = nb_
            nb_ += 1
            cur[k] = j
            cur_start[k] = t - t % interval
            o[j] = p
            h[j] = p
            lo[j] = p
            c[j] = p
            v[j] = s
            pv[j] = p * s
            tr[j] = 1
        else:
            if p > h[j]:
                h[j] = p
            if p < lo[j]:
                lo[j] = p
            c[j] = p
            v[j] += s
            pv[j] += p * s
            tr[j] += 1
    # a checksum of what was built: bars, and the sums of closes and of volumes
    return nb_, c[:nb_].sum(), v[:nb_].sum()


def _figures(table: pa.Table, close: str = "close", volume: str = "volume") -> tuple[float, float, float]:
    """Bars, sum of closes, sum of volumes of a bar table (any row order)."""
    t = table if isinstance(table, pa.Table) else pa.table(table)
    return (
        float(t.num_rows),
        float(pa.compute.sum(t.column(close)).as_py()),
        float(pa.compute.sum(t.column(volume)).as_py()),
    )


def polars_one_symbol(df: pl.DataFrame) -> pl.DataFrame:
    return df.group_by_dynamic("ts", every="1m").agg(
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("size").sum().alias("volume"),
        ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"),
        pl.len().alias("trades"),
    )


def polars_many_symbols(df: pl.DataFrame) -> pl.DataFrame:
    return (
        df.lazy()
        .with_columns(pl.col("ts").dt.truncate("1m").alias("start"))
        .group_by(["symbol", "start"])
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("size").sum().alias("volume"),
            ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"),
            pl.len().alias("trades"),
        )
        .collect()
    )


def pandas_bars(df: pd.DataFrame) -> pd.DataFrame:
    df = df.assign(pv=df["price"] * df["size"], start=df["ts"].dt.floor("1min"))
    g = df.groupby(["symbol", "start"], observed=True, sort=False)
    out = g["price"].agg(["first", "max", "min", "last", "count"])
    sums = g[["size", "pv"]].sum()
    out["vwap"] = sums["pv"] / sums["size"]
    out["volume"] = sums["size"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ticks", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    n, rep = args.ticks, args.repeat
    bench = Bench("bars", items_label="ticks")

    for n_sym, target in ((1, ">= 300 M ticks/s, >= 3x polars"), (100, ">= 200 M ticks/s, >= 3x polars")):
        table = make_ticks(n, n_sym)
        df_pl = pl.from_arrow(table).with_columns(pl.col("symbol").cast(pl.String))
        df_pd = table.to_pandas()
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        codes = table.column("symbol").combine_chunks().indices.to_numpy()
        price = table.column("price").to_numpy()
        size = table.column("size").to_numpy()
        case = f"batch aggregation, {n_sym} symbol(s)"
        polars_fn = polars_one_symbol if n_sym == 1 else polars_many_symbols
        pd_out = pandas_bars(df_pd)
        check_agree(case, {
            "quant-engine": _figures(aggregate_ticks(table, "1m")),
            "numba reference": _figures(aggregate_reference(table, MINUTE)[0]),
            "numba single-pass": tuple(float(x) for x in numba_single_pass(ts, codes, price, size, n_sym, MINUTE)),
            "polars": _figures(polars_fn(df_pl).to_arrow()),
            "pandas": (float(len(pd_out)), float(pd_out["last"].sum()), float(pd_out["volume"].sum())),
        }, rel=1e-9)  # fmt: skip
        bench.case(case, n_items=n, baseline="polars", target=target)
        bench.time("quant-engine aggregate_ticks", lambda: aggregate_ticks(table, "1m"), repeat=rep)
        bench.time("numba reference (oracle)", lambda: aggregate_reference(table, MINUTE), repeat=rep)
        bench.time(
            "numba single-pass (sorted)", lambda: numba_single_pass(ts, codes, price, size, n_sym, MINUTE), repeat=rep
        )
        if n_sym == 1:
            bench.time("polars", lambda: polars_one_symbol(df_pl), repeat=rep, note="group_by_dynamic")
        else:
            bench.time("polars", lambda: polars_many_symbols(df_pl), repeat=rep, note="lazy group_by")
        bench.time("pandas", lambda: pandas_bars(df_pd), repeat=max(3, rep // 2))

    # Streaming: the same 10 M ticks (1 symbol) as 1,000-tick batches.
    table = make_ticks(n, 1)
    batches = table.drop_columns(["symbol"]).to_batches(max_chunksize=1000)
    arrays = [
        (b.column(0).cast(pa.int64()).to_numpy(), b.column(1).to_numpy(), b.column(2).to_numpy()) for b in batches
    ]

    def stream_arrow() -> None:
        buf = StreamBuffer("S000")
        for b in batches:
            buf.push(b)

    def stream_numpy() -> None:
        buf = StreamBuffer("S000")
        for a in arrays:
            buf.push_arrays(*a)

    buf_a, buf_n = StreamBuffer("S000"), StreamBuffer("S000")
    closed_a = [buf_a.push(b) for b in batches] + [buf_a.flush()]
    closed_n = [buf_n.push_arrays(*a) for a in arrays] + [buf_n.flush()]
    batch_one = _figures(aggregate_ticks(table, "1m"))
    check_agree("streaming push, 1 symbol", {
        "aggregate_ticks": batch_one,
        "StreamBuffer.push": _figures(pa.concat_tables([t for t in closed_a if t.num_rows])),
        "StreamBuffer.push_arrays": _figures(pa.concat_tables([t for t in closed_n if t.num_rows])),
    })  # fmt: skip
    bench.case("streaming push, 1,000-tick batches", n_items=n, target=">= 100 M ticks/s")
    bench.time("StreamBuffer.push(RecordBatch)", stream_arrow, repeat=max(3, rep // 2))
    bench.time("StreamBuffer.push_arrays(numpy)", stream_numpy, repeat=max(3, rep // 2))
    multi_table = make_ticks(n, 100)
    multi = multi_table.to_batches(max_chunksize=1000)
    mbuf_check = MultiSymbolBuffer(interval="1m")
    closed_m = [mbuf_check.push(b) for b in multi] + [mbuf_check.flush()]
    check_agree("streaming push, 100 symbols", {
        "aggregate_ticks": _figures(aggregate_ticks(multi_table, "1m")),
        "MultiSymbolBuffer.push": _figures(pa.concat_tables([t for t in closed_m if t.num_rows])),
    })  # fmt: skip

    def stream_multi() -> None:
        buf = MultiSymbolBuffer(interval="1m")
        for b in multi:
            buf.push(b)

    bench.time("MultiSymbolBuffer.push, 100 symbols", stream_multi, repeat=max(3, rep // 2))

    # Single tick from Python and the window export.
    m = 1_000_000
    ts_single = (T0 + np.arange(m, dtype=np.int64) * 1_000_000).tolist()
    pl_single = (100 + np.arange(m) % 100 * 0.01).tolist()

    def single() -> None:
        push = StreamBuffer("S000").push  # a fresh buffer per sample: every tick is accepted
        for t, p in zip(ts_single, pl_single):
            push(t, p, 1.0)

    push_check = StreamBuffer("S000").push
    closed_s = [b for b in (push_check(t, p, 1.0) for t, p in zip(ts_single, pl_single)) if b.num_rows]
    single_ticks = pa.table({"ts": pa.array(ts_single, pa.timestamp("ns", tz="UTC")), "symbol": ["S000"] * m,
                             "price": pl_single, "size": np.ones(m)})  # fmt: skip
    complete = _figures(aggregate_ticks(single_ticks, "1m").slice(0, len(closed_s)))
    check_agree(
        "push of one tick",
        {
            "aggregate_ticks (closed bars)": complete,
            "StreamBuffer.push(ts, price, size)": _figures(pa.concat_tables(closed_s)),
        },
    )

    bench.case("push of one tick from Python", n_items=m, target="< 1 µs per call")
    t = bench.time("StreamBuffer.push(ts, price, size)", single, repeat=3, warmup=0)
    print(f"  single push: {t.median / m * 1e9:.0f} ns per call", file=sys.stderr)

    win = StreamBuffer("S000", capacity=500)
    win.push(make_ticks(2_000_000, 1))
    win.push_arrays(
        T0 + 86_400 * 10**9 + np.arange(0, 600 * 60, dtype=np.int64) * 10**9, np.full(36_000, 100.0), np.ones(36_000)
    )
    assert len(win) == 500
    bench.case("bars() of a 500-bar window", n_items=1, target="< 10 µs")
    bench.time("StreamBuffer.bars()", win.bars, repeat=7, number=20_000)

    # Memory of the window store: 500 bars x 10,000 symbols.
    n_sym, cap = 10_000, 500
    mbuf = MultiSymbolBuffer(interval="1s", capacity=cap, min_bars=0)
    dictionary = pa.array([f"S{i:05d}" for i in range(n_sym)])
    for k in range(cap + 1):
        sym = pa.DictionaryArray.from_arrays(pa.array(np.arange(n_sym, dtype=np.int32)), dictionary)
        mbuf.push(
            pa.table(
                {
                    "ts": np.full(n_sym, T0 + k * 10**9),
                    "symbol": sym,
                    "price": np.full(n_sym, 10.0),
                    "size": np.ones(n_sym),
                }
            )
        )
    raw = n_sym * cap * 8 * 8
    bench.case("window store, 500 bars x 10,000 symbols", n_items=1, target="< 2x raw column bytes")
    t0 = time.perf_counter()
    snap = mbuf.snapshot()
    elapsed = time.perf_counter() - t0
    assert snap.num_rows == n_sym * cap, f"the window store holds {snap.num_rows:,} bars, not 500 of every symbol"
    bench.record(
        "MultiSymbolBuffer.snapshot()",
        Timing(elapsed, elapsed, elapsed, 1),
        note=f"memory {mbuf.memory_bytes() / 2**20:.0f} MiB = {mbuf.memory_bytes() / raw:.2f}x raw ({snap.num_rows:,} bars)",
    )
    bench.report()


if __name__ == "__main__":
    main()
