"""Vendor wire encodings for the local vendor servers, vectorized with Arrow compute (a million
trades encode in well under a second): ThetaData CSV (CRLF, decimals printed with trailing
zeros, New York wall-clock timestamps without offset and without ``.SSS`` on whole seconds),
NDJSON and JSON bodies, ThetaData stream messages (``date`` + ``ms_of_day``, option strikes in
tenths of a cent), Massive event objects, and RFC 6455 server framing of many messages at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ny_wall_strings",
    "ny_date_ms",
    "decimal_strings",
    "number_strings",
    "csv_body",
    "ndjson_body",
    "json_rows",
    "join_json",
    "ws_frames",
    "ws_frame",
]

_NY = pa.timestamp("ns", tz="America/New_York")


def _ts_ns(ts: Any) -> pa.Array:
    arr = pa.array(ts) if not isinstance(ts, (pa.Array, pa.ChunkedArray)) else ts
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_integer(arr.type):
        arr = pc.cast(pc.cast(arr, pa.int64()), pa.timestamp("ns", tz="UTC"))
    return pc.cast(arr, pa.timestamp("ns", tz="UTC"))


def ny_wall_strings(ts: Any) -> pa.Array:
    """UTC instants as New York wall-clock ISO strings: ``2024-01-02T09:30:00.011``, or
    ``2024-01-02T09:31:00`` when the milliseconds are zero (the vendor's Java formatting)."""
    local = pc.local_timestamp(pc.cast(_ts_ns(ts), _NY))
    secs = pc.floor_temporal(local, unit="second")
    base = pc.strftime(pc.cast(secs, pa.timestamp("s")), "%Y-%m-%dT%H:%M:%S")
    ms = pc.divide(pc.subtract(pc.cast(local, pa.int64()), pc.cast(secs, pa.int64())), 1_000_000)
    frac = pc.binary_join_element_wise(".", pc.utf8_lpad(pc.cast(ms, pa.string()), 3, "0"), "")
    return pc.if_else(pc.equal(ms, 0), base, pc.binary_join_element_wise(base, frac, ""))


def ny_date_ms(ts: Any) -> tuple[pa.Array, pa.Array]:
    """``(YYYYMMDD, ms_of_day)`` integer arrays in New York time (the stream's encoding)."""
    local = pc.local_timestamp(pc.cast(_ts_ns(ts), _NY))
    date = pc.add(pc.add(pc.multiply(pc.year(local), 10000), pc.multiply(pc.month(local), 100)), pc.day(local))
    midnight = pc.floor_temporal(local, unit="day")
    ms = pc.divide(pc.subtract(pc.cast(local, pa.int64()), pc.cast(midnight, pa.int64())), 1_000_000)
    return pc.cast(date, pa.int64()), pc.cast(ms, pa.int64())


def decimal_strings(values: Any, scale: int = 4) -> pa.Array:
    """Decimals printed with ``scale`` digits, trailing zeros kept (``187.1800``); NaN prints
    ``NaN``."""
    arr = pa.array(values, pa.float64()) if not isinstance(values, pa.Array) else pc.cast(values, pa.float64())
    finite = pc.is_finite(arr)
    safe = pc.if_else(finite, arr, 0.0)
    rounded = pc.round(safe, scale)
    text = pc.cast(pc.cast(rounded, pa.decimal128(18, scale)), pa.string())
    return pc.if_else(finite, text, "NaN")


def number_strings(values: Any) -> pa.Array:
    """Numbers in their shortest JSON form (``187.18``, ``300``)."""
    arr = values if isinstance(values, pa.Array) else pa.array(values)
    return pc.cast(arr, pa.string())


def csv_body(columns: Sequence[tuple[str, pa.Array]]) -> bytes:
    """A CSV body: header row, then rows, CRLF line ends (all values already strings)."""
    names = ",".join(n for n, _ in columns)
    if not columns or len(columns[0][1]) == 0:
        return (names + "\r\n").encode()
    rows = pc.binary_join_element_wise(*[pc.cast(c, pa.string()) for _, c in columns], ",")
    return (names + "\r\n").encode() + "\r\n".join(rows.to_pylist()).encode() + b"\r\n"


def json_rows(columns: Sequence[tuple[str, pa.Array, bool]]) -> pa.Array:
    """One compact JSON object per row from ``(key, string values, quoted)`` columns."""
    parts: list[Any] = []
    for i, (key, values, quoted) in enumerate(columns):
        prefix = ("{" if i == 0 else ",") + json.dumps(key) + ":" + ('"' if quoted else "")
        parts.append(prefix)
        parts.append(pc.cast(values, pa.string()))
        if quoted:
            parts.append('"')
    parts.append("}")
    n = len(columns[0][1]) if columns else 0
    arrays = [p if isinstance(p, (pa.Array, pa.ChunkedArray)) else pa.array([p] * n, pa.string()) for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def ndjson_body(rows: pa.Array) -> bytes:
    """Newline-delimited JSON."""
    return ("\n".join(rows.to_pylist()) + ("\n" if len(rows) else "")).encode()


def join_json(rows: pa.Array, batch: int) -> list[bytes]:
    """JSON arrays of up to ``batch`` objects each (Massive stream messages)."""
    out = []
    values = rows.to_pylist()
    for i in range(0, len(values), batch):
        out.append(("[" + ",".join(values[i : i + batch]) + "]").encode())
    return out


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked server frame (FIN set)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def ws_frames(payloads: pa.Array | Sequence[bytes]) -> bytes:
    """Many text messages as consecutive server frames, in one buffer (vectorized)."""
    arr = payloads if isinstance(payloads, pa.Array) else pa.array(list(payloads), pa.binary())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if len(arr) == 0:
        return b""
    arr = pc.cast(arr, pa.large_binary())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    lengths = np.diff(offsets)
    head = np.where(lengths < 126, 2, np.where(lengths < 65536, 4, 10)).astype(np.int64)
    frame_len = head + lengths
    starts = np.concatenate([[0], np.cumsum(frame_len)[:-1]])
    out = np.zeros(int(frame_len.sum()), dtype=np.uint8)
    out[starts] = 0x81
    small = lengths < 126
    mid = (~small) & (lengths < 65536)
    big = lengths >= 65536
    out[starts[small] + 1] = lengths[small]
    out[starts[mid] + 1] = 126
    out[starts[mid] + 2] = lengths[mid] >> 8
    out[starts[mid] + 3] = lengths[mid] & 0xFF
    for i in np.nonzero(big)[0]:
        out[starts[i] + 1] = 127
        out[starts[i] + 2 : starts[i] + 10] = np.frombuffer(int(lengths[i]).to_bytes(8, "big"), dtype=np.uint8)
    total = int(lengths.sum())
    dst = np.arange(total, dtype=np.int64) + np.repeat(starts + head - (offsets[:-1] - offsets[0]), lengths)
    out[dst] = data[offsets[0] : offsets[0] + total]
    return out.tobytes()
