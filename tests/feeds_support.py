"""Helpers shared by the market-data tests: local vendor servers and frame builders."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.sandbox.encode import ws_frame

SYMS = ["AAPL", "MSFT", "NVDA", "SPY"]
SESSION_OPEN = "2024-01-02T14:30:00Z"


def theta_trade(root: str, ms: int, seq: int, price: float, size: int = 100, date: int = 20240102) -> bytes:
    """One ThetaData stream trade message."""
    return json.dumps(
        {
            "header": {"type": "TRADE", "status": "CONNECTED"},
            "contract": {"security_type": "STOCK", "root": root},
            "trade": {
                "ms_of_day": ms,
                "sequence": seq,
                "size": size,
                "condition": 0,
                "price": price,
                "exchange": 57,
                "date": date,
            },
        }
    ).encode()


def frames(messages: list[bytes]) -> bytes:
    """Server frames of the messages, concatenated."""
    return b"".join(ws_frame(m) for m in messages)


def ms_truncated(trades: pa.Table) -> pa.Table:
    """The trades with timestamps floored to milliseconds (the vendors' resolution)."""
    ts = pc.multiply(pc.divide(pc.cast(trades.column("ts"), pa.int64()), 1_000_000), 1_000_000)
    return trades.set_column(0, "ts", pc.cast(ts, pa.timestamp("ns", tz="UTC")))


def run(coro: Any) -> Any:
    """Runs a coroutine to completion (tests are synchronous)."""
    return asyncio.run(coro)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    """Fixed-size pieces of ``data``."""
    for i in range(0, len(data), size):
        yield data[i : i + size]
