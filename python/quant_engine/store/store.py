"""The :class:`Store` handle: an engine, its schema checked, and transactions.

Every function of :mod:`quant_engine.store` takes a ``Store`` first. A write is one transaction
(:meth:`Store.write`): a table's rows and the events describing them commit together or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa

from quant_engine.store.engine import WRITE, create_store_engine, default_url
from quant_engine.store.migrate import SchemaState, ensure_schema

__all__ = ["Store", "open_store", "now", "to_json", "from_json", "insert_or_ignore"]

_ENCODER = msgspec.json.Encoder(order="sorted")
_DECODER = msgspec.json.Decoder()


def now() -> float:
    """The current UTC time in Unix seconds (the store's timestamp unit)."""
    return time.time()


def to_json(value: Any) -> str:
    """Compact JSON text with sorted keys (how the store writes structured columns)."""
    return _ENCODER.encode(value).decode()


def from_json(text: str | bytes) -> Any:
    """Decodes a JSON column."""
    return _DECODER.decode(text)


class Store:
    """An open research store.

    Attributes:
        engine: the SQLAlchemy engine.
        schema: what opening found and did (revisions before/after).
    """

    def __init__(self, engine: sa.Engine, schema: SchemaState) -> None:
        self.engine = engine
        self.schema = schema

    @property
    def url(self) -> str:
        """The store's URL (password hidden)."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A connection in a write transaction, committed when the block ends normally and rolled
        back when it raises."""
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection in a read transaction that sees one consistent snapshot."""
        conn = self.engine.connect()
        if self.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn, conn.begin():
            yield conn

    def close(self) -> None:
        """Releases the engine's connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r}, revision={self.schema.after!r})"


def open_store(url: str | Path | None = None, *, upgrade: bool = True) -> Store:
    """Opens (creating if needed) the store at ``url`` (default: ``$QE_STORE_URL`` or the SQLite
    file under the user's data directory), upgrading an older schema (logged) unless ``upgrade``
    is false. Raises :class:`~quant_engine.store.errors.StoreVersionError` for a store written by
    a newer quant-engine and :class:`~quant_engine.store.errors.StoreConfigError` for a bad URL."""
    engine = create_store_engine(url if url is not None else default_url())
    try:
        schema = ensure_schema(engine, upgrade=upgrade)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, schema)


def insert_or_ignore(conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """Inserts one row unless it conflicts with an existing key; True when a row was inserted
    (race-free on both engines: ``ON CONFLICT DO NOTHING``)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table).values(**values).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).values(**values).on_conflict_do_nothing()
    # RETURNING tells whether a row went in (the driver's rowcount is not reliable for this)
    return conn.execute(stmt.returning(sa.literal_column("1"))).first() is not None
