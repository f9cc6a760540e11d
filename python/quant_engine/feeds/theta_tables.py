"""ThetaData response bodies to Arrow tables: the CSV reader (truncated last lines and short
rows dropped and counted), the per-kind parsers (trades, quotes, OHLC bars, raw vendor columns)
with New York timestamps converted once, and the concatenation of per-window results."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from quant_engine.feeds.newyork import ny_wall_to_utc
from quant_engine.schema import BAR_SCHEMA, TRADE_SCHEMA, VENDOR_QUOTE_SCHEMA
from quant_engine.times import instant_ns

__all__ = ["PARSERS", "csv_table", "empty", "concat", "filter_range", "ns"]


def csv_table(body: bytes, counter: list[int]) -> pa.Table:
    """Parses a ThetaData CSV body; drops (and counts) a truncated last line and short rows."""
    if body and not body.endswith(b"\n"):
        cut = body.rfind(b"\n")
        body = body[: cut + 1] if cut >= 0 else b""
        counter[0] += 1
    if not body.strip():
        return pa.table({})

    def bad_row(row: Any) -> str:
        counter[0] += 1
        return "skip"

    types = {
        "timestamp": pa.string(),
        "underlying_timestamp": pa.string(),
        "created": pa.string(),
        "last_trade": pa.string(),
        "expiration": pa.string(),
        "symbol": pa.string(),
        "right": pa.string(),
    }
    return pacsv.read_csv(
        io.BytesIO(body),
        parse_options=pacsv.ParseOptions(invalid_row_handler=bad_row),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
    )


def _col(t: pa.Table, name: str, typ: pa.DataType) -> pa.ChunkedArray:
    if name not in t.column_names:
        return pa.chunked_array([pa.nulls(t.num_rows, typ)])
    return pc.cast(t.column(name), typ)


def _finite_mask(*cols: pa.ChunkedArray) -> Any:
    mask = None
    for c in cols:
        ok = pc.and_(pc.is_valid(c), pc.is_finite(c))
        mask = ok if mask is None else pc.and_(mask, ok)
    return pc.fill_null(mask, False)


def _symbol_column(t: pa.Table, fallback: str) -> pa.ChunkedArray:
    """Symbols: the request's symbol for stocks, OSI-style symbols for option rows."""
    n = t.num_rows
    if "expiration" in t.column_names and "strike" in t.column_names and "right" in t.column_names:
        root = t.column("symbol") if "symbol" in t.column_names else pa.chunked_array([pa.array([fallback] * n)])
        exp = pc.utf8_slice_codeunits(pc.replace_substring(t.column("expiration"), "-", ""), 2, 8)
        right = pc.utf8_slice_codeunits(pc.utf8_upper(t.column("right")), 0, 1)
        strike = pc.cast(pc.round(pc.multiply(pc.cast(t.column("strike"), pa.float64()), 1000.0)), pa.int64())
        strike_s = pc.utf8_lpad(pc.cast(strike, pa.string()), 8, "0")
        return pc.binary_join_element_wise(root, exp, right, strike_s, "")
    return pa.chunked_array([pa.array([fallback] * n, pa.string())])


