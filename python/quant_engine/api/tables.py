"""Arrow tables out of the API: as JSON columns (times as UTC nanoseconds, NaN as null) or as an
Arrow IPC stream."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

__all__ = ["ARROW_STREAM", "json_columns", "json_rows", "ipc_stream", "wants_arrow"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def _plain(table: pa.Table) -> pa.Table:
    cols = []
    for field, col in zip(table.schema, table.columns):
        t = field.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = t.value_type
        if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_duration(t):
            col = col.cast(pa.int64()) if not pa.types.is_date(t) else col.cast(pa.string())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _clean(values: list[Any]) -> list[Any]:
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]


def json_columns(table: pa.Table) -> dict[str, list[Any]]:
    """Column name -> values (timestamps as int64 nanoseconds, dictionaries decoded, NaN/inf as
    None)."""
    return {name: _clean(col.to_pylist()) for name, col in zip(table.column_names, _plain(table).columns)}


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """One dict per row, with the conventions of :func:`json_columns`."""
    rows = _plain(table).to_pylist()
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows]


def ipc_stream(table: pa.Table) -> bytes:
    """The table as an Arrow IPC stream (schema metadata kept)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def wants_arrow(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for an Arrow IPC stream."""
    return bool(accept) and ARROW_STREAM in (accept or "").lower()
