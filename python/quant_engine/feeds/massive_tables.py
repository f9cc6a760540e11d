"""Massive JSON pages to Arrow tables: each page parsed by Arrow's JSON reader whatever its size,
and the vendor's rows mapped to the package's bar, trade, quote and option-chain schemas."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from quant_engine.errors import VendorServerError
from quant_engine.schema import BAR_SCHEMA, TIMESTAMP, TRADE_SCHEMA, VENDOR_QUOTE_SCHEMA

__all__ = ["Page", "parse_page", "strip_key", "bars", "trades", "quotes", "chain"]

_MS = 1_000_000


def _canonical(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.replace_substring_regex(pc.cast(col, pa.string()), "^O:", "")


def strip_key(url: str) -> str:
    """Removes an ``apiKey`` query parameter (the key goes in the header only)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "apikey"]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@dataclass(frozen=True)
class Page:
    """One parsed page: its ``results`` rows, the ``next_url`` cursor and the ``status``."""

    results: pa.Table
    next_url: str | None
    status: str


def parse_page(body: bytes, url: str = "") -> Page:
    """One JSON page, parsed by Arrow whatever its size (the reader's block covers the whole
    body: a page of 50,000 bars is several MB on one line). A body Arrow cannot parse raises
    :class:`~quant_engine.errors.VendorServerError` (``code`` ``BAD_BODY``)."""
    if not body.strip():
        return Page(pa.table({}), None, "")
    try:
        t = pajson.read_json(
            io.BytesIO(body),
            read_options=pajson.ReadOptions(block_size=max(1 << 20, len(body) + 1)),
            parse_options=pajson.ParseOptions(newlines_in_values=True),
        )
    except (pa.ArrowException, ValueError) as exc:
        raise VendorServerError(
            f"Massive sent an unreadable body ({len(body):,} bytes) on {urlsplit(url).path or 'a request'}: {exc}",
            vendor="massive",
            code="BAD_BODY",
        ) from None
    if t.num_rows != 1:
        raise VendorServerError(
            f"Massive sent {t.num_rows} JSON documents in one body on {urlsplit(url).path}",
            vendor="massive",
            code="BAD_BODY",
        )
    row = t.slice(0, 1)

    def scalar(name: str) -> Any:
        return row.column(name)[0].as_py() if name in row.column_names and row.num_rows else None

    results = pa.table({})
    if "results" in t.column_names and row.num_rows:
        col = row.column("results")
        if pa.types.is_list(col.type):
            flat = pc.list_flatten(col)
            if len(flat) and pa.types.is_struct(flat.type):
                arr = flat.combine_chunks() if isinstance(flat, pa.ChunkedArray) else flat
                results = pa.Table.from_arrays(arr.flatten(), names=[f.name for f in arr.type])
        elif pa.types.is_struct(col.type):  # a single-contract snapshot: results is an object
            arr = col.combine_chunks()
            results = pa.Table.from_arrays(arr.flatten(), names=[f.name for f in arr.type])
    return Page(results, scalar("next_url"), str(scalar("status") or ""))


def _f64(t: pa.Table, name: str) -> pa.ChunkedArray:
    if name not in t.column_names:
        return pa.chunked_array([pa.nulls(t.num_rows, pa.float64())])
    return pc.cast(t.column(name), pa.float64())


def _i(t: pa.Table, name: str, typ: pa.DataType = pa.int64()) -> pa.ChunkedArray:
    if name not in t.column_names:
        return pa.chunked_array([pa.nulls(t.num_rows, typ)])
    return pc.cast(t.column(name), typ)


def _ts(t: pa.Table, name: str, unit_ns: int) -> pa.ChunkedArray:
    return pc.cast(pc.multiply(_i(t, name), unit_ns), TIMESTAMP)


def bars(t: pa.Table, symbol: str | None) -> pa.Table:
    """Aggregate rows as bars (``symbol`` None: grouped daily rows carry ``T``)."""
    if not t.num_rows:
        return BAR_SCHEMA.empty_table()
    sym = _canonical(t.column("T")) if symbol is None else pa.chunked_array([pa.array([symbol] * t.num_rows)])
    close = _f64(t, "c")
    vw = _f64(t, "vw")
    out = pa.Table.from_arrays(
        [
            sym,
            _ts(t, "t", _MS),
            _f64(t, "o"),
            _f64(t, "h"),
            _f64(t, "l"),
            close,
            _f64(t, "v"),
            pc.if_else(pc.is_valid(vw), vw, close),
            pc.fill_null(_i(t, "n"), 0),
        ],
        names=BAR_SCHEMA.names,
    )
    return out.cast(BAR_SCHEMA)