def _symbols(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """The symbol column as plain ``string`` (the type of every returned symbol column)."""
    return pc.cast(col, pa.string())


def _trades(t: pa.Table, symbol: str, dropped: list[int]) -> pa.Table:
    if not t.num_rows:
        return TRADE_SCHEMA.empty_table()
    price, size = _col(t, "price", pa.float64()), _col(t, "size", pa.float64())
    ts = ny_wall_to_utc(t.column("timestamp"))
    out = pa.Table.from_arrays(
        [
            ts,
            _symbols(_symbol_column(t, symbol)),
            price,
            size,
            _col(t, "sequence", pa.int64()),
            _col(t, "exchange", pa.int32()),
            _col(t, "condition", pa.int32()),
        ],
        names=TRADE_SCHEMA.names,
    )
    mask = pc.and_(_finite_mask(price, size), pc.is_valid(ts))
    good = out.filter(mask)
    dropped[0] += out.num_rows - good.num_rows
    return good.cast(TRADE_SCHEMA)


def _quotes(t: pa.Table, symbol: str, dropped: list[int]) -> pa.Table:
    if not t.num_rows:
        return VENDOR_QUOTE_SCHEMA.empty_table()
    out = pa.Table.from_arrays(
        [
            ny_wall_to_utc(t.column("timestamp")),
            _symbols(_symbol_column(t, symbol)),
            _col(t, "bid", pa.float64()),
            _col(t, "ask", pa.float64()),
            _col(t, "bid_size", pa.float64()),
            _col(t, "ask_size", pa.float64()),
            _col(t, "bid_exchange", pa.int32()),
            _col(t, "ask_exchange", pa.int32()),
        ],
        names=VENDOR_QUOTE_SCHEMA.names,
    )
    good = out.filter(pc.is_valid(out.column("ts")))
    dropped[0] += out.num_rows - good.num_rows
    return good.cast(VENDOR_QUOTE_SCHEMA)


def _bars(t: pa.Table, symbol: str, dropped: list[int]) -> pa.Table:
    """OHLC rows; a bar with a zero (or negative) price is never a bar: the vendor's all-zero rows
    for intervals without trades are dropped and counted in ``dropped[1]``."""
    if not t.num_rows:
        return BAR_SCHEMA.empty_table()
    close = _col(t, "close", pa.float64())
    vwap = _col(t, "vwap", pa.float64())
    out = pa.Table.from_arrays(
        [
            pc.cast(_symbol_column(t, symbol), pa.string()),
            ny_wall_to_utc(t.column("timestamp")),
            _col(t, "open", pa.float64()),
            _col(t, "high", pa.float64()),
            _col(t, "low", pa.float64()),
            close,
            _col(t, "volume", pa.float64()),
            pc.if_else(pc.is_valid(vwap), vwap, close),
            pc.fill_null(_col(t, "count", pa.int64()), 0),
        ],
        names=BAR_SCHEMA.names,
    )
    prices = [out.column(n) for n in ("open", "high", "low", "close")]
    finite = _finite_mask(*prices)
    positive = pc.fill_null(
        pc.and_(
            pc.and_(pc.greater(prices[0], 0), pc.greater(prices[1], 0)),
            pc.and_(pc.greater(prices[2], 0), pc.greater(prices[3], 0)),
        ),
        False,
    )
    good = out.filter(pc.and_(finite, positive))
    zero = int(pc.sum(pc.and_(finite, pc.invert(positive))).as_py() or 0)  # the vendor's rows for empty intervals
    dropped[0] += out.num_rows - good.num_rows - zero
    dropped[1] += zero
    return good.cast(BAR_SCHEMA)


def _raw(t: pa.Table, symbol: str, dropped: list[int]) -> pa.Table:
    """Lists and Greeks: vendor columns kept; timestamps to UTC, expirations to dates, rights
    uppercase, plus an OSI-style ``contract`` column for option rows."""
    cols, names = [], []
    for name in t.column_names:
        c = t.column(name)
        if name in ("timestamp", "underlying_timestamp"):
            c = ny_wall_to_utc(c)
        elif name == "expiration":
            c = pc.cast(pc.strptime(pc.replace_substring(c, "-", ""), "%Y%m%d", "s"), pa.date32())
        elif name == "right":
            c = pc.utf8_upper(c)
        cols.append(c)
        names.append(name)
    out = pa.Table.from_arrays(cols, names=names) if cols else pa.table({})
    if {"expiration", "strike", "right"} <= set(t.column_names):
        out = out.append_column("contract", _symbol_column(t, symbol))
    return out


PARSERS: dict[str, Callable[[pa.Table, str, list[int]], pa.Table]] = {  # by request kind
    "trades": _trades,
    "quotes": _quotes,
    "bars": _bars,
    "raw": _raw,
}
_EMPTY = {"trades": TRADE_SCHEMA, "quotes": VENDOR_QUOTE_SCHEMA, "bars": BAR_SCHEMA}


def empty(kind: str) -> pa.Table:
    """An empty table of ``kind``'s schema (``raw``: no columns)."""
    schema = _EMPTY.get(kind)
    return schema.empty_table() if schema is not None else pa.table({})


def ns(value: Any, name: str) -> int:
    """An instant as UTC ns (``name`` for the error message)."""
    return instant_ns(value, name)


def filter_range(t: pa.Table, column: str, start: int, end: int) -> pa.Table:
    """The rows with ``start <= column < end``."""
    if not t.num_rows:
        return t
    ts = pc.cast(t.column(column), pa.int64())
    return t.filter(pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)))


def concat(tables: list[pa.Table], kind: str) -> pa.Table:
    """Per-window results of one request, concatenated."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return empty(kind)
    if kind in ("trades", "quotes"):
        return pa.concat_tables(tables, promote_options="permissive").combine_chunks()
    return pa.concat_tables(tables, promote_options="permissive")
