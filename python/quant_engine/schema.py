"""Arrow schemas shared by every layer (defined once).

* Trade tick: ``ts, symbol, price, size`` plus optional ``sequence, exchange, condition``.
* Quote: ``ts, symbol, bid, ask, bid_size, ask_size``.
* Bar: ``symbol, start, open, high, low, close, volume, vwap, trades``; a bar covers
  ``[start, start + interval)``.

Time is ``timestamp[ns, tz=UTC]`` everywhere.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "TIMESTAMP",
    "TICK_SCHEMA",
    "TRADE_SCHEMA",
    "QUOTE_SCHEMA",
    "VENDOR_QUOTE_SCHEMA",
    "BAR_SCHEMA",
    "BAR_COLUMNS",
]

TIMESTAMP = pa.timestamp("ns", tz="UTC")

TICK_SCHEMA = pa.schema(
    [
        pa.field("ts", TIMESTAMP, nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("size", pa.float64(), nullable=False),
    ]
)
"""Required trade-tick columns. ``symbol`` is a plain ``string`` in every table the package returns (so tables
from different producers join on it); inputs may also carry it as ``large_string`` or ``dictionary<string>``."""

TRADE_SCHEMA = pa.schema(
    list(TICK_SCHEMA)
    + [
        pa.field("sequence", pa.int64()),
        pa.field("exchange", pa.int32()),
        pa.field("condition", pa.int32()),
    ]
)
"""Trade ticks as the vendor feeds, the catalog and the synthetic market deliver them: the tick
columns plus the vendor's sequence number (unique and increasing per symbol; duplicates are
detected by it), exchange and condition codes (null when unknown)."""

QUOTE_SCHEMA = pa.schema(
    [
        pa.field("ts", TIMESTAMP, nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("bid", pa.float64()),
        pa.field("ask", pa.float64()),
        pa.field("bid_size", pa.float64()),
        pa.field("ask_size", pa.float64()),
    ]
)
"""Quote columns."""

VENDOR_QUOTE_SCHEMA = pa.schema(
    list(QUOTE_SCHEMA) + [pa.field("bid_exchange", pa.int32()), pa.field("ask_exchange", pa.int32())]
)
"""Quotes as the vendor feeds deliver them: the quote columns plus exchange codes."""

BAR_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("start", TIMESTAMP, nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("volume", pa.float64(), nullable=False),
        pa.field("vwap", pa.float64(), nullable=False),
        pa.field("trades", pa.int64(), nullable=False),
    ]
)
"""The bar schema produced by every bar path (batch and streaming)."""

BAR_COLUMNS = tuple(BAR_SCHEMA.names)
