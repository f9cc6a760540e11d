"""Bars of many symbols as contiguous per-symbol segments, for kernels that run symbol by symbol.

Validates the bar table once (required columns, strictly increasing ``start`` per symbol,
positive finite prices) so the Numba kernels can trust their inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.errors import SchemaError
from quant_engine.schema import TIMESTAMP
from quant_engine.tables import as_table

__all__ = ["bars_table", "sorted_segments", "positive_column", "float_column"]


def bars_table(bars: Any, required: tuple[str, ...]) -> pa.Table:
    """``bars`` (anything :func:`quant_engine.tables.as_table` accepts) as a ``pyarrow.Table``
    with the ``required`` columns (else :class:`SchemaError`)."""
    return as_table(bars, what="bars", required=required)


def sorted_segments(bars: pa.Table) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Bars sorted by symbol then start, with the row range of each symbol."""
    symbol = bars.column("symbol")
    if pa.types.is_dictionary(symbol.type):
        bars = bars.set_column(bars.column_names.index("symbol"), "symbol", pc.cast(symbol, pa.string()))
    start = bars.column("start")
    if pa.types.is_timestamp(start.type) and start.type != TIMESTAMP:
        bars = bars.set_column(bars.column_names.index("start"), "start", pc.cast(start, TIMESTAMP))
    bars = bars.sort_by([("symbol", "ascending"), ("start", "ascending")])
    sym = bars.column("symbol").combine_chunks() if bars.num_rows else pa.array([], pa.string())
    n = bars.num_rows
    if n == 0:
        return bars, np.zeros(0, np.int64), np.zeros(0, np.int64)
    changed = np.asarray(pc.not_equal(sym.slice(1), sym.slice(0, n - 1)).to_numpy(zero_copy_only=False), dtype=bool)
    boundaries = np.flatnonzero(changed) + 1
    ts = np.asarray(pc.cast(bars.column("start"), pa.int64()).to_numpy(), dtype=np.int64)
    repeated = (np.diff(ts) <= 0) & ~changed
    if repeated.any():
        i = int(np.flatnonzero(repeated)[0]) + 1
        raise SchemaError(
            f"{int(repeated.sum())} duplicate (symbol, start) bar(s), e.g. {sym[i].as_py()!r} at row {i} of the sorted bars"
        )
    seg_start = np.concatenate([[0], boundaries]).astype(np.int64)
    seg_end = np.concatenate([boundaries, [n]]).astype(np.int64)
    return bars, seg_start, seg_end


def float_column(bars: pa.Table, name: str) -> np.ndarray:
    """A numeric column as a contiguous ``float64`` array; nulls and non-finite values rejected."""
    col = bars.column(name)
    if col.null_count:
        raise SchemaError(f"{name}: {col.null_count} null value(s)")
    arr = np.ascontiguousarray(pc.cast(col, pa.float64()).to_numpy(), dtype=np.float64).view()
    arr.flags.writeable = False  # one kernel specialization whatever the source (Arrow is read-only)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise SchemaError(
            f"{name}: {int(bad.sum())} non-finite value(s), first at sorted row {int(np.flatnonzero(bad)[0])}"
        )
    return arr


def positive_column(bars: pa.Table, name: str) -> np.ndarray:
    """Like :func:`float_column`, and every value must be > 0 (prices)."""
    arr = float_column(bars, name)
    bad = arr <= 0
    if bad.any():
        raise SchemaError(
            f"{name}: {int(bad.sum())} non-positive value(s), first at sorted row {int(np.flatnonzero(bad)[0])}"
        )
    return arr
