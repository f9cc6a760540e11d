"""Exports of any store table (or the ``failure_type_stats`` view) to Parquet, for DuckDB/polars."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from quant_engine.store.errors import StoreInputError
from quant_engine.store.schema import TABLES
from quant_engine.store.store import Store

__all__ = ["export_parquet", "arrow_type"]

BATCH_ROWS = 50_000


def arrow_type(column: sa.Column) -> pa.DataType:  # type: ignore[type-arg]
    """The Arrow type a store column exports as."""
    t = column.type
    if isinstance(t, (sa.BigInteger, sa.Integer)):
        return pa.int64()
    if isinstance(t, sa.Float):
        return pa.float64()
    if isinstance(t, sa.LargeBinary):
        return pa.large_binary()
    return pa.large_string()


def export_parquet(store: Store, table: str, path: str | Path) -> int:
    """Writes table ``table`` (any name of :data:`~quant_engine.store.schema.TABLES`) to a Parquet
    file at ``path``, streamed in batches, and returns the row count. JSON columns stay JSON text."""
    if table not in TABLES:
        raise StoreInputError(f"unknown table {table!r}; one of {', '.join(sorted(TABLES))}")
    t = TABLES[table]
    schema = pa.schema([pa.field(c.name, arrow_type(c)) for c in t.columns])
    pk = list(t.primary_key.columns) or list(t.columns)[:1]
    rows = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with store.read() as conn, pq.ParquetWriter(path, schema) as writer:
        result = conn.execution_options(stream_results=True).execute(sa.select(t).order_by(*pk))
        while batch := result.fetchmany(BATCH_ROWS):
            cols = list(zip(*batch))
            writer.write_table(pa.table([pa.array(list(c), f.type) for c, f in zip(cols, schema)], schema=schema))
            rows += len(batch)
        if rows == 0:
            writer.write_table(schema.empty_table())
    return rows
