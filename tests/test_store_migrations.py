"""Store schema migrations: an older store upgrades on open (logged), a newer one is refused, the
migrations agree with the Core tables, and URLs are checked."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from quant_engine.store import (
    StoreConfigError,
    StoreVersionError,
    add_strategy,
    failure_type_stats,
    head_revision,
    open_store,
)
from quant_engine.store import schema as S
from quant_engine.store.engine import create_store_engine, default_url, normalize_url
from quant_engine.store.migrate import MIGRATIONS_DIR, current_revision, ensure_schema, known_revisions
from store_support import SPEC, pg_server, store_url  # noqa: F401


def _has_view(engine: sa.Engine) -> bool:
    return "failure_type_stats" in sa.inspect(engine).get_view_names()


def test_an_older_store_opens_and_upgrades(store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    engine = create_store_engine(store_url)
    state = ensure_schema(engine, target="0001")  # a store written by the first schema version
    assert state.after == "0001" and not _has_view(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(S.missions).values(
                name="old",
                directive="d",
                scope="{}",
                budget="{}",
                status="active",
                progress="{}",
                created_at=1.0,
                updated_at=1.0,
            )
        )
    engine.dispose()
    assert known_revisions()[:2] == ["0001", "0002"] and head_revision() == known_revisions()[-1]
    assert known_revisions()[2:4] == ["0003", "0004"]  # one linear chain (one head)
    with caplog.at_level(logging.INFO, logger="quant_engine.store"):
        store = open_store(store_url)
    assert (store.schema.before, store.schema.after) == ("0001", head_revision()) and store.schema.upgraded
    assert any(
        "upgrading the store" in r.getMessage() and f"0001 to {head_revision()}" in r.getMessage()
        for r in caplog.records
    )
    assert _has_view(store.engine)
    with store.read() as conn:
        assert conn.execute(sa.select(S.missions.c.name)).scalars().all() == ["old"]
    add_strategy(store, SPEC)
    assert failure_type_stats(store) == []
    store.close()
    again = open_store(store_url)  # already current: nothing to do
    assert not again.schema.upgraded
    again.close()


def test_a_store_written_by_a_newer_version_is_refused(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_store_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    with pytest.raises(StoreVersionError, match="newer quant-engine"):
        open_store(store_url)
    with engine.connect() as conn:
        assert current_revision(conn) == "0099_from_the_future"  # left untouched
    engine.dispose()


def test_without_upgrade_an_older_store_is_refused(store_url: str) -> None:
    engine = create_store_engine(store_url)
    ensure_schema(engine, target="0001")
    engine.dispose()
    with pytest.raises(StoreVersionError, match="store upgrade"):
        open_store(store_url, upgrade=False)


def test_the_migrations_create_exactly_the_core_tables(store_url: str) -> None:
    store = open_store(store_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), S.metadata)
    assert diff == []
    store.close()


def test_the_migrations_ship_inside_the_package() -> None:
    import quant_engine

    package = Path(quant_engine.__file__).parent
    assert MIGRATIONS_DIR.is_relative_to(package)
    assert (MIGRATIONS_DIR / "env.py").is_file() and len(list((MIGRATIONS_DIR / "versions").glob("0*.py"))) == len(
        known_revisions()
    )


def test_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QE_STORE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_url() == f"sqlite:///{tmp_path / 'data' / 'quant-engine' / 'store.sqlite'}"
    store = open_store()
    assert (tmp_path / "data" / "quant-engine" / "store.sqlite").is_file()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 65536
    store.close()
    monkeypatch.setenv("QE_STORE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    assert default_url().endswith("env.sqlite")
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url(tmp_path / "plain.sqlite").drivername == "sqlite+pysqlite"
    for bad in ("mysql://u@h/db", "postgresql+asyncpg://u@h/db", "sqlite+aiosqlite:///x", "nonsense://x"):
        with pytest.raises(StoreConfigError):
            normalize_url(bad)