def _first_condition(t: pa.Table) -> pa.ChunkedArray:
    if "conditions" not in t.column_names or not pa.types.is_list(t.column("conditions").type):
        return pa.chunked_array([pa.nulls(t.num_rows, pa.int32())])
    first = pc.list_slice(t.column("conditions"), 0, 1, return_fixed_size_list=True)  # [] -> [null]
    return pc.cast(pc.list_flatten(first), pa.int32())


def trades(t: pa.Table, symbol: str) -> pa.Table:
    """``/v3/trades`` rows in the trade schema."""
    if not t.num_rows:
        return TRADE_SCHEMA.empty_table()
    sym = pa.repeat(pa.scalar(symbol, pa.string()), t.num_rows)
    out = pa.Table.from_arrays(
        [
            _ts(t, "sip_timestamp", 1),
            sym,
            _f64(t, "price"),
            _f64(t, "size"),
            _i(t, "sequence_number"),
            _i(t, "exchange", pa.int32()),
            _first_condition(t),
        ],
        names=TRADE_SCHEMA.names,
    )
    return out.cast(TRADE_SCHEMA)


def quotes(t: pa.Table, symbol: str) -> pa.Table:
    """``/v3/quotes`` rows in the vendor quote schema."""
    if not t.num_rows:
        return VENDOR_QUOTE_SCHEMA.empty_table()
    sym = pa.repeat(pa.scalar(symbol, pa.string()), t.num_rows)
    out = pa.Table.from_arrays(
        [
            _ts(t, "sip_timestamp", 1),
            sym,
            _f64(t, "bid_price"),
            _f64(t, "ask_price"),
            _f64(t, "bid_size"),
            _f64(t, "ask_size"),
            _i(t, "bid_exchange", pa.int32()),
            _i(t, "ask_exchange", pa.int32()),
        ],
        names=VENDOR_QUOTE_SCHEMA.names,
    )
    return out.cast(VENDOR_QUOTE_SCHEMA)


def _field(t: pa.Table, struct: str, name: str, typ: pa.DataType) -> pa.ChunkedArray:
    if struct in t.column_names and pa.types.is_struct(t.column(struct).type):
        s = t.column(struct).combine_chunks()
        if s.type.get_field_index(name) >= 0:
            return pc.cast(pc.struct_field(s, name), typ)
    return pa.chunked_array([pa.nulls(t.num_rows, typ)])


def chain(t: pa.Table) -> pa.Table:
    """Options chain snapshot rows, flattened."""
    if not t.num_rows:
        return pa.table({"symbol": pa.array([], pa.string())})
    exp_raw = pc.struct_field(t.column("details").combine_chunks(), "expiration_date")
    if pa.types.is_string(exp_raw.type):
        exp = pc.cast(pc.strptime(exp_raw, "%Y-%m-%d", "s"), pa.date32())
    else:  # Arrow's JSON reader may already have parsed the date
        exp = pc.cast(exp_raw, pa.date32())
    return pa.table(
        {
            "symbol": _canonical(_field(t, "details", "ticker", pa.string())),
            "underlying": _field(t, "underlying_asset", "ticker", pa.string()),
            "expiration": exp,
            "strike": _field(t, "details", "strike_price", pa.float64()),
            "right": pc.utf8_upper(_field(t, "details", "contract_type", pa.string())),
            "bid": _field(t, "last_quote", "bid", pa.float64()),
            "ask": _field(t, "last_quote", "ask", pa.float64()),
            "bid_size": _field(t, "last_quote", "bid_size", pa.float64()),
            "ask_size": _field(t, "last_quote", "ask_size", pa.float64()),
            "quote_ts": pc.cast(_field(t, "last_quote", "last_updated", pa.int64()), TIMESTAMP),
            "last_price": _field(t, "last_trade", "price", pa.float64()),
            "implied_volatility": _f64(t, "implied_volatility"),
            "delta": _field(t, "greeks", "delta", pa.float64()),
            "gamma": _field(t, "greeks", "gamma", pa.float64()),
            "theta": _field(t, "greeks", "theta", pa.float64()),
            "vega": _field(t, "greeks", "vega", pa.float64()),
            "open_interest": _i(t, "open_interest"),
            "underlying_price": _field(t, "underlying_asset", "price", pa.float64()),
            "timeframe": _field(t, "last_quote", "timeframe", pa.string()),
        }
    )
