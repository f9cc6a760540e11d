"""Where the store lives and how its database connections are configured.

* SQLite (the default): one file, ``$QE_STORE_URL`` or
  ``$XDG_DATA_HOME/quant-engine/store.sqlite`` (``~/.local/share/quant-engine/store.sqlite``),
  opened in WAL mode with foreign keys on, ``synchronous=NORMAL``, a busy timeout and (for a new
  file) 64 KiB pages. pysqlite's
  own transaction handling is switched off: every transaction starts with an explicit ``BEGIN``
  (reads) or ``BEGIN IMMEDIATE`` (writes, so two writers queue on the busy timeout instead of
  failing on a lock upgrade), and DDL is transactional (migrations are all-or-nothing).
* PostgreSQL for a shared store: ``postgresql+psycopg://user:pass@host:port/db`` (psycopg 3;
  ``postgresql://`` is accepted and means the same). Reads run at REPEATABLE READ so that one
  read sees one snapshot.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from quant_engine.store.errors import StoreConfigError

__all__ = ["default_url", "normalize_url", "create_store_engine", "WRITE", "BUSY_TIMEOUT_MS"]

BUSY_TIMEOUT_MS = 60_000
"""How long a SQLite writer waits for another writer before giving up."""

PAGE_SIZE = 65536
"""SQLite page size of a new store file."""

WRITE = "qe_write"
"""Execution option marking a connection whose transactions write (``BEGIN IMMEDIATE`` on SQLite)."""


def default_url() -> str:
    """``$QE_STORE_URL``, else the SQLite file under the user's data directory."""
    url = os.environ.get("QE_STORE_URL")
    if url:
        return url
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'quant-engine' / 'store.sqlite'}"


def normalize_url(url: str | Path) -> sa.URL:
    """A store URL as a SQLAlchemy URL: a plain path means a SQLite file; ``postgresql://`` and
    ``postgres://`` mean psycopg 3. Anything else raises :class:`StoreConfigError`."""
    text = str(url)
    if "://" not in text:
        text = f"sqlite:///{Path(text).expanduser().resolve()}"
    try:
        parsed = sa.make_url(text)
    except sa.exc.ArgumentError as exc:
        raise StoreConfigError(f"malformed store URL {str(url)!r}: {exc}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.get_driver_name() not in ("psycopg", "postgresql", "postgres", ""):
            raise StoreConfigError(
                f"store URL {parsed.render_as_string()!r}: PostgreSQL stores use psycopg 3 (postgresql+psycopg://)"
            )
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if parsed.get_driver_name() not in ("pysqlite", ""):
            raise StoreConfigError(
                f"store URL {text!r}: SQLite stores use the standard sqlite3 driver (sqlite:///path)"
            )
        return parsed.set(drivername="sqlite+pysqlite")
    raise StoreConfigError(
        f"unsupported store URL {parsed.render_as_string()!r}: use sqlite:///path or postgresql+psycopg://..."
    )


def create_store_engine(url: str | Path | None = None) -> sa.Engine:
    """A configured engine for ``url`` (default :func:`default_url`); creates the SQLite file's
    directory."""
    parsed = normalize_url(url if url is not None else default_url())
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=8)


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database or ""
    memory = database in ("", ":memory:")
    if not memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000.0, "check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (transactional DDL)
        cursor = dbapi_connection.cursor()
        # 64 KiB pages for a new file (ignored once it has tables): returns blobs of tens or hundreds
        # of MB read and write about a third faster than through 4 KiB overflow pages
        cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

    return engine
