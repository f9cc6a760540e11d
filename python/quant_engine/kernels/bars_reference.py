"""Numba reference kernel for batch tick-to-bar aggregation: the oracle for the Rust engine.

A deliberately plain single-pass implementation of the semantics in :mod:`quant_engine.bars`
(fixed-origin grids). It must agree *bit for bit* with ``quant_engine.bars.aggregate_ticks``: the
conformance tests compare every column's bytes. It is also the Numba peer in
``benches/bench_bars.py``.

Rules mirrored exactly: validation order (timestamp range, price, size), open/close by timestamp
with arrival order breaking ties, ``volume`` and ``sum(price * size)`` accumulated in arrival
order starting from the first tick's values, ``vwap = pv / volume`` (``close`` when volume is 0),
output sorted by symbol name, then start.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import pyarrow as pa

from quant_engine import _core
from quant_engine.kernels import compile_watch
from quant_engine.schema import BAR_SCHEMA

compile_watch.install()  # notice + compile time of first-run compilations

__all__ = ["aggregate_reference", "REASONS"]

REASONS: tuple[str, ...] = tuple(_core.REJECT_REASONS)
_NULL, _NONFIN_P, _NONPOS_P, _NONFIN_S, _NEG_S, _TS_RANGE, _UNKNOWN = 0, 1, 2, 3, 4, 5, 6
_MIN_TS = int(_core.MIN_TS)
_MAX_TS = int(_core.MAX_TS)
_KEY = nb.types.UniTuple(nb.types.int64, 2)  # type: ignore[no-untyped-call]


@nb.njit(cache=True, nogil=True)
def _aggregate(ts, sym, price, size, valid, nsym, interval, origin, min_ts, max_ts):  # type: ignore[no-untyped-def]
    n = ts.shape[0]
    cap = 1024
    b_sym = np.empty(cap, np.int64)
    b_start = np.empty(cap, np.int64)
    b_open = np.empty(cap, np.float64)
    b_high = np.empty(cap, np.float64)
    b_low = np.empty(cap, np.float64)
    b_close = np.empty(cap, np.float64)
    b_vol = np.empty(cap, np.float64)
    b_pv = np.empty(cap, np.float64)
    b_trades = np.empty(cap, np.int64)
    b_open_ts = np.empty(cap, np.int64)
    b_close_ts = np.empty(cap, np.int64)
    nbars = 0
    cur = np.full(nsym, -1, np.int64)
    cur_start = np.zeros(nsym, np.int64)
    index = nb.typed.Dict.empty(key_type=_KEY, value_type=nb.types.int64)
    rejects = np.zeros(8, np.int64)
    for i in range(n):
        if not valid[i]:
            rejects[_NULL] += 1
            continue
        t = ts[i]
        p = price[i]
        s = size[i]
        k = sym[i]
        if k < 0 or k >= nsym:
            rejects[_UNKNOWN] += 1
            continue
        if t < min_ts or t >= max_ts:
            rejects[_TS_RANGE] += 1
            continue
        if not np.isfinite(p):
            rejects[_NONFIN_P] += 1
            continue
        if p <= 0.0:
            rejects[_NONPOS_P] += 1
            continue
        if not np.isfinite(s):
            rejects[_NONFIN_S] += 1
            continue
        if s < 0.0:
            rejects[_NEG_S] += 1
            continue
        j = cur[k]
        if j < 0 or t < cur_start[k] or t >= cur_start[k] + interval:
            start = origin + ((t - origin) // interval) * interval
            key = (np.int64(k), np.int64(start))
            if key in index:
                j = index[key]
            else:
                if nbars == cap:
                    cap *= 2
                    b_sym = np.concatenate((b_sym, np.empty(cap - nbars, np.int64)))
                    b_start = np.concatenate((b_start, np.empty(cap - nbars, np.int64)))
                    b_open = np.concatenate((b_open, np.empty(cap - nbars, np.float64)))
                    b_high = np.concatenate((b_high, np.empty(cap - nbars, np.float64)))
                    b_low = np.concatenate((b_low, np.empty(cap - nbars, np.float64)))
                    b_close = np.concatenate((b_close, np.empty(cap - nbars, np.float64)))
                    b_vol = np.concatenate((b_vol, np.empty(cap - nbars, np.float64)))
                    b_pv = np.concatenate((b_pv, np.empty(cap - nbars, np.float64)))
                    b_trades = np.concatenate((b_trades, np.empty(cap - nbars, np.int64)))
                    b_open_ts = np.concatenate((b_open_ts, np.empty(cap - nbars, np.int64)))
                    b_close_ts = np.concatenate((b_close_ts, np.empty(cap - nbars, np.int64)))
                j = nbars
                nbars += 1
                index[key] = j
                b_sym[j] = k
                b_start[j] = start
                b_open[j] = p
                b_high[j] = p
                b_low[j] = p
                b_close[j] = p
                b_vol[j] = s
                b_pv[j] = p * s
                b_trades[j] = 1
                b_open_ts[j] = t
                b_close_ts[j] = t
                if start >= cur_start[k] or cur[k] < 0:
                    cur[k] = j
                    cur_start[k] = start
                continue
            if start >= cur_start[k]:
                cur[k] = j
                cur_start[k] = start
        if p > b_high[j]:
            b_high[j] = p
        if p < b_low[j]:
            b_low[j] = p
        if t < b_open_ts[j]:
            b_open[j] = p
            b_open_ts[j] = t
        if t >= b_close_ts[j]:
            b_close[j] = p
            b_close_ts[j] = t
        b_vol[j] += s
        b_pv[j] += p * s
        b_trades[j] += 1
    vwap = np.empty(nbars, np.float64)
    for j in range(nbars):
        vwap[j] = b_pv[j] / b_vol[j] if b_vol[j] > 0.0 else b_close[j]
    return (
        b_sym[:nbars],
        b_start[:nbars],
        b_open[:nbars],
        b_high[:nbars],
        b_low[:nbars],
        b_close[:nbars],
        b_vol[:nbars],
        vwap,
        b_trades[:nbars],
        rejects,
    )


def aggregate_reference(ticks: Any, interval_ns: int, origin_ns: int = 0) -> tuple[pa.Table, dict[str, int]]:
    """Aggregates an Arrow table of ticks (``ts``, ``symbol``, ``price``, ``size``) with the
    reference kernel; returns the bar table (same schema and order as ``aggregate_ticks``) and
    the rejection counts by reason."""
    table = ticks if isinstance(ticks, pa.Table) else pa.table(ticks)
    ts_col = table.column("ts")
    if pa.types.is_timestamp(ts_col.type):
        ts_col = ts_col.cast(pa.timestamp("ns", tz=ts_col.type.tz))
    sym_col = table.column("symbol").combine_chunks()
    if not pa.types.is_dictionary(sym_col.type):
        sym_col = sym_col.dictionary_encode()
    names = [str(x) for x in sym_col.dictionary.to_pylist()]
    codes = sym_col.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    valid = np.ones(len(table), dtype=np.bool_)
    for col in (ts_col, table.column("price"), table.column("size"), sym_col):
        if col.null_count:
            valid &= ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    codes = np.where(valid, codes, 0)
    ts = np.asarray(ts_col.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
    price = np.asarray(table.column("price").cast(pa.float64()).fill_null(0.0).to_numpy(), dtype=np.float64)
    size = np.asarray(table.column("size").cast(pa.float64()).fill_null(0.0).to_numpy(), dtype=np.float64)
    interval = np.int64(interval_ns)
    origin = np.int64(origin_ns % interval_ns)
    out = _aggregate(ts, codes, price, size, valid, len(names), interval, origin, _MIN_TS, _MAX_TS)
    b_sym, start, o, h, lo, c, v, vw, tr, rejects = out
    order = np.lexsort((start, np.argsort(np.argsort(np.array(names, dtype=object)))[b_sym] if len(b_sym) else b_sym))
    bars = pa.table(
        {
            "symbol": pa.array([names[k] for k in b_sym[order]], pa.string()),
            "start": pa.array(start[order], pa.timestamp("ns", tz="UTC")),
            "open": o[order],
            "high": h[order],
            "low": lo[order],
            "close": c[order],
            "volume": v[order],
            "vwap": vw[order],
            "trades": tr[order],
        },
        schema=BAR_SCHEMA,
    )
    counts = {reason: int(rejects[i]) for i, reason in enumerate(REASONS)}
    return bars, counts
